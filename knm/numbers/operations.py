"""Number operations (Kazoo's `knm_numbers` / `knm_ops`): get, create, move, reserve,
assign_to_app, release, delete, update, plus `import_kazoo`, `list_account`, and the
settlement of orders (`unsettled`, `settle`).

Each takes one number (a `str`: it returns a `PhoneNumber` or raises `KnmError`) or a list (it
returns a `BulkResult`: one bad number never fails the rest). Configuration and account
lookups are read once per operation, and records are read and written in bulk, so an
operation over 10,000 numbers costs a handful of queries. Whatever reaches a carrier goes
through the purchase protocol (`knm.numbers.purchase`): nothing bought is ever lost, nothing
is bought twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

from knm import cache, carriers, config, errors, store
from knm.accounts import SYSTEM
from knm.numbers import features, providers, purchase, repository, states
from knm.numbers.batch import Batch, BulkResult, Numbers, Settings, run_all
from knm.numbers.policy import (
    MDN,
    AuthCache,
    authorize,
    check_assign_to,
    ensure_can_create,
    may_read,
    mdn_guard,
)
from knm.numbers.states import Context
from knm.phone import normalize
from knm.record import LOCAL_MODULES, PhoneNumber, now_gregorian, public_fields

log = logging.getLogger("knm.numbers")

#: existing numbers `create` may take over
CREATABLE_OVER = ("aging", "available", "port_in")
RELEASABLE = ("released", "reserved", "port_in", "in_service")
#: Kazoo's release rule names the carrier: `knm_local` numbers are released from any state
LOCAL = "knm_local"

#: a changed record, and (when its carrier must acquire it) the record as loaded before
Item = tuple[PhoneNumber, PhoneNumber | None]


# -- loading -----------------------------------------------------------------------------------


def _load(batch: Batch, ctx: Context, *, auth_by: str | None, assign_to: str | None = None,
          mutating: bool = True) -> list[PhoneNumber]:
    """Fetch the batch's numbers; missing ones fail `not_found`, unreadable ones `forbidden`,
    and (when about to change them) rows another request is working on fail as busy, and
    unsettled ones are settled first."""
    found = repository.fetch_many(batch.todo)
    out: list[PhoneNumber] = []
    for num in batch.todo:
        pn = found.get(num)
        if pn is None:
            batch.fail(num, errors.NotFound(num))
            continue
        pn.auth_by = auth_by
        pn.assign_to = assign_to
        if not may_read(pn, ctx.auth):
            batch.fail(num, errors.Forbidden())
            continue
        if mutating and _needs_settling(pn):
            try:
                pn = _settled_first(pn, auth_by=auth_by, assign_to=assign_to)
            except errors.KnmError as exc:
                batch.fail(num, exc)
                continue
            if pn is None:
                batch.fail(num, errors.NotFound(num))
                continue
        out.append(pn)
    return out


def _needs_settling(pn: PhoneNumber) -> bool:
    return pn.pending_operation is not None or repository.is_claimed(pn)


def _settled_first(pn: PhoneNumber, *, auth_by: str | None, assign_to: str | None
                   ) -> PhoneNumber | None:
    """SPEC §5.1: an operation on a number whose order is unsettled settles it first; it never
    places a second order while the first may exist. Raises while the carrier is still at
    work (or cannot tell); None when the number is no longer held."""
    settled = purchase.settle_one(pn)
    if settled.outcome in ("pending", "unknown"):
        raise _still_unsettled(pn, settled)
    if settled.record is None:
        return None
    record = settled.record
    record.auth_by, record.assign_to = auth_by, assign_to
    return record


def _still_unsettled(pn: PhoneNumber, settled: purchase.Settled) -> errors.KnmError:
    what = "purchase" if (settled.operation or purchase.ACQUIRE) == purchase.ACQUIRE \
        else "release"
    if settled.error is not None and not isinstance(settled.error,
                                                    errors.NotImplementedByCarrier):
        error: errors.KnmError = settled.error
    else:
        error = errors.CarrierTimeout(
            pn.module_name or "unknown",
            f"the {what} of {pn.number} is not settled at the carrier yet",
            number=pn.number, message=f"{what} still pending at the carrier; it will be "
            "settled (`knm orders settle`)")
    error.kept_unsettled = True
    return error


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


# -- saving ------------------------------------------------------------------------------------


def _must_write(pn: PhoneNumber) -> bool:
    """A deleted record that exists must be removed; any other new or changed one written."""
    if pn.state == "deleted":
        return pn.version > 0
    return pn.is_dirty or pn.version == 0


def _commit(batch: Batch, items: list[Item], *, dry_run: bool = False) -> None:
    """Persist the batch. Records whose carrier must buy them go through the purchase
    protocol; the others are written in one transaction."""
    plain: list[PhoneNumber] = []
    buys: list[tuple[PhoneNumber, PhoneNumber]] = []
    for pn, before in items:
        if pn.state != "deleted" and (pn.is_dirty or pn.version == 0):
            try:
                mdn_guard(pn)
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
    for num, exc in repository.save_many([pn for pn in plain if _must_write(pn)]).items():
        batch.fail(num, exc)
    done: dict[str, PhoneNumber] = {pn.number: pn for pn in plain}
    bought = run_all(buys, lambda item: purchase.buy(*item), lambda item: item[0].number,
                     batch.settings.bulk_concurrency)
    for num, result in bought.items():
        if isinstance(result, errors.KnmError):
            batch.fail(num, result)
        else:
            done[num] = result
    batch.succeeded.extend(done[pn.number] for pn, _ in items
                           if pn.number in done and pn.number not in batch.failed)


def _transition_all(batch: Batch, ctx: Context, records: list[PhoneNumber], target: str, *,
                    dry_run: bool = False) -> None:
    """Move every record to `target`; those the carrier must acquire are bought."""
    items: list[Item] = []
    for pn in records:
        try:
            # only these states can need the carrier; keep the record as loaded for the claim
            before = pn.copy() if pn.state in ("discovery", "reserved") else None
            needs_acquire = states.transition(pn, target, ctx)
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
            continue
        items.append((pn, before if needs_acquire and not dry_run else None))
    _commit(batch, items, dry_run=dry_run)


# -- operations --------------------------------------------------------------------------------


@overload
def get(numbers: str, *, auth_by: str | None = SYSTEM) -> PhoneNumber: ...
@overload
def get(numbers: Iterable[str], *, auth_by: str | None = SYSTEM) -> BulkResult: ...
def get(numbers: Numbers, *, auth_by: str | None = SYSTEM) -> PhoneNumber | BulkResult:
    """Load numbers. Available numbers are public; others need `auth_by` to be authorized."""
    batch = Batch(numbers, Settings.load())
    batch.succeeded = _load(batch, Context(), auth_by=auth_by, mutating=False)
    return batch.finish()


def create(numbers: Numbers, *, assign_to: str | None, auth_by: str | None = SYSTEM,
           state: str | None = None, module_name: str | None = None, ported_in: bool = False,
           dry_run: bool = False, public_fields: dict[str, Any] | None = None,
           mdn_run: bool = False) -> Any:
    """Add numbers to the system (Kazoo's rules: who may create in which state, existing
    numbers only over `available`/`aging`/`port_in`, never a number inside a port request).
    Creating never buys at a carrier. Public fields run the feature providers as an update
    does (SPEC §13): an `e911` or `cnam` is provisioned at the carrier serving the number
    (a creation whose provisioning is refused creates nothing)."""
    settings = Settings.load()
    batch = Batch(numbers, settings)
    ctx = Context()
    try:
        target = ensure_can_create(assign_to=assign_to, auth_by=auth_by, state=state,
                                   ported_in=ported_in, module_name=module_name,
                                   auth=ctx.auth)
    except errors.KnmError as exc:
        batch.fail_all(exc)
        return batch.finish(dry_run=dry_run)
    if ported_in and module_name is None:
        module_name = settings.port_in_module_name
    found = repository.fetch_many(batch.todo)
    in_port = set() if ported_in else repository.porting(n for n in batch.todo if n not in found)
    rules = features.RulesCache(is_admin=ctx.auth.is_admin(auth_by))
    items: list[Item] = []
    provisioning: list[tuple[PhoneNumber, PhoneNumber | None, providers.Plan]] = []
    for num in batch.todo:
        pn = found.get(num)
        before: PhoneNumber | None = None
        try:
            if pn is not None:
                if pn.state not in CREATABLE_OVER or _needs_settling(pn):
                    raise errors.NumberExists(num)
                before = pn.copy()
                pn.assign_to, pn.auth_by = assign_to, auth_by
                if module_name is not None:
                    pn.set_module_name(module_name)
                if ported_in:
                    pn.set_ported_in(True)
            else:
                if num in in_port:
                    raise errors.NumberIsPorting(num)
                if target == "port_in":
                    module = LOCAL
                elif ported_in:
                    module = settings.port_in_module_name
                else:
                    module = module_name or settings.available_module_name
                pn = _new_number(num, state=target, module_name=module, assign_to=assign_to,
                                 auth_by=auth_by, ported_in=ported_in)
            pn.dry_run, pn.mdn_run = dry_run, mdn_run
            states.transition(pn, target, ctx)  # a creation never acquires (Kazoo §7.2)
            if public_fields is not None:
                plan = providers.prepare(pn, public_fields, rules.for_account(pn.assigned_to))
                providers.apply_local(pn, plan)
                if plan.needs_carrier and not dry_run:
                    mdn_guard(pn)
                    provisioning.append((pn, before, plan))
                    continue
        except errors.KnmError as exc:
            batch.fail(num, exc)
            continue
        items.append((pn, None))
    _commit(batch, items, dry_run=dry_run)
    _provision_all(batch, provisioning)
    return batch.finish(dry_run=dry_run)


def _provision_all(batch: Batch,
                   provisioning: list[tuple[PhoneNumber, PhoneNumber | None, providers.Plan]]
                   ) -> None:
    """The carrier steps of the feature providers (SPEC §13), `bulk_concurrency` numbers at
    a time, each number written with what its carriers did (`providers.save`)."""
    done = run_all(provisioning, lambda item: providers.save(*item),
                   lambda item: item[0].number, batch.settings.bulk_concurrency)
    for num, result in done.items():
        if isinstance(result, errors.KnmError):
            batch.fail(num, result)
        else:
            batch.succeeded.append(result)


def move(numbers: Numbers, assign_to: str, *, auth_by: str | None = SYSTEM,
         dry_run: bool = False, public_fields: dict[str, Any] | None = None,
         mdn_run: bool = False) -> Any:
    """Put numbers in service for `assign_to` — Kazoo's name for *buying*: the CLI says `buy`,
    the API `activate`. A number found by a search (`discovery`, from the search cache) is
    bought from its carrier through the purchase protocol; a number whose earlier purchase is
    unsettled is settled first, never ordered twice."""
    settings = Settings.load()
    batch = Batch(numbers, settings)
    ctx = Context()
    problem = check_assign_to(assign_to, ctx.auth)
    if problem is not None:
        batch.fail_all(problem)
        return batch.finish(dry_run=dry_run)
    found = repository.fetch_many(batch.todo)
    records: list[PhoneNumber] = []
    search_cache = cache.get_cache()
    for num in batch.todo:
        pn = found.get(num)
        if pn is not None and _needs_settling(pn) and not dry_run:
            try:
                pn = _settled_first(pn, auth_by=auth_by, assign_to=assign_to)
            except errors.KnmError as exc:
                batch.fail(num, exc)
                continue
        if pn is None:
            result = search_cache.discovered(num)
            if result is None or result.state != "discovery":
                batch.fail(num, errors.NotDiscovered(num))
                continue
            pn = _new_number(num, state="discovery", module_name=result.carrier,
                             assign_to=assign_to, auth_by=auth_by,
                             carrier_data=result.carrier_data)
            pn.set_locality(result.locality)
        else:
            pn.auth_by, pn.assign_to = auth_by, assign_to
            if not may_read(pn, ctx.auth):
                batch.fail(num, errors.Forbidden())
                continue
            if _needs_settling(pn):  # a dry run does not settle: report it busy
                batch.fail(num, errors.NumberBusy(num))
                continue
        pn.dry_run, pn.mdn_run = dry_run, mdn_run
        if public_fields is not None:
            try:
                providers.refuse_unheld(pn, public_fields)
            except errors.KnmError as exc:
                batch.fail(num, exc)
                continue
            pn.reset_doc(public_fields)
        records.append(pn)
    _transition_all(batch, ctx, records, "in_service", dry_run=dry_run)
    return batch.finish(dry_run=dry_run)


def reserve(numbers: Numbers, *, assign_to: str | None, auth_by: str | None = SYSTEM,
            mdn_run: bool = False, public_fields: dict[str, Any] | None = None) -> Any:
    """Reserve numbers for `assign_to` (recorded in each number's reserve history);
    `public_fields`, when given, replace the numbers' public fields (Crossbar's
    `PUT …/{N}/reserve` body)."""
    batch = Batch(numbers, Settings.load())
    ctx = Context()
    problem = check_assign_to(assign_to, ctx.auth)
    if problem is not None:
        batch.fail_all(problem)
        return batch.finish()
    loaded: list[PhoneNumber] = []
    for pn in _load(batch, ctx, auth_by=auth_by, assign_to=assign_to):
        pn.mdn_run = mdn_run
        if public_fields is not None:
            try:
                providers.refuse_unheld(pn, public_fields)
            except errors.KnmError as exc:
                batch.fail(pn.number, exc)
                continue
            pn.reset_doc(public_fields)
        loaded.append(pn)
    _transition_all(batch, ctx, loaded, "reserved")
    return batch.finish()


def _change(numbers: Numbers, auth_by: str | None, mdn_run: bool, edit: Any) -> Any:
    """Load, authorize and `edit(pn)` each number, then write the changed ones."""
    batch = Batch(numbers, Settings.load())
    ctx = Context()
    items: list[Item] = []
    for pn in _load(batch, ctx, auth_by=auth_by):
        try:
            authorize(pn, ctx.auth)
            pn.mdn_run = mdn_run
            edit(pn)
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
            continue
        items.append((pn, None))
    _commit(batch, items)
    return batch.finish()


def assign_to_app(numbers: Numbers, app: str | None, *, auth_by: str | None = SYSTEM) -> Any:
    """Record which application uses the numbers (`used_by`)."""
    return _change(numbers, auth_by, False, lambda pn: pn.set_used_by(app or None))


def update(numbers: Numbers, *, auth_by: str | None = SYSTEM,
           public_fields: dict[str, Any] | None = None, ported_in: bool | None = None,
           module_name: str | None = None, used_by: str | None = None,
           mdn_run: bool = False, merge_fields: dict[str, Any] | None = None) -> Any:
    """Change numbers' public fields (`public_fields` replaces them as a whole;
    `merge_fields` is merged into each number's own, recursively, a `None` value removing
    its key: Kazoo's `update_doc`), `ported_in`, carrier or `used_by` (`""` clears it).
    Unchanged numbers are not written.

    New public fields run the feature providers (SPEC §13, `knm.numbers.providers`): a
    feature the number may not have is `403 forbidden` before any carrier call; a new
    `e911` is validated and registered at the carrier that serves it (`cnam` likewise), the
    local features are copied into `features`; a refused provisioning keeps the number as
    it was."""
    settings = Settings.load()
    batch = Batch(numbers, settings)
    ctx = Context()
    rules = features.RulesCache(is_admin=ctx.auth.is_admin(auth_by))
    plain: list[Item] = []
    provisioning: list[tuple[PhoneNumber, PhoneNumber | None, providers.Plan]] = []
    for pn in _load(batch, ctx, auth_by=auth_by):
        try:
            authorize(pn, ctx.auth)
            before = pn.copy()
            pn.mdn_run = mdn_run
            # the carrier first: it decides who serves the features (Kazoo runs
            # `carrier_name` before the other providers)
            if module_name is not None:
                pn.set_module_name(module_name)
            if ported_in is not None:
                pn.set_ported_in(ported_in)
            if used_by is not None:
                pn.set_used_by(used_by or None)
            new_public = public_fields
            if merge_fields is not None:
                new_public = merged(public_fields if public_fields is not None else pn.doc,
                                    merge_fields)
            if new_public is not None:
                plan = providers.prepare(pn, new_public, rules.for_account(pn.assigned_to))
                providers.apply_local(pn, plan)
                if plan.needs_carrier:
                    mdn_guard(pn)
                    provisioning.append((pn, before, plan))
                    continue
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
            continue
        plain.append((pn, None))
    _commit(batch, plain)
    _provision_all(batch, provisioning)  # type: ignore[arg-type]
    return batch.finish()


def merged(doc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` merged into `doc`: objects recursively, `None` removes a key."""
    out = dict(doc)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def release(numbers: Numbers, *, auth_by: str | None = SYSTEM, mdn_run: bool = False) -> Any:
    """Give numbers back (Kazoo §7.5): to the previous reserver if the history has one;
    numbers of a foreign carrier are disconnected there (`disconnect_on_release`, SPEC §5.1)
    and then no longer held; the others are deleted (local and MDN numbers,
    `should_permanently_delete`), aged (`should_age`) or left in `released_state`.

    First, what a carrier holds of a number's features (its E911 registration, its caller
    name) is removed there (SPEC §13, `providers.remove_held`): a removal that fails or is
    still under way fails the number's release, which is kept as it was — unless the
    carrier holding the feature is the number's own and disconnects it now, dropping the
    feature with the number."""
    settings = Settings.load()
    batch = Batch(numbers, settings)
    ctx = Context()
    plain: list[Item] = []
    remote: list[tuple[PhoneNumber, PhoneNumber]] = []
    releasable: list[PhoneNumber] = []
    for pn in _load(batch, ctx, auth_by=auth_by):
        try:  # every refusal that needs no carrier, before any feature is removed
            if pn.state not in RELEASABLE and pn.module_name != LOCAL:
                raise errors.InvalidStateTransition(pn.state, settings.released_state)
            authorize(pn, ctx.auth)
            pn.mdn_run = mdn_run
            if _goes_remote(pn, settings):
                mdn_guard(pn)
                if carriers.carrier_class(pn.module_name) is None:
                    raise errors.CarrierUnavailable(
                        pn.module_name or "unknown", "carrier is not installed: the number "
                        "cannot be released there (delete it, or set disconnect_on_release "
                        "false to keep Kazoo's release without the carrier)", number=pn.number,
                        unsettled=False)
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
            continue
        releasable.append(pn)
    for pn in _features_removed(batch, releasable, "released",
                                lambda pn: pn.module_name if _goes_remote(pn, settings)
                                else None):
        try:
            foreign = not carriers.is_store_backed(pn.module_name)
            before = pn.copy() if foreign else pn
            remotely = _goes_remote(pn, settings)
            pn.reset_features()
            pn.reset_doc({})
            pn.unwind_reserve_history(settings.released_state)
            if remotely:
                remote.append((pn, before))
            elif pn.assigned_to is not None or foreign:
                # handed back to a previous reserver; or Kazoo's way for a foreign number:
                # kept, still owned at the carrier, in released_state
                plain.append((pn if pn.assigned_to is not None
                              else _finish_release(pn, settings), None))
            else:
                plain.append((_finish_release(carriers.disconnect(pn), settings), None))
        except errors.KnmError as exc:
            batch.fail(pn.number, exc)
    _commit(batch, plain)
    released = run_all(remote, lambda item: purchase.disconnect(*item),
                       lambda item: item[0].number, settings.bulk_concurrency)
    for num, result in released.items():
        if isinstance(result, errors.KnmError):
            batch.fail(num, result)
        else:
            batch.succeeded.append(result)
    return batch.finish()


def _goes_remote(pn: PhoneNumber, settings: Settings) -> bool:
    """Whether releasing `pn` now disconnects it at its (foreign) carrier: nobody earlier in
    its reserve history takes it back, and `disconnect_on_release` is on."""
    if carriers.is_store_backed(pn.module_name) or not settings.disconnect_on_release:
        return False
    probe = pn.copy()
    probe.unwind_reserve_history(settings.released_state)
    return probe.assigned_to is None


def _features_removed(batch: Batch, pns: list[PhoneNumber], doing: str,
                      dropped_by: Callable[[PhoneNumber], str | None]) -> list[PhoneNumber]:
    """`pns` once their carriers no longer hold their features (`providers.remove_held`,
    `bulk_concurrency` numbers at a time); a number whose removal failed fails the batch."""
    interrupted = providers.interrupted([pn.number for pn in pns])
    todo = [pn for pn in pns if providers.held(pn) or pn.number in interrupted]
    if not todo:
        return pns
    done = run_all(todo, lambda pn: providers.remove_held(pn, dropped_by=dropped_by(pn),
                                                          doing=doing),
                   lambda pn: pn.number, batch.settings.bulk_concurrency)
    out: list[PhoneNumber] = []
    for pn in pns:
        result = done.get(pn.number, pn)
        if isinstance(result, errors.KnmError):
            batch.fail(pn.number, result)
            continue
        result.auth_by, result.assign_to, result.mdn_run = pn.auth_by, pn.assign_to, pn.mdn_run
        out.append(result)
    return out


def _finish_release(pn: PhoneNumber, settings: Settings) -> PhoneNumber:
    if settings.should_permanently_delete or pn.module_name in LOCAL_MODULES:
        pn.set_state("deleted")
    elif settings.should_age and pn.state == "available":
        pn.set_state("aging")
    return pn


def delete(numbers: Numbers, *, auth_by: str | None = SYSTEM, mdn_run: bool = False) -> Any:
    """Delete numbers for good (system administrators only). The number is not disconnected
    at its carrier, but what a carrier holds of its features (E911, caller name) is removed
    there first, as on release; a removal that fails or is still under way fails the
    number's deletion (nothing deleted)."""
    batch = Batch(numbers, Settings.load())
    ctx = Context()
    if not ctx.auth.is_admin(auth_by):
        batch.fail_all(errors.Forbidden())
        return batch.finish()
    items: list[Item] = []
    loaded = _load(batch, ctx, auth_by=auth_by, mutating=False)
    for pn in _features_removed(batch, loaded, "deleted", lambda pn: None):
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
    settings = Settings.load()
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
            pn = PhoneNumber.from_json(doc, default_module=settings.available_module_name)
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


# -- orders (SPEC §5.1) ------------------------------------------------------------------------


def unsettled(*, account_id: str | None = None) -> list[PhoneNumber]:
    """Numbers whose purchase or release at the carrier is under way or unsettled — of
    `account_id` and its descendants when given — by number. Each one's `pending_operation`
    says which; its carrier data holds the reference, order id and status."""
    if account_id is None:
        return purchase.unsettled_rows()
    found = purchase.unsettled_rows()
    auth = AuthCache()
    return [pn for pn in found
            if auth.in_hierarchy(account_id, _buyer(pn))]


def _buyer(pn: PhoneNumber) -> str | None:
    return (pn.carrier_data or {}).get(purchase.ORDER_ACCOUNT) or pn.assigned_to


def settle(numbers: Numbers | None = None, *, auth_by: str | None = SYSTEM) -> Any:
    """Ask the carriers what became of unsettled purchases and releases, and finish them
    (SPEC §5.1): all unsettled numbers when `numbers` is None (the usual list result), else
    those given. A number the carrier is still working on stays unsettled and fails with
    `504 carrier_timeout`; one whose carrier cannot tell fails with `501 not_implemented`.
    Numbers that are settled already succeed as they are.

    Number features a carrier still provisions (SPEC §13: an E911 registration, a caller-name
    listing) are settled the same way: finished when the carrier finished (`PROVISIONED` or
    `ERROR`), else the number fails with `409 feature_pending`."""
    settings = Settings.load()
    if numbers is None:
        numbers = list(dict.fromkeys(purchase.unsettled_numbers()
                                     + [row.number for row in providers.pending()]))
    batch = Batch(numbers, settings)
    ctx = Context()
    # not `_load`: settling must not settle first, nor refuse busy rows, and a number the
    # caller may not see is `not_found` here (settling reveals nothing), not `forbidden`
    loaded = repository.fetch_many(batch.todo)
    todo: list[PhoneNumber] = []
    pn_by_number: dict[str, PhoneNumber] = {}
    for num in batch.todo:
        pn = loaded.get(num)
        if pn is None:
            batch.fail(num, errors.NotFound(num))
            continue
        pn.auth_by = auth_by
        if auth_by != SYSTEM and not (ctx.auth.is_admin(auth_by)
                                      or ctx.auth.in_hierarchy(auth_by, _buyer(pn))):
            batch.fail(num, errors.NotFound(num))
            continue
        todo.append(pn)
        pn_by_number[num] = pn
    waiting = _settle_features(todo)
    if waiting:  # settling features wrote those records: settle orders on what is stored
        fresh = repository.fetch_many(waiting)
        todo = [fresh.get(pn.number, pn) for pn in todo]
        pn_by_number.update({num: pn for num, pn in fresh.items()})
    outcomes = purchase.settle_many(todo, config.system_int("settle_concurrency"))
    for num, outcome in outcomes.items():
        if isinstance(outcome, errors.KnmError):
            batch.fail(num, outcome)
            continue
        if num in waiting and waiting[num] is not None:
            batch.fail(num, waiting[num])
            continue
        try:
            batch.succeeded.append(_settled_record(pn_by_number[num], outcome))
        except errors.KnmError as exc:
            batch.fail(num, exc)
    return batch.finish()


def _settle_features(pns: list[PhoneNumber]) -> dict[str, errors.KnmError | None]:
    """Settle the feature provisioning under way of `pns`: for each number that had some,
    None (finished) or why it is not (still pending, or the carrier's error)."""
    out: dict[str, errors.KnmError | None] = {}
    for settled in providers.settle([pn.number for pn in pns]):
        if settled.outcome == "pending":
            out[settled.number] = errors.FeaturePending(settled.number, settled.feature)
        elif settled.outcome in ("unknown", "busy"):
            out[settled.number] = settled.error
        else:
            out.setdefault(settled.number, None)
    return out


def _settled_record(pn: PhoneNumber, settled: purchase.Settled) -> PhoneNumber:
    """One number settled: its record afterwards (`deleted` when knm no longer holds it);
    still pending or unknown at the carrier is an error, the record left as it was."""
    if settled.outcome in ("pending", "unknown"):
        raise _still_unsettled(pn, settled)
    if settled.record is not None:
        return settled.record
    gone = pn.copy()
    gone.pending_operation = None
    gone.set_state("deleted")
    return gone


def apply_webhook(carrier: str, headers: Mapping[str, str], body: bytes
                  ) -> list[purchase.Settled]:
    """Settle what a carrier's webhook reports (SPEC §5.1). The carrier verifies the request
    (`errors.Unauthenticated` otherwise) and reads its events; each event finishes the
    unsettled purchase or release it names — by number, knm's reference or the carrier's
    order id. An event about a number knm is not waiting on, or one whose buyer is still at
    work on it (it learns the outcome itself), changes nothing."""
    events = carriers.parse_webhook(carrier, headers, body)
    if not events:
        return []
    waiting = purchase.unsettled_rows()
    out: list[purchase.Settled] = []
    for event in events:
        if event.operation in (providers.E911, providers.CNAM):  # a feature order (SPEC §13)
            feature = providers.apply_event(carrier, event)
            if feature is not None:
                out.append(purchase.Settled(feature.number, event.operation, feature.outcome,
                                            feature.record, feature.error))
            continue
        pn = _waiting_for(event, waiting, carriers.full_name(carrier))
        if pn is None or (pn.pending_operation or purchase.ACQUIRE) != event.operation:
            continue
        try:
            out.append(purchase.settle_with(pn, event.status))
        except errors.NumberBusy:
            log.info("webhook for %s while its buyer is at work: left to it", pn.number)
    return out


def _waiting_for(event: carriers.WebhookEvent, waiting: list[PhoneNumber], carrier: str
                 ) -> PhoneNumber | None:
    for pn in waiting:
        if pn.module_name != carrier:
            continue
        data = pn.carrier_data or {}
        if event.number and pn.number == normalize(event.number):
            return pn
        if event.order_reference and data.get(purchase.REFERENCE) == event.order_reference:
            return pn
        if event.order_id and event.order_id in (data.get(purchase.ORDER_ID),
                                                 data.get(purchase.DISCONNECT_ORDER_ID)):
            return pn
    return None


def pending_features(*, account_id: str | None = None) -> list[dict[str, Any]]:
    """Number features a carrier accepted and still provisions (SPEC §13) — of
    `account_id` and its descendants when given — as `knm orders` lists them (`operation`
    is the feature: `e911` or `cnam`)."""
    rows = providers.pending()
    found = repository.fetch_many([row.number for row in rows])
    auth = AuthCache()
    out = []
    for row in rows:
        pn = found.get(row.number)
        owner = pn.assigned_to if pn is not None else None
        if account_id is not None and not auth.in_hierarchy(account_id, owner):
            continue
        out.append(providers.summary(row, pn))
    return out


def order_summary(pn: PhoneNumber) -> dict[str, Any]:
    """One unsettled order as `knm orders` and the HTTP API show it."""
    data = pn.carrier_data or {}
    operation = pn.pending_operation or purchase.ACQUIRE
    purchase_ = operation == purchase.ACQUIRE
    status = data.get(purchase.ORDER_STATUS if purchase_ else purchase.DISCONNECT_STATUS)
    if purchase.claim_state(pn) == purchase.BUSY:
        status = "in_progress"
    return {
        "number": pn.number,
        "carrier": pn.module_name,
        "operation": operation,
        "status": status or purchase.UNKNOWN,
        "order_id": data.get(purchase.ORDER_ID if purchase_ else purchase.DISCONNECT_ORDER_ID),
        "order_reference": data.get(purchase.REFERENCE),
        "account_id": _buyer(pn),
        "state": pn.state,
        "since": pn.modified,
    }


__all__ = [
    "BulkResult", "MDN", "PhoneNumber", "apply_webhook", "assign_to_app", "create", "delete",
    "get", "import_kazoo", "list_account", "move", "order_summary", "pending_features",
    "release", "reserve", "settle", "unsettled", "update",
]
