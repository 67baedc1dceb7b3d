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
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import (
    OrderStatus,
    held_in_pages,
    settled_by_holding,
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


def _price(cost: Any, currency: str) -> dict[str, str] | None:
    """Vonage's `cost` (the monthly rental) as knm's price, when it is a number."""
    if cost is None or isinstance(cost, bool):
        return None
    try:
        monthly = Decimal(str(cost))
    except (InvalidOperation, ValueError):
        return None
    return {"currency": currency, "monthly": str(monthly)} if monthly.is_finite() else None


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
         "buy", "release", "check", "locality", "settle"})
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
    )

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": self.basic_auth(str(self.config["api_key"]),
                                                 str(self.config["api_secret"])),
                "Accept": "application/json"}

    def extract_error_message(self, response: httpx.Response) -> str | None:
        own = error_message(response.content[:ERROR_PREFIX_BYTES])
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
