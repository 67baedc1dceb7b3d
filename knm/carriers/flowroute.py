"""knm_flowroute: Flowroute Numbers v2 (JSON:API) — available numbers, purchase, routes.

`https://api.flowroute.com/v2`, HTTP Basic `access_key:secret_key`, `application/vnd.api+json`
(carriers/current-apis.md §6, audit §4.4). A search is `GET /numbers/available` (`starts_with`
counting the country code `1`, `contains`, `number_type`, `rate_center` + `state`, pages of
≤ 200 by `limit`/`offset`); a purchase `POST /numbers/{11 digits}` (201, or 200 per the SDK's
README — both accepted), synchronous; a release `DELETE /numbers/{id}` (204).

**207 Multi-Status** to a purchase asking for messaging means the number IS bought but
Flowroute's message provisioning failed: a success, recorded with `messaging_status`
`not_enabled` and Flowroute's note, never a failure (it would leave a bought number unknown).

Routing: a number is bought on the account's default route (`0`, SIP registration); knm then
points its primary route at `route` — a route id, or a SIP host (or `sip:` URI) for which knm
finds, or else creates, the account's host route (`GET`/`POST /routes`) — with
`PATCH /numbers/{id}/relationships/primary_route`. That happens after the purchase, so a
routing call that fails leaves the number bought with `routing_status` `failed` (or
`unknown`) and a warning.

Flowroute takes no client reference; a purchase or release whose answer was lost is settled
by `GET /numbers/{id}`: 200 the account holds it, 404 it does not. Such a purchase never had
its route assigned, so settling assigns it when the held number's primary route is not the
configured one (the one write settling does: idempotent, it neither buys nor releases).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier, classify_by_words
from knm.carriers.orders import OrderStatus, settling
from knm.phone import is_us_tollfree, nanp_digits
from knm.record import PhoneNumber

NAME = "knm_flowroute"
MEDIA = "application/vnd.api+json"
#: Flowroute's words for a number it will not sell (unverified wording)
UNAVAILABLE = ((("not available",), errors.NumberUnavailable),)
#: most numbers per search page (Flowroute's `limit` bound)
PAGE_SIZE = 200
#: most pages read to find the account's route for a host
ROUTE_PAGES = 10
#: the alias knm gives the routes it creates
ROUTE_ALIAS = "knm"


# -- pure request building ---------------------------------------------------------------------


def number_id(number: str) -> str:
    """Flowroute's id of a NANP number: its 11 digits (`+12061231234` → `12061231234`)."""
    return number.lstrip("+")


def search_params(digits: str, quantity: int, options: SearchOptions, offset: int = 0
                  ) -> dict[str, str]:
    """`GET /numbers/available` parameters under NANP `digits` (`starts_with` counts the `1`)."""
    params: dict[str, str] = {"limit": str(max(1, min(quantity, PAGE_SIZE))),
                              "offset": str(offset)}
    if digits:
        params["starts_with"] = "1" + digits
    if options.extra.get("tollfree") or is_us_tollfree(digits):
        params["number_type"] = "toll-free"
    if options.extra.get("contains"):
        params["contains"] = str(options.extra["contains"])
    state = options.extra.get("region") or options.extra.get("administrative_area")
    if state:
        params["state"] = str(state).lower()
        if options.extra.get("rate_center"):
            params["rate_center"] = str(options.extra["rate_center"]).lower()
    return params


def purchase_body(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """Purchase options sent as the POST's JSON body; None (no body, as Flowroute's SDK sends)
    when none is configured."""
    body: dict[str, Any] = {}
    if config.get("messaging_enabled"):
        body["messaging_enabled"] = True
    if config.get("cnam_lookups_enabled") is not None:
        body["cnam_lookups_enabled"] = bool(config["cnam_lookups_enabled"])
    return {"type": "number", **body} if body else None


def route_type(route: str) -> str:
    """Flowroute's type of a route value: a `sip:` URI, else a host."""
    return "uri" if route.lower().startswith("sip:") else "host"


def new_route_body(route: str) -> dict[str, Any]:
    return {"data": {"type": "route", "attributes": {"route_type": route_type(route),
                                                     "value": route, "alias": ROUTE_ALIAS}}}


def primary_route_body(route_id: str) -> dict[str, Any]:
    return {"data": {"type": "route", "id": route_id}}


# -- pure response parsing ---------------------------------------------------------------------


def to_results(doc: Any, prefix: str) -> tuple[list[SearchResult], bool]:
    """One page's results under `prefix`, and whether a next page exists; `ValueError` for an
    answer without a data list."""
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("search answer without a data list")
    out: list[SearchResult] = []
    for row in rows:
        attrs = row.get("attributes") if isinstance(row, dict) else None
        if not isinstance(attrs, dict):
            continue
        value = str(attrs.get("value") or row.get("id") or "")
        number = "+" + value
        if not value.isdigit() or not number.startswith(prefix):
            continue
        data = {k: attrs[k] for k in ("number_type", "rate_center", "state") if k in attrs}
        out.append(SearchResult(number, NAME, carrier_data=data, locality=_locality(attrs),
                                price=_price(attrs)))
    links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
    return out, bool(links.get("next"))


def number_resource(doc: Any, number: str) -> dict[str, Any]:
    """The number resource of a purchase or details answer (`data`; the v2.1 example nests
    the document once more); `ValueError` unless it is `number`'s."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    if not isinstance(data, dict) or str(data.get("id")) != number_id(number):
        raise ValueError("answer without the number's resource")
    return data


def purchase_data(doc: Any, number: str) -> dict[str, Any]:
    """What a purchase answer tells knm to keep: the number's id, its route and status."""
    resource = number_resource(doc, number)
    attrs = resource.get("attributes") if isinstance(resource.get("attributes"), dict) else {}
    relations = resource.get("relationships")
    primary = relations.get("primary_route") if isinstance(relations, dict) else None
    route = primary.get("data") if isinstance(primary, dict) else None
    return {"flowroute_id": str(resource["id"]), "flowroute_status": attrs.get("status"),
            "primary_route": str(route["id"]) if isinstance(route, dict) else None}


def messaging_note(doc: Any) -> str | None:
    """Why messaging was not enabled, from a 207 answer's `message_provisioning_status`."""
    included = doc.get("included") if isinstance(doc, dict) else None
    for item in included if isinstance(included, list) else []:
        if isinstance(item, dict) and item.get("type") == "message_provisioning_status":
            attrs = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
            return str(attrs.get("detail") or attrs.get("status") or "") or None
    return None


def find_route(doc: Any, route: str) -> tuple[str | None, bool]:
    """The id of the account's route whose value is `route` in a `/routes` page, and whether
    a next page exists; `ValueError` for an answer without a data list."""
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("routes answer without a data list")
    for row in rows:
        attrs = row.get("attributes") if isinstance(row, dict) else None
        if isinstance(attrs, dict) and attrs.get("value") == route and row.get("id") and \
                attrs.get("route_type") == route_type(route):
            return str(row["id"]), False
    links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
    return None, bool(links.get("next"))


def created_route(doc: Any) -> str:
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or not data.get("id"):
        raise ValueError("route answer without an id")
    return str(data["id"])


def _locality(attrs: dict[str, Any]) -> dict[str, Any] | None:
    locality = {"region": str(attrs.get("state") or "").upper() or None,
                "rate_center": attrs.get("rate_center"), "country": attrs.get("iso_country")}
    locality = {k: v for k, v in locality.items() if v}
    return locality or None


def _price(attrs: dict[str, Any]) -> dict[str, str] | None:
    """Flowroute's `monthly_cost` and `setup_cost` (US dollars) as knm's price."""
    price = {"currency": "USD"}
    for key, name in (("monthly_cost", "monthly"), ("setup_cost", "upfront")):
        value = attrs.get(key)
        if value is None or isinstance(value, bool):
            continue
        try:
            price[name] = str(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            continue
    return price if len(price) > 1 else None


# -- the carrier ---------------------------------------------------------------------------------


class Flowroute(HttpCarrier):
    """Flowroute numbers (US), routed to a host route (`route`)."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = "https://api.flowroute.com/v2"
    #: national digits a search prefix may have (Kazoo's `maximal_prefix_length`)
    maximal_prefix_length: ClassVar[int] = 10
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "buy", "release", "check",
         "locality", "settle"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("access_key", required=True, description="access key (Basic-auth user)"),
        Setting("secret_key", required=True, secret=True,
                description="secret key (Basic-auth password)"),
        Setting("route", description="where bought numbers route: a Flowroute route id, or "
                                     "a SIP host (or `sip:` URI) whose host route knm finds "
                                     "or creates; needed to buy"),
        Setting("messaging_enabled", bool, default=False,
                description="ask Flowroute to enable SMS/MMS on bought numbers (a 207 answer "
                            "then means bought without messaging)"),
        Setting("cnam_lookups_enabled", bool,
                description="CNAM lookups on inbound calls (unset: the account's default)"),
        Setting("max_search_pages", int, default=1,
                description="most `numbers/available` pages (of 200) read one after another "
                            "for one search (each costs a round trip of the search's "
                            "deadline)"),
    )

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._route_ids: dict[str, str] = {}
        self._route_lock = threading.Lock()

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": self.basic_auth(str(self.config["access_key"]),
                                                 str(self.config["secret_key"])),
                "Accept": f"{MEDIA}, application/json"}

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        return classify_by_words(message, UNAVAILABLE)

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        digits = nanp_digits(prefix)
        if digits is None:
            return []  # Flowroute sells North American numbers
        found: list[SearchResult] = []
        offset = 0
        for _ in range(max(1, int(self.config.get("max_search_pages") or 1))):
            params = search_params(digits, quantity - len(found), options, offset)
            doc = self.call("GET", "/numbers/available", params=params,
                            deadline=options.deadline)
            page, more = self.parsed(to_results, doc, prefix)
            found += page
            offset += int(params["limit"])
            if len(found) >= quantity or not more:
                break
        return found[:quantity]

    # -- purchase, routing, release -----------------------------------------------------------

    def route(self) -> str:
        """The configured route; `CarrierMisconfigured` before anything is bought without one."""
        route = str(self.config.get("route") or "").strip()
        if not route:
            raise errors.CarrierMisconfigured(self.name, "route", "is required to buy numbers")
        return route

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        route = self.route()
        body = purchase_body(self.config)
        kw: dict[str, Any] = {"json": body, "headers": {"Content-Type": MEDIA}} if body else {}
        response = self.request("POST", f"/numbers/{number_id(num)}", number=num, **kw)
        doc = self.parse_reply(response, number=num)
        self.learn(number, self.parsed(purchase_data, doc, num, number=num))
        if response.status_code == 207:
            note = messaging_note(doc)
            self.log.warning("%s: %s bought without messaging: %s", self.name, num,
                             self.scrub(note))
            self.learn(number, {"messaging_status": "not_enabled", "messaging_note": note})
        elif body and body.get("messaging_enabled"):
            self.learn(number, {"messaging_status": "pending"})
        return self.learn(number, self.route_number(num, route))

    def route_number(self, number: str, route: str) -> dict[str, Any]:
        """Point a bought number's primary route at `route`; what became of it, as carrier
        data. A failure is recorded, not raised: the number is bought. A remembered route
        id Flowroute refuses (the route was deleted) is looked up again, once."""
        try:
            try:
                route_id = self.route_id(route, number)
                self._assign(number, route_id)
            except errors.CarrierFault as exc:
                if exc.unsettled or not self._forget_route(route):
                    raise
                route_id = self.route_id(route, number)
                self._assign(number, route_id)
        except errors.KnmError as exc:
            status = "unknown" if exc.unsettled else "failed"
            self.log.warning("%s: %s bought but not routed (%s): %s", self.name, number,
                             status, self.scrub(exc))
            return {"routing_status": status}
        return {"routing_status": "routed", "primary_route": route_id}

    def _assign(self, number: str, route_id: str) -> None:
        self.request("PATCH", f"/numbers/{number_id(number)}/relationships/primary_route",
                     json=primary_route_body(route_id), number=number,
                     headers={"Content-Type": MEDIA})

    def route_id(self, route: str, number: str) -> str:
        """The id of the account's route for `route` (an id is itself); a host's route is
        looked up, else created, once per carrier instance."""
        if route.isdigit():
            return route
        with self._route_lock:
            known = self._route_ids.get(route)
            if known is None:
                known = self._existing_route(route, number) or self._create_route(route, number)
                self._route_ids[route] = known
            return known

    def _forget_route(self, route: str) -> bool:
        """Forget the id remembered for `route`; whether there was one."""
        with self._route_lock:
            return self._route_ids.pop(route, None) is not None

    def _existing_route(self, route: str, number: str) -> str | None:
        for page in range(ROUTE_PAGES):
            doc = self.call("GET", "/routes", number=number,
                            params={"limit": str(PAGE_SIZE), "offset": str(page * PAGE_SIZE)})
            found, more = self.parsed(find_route, doc, route, number=number)
            if found or not more:
                return found
        return None

    def _create_route(self, route: str, number: str) -> str:
        doc = self.call("POST", "/routes", json=new_route_body(route), number=number,
                        headers={"Content-Type": MEDIA})
        return self.parsed(created_route, doc, number=number)

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        self.delete(f"/numbers/{number_id(number.number)}", number=number.number)
        return number

    # -- check, settle ------------------------------------------------------------------------

    def held(self, number: str) -> dict[str, Any] | None:
        """The account's number resource for `number` (`GET /numbers/{id}`; 404: not held)."""
        try:
            doc = self.call("GET", f"/numbers/{number_id(number)}", number=number)
        except errors.CarrierNotFound:
            return None
        return self.parsed(number_resource, doc, number, number=number)

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` for each number the account holds; others are left out."""
        return {num: "in_service" for num in numbers if self.held(num) is not None}

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Purchases and releases are synchronous: settled by whether the account holds the
        number. A purchase whose answer was lost never had its route assigned, so a held
        number whose primary route is not the configured one is routed now (idempotent:
        nothing is bought or released)."""
        row = self.held(number.number)
        data: dict[str, Any] = {"flowroute_id": row.get("id")} if row else {}
        if settling(number) == "disconnect":
            if row is None:
                return OrderStatus("complete", "released", message="not held by the account")
            return OrderStatus("failed", "held", data, "still held by the account")
        if row is None:
            return OrderStatus("failed", "not held", message="the account does not hold it")
        current = purchase_data({"data": row}, number.number)["primary_route"]
        route = str(self.config.get("route") or "").strip()
        if not route:
            data["routing_status"] = "unknown"  # no routing setting any more to check it by
            return OrderStatus("complete", "held", data)
        try:
            wanted: str | None = self.route_id(route, number.number)
        except errors.KnmError:
            wanted = None  # route_number below says what went wrong
        if wanted is not None and current == wanted:
            data.update({"routing_status": "routed", "primary_route": current})
        else:
            data.update(self.route_number(number.number, route))
        return OrderStatus("complete", "held", data)
