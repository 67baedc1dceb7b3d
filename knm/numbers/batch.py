"""What every operation on one number or many shares: the numbers of one call parsed once,
failures collected per number, the settings read once, and carrier calls run side by side.

Called with one number (a `str`) an operation returns a `PhoneNumber` or raises; called with a
list it returns a `BulkResult`, and one bad number never fails the rest (SPEC §5).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from knm import config, errors
from knm.phone import normalize
from knm.record import STATES, PhoneNumber

log = logging.getLogger("knm.numbers")

#: one number (`"+14158867900"`) or several; a `str` is always one number
Numbers = str | Iterable[str]
Item = TypeVar("Item")


@dataclass
class BulkResult:
    """Outcome of an operation on a list: what succeeded, and why each failure failed.

    `failed` is keyed by the number as given, normalized where it could be.
    """

    succeeded: list[PhoneNumber] = field(default_factory=list)
    failed: dict[str, errors.KnmError] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        """Crossbar's collection answer: `{"success": {N: number}, "error": {N: error}}`."""
        out: dict[str, Any] = {}
        if self.succeeded:
            out["success"] = {pn.number: pn.to_public_json() for pn in self.succeeded}
        if self.failed:
            out["error"] = {num: err.to_json() for num, err in self.failed.items()}
        return out


@dataclass(frozen=True)
class Settings:
    """`number_manager` keys one operation needs, read once."""

    released_state: str
    should_age: bool
    should_permanently_delete: bool
    port_in_module_name: str
    available_module_name: str
    reconcile: re.Pattern[str]
    bulk_concurrency: int
    disconnect_on_release: bool

    @classmethod
    def load(cls) -> Settings:
        cfg = config.get_category(config.CATEGORY)
        released = cfg.get("released_state")
        try:
            reconcile = re.compile(cfg.get("reconcile_regex") or config.DEFAULT_RECONCILE_REGEX)
        except re.error:
            reconcile = re.compile(config.DEFAULT_RECONCILE_REGEX)
        return cls(
            released_state=released if released in STATES else "available",
            should_age=bool(cfg.get("should_age")),
            should_permanently_delete=bool(cfg.get("should_permanently_delete")),
            port_in_module_name=cfg.get("port_in_module_name") or "knm_local",
            available_module_name=cfg.get("available_module_name") or "knm_local",
            reconcile=reconcile,
            bulk_concurrency=config.positive_int(cfg.get("bulk_concurrency"), 8),
            disconnect_on_release=cfg.get("disconnect_on_release") is not False,
        )


class Batch:
    """The numbers of one call: parsed once, failures collected as they happen."""

    def __init__(self, numbers: Numbers, settings: Settings) -> None:
        self.settings = settings
        self.single = isinstance(numbers, str)
        raw_list: Sequence[Any] = [numbers] if isinstance(numbers, str) else list(numbers)
        self.failed: dict[str, errors.KnmError] = {}
        self.todo: list[str] = []
        seen: set[str] = set()
        for raw in raw_list:
            if not isinstance(raw, str):
                self.failed[str(raw)] = errors.Invalid("number", f"{raw!r} is not a string")
                continue
            num = normalize(raw)
            if not settings.reconcile.match(num) or not num.startswith("+"):
                self.failed[raw] = errors.NotReconcilable(raw)
                continue
            if num not in seen:
                seen.add(num)
                self.todo.append(num)
        self.succeeded: list[PhoneNumber] = []

    def fail(self, number: str, error: errors.KnmError) -> None:
        self.failed[number] = error

    def fail_all(self, error: errors.KnmError) -> None:
        for num in self.todo:
            self.failed[num] = error
        self.todo = []

    def finish(self, *, dry_run: bool = False) -> Any:
        """One number: it, or its error raised. Several: a `BulkResult`."""
        if self.single:
            if self.failed:
                raise next(iter(self.failed.values()))
            if not self.succeeded:
                raise errors.InternalError(cause="no result")
            return self.succeeded[0]
        ok = [pn for pn in self.succeeded if pn.number not in self.failed]
        return BulkResult(ok, self.failed, dry_run)


def run_all(items: list[Item], fn: Callable[[Item], PhoneNumber], key: Callable[[Item], str],
            concurrency: int) -> dict[str, PhoneNumber | errors.KnmError]:
    """`fn(item)` for each item, at most `concurrency` at once (carrier calls wait on the
    network); each outcome — a record or the `KnmError` it raised — keyed by `key(item)`."""
    def one(item: Item) -> PhoneNumber | errors.KnmError:
        try:
            return fn(item)
        except errors.KnmError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - never lose the rest of the batch
            log.exception("unexpected failure on %s", key(item))
            return errors.InternalError(cause=type(exc).__name__)

    if len(items) <= 1 or concurrency <= 1:
        return {key(item): one(item) for item in items}
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items)),
                            thread_name_prefix="knm-bulk") as pool:
        results = list(pool.map(one, items))
    return {key(item): result for item, result in zip(items, results, strict=True)}
