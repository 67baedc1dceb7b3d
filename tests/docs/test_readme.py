"""The README's examples run verbatim, on a fresh database, as a newcomer would run them: the
CLI walk-through in bash from a folder whose `.venv` is this installation, the Python example
with `python`, alone and after the walk-through."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- run verbatim by tests/docs/test_readme.py -->"


def _blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    found = re.findall(re.escape(MARK) + r"\n```" + language + r"\n(.*?)```", text, re.S)
    assert found, f"README has no tested {language} block"
    return found


@pytest.fixture
def newcomer(tmp_path: Path) -> dict[str, str]:
    """A folder with `.venv` (this installation) and an environment with a fresh database."""
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {**os.environ, "TMPDIR": str(tmp_path), "KNM_NO_PROGRESS": "1", "COLUMNS": "100",
           "KNM_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite'}"}
    env.pop("KNM_CACHE_URL", None)
    return env


def _python(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_python_example_runs_on_a_fresh_database(tmp_path: Path,
                                                     newcomer: dict[str, str]) -> None:
    (code,) = _blocks("python")
    done = _python(code, tmp_path, newcomer)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["+14155550200", "in_service"]


def test_the_cli_walkthrough_runs_then_the_python_example_on_its_database(
        tmp_path: Path, newcomer: dict[str, str]) -> None:
    (script,) = _blocks("sh")
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=tmp_path,
                          env=newcomer, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout, done.stderr)
    out = done.stdout
    assert "+14155550100" in out and "discovery" in out  # found, then bought
    assert "DRY RUN: nothing was bought" in out
    assert "in_service" in out and "No unsettled orders" in out
    assert "error" not in done.stderr.lower()

    (database,) = tmp_path.glob("tmp.*/knm.sqlite")  # the walk-through's own fresh database
    (code,) = _blocks("python")
    after = _python(code, tmp_path, {**newcomer, "KNM_DATABASE_URL": f"sqlite:///{database}"})
    assert after.returncode == 0, after.stderr
    assert after.stdout.split() == ["+14155550200", "in_service"]
