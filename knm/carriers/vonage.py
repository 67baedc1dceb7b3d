"""knm_vonage: Vonage (Nexmo) Numbers API — `number/search`, `buy`, `update`, `cancel`.

`https://rest.nexmo.com`, HTTP Basic `api_key:api_secret`, form-encoded POSTs, JSON answers
(carriers/current-apis.md §8, audit §4.6). A search is `GET /number/search?country=…&pattern=
<digits with the country code>&search_pattern=0` (pages of ≤ 100 by `index`); a purchase
`POST /number/buy` and a release `POST /number/cancel` (form `country`, `msisdn` — digits
without `+`); routing `POST /number/update` with `app_id` (a Vonage application) or
`voiceCallbackType=sip` + `voiceCallbackValue` (a SIP URI).

Every one of those answers `{"error-code": "200", "error-code-label": "success"}` on success —
**and a failure may come as HTTP 200 too**, with another `error-code` (`420` "method failed";
Vonage also sends it as HTTP 420). knm reads the body of every answer: a code other than
"200" is a refusal (the carrier read the request and said no), an answer to a purchase or
release without any `error-code` is unreadable, hence unsettled. A `420` to `number/buy` is
`number_unavailable`: it is Vonage's answer to a number it will not sell to the account
(taken, not in stock — and, by a Nexmo CLI report, also an account without credit).

Vonage takes no client reference. Purchases and releases are synchronous; one whose answer
was lost is settled by whether the account holds the number
(`GET /account/numbers?pattern=<msisdn>&search_pattern=0`, exact match kept). Such a purchase
never had its `number/update`, so settling sends it when the held number is not routed as
configured (the one write settling does: idempotent, it neither buys nor releases).

**E911** (reference/e911-cnam.md §2 "Vonage"; Vonage/vonage-dotnet-sdk@8cad0859
`Vonage/Voice/Emergency/*` and its tests, developer.vonage.com/en/api/emergency and
/api/addresses): Vonage's newer APIs live on `https://api.nexmo.com` (setting
`api_base_url`; a `base_url` pointed elsewhere — a simulator — serves them too), JSON, the
same HTTP Basic `api_key:api_secret`. An emergency location is an address resource
(`POST /v1/addresses` `{address_name, address_line1, address_line2, city, region,
postal_code, country, type: "emergency", address_location_type}` → the address with its
`id`; `DELETE /v1/addresses/{id}` → 204) assigned to the number by `PATCH
/v1/emergency/numbers/{msisdn}` `{"address": {"id"}, "contact_name"}`, answered
synchronously with the number's emergency information (`{number, contact_name,
address}`, also `GET` there): PROVISIONED once assigned, no asynchronous state. Vonage has
no validation call, so knm validates as Vonage does, by creating the address: a trial one
(refused, 400/422 with an RFC 7807 body: invalid; kept in another place: corrected, offered
as a choice), deleted at once. Provisioning creates the address, assigns it; a refused
assignment deletes the address just created, one whose answer was lost is checked at once
on the number (only a failing check leaves it PENDING, settled by `emergency_status`); an
assigned one deletes knm's previous address (carrier data `vonage_e911_address_id`; an
address made outside knm is never touched). Removal unassigns (`DELETE
/v1/emergency/numbers/{msisdn}`, unverified) and deletes knm's address. Vonage lists no
caller names per number: no `cnam` capability.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx
import phonenumbers

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.features import (
    INTERRUPTED,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    AddressCheck,
    FeatureStatus,
)
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import (
    OrderStatus,
    held_in_pages,
    settled_by_holding,
    settled_registration,
)
from knm.carriers.payloads import ERROR_PREFIX_BYTES
from knm.phone import is_us_tollfree, nanp_digits, region_of
from knm.record import PhoneNumber

NAME = "knm_vonage"
SUCCESS = "200"
METHOD_FAILED = "420"
#: most numbers per search page (Vonage's `size` bound)
PAGE_SIZE = 100
#: owned-number rows read per lookup (`pattern` + `search_pattern=0` is a prefix match)
LOOKUP_PAGE_SIZE = 100
NANP_COUNTRIES = ("US", "CA")
#: Vonage's error codes that mean more than "refused" (in a 200 body or an error body)
CODE_CLASSES: dict[str, type[errors.CarrierFault]] = {
    "401": errors.CarrierCredentials, "403": errors.CarrierCredentials,
    "429": errors.RateLimited}
#: SearchOptions.extra flag → Vonage feature
FEATURES = {"sms": "SMS", "voice": "VOICE", "mms": "MMS"}
#: the root of Vonage's newer APIs (addresses, emergency calling)
API_BASE_URL = "https://api.nexmo.com"
ADDRESSES = "/v1/addresses"
EMERGENCY_NUMBERS = "/v1/emergency/numbers"
#: statuses with which Vonage refuses an address it is asked to create (an answer, not a
#: failure, when knm validates)
ADDRESS_REFUSED = (400, 422)
LOCATION_TYPES = ("business", "residential")
#: Vonage's `address_name`: 2 to 32 characters
MAX_ADDRESS_NAME = 32


# -- pure request building ---------------------------------------------------------------------


def search_country(prefix: str, options: SearchOptions) -> str | None:
    """The `country` a search under `prefix` asks for: the search's own NANP country for
    `+1`, else the dial code's region."""
    if nanp_digits(prefix) is not None:
        return options.country if options.country in NANP_COUNTRIES else "US"
    return region_of(prefix)


def search_params(prefix: str, country: str, quantity: int, options: SearchOptions,
                  index: int = 1) -> dict[str, str]:
    """`number/search` parameters of page `index` under E.164 `prefix` (the pattern keeps the
    country code, as Vonage's starts-with pattern wants)."""
    params: dict[str, str] = {"country": country, "size": str(min(max(1, quantity), PAGE_SIZE)),
                              "index": str(index)}
    digits = prefix.lstrip("+")
    dial = str(phonenumbers.country_code_for_region(country) or "")
    if len(digits) > len(dial):
        params["pattern"], params["search_pattern"] = digits, "0"
    elif options.extra.get("contains"):
        params["pattern"], params["search_pattern"] = str(options.extra["contains"]), "1"
    nanp = nanp_digits(prefix)
    if options.extra.get("tollfree") or (nanp is not None and is_us_tollfree(nanp)):
        params["type"] = "landline-toll-free"
    elif options.extra.get("mobile"):
        params["type"] = "mobile-lvn"
    features = [name for key, name in FEATURES.items() if options.extra.get(key)]
    if features:
        params["features"] = ",".join(sorted(features))
    return params


def number_form(number: str, country: str) -> dict[str, str]:
    """The form naming one number at Vonage (buy, cancel, update)."""
    return {"country": country, "msisdn": number.lstrip("+")}


def routing_form(number: str, country: str, config: Mapping[str, Any]) -> dict[str, str]:
    """The `number/update` form routing `number` here: to the application when `app_id` is
    set, else to the SIP URI."""
    form = number_form(number, country)
    if config.get("app_id"):
        form["app_id"] = str(config["app_id"])
    else:
        form["voiceCallbackType"], form["voiceCallbackValue"] = "sip", str(config["sip_uri"])
    return form


def lookup_params(number: str) -> dict[str, str]:
    return {"pattern": number.lstrip("+"), "search_pattern": "0",
            "size": str(LOOKUP_PAGE_SIZE)}


# -- pure response parsing ---------------------------------------------------------------------


def status_of(doc: Any) -> tuple[str, str] | None:
    """(`error-code`, `error-code-label`) of a Vonage status document; None for a body that
    carries no code (a search page, a listing)."""
    if not isinstance(doc, dict) or "error-code" not in doc:
        return None
    return str(doc["error-code"]), str(doc.get("error-code-label") or "")


def described(code: str, label: str) -> str:
    return f"{label} (error-code {code})" if label else f"error-code {code}"


def error_message(body: bytes) -> str | None:
    """The message of an error body in Vonage's shape, or None for another shape."""
    try:
        status = status_of(json.loads(body))
    except ValueError:
        return None
    return None if status is None else described(*status)


def to_results(doc: Any, prefix: str, currency: str, contains: str = ""
               ) -> tuple[list[SearchResult], int]:
    """One search page's results under `prefix` (and holding the digits `contains`, which
    Vonage's one pattern could not also ask for), and how many numbers matched in all
    (`count`); `ValueError` for an answer that is not a search page."""
    if not isinstance(doc, dict) or "count" not in doc:
        raise ValueError("search answer without count")
    rows = doc.get("numbers") or []  # Vonage leaves `numbers` out when nothing matched
    if not isinstance(rows, list):
        raise ValueError("search answer whose numbers are not a list")
    out: list[SearchResult] = []
    for row in rows:
        if not isinstance(row, dict) or not str(row.get("msisdn") or "").isdigit():
            continue
        number = "+" + str(row["msisdn"])
        if not number.startswith(prefix) or (contains and contains not in number[1:]):
            continue
        data = {k: row[k] for k in ("country", "type", "features") if k in row}
        locality = {"country": row["country"]} if row.get("country") else None
        out.append(SearchResult(number, NAME, carrier_data=data, locality=locality,
                                price=_price(row.get("cost"), currency)))
    try:
        count = int(doc["count"])
    except (TypeError, ValueError):
        raise ValueError("search answer whose count is not a number") from None
    return out, count


def held_row(doc: Any, number: str) -> dict[str, Any] | None:
    """The account's row for exactly `number` in an `/account/numbers` page, if any."""
    if not isinstance(doc, dict) or "count" not in doc:
        raise ValueError("account numbers answer without count")
    rows = doc.get("numbers") or []
    if not isinstance(rows, list):
        raise ValueError("account numbers answer whose numbers are not a list")
    msisdn = number.lstrip("+")
    return next((r for r in rows if isinstance(r, dict) and str(r.get("msisdn")) == msisdn),
                None)


def _json_or_none(content: bytes) -> Any:
    """A body's JSON, None when it is not JSON (its reason is then unknown)."""
    try:
        return json.loads(content or b"null")
    except ValueError:
        return None


def _price(cost: Any, currency: str) -> dict[str, str] | None:
    """Vonage's `cost` (the monthly rental) as knm's price, when it is a number."""
    if cost is None or isinstance(cost, bool):
        return None
    try:
        monthly = Decimal(str(cost))
    except (InvalidOperation, ValueError):
        return None
    return {"currency": currency, "monthly": str(monthly)} if monthly.is_finite() else None


# -- pure: emergency addresses -----------------------------------------------------------------


def address_body(address: Address, number: str, location_type: str = "business",
                 *, trial: bool = False) -> dict[str, str]:
    """The `POST /v1/addresses` body of an emergency address for `number` (`address_name`
    names the number, within Vonage's 32 characters; a trial one — a validation — says so)."""
    label = f"knm {'check ' if trial else ''}{number}"[:MAX_ADDRESS_NAME]
    body = {"address_name": label, "address_line1": address.street_address,
            "city": address.locality, "region": address.region,
            "postal_code": address.postal_code, "country": address.country.upper(),
            "type": "emergency", "address_location_type": location_type}
    if address.extended_address:
        body["address_line2"] = address.extended_address
    return body


def assignment_body(address_id: str, address: Address) -> dict[str, Any]:
    """The `PATCH /v1/emergency/numbers/{msisdn}` body: the address and the contact (the
    name on the 911 record; Vonage requires one)."""
    return {"address": {"id": address_id},
            "contact_name": address.caller_name or "Valued Customer"}


def address_id_of(doc: Any) -> str:
    """The `id` of an address answer; `ValueError` without one."""
    if not isinstance(doc, dict) or not str(doc.get("id") or "").strip():
        raise ValueError("address answer without an id")
    return str(doc["id"])


def from_vonage(doc: Any, given: Address) -> Address:
    """The address a Vonage address resource holds, the parts it leaves out taken from
    `given` (the caller name is always `given`'s: Vonage keeps it on the number)."""
    doc = doc if isinstance(doc, dict) else {}

    def part(key: str, fallback: str) -> str:
        value = doc.get(key)
        return " ".join(value.split()) if isinstance(value, str) and value.strip() \
            else fallback

    return Address(street_address=part("address_line1", given.street_address),
                   extended_address=part("address_line2", given.extended_address),
                   locality=part("city", given.locality),
                   region=part("region", given.region).upper(),
                   postal_code=part("postal_code", given.postal_code),
                   country=part("country", given.country).upper(),
                   caller_name=given.caller_name)


def assigned_address(doc: Any) -> str | None:
    """The id of the address a number's emergency information names (None: none)."""
    if not isinstance(doc, dict):
        raise ValueError("emergency answer that is not an object")
    address = doc.get("address")
    if address is None:
        return None
    if not isinstance(address, dict):
        raise ValueError("emergency answer whose address is not an object")
    found = address.get("id")
    return str(found) if found not in (None, "") else None


def problem_message(doc: Any) -> str | None:
    """The text of an RFC 7807 problem (Vonage's newer APIs: `type`, `title`, `detail`,
    `instance`, maybe `invalid_parameters[{name, reason}]`); None for another shape."""
    if not isinstance(doc, dict) or not ("title" in doc or "detail" in doc):
        return None
    parts = [str(doc[k]) for k in ("title", "detail") if isinstance(doc.get(k), str)
             and doc[k].strip()]
    text = ": ".join(dict.fromkeys(parts))
    rows = doc.get("invalid_parameters")
    reasons = [f"{r.get('name')}: {r.get('reason')}" for r in rows or []
               if isinstance(r, dict) and r.get("reason")] if isinstance(rows, list) else []
    if reasons:
        text = f"{text} ({'; '.join(reasons)})" if text else "; ".join(reasons)
    return text or None


def to_address_check(status: int, doc: Any, given: Address) -> AddressCheck:
    """What creating a trial address says of `given`: refused (400/422) `invalid` with
    Vonage's reason; kept as the same place `valid` (as Vonage spelt it); kept elsewhere
    `corrected`, Vonage's spelling the one suggestion."""
    if status in ADDRESS_REFUSED:
        return AddressCheck("invalid", given, message=problem_message(doc) or
                            "Vonage could not validate the address")
    kept = from_vonage(doc, given)
    if kept.same_place(given):
        return AddressCheck("valid", kept)
    return AddressCheck("corrected", given, [kept],
                        message=f"Vonage would register {kept.lines()}")


# -- the carrier ---------------------------------------------------------------------------------


class Vonage(HttpCarrier):
    """Vonage numbers (many countries), routed to a Vonage application (`app_id`) or a SIP
    URI (`sip_uri`)."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = "https://rest.nexmo.com"
    #: national digits a search prefix may have (Kazoo's `maximal_prefix_length`)
    maximal_prefix_length: ClassVar[int] = 10
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "search_mobile", "international",
         "buy", "release", "check", "locality", "settle", "e911"})
    reads_interrupted: ClassVar[frozenset[str]] = frozenset({"e911"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("api_key", required=True, description="API key (Basic-auth user)"),
        Setting("api_secret", required=True, secret=True,
                description="API secret (Basic-auth password)"),
        Setting("app_id", description="Vonage application bought numbers route to; this or "
                                      "`sip_uri` is needed to buy"),
        Setting("sip_uri", description="SIP URI bought numbers route to "
                                       "(`voiceCallbackType=sip`) when no `app_id` is set"),
        Setting("currency", default="EUR",
                description="currency of the `cost` Vonage quotes (your account's)"),
        Setting("max_search_pages", int, default=1,
                description="most `number/search` pages (of 100) read one after another for "
                            "one search (each costs a round trip of the search's deadline)"),
        Setting("api_base_url", description="root of Vonage's addresses and emergency APIs "
                                            f"(default {API_BASE_URL}, or `base_url` when "
                                            "that points elsewhere: a simulator)"),
        Setting("address_location_type", default="business",
                description="`address_location_type` of the emergency addresses knm creates "
                            "(`business` or `residential`)"),
    )

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": self.basic_auth(str(self.config["api_key"]),
                                                 str(self.config["api_secret"])),
                "Accept": "application/json"}

    def extract_error_message(self, response: httpx.Response) -> str | None:
        own = error_message(response.content[:ERROR_PREFIX_BYTES])
        if own is None:
            own = problem_message(_json_or_none(response.content[:ERROR_PREFIX_BYTES]))
        return own if own is not None else super().extract_error_message(response)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        try:
            status = status_of(json.loads(response.content[:ERROR_PREFIX_BYTES]))
        except ValueError:
            return None
        return CODE_CLASSES.get(status[0]) if status else None

    def check_reply(self, response: httpx.Response, body: Any) -> None:
        """A 200 whose `error-code` is not "200" is Vonage saying no."""
        status = status_of(body)
        if status is not None and status[0] != SUCCESS:
            error = self.refusal(described(*status), status=response.status_code,
                                 default=CODE_CLASSES.get(status[0], errors.CarrierFault))
            error.vonage_code = status[0]  # type: ignore[attr-defined]
            raise error

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        country = search_country(prefix, options)
        if country is None:
            return []
        currency = str(self.config.get("currency") or "EUR")
        first = search_params(prefix, country, quantity, options)
        contains = str(options.extra.get("contains") or "")
        # a prefix takes Vonage's one pattern: `contains` is then filtered here, from full
        # pages (a page of `quantity` would rarely hold `quantity` such numbers)
        unsent = contains if first.get("search_pattern") == "0" and contains.isdigit() else ""
        size = PAGE_SIZE if unsent else quantity
        found: list[SearchResult] = []
        pages = max(1, int(self.config.get("max_search_pages") or 1))
        for index in range(1, pages + 1):
            params = search_params(prefix, country, size, options, index)
            doc = self.call("GET", "/number/search", params=params, deadline=options.deadline)
            page, count = self.parsed(to_results, doc, prefix, currency, unsent)
            found += page
            if len(found) >= quantity or index * int(params["size"]) >= count:
                break
        return found[:quantity]

    # -- purchase, release --------------------------------------------------------------------

    def routing_setting(self) -> str:
        """The routing setting in use; `CarrierMisconfigured` before anything is bought when
        neither is set."""
        if self.config.get("app_id"):
            return "app_id"
        if self.config.get("sip_uri"):
            return "sip_uri"
        raise errors.CarrierMisconfigured(self.name, "app_id",
                                          "(or sip_uri) is required to buy numbers")

    def can_route(self) -> bool:
        return bool(self.config.get("app_id") or self.config.get("sip_uri"))

    def country_of(self, number: PhoneNumber) -> str:
        """The country Vonage sells `number` in: the one its search said, else the number's."""
        country = number.carrier_data.get("country") or region_of(number.number)
        if not country:
            raise errors.Invalid("number", f"{number.number}: no country for this number")
        return str(country)

    def submit(self, path: str, form: dict[str, str], number: str, *,
               method_failed: type[errors.CarrierFault] = errors.CarrierFault) -> None:
        """POST a form whose answer is a status document. Vonage's "method failed" (420, in
        a 200 or as HTTP 420) is raised as `method_failed`; an answer without a status is
        unreadable (`MalformedResponse`: Vonage may have acted)."""
        try:
            doc = self.call("POST", path, data=form, number=number)
        except errors.CarrierFault as exc:
            code = getattr(exc, "vonage_code", None) or (
                METHOD_FAILED if exc.status == 420 else None)
            if code == METHOD_FAILED and type(exc) is errors.CarrierFault:
                raise self.fault(method_failed, exc.carrier_message, number=number,
                                 status=exc.status, unsettled=False) from None
            raise
        if status_of(doc) is None:
            raise self.fault(errors.MalformedResponse, "answer without an error-code",
                             number=number)

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        self.routing_setting()
        country = self.country_of(number)
        self.submit("/number/buy", number_form(num, country), num,
                    method_failed=errors.NumberUnavailable)
        self.learn(number, {"country": country})
        return self.learn(number, self.route(num, country))

    def route(self, number: str, country: str) -> dict[str, Any]:
        """Route a bought number by `number/update`; what became of it, as carrier data. A
        failure is recorded, not raised: the number is bought."""
        setting = self.routing_setting()
        try:
            self.submit("/number/update", routing_form(number, country, self.config), number)
        except errors.KnmError as exc:
            status = "unknown" if exc.unsettled else "failed"
            self.log.warning("%s: %s bought but not routed (%s): %s", self.name, number,
                             status, self.scrub(exc))
            return {"routing_status": status}
        return {"routing_status": "routed", setting: self.config[setting]}

    def routed(self, row: Mapping[str, Any]) -> bool:
        """Whether the account's row for a number routes it as configured."""
        if self.routing_setting() == "app_id":
            return row.get("app_id") == self.config["app_id"]
        return (row.get("voiceCallbackType") == "sip"
                and row.get("voiceCallbackValue") == self.config["sip_uri"])

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        self.submit("/number/cancel", number_form(num, self.country_of(number)), num)
        return number

    # -- number features (SPEC §13): E911 ------------------------------------------------------

    def api_url(self, path: str) -> str:
        """`path` on the root of Vonage's newer APIs: `api_base_url`, else `base_url` when it
        is not Vonage's own (a simulator, a proxy serving both), else api.nexmo.com."""
        root = str(self.config.get("api_base_url") or "").rstrip("/")
        if not root:
            base = str(self.config.get("base_url") or "").rstrip("/")
            root = base if base and base != self.default_base_url else API_BASE_URL
        return root + path

    def _emergency_path(self, number: str) -> str:
        return self.api_url(f"{EMERGENCY_NUMBERS}/{number.lstrip('+')}")

    def _location_type(self) -> str:
        kind = str(self.config.get("address_location_type") or "business").lower()
        if kind not in LOCATION_TYPES:
            raise errors.CarrierMisconfigured(self.name, "address_location_type",
                                              f"must be one of {', '.join(LOCATION_TYPES)}")
        return kind

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        """Vonage validates when it creates an address: a trial one, compared with the address
        given, then deleted (a refusal is the verdict `invalid`)."""
        num = number.number
        response = self.request("POST", self.api_url(ADDRESSES), number=num,
                                json=address_body(address, num, self._location_type(),
                                                  trial=True),
                                accept=ADDRESS_REFUSED)
        if response.status_code in ADDRESS_REFUSED:
            return to_address_check(response.status_code, _json_or_none(response.content),
                                    address)
        doc = self.parse_reply(response, number=num)
        if isinstance(doc, dict) and doc.get("id"):
            self._forget_address(str(doc["id"]), num)
        return to_address_check(response.status_code, doc, address)

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        """Create the address, assign it; a refused assignment deletes the address (Vonage is
        left as it was), a lost answer is checked on the number at once."""
        num = number.number
        created = self.call("POST", self.api_url(ADDRESSES), number=num,
                            json=address_body(address, num, self._location_type()))
        address_id = self.parsed(address_id_of, created, number=num)
        registered = from_vonage(created, address)
        previous = number.carrier_data.get("vonage_e911_address_id")
        previous = str(previous) if previous and str(previous) != address_id else None
        learnt = {"vonage_e911_address_id": address_id, "vonage_e911_previous_id": previous}
        try:
            doc = self.call("PATCH", self._emergency_path(num), number=num,
                            json=assignment_body(address_id, address))
            held = self.parsed(assigned_address, doc, number=num)
        except errors.KnmError as exc:
            if not exc.unsettled:  # refused: the number keeps what it had
                self._forget_address(address_id, num)
                raise
            try:
                held = self._assigned(num)
            except errors.KnmError:  # cannot tell now: settling reads the number later
                return FeatureStatus(PENDING, "unknown", learnt, registered,
                                     message=self.scrub(str(exc)))
            if held != address_id:  # it did not take: undo, answer the failure
                self._forget_address(address_id, num)
                raise
        if held != address_id:
            self._forget_address(address_id, num)
            raise self.refusal(f"Vonage assigned {held or 'no address'} to {num}, not the "
                               f"address {address_id} knm created", number=num)
        if previous:
            self._forget_address(previous, num)
        return FeatureStatus(PROVISIONED, "assigned", {**learnt, "vonage_e911_previous_id":
                                                       None}, registered)

    def _assigned(self, number: str) -> str | None:
        """The id of the address Vonage holds for `number` (`GET` its emergency
        information; a 404 — no emergency information — is none)."""
        response = self.request("GET", self._emergency_path(number), number=number,
                                accept=(404,))
        if response.status_code == 404:
            return None
        return self.parsed(assigned_address, self.parse_reply(response, number=number),
                           number=number)

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        """Whether the number holds the address knm assigned. Settling an assignment whose
        answer was lost also finishes it — the address that lost is deleted (knm's own, used
        by no number): the one write it does."""
        num = number.number
        held = self._assigned(num)
        if number.carrier_data.get(INTERRUPTED):  # a save that died: what Vonage holds now
            if not held:
                return FeatureStatus(REMOVED, "not assigned")
            doc = self.call("GET", self.api_url(f"{ADDRESSES}/{held}"), number=num)
            return FeatureStatus(PROVISIONED, "assigned", {
                "vonage_e911_address_id": held, "vonage_e911_previous_id": None},
                from_vonage(doc, Address("", "", "", "", country="")))
        return settled_registration(
            held, number.carrier_data.get("vonage_e911_address_id"),
            number.carrier_data.get("vonage_e911_previous_id"),
            forget=lambda record: self._forget_address(record, num),
            keys=("vonage_e911_address_id", "vonage_e911_previous_id"),
            words=("Vonage", "address", "assigned", "not assigned"))

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        """Unassign the number's emergency address, then delete knm's address (a failure to
        delete only leaves an unused address in the account)."""
        num = number.number
        try:
            self.request("DELETE", self._emergency_path(num), number=num)
        except errors.CarrierNotFound:  # nothing assigned (or no such number): removed
            self.log.info("%s: %s had no emergency address to unassign", self.name, num)
        for key in ("vonage_e911_address_id", "vonage_e911_previous_id"):
            if number.carrier_data.get(key):
                self._forget_address(str(number.carrier_data[key]), num)
        return FeatureStatus(REMOVED, "unassigned", {"vonage_e911_address_id": None,
                                                     "vonage_e911_previous_id": None})

    def _forget_address(self, address_id: str, number: str) -> None:
        """Delete an address knm created and no longer uses; a failure only leaves an unused
        address in the account."""
        try:
            self.request("DELETE", self.api_url(f"{ADDRESSES}/{address_id}"), number=number)
        except errors.KnmError as exc:
            self.log.warning("%s: address %s of %s not deleted: %s", self.name, address_id,
                             number, self.scrub(exc))

    # -- check, settle ------------------------------------------------------------------------

    def held(self, number: str) -> dict[str, Any] | None:
        """The account's row for `number`, if it holds it."""
        doc = self.call("GET", "/account/numbers", params=lookup_params(number), number=number)
        return self.parsed(held_row, doc, number, number=number)

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` for each number the account holds; others are left out."""
        return {num: "in_service" for num in numbers if self.held(num) is not None}

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Purchases and releases are synchronous: settled by whether the account holds the
        number. A purchase whose answer was lost never got its `number/update`, so a held
        number not routed as configured is routed now (idempotent: nothing is bought or
        released)."""
        return self.settle_held(number, self.held(number.number))

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """The account's numbers, a hundred a page (`index` from 1, until `count`)."""
        def pages() -> Iterator[list[Any]]:
            index, seen = 1, 0
            while True:
                doc = self.call("GET", "/account/numbers", params={
                    "size": str(LOOKUP_PAGE_SIZE), "index": str(index)})
                rows = doc.get("numbers") if isinstance(doc, dict) else None
                if not isinstance(rows, list) or not rows:
                    return
                yield rows
                seen += len(rows)
                if seen >= int(doc.get("count") or 0):
                    return
                index += 1
        return held_in_pages(pages(), numbers, budget,
                             lambda row: "+" + str(row.get("msisdn") or "").lstrip("+"))

    def settle_held(self, number: PhoneNumber, row: Any) -> OrderStatus:
        data: dict[str, Any] = {"country": row.get("country")} if row else {}
        return settled_by_holding(
            number, row, data, holder="account", held_status="held",
            routed=lambda: self.routed(row) if self.can_route() else None,
            route=lambda: self.route(number.number, str(row.get("country")
                                                        or self.country_of(number))))
