"""Number operations (Kazoo's `knm_numbers` / `knm_ops`): get, create, move, reserve,
assign_to_app, release, delete, update, plus `import_kazoo` and `list_account`.

Every operation takes one number (a `str`: it returns a `PhoneNumber` or raises `KnmError`) or
a list (it returns a `BulkResult`: one bad number never fails the rest). Configuration and
account lookups are read once per operation, and records are read and written in bulk, so an
operation over 10,000 numbers costs a handful of queries.

Buying is atomic per number. A number found in a search (`discovery`) is first inserted as a
claim row, so a second buyer fails with `409` before any carrier is asked; the carrier is then
asked once, and the row becomes `in_service` — or is removed again if the carrier refused, so
nothing is half-bought. A carrier whose order is still pending after its wait (`504
carrier_timeout` with `order_status: "pending"`) leaves the row in `discovery` with the order
in its carrier data, so a purchase the carrier may still complete is never forgotten.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, overload

from knm import accounts, cache, config, errors, store
from knm.numbers import repository, states
from knm.numbers.states import AuthCache, Context
from knm.phone import normalize
from knm.record import LOCAL_MODULES, STATES, PhoneNumber, now_gregorian, public_fields

__all__ = [
    "BulkResult", "PhoneNumber", "allowed_creation_states",
    "assign_to_app", "create", "delete", "get", "import_kazoo", "list_account", "move",
    "release", "reserve", "update",
]

log = logging.getLogger("knm.numbers")

SYSTEM = "system"
ADMIN_CREATION_STATES = ("aging", "available", "in_service", "port_in", "reserved")
ADDITION_CREATION_STATES = ("in_service", "reserved")
CREATABLE_OVER = ("aging", "available", "port_in")  # existing numbers `create` may take over
RELEASABLE = ("released", "reserved", "port_in", "in_service")
#: carriers whose numbers live in this store: releasing them makes no network call
STORE_CARRIERS = frozenset({"knm_local", "knm_inventory", "knm_managed", "knm_mdn",
                            "knm_reserved", "knm_reserved_reseller", "knm_inum"})

Numbers = str | Iterable[str]


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
class _Settings:
    """`number_manager` keys one operation needs, read once."""

    released_state: str
    should_age: bool
    should_permanently_delete: bool
    port_in_module_name: str
    available_module_name: str
    reconcile: re.Pattern[str]
    bulk_concurrency: int

    @classmethod
    def load(cls) -> _Settings:
        cfg = config.get_category(config.CATEGORY)
        released = cfg.get("released_state")
        try:
            reconcile = re.compile(cfg.get("reconcile_regex") or config.DEFAULT_RECONCILE_REGEX)
        except re.error:
            reconcile = re.compile(config.DEFAULT_RECONCILE_REGEX)
        try:
            concurrency = max(1, int(cfg.get("bulk_concurrency") or 8))
        except (TypeError, ValueError):
            concurrency = 8
        return cls(
            released_state=released if released in STATES else "available",
            should_age=bool(cfg.get("should_age")),
            should_permanently_delete=bool(cfg.get("should_permanently_delete")),
            port_in_module_name=cfg.get("port_in_module_name") or "knm_local",
            available_module_name=cfg.get("available_module_name") or "knm_local",
            reconcile=reconcile,
            bulk_concurrency=concurrency,
        )


class _Batch:
    """The numbers of one call: parsed once, failures collected as they happen."""

    def __init__(self, numbers: Numbers, settings: _Settings) -> None:
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
        if self.single:
            if self.failed:
                raise next(iter(self.failed.values()))
            if not self.succeeded:
                raise errors.InternalError(cause="no result")
            return self.succeeded[0]
        ok = [pn for pn in self.succeeded if pn.number not in self.failed]
        return BulkResult(ok, self.failed, dry_run)


# -- loading -----------------------------------------------------------------------------------


def _load(batch: _Batch, ctx: Context, *, auth_by: str | None, assign_to: str | None = None,
          mutating: bool = True) -> list[PhoneNumber]:
    """Fetch the batch's numbers; missing ones fail `not_found`, unreadable ones `forbidden`,
    and (when about to change them) rows another request is buying fail as busy."""
    found = repository.fetch_many(batch.todo)
    out: list[PhoneNumber] = []
    for num in batch.todo:
        pn = found.get(num)
        if pn is None:
            batch.fail(num, errors.NotFound(num))
            continue
        pn.auth_by = auth_by
        pn.assign_to = assign_to
        if not states.may_read(pn, ctx.auth):
            batch.fail(num, errors.Forbidden())
            continue
        if mutating and repository.is_claimed(pn):
            batch.fail(num, errors.NumberBusy(num))
            continue
        out.append(pn)
    return out


def _new_number(number: str, *, state: str, module_name: str, assign_to: str | None,
                auth_by: str | None, ported_in: bool = False,
                public: dict[str, Any] | None = None, carrier_data: dict[str, Any] | None = None
                ) -> PhoneNumber:
    """A record that is not stored yet (dirty: it has to be written)."""
    pn = PhoneNumber(number)
    pn.created = pn.modified = now_gregorian()
    pn.set_module_name(module_name, loading=True)
    pn.state = state
    pn.assign_to = assign_to
    pn.auth_by = auth_by
    pn.ported_in = bool(ported_in)
    pn.doc = public_fields(public) if public else {}
    pn.carrier_data = dict(carrier_data or {})
    pn.is_dirty = True
    return pn


def _check_assign_to(assign_to: str | None, auth: AuthCache) -> errors.KnmError | None:
    """Kazoo needs a 32-character account id; knm also needs the account to exist."""
    if not accounts.is_account_id(assign_to):
        return errors.AssignFailure()
    if not auth.exists(assign_to):
        return errors.Invalid("assign_to", f"account {assign_to} not found")
    return None


# -- saving ------------------------------------------------------------------------------------


def _mdn_guard(pn: PhoneNumber) -> None:
    """Only MDN runs may change MDN numbers, and MDN runs only MDN numbers (system: any)."""
    if pn.auth_by == SYSTEM:
        return
    if bool(pn.mdn_run) != (pn.module_name == states.MDN):
        raise errors.Forbidden()


def _commit(batch: _Batch, items: list[tuple[PhoneNumber, PhoneNumber | None]], *,
            dry_run: bool = False) -> None:
    """Persist the batch. `items` pairs each changed record with, when its carrier must buy
    it, the record as loaded (before the transition) — those go through `_buy`."""
    plain: list[PhoneNumber] = []
    buys: list[tuple[PhoneNumber, PhoneNumber]] = []
    for pn, before in items:
        if pn.state != "deleted" and (pn.is_dirty or pn.version == 0):
            try:
                _mdn_guard(pn)
            except errors.KnmError as exc:
                batch.fail(pn.number, exc)
                continue
        if before is not None:
            buys.append((pn, before))
        else:
            plain.append(pn)
    if dry_run:
        batch.succeeded.extend(pn for pn, _ in items if pn.number not in batch.failed)
        return
    to_write = [pn for pn in plain
                if pn.state == "deleted" and pn.version > 0
                or pn.state != "deleted" and (pn.is_dirty or pn.version == 0)]
    for num, exc in repository.save_many(to_write).items():
        batch.fail(num, exc)
    done: dict[str, PhoneNumber] = {pn.number: pn for pn in plain}
    for num, result in _run_all(buys, _buy, batch.settings.bulk_concurrency).items():
        if isinstance(result, errors.KnmError):
            batch.fail(num, result)
        else:
            done[num] = result
    batch.succeeded.extend(done[pn.number] for pn, _ in items
                           if pn.number in done and pn.number not in batch.failed)


def _run_all(items: list[tuple[PhoneNumber, PhoneNumber]], fn: Any, concurrency: int
             ) -> dict[str, PhoneNumber | errors.KnmError]:
    """Run `fn` per item, at most `concurrency` at once (carrier calls wait on the network)."""
    def one(item: tuple[PhoneNumber, PhoneNumber]) -> PhoneNumber | errors.KnmError:
        try:
            return fn(*item)
        except errors.KnmError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - never lose the rest of the batch
            log.exception("unexpected failure on %s", item[0].number)
            return errors.InternalError(cause=type(exc).__name__)

    if len(items) <= 1 or concurrency <= 1:
        return {pn.number: one((pn, before)) for pn, before in items}
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items)),
                            thread_name_prefix="knm-bulk") as pool:
        results = list(pool.map(one, items))
    return {pn.number: result for (pn, _), result in zip(items, results, strict=True)}


def _pending_record(exc: errors.KnmError, pn: PhoneNumber) -> PhoneNumber | None:
    """The record of an order the carrier may still complete (SPEC §12), if this is one."""
    if not isinstance(exc, errors.CarrierTimeout):
        return None
    for candidate in (exc.pending, pn):
        if isinstance(candidate, PhoneNumber) and \
                (candidate.carrier_data or {}).get("order_status") == "pending":
            return candidate
    return None


def _buy(pn: PhoneNumber, before: PhoneNumber) -> PhoneNumber:
    """Claim the row, ask the carrier once, record the outcome. Raises the carrier's error."""
    original = before.copy()
    claim_row = before.copy()
    repository.claim(claim_row)  # 409 here means another buyer got there first
    claimed_version, token = claim_row.version, claim_row.rev
    pn.version, pn.rev = claimed_version, token
    try:
        bought = states.acquire(pn)
    except Exception as exc:
        error = exc if isinstance(exc, errors.KnmError) else errors.CarrierFault(
            pn.module_name or "unknown", type(exc).__name__, number=pn.number)
        pending = _pending_record(error, pn)
        if pending is not None:
            kept = before.copy()
            kept.carrier_data = dict(pending.carrier_data)
            kept.assigned_to = pn.assigned_to  # who is buying it, for whoever settles it
            kept.modified = now_gregorian()
            repository.drop_claim(pn.number, claimed_version, restore=kept)
        else:
            restore = None if original.version == 0 else original
            repository.drop_claim(pn.number, claimed_version, restore=restore)
        if error is exc:
            raise
        raise error from exc
    bought.version, bought.rev = claimed_version, token
    repository.write_back(bought)
    return bought


# -- creation rules (reference/kazoo-core.md §7.4) ---------------------------------------------


def allowed_creation_states(auth_by: str | None, auth: AuthCache | None = None) -> list[str]:
    """States `auth_by` may create numbers in: admins all five, accounts allowed additions
    `in_service`/`reserved`, everyone else none."""
    auth = auth or AuthCache()
    if not auth_by:
        return []
    if auth.is_admin(auth_by):
        return list(ADMIN_CREATION_STATES)
    if auth.allows_additions(auth_by):
        return list(ADDITION_CREATION_STATES)
    return []


def _state_for_create(state: str | None, ported_in: bool, module_name: str | None,
                      auth_by: str | None, auth: AuthCache) -> str:
    if state is not None and state not in STATES:
        raise errors.Invalid("state", f"unknown state {state!r}; one of {', '.join(STATES)}")
    if state == "port_in":
        return "port_in"
    if ported_in or module_name == states.MDN:
        return "in_service"
    wanted = state or "in_service"
    if wanted not in allowed_creation_states(auth_by, auth):
        raise errors.Forbidden(f"creating number in state '{wanted}' is not allowed")
    return wanted


def _ensure_can_create(*, assign_to: str | None, auth_by: str | None, state: str | None,
                       ported_in: bool, module_name: str | None, auth: AuthCache) -> str:
    target = _state_for_create(state, ported_in, module_name, auth_by, auth)
    problem = _check_assign_to(assign_to, auth)
    if problem is not None:
        raise problem
    if auth_by == SYSTEM:
        return target
    if accounts.is_account_id(auth_by):
        if (ported_in or target == "port_in" or auth.allows_additions(auth_by)
                or auth.is_admin(auth_by)):
            return target
        raise errors.Forbidden(f"account '{auth_by}' is not allowed to create number")
    raise errors.Forbidden(
        "cannot determined account is allowed to create number, account id is undefined")


# -- operations --------------------------------------------------------------------------------


@overload
def get(numbers: str, *, auth_by: str | None = SYSTEM) -> PhoneNumber: ...
@overload
def get(numbers: Iterable[str], *, auth_by: str | None = SYSTEM) -> BulkResult: ...
def get(numbers: Numbers, *, auth_by: str | None = SYSTEM) -> PhoneNumber | BulkResult:
    """Load numbers. Available numbers are public; others need `auth_by` to be authorized."""
    batch = _Batch(numbers, _Settings.load())
    batch.succeeded = _load(batch, Context(), auth_by=auth_by, mutating=False)
    return batch.finish()


def create(numbers: Numbers, *, assign_to: str | None, auth_by: str | None = SYSTEM,
           state: str | None = None, module_name: str | None = None, ported_in: bool = False,
           dry_run: bool = False, public_fields: dict[str, Any] | None = None,
           mdn_run: bool = False) -> Any:
    """Add numbers to the system (Kazoo's rules: who may create in which state, existing
    numbers only over `available`/`aging`/`port_in`, never a number inside a port request).
    Creating never calls a carrier."""
    settings = _Settings.load()
    batch = _Batch(numbers, settings)
    ctx = Context()
    try:
        target = _ensure_can_create(assign_to=assign_to, auth_by=auth_by, state=state,
                                    ported_in=ported_in, module_name=module_name,
                                    auth=ctx.auth)
    except errors.KnmError as exc:
        batch.fail_all(exc)
        return batch.finish(dry_run=dry_run)
    if ported_in and module_name is None:
        module_name = settings.port_in_module_name
    found = repository.fetch_many(batch.todo)
    in_port = set() if ported_in else repository.porting(n for n in batch.todo if n not in found)
    items: list[tuple[PhoneNumber, PhoneNumber | None]] = []
    for num in batch.todo:
        pn = found.get(num)
        try:
            if pn is not None:
                if pn.state not in CREATABLE_OVER or repository.is_claimed(pn):
                    raise errors.NumberExists(num)
                pn.assign_to, pn.auth_by = assign_to, auth_by
                if module_name is not None:
                    pn.set_module_name(module_name)
                if ported_in:
                    pn.set_ported_in(True)
                if public_fields is not None:
                    pn.reset_doc(public_fields)
            else:
                if num in in_port:
                    raise errors.NumberIsPorting(num)
                if target == "port_in":
                    module = "knm_local"
                elif ported_in:
                    module = settings.port_in_module_name
                else:
                    module = module_name or settings.available_module_name
                pn = _new_number(num, state=target, module_name=module, assign_to=assign_to,
                                 auth_by=auth_by, ported_in=ported_in, public=public_fields)
            pn.dry_run, pn.mdn_run = dry_run, mdn_run
            states.transition(pn, target, ctx)  # a creation never acquires (Kazoo §7.2)
        except errors.KnmError as exc:
            batch.fail(num, exc)
            continue
        items.append((pn, None))
    _commit(batch, items, dry_run=dry_run)
    return batch.finish(dry_run=dry_run)


def _move_like(batch: _Batch, ctx: Context, loaded: list[PhoneNumber], discovered: list[
        PhoneNumber], target: str, *, dry_run: bool = False,
        setup: Any = None) -> None:
    items: list[tuple[PhoneNumber, PhoneNumber | None]] = []
    for pn in [*loaded, *discovered]:
        try:
            # only these states can need the carrier; keep the record as loaded for the claim
            before = pn.copy() if pn.state in ("discovery", "reserved") else None
            if setup is not None:
                setup(pn)
            needs_acquire = states.transition(pn, target, ctx)
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
            continue
        items.append((pn, before if needs_acquire and not dry_run else None))
    _commit(batch, items, dry_run=dry_run)


def move(numbers: Numbers, assign_to: str, *, auth_by: str | None = SYSTEM,
         dry_run: bool = False, public_fields: dict[str, Any] | None = None,
         mdn_run: bool = False) -> Any:
    """Put numbers in service for `assign_to`. A number found by a search (`discovery`, from
    the search cache) is bought from its carrier — atomically, see the module doc."""
    settings = _Settings.load()
    batch = _Batch(numbers, settings)
    ctx = Context()
    problem = _check_assign_to(assign_to, ctx.auth)
    if problem is not None:
        batch.fail_all(problem)
        return batch.finish(dry_run=dry_run)
    found = repository.fetch_many(batch.todo)
    loaded: list[PhoneNumber] = []
    discovered: list[PhoneNumber] = []
    search_cache = cache.get_cache()
    for num in batch.todo:
        pn = found.get(num)
        if pn is None:
            result = search_cache.discovered(num)
            if result is None or result.state != "discovery":
                batch.fail(num, errors.NotFound(num))
                continue
            pn = _new_number(num, state="discovery", module_name=result.carrier,
                             assign_to=assign_to, auth_by=auth_by,
                             carrier_data=result.carrier_data)
            pn.set_locality(result.locality)
            discovered.append(pn)
            continue
        pn.auth_by, pn.assign_to = auth_by, assign_to
        if not states.may_read(pn, ctx.auth):
            batch.fail(num, errors.Forbidden())
        elif repository.is_claimed(pn):
            batch.fail(num, errors.NumberBusy(num))
        else:
            loaded.append(pn)

    def setup(pn: PhoneNumber) -> None:
        pn.dry_run, pn.mdn_run = dry_run, mdn_run
        if public_fields is not None:
            pn.reset_doc(public_fields)

    _move_like(batch, ctx, loaded, discovered, "in_service", dry_run=dry_run, setup=setup)
    return batch.finish(dry_run=dry_run)


def reserve(numbers: Numbers, *, assign_to: str | None, auth_by: str | None = SYSTEM,
            mdn_run: bool = False) -> Any:
    """Reserve numbers for `assign_to` (recorded in each number's reserve history)."""
    batch = _Batch(numbers, _Settings.load())
    ctx = Context()
    problem = _check_assign_to(assign_to, ctx.auth)
    if problem is not None:
        batch.fail_all(problem)
        return batch.finish()
    loaded = _load(batch, ctx, auth_by=auth_by, assign_to=assign_to)

    def setup(pn: PhoneNumber) -> None:
        pn.mdn_run = mdn_run

    _move_like(batch, ctx, loaded, [], "reserved", setup=setup)
    return batch.finish()


def assign_to_app(numbers: Numbers, app: str | None, *, auth_by: str | None = SYSTEM) -> Any:
    """Record which application uses the numbers (`used_by`)."""
    batch = _Batch(numbers, _Settings.load())
    ctx = Context()
    items: list[tuple[PhoneNumber, PhoneNumber | None]] = []
    for pn in _load(batch, ctx, auth_by=auth_by):
        try:
            states.authorize(pn, ctx.auth)
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
            continue
        pn.set_used_by(app or None)
        items.append((pn, None))
    _commit(batch, items)
    return batch.finish()


def update(numbers: Numbers, *, auth_by: str | None = SYSTEM,
           public_fields: dict[str, Any] | None = None, ported_in: bool | None = None,
           module_name: str | None = None, used_by: str | None = None,
           mdn_run: bool = False) -> Any:
    """Change numbers' public fields (replaced as a whole), `ported_in`, carrier or
    `used_by` (`""` clears it). Unchanged numbers are not written."""
    batch = _Batch(numbers, _Settings.load())
    ctx = Context()
    items: list[tuple[PhoneNumber, PhoneNumber | None]] = []
    for pn in _load(batch, ctx, auth_by=auth_by):
        try:
            states.authorize(pn, ctx.auth)
            pn.mdn_run = mdn_run
            if public_fields is not None:
                pn.reset_doc(public_fields)
            if ported_in is not None:
                pn.set_ported_in(ported_in)
            if module_name is not None:
                pn.set_module_name(module_name)
            if used_by is not None:
                pn.set_used_by(used_by or None)
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
            continue
        items.append((pn, None))
    _commit(batch, items)
    return batch.finish()


def release(numbers: Numbers, *, auth_by: str | None = SYSTEM, mdn_run: bool = False) -> Any:
    """Give numbers back (Kazoo §7.5): to the previous reserver if the history has one, else
    disconnect them at their carrier, then delete (local and MDN numbers,
    `should_permanently_delete`), age (`should_age`) or leave them in `released_state`."""
    settings = _Settings.load()
    batch = _Batch(numbers, settings)
    ctx = Context()
    plain: list[tuple[PhoneNumber, PhoneNumber | None]] = []
    remote: list[tuple[PhoneNumber, PhoneNumber]] = []
    for pn in _load(batch, ctx, auth_by=auth_by):
        try:
            if pn.state not in RELEASABLE and pn.module_name != "knm_local":
                raise errors.InvalidStateTransition(pn.state, settings.released_state)
            states.authorize(pn, ctx.auth)
            before = pn.copy() if pn.module_name not in STORE_CARRIERS else pn
            pn.mdn_run = mdn_run
            pn.reset_features()
            pn.reset_doc({})
            pn.unwind_reserve_history(settings.released_state)
            if pn.assigned_to is not None:  # handed back to a previous reserver
                plain.append((pn, None))
            elif pn.module_name in STORE_CARRIERS:
                _after_disconnect(states.disconnect(pn), settings, plain)
            else:
                remote.append((pn, before))
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
    _commit(batch, plain)

    def let_go(pn: PhoneNumber, before: PhoneNumber) -> PhoneNumber:
        return _disconnect_claimed(pn, before, settings)

    for num, result in _run_all(remote, let_go, settings.bulk_concurrency).items():
        if isinstance(result, errors.KnmError):
            batch.fail(num, result)
        else:
            batch.succeeded.append(result)
    return batch.finish()


def _finish_release(pn: PhoneNumber, settings: _Settings) -> PhoneNumber:
    if settings.should_permanently_delete or pn.module_name in LOCAL_MODULES:
        pn.set_state("deleted")
    elif settings.should_age and pn.state == "available":
        pn.set_state("aging")
    return pn


def _after_disconnect(pn: PhoneNumber, settings: _Settings,
                      plain: list[tuple[PhoneNumber, PhoneNumber | None]]) -> None:
    plain.append((_finish_release(pn, settings), None))


def _disconnect_claimed(pn: PhoneNumber, before: PhoneNumber, settings: _Settings
                        ) -> PhoneNumber:
    """Disconnect at a foreign carrier under a claim, so a concurrent change of the number
    cannot interleave with the carrier call; a refused disconnect changes nothing."""
    _mdn_guard(pn)
    claim_row = before.copy()
    repository.claim(claim_row)
    pn.version, pn.rev = claim_row.version, claim_row.rev
    try:
        released = states.disconnect(pn)
    except Exception:
        repository.drop_claim(pn.number, claim_row.version, restore=before)
        raise
    released.version, released.rev = claim_row.version, claim_row.rev
    released = _finish_release(released, settings)
    failed = repository.save_many([released])
    if failed:
        raise failed[released.number]
    return released


def delete(numbers: Numbers, *, auth_by: str | None = SYSTEM, mdn_run: bool = False) -> Any:
    """Delete numbers for good (system administrators only); no carrier is called."""
    batch = _Batch(numbers, _Settings.load())
    ctx = Context()
    if not ctx.auth.is_admin(auth_by):
        batch.fail_all(errors.Forbidden())
        return batch.finish()
    items: list[tuple[PhoneNumber, PhoneNumber | None]] = []
    for pn in _load(batch, ctx, auth_by=auth_by):
        pn.mdn_run = mdn_run
        pn.set_state("deleted")
        items.append((pn, None))
    _commit(batch, items)
    return batch.finish()


def list_account(account_id: str) -> list[PhoneNumber]:
    """The numbers assigned to an account, by number."""
    return repository.list_account(account_id)


def import_kazoo(docs: Iterable[dict[str, Any]]) -> BulkResult:
    """Load Kazoo number documents as they are stored (state, assignment, history, `_rev`),
    migrating legacy keys and carrier names as Kazoo does on load. A document that cannot be
    read, or whose number is already here, fails alone."""
    settings = _Settings.load()
    result = BulkResult()
    pns: list[PhoneNumber] = []
    for index, doc in enumerate(docs):
        key = f"#{index}"
        try:
            if not isinstance(doc, dict):
                raise errors.Invalid("doc", "a number document must be a JSON object")
            raw_id = doc.get("_id")
            if isinstance(raw_id, str) and raw_id:
                key = normalize(raw_id)
            if doc.get("pvt_module_name") in (None, "undefined"):
                doc = {**doc, "pvt_module_name": settings.available_module_name}
            pn = PhoneNumber.from_json(doc)
            if pn.state is None:
                raise errors.Invalid("pvt_state", f"document {raw_id} has no valid state")
        except errors.KnmError as exc:
            result.failed[key] = exc
            continue
        pn.version = 0
        pn.rev = doc.get("_rev") if isinstance(doc.get("_rev"), str) else None
        pns.append(pn)
    with store.write() as conn:
        failed = repository.insert_many(pns, conn)
    result.failed.update(failed)
    for pn in pns:
        if pn.number not in failed:
            pn.is_dirty = False
            result.succeeded.append(pn)
    return result
