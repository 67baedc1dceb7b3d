"""docs/carriers.md stays true: its tables match the carriers' declarations, and its worked
third-party carrier example runs — searched through `knm.carriers.find`, bought and released
through `knm.numbers`, and passing the conformance suite like a built-in carrier."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from knm import carriers, errors, numbers
from knm.carriers.base import Carrier, SearchOptions, SearchResult, Setting
from knm.simulators import registry

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "carriers.md"
EXAMPLE_MODULE = "acme_knm"


def _load_generator() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("gen_carriers_doc",
                                                  ROOT / "scripts" / "gen_carriers_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _example(label: str) -> str:
    """The python block right after `<!-- example: <label> -->` in docs/carriers.md."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(rf"<!-- example: {re.escape(label)} -->\s*```python\n(.*?)```", text,
                      re.DOTALL)
    if found is None:  # the usage block is the first python block after the example
        start = text.index(f"<!-- example: {EXAMPLE_MODULE}.py -->")
        blocks = re.findall(r"```python\n(.*?)```", text[start:], re.DOTALL)
        assert label == "usage" and len(blocks) >= 2, f"no example {label!r} in the doc"
        return blocks[1]
    return found.group(1)


# -- the generated tables ------------------------------------------------------------------


def test_doc_tables_are_up_to_date() -> None:
    """A carrier changed without `python scripts/gen_carriers_doc.py` fails here."""
    assert gen.main(["--check"]) == 0, "run: .venv/bin/python scripts/gen_carriers_doc.py"


def test_check_detects_a_stale_table_and_regenerating_fixes_only_the_table(
        tmp_path: Path) -> None:
    doc = tmp_path / "carriers.md"
    original = DOC.read_text(encoding="utf-8")
    stale = original.replace("| `knm_telnyx` | ✓ |", "| `knm_telnyx` | – |", 1)
    assert stale != original
    doc.write_text(stale, encoding="utf-8")
    assert gen.main(["--check", "--doc", str(doc)]) == 1
    assert doc.read_text(encoding="utf-8") == stale  # --check writes nothing
    assert gen.main(["--doc", str(doc)]) == 0
    assert doc.read_text(encoding="utf-8") == original
    doc.write_text("no markers here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="markers"):
        gen.main(["--doc", str(doc)])


def test_every_builtin_carrier_is_in_the_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index(gen.START):text.index(gen.END)]
    for name in carriers.declared_names():
        cls = carriers.carrier_class(name)
        if cls is not None and cls.__module__.startswith("knm."):
            assert f"| `{cls.name}` |" in table, cls.name
    for name in registry.names():  # every carrier with a simulator has a settings section
        assert f"#### `{name}`" in table, name


class _Declared(Carrier):
    """A carrier that only declares things, to see the generator read them."""

    name = "knm_declared"
    local = True
    billable = False
    maximal_prefix_length = 7
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_tollfree", "buy", "async_orders", "porting"})
    settings = (Setting("token", str, required=True, secret=True, description="a | b"),
                Setting("region", str, default="eu"))

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        return []

    def acquire_number(self, number: Any) -> Any:
        return number

    def disconnect_number(self, number: Any) -> Any:
        return number


def test_table_rows_come_from_the_declarations() -> None:
    text = gen.render([_Declared])
    assert ("| `knm_declared` | – | – | ✓ | – | ✓ | – | – | ✓ | – | – | porting |") in text
    assert "| `knm_declared` | Carrier | ✓ | – | ✓ | 7 |" in text
    assert "| `token` | str | ✓ | ✓ | – | a \\| b |" in text
    assert "| `region` | str | – | – | `eu` |  |" in text


# -- the worked example --------------------------------------------------------------------


@pytest.fixture
def acme() -> Iterator[types.ModuleType]:
    """The doc's `acme_knm.py`, imported as that module (as a user's package would be)."""
    module = types.ModuleType(EXAMPLE_MODULE)
    module.__file__ = f"<docs/carriers.md:{EXAMPLE_MODULE}.py>"
    sys.modules[EXAMPLE_MODULE] = module
    try:
        exec(compile(_example(f"{EXAMPLE_MODULE}.py"), module.__file__, "exec"),
             module.__dict__)
        yield module
    finally:
        carriers.unregister("knm_acme")
        registry.SIMULATORS.pop("knm_acme", None)
        sys.modules.pop(EXAMPLE_MODULE, None)


def test_worked_example_runs_end_to_end(db: str, acme: types.ModuleType) -> None:
    assert carriers.carrier_class("knm_acme") is acme.Acme
    assert "knm_acme" in registry.names()
    scope: dict[str, Any] = {"__name__": "docs_usage"}
    exec(compile(_example("usage"), "<docs/carriers.md:usage>", "exec"), scope)

    sim, found = scope["sim"], scope["found"]
    bought = found[0]["number"]
    assert len(found) == 5
    # the numbers are the simulator's, reached over HTTP with the configured key
    assert all(r["number"] in [f"+1{n}" for n in sim.stock("415", 250)] for r in found)
    searches = sim.received("GET", "/numbers/available")
    assert searches and searches[0].headers["authorization"] == "Bearer acme-test-key"
    assert searches[0].params["prefix"] == "415"
    # bought from Acme, then released at Acme
    assert [r.path for r in sim.received("POST")] == [f"/numbers/{bought}"]
    assert [r.path for r in sim.received("DELETE")] == [f"/numbers/{bought}"]
    assert bought not in sim.owned
    # released at Acme, so knm no longer holds it (SPEC §5.1 disconnect_on_release)
    with pytest.raises(errors.NotFound):
        numbers.get(bought)
    # the settings declaration validates config and hides the secret
    with pytest.raises(errors.CarrierMisconfigured) as missing:
        acme.Acme({"base_url": "http://127.0.0.1:9"})
    assert "api_key" in str(missing.value)
    assert acme.Acme({"api_key": "s3cr3t-acme"}).info()["settings"]["api_key"] == "***"


def test_worked_example_passes_the_conformance_suite(tmp_path: Path) -> None:
    """The doc promises a registered simulator joins tests/carriers/test_conformance.py: it does."""
    (tmp_path / f"{EXAMPLE_MODULE}.py").write_text(_example(f"{EXAMPLE_MODULE}.py"),
                                                   encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", EXAMPLE_MODULE, "-p", "no:cacheprovider",
         "tests/carriers/test_conformance.py", "-k", "knm_acme"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    # search, buy/release, bad config, every failure body, timeouts, secrets: ~20 cases
    assert passed is not None and int(passed.group(1)) >= 15, run.stdout[-2000:]
