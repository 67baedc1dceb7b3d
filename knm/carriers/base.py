"""The carrier interface every carrier — built in or third-party — implements.

A carrier is a plain synchronous class: the facade runs carriers concurrently in threads, so
a third-party carrier needs no event loop and no knowledge of the others. A carrier holds
only its config (and, for HTTP carriers, a pooled client), so one instance may serve many
threads at once.
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from knm import errors
from knm.record import PhoneNumber
from knm.secrets import MASK, is_secret_key, masked, scrub
from knm.values import SearchOptions, SearchResult, StoreQuery

if TYPE_CHECKING:
    from knm.carriers.features import Address, AddressCheck, FeatureStatus
    from knm.carriers.orders import OrderStatus, WebhookEvent

__all__ = ["MASK", "Carrier", "ScrubbedCause", "SearchOptions", "SearchResult", "Setting",
           "StoreQuery",
           "full_name", "is_secret_key", "merge_carrier_data", "new_order_reference",
           "short_name"]

#: carrier-data keys the operations layer owns (SPEC §5.1): written before a carrier call and
#: read when settling; carriers set `order_id`/`disconnect_order_id` when the carrier gives one
KNM_KEYS = ("order_reference", "order_status", "disconnect_status", "order_id",
            "disconnect_order_id")


class ScrubbedCause(Exception):
    """What went wrong under a carrier error, as its `__cause__`: the original exception's
    type name and message with every secret masked. The original is not kept — a transport
    error may carry credentials in a URL (Vitelity sends them in the query string)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass(frozen=True)
class Setting:
    """One setting a carrier reads from `number_manager.<short>`.

    The declaration is the single source for validation, defaults, docs and masking.
    `aliases` are older names of the same setting (Kazoo's `api_uri` for `base_url`): a value
    given under an alias is read as the setting itself.
    """

    name: str
    type: type = str
    required: bool = False
    secret: bool = False
    default: Any = None
    description: str = ""
    aliases: tuple[str, ...] = ()


class Carrier(abc.ABC):
    """Base class of every carrier. Subclasses set `name` and the flags, and implement
    `find_numbers`, `acquire_number` and `disconnect_number` (SPEC §2: third-party carriers
    rely on these signatures). Carriers built on a template implement its hooks instead:
    `HttpCarrier` subclasses write `order_number` / `release_number` (the template's
    `acquire_number` / `disconnect_number` put the provisioning gate around them), and the
    store-backed ones inherit their search from `StoreBackedCarrier` and their no-op
    purchase and release from `BookkeepingCarrier`."""

    name: ClassVar[str] = ""
    #: flags (Kazoo's per-carrier answers)
    local: ClassVar[bool] = False
    billable: ClassVar[bool] = True
    lookup_cnam: ClassVar[bool] = True
    maximal_prefix_length: ClassVar[int] = 15
    #: settings this carrier reads; drives validation and masking
    settings: ClassVar[tuple[Setting, ...]] = ()
    #: True for carriers that answer from knm's own database with no network I/O: a search
    #: runs them in the calling thread (a thread hop costs more than their query)
    answers_from_store: ClassVar[bool] = False
    #: True when its search results are numbers knm does not hold yet (state `discovery`):
    #: buying one needs the carrier data the search cached. False for carriers offering rows
    #: already in `knm_numbers` (local, inventory, reserved)
    discovers: ClassVar[bool] = True
    #: what the carrier can do, for docs/carriers.md and `knm carriers`; `e911` and `cnam`
    #: say it implements the number features below (SPEC §13)
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: the features (`e911`, `cnam`) whose status read can answer for a save whose process
    #: died mid-call (`features.INTERRUPTED` in the carrier data it is given): what the
    #: carrier holds for the number now, with the ids of it — not only a read by ids knm
    #: stored. A feature not listed leaves such a save listed in `knm orders` for an operator
    reads_interrupted: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = self.validate_config(dict(config or {}))

    # -- config --------------------------------------------------------------------------------

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Apply defaults and check types; a missing required key names itself in the error."""
        out = dict(config)
        for setting in cls.settings:
            value = out.get(setting.name)
            for alias in setting.aliases:
                if value in (None, "") and out.get(alias) not in (None, ""):
                    value = out.pop(alias)
                else:
                    out.pop(alias, None)
            if value in (None, ""):
                if setting.required:
                    raise errors.CarrierMisconfigured(cls.name, setting.name)
                out[setting.name] = setting.default
                continue
            out[setting.name] = _coerce(cls.name, setting, value)
        return out

    @classmethod
    def config_warnings(cls, config: Mapping[str, Any]) -> list[str]:
        """What in `config` (the settings as stored, before defaults) works today but needs an
        operator soon — a credential the carrier is retiring, a setting read by a legacy rule.
        Each text names the settings to change (never their values). `knm carriers` shows
        them and `knm serve` logs them at start-up; a config that is wrong is
        `validate_config`'s error instead. Default: none."""
        return []

    @classmethod
    def secret_keys(cls) -> set[str]:
        return {s.name for s in cls.settings if s.secret}

    def secrets(self) -> list[str]:
        """Every configured secret value, so error texts and logs can be scrubbed of them."""
        keys = self.secret_keys() | {k for k in self.config if is_secret_key(k)}
        return [str(v) for k, v in self.config.items() if k in keys and v not in (None, "")]

    def masked_config(self) -> dict[str, Any]:
        return masked(self.config, self.secret_keys())

    def scrub(self, text: Any) -> str | None:
        """`text` with this carrier's secrets masked, in every form they may take (raw,
        URL-encoded, XML- and JSON-escaped, inside an auth header)."""
        if text is None:
            return None
        return scrub(text, self.secrets())

    # -- the interface -------------------------------------------------------------------------

    @abc.abstractmethod
    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        """Numbers this carrier offers under `prefix` (E.164, e.g. `+1415`)."""

    @abc.abstractmethod
    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        """Buy `number` and route it here; return the record with carrier data added."""

    @abc.abstractmethod
    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        """Release `number` at the carrier."""

    def store_query(self, prefix: str, quantity: int, options: SearchOptions
                    ) -> StoreQuery | None:
        """Optional, for `answers_from_store` carriers: this search as one query of knm's
        database, so that it can share a round trip with the other carriers'. None: the
        search calls `find_numbers` instead."""
        return None

    # Kazoo's `knm_gen_carrier` flag callbacks: public API for Kazoo parity (a plugin ported
    # from Kazoo may override them); knm's own code reads the class flags.

    def should_lookup_cnam(self) -> bool:
        return self.lookup_cnam

    def is_number_billable(self, number: PhoneNumber) -> bool:
        return self.billable

    def is_local(self) -> bool:
        return self.local

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        raise errors.NotImplementedByCarrier(self.name)

    def info(self) -> dict[str, Any]:
        return {"maximal_prefix_length": self.maximal_prefix_length}

    def close(self) -> None:
        """Release pooled resources (HTTP clients); nothing to release by default."""
        return None

    # -- orders that are never lost (SPEC §5.1) ------------------------------------------------

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """What became of an unsettled purchase or release of `number` (its carrier data names
        the `order_reference`, maybe the `order_id`/`disconnect_order_id`): `complete`,
        `failed` or still `pending`. Only reads at the carrier — never orders or releases.
        Raise a `KnmError` when the carrier cannot be asked now. Default: this carrier cannot
        tell, so its unknown outcomes stay listed for an operator."""
        raise errors.NotImplementedByCarrier(self.name)

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """Optional, for settling many numbers at once: the carrier's rows of those of
        `numbers` the account holds, read from a listing of its holdings in at most `budget`
        requests (a thousand lost purchases then cost a few listing pages, not a lookup
        each). Each row is what `settle_held` takes. Only presence counts: a number the
        answer leaves out is settled on its own (`settle`), because a listing read page by
        page can skip a row that moved between pages, and "not held" decides that a purchase
        did not happen. Default: no listing ({}), every number asked on its own."""
        return {}

    def settle_held(self, number: PhoneNumber, row: Any) -> OrderStatus:
        """`settle(number)` for a number `held_listing` found, `row` being what it found:
        the same answer, without asking again whether the account holds it. Carriers that
        override `held_listing` implement it."""
        raise errors.NotImplementedByCarrier(self.name)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """The order events of one webhook request the carrier sent to knm. Raises
        `errors.Unauthenticated` when its signature or credentials do not verify and
        `errors.Invalid` for a body that cannot be read."""
        raise errors.NotImplementedByCarrier(self.name)

    # -- number features (SPEC §13): optional, declared by `e911` / `cnam` capabilities ----------

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        """The carrier's verdict on `address` for `number` (`valid`, `corrected` with its
        suggestions, `invalid` with its reason). Only reads at the carrier."""
        raise errors.NotImplementedByCarrier(self.name)

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        """Register `address` (already validated) as the number's emergency location:
        `PROVISIONED`, or `PENDING` when the carrier finishes later. Raise when the carrier
        refuses; a refusal must leave the carrier as it was (undo any step taken)."""
        raise errors.NotImplementedByCarrier(self.name)

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        """Remove the number's emergency location (`REMOVED`, or `PENDING` with the ids
        `emergency_status` reads when the carrier finishes later). Raise when refused."""
        raise errors.NotImplementedByCarrier(self.name)

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        """Where the number's emergency registration stands now (what settling a `PENDING`
        one reads; the ids it needs are in the number's carrier data). Only reads."""
        raise errors.NotImplementedByCarrier(self.name)

    def set_cnam(self, number: PhoneNumber, display_name: str | None) -> FeatureStatus:
        """List `display_name` as the number's outbound caller name (None: remove the
        listing)."""
        raise errors.NotImplementedByCarrier(self.name)

    def set_inbound_lookup(self, number: PhoneNumber, enabled: bool) -> FeatureStatus:
        """Turn the caller-name lookup of the number's inbound calls on or off."""
        raise errors.NotImplementedByCarrier(self.name)

    def cnam_status(self, number: PhoneNumber) -> FeatureStatus:
        """Where a `PENDING` caller-name change of the number stands now. Only reads."""
        raise errors.NotImplementedByCarrier(self.name)

    # -- what a carrier learnt ------------------------------------------------------------------

    def learn(self, number: PhoneNumber, data: Mapping[str, Any] | None) -> PhoneNumber:
        """Record carrier data learnt from the carrier on `number`: the one merge rule
        (`merge_carrier_data`: new values win, `None` removes a key)."""
        if data:
            number.set_carrier_data(merge_carrier_data(number.carrier_data, data))
        return number

    def order_reference(self, number: PhoneNumber) -> str:
        """The client reference to send with a purchase or release of `number`: the one the
        operations layer stored before the call (`carrier_data["order_reference"]`), else
        (a third-party caller) a new one, recorded on the number."""
        reference = number.carrier_data.get("order_reference")
        if isinstance(reference, str) and reference:
            return reference
        reference = new_order_reference()
        self.learn(number, {"order_reference": reference})
        return reference


def _coerce(carrier: str, setting: Setting, value: Any) -> Any:
    kind = setting.type
    try:
        if kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("true", "1", "yes", "on"):
                    return True
                if lowered in ("false", "0", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        if kind is list:
            return list(value) if not isinstance(value, str) else [value]
        if kind is dict:
            # `knm config set` hands every value over as text: a JSON object is accepted
            mapping = json.loads(value) if isinstance(value, str) else value
            if not isinstance(mapping, Mapping):
                raise TypeError(value)
            return dict(mapping)
        if kind is str:
            return str(value)
        return value
    except (TypeError, ValueError):
        raise errors.CarrierMisconfigured(
            carrier, setting.name, f"must be of type {kind.__name__}"
        ) from None


def merge_carrier_data(current: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What a carrier learnt, merged into a record's carrier data: the new values win (a
    re-bought number must not keep an old `routesip`), a key set to `None` is removed."""
    out = dict(current)
    for key, value in new.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def new_order_reference() -> str:
    """A client reference valid at every carrier (`knm-` + 32 hex: ≤ 40 characters, letters,
    digits and dashes — Bandwidth `CustomerOrderId`, Telnyx `customer_reference`, VI `refId`)."""
    return f"knm-{uuid.uuid4().hex}"


def short_name(name: str) -> str:
    """`knm_telnyx` → `telnyx`."""
    return name.removeprefix("knm_")


def full_name(name: str) -> str:
    """`telnyx` → `knm_telnyx`; a full name is returned as it is."""
    return name if name.startswith("knm_") else f"knm_{name}"
