"""The layer contract (docs/architecture.md) holds at run time too: small modules stay small."""

from __future__ import annotations

import subprocess
import sys


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


def test_importing_errors_loads_no_database_phone_library_or_carrier() -> None:
    loaded = _modules_loaded_by("import knm.errors")
    assert not {m for m in loaded if m.split(".")[0] in ("sqlalchemy", "phonenumbers")}
    assert sorted(m for m in loaded if m.startswith("knm")) == ["knm", "knm.errors"]


def test_number_values_load_without_the_store_or_the_carriers() -> None:
    loaded = _modules_loaded_by("import knm.record, knm.secrets, knm.values")
    assert "sqlalchemy" not in loaded
    assert not {m for m in loaded if m.startswith(("knm.carriers", "knm.numbers", "knm.store"))}


def test_phone_number_is_still_importable_from_the_package() -> None:
    loaded = _modules_loaded_by("from knm import PhoneNumber\nassert PhoneNumber.__name__")
    assert "knm.record" in loaded and "knm.numbers" not in loaded
