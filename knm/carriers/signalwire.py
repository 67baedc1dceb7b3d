"""knm_signalwire: SignalWire's RELAY REST API (`/api/relay/rest/phone_numbers`), JSON.

The native API of a SignalWire space (`https://{space}.signalwire.com/api/relay/rest`, HTTP
Basic `project_id:api_token`; carriers/current-apis.md §5, audit §4.3): a search is
`GET phone_numbers/search` (`areacode`, `number_type`, one of `starts_with` / `contains` /
`ends_with` of 3–7 digits, `region`/`city`, `max_results` ≤ 100), a purchase
`POST phone_numbers {"number"}` (200, synchronous), routing `PUT phone_numbers/{id}` with a
`call_handler` and the field that handler reads, a release `DELETE phone_numbers/{id}` (204).

Routing is a second request after the purchase: the number is bought whatever that request
says, so a routing call that fails leaves the purchase done with `routing_status` `failed`
(or `unknown` when its answer was lost) and a warning, rather than an unsettled purchase.
The same request names the number after knm's `order_reference` (SignalWire takes no
reference with the purchase itself). A purchase or release whose answer was lost is settled by
whether the project holds the number (`GET phone_numbers?filter_number=`); a purchase settled
that way never had its routing request, so settling sends it when the number is not routed
as configured (the one write settling does: idempotent, it neither buys nor releases).

SignalWire sells US and Canadian numbers here; the `sip_gateway` handler (an external SIP
host) is "Fabric API only" and cannot be set through this API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier, classify_by_words
from knm.carriers.orders import (
    OrderStatus,
    held_in_pages,
    linked_pages,
    settled_by_holding,
)
from knm.phone import is_us_tollfree, nanp_digits
from knm.record import PhoneNumber

NAME = "knm_signalwire"
API_ROOT = "/api/relay/rest"
#: SignalWire's words for a number that cannot be bought (unverified wording)
UNAVAILABLE = ((("not available",), errors.NumberUnavailable),)
#: call_handler → the setting (SignalWire's own field name) saying where calls go; the
#: handlers that send calls somewhere an operator runs (not SignalWire's AI, video, …)
HANDLER_FIELDS = {
    "relay_sip_endpoint": "call_sip_endpoint_id",
    "laml_webhooks": "call_request_url",
    "laml_application": "call_laml_application_id",
    "relay_context": "call_relay_context",
    "relay_topic": "call_relay_topic",
    "relay_application": "call_relay_application",
    "call_flow": "call_flow_id",
}
#: most results one search returns
MAX_RESULTS = 100
#: owned-number rows read per lookup (`filter_number` matches digit substrings)
LOOKUP_PAGE_SIZE = 50
#: rows per page of a holdings listing
LISTING_PAGE_SIZE = 1000
#: provinces and territories: a result in one of them is a Canadian number
CANADIAN_REGIONS = frozenset({"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC",
                              "SK", "YT"})
#: SearchOptions.extra capability flags, checked against each result's `capabilities`
CAPABILITIES = ("voice", "sms", "mms", "fax")


# -- pure request building ---------------------------------------------------------------------


def space_base_url(space_url: str) -> str:
    """The RELAY REST root of a space given as `example`, `example.signalwire.com` or
    `https://example.signalwire.com`."""
    host = space_url.strip().rstrip("/").removeprefix("https://").removeprefix("http://")
    if "." not in host:
        host += ".signalwire.com"
    return f"https://{host}{API_ROOT}"


def search_params(digits: str, quantity: int, options: SearchOptions) -> dict[str, str]:
    """`phone_numbers/search` parameters for NANP `digits` (the prefix without `+1`).

    An area code travels as `areacode`, a longer prefix as `starts_with` of the national
    number (at most the 7 digits SignalWire takes; the rest is filtered here). `region`/`city`
    only go along when the prefix has no area code: SignalWire refuses them together.
    """
    params: dict[str, str] = {"max_results": str(max(1, min(quantity, MAX_RESULTS)))}
    if options.extra.get("tollfree") or is_us_tollfree(digits):
        params["number_type"] = "toll-free"
    if len(digits) > 3:
        params["starts_with"] = digits[:7]
    elif len(digits) == 3:
        params["areacode"] = digits
    if len(digits) <= 3 and options.extra.get("contains"):
        params["contains"] = str(options.extra["contains"])
    if len(digits) < 3:
        region = options.extra.get("region") or options.extra.get("administrative_area")
        if region:
            params["region"] = str(region)
            if options.extra.get("locality") and not params.get("contains"):
                params["city"] = str(options.extra["locality"])
    return params


def routing_body(config: Mapping[str, Any], reference: str) -> dict[str, Any]:
    """The `PUT phone_numbers/{id}` body routing a bought number by the configured
    `call_handler`, and naming it after knm's reference."""
    handler = str(config["call_handler"])
    field = HANDLER_FIELDS[handler]
    body: dict[str, Any] = {"name": reference, "call_handler": handler,
                            field: config[field]}
    if handler == "laml_webhooks" and config.get("call_request_method"):
        body["call_request_method"] = config["call_request_method"]
    return body


def lookup_params(number: str) -> dict[str, str]:
    return {"filter_number": number.lstrip("+"), "page_size": str(LOOKUP_PAGE_SIZE)}


# -- pure response parsing ---------------------------------------------------------------------


def to_results(doc: Any, prefix: str, options: SearchOptions, limit: int
               ) -> list[SearchResult]:
    """Results under `prefix` with the capabilities and locality asked for; `ValueError` for
    an answer without a data list."""
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("search answer without a data list")
    wanted = [c for c in CAPABILITIES if options.extra.get(c)]
    region = options.extra.get("region") or options.extra.get("administrative_area")
    city = options.extra.get("locality")
    contains = str(options.extra.get("contains") or "")
    out: list[SearchResult] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        number = row.get("number")
        if not isinstance(number, str) or not number.startswith(prefix):
            continue
        if contains.isdigit() and contains not in number[2:]:
            continue  # not sent with a longer prefix: SignalWire takes one digit pattern
        caps = row.get("capabilities") if isinstance(row.get("capabilities"), dict) else {}
        if any(not caps.get(c) for c in wanted):
            continue
        if region and str(row.get("region") or "").lower() != str(region).lower():
            continue
        if city and str(row.get("city") or "").lower() != str(city).lower():
            continue
        data = {"capabilities": caps} if caps else {}
        out.append(SearchResult(number, NAME, carrier_data=data, locality=_locality(row)))
        if len(out) >= limit:
            break
    return out


def purchase_data(doc: Any, number: str) -> dict[str, Any]:
    """The bought PhoneNumber's id (what routing and release address); `ValueError` unless the
    answer is the number's resource."""
    if not isinstance(doc, dict) or not doc.get("id") or doc.get("number") != number:
        raise ValueError("purchase answer without the number's id")
    return {"signalwire_id": str(doc["id"]), "number_type": doc.get("number_type")}


def held_row(doc: Any, number: str) -> dict[str, Any] | None:
    """The project's PhoneNumber for exactly `number` in a list page, if any."""
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("list answer without a data list")
    return next((r for r in rows if isinstance(r, dict) and r.get("number") == number), None)


def _locality(row: dict[str, Any]) -> dict[str, Any] | None:
    region = row.get("region")
    country = None
    if region:
        country = "CA" if str(region).upper() in CANADIAN_REGIONS else "US"
    locality = {"city": row.get("city"), "region": region, "country": country,
                "rate_center": row.get("rate_center")}
    locality = {k: v for k, v in locality.items() if v}
    return locality or None


# -- the carrier ---------------------------------------------------------------------------------


class SignalWire(HttpCarrier):
    """SignalWire numbers (US and Canada), routed by a `call_handler` of the space."""

    name: ClassVar[str] = NAME
    #: national digits a search prefix may have (Kazoo's `maximal_prefix_length`)
    maximal_prefix_length: ClassVar[int] = 7
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "buy", "release", "check",
         "locality", "settle"})
    fault_words = UNAVAILABLE
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("space_url", description="your space's host, e.g. `example.signalwire.com`: "
                                         "the API root is `https://<space_url>/api/relay/rest` "
                                         "(needed unless `base_url` is set)"),
        Setting("project_id", required=True, description="project id (Basic-auth user)"),
        Setting("api_token", required=True, secret=True,
                description="API token (Basic-auth password)"),
        Setting("call_handler", description="how bought numbers route: "
                + ", ".join(f"`{h}` (with `{f}`)" for h, f in HANDLER_FIELDS.items())
                + "; needed to buy"),
        Setting("call_sip_endpoint_id", description="SIP endpoint for `relay_sip_endpoint`"),
        Setting("call_request_url", description="cXML (LaML) webhook for `laml_webhooks`"),
        Setting("call_request_method", description="HTTP method of `call_request_url`"),
        Setting("call_laml_application_id", description="cXML application for "
                                                        "`laml_application`"),
        Setting("call_relay_context", description="RELAY context for `relay_context`"),
        Setting("call_relay_topic", description="RELAY topic for `relay_topic`"),
        Setting("call_relay_application", description="RELAY application for "
                                                      "`relay_application`"),
        Setting("call_flow_id", description="call flow for `call_flow`"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """`base_url` from `space_url` when not given; a `call_handler` knm cannot route by
        is refused at once, naming the handlers it can."""
        config = dict(config)
        if not config.get("base_url") and config.get("space_url"):
            config["base_url"] = space_base_url(str(config["space_url"]))
        if not config.get("base_url"):
            raise errors.CarrierMisconfigured(cls.name, "space_url",
                                              "is required (or base_url)")
        handler = config.get("call_handler")
        if handler not in (None, "") and handler not in HANDLER_FIELDS:
            raise errors.CarrierMisconfigured(
                cls.name, "call_handler", "must be one of " + ", ".join(HANDLER_FIELDS))
        return super().validate_config(config)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        return classify_by_words(message, UNAVAILABLE)

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": self.basic_auth(str(self.config["project_id"]),
                                                 str(self.config["api_token"])),
                "Accept": "application/json"}

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        digits = nanp_digits(prefix)
        if digits is None:
            return []  # SignalWire sells NANP numbers only through this API
        # filters SignalWire cannot apply with this prefix are applied here, from a full
        # answer (one of `quantity` rows would rarely hold `quantity` that pass)
        extra = options.extra
        local = (any(extra.get(c) for c in CAPABILITIES)
                 or (len(digits) > 3 and bool(extra.get("contains")))
                 or (len(digits) >= 3 and any(extra.get(k) for k in (
                     "region", "administrative_area", "locality"))))
        params = search_params(digits, MAX_RESULTS if local else quantity, options)
        doc = self.call("GET", "/phone_numbers/search", params=params,
                        deadline=options.deadline)
        return self.parsed(to_results, doc, prefix, options, quantity)

    # -- purchase, release --------------------------------------------------------------------

    def routing(self) -> tuple[str, str]:
        """(call_handler, its field) configured; `CarrierMisconfigured` naming what is missing,
        before anything is bought."""
        handler = self.config.get("call_handler")
        if not handler:
            raise errors.CarrierMisconfigured(self.name, "call_handler",
                                              "is required to buy numbers")
        field = HANDLER_FIELDS[str(handler)]
        if not self.config.get(field):
            raise errors.CarrierMisconfigured(self.name, field,
                                              f"is required with call_handler {handler}")
        return str(handler), field

    def can_route(self) -> bool:
        handler = self.config.get("call_handler")
        return bool(handler and self.config.get(HANDLER_FIELDS[str(handler)]))

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        self.routing()
        doc = self.call("POST", "/phone_numbers", json={"number": num}, number=num)
        bought = self.parsed(purchase_data, doc, num, number=num)
        self.learn(number, bought)
        return self.learn(number, self.route(number, bought["signalwire_id"]))

    def route(self, number: PhoneNumber, number_id: str) -> dict[str, Any]:
        """Route a bought number by the configured `call_handler` (naming it after knm's
        reference); what became of it, as carrier data. A failure is recorded, not raised:
        the number is bought."""
        num = number.number
        handler, field = self.routing()
        try:
            self.call("PUT", f"/phone_numbers/{quote(number_id, safe='')}",
                      json=routing_body(self.config, self.order_reference(number)),
                      number=num)
        except errors.KnmError as exc:
            status = "unknown" if exc.unsettled else "failed"
            self.log.warning("%s: %s bought but not routed (%s): %s", self.name, num, status,
                             self.scrub(exc))
            return {"routing_status": status}
        return {"routing_status": "routed", "call_handler": handler, field: self.config[field]}

    def routed(self, row: Mapping[str, Any]) -> bool:
        """Whether the project's row for a number routes it as configured."""
        handler, field = self.routing()
        return row.get("call_handler") == handler and row.get(field) == self.config[field]

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        row = self.held(num)
        if row is None or not row.get("id"):
            raise errors.CarrierNotFound(self.name, f"{num} is not a number of this project",
                                         number=num)
        self.delete(f"/phone_numbers/{quote(str(row['id']), safe='')}", number=num)
        return self.learn(number, {"signalwire_id": str(row["id"])})

    # -- check, settle ------------------------------------------------------------------------

    def held(self, number: str) -> dict[str, Any] | None:
        """The project's PhoneNumber for `number`, if it holds it."""
        doc = self.call("GET", "/phone_numbers", params=lookup_params(number), number=number)
        return self.parsed(held_row, doc, number, number=number)

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` for each number the project holds; others are left out."""
        return {num: "in_service" for num in numbers if self.held(num) is not None}

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Purchases and releases are synchronous: settled by whether the project holds the
        number. A purchase whose answer was lost never got its routing request, so a held
        number not routed as configured is routed now (an idempotent update: nothing is
        bought or released)."""
        return self.settle_held(number, self.held(number.number))

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """The project's phone numbers, a thousand a page (`links.next`)."""
        pages = linked_pages(lambda params: self.call("GET", "/phone_numbers", params=params),
                             {"page_size": str(LISTING_PAGE_SIZE)})
        return held_in_pages(pages, numbers, budget, lambda row: row.get("number"))

    def settle_held(self, number: PhoneNumber, row: Any) -> OrderStatus:
        data: dict[str, Any] = {"signalwire_id": row.get("id")} if row else {}
        return settled_by_holding(
            number, row, data, holder="project", held_status="held",
            routed=lambda: self.routed(row) if self.can_route() else None,
            route=lambda: self.route(number, str(row["id"])))
