"""The production files of docs/production.md are real: the systemd unit verifies, and the
environment it documents is the one knm reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "knm.service").read_text()
    knm = Path(sys.executable).with_name("knm")
    # as installed: the venv's knm; the service user of the guide is created by the operator
    local = unit.replace("/opt/knm/.venv/bin/knm", str(knm))
    local = re.sub(r"^(User|Group)=knm$", r"\1=root", local, flags=re.M)
    path = tmp_path / "knm.service"
    path.write_text(local)
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    assert "ExecStart=/opt/knm/.venv/bin/knm serve" in unit


def test_every_documented_setting_is_one_knm_reads() -> None:
    example = (DEPLOY / "systemd" / "knm.env.example").read_text()
    names = re.findall(r"^#?\s*([A-Z][A-Z_]+)=", example, flags=re.M)
    assert {"KNM_DATABASE_URL", "KNM_CACHE_URL", "KNM_SECRET_KEY", "KNM_METRICS_TOKEN"} <= \
        set(names)
    source = "\n".join(p.read_text() for p in (ROOT / "knm").rglob("*.py"))
    guide = (ROOT / "docs" / "production.md").read_text()
    for name in names:
        if name.startswith("KNM_"):
            assert f'"{name}"' in source, f"{name} is documented but knm never reads it"
        assert name in guide, f"{name} is set in the example but not explained in the guide"
