"""Layered configuration kept in the store, so it changes at run time without a restart.

Kazoo's layout: a category (`number_manager`, `number_manager.telnyx`, …) has a `default`
section and optional per-node sections; a key is looked up node → default → built-in default.
An account may hold its own `number_manager` values (a reseller's `carrier_modules` overrides
the system's); an account-scoped lookup falls back to the system's.
"""

from __future__ import annotations

import copy
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, delete, select

from knm import clock, errors, sealing, store
from knm.secrets import is_secret_key, masked
from knm.store.schema import config_entries as t

#: the scope of system-wide settings (Kazoo's `system_config`). The same word as
#: `accounts.SYSTEM` (the caller that is knm itself) because Kazoo spells both so, but a
#: different thing: this one is stored in rows, and config sits beside accounts, not above
SYSTEM = "system"
DEFAULT_SECTION = "default"
CATEGORY = "number_manager"

DEFAULT_RECONCILE_REGEX = r"^(\+?1)?\d{10}$|^\+[2-9]\d{7,}$|^011\d*$|^00\d*$"

#: built-in defaults of `number_manager` (reference/kazoo-core.md §9, plus knm's own keys)
BUILTIN: dict[str, dict[str, Any]] = {
    CATEGORY: {
        "carrier_modules": ["knm_local"],
        "available_module_name": "knm_local",
        "maximum_search_quantity": 500,
        "number_search_timeout_ms": 5000,
        "search_cache_ttl_s": 900,
        "released_state": "available",
        "should_permanently_delete": False,
        "should_age": False,
        "port_in_module_name": "knm_local",
        "reconcile_regex": DEFAULT_RECONCILE_REGEX,
        "bulk_concurrency": 8,
        "auth_token_ttl_s": 3600,
        # SPEC §5.1: how often `knm serve` settles unsettled orders (0 = never), and whether a
        # released number of a foreign carrier is disconnected there (and then forgotten)
        "order_settle_interval_s": 30,
        "disconnect_on_release": True,
        # requests per carrier at a time while settling (carriers are asked side by side)
        "settle_concurrency": 16,
        # an anonymous search repeated within this many seconds is answered as before (0: off)
        "public_search_reuse_s": 10,
        # a claim's lease: its holder renews it every third of this while a carrier call runs
        "claim_lease_s": 30,
    },
    f"{CATEGORY}.other": {"default_country": "US"},
}


_HOSTNAME = socket.gethostname()


def node_name() -> str:
    """This node's config section: `KNM_NODE`, else the host name."""
    return os.environ.get("KNM_NODE") or _HOSTNAME


def _scope(account_id: str | None) -> str:
    return account_id or SYSTEM


_FULL_NAME_CATEGORY = f"{CATEGORY}.knm_"


def canonical_category(category: str) -> str:
    """`number_manager.knm_telnyx` → `number_manager.telnyx`. A carrier's settings live under
    its short name (SPEC §7); its full name, which people type as readily, means the same
    category rather than one no carrier reads."""
    if category.startswith(_FULL_NAME_CATEGORY):
        return CATEGORY + "." + category.removeprefix(_FULL_NAME_CATEGORY)
    return category


# -- the snapshot ------------------------------------------------------------------------------
# Searches and bulk operations read a dozen keys per call; one query per key made config the
# hot path of every search. The whole table is small, so each process keeps a snapshot of it,
# re-read when older than `KNM_CONFIG_TTL_MS` (default 1000 ms) and dropped at once by a `set`
# in this process or a database switch. Another process sees a change within that TTL. Its
# age is read from `knm.clock`, so a test moves time forward instead of sleeping through it.

Rows = dict[tuple[str, str, str, str], Any]  # (scope, category, section, key) -> value

_snapshot_lock = threading.Lock()
_snapshot: tuple[float, Any, Rows] | None = None  # (loaded at, engine, rows)
#: sealed settings of the snapshot that could not be opened, with why (their value reads None)
_unreadable: dict[tuple[str, str, str, str], str] = {}


def _ttl_s() -> float:
    try:
        return max(0.0, float(os.environ.get("KNM_CONFIG_TTL_MS", "1000")) / 1000)
    except ValueError:
        return 1.0


def _rows() -> Rows:
    global _snapshot
    engine = store.engine()
    snap = _snapshot
    now = clock.monotonic()  # injectable: a test advances it instead of sleeping
    if snap is not None and snap[1] is engine and now - snap[0] < _ttl_s():
        return snap[2]
    with store.read() as conn:
        rows: Rows = {(r.scope, r.category, r.section, r.key): r.value
                      for r in conn.execute(select(t.c.scope, t.c.category, t.c.section,
                                                   t.c.key, t.c.value))}
    unreadable = _open_sealed(rows)
    with _snapshot_lock:
        _snapshot = (now, engine, rows)
        _unreadable.clear()
        _unreadable.update(unreadable)
    return rows


def _context(row: tuple[str, str, str, str]) -> str:
    """What a sealed value is bound to: the setting it belongs to."""
    return "|".join(row)


def _open_sealed(rows: Rows) -> dict[tuple[str, str, str, str], str]:
    """Open every sealed value in place; those that cannot be opened read None."""
    sealed = [row for row, value in rows.items() if sealing.is_sealed(value)]
    if not sealed:
        return {}
    sealer = sealing.from_env()
    failed: dict[tuple[str, str, str, str], str] = {}
    for row in sealed:
        try:
            if sealer is None:
                raise sealing.SealError(f"it is stored encrypted and {sealing.ENV} is not set")
            rows[row] = sealer.open(rows[row], _context(row))
        except sealing.SealError as exc:
            failed[row] = str(exc)
            rows[row] = None
    return failed


def invalidate() -> None:
    """Forget the snapshot: the next read goes to the database."""
    global _snapshot
    with _snapshot_lock:
        _snapshot = None


def _lookup(rows: Rows, scope: str, category: str, key: str, node: str) -> tuple[bool, Any]:
    for section in (node, DEFAULT_SECTION):
        found = rows.get((scope, category, section, key), _MISSING)
        if found is not _MISSING:
            return True, copy.deepcopy(found)
    return False, None


_MISSING = object()


def get(category: str, key: str, default: Any = None, *, account_id: str | None = None,
        node: str | None = None) -> Any:
    """The value of `key`: the account's if it has one, else node → default → built-in."""
    category = canonical_category(category)
    node = node or node_name()
    rows = _rows()
    if account_id:
        found, value = _lookup(rows, account_id, category, key, node)
        if found:
            return value
    found, value = _lookup(rows, SYSTEM, category, key, node)
    if found:
        return value
    if default is not None:
        return default
    return copy.deepcopy(BUILTIN.get(category, {}).get(key))


def get_own(category: str, key: str, *, account_id: str) -> Any:
    """The account's own value only (no fallback), None when it has none."""
    found, value = _lookup(_rows(), account_id, category, key, node_name())
    return value if found else None


def set(category: str, key: str, value: Any, *, account_id: str | None = None,  # noqa: A001
        node: str | None = None) -> None:
    """Set `key`; `value=None` removes it. Takes effect on this process's next read, and
    within `KNM_CONFIG_TTL_MS` in every other process."""
    category = canonical_category(category)
    scope, section = _scope(account_id), node or DEFAULT_SECTION
    where = and_(t.c.scope == scope, t.c.category == category, t.c.section == section,
                 t.c.key == key)
    sealer = sealing.from_env()
    if value is not None and sealer is not None and is_secret_key(key):
        value = sealer.seal(value, _context((scope, category, section, key)))
    try:
        with store.write() as conn:
            conn.execute(delete(t).where(where))
            if value is not None:
                conn.execute(t.insert().values(scope=scope, category=category,
                                               section=section, key=key, value=value))
    finally:
        invalidate()


def get_category(category: str, *, account_id: str | None = None, node: str | None = None,
                 with_builtin: bool = True) -> dict[str, Any]:
    """All keys of a category as the lookups would see them (built-in < default < node)."""
    category = canonical_category(category)
    node = node or node_name()
    merged: dict[str, Any] = copy.deepcopy(BUILTIN.get(category, {})) if with_builtin else {}
    layers = [(SYSTEM, DEFAULT_SECTION), (SYSTEM, node)]
    if account_id:
        layers += [(account_id, DEFAULT_SECTION), (account_id, node)]
    rows = _rows()
    for scope, section in layers:
        for (r_scope, r_category, r_section, r_key), value in rows.items():
            if (r_scope, r_category, r_section) == (scope, category, section):
                merged[r_key] = copy.deepcopy(value)
    return merged


def carrier_config(carrier: str) -> dict[str, Any]:
    """Settings of one carrier (`number_manager.<short>`), node section over default. A
    secret stored encrypted that cannot be opened is `CarrierMisconfigured`, naming it."""
    category = f"{CATEGORY}.{carrier.removeprefix('knm_')}"
    values = get_category(category)
    for (scope, r_category, _section, key), why in list(_unreadable.items()):
        if scope == SYSTEM and r_category == category and values.get(key) is None:
            raise errors.CarrierMisconfigured(carrier if carrier.startswith("knm_")
                                              else f"knm_{carrier}", key, f"cannot be read: {why}")
    return values


def secrets_at_rest() -> dict[str, int]:
    """How the stored secret settings are kept: counts of `sealed` and `plaintext` ones."""
    counts = {"sealed": 0, "plaintext": 0}
    with store.read() as conn:
        for key, value in conn.execute(select(t.c.key, t.c.value)):
            if sealing.is_sealed(value):
                counts["sealed"] += 1
            elif is_secret_key(key) and value not in (None, ""):
                counts["plaintext"] += 1
    return counts


def rotate_key(new_key: str | None, *, old_key: str | None = None) -> int:
    """Re-seal every secret setting under `new_key` (plaintext ones are sealed too); with
    `new_key` None they are stored in plaintext again. `old_key` opens what is sealed now
    (default: `KNM_SECRET_KEY`). All or nothing: a value that cannot be opened stops the
    rotation before anything is written. Returns how many settings were rewritten."""
    old = sealing.Sealer(old_key) if old_key else sealing.from_env()
    new = sealing.Sealer(new_key) if new_key else None
    rewritten = 0
    try:
        with store.write() as conn:
            rows = conn.execute(select(t.c.scope, t.c.category, t.c.section, t.c.key,
                                       t.c.value)).all()
            updates = []
            for scope, category, section, key, value in rows:
                row = (scope, category, section, key)
                if sealing.is_sealed(value):
                    if old is None:
                        raise errors.Invalid("old_key", f"settings are sealed: give the key "
                                             f"they were sealed with ({sealing.ENV})")
                    try:
                        plain = old.open(value, _context(row))
                    except sealing.SealError as exc:
                        raise errors.Invalid("old_key", f"{category} {key}: {exc}") from None
                elif is_secret_key(key) and value not in (None, ""):
                    plain = value
                else:
                    continue
                stored = new.seal(plain, _context(row)) if new is not None else plain
                updates.append((row, stored))
            for (scope, category, section, key), stored in updates:
                conn.execute(t.update().where(and_(
                    t.c.scope == scope, t.c.category == category, t.c.section == section,
                    t.c.key == key)).values(value=stored))
                rewritten += 1
    finally:
        invalidate()
    return rewritten


def mask(values: dict[str, Any], secret_keys: set[str] | frozenset[str] = frozenset()
         ) -> dict[str, Any]:
    """A copy fit for display: every secret shown as `***` (see `knm.secrets.masked`)."""
    return masked(values, secret_keys)


def system(key: str) -> Any:
    """Shorthand for a `number_manager` key."""
    return get(CATEGORY, key)


def _at_least(value: Any, default: Any, minimum: Any, convert: Callable[[Any], Any]) -> Any:
    if isinstance(value, bool):  # `True` is an int to Python, never a count to a person
        return default
    try:
        out = convert(value)
    except (TypeError, ValueError):
        return default
    return out if out >= minimum else default


def positive_int(value: Any, default: int, *, minimum: int = 1) -> int:
    """`value` as an integer of at least `minimum`, else `default` (a setting someone typed
    wrong must not break every operation that reads it)."""
    out: int = _at_least(value, default, minimum, int)
    return out


def number(value: Any, default: float, *, minimum: float = 0.0) -> float:
    """`value` as a float of at least `minimum`, else `default`."""
    out: float = _at_least(value, default, minimum, float)
    return out


def system_int(key: str, *, minimum: int = 1) -> int:
    """A `number_manager` integer, its built-in default when unset or unusable."""
    return positive_int(system(key), int(BUILTIN[CATEGORY][key]), minimum=minimum)


def system_number(key: str, *, minimum: float = 0.0) -> float:
    """A `number_manager` number (seconds, …), its built-in default when unset or unusable."""
    return number(system(key), float(BUILTIN[CATEGORY][key]), minimum=minimum)
