"""`knm serve` and `knm demo` as commands: ports, databases, what serve logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

from cli_support import KNM, _free_port, _wait_healthy, ok, refused, serve_log

pytest_plugins = ["cli_support"]


def test_serve_answers_http(tmp_path: Path) -> None:
    """`knm serve` answers HTTP on the chosen port, with the database given by --db.

    (`knm demo` is the same three lines of wiring around `knm.demo.run`; its
    7-second start-up is exercised by the demo's own tests, not here.)"""
    port = _free_port()
    db_file = tmp_path / "served.sqlite"
    env = {**os.environ, "KNM_DATABASE_URL": f"sqlite:///{tmp_path / 'default.sqlite'}"}
    serve = subprocess.Popen([str(KNM), "serve", "--port", str(port), "--db", str(db_file)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert _wait_healthy(serve, port) == 200
        assert db_file.exists()
    finally:
        serve.terminate()
        serve.wait(timeout=15)
    assert "Traceback" not in (serve.stderr.read() if serve.stderr else "")


def test_serve_bad_port_is_refused(db: str) -> None:
    refused(db, "serve", "--port", "0", cause="port")
    refused(db, "serve", "--port", "http", cause="port")
    refused(db, "demo", "--port", "-5", cause="port")


def test_serve_logs_its_database_and_cache_with_the_password_masked(pg_db: str,
                                                                     tmp_path: Path) -> None:
    """`postgres://` (what hosting providers hand out) is PostgreSQL; the log says which
    database and which search cache, never the password (trust auth ignores it)."""
    url = pg_db.replace("postgresql+psycopg://postgres@", "postgres://postgres:s3cret-pw@")
    text = serve_log(url, tmp_path)
    assert "s3cret-pw" not in text
    assert "database postgresql+psycopg://postgres:***@127.0.0.1:5432/test" in text
    assert "search cache local+store" in text


def test_a_postgres_url_is_postgresql(pg_db: str) -> None:
    url = pg_db.replace("postgresql+psycopg://", "postgres://")
    created = ok(url, "accounts", "create", "m", "--id", "a" * 32)
    assert [a["id"] for a in ok(pg_db, "accounts", "list")] == [created["id"]]
    err = refused("nosuch://somewhere/db", "accounts", "list", cause="db")
    assert "nosuch" in err["message"]


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in (["serve"], ["demo"], ["simulate", "telnyx"]):
            db = tmp_path / f"{command[0]}.sqlite"
            done = subprocess.run([str(KNM), *command, "--port", port, "--db", str(db),
                                   "--json"], capture_output=True, text=True, timeout=60)
            assert done.returncode == 1, (command, done.stdout, done.stderr)
            err = json.loads(done.stderr.strip().splitlines()[-1])
            assert err["error"] == "invalid" and err["cause"] == "port", err
            assert port in err["message"]
            assert not db.exists()  # nothing was set up
