"""Kazoo's feature providers (`knm_providers`), rebuilt on the carriers that offer them
(SPEC §13): saving a number's public `e911`, `cnam`, `prepend`, `failover`,
`force_outbound` runs them.

A save goes through three steps, so that nothing is stored as if provisioned when it was not:

1. **`prepare`** — no carrier call. Which feature keys the save adds or changes; each must be
   in the number's `features_available` (`403 forbidden` otherwise: Kazoo's
   `knm_errors:unauthorized`, before any carrier call). The new `e911` / `cnam` objects are
   read as Crossbar's schema takes them (`400 invalid` naming the field), compared with what
   the number has (the same place, spelled differently, is no change: Monster UI sends the
   whole number back when it edits its caller name), and the local features (`prepend`,
   `failover`, `force_outbound`) are copied into `features` as Kazoo's providers do — only
   while the number is in service, with no carrier call.
2. **`provision`** — the carrier that serves the feature (`features.serving`: the reseller's
   `e911_provider` / `cnam_provider`, else the number's own carrier) validates the address
   (rejected: `400` `data.address.invalid`; corrected: `400` `multiple_choice` with the
   carrier's suggestions in `data.multiple_choice.e911.details`), then registers it. Each
   carrier step that succeeded is an **effect**: what it changes on the record.
3. **`commit`** — the record and the bookkeeping of provisioning still under way
   (`knm_feature_orders`) in one transaction, version-checked. If the carrier refused a
   later step, only the effects of the steps it did are written — on the record as it was
   — and the refusal is raised: a failed provisioning keeps the previous state. If another
   writer changed the number meanwhile, the effects are written on its version and the rest
   of the save is refused (`409 conflict`): what a carrier did is never forgotten.

**Where things are kept.** The public `e911` is the address as the carrier normalised it,
with `status`: `PENDING` while the carrier works on it, `PROVISIONED`, or `ERROR` when it
failed after accepting it. `features.e911` (Kazoo's `pvt_features.e911`) holds only an
address the carrier confirmed — a `PENDING` or failed one never replaces it. `cnam` works
the same way (`features.outbound_cnam` / `features.inbound_cnam`, `cnam.status`). The carrier
that holds a registration is `carrier_data.e911_provider` / `cnam_provider`; its own ids
(addresses, orders) are in `carrier_data` too.

**Settling.** A `PENDING` provisioning has a row in `knm_feature_orders`; `settle` asks the
carrier (`emergency_status` / `cnam_status`) and finishes it — `PROVISIONED`, or `ERROR`
with the carrier's reason — as orders are settled (SPEC §5.1): by the background settler,
`knm orders settle`, or at once by the carrier's webhook (`apply_event`). A change of a
feature whose provisioning is pending settles it first, and is refused (`409
feature_pending`) while the carrier still works on it. A *removal* the carrier still works
on (Bandwidth's E911 and LIDB orders) is pending the same way, marked `e911_removing` /
`cnam_removing` in the carrier data: settled, the feature is gone — or, failed, it is shown
`ERROR` and still held.

**One save at a time.** The carrier steps of a save run under a *feature claim* (a lease row
in `knm_claims`, operation `feature`, renewed like the purchase protocol's), taken before any
carrier call and only if the number is still the version the save read: a second save of the
number's features while the first is at its carrier is `409 conflict` before it asks any
carrier — never two registrations with knm recording one of them.

**A save whose process dies** at its carrier is not lost: before a feature's first carrier
call the save writes an intent row in `knm_feature_orders` (`refs` `{"in_flight": true, …}`),
which its end replaces or deletes with the record. A row left by a dead process is listed by
`knm orders` and settled under the feature claim (never while its save lives) from what the
carrier holds for the number now (the status read given `features.INTERRUPTED`); a later save
of the feature, or a release, settles it first.

**Release and deletion** (`remove_held`): what a carrier holds for the number is removed
there first, as Kazoo's providers' `delete` did. When that fails (or the carrier is still
removing it), the release fails naming the feature and the number is kept as it was — unless
the carrier holding it is the number's own and the release disconnects the number there,
which drops the feature with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.exc import IntegrityError

from knm import accounts, carriers, errors, store
from knm.carriers.base import full_name, merge_carrier_data
from knm.carriers.features import (
    ADDRESS_FIELDS,
    ERROR,
    INTERRUPTED,
    OUTPUT_FIELDS,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    FeatureStatus,
    squeezed,
)
from knm.carriers.orders import WebhookEvent
from knm.numbers import features, purchase, repository
from knm.record import PhoneNumber, now_gregorian
from knm.store.schema import claims, feature_orders
from knm.store.schema import numbers as numbers_t
from knm.values import GREGORIAN_OFFSET

log = logging.getLogger("knm.numbers.providers")

E911, CNAM = "e911", "cnam"
#: public keys that run a provider when a save adds or changes them (Kazoo's
#: `FEATURES_ROOT_KEYS`; `carrier_name` is the API's, `local` is never written by users)
ROOT_KEYS = ("cnam", "e911", "failover", "force_outbound", "port", "prepend", "ringback",
             "sms", "mms")
#: Kazoo's own features: copied into `features`, no carrier call (in service only)
LOCAL_FEATURES = ("prepend", "failover", "force_outbound")
#: the states in which Kazoo's E911 and CNAM providers act
ACTIVE_STATES = ("reserved", "in_service", "port_in")
#: Kazoo's `E911_NAME_DEFAULT`
DEFAULT_CALLER_NAME = "Valued Customer"
#: Crossbar's schema: `cnam.display_name` is 1–15 characters
MAX_CNAM = 15
#: carrier-data keys naming the carrier that holds a registration
PROVIDER_KEY = {E911: "e911_provider", CNAM: "cnam_provider"}
#: carrier-data keys marking a removal the carrier still works on (settling finishes it)
REMOVING_KEY = {E911: "e911_removing", CNAM: "cnam_removing"}
#: the confirmed `features` entries of each feature
CONFIRMED_KEYS = {E911: (E911,), CNAM: ("outbound_cnam", "inbound_cnam")}
#: the `knm_claims` operation of a save at its feature carriers
FEATURE_CLAIM = "feature"
#: what each feature's status read is called on the carrier
STATUS_METHOD = {E911: "emergency_status", CNAM: "cnam_status"}
SET, REMOVE = "set", "remove"
#: the `refs` of a `knm_feature_orders` row written before a change's first carrier call
#: (`{"in_flight": true, "action": …, "wanted": …}`): a save whose process died leaves it
IN_FLIGHT = "in_flight"
#: numbers per query when looking for intent rows
INTENT_CHUNK = 500
CONFLICT_RETRIES = 3


# -- reading what a save asks ------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


def _boolean(value: Any) -> bool | None:
    """Kazoo's coercion: booleans, and the strings `"true"` / `"false"`; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _address_or_none(doc: Any) -> Address | None:
    """A stored `e911` as an address; None when it is not one (an odd imported document)."""
    try:
        return Address.from_e911(doc)
    except errors.Invalid:
        return None


def _user_keys(e911: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of an `e911` object that are neither the address nor a provider's output
    (`notification_contact_emails`, …): kept beside the address as the user gave them."""
    return {k: v for k, v in e911.items()
            if k not in ADDRESS_FIELDS and k not in OUTPUT_FIELDS and k != "caller_name"}


@dataclass
class E911Change:
    """A new emergency address to register (`set`), or the registration to remove."""

    action: str
    given: dict[str, Any] = field(default_factory=dict)  # as the user sent it: a 400's cause
    address: Address | None = None
    provider: str | None = None


@dataclass
class CnamChange:
    """Caller-name changes: the outbound listing and/or the inbound lookup."""

    given: dict[str, Any]
    display_name: str | None
    inbound: bool
    outbound_changed: bool
    inbound_changed: bool
    provider: str | None


@dataclass
class Plan:
    """What one save asks of the providers for one number, read before any carrier call.
    `public` is the public document to store (the `e911` / `cnam` of the number as they are
    until a carrier answers); `local` the local features' new values (None: removed)."""

    public: dict[str, Any]
    e911: E911Change | None = None
    cnam: CnamChange | None = None
    local: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_carrier(self) -> bool:
        return self.e911 is not None or self.cnam is not None


def _forbidden(key: str) -> errors.Forbidden:
    return errors.Forbidden(cause=key)


def prepare(pn: PhoneNumber, wanted: Mapping[str, Any], rules: features.Rules) -> Plan:
    """Read a save of `pn`'s public fields as `wanted` (step 1, no carrier call): the
    features it adds or changes must be available (`403`), its `e911` / `cnam` must read as
    Crossbar's schema takes them (`400`)."""
    public = dict(wanted)
    current = pn.doc or {}
    available = set(features.available(pn, rules))
    plan = Plan(public)
    e911 = _e911_change(pn, public.get(E911), current.get(E911))
    cnam = _cnam_change(pn, public.get(CNAM), current.get(CNAM))
    for key in ROOT_KEYS:
        if key in (E911, CNAM):
            adds = (e911 if key == E911 else cnam) is not None and not _removes(
                e911 if key == E911 else cnam)
        else:
            adds = not _empty(public.get(key)) and public.get(key) != current.get(key)
        if adds and key not in available:
            raise _forbidden(key)
    if e911 is not None or cnam is not None:
        if (e911 is not None and e911.action == SET or cnam is not None and not _removes(cnam)
                ) and pn.state not in ACTIVE_STATES:
            raise errors.Invalid(E911 if e911 is not None else CNAM,
                                 f"number {pn.number} is {pn.state}: emergency addresses and "
                                 "caller names are provisioned only on numbers in service, "
                                 "reserved or porting in")
    if e911 is not None:
        e911.provider = _provider(pn, E911, rules, e911.action)
        plan.e911 = e911
        public.pop(E911, None)
        if current.get(E911) is not None:
            public[E911] = current[E911]  # until the carrier answers
    elif not _empty(public.get(E911)):
        public[E911] = _kept_e911(current.get(E911), public[E911])
    if cnam is not None:
        cnam.provider = _provider(pn, CNAM, rules, SET if not _removes(cnam) else REMOVE)
        plan.cnam = cnam
        public.pop(CNAM, None)
        if current.get(CNAM) is not None:
            public[CNAM] = current[CNAM]
    elif not _empty(public.get(CNAM)) and isinstance(current.get(CNAM), dict):
        public[CNAM] = {**public[CNAM], **{k: v for k, v in current[CNAM].items()
                                            if k in ("status", "message")}}
    plan.local = _local_features(pn, public)
    return plan


def refuse_unheld(pn: PhoneNumber, wanted: Mapping[str, Any] | None) -> None:
    """A creation, purchase or reservation carries public fields too, but its number is not
    (yet) one knm holds in service: an `e911` or `cnam` it would provision, or a
    registration it would drop, is refused (`400`, nothing stored) — set them once the
    number is held (POST/PATCH …/phone_numbers/{N}, `knm numbers e911|cnam`). An unchanged
    one (a Kazoo document's) is kept as it is."""
    if wanted is None:
        return
    current = pn.doc or {}
    for feature, change in ((E911, _e911_change(pn, wanted.get(E911), current.get(E911))),
                            (CNAM, _cnam_change(pn, wanted.get(CNAM), current.get(CNAM)))):
        if change is None:
            continue
        if _removes(change) and not (pn.carrier_data or {}).get(PROVIDER_KEY[feature]):
            continue  # knm never registered it: dropping the field calls no carrier
        raise errors.Invalid(feature, f"{feature} is provisioned at the carrier of a number "
                             "knm holds: create or buy the number first, then set it (POST "
                             f"or PATCH …/phone_numbers/{{N}}, `knm numbers {feature}`); "
                             "nothing was stored")


def _removes(change: E911Change | CnamChange | None) -> bool:
    if isinstance(change, E911Change):
        return change.action == REMOVE
    if isinstance(change, CnamChange):
        return change.display_name is None and not change.inbound
    return False


def _provider(pn: PhoneNumber, capability: str, rules: features.Rules, action: str
              ) -> str | None:
    """Who serves the change: for a removal, the carrier that holds the registration (None:
    knm never registered it — an address imported from Kazoo — so nothing to call)."""
    if action == REMOVE:
        held = (pn.carrier_data or {}).get(PROVIDER_KEY[capability])
        return str(held) if held else None
    provider = features.serving(capability, pn.module_name, rules)
    if provider is None:  # listed as available only with a provider: refused all the same
        raise _forbidden(capability)
    return provider


def _e911_change(pn: PhoneNumber, wanted: Any, current: Any) -> E911Change | None:
    if _empty(wanted):
        held = not _empty(current) or E911 in (pn.features or {}) or _pending(pn, E911)
        return E911Change(REMOVE) if held else None
    address = Address.from_e911(wanted)
    stored = _address_or_none(current)
    if stored is not None and isinstance(current, Mapping):
        same_name = squeezed(address.caller_name) == squeezed(stored.caller_name) or \
            not address.caller_name
        retry = current.get("status") == ERROR and "status" not in wanted
        if address.same_place(stored) and same_name and not retry:
            return None
    return E911Change(SET, dict(wanted), address)


def _kept_e911(current: Any, wanted: Mapping[str, Any]) -> Any:
    """An unchanged address: the stored one (its status and the carrier's outputs are not
    the user's to overwrite), with the user's own keys (`notification_contact_emails`) as
    now given."""
    if not isinstance(current, Mapping):
        return dict(wanted)
    return {**{k: v for k, v in current.items() if k not in _user_keys(current)},
            **_user_keys(wanted)}


def _cnam_fields(doc: Any) -> tuple[str | None, bool]:
    if not isinstance(doc, Mapping):
        return None, False
    name = doc.get("display_name")
    return (name if isinstance(name, str) and name.strip() else None,
            _boolean(doc.get("inbound_lookup")) is True)


def _cnam_change(pn: PhoneNumber, wanted: Any, current: Any) -> CnamChange | None:
    if wanted is not None and not isinstance(wanted, Mapping):
        raise errors.Invalid("cnam", "cnam must be an object")
    name = (wanted or {}).get("display_name")
    if name not in (None, "") and not isinstance(name, str):
        raise errors.Invalid("cnam.display_name", "cnam.display_name must be a string")
    if isinstance(name, str) and len(name.strip()) > MAX_CNAM:
        raise errors.Invalid("cnam.display_name",
                             f"cnam.display_name is at most {MAX_CNAM} characters")
    display, inbound = _cnam_fields(wanted)
    if display is not None:
        display = display.strip()
    was_display, was_inbound = _cnam_fields(current)
    held = pn.features or {}
    outbound_changed = display != was_display or (display is None and "outbound_cnam" in held)
    inbound_changed = inbound != was_inbound or (not inbound and "inbound_cnam" in held)
    retry = isinstance(current, Mapping) and current.get("status") == ERROR and \
        "status" not in (wanted or {}) and not _empty(wanted)
    if not (outbound_changed or inbound_changed or retry):
        return None
    if retry and not (outbound_changed or inbound_changed):
        outbound_changed = display is not None
        inbound_changed = not outbound_changed
    return CnamChange(dict(wanted or {}), display, inbound, outbound_changed, inbound_changed,
                      None)


def _local_features(pn: PhoneNumber, public: Mapping[str, Any]) -> dict[str, Any]:
    """The local features' values after this save (Kazoo's `knm_prepend`, `knm_failover`,
    `knm_force_outbound`): copied from the public fields while the number is in service,
    removed otherwise; None removes."""
    out: dict[str, Any] = {}
    active = pn.state == "in_service"
    prepend = public.get("prepend")
    out["prepend"] = prepend if active and isinstance(prepend, Mapping) and prepend and \
        prepend.get("enabled") is not False else None
    failover = public.get("failover")
    out["failover"] = failover if active and isinstance(failover, Mapping) and failover \
        else None
    forced = _boolean(public.get("force_outbound"))
    out["force_outbound"] = forced if active and forced is not None else None
    return out


def apply_local(pn: PhoneNumber, plan: Plan) -> None:
    """Write the plan's public document and local features on `pn` (no carrier)."""
    pn.reset_doc(plan.public)
    for name, value in plan.local.items():
        if value is None:
            if name in (pn.features or {}):
                pn.features = {k: v for k, v in pn.features.items() if k != name}
                pn.is_dirty = True
                pn.modified = now_gregorian()
        else:
            pn.set_feature(name, dict(value) if isinstance(value, Mapping) else value)


# -- what carrier steps do to a record ---------------------------------------------------------


@dataclass
class Effect:
    """What one carrier answer changes on a number: its public object, its confirmed
    feature, its carrier data, and the bookkeeping of provisioning under way. Applied to
    the record being saved — or, when a later step failed or another writer got there
    first, to the record as it is, so that what the carrier did is recorded all the same."""

    feature: str
    provider: str | None
    status: FeatureStatus
    public: dict[str, Any] | None  # the new public object; None removes it
    confirmed: dict[str, Any] | None = None  # `features` entries to set (None values remove)
    refs: list[str] = field(default_factory=list)

    def apply(self, pn: PhoneNumber) -> None:
        doc = dict(pn.doc or {})
        if self.public is None:
            doc.pop(self.feature, None)
        else:
            doc[self.feature] = self.public
        pn.reset_doc(doc)
        for name, value in (self.confirmed or {}).items():
            if value is None:
                if name in (pn.features or {}):
                    pn.features = {k: v for k, v in pn.features.items() if k != name}
                    pn.is_dirty = True
            else:
                pn.set_feature(name, value)
        data = dict(self.status.data or {})
        if self.status.state == REMOVED or self.provider is None:
            data[PROVIDER_KEY[self.feature]] = None
        elif self.status.state in (PROVISIONED, PENDING):
            data[PROVIDER_KEY[self.feature]] = self.provider
        pn.set_carrier_data(merge_carrier_data(pn.carrier_data or {}, data))
        pn.modified = now_gregorian()
        pn.is_dirty = True

    @property
    def pending(self) -> bool:
        return self.status.state == PENDING


def _caller_name(pn: PhoneNumber, address: Address) -> str:
    """Kazoo's `e911_caller_name`: the address's own, else the account's name (at least 3
    characters), else "Valued Customer"."""
    if address.caller_name:
        return address.caller_name
    if pn.assigned_to:
        found = accounts.find(pn.assigned_to)
        if found is not None and found.name.strip():
            return found.name.strip().ljust(3)
    return DEFAULT_CALLER_NAME


def _e911_public(address: Address, user: Mapping[str, Any], status: FeatureStatus
                 ) -> dict[str, Any]:
    """The public `e911` after the carrier answered: the user's own keys, the address as the
    carrier registered it, the carrier's outputs, and knm's `status`."""
    out: dict[str, Any] = dict(_user_keys(user))
    out.update((status.address or address).to_e911())
    out.update({k: v for k, v in status.extra.items() if k in OUTPUT_FIELDS})
    out["status"] = status.state
    if status.carrier_status:
        out["carrier_status"] = status.carrier_status
    if status.state == PROVISIONED:
        out["activated_time"] = now_gregorian()
    if status.state == ERROR and status.message:
        out["message"] = status.message
    return out


def _refusal(provider: str, status: FeatureStatus, number: str) -> errors.CarrierFault:
    """A carrier that answered `ERROR` to a change it was asked for refused it."""
    return errors.CarrierFault(provider, status.message or status.carrier_status or
                               "the carrier failed the change", number=number,
                               unsettled=False, operation=E911)


def _e911_effect(pn: PhoneNumber, change: E911Change) -> Effect | None:
    """Validate and register (or remove) the address at its carrier: the effect, or the
    carrier's refusal raised."""
    provider = change.provider
    if change.action == REMOVE:
        if provider is None:  # knm never registered it: nothing to undo at a carrier
            return Effect(E911, None, FeatureStatus(REMOVED), None, {E911: None})
        status = carriers.feature(provider, "remove_emergency", pn)
        return _removal_effect(pn, E911, provider, status)
    assert change.address is not None and provider is not None
    address = change.address.with_caller_name(_caller_name(pn, change.address))
    check = carriers.feature(provider, "validate_address", pn, address)
    given = dict(change.given)
    if check.verdict == "invalid":
        raise errors.AddressInvalid(given, check.message or "the address could not be "
                                    "validated", carrier=provider)
    if check.verdict == "corrected":
        details = [{**_user_keys(given), **s.with_caller_name(
            address.caller_name).to_e911()} for s in check.suggestions]
        raise errors.MultipleChoice(given, details, carrier=provider,
                                    carrier_message=check.message)
    registered = check.address.with_caller_name(address.caller_name)
    status = carriers.feature(provider, "set_emergency", pn, registered)
    if status.state == ERROR:
        raise _refusal(provider, status, pn.number)
    public = _e911_public(registered, given, status)
    confirmed = {E911: public} if status.state == PROVISIONED else None
    return Effect(E911, provider, status, public, confirmed, [str(r) for r in status.refs])


def _cnam_public(change: CnamChange, state: str, message: str | None) -> dict[str, Any] | None:
    out = {k: v for k, v in change.given.items() if k not in ("status", "message")}
    if change.display_name is None:
        out.pop("display_name", None)
    else:
        out["display_name"] = change.display_name
    if not change.inbound:
        out.pop("inbound_lookup", None)
    else:
        out["inbound_lookup"] = True
    if not out:
        return None
    out["status"] = state
    if message and state == ERROR:
        out["message"] = message
    return out


def _cnam_confirmed(change: CnamChange) -> dict[str, Any]:
    return {"outbound_cnam": {"display_name": change.display_name}
            if change.display_name is not None else None,
            "inbound_cnam": {"inbound_lookup": True} if change.inbound else None}


def _cnam_effects(pn: PhoneNumber, change: CnamChange) -> tuple[list[Effect],
                                                               errors.KnmError | None]:
    """The outbound listing, then the inbound lookup, at the carrier that serves them. A
    refusal of the second keeps the first (returned with the refusal)."""
    provider = change.provider
    if provider is None:  # turning off what knm never turned on: nothing to call
        return [Effect(CNAM, None, FeatureStatus(REMOVED), _cnam_public(change, PROVISIONED,
                                                                        None),
                       _cnam_confirmed(change))], None
    answers: list[FeatureStatus] = []
    outbound_done = False
    try:
        if change.outbound_changed:
            answers.append(carriers.feature(provider, "set_cnam", pn, change.display_name))
            outbound_done = True
            if answers[-1].state == ERROR:
                raise _refusal(provider, answers[-1], pn.number)
        if change.inbound_changed:
            answers.append(carriers.feature(provider, "set_inbound_lookup", pn,
                                            change.inbound))
            if answers[-1].state == ERROR:
                raise _refusal(provider, answers[-1], pn.number)
    except errors.KnmError as exc:
        if not outbound_done or not answers or answers[0].state == ERROR:
            raise
        was_display, was_inbound = _cnam_fields((pn.doc or {}).get(CNAM))
        half = CnamChange(change.given, change.display_name, was_inbound, True, False,
                          provider)
        return [_cnam_effect(pn, half, answers[:1], provider)], exc
    return [_cnam_effect(pn, change, answers, provider)], None


def _removal_effect(pn: PhoneNumber, feature: str, provider: str, status: FeatureStatus
                    ) -> Effect:
    """What a removal the carrier answered changes: done, the feature is gone (public object,
    confirmed entries, the carrier holding it). Still at work (`PENDING`), nothing is gone
    yet: the public object says it is being removed, the carrier data marks the removal
    (`REMOVING_KEY`) for settling, and the confirmed entries stay until the carrier is done."""
    if status.state != PENDING:
        return Effect(feature, provider, FeatureStatus(
            REMOVED, status.carrier_status, {**status.data, REMOVING_KEY[feature]: None}),
            None, dict.fromkeys(CONFIRMED_KEYS[feature]))
    public = dict((pn.doc or {}).get(feature) or (pn.features or {}).get(feature) or {})
    public.update(status=PENDING, message=f"the carrier is removing the {feature}")
    if status.carrier_status:
        public["carrier_status"] = status.carrier_status
    marked = replace(status, data={**status.data, REMOVING_KEY[feature]: True})
    return Effect(feature, provider, marked, public, None, [str(r) for r in status.refs])


def _cnam_effect(pn: PhoneNumber, change: CnamChange, answers: list[FeatureStatus],
                 provider: str) -> Effect:
    pending = [a for a in answers if a.state == PENDING]
    state = PENDING if pending else PROVISIONED
    data: dict[str, Any] = {}
    refs: list[str] = []
    for answer in answers:
        data.update(answer.data)
        refs.extend(str(r) for r in answer.refs if answer.state == PENDING)
    said = ", ".join(a.carrier_status for a in answers if a.carrier_status)
    if change.display_name is None and not change.inbound:  # everything off
        return _removal_effect(pn, CNAM, provider, FeatureStatus(
            PENDING if pending else REMOVED, said, data, refs=refs))
    status = FeatureStatus(state, said, data)
    public = _cnam_public(change, state, None)
    confirmed = None if state == PENDING else _cnam_confirmed(change)
    return Effect(CNAM, provider, status, public, confirmed, refs)


@dataclass
class Provisioned:
    """The outcome of step 2: the effects of the carrier steps that succeeded, and the
    refusal that stopped the rest (None: everything succeeded)."""

    effects: list[Effect]
    error: errors.KnmError | None = None
    intents: list[str] = field(default_factory=list)  # features whose intent rows it wrote


def provision(pn: PhoneNumber, plan: Plan) -> Provisioned:
    """Step 2: the carrier calls of `plan`, E911 first (it matters most), then caller name;
    each effect is applied to `pn` as it comes. A pending provisioning of a feature being
    changed is settled first; one the carrier still works on refuses the change (`409
    feature_pending`)."""
    out = Provisioned([])
    try:
        for feature, change in ((E911, plan.e911), (CNAM, plan.cnam)):
            if change is None:
                continue
            if _pending(pn, feature):
                settled = _settle_now(pn, feature)
                if settled is None:
                    raise errors.FeaturePending(pn.number, feature)
                out.effects.append(settled)
                settled.apply(pn)
            if change.provider:  # a carrier is about to be asked: never lost from here on
                _intend(pn.number, feature, change)
                out.intents.append(feature)
            if feature == E911:
                effect = _e911_effect(pn, change)  # type: ignore[arg-type]
                effects, refused = ([effect] if effect else []), None
            else:
                effects, refused = _cnam_effects(pn, change)  # type: ignore[arg-type]
            for effect in effects:
                out.effects.append(effect)
                effect.apply(pn)
            if refused is not None:
                out.error = refused
                break
    except errors.KnmError as exc:
        out.error = exc
    return out


# -- writing -----------------------------------------------------------------------------------


def commit(pn: PhoneNumber, effects: list[Effect], *,
           reload: Callable[[], PhoneNumber | None] | None = None,
           ended: Iterable[str] = ()) -> PhoneNumber:
    """Step 3: write `pn` (the effects applied by the caller) and the bookkeeping of
    provisioning under way in one version-checked transaction. If another writer changed
    the number meanwhile, the effects alone are written on its version (`reload` fetches
    it) and `409 conflict` says the rest of the save was not. `ended` are the features whose
    intent rows (`_intend`) this write ends, whatever the effects."""
    ended = list(ended)
    try:
        _write(pn, effects, ended)
        return pn
    except errors.Conflict:
        if not effects:
            raise
    for _attempt in range(CONFLICT_RETRIES):
        fresh = (reload or (lambda: repository.fetch(pn.number)))()
        if fresh is None:
            log.warning("%s disappeared while its features were provisioned; the carrier's "
                        "registration is not recorded", pn.number)
            break
        for effect in effects:
            effect.apply(fresh)
        try:
            _write(fresh, effects, ended)
        except errors.Conflict:
            continue
        raise errors.Conflict(pn.number, f"number {pn.number} was changed concurrently: "
                              "what the carrier did was recorded, the rest of this save was "
                              "not; reload it and retry")
    raise errors.Conflict(pn.number)


def _write(pn: PhoneNumber, effects: list[Effect], ended: Iterable[str] = ()) -> None:
    with store.write() as conn:
        if pn.version == 0:  # a number being created
            failed = repository.insert_many([pn], conn)
            if failed:
                raise failed[pn.number]
        else:
            repository.update_one(pn, conn)
        for feature in dict.fromkeys([*ended, *(e.feature for e in effects)]):
            conn.execute(delete(feature_orders).where(and_(
                feature_orders.c.number == pn.number, feature_orders.c.feature == feature)))
        for effect in effects:
            if effect.pending and effect.provider:
                conn.execute(feature_orders.insert().values(
                    number=pn.number, feature=effect.feature, provider=effect.provider,
                    refs=effect.refs, since=time.time()))
    pn.is_dirty = False


def save(pn: PhoneNumber, before: PhoneNumber | None, plan: Plan) -> PhoneNumber:
    """Steps 2 and 3 for one number: `pn` is the record as the save wants it (the plan's
    local part applied), `before` the record as loaded (None: a number being created).
    Everything succeeded: `pn` is written. A carrier refused: the effects of what it did
    before are written on `before` (a number being created is created with them, so that
    what its carrier did is not forgotten), and the refusal is raised. All of it under the
    number's feature claim: a second save meanwhile is refused before it asks any carrier
    (`409 conflict`)."""
    with claimed(pn):
        early, handled, superseded = _interrupted_first(pn, plan)
        result = provision(pn, plan)
        result.effects[:0] = early
        # a superseded row is ended only by what the carrier does now (an effect of it):
        # refused, this save's intent stays listed in its place
        ended = [f for f in dict.fromkeys(handled + result.intents) if f not in superseded]
        if result.error is None:
            return commit(pn, result.effects, ended=ended)
        if result.effects and any(e.provider for e in result.effects):
            kept = pn  # a number being created: `pn` already holds the effects
            if before is not None:
                kept = before.copy()
                for effect in result.effects:
                    effect.apply(kept)
            try:
                commit(kept, result.effects, ended=ended)
            except errors.KnmError:  # the intent rows stay: the settler finishes them
                log.exception("could not record what the carrier did for %s", pn.number)
        elif ended:
            _drop_intents(pn.number, ended)  # refused before any carrier did anything
        raise result.error


# -- a save whose process died -----------------------------------------------------------------


def _intend(number: str, feature: str, change: E911Change | CnamChange) -> None:
    """Record, before a change's first carrier call, that it is in flight (replacing a
    pending row of the feature, settled just before in memory): a process that dies at the
    carrier leaves this row, and settling asks the carrier what it holds. Written under the
    number's feature claim, so no other writer has a row of this feature to lose."""
    if isinstance(change, E911Change):
        wanted: Any = None if change.address is None else {
            **_user_keys(change.given), **change.address.to_e911()}
    else:
        wanted = {"display_name": change.display_name, "inbound_lookup": change.inbound}
    action = change.action if isinstance(change, E911Change) else (
        REMOVE if _removes(change) else SET)
    with store.write() as conn:
        conn.execute(delete(feature_orders).where(and_(
            feature_orders.c.number == number, feature_orders.c.feature == feature)))
        conn.execute(feature_orders.insert().values(
            number=number, feature=feature, provider=str(change.provider),
            refs={IN_FLIGHT: True, "action": action, "wanted": wanted}, since=time.time()))


def _drop_intents(number: str, features_: Iterable[str]) -> None:
    with store.write() as conn:
        conn.execute(delete(feature_orders).where(and_(
            feature_orders.c.number == number,
            feature_orders.c.feature.in_(list(features_)))))


def interrupted(numbers: Iterable[str]) -> dict[str, list[PendingFeature]]:
    """The intent rows of saves whose process died (or that are at their carrier now), by
    number — asked in chunks, so a bulk release of thousands stays within any database's
    limit on bound values."""
    wanted = list(dict.fromkeys(numbers))
    out: dict[str, list[PendingFeature]] = {}
    for start in range(0, len(wanted), INTENT_CHUNK):
        for row in pending(wanted[start:start + INTENT_CHUNK]):
            if row.in_flight:
                out.setdefault(row.number, []).append(row)
    return out


def claim_live(number: str) -> bool:
    """Whether a live process holds the number's claim (any operation): its intent rows are
    its own, never settled from under it."""
    with store.read() as conn:
        return conn.execute(select(claims.c.number).where(and_(
            claims.c.number == number,
            claims.c.lease_until > purchase.db_now(conn)))).first() is not None


def _cannot_tell(row: PendingFeature, why: str) -> errors.KnmError:
    error = errors.NotImplementedByCarrier(
        row.provider, cause=row.feature,
        message=f"a save of the {row.feature} of {row.number} died while {row.provider} was "
                f"asked; {why}. It stays listed in `knm orders`: check the number at the "
                f"carrier; a new save of its {row.feature} there replaces it, a release "
                "removes it there")
    return error


def _same_registration(pn: PhoneNumber, feature: str, provider: str,
                       status: FeatureStatus) -> bool:
    """Whether what the carrier holds is the registration the record already has (the dead
    save's change never took): same carrier, and every id the carrier names is stored."""
    data = pn.carrier_data or {}
    if data.get(PROVIDER_KEY[feature]) != provider:
        return False
    if feature == CNAM:  # a caller name is what it shows: compare it with the record's
        confirmed = pn.features or {}
        listed = (confirmed.get("outbound_cnam") or {}).get("display_name")
        return ("display_name" in status.extra and status.extra["display_name"] == listed
                and bool(status.extra.get("inbound_lookup")) == ("inbound_cnam" in confirmed))
    ids = {k: v for k, v in (status.data or {}).items() if v is not None}
    return bool(ids) and all(str(data.get(k)) == str(v) for k, v in ids.items())


def _interrupted_effect(pn: PhoneNumber, row: PendingFeature) -> Effect | None:
    """What the carrier holds for the feature of a save that died at it, as an effect on the
    record as stored: registered (or still registering) → recorded as any provisioning;
    nothing new (none held, the record's own registration, or a failure) → None, the
    record is right as it is — except that a registration the record claims and the carrier
    no longer holds is recorded removed. A carrier that cannot tell raises."""
    found = carriers.carrier_class(row.provider)
    if found is None or row.feature not in found.reads_interrupted:
        raise _cannot_tell(row, f"{row.provider} cannot say what such a save registered "
                                "(knm never learnt the ids of it)")
    probe = pn.copy()
    probe.set_carrier_data({**(probe.carrier_data or {}), INTERRUPTED: row.feature})
    status = carriers.feature(row.provider, STATUS_METHOD[row.feature], probe)
    status = replace(status, data={k: v for k, v in status.data.items() if k != INTERRUPTED})
    holds = (pn.carrier_data or {}).get(PROVIDER_KEY[row.feature]) == row.provider
    if status.state in (REMOVED, ERROR):
        if status.state == REMOVED and holds:
            return _removal_effect(pn, row.feature, row.provider, status)
        log.info("%s: the interrupted %s save registered nothing at %s (%s)", row.number,
                 row.feature, row.provider, status.message or status.carrier_status)
        return None
    if status.state == PROVISIONED and _same_registration(pn, row.feature, row.provider,
                                                           status):
        return None
    if row.feature == E911:
        return _interrupted_e911(row, status)
    return _interrupted_cnam(pn, row, status)


def _interrupted_e911(row: PendingFeature, status: FeatureStatus) -> Effect:
    wanted = row.wanted if isinstance(row.wanted, Mapping) else {}
    address = _filled(status.address, _address_or_none(wanted))
    if address is None:  # a removal that the carrier did not do: it holds an address
        raise _cannot_tell(row, f"{row.provider} holds an emergency address knm cannot read")
    public = _e911_public(address, wanted, status)
    confirmed = {E911: public} if status.state == PROVISIONED else None
    return Effect(E911, row.provider, status, public, confirmed, [str(r) for r in status.refs])


def _filled(held: Address | None, asked: Address | None) -> Address | None:
    """The address the carrier holds — the one the dead save asked for when the carrier
    shows none; from that one only what a carrier may not say (the country, the caller
    name, which carriers keep elsewhere or not at all), never a part of the place."""
    if held is None or not held.street_address or asked is None:
        return asked if held is None or not held.street_address else held
    return replace(held, country=held.country or asked.country,
                   caller_name=held.caller_name or asked.caller_name)


def _interrupted_cnam(pn: PhoneNumber, row: PendingFeature, status: FeatureStatus) -> Effect:
    wanted = row.wanted if isinstance(row.wanted, Mapping) else {}
    name = status.extra.get("display_name", wanted.get("display_name"))
    inbound = bool(status.extra.get("inbound_lookup", wanted.get("inbound_lookup")))
    change = CnamChange({}, name, inbound, True, True, row.provider)
    refs = [str(r) for r in status.refs]
    if name is None and not inbound:
        return _removal_effect(pn, CNAM, row.provider, status)
    public = _cnam_public(change, status.state, None)
    confirmed = None if status.state == PENDING else _cnam_confirmed(change)
    return Effect(CNAM, row.provider, status, public, confirmed, refs)


def _interrupted_first(pn: PhoneNumber, plan: Plan
                       ) -> tuple[list[Effect], list[str], list[str]]:
    """Before a save changes a feature an earlier, dead save left in flight (the claim is
    ours now, so its holder is gone): what the carrier holds is applied to `pn` first.
    Returns the effects, the features whose rows that settled, and those superseded: at a
    carrier that can never read such a save (`reads_interrupted`), a new change of the
    feature at that same carrier replaces whatever the dead one did there, so it goes on.
    A carrier that cannot tell now (an error) refuses this save, before any change: the
    earlier one's outcome would be lost under it."""
    changes = {f: c for f, c in ((E911, plan.e911), (CNAM, plan.cnam)) if c is not None}
    effects: list[Effect] = []
    handled: list[str] = []
    superseded: list[str] = []
    for row in interrupted([pn.number]).get(pn.number, []):
        change = changes.get(row.feature)
        if change is None:
            continue
        found = carriers.carrier_class(row.provider)
        if change.provider == row.provider and (
                found is None or row.feature not in found.reads_interrupted):
            log.warning("%s: a dead save's %s at %s cannot be read; this save's replaces it",
                        pn.number, row.feature, row.provider)
            superseded.append(row.feature)
            continue
        effect = _interrupted_effect(pn, row)
        handled.append(row.feature)
        if effect is not None:
            effect.apply(pn)
            effects.append(effect)
    return effects, handled, superseded


def _settle_interrupted(row: PendingFeature) -> SettledFeature:
    """Settle the intent row of a save whose process died — under the feature claim, so
    never from under a live save (its claim refuses us: `busy`)."""
    pn = repository.fetch(row.number)
    if pn is None:
        _forget(row)
        return SettledFeature(row.number, row.feature, "done", None)
    if claim_live(row.number):
        return SettledFeature(row.number, row.feature, "busy", pn, _busy(row.number))
    try:
        with claimed(pn):
            still = next((r for r in interrupted([row.number]).get(row.number, [])
                          if r.feature == row.feature), None)
            if still is None:  # its save finished meanwhile
                return SettledFeature(row.number, row.feature, "done", pn)
            effect = _interrupted_effect(pn, still)
            if effect is None:
                _drop_intents(row.number, [row.feature])
                return SettledFeature(row.number, row.feature, "dropped", pn)
            effect.apply(pn)
            saved = commit(pn, [effect], ended=[row.feature])
    except errors.KnmError as exc:
        log.info("settling the interrupted %s save of %s at %s: %s", row.feature, row.number,
                 row.provider, exc.error)
        return SettledFeature(row.number, row.feature, "unknown", pn, exc)
    outcome = {PENDING: "pending", PROVISIONED: "done", REMOVED: "done"}.get(
        effect.status.state, "failed")
    return SettledFeature(row.number, row.feature, outcome, saved)


# -- one save at a time ------------------------------------------------------------------------


@contextmanager
def claimed(pn: PhoneNumber) -> Iterator[None]:
    """Hold `pn`'s feature claim while its carriers are asked. Taken only if nobody else
    holds it (a claim whose holder died — its lease ran out — is taken over) and the stored
    record is still the version `pn` was read at; else `409 conflict`, before any carrier
    call. The claim is a row of `knm_claims` renewed by the purchase protocol's lease
    keeper; the record itself is not touched, so other writers are not blocked (their
    writes meet the save's version check, as before)."""
    number = pn.number
    with store.write() as conn:
        now = purchase.db_now(conn)
        conn.execute(delete(claims).where(and_(
            claims.c.number == number, claims.c.operation == FEATURE_CLAIM,
            claims.c.lease_until <= now)))
        try:  # the number's claim row is unique: a live one (any operation) refuses this
            conn.execute(claims.insert().values(
                number=number, holder=purchase.leases.holder, operation=FEATURE_CLAIM,
                lease_until=now + purchase.lease_s(), started=now))
        except IntegrityError:
            raise _busy(number) from None
        # after the insert: a save that finished meanwhile has its new version committed
        stored = conn.execute(select(numbers_t.c.version).where(
            numbers_t.c.number == number)).scalar()
        if pn.version and stored != pn.version:
            raise errors.Conflict(number, f"number {number} was changed since it was read; "
                                  "no carrier was asked — reload it and retry")
        started = conn.execute(select(claims.c.started).where(
            claims.c.number == number)).scalar()
    purchase.leases.hold(number)
    try:
        yield
    finally:
        try:
            with store.write() as conn:
                conn.execute(delete(claims).where(and_(
                    claims.c.number == number, claims.c.operation == FEATURE_CLAIM,
                    claims.c.holder == purchase.leases.holder, claims.c.started == started)))
        finally:
            purchase.leases.drop(number)


def _busy(number: str) -> errors.Conflict:
    return errors.Conflict(number, f"another request is changing {number} at a carrier right "
                           "now (its features, or the number itself); no carrier was asked "
                           "— reload the number and retry")


# -- release and deletion ----------------------------------------------------------------------


def held(pn: PhoneNumber) -> list[str]:
    """The features a carrier holds for `pn` — registered, being registered or being removed:
    those whose carrier data names the carrier (`e911_provider`, `cnam_provider`)."""
    data = pn.carrier_data or {}
    return [feature for feature in (E911, CNAM) if data.get(PROVIDER_KEY[feature])]


def remove_held(pn: PhoneNumber, *, dropped_by: str | None, doing: str) -> PhoneNumber:
    """Before `pn` is released or deleted (`doing`: the word for the error): remove what its
    carriers hold of its features, E911 first, as Kazoo's `knm_providers` ran each
    provider's `delete` — under the feature claim; the record is written with what was
    removed and returned.

    A removal that fails, or that the carrier is still working on, stops the release naming
    the feature (the carrier's own error, or `409 feature_pending`): the number is kept as it
    was, with what was removed before it recorded and a pending removal left to the settler.
    The exception is `dropped_by`, the carrier about to disconnect the number: it drops the
    feature with the number, so a failed removal there does not stop the release.

    A save of a feature whose process died at its carrier (an intent row) is settled first,
    so that what that carrier registered is removed too, not orphaned there; a carrier that
    cannot tell what it holds is asked to remove the feature all the same.
    """
    rows = interrupted([pn.number]).get(pn.number, [])
    if not held(pn) and not rows:
        return pn
    with claimed(pn):
        work = pn.copy()
        effects: list[Effect] = []
        ended: list[str] = []
        unknown: dict[str, str] = {}
        for row in rows:
            try:
                effect = _interrupted_effect(work, row)
            except errors.KnmError as exc:
                log.warning("%s: %s; removing its %s at %s all the same", pn.number,
                            exc.message, row.feature, row.provider)
                unknown[row.feature] = row.provider
                continue
            ended.append(row.feature)
            if effect is not None:
                effect.apply(work)
                effects.append(effect)
        targets = {f: str((work.carrier_data or {})[PROVIDER_KEY[f]]) for f in held(work)}
        for feature, provider in unknown.items():
            targets.setdefault(feature, provider)
        stop: errors.KnmError | None = None
        for feature in (f for f in (E911, CNAM) if f in targets):
            provider = targets[feature]
            done, error, intents = _removed(work, feature, provider)
            if error is None or feature not in unknown:  # else its row stays listed
                ended.extend(intents)
            effects.extend(done)
            if error is None and done and done[-1].pending:
                error = errors.FeaturePending(pn.number, feature)
                error.message = ("the carrier is still removing it; the removal is settled "
                                 "in the background (`knm orders settle`)")
            if error is None:
                continue
            if provider == dropped_by:
                log.warning("%s: removing its %s at %s first did not succeed (%s); %s all "
                            "the same: the carrier drops the %s with the number",
                            pn.number, feature, provider, error.error, doing, feature)
                continue
            stop = _not_done(error, pn.number, feature, provider, doing,
                             [e.feature for e in effects if e.status.state == REMOVED])
            break
        if effects:
            saved = commit(work, effects, ended=ended)
        else:
            saved = pn
            if ended:
                _drop_intents(pn.number, ended)
    if stop is not None:
        raise stop
    return saved


def _removed(work: PhoneNumber, feature: str, provider: str
             ) -> tuple[list[Effect], errors.KnmError | None, list[str]]:
    """Remove `feature` at `provider` on `work` (the effects applied to it, the error that
    stopped it, the features whose intent rows it wrote): a provisioning still pending is
    settled first (one the carrier still works on stops the removal)."""
    effects: list[Effect] = []
    try:
        if _pending(work, feature):
            settled = _settle_now(work, feature)
            if settled is None:
                return effects, errors.FeaturePending(work.number, feature), []
            settled.apply(work)
            effects.append(settled)
            if not (work.carrier_data or {}).get(PROVIDER_KEY[feature]):
                return effects, None, []  # a removal under way finished: nothing is held
    except errors.KnmError as exc:
        return effects, exc, []
    if feature == E911:
        plan = Plan(dict(work.doc or {}), e911=E911Change(REMOVE, provider=provider))
    else:
        display, inbound = _cnam_fields((work.doc or {}).get(CNAM))
        confirmed = work.features or {}
        outbound = display is not None or "outbound_cnam" in confirmed
        inbound = inbound or "inbound_cnam" in confirmed
        if not (outbound or inbound):  # the record does not say which: both off
            outbound = inbound = True
        plan = Plan(dict(work.doc or {}), cnam=CnamChange({}, None, False, outbound, inbound,
                                                          provider))
    result = provision(work, plan)
    return effects + result.effects, result.error, result.intents


def _not_done(error: errors.KnmError, number: str, feature: str, provider: str, doing: str,
              removed: list[str]) -> errors.KnmError:
    """The error that stops a release: the carrier's, saying what was not done and why."""
    also = f" (its {' and '.join(removed)} was removed)" if removed else ""
    then = ("Retry once it is settled" if isinstance(error, errors.FeaturePending) else
            f"Retry once the carrier answers, or remove the {feature} first")
    error.message = (f"number {number} was not {doing}: its {feature} could not be removed "
                     f"at {provider} first — {error.message}; the number is kept as it "
                     f"was{also}. {then}")
    error.args = (error.message,)
    return error


# -- settling ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingFeature:
    """A feature provisioning a carrier accepted and still works on."""

    number: str
    feature: str
    provider: str
    refs: tuple[str, ...]
    since: float
    #: an intent row (`_intend`): a save at its carrier now, or one whose process died
    in_flight: bool = False
    action: str = SET
    wanted: Any = None


def pending(numbers: Iterable[str] | None = None) -> list[PendingFeature]:
    """Every provisioning under way (of `numbers` when given), by number."""
    query = select(feature_orders).order_by(feature_orders.c.number, feature_orders.c.feature)
    wanted = None if numbers is None else list(dict.fromkeys(numbers))
    if wanted is not None:
        if not wanted:
            return []
        query = query.where(feature_orders.c.number.in_(wanted))
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [_pending_row(r) for r in rows]


def _pending_row(r: Any) -> PendingFeature:
    refs = r.refs
    if isinstance(refs, Mapping) and refs.get(IN_FLIGHT):
        return PendingFeature(r.number, r.feature, r.provider, (), r.since, True,
                              str(refs.get("action") or SET), refs.get("wanted"))
    return PendingFeature(r.number, r.feature, r.provider, tuple(refs or ()), r.since)


def anything_pending() -> bool:
    with store.read() as conn:
        return conn.execute(select(feature_orders.c.number).limit(1)).first() is not None


def _pending(pn: PhoneNumber, feature: str) -> bool:
    public = (pn.doc or {}).get(feature)
    return isinstance(public, Mapping) and public.get("status") == PENDING


def _final(pn: PhoneNumber, feature: str, provider: str, status: FeatureStatus) -> Effect:
    """The effect of a finished provisioning (or removal) on the number as it is now."""
    public = dict((pn.doc or {}).get(feature) or {})
    if (pn.carrier_data or {}).get(REMOVING_KEY[feature]):
        if status.state in (PROVISIONED, REMOVED):  # the carrier finished the removal
            return _removal_effect(pn, feature, provider, status)
        public["status"] = ERROR
        if status.carrier_status:
            public["carrier_status"] = status.carrier_status
        reason = status.message or "no reason given"
        public["message"] = (f"the carrier failed the removal ({reason}): the {feature} is "
                             "still registered there")
        return Effect(feature, provider, FeatureStatus(
            ERROR, status.carrier_status, {**status.data, REMOVING_KEY[feature]: None}),
            public)
    if feature == E911:
        address = _address_or_none(public)
        if status.state == PROVISIONED and address is not None:
            public = _e911_public(address, public, status)
            return Effect(E911, provider, status, public, {E911: public})
        public["status"] = ERROR
        if status.carrier_status:
            public["carrier_status"] = status.carrier_status
        public["message"] = status.message or "the carrier failed the registration"
        return Effect(E911, provider, status, public)
    public["status"] = PROVISIONED if status.state == PROVISIONED else ERROR
    if status.state == PROVISIONED:
        public.pop("message", None)
        display, inbound = _cnam_fields(public)
        return Effect(CNAM, provider, status, public, {
            "outbound_cnam": {"display_name": display} if display else None,
            "inbound_cnam": {"inbound_lookup": True} if inbound else None})
    public["message"] = status.message or "the carrier failed the change"
    return Effect(CNAM, provider, status, public)


def _settle_now(pn: PhoneNumber, feature: str) -> Effect | None:
    """Ask the carrier about `pn`'s pending `feature`: the effect of its answer, or None
    while it still works on it."""
    found = pending([pn.number])
    row = next((r for r in found if r.feature == feature), None)
    provider = row.provider if row else (pn.carrier_data or {}).get(PROVIDER_KEY[feature])
    if not provider:
        return _final(pn, feature, "unknown", FeatureStatus(
            ERROR, message="no carrier is working on this change any more"))
    status = carriers.feature(str(provider), STATUS_METHOD[feature], pn)
    if status.state == PENDING:
        return None
    return _final(pn, feature, str(provider), status)


@dataclass
class SettledFeature:
    """What settling one pending provisioning did: `outcome` is `done` (PROVISIONED),
    `failed` (ERROR), `pending` (still at the carrier) or `unknown` (the carrier could not be
    asked: `error`) — and, for a save whose process died, `dropped` (the carrier holds nothing
    it did: the record stays as it was) or `busy` (that save is still running)."""

    number: str
    feature: str
    outcome: str
    record: PhoneNumber | None
    error: errors.KnmError | None = None


def settle(numbers: Iterable[str] | None = None) -> list[SettledFeature]:
    """Ask the carriers about every provisioning under way (of `numbers` when given) and
    finish the ones they finished. Never starts a provisioning: it reads at carriers, and
    writes only the step a carrier itself deferred (Flowroute associates a caller name once
    its approval came; a lost E911 association's leftover record is deleted)."""
    out: list[SettledFeature] = []
    for row in pending(numbers):
        out.append(_settle_interrupted(row) if row.in_flight else _settle_row(row))
    return out


def _settle_row(row: PendingFeature, status: FeatureStatus | None = None) -> SettledFeature:
    pn = repository.fetch(row.number)
    if pn is None or not _pending(pn, row.feature):
        _forget(row)  # released, removed or changed since: nothing is waiting on it
        return SettledFeature(row.number, row.feature, "done", pn)
    if status is None:
        try:
            status = carriers.feature(row.provider, STATUS_METHOD[row.feature], pn)
        except errors.KnmError as exc:
            log.info("settling the %s of %s at %s: %s", row.feature, row.number, row.provider,
                     exc.error)
            return SettledFeature(row.number, row.feature, "unknown", pn, exc)
    if status.state == PENDING:
        return SettledFeature(row.number, row.feature, "pending", pn)
    waited_on = (pn.doc or {}).get(row.feature)
    effect = _final(pn, row.feature, row.provider, status)
    effect.apply(pn)
    try:
        saved = commit(pn, [effect], reload=lambda: _refetched(row, waited_on))
    except errors.Conflict as exc:  # the number moved on meanwhile: a later round looks again
        return SettledFeature(row.number, row.feature, "unknown", repository.fetch(row.number),
                              exc)
    return SettledFeature(row.number, row.feature,
                          "done" if status.state == PROVISIONED else "failed", saved)


def _refetched(row: PendingFeature, waited_on: Any) -> PhoneNumber | None:
    """The number again, if it still waits on the same change (another writer changed
    something else meanwhile); None when the change itself is no longer the one pending."""
    fresh = repository.fetch(row.number)
    if fresh is None or (fresh.doc or {}).get(row.feature) != waited_on:
        return None
    return fresh


def _forget(row: PendingFeature) -> None:
    with store.write() as conn:
        conn.execute(delete(feature_orders).where(and_(
            feature_orders.c.number == row.number, feature_orders.c.feature == row.feature)))


def apply_event(carrier: str, event: WebhookEvent) -> SettledFeature | None:
    """Settle what a carrier's webhook says of a feature order (`event.operation` is the
    feature): the provisioning whose carrier ids include the event's order id. A failed
    order fails the change; a completed one finishes it when it was the last order the
    change waited on (a caller-name change may wait on two)."""
    name = full_name(carrier)
    for row in pending():
        if row.in_flight or row.provider != name or row.feature != event.operation:
            continue
        if not (event.order_id and event.order_id in row.refs) and not (
                event.number and event.number == row.number):
            continue
        if event.status.state == "failed":
            return _settle_row(row, FeatureStatus(ERROR, event.status.status,
                                                  message=event.status.message))
        if event.status.state == "complete":
            left = tuple(r for r in row.refs if r != event.order_id)
            if left:
                with store.write() as conn:
                    conn.execute(feature_orders.update().where(and_(
                        feature_orders.c.number == row.number,
                        feature_orders.c.feature == row.feature)).values(refs=list(left)))
                return SettledFeature(row.number, row.feature, "pending", None)
            return _settle_row(row, FeatureStatus(PROVISIONED, event.status.status))
        return SettledFeature(row.number, row.feature, "pending", None)
    return None


def summary(row: PendingFeature, pn: PhoneNumber | None) -> dict[str, Any]:
    """One provisioning under way as `knm orders` and the HTTP API show it: an intent row is
    `in_progress` while its save runs, `unknown` once its process died (settling asks)."""
    status = PENDING.lower()
    if row.in_flight:
        status = "in_progress" if claim_live(row.number) else purchase.UNKNOWN
    return {"number": row.number, "carrier": row.provider, "operation": row.feature,
            "status": status, "order_id": ", ".join(row.refs) or None,
            "order_reference": None, "account_id": pn.assigned_to if pn else None,
            "state": pn.state if pn else None, "since": int(row.since) + GREGORIAN_OFFSET}
