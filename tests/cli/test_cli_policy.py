"""The exit and error policy: KnmError JSON on stderr, usage errors as `400 invalid`, no
traceback ever; the root options; the installed script."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import _Good, _script, knm, ok, refused
from click.testing import CliRunner
from conftest import MASTER

from knm import __version__ as knm_version
from knm.carriers import registry
from knm.cli import cli

pytest_plugins = ["cli_support"]


class _BadPlugin(_Good):
    """A third-party carrier with a bug in its settings declaration."""

    name = "knm_cli_test_badplugin"

    @classmethod
    def secret_keys(cls) -> set[str]:
        raise RuntimeError("plugin bug")


def test_unexpected_exception_is_internal_error_not_traceback(db: str) -> None:
    registry.register(_BadPlugin)
    try:
        err = refused(db, "carriers", slug="internal_error")
        assert err["code"] == 500 and "RuntimeError: plugin bug" in err["cause"]
        human = knm(db, "carriers", as_json=False)
        assert human.exit_code == 1
        assert "internal_error" in human.stderr and "Traceback" not in human.stderr
    finally:
        registry.unregister(_BadPlugin.name)


def test_usage_errors_are_invalid(db: str) -> None:
    err = refused(db, "search")  # PREFIX missing
    assert err["cause"] == "prefix"
    refused(db, "search", "415", "--no-such-option")
    refused(db, "no-such-command")
    result = knm(db, "buy", "+14158867900")  # --account is required
    assert result.exit_code == 2 and json.loads(result.stderr)["cause"] == "account_id"


def test_installed_script_json_and_human_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'script.sqlite'}"
    bad = _script("search", "415", "--quantity", "0", "--json", env_db=url)
    assert bad.returncode == 1 and bad.stdout == ""
    assert json.loads(bad.stderr) == {"code": 400, "error": "invalid", "cause": "quantity",
                                      "message": "quantity must be at least 1"}

    human = _script("search", "415", "--account", "f" * 32, env_db=url)
    assert human.returncode == 1
    assert "invalid" in human.stderr and "account" in human.stderr
    assert "Traceback" not in human.stderr


def test_db_option_takes_a_plain_path(tmp_path: Path) -> None:
    other_db = tmp_path / "sub" / "other.sqlite"
    created = ok(str(other_db), "accounts", "create", "master", "--id", MASTER)
    assert created["id"] == MASTER and other_db.exists()
    assert [a["id"] for a in ok(f"sqlite:///{other_db}", "accounts", "list")] == [MASTER]


def test_root_options_apply_to_every_command(tmp_path: Path) -> None:
    path = tmp_path / "root.sqlite"
    result = CliRunner().invoke(cli, ["--json", "--db", str(path), "accounts", "create", "m",
                                      "--id", MASTER])
    assert result.exit_code == 0 and json.loads(result.stdout)["id"] == MASTER
    bare = CliRunner().invoke(cli, [])
    assert bare.exit_code == 0 and "Commands:" in bare.stdout


def test_version(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"knm {knm_version}"
    script = _script("--version", env_db=f"sqlite:///{tmp_path / 'v.sqlite'}")
    assert script.returncode == 0 and script.stdout.strip() == f"knm {knm_version}"
    assert not (tmp_path / "v.sqlite").exists()  # no database is opened to say it
