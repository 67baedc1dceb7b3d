"""What carriers say about number features: emergency addresses (E911) and caller names
(CNAM), in knm's words (SPEC §13).

A carrier that offers a feature declares it in `capabilities` (`"e911"`, `"cnam"`) and
implements the optional `Carrier` methods (`validate_address`, `set_emergency`,
`remove_emergency`, `emergency_status`; `set_cnam`, `set_inbound_lookup`, `cnam_status`).
They speak these values:

- `Address`: a dispatchable location in Kazoo's field names (`street_address`,
  `extended_address`, `locality`, `region`, `postal_code`, `country`) and the name shown to
  the emergency operator (`caller_name`);
- `AddressCheck`: the carrier's verdict on an address — `valid` (with the address as the
  carrier normalised it), `corrected` (the carrier suggests other addresses, each valid:
  Kazoo's `multiple_choice`) or `invalid` (with the carrier's reason);
- `FeatureStatus`: where a provisioning stands — `PROVISIONED`, `PENDING` (the carrier works
  on it: settled later, like an order), `ERROR` (the carrier failed it after accepting it) or
  `REMOVED` — with the carrier's own word, the carrier data learnt (ids of addresses and
  orders) and the address the carrier registered.

Only values live here: the carrier layer's templates and the operations above read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from knm import errors

__all__ = ["ADDRESS_FIELDS", "CAPABILITIES", "FEATURE_STATES", "INTERRUPTED", "OUTPUT_FIELDS",
           "Address", "AddressCheck", "FeatureStatus", "squeezed"]

#: the capability words of number features (a carrier's `capabilities` names them)
E911, CNAM = "e911", "cnam"
CAPABILITIES = (E911, CNAM)
#: an address as the user gives it, in Kazoo's `e911` keys (reference/e911-cnam.md §1.3)
ADDRESS_FIELDS = ("street_address", "extended_address", "locality", "region", "postal_code",
                  "country")
#: what a provider writes into `e911` (never sent to a carrier, never compared)
OUTPUT_FIELDS = ("status", "carrier_status", "message", "latitude", "longitude",
                 "location_id", "plus_four", "activated_time", "legacy_data", "order_id",
                 "comments", "full_street_address")
PROVISIONED, PENDING, ERROR, REMOVED = "PROVISIONED", "PENDING", "ERROR", "REMOVED"
#: carrier-data key set (on the copy a status read is given) when knm asks about a save whose
#: process died mid-call: its value is the feature (`e911`, `cnam`); the ids that save learnt
#: were never stored, so the status read answers what the carrier holds for the number now
INTERRUPTED = "interrupted"
FEATURE_STATES = (PROVISIONED, PENDING, ERROR, REMOVED)
VERDICTS = ("valid", "corrected", "invalid")
#: Crossbar's `phone_numbers` schema: `caller_name` at least 3 characters
MIN_CALLER_NAME = 3
MAX_FIELD = 100


def squeezed(text: str | None) -> str:
    """`text` upper-cased with its runs of spaces made one: how two spellings of one address
    are compared (`140 Geary St` and `140  GEARY ST` are the same place)."""
    return " ".join(str(text or "").split()).upper()


def _text(doc: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = doc.get(key)
    if value is None or value == "":
        if required:
            raise errors.Invalid(f"e911.{key}", f"e911.{key} is required")
        return ""
    if not isinstance(value, str):
        raise errors.Invalid(f"e911.{key}", f"e911.{key} must be a string")
    value = value.strip()
    if required and not value:
        raise errors.Invalid(f"e911.{key}", f"e911.{key} is required")
    if len(value) > MAX_FIELD:
        raise errors.Invalid(f"e911.{key}", f"e911.{key} is longer than {MAX_FIELD} characters")
    return value


@dataclass(frozen=True)
class Address:
    """A dispatchable location (Kazoo's `e911` fields) and the name on the 911 record."""

    street_address: str
    locality: str
    region: str
    postal_code: str
    extended_address: str = ""
    country: str = "US"
    caller_name: str = ""

    @classmethod
    def from_e911(cls, doc: Any) -> Address:
        """Read a public `e911` object as Crossbar's schema takes it: `street_address`,
        `locality`, `region` (2 letters), `postal_code` required; `caller_name` at least 3
        characters when given. `400 invalid` names the field otherwise."""
        if not isinstance(doc, Mapping):
            raise errors.Invalid("e911", "e911 must be an object")
        street = _text(doc, "street_address", required=True)
        locality = _text(doc, "locality", required=True)
        region = _text(doc, "region", required=True)
        if len(region) != 2 or not region.isalpha():
            raise errors.Invalid("e911.region", "e911.region must be a 2-letter state code")
        country = _text(doc, "country", required=False) or "US"
        if len(country) != 2 or not country.isalpha():
            raise errors.Invalid("e911.country", "e911.country must be a 2-letter ISO code")
        caller = _text(doc, "caller_name", required=False)
        if caller and len(caller) < MIN_CALLER_NAME:
            raise errors.Invalid("e911.caller_name",
                                 f"e911.caller_name must be at least {MIN_CALLER_NAME} "
                                 "characters")
        return cls(street_address=street, locality=locality, region=region.upper(),
                   postal_code=_text(doc, "postal_code", required=True),
                   extended_address=_text(doc, "extended_address", required=False),
                   country=country.upper(), caller_name=caller)

    def to_e911(self) -> dict[str, Any]:
        """The address in Kazoo's `e911` keys (the caller name when there is one)."""
        out: dict[str, Any] = {"street_address": self.street_address,
                               "extended_address": self.extended_address,
                               "locality": self.locality, "region": self.region,
                               "postal_code": self.postal_code, "country": self.country}
        if self.caller_name:
            out["caller_name"] = self.caller_name
        return out

    def place(self) -> tuple[str, ...]:
        """The location alone, spelling-insensitive: what decides whether two addresses are
        one (the caller name is not part of the place)."""
        return tuple(squeezed(getattr(self, key)) for key in ADDRESS_FIELDS)

    def same_place(self, other: Address | None) -> bool:
        return other is not None and self.place() == other.place()

    def with_caller_name(self, name: str) -> Address:
        return replace(self, caller_name=name)

    def lines(self) -> str:
        """One line for messages: `140 GEARY ST, SUITE 5, SAN FRANCISCO CA 94108`."""
        parts = [self.street_address, self.extended_address,
                 f"{self.locality} {self.region} {self.postal_code}".strip()]
        return ", ".join(p for p in parts if p)


@dataclass
class AddressCheck:
    """A carrier's verdict on an address: `valid` (`address` is what the carrier would
    register, normalised), `corrected` (`suggestions` are addresses it would take instead,
    each valid) or `invalid` (`message` says why)."""

    verdict: str
    address: Address
    suggestions: list[Address] = field(default_factory=list)
    message: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {self.verdict!r}")


@dataclass
class FeatureStatus:
    """Where a feature's provisioning stands at the carrier.

    `state`: `PROVISIONED`, `PENDING` (accepted, the carrier still works on it), `ERROR` (the
    carrier failed it after accepting it) or `REMOVED`. `carrier_status` is the carrier's own
    word (`active`, `RECEIVED`, …); `data` is carrier data to merge into the number's record
    (new values win, `None` removes: the ids a later status read or removal needs);
    `address` is what the carrier registered (E911), `message` says why, `extra` holds
    further outputs for the public `e911` (`latitude`, `plus_four`, …), and `refs` are the
    carrier's ids of work still pending (its orders), by which its webhooks name it.
    """

    state: str
    carrier_status: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    address: Address | None = None
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    refs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.state not in FEATURE_STATES:
            raise ValueError(f"feature state must be one of {FEATURE_STATES}, "
                             f"not {self.state!r}")

    @property
    def done(self) -> bool:
        return self.state != PENDING
