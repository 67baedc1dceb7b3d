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

**E911** (reference/e911-cnam.md §2 "Flowroute"; flowroute-sdk-v3-python@08224869
`controllers/e911s_controller.py` and its README): an address is checked with
`POST /e911s/validate` (204 valid; 404 — 400 in the README's example — with Flowroute's
reason: invalid; Flowroute never suggests a correction), created as a reusable record
(`POST /e911s`, 201) and put on the number (`PATCH /numbers/{id}/relationships/e911s/{e911}`,
204). A refused association deletes the record just created; an association whose answer was
lost is checked at once on the number's `e911_address` relationship (`GET /numbers/{id}`),
so only a check that fails too leaves it PENDING. An associated one deletes the number's
previous record — knm's own (its id is the carrier data `flowroute_e911_id`; a record made
in Flowroute's portal is never touched). Removal dissociates (`DELETE
/numbers/{id}/relationships/e911s`) and deletes knm's record. There is no asynchronous state:
a registration is PROVISIONED once associated.

knm's address → Flowroute's fields: `street_address` is split into `street_number` (its
leading house number: `140`, `140A`, `12-14`, `140 1/2`) and `street_name` (the rest);
`extended_address` into `address_type` (its first word) and `address_type_number` (the rest;
a lone `5B` or `#5` is `Unit 5B`); `locality` → `city`, `region` → `state`, `postal_code` →
`zip`, `country` US → `USA`, CA → `Canada`; the caller name into `first_name` (all but its
last word) and `last_name` (its last word; a one-word name is both); `label` is
`knm +1NPANXXXXXX`. An address without a house number, a unit without a number (`Lobby`),
or outside the US and Canada is invalid before any call: Flowroute could not take it, and
dropping the part it cannot take would register a location the caller is not at.

**Caller name** (`controllers/cnams_controller.py`): outbound names are account-wide CNAM
records (`POST /cnams {"value"}`, at most 15 characters with a letter) that Flowroute
approves by hand (1–2 days; `is_approved`, `rejection_reason`) and that can be associated
only once approved (`PATCH /numbers/{id}/relationships/cnam/{cnam}`, 202; `DELETE
…/relationships/cnam` removes it). knm reuses the account's record of the same name (an
approved one first; a rejected one never), else creates one: PENDING until Flowroute
approves it. Settling (`cnam_status`) reads the record (`GET /cnams/{id}`) and, once it is
approved, associates it — the write settling does here, as for routes — then PROVISIONED;
rejected or deleted is ERROR. Records are never deleted by knm: other numbers may share one
(deleting it disassociates every number using it). The inbound lookup has no per-number API
(`cnam_lookups_enabled` is set at purchase, by the setting of that name): 501.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx

from knm import errors
from knm.carriers import address_parts
from knm.carriers.address_parts import person
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.features import (
    ERROR,
    INTERRUPTED,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    AddressCheck,
    FeatureStatus,
    squeezed,
)
from knm.carriers.http import HttpCarrier, classify_by_words
from knm.carriers.orders import (
    OrderStatus,
    held_in_pages,
    linked_pages,
    settled_registration,
    settling,
)
from knm.carriers.payloads import error_details, json_or_none
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
#: knm's ISO country → Flowroute's `country` word (its docs: "USA or Canada")
COUNTRIES = {"US": "USA", "CA": "Canada"}
#: Flowroute's country words → ISO (its own examples also show `US`, `CA`)
ISO_COUNTRIES = {"USA": "US", "US": "US", "CANADA": "CA", "CA": "CA"}
#: Flowroute's bound on a CNAM record's value (README "CNAM Storage Rules")
MAX_CNAM = 15
#: most `/cnams` pages read looking for a record of the same name
CNAM_PAGES = 10


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


# -- number features: pure request building and parsing (SPEC §13) -----------------------------


def street_parts(street: str) -> tuple[str, str]:
    """`(street_number, street_name)` of a street address, in Flowroute's words when it has
    no house number (`address_parts.street_parts`)."""
    return address_parts.street_parts(street, "Flowroute")


def unit_parts(extended: str) -> tuple[str, str] | None:
    """`(address_type, address_type_number)` of an extended address, in Flowroute's words
    when it is a unit without a number (`address_parts.unit_parts`)."""
    return address_parts.unit_parts(extended, "Flowroute")


def e911_attributes(address: Address, number: str) -> dict[str, Any]:
    """Flowroute's attributes of an E911 record for `address` on `number`; `ValueError` (a
    user-facing reason) for an address Flowroute's fields cannot carry."""
    country = COUNTRIES.get(address.country.upper())
    if country is None:
        raise ValueError("Flowroute registers emergency addresses in the US and Canada only")
    street_number, street_name = street_parts(address.street_address)
    first, last = person(address.caller_name)
    attrs: dict[str, Any] = {"label": f"knm {number}", "first_name": first, "last_name": last,
                             "street_name": street_name, "street_number": street_number,
                             "city": address.locality, "state": address.region,
                             "country": country, "zip": address.postal_code}
    unit = unit_parts(address.extended_address)
    if unit is not None:
        attrs["address_type"], attrs["address_type_number"] = unit
    return attrs


def e911_body(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {"data": {"type": "e911", "attributes": dict(attributes)}}


def resource_of(doc: Any) -> dict[str, Any]:
    """The resource (`data` object with an id) of a Flowroute answer; `ValueError` without."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or data.get("id") in (None, ""):
        raise ValueError("answer without a resource id")
    return data


def from_flowroute(attrs: Any, given: Address) -> Address:
    """An E911 record's attributes as knm's address (what Flowroute registered); `given`
    when the answer shows no address (the caller name is always `given`'s)."""
    attrs = attrs if isinstance(attrs, dict) else {}

    def part(key: str) -> str:
        value = attrs.get(key)
        return " ".join(str(value).split()) if value not in (None, "") else ""

    if not part("street_name"):
        return given
    return Address(
        street_address=" ".join(p for p in (part("street_number"), part("street_name")) if p),
        extended_address=" ".join(p for p in (part("address_type"),
                                              part("address_type_number")) if p),
        locality=part("city") or given.locality,
        region=(part("state") or given.region).upper(),
        postal_code=part("zip") or given.postal_code,
        country=ISO_COUNTRIES.get(part("country").upper(), given.country),
        caller_name=given.caller_name)


def to_address_check(status: int, doc: Any, given: Address) -> AddressCheck:
    """`POST /e911s/validate`'s answer: 204 `valid` (Flowroute returns no normalisation: the
    address stays as given), 404 or 400 `invalid` with Flowroute's reason. Never
    `corrected`: Flowroute suggests nothing."""
    if status in (200, 204):
        return AddressCheck("valid", given)
    return AddressCheck("invalid", given, message=error_details(doc) or
                        "Flowroute could not validate the address")


def related_id(resource: Mapping[str, Any], relation: str) -> str | None:
    """The id a number resource's `relation` (`e911_address`, `cnam_preset`) points at."""
    relations = resource.get("relationships")
    found = relations.get(relation) if isinstance(relations, dict) else None
    data = found.get("data") if isinstance(found, dict) else None
    if isinstance(data, list):
        data = data[0] if data else None
    return str(data["id"]) if isinstance(data, dict) and data.get("id") is not None else None


def cnam_fault(value: str) -> str | None:
    """Why Flowroute would refuse `value` as a CNAM record (README "CNAM Storage Rules": at
    most 15 characters, at least one a letter); None when it may take it."""
    if len(value) > MAX_CNAM:
        return f"Flowroute caller names are at most {MAX_CNAM} characters"
    if not any(ch.isalpha() for ch in value):
        return "Flowroute caller names need at least one letter (a name, not a number)"
    return None


def cnam_record(row: Any) -> dict[str, Any]:
    """A CNAM record as knm reads it: `id`, `value`, `is_approved`, `rejection_reason`;
    `ValueError` for a row without an id."""
    if not isinstance(row, dict) or row.get("id") in (None, ""):
        raise ValueError("CNAM record without an id")
    attrs = row.get("attributes") if isinstance(row.get("attributes"), dict) else {}
    return {"id": str(row["id"]), "value": str(attrs.get("value") or ""),
            "is_approved": attrs.get("is_approved") is True,
            "rejection_reason": str(attrs.get("rejection_reason") or "") or None}


def cnam_page(doc: Any) -> tuple[list[dict[str, Any]], bool]:
    """The records of one `GET /cnams` page and whether a next page exists."""
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("cnams answer without a data list")
    links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
    return [cnam_record(r) for r in rows if isinstance(r, dict) and r.get("id")], \
        bool(links.get("next"))


def reusable(records: list[dict[str, Any]], value: str) -> dict[str, Any] | None:
    """The account's record for `value` worth reusing: an approved one, else one awaiting
    approval; a rejected one never (asking again is a new record, decided anew)."""
    same = [r for r in records if squeezed(r["value"]) == squeezed(value)
            and not r["rejection_reason"]]
    same.sort(key=lambda r: not r["is_approved"])
    return same[0] if same else None


def cnam_state(record: Mapping[str, Any]) -> FeatureStatus:
    """Where a CNAM record stands: approved (to associate), awaiting approval, rejected."""
    if record["rejection_reason"]:
        return FeatureStatus(ERROR, "rejected", message="Flowroute rejected the caller name "
                             f"{record['value']!r}: {record['rejection_reason']}")
    if not record["is_approved"]:
        return FeatureStatus(PENDING, "awaiting approval", refs=[record["id"]],
                             message="Flowroute approves caller names by hand (1-2 days)")
    return FeatureStatus(PROVISIONED, "approved")


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
         "locality", "settle", "e911", "cnam", "outbound_cnam_only"})
    reads_interrupted: ClassVar[frozenset[str]] = frozenset({"e911"})
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
        return self.settle_held(number, self.held(number.number))

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """The account's numbers, two hundred a page (`links.next`)."""
        pages = linked_pages(lambda params: self.call("GET", "/numbers", params=params),
                             {"limit": str(PAGE_SIZE)})
        return held_in_pages(pages, numbers, budget,
                             lambda row: "+" + str(row.get("id") or "").lstrip("+"))

    def settle_held(self, number: PhoneNumber, row: Any) -> OrderStatus:
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

    # -- number features (SPEC §13) -----------------------------------------------------------

    def _details(self, number: str) -> dict[str, Any]:
        """The number's resource (`GET /numbers/{id}`): its `e911_address` and `cnam_preset`
        relationships. A number the account does not hold is `CarrierNotFound`."""
        doc = self.call("GET", f"/numbers/{number_id(number)}", number=number)
        return self.parsed(number_resource, doc, number, number=number)

    def _attributes(self, number: str, address: Address) -> dict[str, Any]:
        try:
            return e911_attributes(address, number)
        except ValueError as exc:
            raise errors.AddressInvalid(address.to_e911(), str(exc), carrier=self.name) from None

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        num = number.number
        try:
            attrs = e911_attributes(address, num)
        except ValueError as exc:  # Flowroute's fields cannot carry it: no call
            return AddressCheck("invalid", address, message=str(exc))
        response = self.request("POST", "/e911s/validate", json=e911_body(attrs), number=num,
                                headers={"Content-Type": MEDIA}, idempotent=True, acts=False,
                                accept=(400, 404))
        doc: Any = None
        if response.status_code in (400, 404):
            doc = self.parsed(json_or_none, response.content)
        return to_address_check(response.status_code, doc, address)

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        """Create the record, associate it; a refused association deletes the record (the
        carrier is left as it was), a lost answer is checked on the number at once."""
        num = number.number
        attrs = self._attributes(num, address)
        created = self.call("POST", "/e911s", json=e911_body(attrs), number=num,
                            headers={"Content-Type": MEDIA})
        record = self.parsed(resource_of, created, number=num)
        e911_id = str(record["id"])
        registered = from_flowroute(record.get("attributes"), address)
        previous = number.carrier_data.get("flowroute_e911_id")
        previous = str(previous) if previous and str(previous) != e911_id else None
        try:
            self.request("PATCH", f"/numbers/{number_id(num)}/relationships/e911s/{e911_id}",
                         number=num, headers={"Content-Type": MEDIA})
        except errors.KnmError as exc:
            if not exc.unsettled:  # refused: nothing changed on the number
                self._forget_e911(e911_id, num)
                raise
            try:
                held = related_id(self._details(num), "e911_address")
            except errors.KnmError:  # cannot tell now: settling reads the number later
                return FeatureStatus(PENDING, "unknown", {"flowroute_e911_id": e911_id,
                                                          "flowroute_e911_previous_id": previous},
                                     registered, message=self.scrub(str(exc)))
            if held != e911_id:  # it did not take: undo, answer the failure
                self._forget_e911(e911_id, num)
                raise
        if previous:
            self._forget_e911(previous, num)
        return FeatureStatus(PROVISIONED, "associated", {"flowroute_e911_id": e911_id,
                                                         "flowroute_e911_previous_id": None},
                             registered)

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        """Whether the number's `e911_address` is the record knm associated. Settling an
        association whose answer was lost also finishes it — the record that lost is
        deleted (knm's own, used by no number): the one write it does."""
        num = number.number
        held = related_id(self._details(num), "e911_address")
        if number.carrier_data.get(INTERRUPTED):
            return self._held_emergency(num, held)
        return settled_registration(
            held, number.carrier_data.get("flowroute_e911_id"),
            number.carrier_data.get("flowroute_e911_previous_id"),
            forget=lambda record: self._forget_e911(record, num),
            keys=("flowroute_e911_id", "flowroute_e911_previous_id"),
            words=("Flowroute", "record", "associated", "not associated"))

    def _held_emergency(self, num: str, held: str | None) -> FeatureStatus:
        """For a save whose process died (knm never learnt its record id): the E911 record
        the number is associated with now; none is `REMOVED`."""
        if not held:
            return FeatureStatus(REMOVED, "not associated")
        doc = self.call("GET", f"/e911s/{held}", number=num)
        record = self.parsed(resource_of, doc, number=num)
        return FeatureStatus(PROVISIONED, "associated",
                             {"flowroute_e911_id": held, "flowroute_e911_previous_id": None},
                             from_flowroute(record.get("attributes"),
                                            Address("", "", "", "", country="")))

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        num = number.number
        try:
            self.request("DELETE", f"/numbers/{number_id(num)}/relationships/e911s",
                         number=num)
        except errors.CarrierNotFound:  # nothing associated (or no such number): removed
            self.log.info("%s: %s had no E911 association to remove", self.name, num)
        for key in ("flowroute_e911_id", "flowroute_e911_previous_id"):
            if number.carrier_data.get(key):
                self._forget_e911(str(number.carrier_data[key]), num)
        return FeatureStatus(REMOVED, "dissociated", {"flowroute_e911_id": None,
                                                      "flowroute_e911_previous_id": None})

    def _forget_e911(self, e911_id: str, number: str) -> None:
        """Delete an E911 record knm created and no longer uses; a failure only leaves an
        unused record in the account."""
        try:
            self.request("DELETE", f"/e911s/{e911_id}", number=number)
        except errors.KnmError as exc:
            self.log.warning("%s: E911 record %s of %s not deleted: %s", self.name, e911_id,
                             number, self.scrub(exc))

    def set_cnam(self, number: PhoneNumber, display_name: str | None) -> FeatureStatus:
        """Associate the account's record of that name (reused, else created): PROVISIONED
        when it is approved already, PENDING until Flowroute approves a new one."""
        num = number.number
        nid = number_id(num)
        if display_name is None:
            try:
                self.request("DELETE", f"/numbers/{nid}/relationships/cnam", number=num)
            except errors.CarrierNotFound:
                self.log.info("%s: %s had no CNAM association to remove", self.name, num)
            return FeatureStatus(PROVISIONED, "unlisted", {"flowroute_cnam_id": None})
        if is_us_tollfree(nanp_digits(num) or ""):
            raise errors.NotImplementedByCarrier(
                self.name, cause="cnam.display_name",
                message="Flowroute lists caller names on long-code numbers only, not on "
                        "toll-free numbers")
        fault = cnam_fault(display_name)
        if fault:
            raise errors.Invalid("cnam.display_name", fault)
        record = self._cnam_record_for(display_name, num)
        state = cnam_state(record)
        data = {"flowroute_cnam_id": record["id"]}
        if state.state == ERROR:  # rejected the moment it was made
            raise self.refusal(state.message, number=num)
        if state.state == PENDING:
            return FeatureStatus(PENDING, state.carrier_status, data, message=state.message,
                                 refs=state.refs)
        self._associate_cnam(record["id"], num)
        return FeatureStatus(PROVISIONED, "listed", data)

    def cnam_status(self, number: PhoneNumber) -> FeatureStatus:
        """The record's approval: still awaited (PENDING), rejected or deleted (ERROR), or
        given — then the record is associated now (Flowroute takes it only once approved:
        the write settling does) and the listing is PROVISIONED."""
        num = number.number
        cnam_id = number.carrier_data.get("flowroute_cnam_id")
        if not cnam_id:
            return FeatureStatus(ERROR, "unknown", message="knm holds no Flowroute caller-name "
                                 "record for the number")
        try:
            doc = self.call("GET", f"/cnams/{cnam_id}", number=num)
        except errors.CarrierNotFound:
            return FeatureStatus(ERROR, "deleted", {"flowroute_cnam_id": None},
                                 message=f"the caller-name record {cnam_id} was deleted at "
                                         "Flowroute")
        record = self.parsed(lambda d: cnam_record(resource_of(d)), doc, number=num)
        state = cnam_state(record)
        if state.state != PROVISIONED:
            return state
        if not self.provisioning_allowed(number):
            return FeatureStatus(PENDING, "approved", message="provisioning is sandboxed: "
                                 "the approved record is not associated")
        self._associate_cnam(record["id"], num)
        return FeatureStatus(PROVISIONED, "listed")

    def set_inbound_lookup(self, number: PhoneNumber, enabled: bool) -> FeatureStatus:
        """Flowroute has no per-number API for it (the SDK has none; `cnam_lookups_enabled`
        travels with a purchase): refused, saying where it is set."""
        raise errors.NotImplementedByCarrier(
            self.name, cause="cnam.inbound_lookup",
            message="Flowroute has no API to turn a number's inbound caller-name lookup on or "
                    "off; it is chosen at purchase (the knm_flowroute setting "
                    "cnam_lookups_enabled) or in Flowroute's portal. knm sets only the "
                    "outbound listing (cnam.display_name) on Flowroute numbers")

    def _cnam_record_for(self, value: str, number: str) -> dict[str, Any]:
        """The account's record for `value` (`reusable`), else a new one (`POST /cnams`)."""
        found: list[dict[str, Any]] = []
        for page in range(CNAM_PAGES):
            doc = self.call("GET", "/cnams", number=number,
                            params={"limit": str(PAGE_SIZE), "offset": str(page * PAGE_SIZE)})
            rows, more = self.parsed(cnam_page, doc, number=number)
            found += rows
            best = reusable(found, value)
            if (best is not None and best["is_approved"]) or not more:
                break
        record = reusable(found, value)
        if record is not None:
            return record
        doc = self.call("POST", "/cnams", json={"value": value}, number=number,
                        headers={"Content-Type": MEDIA})
        return self.parsed(lambda d: cnam_record(resource_of(d)), doc, number=number)

    def _associate_cnam(self, cnam_id: str, number: str) -> None:
        """Put an approved record on the number, unless it is there already (an association
        is what Flowroute charges for and files with the CNAM databases)."""
        if related_id(self._details(number), "cnam_preset") == cnam_id:
            return
        self.request("PATCH", f"/numbers/{number_id(number)}/relationships/cnam/{cnam_id}",
                     number=number, headers={"Content-Type": MEDIA})
