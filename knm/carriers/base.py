"""The carrier interface every carrier — built in or third-party — implements.

A carrier is a plain synchronous class: the facade runs carriers concurrently in threads, so
a third-party carrier needs no event loop and no knowledge of the others. A carrier holds
only its config (and, for HTTP carriers, a pooled client), so one instance may serve many
threads at once.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from knm import errors
from knm.carriers.orders import OrderStatus, WebhookEvent
from knm.record import PhoneNumber
from knm.secrets import MASK, is_secret_key, masked, scrub
from knm.values import SearchOptions, SearchResult, StoreQuery

__all__ = ["MASK", "Carrier", "SearchOptions", "SearchResult", "Setting", "StoreQuery",
           "full_name", "is_secret_key", "short_name"]


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
    `find_numbers`, `acquire_number` and `disconnect_number`."""

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
    #: what the carrier can do, for docs/carriers.md and `knm carriers`
    capabilities: ClassVar[frozenset[str]] = frozenset()

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

    def should_lookup_cnam(self) -> bool:
        return self.lookup_cnam

    def is_number_billable(self, number: PhoneNumber) -> bool:
        return self.billable

    def is_local(self) -> bool:
        return self.local

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        raise errors.NotImplementedByCarrier(self.name)

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """What became of a purchase or release whose outcome knm does not know (SPEC §5.1):
        `number.carrier_data` holds its `order_reference` and, when the carrier gave one, its
        order id. Only reads at the carrier, never orders or releases. A carrier that cannot
        tell leaves such numbers to an operator."""
        raise errors.NotImplementedByCarrier(self.name)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """The order notifications in one webhook request this carrier sent, after verifying
        it came from the carrier (`errors.Unauthenticated` when it does not verify,
        `errors.Invalid` when it cannot be read). Only carriers that push notifications
        implement it."""
        raise errors.NotImplementedByCarrier(self.name)

    def info(self) -> dict[str, Any]:
        return {"maximal_prefix_length": self.maximal_prefix_length}

    def close(self) -> None:
        """Release pooled resources (HTTP clients); nothing to release by default."""
        return None


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
        if kind is str:
            return str(value)
        return value
    except (TypeError, ValueError):
        raise errors.CarrierMisconfigured(
            carrier, setting.name, f"must be of type {kind.__name__}"
        ) from None


def short_name(name: str) -> str:
    """`knm_telnyx` → `telnyx`."""
    return name.removeprefix("knm_")


def full_name(name: str) -> str:
    """`telnyx` → `knm_telnyx`; a full name is returned as it is."""
    return name if name.startswith("knm_") else f"knm_{name}"
