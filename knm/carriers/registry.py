"""Which carriers exist, and one configured instance of each.

Carriers are found the same way whether built in or third-party: the entry-point group
`knm.carriers` (short name → `module:Class`), plus `register(cls)` for a class defined at run
time. Classes are imported lazily — a carrier whose module fails to import is simply
"unreachable", so one broken plugin never breaks the others.

Instances are cached because HTTP carriers hold a pooled client, but the config is read on
every call and an instance is rebuilt when its config changed: `knm config set` takes effect on
the next operation, with no restart.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from importlib import metadata
from typing import Any

from knm import config, errors
from knm.carriers.base import Carrier, full_name, short_name

log = logging.getLogger("knm.carriers")

_lock = threading.RLock()
_registered: dict[str, type[Carrier]] = {}
_classes: dict[str, type[Carrier] | None] = {}
_instances: dict[str, tuple[dict[str, Any], Carrier]] = {}
_entry_points: dict[str, str] | None = None


def _declared() -> dict[str, str]:
    """Entry points of group `knm.carriers`: full name → `module:Class` (read once)."""
    global _entry_points
    if _entry_points is None:
        found: dict[str, str] = {}
        for ep in metadata.entry_points(group="knm.carriers"):
            found.setdefault(full_name(ep.name), ep.value)
        _entry_points = found
    return _entry_points


def declared_names() -> list[str]:
    """Every carrier name knm knows of, reachable or not (entry points and registered)."""
    with _lock:
        return list(dict.fromkeys([*_declared(), *_registered]))


def register(cls: type[Carrier]) -> type[Carrier]:
    """Make a carrier class reachable by its `name` (usable as a decorator).

    Why: a third-party carrier defined at run time (or in a test) needs no packaging to be
    searched, bought from and released through the facade.
    """
    if not (inspect.isclass(cls) and issubclass(cls, Carrier)):
        raise errors.Invalid("carrier", f"{cls!r} is not a knm.carriers.Carrier subclass")
    if not cls.name:
        raise errors.Invalid("carrier", f"{cls.__name__} has no `name`")
    name = full_name(cls.name)
    with _lock:
        _registered[name] = cls
        _classes[name] = cls
        old = _instances.pop(name, None)
    if old is not None:
        _close(old[1])
    return cls


def unregister(name: str) -> None:
    """Forget a run-time registration (tests and plugin reloads)."""
    name = full_name(name)
    with _lock:
        _registered.pop(name, None)
        _classes.pop(name, None)
        old = _instances.pop(name, None)
    if old is not None:
        _close(old[1])


def reload(entry_points: dict[str, str] | None = None) -> None:
    """Forget every class looked up so far and the entry points read, so the next lookup
    finds them again: what a process needs after a carrier package was installed into it.
    Run-time registrations stay. `entry_points` (full name → `module:Class`) stands in for
    the installed metadata until the next `reload()`; a test uses it to see a built-in module
    found by name when its entry point is missing."""
    global _entry_points
    with _lock:
        _entry_points = None if entry_points is None else dict(entry_points)
        _classes.clear()
        _classes.update(_registered)


def _import(target: str) -> type[Carrier] | None:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj if inspect.isclass(obj) and issubclass(obj, Carrier) else None


def _by_module(name: str) -> type[Carrier] | None:
    """Fallback for a built-in module with no installed entry point yet: find its class."""
    module = importlib.import_module(f"knm.carriers.{short_name(name)}")
    for obj in vars(module).values():
        if inspect.isclass(obj) and issubclass(obj, Carrier) and obj.name == name:
            return obj
    return None


def carrier_class(name: str | None) -> type[Carrier] | None:
    """The class of carrier `name` (with or without `knm_`), or None when unreachable."""
    if not name or name == "undefined":
        return None
    name = full_name(str(name))
    with _lock:
        if name in _classes:
            return _classes[name]
    cls: type[Carrier] | None = None
    target = _declared().get(name)
    try:
        if target is not None:
            cls = _import(target)
        elif short_name(name).isidentifier():
            cls = _by_module(name)
    except Exception as exc:  # noqa: BLE001 - any import failure means "unreachable"
        log.info("carrier %s is unreachable: %s: %s", name, type(exc).__name__, exc)
        cls = None
    with _lock:
        return _classes.setdefault(name, cls)


def is_reachable(name: str | None) -> bool:
    return carrier_class(name) is not None


def get_carrier(name: str | None) -> Carrier | None:
    """A configured instance of carrier `name`, or None when no such carrier is reachable.

    The carrier's settings (`number_manager.<short>`) are read on every call; an instance
    built from older settings is replaced. A carrier whose settings are invalid raises its
    `CarrierMisconfigured` (naming the key), so the caller sees what to fix.
    """
    cls = carrier_class(name)
    if cls is None:
        return None
    key = full_name(str(name))
    settings = config.carrier_config(key)
    with _lock:
        cached = _instances.get(key)
        if cached is not None and cached[0] == settings and type(cached[1]) is cls:
            return cached[1]
    instance = cls(settings)
    with _lock:
        current = _instances.get(key)
        if current is not None and current[0] == settings and type(current[1]) is cls:
            instance_to_return = current[1]
        else:
            _instances[key] = (settings, instance)
            instance_to_return = instance
    if instance_to_return is not instance:
        _close(instance)
    # a replaced instance may still be serving a search in another thread, so it is
    # not closed here: its pooled connections go when it is garbage collected.
    return instance_to_return


def clear_instances() -> None:
    """Drop every cached instance (their HTTP clients are closed)."""
    with _lock:
        old = list(_instances.values())
        _instances.clear()
    for _settings, instance in old:
        _close(instance)


def _close(instance: Carrier) -> None:
    try:
        instance.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        log.debug("closing carrier %s failed", instance.name, exc_info=True)
