"""The carrier facade (Kazoo's `knm_carriers`): which carriers serve an account, and the
calls that reach them — search, acquire, disconnect, check, info.

Every call that reaches a carrier from above (operations, CLI, HTTP API) goes through these
functions — search, acquire, disconnect, check, settle and the number features — so a carrier's
failure always arrives as a `KnmError` naming the carrier, and a carrier that is not installed
is skipped the way Kazoo skips it. The layers above still import carrier *declarations* (the
classes and their flags, `knm.carriers.base` values, `selection`, `orders`), never an instance
to call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from knm import accounts, errors
from knm.carriers.base import (
    Carrier,
    ScrubbedCause,
    SearchOptions,
    SearchResult,
    Setting,
    full_name,
    short_name,
)
from knm.carriers.features import Address, AddressCheck, FeatureStatus
from knm.carriers.orders import OrderStatus, WebhookEvent
from knm.carriers.registry import (
    carrier_class,
    declared_names,
    get_carrier,
    is_reachable,
    register,
    unregister,
)
from knm.carriers.search import find
from knm.carriers.selection import (
    ALL_MODULES,
    all_modules,
    available_carriers,
    default_carrier,
    default_carriers,
    keep_only_reachable,
)
from knm.phone import normalize
from knm.record import PhoneNumber
from knm.secrets import scrub

__all__ = [
    "ALL_MODULES", "Address", "AddressCheck", "Carrier", "FeatureStatus", "OrderStatus",
    "SearchOptions", "SearchResult", "Setting", "WebhookEvent", "acquire", "all_modules",
    "available_carriers", "carrier_class", "check", "declared_names", "default_carrier",
    "default_carriers", "disconnect", "feature", "find", "get_carrier", "held_listing", "info",
    "is_local",
    "is_number_billable", "is_reachable", "is_store_backed", "keep_only_reachable", "offers",
    "parse_webhook", "register", "settle", "unregister",
]

log = logging.getLogger("knm.carriers")


# -- info ----------------------------------------------------------------------------------


def usable_creation_states(auth_account_id: str | None) -> list[str]:
    """States `auth_account_id` may create numbers in (Kazoo's `allowed_creation_states`);
    an unknown account is `400 invalid` naming it."""
    if not auth_account_id:
        return []
    if auth_account_id == accounts.SYSTEM:
        return accounts.creation_states(is_admin=True)
    account = accounts.get(auth_account_id)
    return accounts.creation_states(is_admin=account.superduper_admin,
                                    allows_additions=account.allow_number_additions)


def info(auth_account_id: str | None, account_id: str | None, reseller_id: str | None
         ) -> dict[str, Any]:
    """What an account's number searches can do: the shortest prefix limit of its carriers,
    the carriers numbers may be created with, and the states it may create numbers in."""
    maximal = 15
    for name in available_carriers(account_id, reseller_id):
        try:
            carrier = get_carrier(name)
            value = carrier.info().get("maximal_prefix_length") if carrier else None
        except errors.CarrierMisconfigured:
            # the limit is a fact about the carrier, not its credentials
            cls = carrier_class(name)
            value = cls.maximal_prefix_length if cls else None
        except Exception:  # noqa: BLE001 - Kazoo ignores a carrier whose info fails
            log.debug("info() of carrier %s failed", name, exc_info=True)
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value < maximal:
            maximal = value
    usable = [short_name(n) for n in all_modules()
              if n not in ("knm_reserved", "knm_reserved_reseller")]
    return {
        "maximal_prefix_length": maximal,
        "usable_carriers": usable,
        "usable_creation_states": usable_creation_states(auth_account_id),
    }


# -- check ---------------------------------------------------------------------------------


def check(numbers: Iterable[str]) -> dict[str, str]:
    """Status of each number at the carriers: the first carrier that knows it answers, a
    number no carrier knows is `"error"` (Kazoo's one-carrier lag is not reproduced)."""
    remaining = sorted({normalize(n) for n in numbers})
    if not remaining:
        return {}
    found: dict[str, str] = {}
    for name in available_carriers():
        if not remaining:
            break
        try:
            carrier = get_carrier(name)
            if carrier is None:
                continue
            answer = carrier.check_numbers(list(remaining))
        except errors.NotImplementedByCarrier:
            continue
        except Exception as exc:  # noqa: BLE001 - one carrier's failure is its numbers' "error"
            log.info("carrier %s failed a check: %s", name, type(exc).__name__)
            continue
        wanted = set(remaining)
        for raw, status in (answer or {}).items():
            number = normalize(str(raw))
            if number in wanted and number not in found:
                found[number] = status
        remaining = [n for n in remaining if n not in found]
    out = {n: "error" for n in remaining}
    out.update(found)
    return dict(sorted(out.items()))


# -- acquire / disconnect ------------------------------------------------------------------


#: called after every purchase or release at a carrier as
#: `observer(carrier, operation, outcome, seconds)`, with operation `acquire`/`disconnect` and
#: outcome `answered`/`failed`/`timed_out` (the search's words); the HTTP API hangs its
#: Prometheus metrics here. An observer that raises is ignored.
observers: list[Callable[[str, str, str, float], None]] = []


def acquire(number: PhoneNumber) -> PhoneNumber:
    """Buy `number` from its carrier (`module_name`).

    No carrier named: `CarrierNotSpecified`. A dry run, or a carrier that is not installed,
    returns the number unchanged (Kazoo's rule). A carrier's `KnmError` reaches the caller
    as it is (a carrier error naming the operation); anything else the carrier raises
    becomes a `CarrierFault` naming it, unsettled (SPEC §5.1: the carrier code crashed, maybe
    after the carrier acted).
    """
    if number.module_name is None:
        raise errors.CarrierNotSpecified(cause=number.number)
    if number.dry_run:
        return number
    return _call(number, "acquire_number", "acquire")


def disconnect(number: PhoneNumber) -> PhoneNumber:
    """Release `number` at its carrier; a carrier that is not installed allows it."""
    return _call(number, "disconnect_number", "disconnect")


def held_listing(name: str, numbers: list[str], budget: int) -> Mapping[str, Any]:
    """Carrier `name`'s rows of those of `numbers` its account holds, from a listing of its
    holdings (`Carrier.held_listing`, at most `budget` requests), for `settle(…, listed=)`.
    Any failure is an empty answer: every number is then asked on its own."""
    carrier = get_carrier(name)
    if carrier is None or type(carrier).held_listing is Carrier.held_listing:
        return {}
    try:
        found = carrier.held_listing(numbers, budget)
    except Exception as exc:  # noqa: BLE001 - a listing only saves requests; settle asks anyway
        log.info("%s: holdings listing failed: %s", carrier.name, scrub(str(exc)))
        return {}
    return found if isinstance(found, Mapping) else {}


def settle(number: PhoneNumber, *, listed: Mapping[str, Any] | None = None) -> OrderStatus:
    """What became of the unsettled purchase or release of `number` at its carrier
    (`Carrier.settle`; SPEC §5.1) — from its row in `listed` (`held_listing`) when it is
    there. A carrier that is not installed, or that cannot tell, raises
    (`NotImplementedByCarrier`): its unknown outcomes stay for an operator."""
    carrier = get_carrier(number.module_name)
    if carrier is None:
        raise errors.NotImplementedByCarrier(full_name(str(number.module_name)),
                                             message="carrier is not installed")
    crash: errors.CarrierFault | None = None
    try:
        if listed and number.number in listed:
            status = carrier.settle_held(number, listed[number.number])
        else:
            status = carrier.settle(number)
    except errors.KnmError as exc:
        _name_operation(exc, "settle")
        raise
    except Exception as exc:  # noqa: BLE001 - any crash of carrier code is the carrier's fault
        crash = _crash(carrier, exc, number, "settle")
    if crash is not None:
        raise crash from crash.__cause__
    if not isinstance(status, OrderStatus):
        raise errors.MalformedResponse(carrier.name, f"settle returned {type(status).__name__}",
                                       number=number.number, operation="settle")
    return status


def parse_webhook(name: str, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
    """The order events of a webhook request carrier `name` sent (`Carrier.parse_webhook`).
    Unverifiable: `errors.Unauthenticated`; unreadable: `errors.Invalid`; a carrier without
    webhooks (or not installed): `NotImplementedByCarrier`."""
    carrier = get_carrier(name)
    if carrier is None:
        raise errors.NotImplementedByCarrier(full_name(name),
                                             message="carrier is not installed")
    return carrier.parse_webhook(headers, body)


# -- number features (SPEC §13) --------------------------------------------------------------

#: each feature method of `Carrier`, and the capability that says a carrier has it
FEATURE_METHODS = {
    "validate_address": "e911", "set_emergency": "e911", "remove_emergency": "e911",
    "emergency_status": "e911",
    "set_cnam": "cnam", "set_inbound_lookup": "cnam", "cnam_status": "cnam",
}
#: the methods that change something at the carrier (or lead to it: a validation is asked
#: only to provision), so the provisioning gate of SPEC §12 applies to them
GATED = frozenset({"validate_address", "set_emergency", "remove_emergency", "set_cnam",
                   "set_inbound_lookup"})


def offers(name: str | None, feature_name: str) -> bool:
    """Does carrier `name` offer the feature (`e911`, `cnam`)? Read from its class's
    `capabilities`: no instance, no settings needed (listings ask it per number)."""
    cls = carrier_class(name)
    return cls is not None and feature_name in cls.capabilities


def feature(name: str, method: str, number: PhoneNumber, *args: Any) -> Any:
    """Call a number-feature method of carrier `name` on `number` (a copy: what the carrier
    learnt comes back in its answer). A carrier that does not offer the feature raises
    `NotImplementedByCarrier`; with provisioning disabled the gate of SPEC §12 refuses
    (`ProvisioningDisabled`) or, sandboxed, answers as if the carrier had said yes; a
    carrier's error names the operation (`e911`, `cnam`), and a crash is the carrier's fault.
    """
    kind = FEATURE_METHODS[method]
    carrier = get_carrier(name)
    if carrier is None or kind not in carrier.capabilities:
        raise errors.NotImplementedByCarrier(
            full_name(str(name)), message=f"carrier {short_name(full_name(str(name)))} "
            f"does not offer {kind}", cause=kind)
    if method in GATED and not _provisioning_allowed(carrier, number):
        return _sandboxed(method, *args)
    crash: errors.CarrierFault | None = None
    try:
        result = getattr(carrier, method)(number.copy(), *args)
    except errors.KnmError as exc:
        _name_operation(exc, kind)
        raise
    except Exception as exc:  # noqa: BLE001 - any crash of carrier code is the carrier's fault
        crash = _crash(carrier, exc, number, kind)
    if crash is not None:
        raise crash from crash.__cause__
    wanted = AddressCheck if method == "validate_address" else FeatureStatus
    if not isinstance(result, wanted):
        raise errors.MalformedResponse(carrier.name, f"{method} returned "
                                       f"{type(result).__name__}", number=number.number,
                                       operation=kind)
    return result


def _provisioning_allowed(carrier: Carrier, number: PhoneNumber) -> bool:
    gate = getattr(carrier, "provisioning_allowed", None)
    return True if gate is None else bool(gate(number))


def _sandboxed(method: str, *args: Any) -> Any:
    """What a sandboxed carrier (provisioning disabled, `sandbox_provisioning` true) answers:
    yes, with the carrier's status `sandbox` so the record says nothing was sent."""
    if method == "validate_address":
        return AddressCheck("valid", args[0])
    if method == "remove_emergency":
        return FeatureStatus("REMOVED", "sandbox")
    address = args[0] if method == "set_emergency" else None
    return FeatureStatus("PROVISIONED", "sandbox", address=address)


def is_store_backed(name: str | None) -> bool:
    """Do this carrier's numbers live in knm's own tables (buying and releasing them is
    bookkeeping, no network call)? False for an unknown carrier."""
    cls = carrier_class(name)
    return bool(cls is not None and cls.answers_from_store)


def _call(number: PhoneNumber, method: str, operation: str) -> PhoneNumber:
    name = number.module_name
    carrier = get_carrier(name)
    if carrier is None:
        log.info("carrier %s does not exist, skipping %s of %s", name, method, number.number)
        return number
    carrier_name = carrier.name or full_name(str(name))
    started = time.monotonic()
    outcome = "failed"
    crash: errors.CarrierFault | None = None
    try:
        result = getattr(carrier, method)(number)
        outcome = "answered"
    except errors.CarrierTimeout as exc:
        outcome = "timed_out"
        _name_operation(exc, operation)
        raise
    except errors.KnmError as exc:
        _name_operation(exc, operation)
        raise
    except Exception as exc:  # noqa: BLE001 - any crash of carrier code is the carrier's fault
        crash = _crash(carrier, exc, number, operation)
    finally:
        _observe(carrier_name, operation, outcome, time.monotonic() - started)
    if crash is not None:
        # raised outside the handler: the raw exception (which may quote a credential) is
        # not chained; its scrubbed stand-in is the cause
        raise crash from crash.__cause__
    return result if result is not None else number


def _name_operation(error: errors.KnmError, operation: str) -> None:
    if isinstance(error, errors.CarrierFault) and error.operation is None:
        error.operation = operation


def _crash(carrier: Carrier, exc: Exception, number: PhoneNumber, operation: str
           ) -> errors.CarrierFault:
    """A crash of carrier code as the carrier's fault: unsettled, since it may have come after
    the carrier acted (SPEC §5.1), with a scrubbed stand-in of the exception as its cause."""
    text = _scrub(f"{type(exc).__name__}: {exc}", carrier)
    fault = errors.CarrierFault(carrier.name or full_name(str(number.module_name)), text,
                                number=number.number, unsettled=True, operation=operation)
    fault.__cause__ = ScrubbedCause(type(exc).__name__, text)
    return fault


def _observe(carrier: str, operation: str, outcome: str, seconds: float) -> None:
    for observer in list(observers):
        try:
            observer(carrier, operation, outcome, seconds)
        except Exception:  # noqa: BLE001 - metrics must never break a purchase
            log.debug("carrier observer failed", exc_info=True)


def _scrub(text: str, carrier: Carrier) -> str:
    try:
        return carrier.scrub(text) or ""
    except Exception:  # noqa: BLE001 - a broken carrier must not hide its own failure
        return scrub(text)


# -- flags ---------------------------------------------------------------------------------


def _flag(name: str | None, method: str, *args: Any) -> bool:
    cls = carrier_class(name)
    if cls is None:
        return True
    try:
        carrier = get_carrier(name)
        assert carrier is not None
        return bool(getattr(carrier, method)(*args))
    except errors.CarrierMisconfigured:
        # a flag does not need working credentials: answer from the class
        attr = {"is_number_billable": "billable", "is_local": "local"}[method]
        return bool(getattr(cls, attr))
    except errors.KnmError:
        raise
    except Exception:  # noqa: BLE001 - Kazoo answers true when the carrier crashes
        return True


def is_number_billable(number: PhoneNumber) -> bool:
    """Bill the account for this number? An unknown carrier is billable (Kazoo's rule).
    Kazoo's `knm_carriers:is_number_billable/1`, public API for Kazoo parity: knm bills
    nothing itself."""
    return _flag(number.module_name, "is_number_billable", number)


def is_local(name: str | None) -> bool:
    """Do this carrier's numbers live here (no network call)? Unknown carriers: True.
    Kazoo's `knm_carriers:is_local/1`, public API for Kazoo parity; knm's own decisions read
    the class flags (`local`, `answers_from_store`) directly."""
    return _flag(name, "is_local")
