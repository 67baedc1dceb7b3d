"""A database password given in the URL's query string (`?password=`, as libpq and psycopg
accept it) never reaches the CLI's error JSON or `knm serve`'s log (issue "Carrier answers and
callers that can't hurt knm": it was printed in both)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import knm, serve_log

pytest_plugins = ["cli_support"]

SECRET = "qz-s3cret-pw-77"


def test_an_unreachable_database_error_hides_the_query_password() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:1/test?password={SECRET}"
    result = knm(url, "accounts", "list")
    assert result.exit_code != 0
    err = json.loads(result.stderr)
    assert err["error"] and err["cause"]
    assert SECRET not in result.stderr and SECRET not in result.stdout
    assert "password=***" in result.stderr


def test_serve_log_hides_the_query_password(pg_db: str, tmp_path: Path) -> None:
    url = f"{pg_db}{'&' if '?' in pg_db else '?'}password={SECRET}"
    text = serve_log(url, tmp_path)
    assert SECRET not in text
    assert "password=***" in text
