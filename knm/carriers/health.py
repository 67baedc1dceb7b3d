"""Whether a carrier can work as configured: ready, missing settings (by name), wrongly set,
or unreachable (not installed) — and, whatever the state, the carrier's warnings about its
settings (`Carrier.config_warnings`: a credential the carrier retires on a known date, …).

Settings are checked the way the carrier itself checks them (`Carrier.validate_config`, its
own rules included), but every missing key is named at once — an operator setting up a
carrier should not discover its five required settings one failed search at a time. Nothing
here talks to the carrier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from knm import config, errors
from knm.carriers.base import Carrier, Setting
from knm.carriers.registry import carrier_class, declared_names
from knm.secrets import is_secret_key, scrub

log = logging.getLogger("knm.carriers")

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
    #: what works now but needs the operator (`Carrier.config_warnings`)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.missing:
            out["missing"] = list(self.missing)
        if self.problem:
            out["problem"] = self.problem
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    def describe(self, *, warnings: bool = True) -> str:
        """One line: the state, then (unless `warnings=False`) each warning."""
        shown = self.warnings if warnings else ()
        return "; ".join([self._state_text(), *(f"warning: {w}" for w in shown)])

    def _state_text(self) -> str:
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
    warned = warnings_of(cls, settings)
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
        return CarrierHealth(name, MISSING, tuple(missing), problem, warned)
    if problem:
        return CarrierHealth(name, MISCONFIGURED, problem=problem, warnings=warned)
    return CarrierHealth(name, READY, warnings=warned)


def warnings_of(cls: type[Carrier], settings: dict[str, Any]) -> tuple[str, ...]:
    """`cls.config_warnings(settings)`, scrubbed of the settings' secrets. A third-party
    hook that fails costs its warnings, not the health report."""
    try:
        found = [str(w) for w in cls.config_warnings(dict(settings))]
    except Exception:  # noqa: BLE001 - an optional hook must not break `knm carriers`
        log.exception("%s: config_warnings failed", cls.name)
        return ()
    keys = cls.secret_keys()
    hidden = [str(v) for k, v in settings.items()
              if (k in keys or is_secret_key(k)) and v not in (None, "")]
    return tuple(scrub(w, hidden) for w in found)


def log_warnings(logger: logging.Logger | None = None) -> int:
    """Log every installed carrier's config warnings once (`knm serve` at start-up, before
    its workers start); returns how many were logged."""
    count = 0
    for name in declared_names():
        cls = carrier_class(name)
        if cls is None:
            continue
        for text in warnings_of(cls, config.carrier_config(name)):
            (logger or log).warning("carrier %s: %s", name, text)
            count += 1
    return count


def _placeholder(cls: type[Carrier], key: str) -> Any:
    declared: Setting | None = next((s for s in cls.settings if s.name == key), None)
    return _PLACEHOLDERS.get(declared.type if declared else str, "x")
