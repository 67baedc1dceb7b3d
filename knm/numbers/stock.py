"""Filling the store-backed carriers' stock, an operator's action: `knm numbers generate`
(a range into a `knm_managed` / `knm_inum` pool), pool imports (Kazoo's `import_numbers`),
and `knm numbers import` (numbers an operator owns, as `knm_inventory`).

Every number stored is checked first (`importers.check_number`: a real E.164 number); the
rows go in through `store.bulk.insert_new`, in chunks through the write gate, so a million
numbers cost seconds and a `knm serve` beside the import keeps working. Which carriers can be
filled is each carrier class's own `capabilities` (`generate`, `import`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select

from knm import accounts, carriers, errors, numbering, store
from knm.carriers.base import Carrier, full_name
from knm.carriers.inventory import Inventory
from knm.carriers.pool import PoolCarrier
from knm.numbers import importers
from knm.phone import normalize
from knm.store import bulk
from knm.store.schema import numbers as numbers_t
from knm.store.schema import pool_numbers as pool_t
from knm.values import now_gregorian

log = logging.getLogger("knm.numbers")

CHUNK = 500  # numbers per IN (...) when a pool import looks for numbers already there

Progress = Callable[[int], None]


# -- pools: generate, import -------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedRange:
    """What `generate` did: `added` of the `requested` numbers `first` … `last` were new to
    the pool (numbers already there are left alone)."""

    carrier: str
    account_id: str
    requested: int
    added: int
    first: str | None
    last: str | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"carrier": self.carrier, "account_id": self.account_id,
                               "requested": self.requested, "added": self.added}
        if self.first is not None:
            out.update(first=self.first, last=self.last)
        return out


def generate(carrier: str, account_id: str, start: int | str, count: int | str, *,
             progress: Progress | None = None) -> GeneratedRange:
    """Put `count` consecutive numbers from `start` in the account's pool of `carrier` (a
    pool carrier with the `generate` capability: `managed`, `inum`).

    `start` is read like any number a user types: `4155550100` is `+14155550100` (Kazoo only
    prefixed `+`, so a US start number became a Swiss one — `+4155550100` — which nobody
    means). The whole range must be real numbers of one country code, or nothing is stored:
    `400 invalid`, cause `start` (the first number is not one) or `count` (the range runs out
    of its numbering plan). `progress(n)`: `n` numbers handled so far.
    """
    name = _carrier_with(carrier, "generate")
    account_id = _account(account_id)
    first = _start(start)
    total = _count(count)
    if total == 0:
        return GeneratedRange(name, account_id, 0, 0, None, None)
    _check_range(first, total)
    done = bulk.insert_new(pool_t, "number", _range(first, total),
                           _pool_row(name, account_id), progress=progress)
    log.info("%s: %d of %d numbers added to the pool of %s", name, done.added, total,
             account_id)
    return GeneratedRange(name, account_id, total, done.added, f"+{first}",
                          f"+{first + total - 1}")


def import_pool(carrier: str, account_id: str, numbers: Iterable[str]) -> dict[str, Any]:
    """Put `numbers` in the account's pool of `carrier` (a pool carrier with the `import`
    capability: `managed`, `inum`). Kazoo's result shape: `{"success": {num: {}}, "errors":
    {num: {"reason", "message"}}}`, each key present only when it has entries; a number that
    is not a real one fails `invalid`, one already in the pool `conflict`."""
    name = _carrier_with(carrier, "import")
    account_id = _account(account_id)
    success: dict[str, Any] = {}
    failed: dict[str, Any] = {}
    wanted: list[str] = []
    for raw in numbers:
        try:
            wanted.append(importers.check_number(str(raw)))
        except errors.Invalid:
            failed[str(raw)] = {"reason": "invalid", "message": "error adding number to DB"}
    wanted = list(dict.fromkeys(wanted))
    taken = _in_pool(name, wanted)
    for num in wanted:
        if num in taken:
            failed[num] = {"reason": "conflict", "message": "error adding number to DB"}
    fresh = [n for n in wanted if n not in taken]
    if fresh:
        bulk.insert_new(pool_t, "number", fresh, _pool_row(name, account_id))
        success.update({n: {} for n in fresh})
    out: dict[str, Any] = {}
    if success:
        out["success"] = success
    if failed:
        out["errors"] = failed
    return out


def _carrier_with(carrier: str, capability: str) -> str:
    """The full name of `carrier`, a pool carrier able to do `capability`."""
    if not isinstance(carrier, str) or not carrier.strip():
        raise errors.Invalid("carrier", "a carrier name is needed")
    name = full_name(carrier.strip())
    cls = carriers.carrier_class(name)
    if cls is None:
        raise errors.Invalid("carrier", f"unknown carrier {carrier!r}")
    if not _fills_pool(cls, capability):
        able = ", ".join(_carriers_with(capability)) or "none is installed"
        raise errors.Invalid("carrier", f"{carrier!r} cannot {capability} numbers into a "
                                        f"pool (carriers that can: {able})")
    return name


def _fills_pool(cls: type[Carrier], capability: str) -> bool:
    return issubclass(cls, PoolCarrier) and capability in cls.capabilities


def _carriers_with(capability: str) -> list[str]:
    found: list[str] = []
    for name in carriers.declared_names():
        cls = carriers.carrier_class(name)
        if cls is not None and _fills_pool(cls, capability):
            found.append(name)
    return sorted(found)


def _account(account_id: str) -> str:
    if not accounts.is_account_id(account_id):
        raise errors.Invalid("account_id", f"{account_id!r} is not an account id")
    return accounts.get(account_id).id  # `400 invalid` when there is no such account


def _start(start: int | str) -> int:
    """The first number, as an integer (its digits after the `+`)."""
    if isinstance(start, bool) or not isinstance(start, int | str):
        raise errors.Invalid("start", "start must be a phone number")
    normalized = normalize(str(start).strip())
    if not (normalized.startswith("+") and normalized[1:].isdigit()):
        raise errors.Invalid("start", f"start {start!r} is not a phone number")
    return int(normalized[1:])


def _count(count: int | str) -> int:
    if isinstance(count, bool):
        raise errors.Invalid("count", "count must be an integer")
    try:
        value = int(str(count).strip()) if isinstance(count, str) else int(count)
    except (TypeError, ValueError):
        raise errors.Invalid("count", "count must be an integer") from None
    if value < 0:
        raise errors.Invalid("count", "count must be 0 or more")
    return value


def _range(first: int, count: int) -> Iterator[str]:
    return (f"+{n}" for n in range(first, first + count))


def _check_range(first: int, count: int) -> None:
    """Every number of the range must be real, and the range must stay within one country
    code (a range of `+1…` numbers that ran on into `+20…` would be two countries' numbers;
    one starting at `+1` would produce 2-digit "numbers")."""
    low, high = f"+{first}", f"+{first + count - 1}"
    try:
        importers.check_number(low)
    except errors.Invalid as exc:
        raise errors.Invalid("start", f"start {low}: {exc.message}") from None
    code = numbering.country_code(low)
    if len(low) != len(high) or numbering.country_code(high) != code:
        raise errors.Invalid("count", f"{low} … {high} leaves the numbering plan of +{code}; "
                                      "a range stays within one country code and length")
    invalid = [n for n in _range(first, count) if not numbering.is_valid(n)]
    if invalid:
        raise errors.Invalid("count", f"{len(invalid)} of the {count} numbers {low} … {high} "
                                      f"are not valid +{code} numbers (the first: "
                                      f"{invalid[0]}); choose a range of real numbers")


def _pool_row(carrier: str, account_id: str) -> dict[str, Any]:
    stamp = now_gregorian()
    return {"carrier": carrier, "account_id": account_id, "state": "available",
            "assigned_to": None, "created": stamp, "modified": stamp}


def _in_pool(carrier: str, numbers: list[str]) -> set[str]:
    """Which of `numbers` the carrier's pools hold (one query per chunk)."""
    found: set[str] = set()
    with store.read() as conn:
        for i in range(0, len(numbers), CHUNK):
            part = numbers[i:i + CHUNK]
            found.update(conn.execute(select(pool_t.c.number).where(and_(
                pool_t.c.carrier == carrier, pool_t.c.number.in_(part)))).scalars())
    return found


# -- inventory ---------------------------------------------------------------------------------


def import_inventory(numbers: Iterable[str], *, progress: Progress | None = None,
                     report: importers.ImportReport | None = None) -> int:
    """Load `numbers` as `knm_inventory` numbers in state `available`; return how many were
    added. Numbers already known (under any carrier) are left as they are; entries that are
    not real numbers are skipped, counted (with their position, from 1) in `report` when one
    is given, and logged. `progress(n)`: `n` valid numbers handled so far. Memory stays flat
    however long the input is."""
    report = report if report is not None else importers.ImportReport()
    _load_inventory(importers.checked(enumerate(numbers, 1), report), report, progress)
    return report.imported


def import_inventory_file(path: str | Path, *, progress: Progress | None = None
                          ) -> importers.ImportReport:
    """`import_inventory` of a CSV file (`importers.csv_entries`): bad lines are reported
    with their line numbers."""
    file = importers.existing_file(path, "csv")
    report = importers.ImportReport()
    _load_inventory(importers.checked(importers.csv_entries(file), report), report, progress)
    return report


def _load_inventory(numbers: Iterable[str], report: importers.ImportReport,
                    progress: Progress | None) -> None:
    stamp = now_gregorian()
    done = bulk.insert_new(numbers_t, "number", numbers, {
        "state": "available", "module_name": Inventory.name, "ported_in": False, "features": {},
        "created": stamp, "modified": stamp, "version": 1,
    }, progress=progress)
    report.imported = done.added
    if report.failed:
        log.warning("inventory import: %d entries are not real numbers and were skipped",
                    report.failed)
    log.info("inventory import: %d numbers read, %d added", report.read, done.added)
