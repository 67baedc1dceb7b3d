"""knm's errors: one root type whose JSON matches Kazoo's error documents.

Every failure a caller can see — from Python, the CLI or HTTP — is a `KnmError`. The code,
slug and message follow Kazoo's `knm_errors` so that clients written for Kazoo read them
unchanged; the `carrier` and `carrier_message` fields are knm's addition, because a user whose
purchase failed needs to know what the carrier said (Kazoo only logged it).

Constructors follow Kazoo's error functions, so they differ by kind: a number error takes the
number (`NotFound(number)`), `Invalid(cause, message)` the field at fault, a carrier error the
carrier first (`CarrierFault(carrier, carrier_message, number=…)`). `cause` is what Kazoo puts
there: the number for number and carrier errors, the field for `Invalid`.
"""

from __future__ import annotations

from typing import Any


class KnmError(Exception):
    """Root of every knm error.

    Subclasses fix `code`, `error` (the slug) and usually the message; the constructor lets a
    caller override any of them, which is how the generic Kazoo fallbacks are expressed.
    """

    code: int = 500
    error: str = "unspecified_fault"
    default_message: str = "unspecified_fault"
    #: SPEC §5.1: did a purchase or release at a carrier end with an outcome knm cannot know
    #: (the carrier may have acted)? False: refused, nothing happened. Only carrier errors are
    #: ever unsettled; see `CarrierFault`
    unsettled: bool = False
    #: set by the purchase protocol when it kept the number for settling after this error
    kept_unsettled: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        cause: Any = None,
        carrier: str | None = None,
        carrier_message: str | None = None,
        code: int | None = None,
        error: str | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if error is not None:
            self.error = error
        self.message = message if message is not None else self.default_message
        self.cause = None if cause is None else str(cause)
        self.carrier = carrier
        self.carrier_message = carrier_message
        super().__init__(self.message)

    def to_json(self) -> dict[str, Any]:
        """Kazoo's error JSON: keys with no value are left out."""
        out: dict[str, Any] = {"code": self.code, "error": self.error}
        for key in ("cause", "message", "carrier", "carrier_message"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.kept_unsettled:
            out["unsettled"] = True
        return out

    def __str__(self) -> str:
        parts = [f"{self.code} {self.error}: {self.message}"]
        if self.cause:
            parts.append(f"({self.cause})")
        if self.carrier:
            parts.append(f"[{self.carrier}: {self.carrier_message or ''}]")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"


# --- Kazoo's errors ---------------------------------------------------------------------------


class _NumberError(KnmError):
    """A Kazoo error about one number: the number is the cause, the message says what."""

    template = "number {} is invalid"

    def __init__(self, number: str, **kw: Any) -> None:
        kw.setdefault("cause", number)
        super().__init__(self.template.format(number), **kw)


class NotFound(_NumberError):
    code, error = 404, "not_found"
    template = "number {} not found"


class NotDiscovered(NotFound):
    """A number to buy that knm does not hold and no recent search found. Bare "not found"
    left people who had just seen the number in a search (of another process, whose cache
    this one does not share) with nothing to do; this says what to do."""

    template = ("number {} not found: knm does not hold it and no search found it at a "
                "carrier in the last search_cache_ttl_s seconds; search for it first, on this "
                "database (or the same KNM_CACHE_URL), then buy it")


class NotReconcilable(_NumberError):
    code, error = 404, "not_reconcilable"
    template = "number {} is not reconcilable"


class NumberExists(_NumberError):
    code, error = 409, "number_exists"
    template = "number {} already exists"


class NumberIsPorting(_NumberError):
    code, error = 400, "number_is_porting"
    template = "number {} is porting"


class Conflict(KnmError):
    """Someone else changed the number between our read and our write (knm's optimistic
    versions; Kazoo's CouchDB answered the same situation with a 409 document conflict)."""

    code, error = 409, "conflict"

    def __init__(self, number: str, message: str | None = None) -> None:
        super().__init__(
            message or f"number {number} was changed concurrently; reload it and retry",
            cause=number,
        )


class NumberBusy(KnmError):
    """Another request is buying or releasing this number at its carrier right now.

    The slug is Kazoo's `number_exists` on purpose: a Kazoo client buying a number somebody
    else is buying gets the answer Kazoo gave a second buyer."""

    code, error = 409, "number_exists"  # Kazoo's slug for a second buyer, deliberately

    def __init__(self, number: str) -> None:
        super().__init__(
            f"number {number} is being acquired or released by another request", cause=number
        )


class Forbidden(KnmError):
    code, error = 403, "forbidden"
    default_message = "requestor is unauthorized to perform operation"

    def __init__(self, cause: str | None = None, **kw: Any) -> None:
        super().__init__(cause=cause, **kw)


class InvalidStateTransition(KnmError):
    code, error = 400, "invalid_state_transition"
    default_message = "invalid state transition"

    def __init__(self, from_state: str | None = None, to_state: str | None = None,
                 **kw: Any) -> None:
        if "cause" not in kw and to_state is not None:
            kw["cause"] = f"from {from_state or '(nothing)'} to {to_state}"
        super().__init__(**kw)


class NoChangeRequired(KnmError):
    code, error = 400, "no_change_required"
    default_message = "no change required"


class AssignFailure(KnmError):
    code, error = 400, "assign_failure"
    default_message = "invalid account to assign to"

    def __init__(self, cause: str = "field_undefined", **kw: Any) -> None:
        super().__init__(cause=cause, **kw)


class Invalid(KnmError):
    """Bad input. The cause names the field (or says what was wrong with it)."""

    code, error = 400, "invalid"
    default_message = "invalid"

    def __init__(self, cause: str, message: str | None = None, **kw: Any) -> None:
        super().__init__(message, cause=cause, **kw)


class InternalError(KnmError):
    code, error = 500, "internal_error"
    default_message = "internal_error"


# Kazoo's errors that knm itself does not raise (no billing, no credit checks): public API
# kept for Kazoo parity, so a plugin or an application written against Kazoo's `knm_errors`
# finds every one by its name and gets Kazoo's code and slug.


class ServiceRestriction(KnmError):
    """Kazoo's `service_restriction` (402): the account's service plan forbids the operation.
    Kazoo parity; knm raises it nowhere."""

    code, error = 402, "service_restriction"

    def __init__(self, number: str, message: str, **kw: Any) -> None:
        kw.setdefault("cause", number)
        super().__init__(message, **kw)


class NotEnoughCredit(KnmError):
    """Kazoo's `not_enough_credit` (402). Kazoo parity; knm has no billing and raises it
    nowhere."""

    code, error = 402, "not_enough_credit"

    def __init__(self, account_id: str, **kw: Any) -> None:
        super().__init__(
            f"account {account_id} does not have enough credit to perform the operation", **kw
        )


class UnspecifiedFault(KnmError):
    """Kazoo's `unspecified(Error, PN)`: a failure of no known kind. Kazoo parity; knm's own
    failures use a class that says what failed (most keep this slug, as Kazoo's did)."""

    code, error = 500, "unspecified_fault"


class DatabaseError(KnmError):
    """The store failed. Kazoo reported its database failures as `unspecified_fault`, so the
    slug stays; the message and cause say what failed."""

    code, error = 500, "unspecified_fault"  # Kazoo's slug; `database_error` is its message
    default_message = "database_error"


class CarrierNotSpecified(KnmError):
    code, error = 500, "unspecified_fault"
    default_message = "carrier_not_specified"


class Unauthenticated(KnmError):
    """No credentials, or credentials knm does not know (HTTP API)."""

    code, error = 401, "invalid_credentials"
    default_message = "invalid credentials"


# --- carrier errors (knm's additions) ---------------------------------------------------------
# One class per kind, each a few declarative lines (code, slug, message), here as for Kazoo's
# errors above: callers catch them by type, so the duplicate finder's same-shape pairs in this
# module are the table itself, not logic repeated.


class CarrierFault(KnmError):
    """A carrier refused or failed an operation. Kazoo's `by_carrier`, with what it said.

    `unsettled` (SPEC §5.1) says whether the carrier may have acted although knm got no clean
    answer. By default a parsed refusal (a 4xx with the carrier's error body, a 200 whose body
    says failure) is not, an answer of 5xx is; the timeout, unavailable and malformed
    subclasses are; the caller may say otherwise (`unsettled=False` for a connection that was
    refused: the request never reached the carrier).

    `operation` names what knm was asking the carrier to do (`search`, `acquire`,
    `disconnect`, `check`, `settle`); the facade sets it where the call enters the carrier
    layer, so one failure reads the same whichever caller saw it."""

    code, error = 500, "unspecified_fault"
    default_message = "fault by carrier"
    #: the carrier operation that failed (None: not known, e.g. a carrier called directly)
    operation: str | None = None
    #: True for the kinds whose outcome is unknown whatever the status (no answer, a broken
    #: connection, an unreadable body); others are unsettled only on a 5xx
    always_unsettled: bool = False

    def __init__(
        self,
        carrier: str,
        carrier_message: str | None = None,
        *,
        number: str | None = None,
        status: int | None = None,
        message: str | None = None,
        code: int | None = None,
        error: str | None = None,
        unsettled: bool | None = None,
        operation: str | None = None,
    ) -> None:
        self.number = number
        self.status = status
        if operation is not None:
            self.operation = operation
        self.unsettled = self._unsettled_by_default(status) if unsettled is None else unsettled
        super().__init__(
            message,
            cause=number,
            carrier=carrier,
            carrier_message=carrier_message,
            code=code,
            error=error,
        )

    @classmethod
    def _unsettled_by_default(cls, status: int | None) -> bool:
        return cls.always_unsettled or (status is not None and status >= 500)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.operation is not None:
            out["operation"] = self.operation
        return out


class CarrierTimeout(CarrierFault):
    """The carrier did not answer in time. When an order was placed and is still pending,
    `pending` is the number's record with the order's id in its carrier data: the purchase
    keeps it (state `discovery`), so a later check can settle an order the carrier may still
    complete."""

    code, error = 504, "carrier_timeout"
    default_message = "carrier did not answer in time"
    always_unsettled = True  # no answer: the carrier may have acted
    pending: Any = None  # a knm.PhoneNumber


class CarrierUnavailable(CarrierFault):
    code, error = 502, "carrier_unavailable"
    default_message = "carrier is unreachable or failing"
    always_unsettled = True  # a dropped connection may have delivered the request


class CarrierCredentials(CarrierFault):
    """The carrier refused our credentials (HTTP 401/403): an operator must fix the config."""

    code, error = 502, "carrier_credentials"
    default_message = "carrier rejected the configured credentials"


class NumberUnavailable(CarrierFault):
    """The carrier says the number can no longer be had (HTTP 409 or its own wording)."""

    code, error = 409, "number_unavailable"
    default_message = "number is no longer available at the carrier"


class CarrierNotFound(CarrierFault):
    code, error = 404, "not_found"
    default_message = "carrier does not know this resource"


class RateLimited(CarrierFault):
    code, error = 429, "rate_limited"
    default_message = "carrier rate limit reached"

    def __init__(self, carrier: str, carrier_message: str | None = None, *,
                 retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(carrier, carrier_message, **kw)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


class MalformedResponse(CarrierFault):
    code, error = 502, "carrier_malformed_response"
    default_message = "carrier answered with a body knm could not read"
    always_unsettled = True  # it answered, but what it did cannot be read


class ProvisioningDisabled(CarrierFault):
    code, error = 403, "provisioning_disabled"
    default_message = "provisioning is disabled for this carrier"


class CarrierMisconfigured(KnmError):
    """A carrier's settings are missing or of the wrong type; the cause names the key."""

    code, error = 500, "carrier_misconfigured"

    def __init__(self, carrier: str, key: str, problem: str = "is required") -> None:
        super().__init__(
            f"setting {key!r} of carrier {carrier} {problem}; set it with "
            f"`knm config set number_manager.{carrier.removeprefix('knm_')} {key} VALUE`",
            cause=key,
            carrier=carrier,
        )


class NotImplementedByCarrier(KnmError):
    code, error = 501, "not_implemented"
    default_message = "not implemented by this carrier"

    def __init__(self, carrier: str | None = None, **kw: Any) -> None:
        super().__init__(carrier=carrier, **kw)


class NotAvailable(KnmError):
    """A carrier has nothing to offer for a search (Kazoo's `not_available`): not a failure."""

    code, error = 404, "not_available"
    default_message = "no numbers available"


class SearchFailed(KnmError):
    """A search found no number while carriers it asked failed.

    An empty page would tell the caller "nothing to offer" when the truth is "could not ask":
    502 `carrier_unavailable`, or 504 `carrier_timeout` when every failure was a timeout.
    `carriers` is the per-carrier report (short name → outcome, seconds, count, error); it is
    part of the JSON so a client sees which carrier failed and what it said.
    """

    code, error = 502, "carrier_unavailable"

    def __init__(self, carriers: dict[str, dict[str, Any]]) -> None:
        failed = {name: report for name, report in carriers.items()
                  if report.get("outcome") != "answered"}
        names = sorted(failed)
        timeouts_only = bool(failed) and all(_is_timeout(r) for r in failed.values())
        only = (failed[names[0]].get("error") or {}) if len(names) == 1 else {}
        super().__init__(
            f"no number found: {', '.join(names)} "
            f"{'did not answer in time' if timeouts_only else 'failed'}",
            cause=", ".join(names) or None,
            carrier=only.get("carrier"),
            carrier_message=only.get("carrier_message"),
            code=504 if timeouts_only else 502,
            error="carrier_timeout" if timeouts_only else "carrier_unavailable",
        )
        self.carriers = carriers

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["carriers"] = self.carriers
        return out


def _is_timeout(report: dict[str, Any]) -> bool:
    """The search deadline ran out, or the carrier's own request timed out (504)."""
    return report.get("outcome") == "timed_out" or (report.get("error") or {}).get("code") == 504


# --- number features (SPEC §13): the answers Monster UI parses --------------------------------


class AddressInvalid(KnmError):
    """The carrier rejected an emergency address. Kazoo 3.x's shape, which Monster UI reads
    as "invalid address": `{"data": {"address": {"invalid": {"cause": <address given>,
    "message": <the carrier's reason>, "provider": <carrier>}}}, "error": "400",
    "message": "invalid data"}`."""

    code, error = 400, "invalid data"

    def __init__(self, address: dict[str, Any], reason: str, *, carrier: str | None = None
                 ) -> None:
        super().__init__(reason, carrier=carrier, carrier_message=reason)
        self.address = address

    def to_json(self) -> dict[str, Any]:
        """Kazoo's `data` (`address.invalid`), beside knm's usual keys."""
        invalid: dict[str, Any] = {"cause": self.address, "message": self.message}
        if self.carrier:
            invalid["provider"] = self.carrier
        out = {k: v for k, v in super().to_json().items() if k != "cause"}
        out["address"] = {"invalid": invalid}
        return out


class MultipleChoice(KnmError):
    """The carrier would take a corrected address instead of the one given. Kazoo 3.x's
    shape, where Monster UI finds the choices it offers: `{"data": {"multiple_choice":
    {"e911": {"cause": <address given>, "details": [<address>, …], "message": "more than
    one address found"}}}, "error": "400", "message": "multiple_choice"}`."""

    code, error = 400, "multiple_choice"
    default_message = "more than one address found"

    def __init__(self, address: dict[str, Any], details: list[dict[str, Any]], *,
                 carrier: str | None = None, carrier_message: str | None = None,
                 feature: str = "e911") -> None:
        super().__init__(carrier=carrier, carrier_message=carrier_message)
        self.address = address
        self.details = details
        self.feature = feature

    def to_json(self) -> dict[str, Any]:
        """Kazoo's `data` (`multiple_choice.e911`), beside knm's usual keys."""
        out = {k: v for k, v in super().to_json().items() if k != "cause"}
        out["multiple_choice"] = {self.feature: {
            "cause": self.address, "details": self.details, "message": self.message}}
        return out

    def __str__(self) -> str:
        choices = "; ".join(
            ", ".join(str(d.get(k)) for k in ("street_address", "extended_address",
                                              "locality", "region", "postal_code")
                      if d.get(k)) for d in self.details)
        return f"{super().__str__()} — the carrier suggests: {choices}"


class FeaturePending(KnmError):
    """A number feature's provisioning is still under way at the carrier: a second change
    would race the first (SPEC §13: asynchronous provisioning settles like orders)."""

    code, error = 409, "feature_pending"

    def __init__(self, number: str, feature: str) -> None:
        super().__init__(f"the {feature} provisioning of {number} is still pending at the "
                         "carrier; it is settled in the background (`knm orders settle`), "
                         "then it can be changed", cause=feature)
