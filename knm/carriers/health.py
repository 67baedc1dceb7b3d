"""Whether a carrier can work as configured: ready, missing settings (by name), wrongly set,
or unreachable (not installed).

Settings are checked the way the carrier itself checks them (`Carrier.validate_config`, its
own rules included), but every missing key is named at once — an operator setting up a
carrier should not discover its five required settings one failed search at a time. Nothing
here talks to the carrier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from knm import config, errors
from knm.carriers.base import Carrier, Setting
from knm.carriers.registry import carrier_class

READY, MISSING, MISCONFIGURED, UNREACHABLE = ("ready", "missing_settings", "misconfigured",
                                              "unreachable")
#: a stand-in value per setting type, to look past one missing key for the next
_PLACEHOLDERS: dict[type, Any] = {int: 1, float: 1.0, bool: True, list: ["x"], str: "x"}


@dataclass(frozen=True)
class CarrierHealth:
    name: str
    state: str
    missing: tuple[str, ...] = ()
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.missing:
            out["missing"] = list(self.missing)
        if self.problem:
            out["problem"] = self.problem
        return out

    def describe(self) -> str:
        if self.state == MISSING:
            text = "missing settings: " + ", ".join(self.missing)
            return f"{text}; {self.problem}" if self.problem else text
        if self.state == MISCONFIGURED:
            return f"misconfigured: {self.problem}"
        if self.state == UNREACHABLE:
            return "unreachable (not installed, or it cannot be loaded)"
        return READY


def check(name: str) -> CarrierHealth:
    """The health of carrier `name` with its current settings (`number_manager.<short>`)."""
    cls = carrier_class(name)
    if cls is None:
        return CarrierHealth(name, UNREACHABLE)
    settings = config.carrier_config(name)
    missing: list[str] = []
    problems: list[str] = []
    looked_past: set[str] = set()
    for _ in range(len(cls.settings) + 8):  # carriers' own rules may add keys; bounded
        try:
            cls.validate_config(dict(settings))
        except errors.CarrierMisconfigured as exc:
            key = exc.cause or ""
            if not key or key in looked_past:
                problems.append(exc.message)
                break
            looked_past.add(key)
            if settings.get(key) in (None, ""):
                missing.append(key)
            else:
                problems.append(exc.message)
            settings[key] = _placeholder(cls, key)  # and look for the next problem
            continue
        break
    problem = "; ".join(problems) or None
    if missing:
        return CarrierHealth(name, MISSING, tuple(missing), problem)
    if problem:
        return CarrierHealth(name, MISCONFIGURED, problem=problem)
    return CarrierHealth(name, READY)


def _placeholder(cls: type[Carrier], key: str) -> Any:
    declared: Setting | None = next((s for s in cls.settings if s.name == key), None)
    return _PLACEHOLDERS.get(declared.type if declared else str, "x")
