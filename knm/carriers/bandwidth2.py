"""knm_bandwidth2: Bandwidth's Numbers API (XML) — search, orders, disconnects, TN lookup,
settling.

Kazoo's module with its quirks fixed deliberately (reference/kazoo-http-carriers.md §15):
the toll-free pattern keeps its first digit, the order id stored is Bandwidth's (the client
reference is kept as `customer_order_id`), polling is bounded (`order_timeout_s`), an empty
search is an empty list rather than an error, and a disconnect really releases the number
(a disconnect order). Auth is OAuth2 client credentials (`client_id`/`client_secret`): the
token comes from `token_url`, the same for every API version (audit B3), and is cached and
renewed by `knm.carriers.tokens`. API-user Basic auth (`api_username`/`api_password`) is still
accepted but warned about (`config_warnings`): Bandwidth retires it on 2026-12-02.

`api_version`: `v2` (the default: the Universal Platform at `/api/v2`, E.164 numbers,
`countryCodeA3`, international stock) or `v1` (legacy US/CA accounts: 10-digit numbers). A
config with no `api_version` that holds `api_username` is read as `v1`: that is the shape of
every config written for Kazoo's module (which spoke v1 with Basic) and for knm before v2 was
its default, and switching those to another wire unasked would break them. The audit's
fixes: 5004 is "Invalid Vendor", a plain fault (unavailable is 5005/5018); an order answer
with an id but no `<OrderStatus>` is pending; `BACKORDERED` is final (failed); `/tns/{tn}`
counts only when its `AccountId` is ours and its status one of a held number.

Number features (reference/e911-cnam.md §2, numbers.yml): an emergency address is checked
with `POST /accounts/{id}/geocodeRequest` (200: valid, with its `GeocodedAddress`; 409: "some
adjustments are required", the `GeocodedAddress` a suggestion; 400 12110: not geocodable) and
registered with an E911 order (`POST /accounts/{id}/e911s`, `DeleteTNSpecificE911Address`
to remove it). Caller names are a LIDB order (`POST /lidbs`: the outbound listing,
`Visibility` PRIVATE to withdraw it) and a TN-option order (`POST /tnoptions`,
`CallingNameDisplay` on|off: the inbound lookup). All three orders are asynchronous
(`ProcessingStatus` RECEIVED → COMPLETE | ADJUSTED_COMPLETE, or FAILED | PARTIAL |
ADJUSTED_PARTIAL), polled for `feature_wait_s` and then left to settling; `e911s` and
`tnoptions` notifications finish them at once.
"""

from __future__ import annotations

import hmac
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import phonenumbers

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting, new_order_reference
from knm.carriers.features import (
    ERROR,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    AddressCheck,
    FeatureStatus,
)
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import (
    AsyncOrderCarrier,
    OrderStatus,
    WebhookEvent,
    poll_feature,
    settling,
)
from knm.carriers.payloads import local_name, parse_xml_text
from knm.carriers.tokens import AccessToken, TokenRefresh, token_answer
from knm.phone import is_us_tollfree, nanp_e164, national_number
from knm.record import PhoneNumber

NAME = "knm_bandwidth2"
HOST = "https://api.bandwidth.com"
DEFAULT_BASE_URLS = {"v1": f"{HOST}/api/v1", "v2": f"{HOST}/api/v2"}
TOKEN_URL = f"{HOST}/api/v1/oauth2/token"
#: the day Bandwidth stops accepting API-user Basic auth (dev.bandwidth.com credentials page)
BASIC_AUTH_ENDS = "2026-12-02"
#: Bandwidth error codes meaning "the number can no longer be had" (5004 is Invalid Vendor)
UNAVAILABLE_CODES = frozenset({"5005", "5018"})
#: final order states (orderWebhook.md); anything else is still pending
ORDER_DONE = {"COMPLETE": "complete", "FAILED": "failed", "PARTIAL": "failed",
              "BACKORDERED": "failed"}
#: `/tns/{tn}` statuses of a number the account holds (Aging, Available: it does not)
HELD_STATUSES = frozenset({"Inservice", "InAccount", "PortInPendingFoc"})
#: a feature order's `ProcessingStatus` → knm's feature state (numbers.yml, E911 orders)
FEATURE_DONE = {"COMPLETE": PROVISIONED, "ADJUSTED_COMPLETE": PROVISIONED, "FAILED": ERROR,
                "PARTIAL": ERROR, "ADJUSTED_PARTIAL": ERROR}
#: Notification `OrderType`s of feature orders → the feature they are about
FEATURE_ORDER_TYPES = {"e911s": "e911", "e911": "e911", "tnoptions": "cnam",
                       "tn_option": "cnam", "lidbs": "cnam", "lidb": "cnam"}
#: the carrier-data keys of the feature orders (what settling reads)
E911_ORDER, LIDB_ORDER, TNOPTION_ORDER = ("e911_order_id", "cnam_lidb_order_id",
                                          "cnam_tnoption_order_id")
E911_REFERENCE = "e911_order_reference"
#: ISO 3166 alpha-2 → alpha-3 for the Universal Platform's `countryCodeA3`
ALPHA3 = {"US": "USA", "CA": "CAN", "GB": "GBR", "IE": "IRL", "DE": "DEU", "FR": "FRA",
          "ES": "ESP", "IT": "ITA", "NL": "NLD", "BE": "BEL", "AT": "AUT", "CH": "CHE",
          "SE": "SWE", "NO": "NOR", "DK": "DNK", "FI": "FIN", "PT": "PRT", "PL": "POL",
          "AU": "AUS", "NZ": "NZL", "MX": "MEX", "BR": "BRA", "JP": "JPN"}


# -- pure request building ---------------------------------------------------------------------


def wire_number(number: str, version: str) -> str:
    """A number as Bandwidth takes it: E.164 on v2, 10 digits on v1."""
    return number if version == "v2" else national_number(number)


def search_params(prefix: str, quantity: int, options: SearchOptions, version: str,
                  max_quantity: int) -> tuple[dict[str, Any], bool] | None:
    """`availableNumbers` parameters for E.164 `prefix` and whether it is a toll-free
    search; None when Bandwidth cannot search it (less than an area code; another country
    on v1)."""
    quantity = max(1, min(quantity, max_quantity))
    params: dict[str, Any] = {"quantity": quantity, "enableTNDetail": "true"}
    if not prefix.startswith("+1"):
        region = region_of(prefix) if version == "v2" else None
        if region not in ALPHA3:
            return None
        national = prefix[1 + len(str(phonenumbers.country_code_for_region(region))):]
        if not national:
            return None
        params.update(areaCode=national, countryCodeA3=ALPHA3[region])
        return params, False
    digits = prefix[2:]
    tollfree = is_us_tollfree(digits) or bool(
        options.extra.get("tollfree") and digits[:1] == "8")
    if tollfree:
        params["tollFreeWildCardPattern"] = (digits[:3] + "**")[:3]
    elif len(digits) < 3:
        return None
    elif len(digits) < 6:
        params["areaCode"] = digits[:3]
    elif len(digits) == 6:
        params.update(npaNxx=digits, LCA="false")
    else:
        params.update(npaNxxx=digits[:7], LCA="false")
    if version == "v2" and not tollfree:
        params["countryCodeA3"] = "USA,CAN"
    if len(digits) not in (3, 6, 7):  # filtered here: ask for as many as allowed
        params["quantity"] = max_quantity
    return params, tollfree


def order_xml(number: str, reference: str, name: str, config: Mapping[str, Any],
              version: str) -> bytes:
    """The `<Order>` buying `number` (an existing number), tagged with knm's reference."""
    order = ET.Element("Order")
    for tag, value in (("CustomerOrderId", reference), ("Name", name),
                       ("SiteId", config.get("site_id")), ("PeerId", config.get("sip_peer"))):
        if value:
            ET.SubElement(order, tag).text = str(value)
    tns = ET.SubElement(ET.SubElement(order, "ExistingTelephoneNumberOrderType"),
                        "TelephoneNumberList")
    ET.SubElement(tns, "TelephoneNumber").text = wire_number(number, version)
    return _xml_bytes(order)


def disconnect_xml(number: str, reference: str, version: str) -> bytes:
    """The `<DisconnectTelephoneNumberOrder>` releasing `number`."""
    doc = ET.Element("DisconnectTelephoneNumberOrder")
    ET.SubElement(doc, "CustomerOrderId").text = reference
    kind = ET.SubElement(doc, "DisconnectTelephoneNumberOrderType")
    ET.SubElement(ET.SubElement(kind, "TelephoneNumberList"),
                  "TelephoneNumber").text = wire_number(number, version)
    ET.SubElement(kind, "DisconnectMode").text = "NORMAL"
    return _xml_bytes(doc)


def token_url(config: Mapping[str, Any]) -> str:
    """Where OAuth2 tokens come from: `token_url`, else Bandwidth's for the real API, else
    (a simulator or proxy at `base_url`) `<base_url>/oauth2/token`."""
    if config.get("token_url"):
        return str(config["token_url"])
    base = str(config.get("base_url") or "").rstrip("/")
    if base.startswith(HOST) or base in DEFAULT_BASE_URLS.values():
        return TOKEN_URL
    for suffix in ("/api/v1", "/api/v2"):
        if base.endswith(suffix):
            return base[:-len(suffix)] + "/api/v1/oauth2/token"
    return base + "/oauth2/token"


def api_version(config: Mapping[str, Any]) -> str:
    """The API version a config speaks: `api_version` when set; else `v1` for a config holding
    `api_username` (Kazoo's and knm's pre-v2 configs spoke v1 with Basic auth), else `v2`."""
    given = config.get("api_version")
    if given not in (None, ""):
        return str(given).strip().lower()
    return "v1" if config.get("api_username") not in (None, "") else "v2"


def config_warnings(config: Mapping[str, Any]) -> list[str]:
    """What works in `config` (the settings as stored) today but needs the operator: Basic auth
    without OAuth2 credentials, and a version read as `v1` only because `api_username` is
    set. Texts name settings, never their values."""
    out: list[str] = []
    has = {key: config.get(key) not in (None, "") for key in (
        "api_username", "api_password", "client_id", "client_secret", "api_version")}
    if (has["api_username"] or has["api_password"]) and not (
            has["client_id"] and has["client_secret"]):
        out.append(f"Bandwidth stops accepting API users (api_username/api_password, HTTP "
                   f"Basic) on {BASIC_AUTH_ENDS}: set client_id and client_secret (OAuth2 "
                   "client credentials) in number_manager.bandwidth2 before then")
    if has["api_username"] and not has["api_version"]:
        out.append("api_version is not set and api_username is, so the legacy v1 API "
                   "(10-digit US/CA numbers, as Kazoo's module spoke) is used; set "
                   "api_version to v1 to keep it, or to v2 for the Universal Platform "
                   "(E.164, the default of new configs)")
    return out


# -- pure response parsing ---------------------------------------------------------------------


def xml_errors(root: ET.Element) -> str | None:
    """The three error shapes of Bandwidth (Error, ErrorList/Error, ResponseStatus) as
    `code: description; …`."""
    parts = []
    for el in root.iter():
        if el.tag in ("Error", "ResponseStatus"):
            code = (el.findtext("Code") or el.findtext("ErrorCode") or "").strip()
            text = (el.findtext("Description") or "").strip()
            if code or text:
                parts.append(f"{code}: {text}" if code else text)
    return "; ".join(parts) or None


def means_unavailable(message: str | None) -> bool:
    """Does Bandwidth's error text carry one of its "number unavailable" codes?"""
    return bool(message) and any(
        part.strip().startswith(f"{code}:") for part in str(message).split(";")
        for code in UNAVAILABLE_CODES)


def to_results(root: ET.Element, prefix: str, tollfree: bool, quantity: int
               ) -> list[SearchResult]:
    """Search results under `prefix` from a `<SearchResult>` (with or without detail)."""
    out: list[SearchResult] = []
    for el in root.iterfind("TelephoneNumberDetailList/TelephoneNumberDetail"):
        number = nanp_e164(el.findtext("FullNumber") or "")
        if not number:
            continue
        city, state = el.findtext("City"), el.findtext("State")
        rate_center = {"name": el.findtext("RateCenter"), "lata": el.findtext("LATA"),
                       "state": state}
        rate_center = {k: v for k, v in rate_center.items() if v}
        locality = {"city": city, "region": state,
                    "country": _country(number, el.findtext("CountryCodeA3")),
                    "rate_center": rate_center.get("name")}
        out.append(SearchResult(
            number, NAME, carrier_data={} if tollfree else {"rate_center": rate_center},
            locality={k: v for k, v in locality.items() if v}))
    for el in root.iterfind("TelephoneNumberList/TelephoneNumber"):
        number = nanp_e164(el.text or "")
        if number:
            out.append(SearchResult(number, NAME))
    return [r for r in out if r.number.startswith(prefix)][:quantity]


def to_order_status(root: ET.Element) -> OrderStatus:
    """Where an order (or a disconnect order) stands. An answer with an id and no
    `<OrderStatus>` is pending (numbers.yml's CreateOrder example has none); one with
    neither is `ValueError`."""
    status = (root.findtext("OrderStatus") or "").strip().upper()
    order_id = root.findtext("Order/id") or root.findtext("orderRequest/id") or None
    problem = xml_errors(root)
    if not status:
        if problem:
            return OrderStatus("failed", message=problem, order_id=order_id)
        if not order_id:
            raise ValueError("order answer without an order id or OrderStatus")
        return OrderStatus("pending", data={"order_status": "pending"}, order_id=order_id)
    state = ORDER_DONE.get(status, "pending")
    message = problem if state == "failed" else None
    if state == "failed" and not message:
        message = f"order {order_id or ''} {status}".replace("  ", " ")
    return OrderStatus(state, status, message=message, data={"order_status": status.lower()},
                       order_id=order_id)


def listed_order(root: ET.Element, reference: str) -> OrderStatus | None:
    """The newest order of a `GET /accounts/{id}/orders?customerOrderId=` answer placed
    with `reference`."""
    rows = [el for el in root.iter() if el.tag == "OrderIdUserIdDate"
            and (el.findtext("CustomerOrderId") or "") == reference]
    if not rows:
        return None
    rows.sort(key=lambda el: el.findtext("lastModifiedDate") or el.findtext("OrderDate") or "")
    row = rows[-1]
    status = (row.findtext("OrderStatus") or "").strip().upper()
    failed = status in ORDER_DONE and status != "COMPLETE"
    return OrderStatus(ORDER_DONE.get(status, "pending"), status,
                       message=f"order {status}" if failed else None,
                       data={"order_status": status.lower() or None},
                       order_id=row.findtext("orderId") or None)


def to_events(root: ET.Element) -> list[WebhookEvent]:
    """The events of an order or disconnect `<Notification>` (orderWebhook.md): one per
    completed number, or one naming only the order when none completed; an E911, TN-option
    or LIDB order's → one event naming the order, its operation the feature (`e911`,
    `cnam`). Other order types (port-ins, …) → none; `ValueError` for a body that is no
    notification."""
    if root.tag != "Notification":
        raise ValueError(f"expected <Notification>, got <{root.tag}>")
    kind = (root.findtext("OrderType") or "").strip().lower()
    if kind in FEATURE_ORDER_TYPES:  # a number-feature order (SPEC §13)
        return [_feature_event(root, FEATURE_ORDER_TYPES[kind])]
    if kind in ("orders", "order", "new_number"):
        operation = "acquire"
    elif kind in ("disconnects", "disconnect"):
        operation = "disconnect"
    else:
        return []
    status = (root.findtext("Status") or "").strip().upper()
    state = ORDER_DONE.get(status, "pending")
    message = (root.findtext("Message") or "").strip() or None
    order_id = (root.findtext("OrderId") or "").strip() or None
    reference = (root.findtext("CustomerOrderId") or "").strip() or None
    numbers = [nanp_e164(el.text or "") for el in root.iterfind(
        "CompletedTelephoneNumbers/TelephoneNumber")]
    learnt = {"order_status": status.lower()} if operation == "acquire" and status else {}

    def event(number: str | None) -> WebhookEvent:
        status_now = OrderStatus(state, status, message=message if state == "failed" else None,
                                 data=dict(learnt), order_id=order_id)
        return WebhookEvent(number=number, order_reference=reference, order_id=order_id,
                            operation=operation, status=status_now)

    return [event(n) for n in numbers if n] or [event(None)]


def held_status(root: ET.Element, account_id: str) -> str | None:
    """A `/tns/{tn}` answer's status when the account holds the number: its `AccountId` is
    ours and the status one of a held number; else None (another account's, aging, …)."""
    account = (root.findtext("AccountId") or "").strip()
    status = (root.findtext("Status") or "").strip()
    if account and account != str(account_id):
        return None
    return status if status in HELD_STATUSES else None


# -- number features: pure request building and parsing (SPEC §13) -----------------------------


def _sub(parent: ET.Element, tag: str, text: str | None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text:
        element.text = text
    return element


def geocode_xml(address: Address) -> bytes:
    """The `<RequestAddress>` of a geocode request: `AddressLine1` whole (Bandwidth splits
    it when HouseNumber and StreetName are not given)."""
    root = ET.Element("RequestAddress")
    for tag, value in (("AddressLine1", address.street_address),
                       ("AddressLine2", address.extended_address), ("City", address.locality),
                       ("StateCode", address.region), ("Zip", address.postal_code),
                       ("Country", address.country)):
        _sub(root, tag, value)
    return _xml_bytes(root)


def split_street(street: str) -> tuple[str, str]:
    """`"140 Geary St"` → `("140", "Geary St")`: an E911 order's HouseNumber and StreetName
    (Bandwidth requires both). A street without a leading number keeps it all as the name."""
    head, _, rest = street.strip().partition(" ")
    if rest and any(ch.isdigit() for ch in head):
        return head, rest.strip()
    return "", street.strip()


def address_xml(parent: ET.Element, address: Address) -> None:
    element = ET.SubElement(parent, "Address")
    house, street = split_street(address.street_address)
    for tag, value in (("HouseNumber", house), ("StreetName", street),
                       ("AddressLine2", address.extended_address), ("City", address.locality),
                       ("StateCode", address.region), ("Zip", address.postal_code),
                       ("Country", address.country)):
        _sub(element, tag, value)


def e911_order_xml(number: str, address: Address | None, reference: str, version: str
                   ) -> bytes:
    """An `<E911Order>` registering `address` for `number`, or (None) removing its address."""
    root = ET.Element("E911Order")
    _sub(root, "CustomerOrderId", reference)
    tns = ET.SubElement(root, "TelephoneNumbers")
    _sub(tns, "TelephoneNumber", wire_number(number, version))
    if address is None:
        _sub(root, "DeleteTNSpecificE911Address", "true")
    else:
        _sub(root, "CallerName", address.caller_name)
        address_xml(root, address)
    return _xml_bytes(root)


def lidb_xml(number: str, display_name: str | None, reference: str, version: str) -> bytes:
    """A `<LidbOrder>` listing `display_name` for `number` (None: the listing made
    PRIVATE — Bandwidth has no LIDB deletion; the name is then not shown)."""
    root = ET.Element("LidbOrder")
    _sub(root, "CustomerOrderId", reference)
    group = ET.SubElement(ET.SubElement(root, "LidbTnGroups"), "LidbTnGroup")
    _sub(ET.SubElement(group, "TelephoneNumbers"), "TelephoneNumber",
         wire_number(number, version))
    _sub(group, "SubscriberInformation", display_name or "PRIVATE")
    _sub(group, "UseType", "BUSINESS")
    _sub(group, "Visibility", "PUBLIC" if display_name else "PRIVATE")
    return _xml_bytes(root)


def tnoption_xml(number: str, enabled: bool, reference: str, version: str) -> bytes:
    """A `<TnOptionOrder>` turning the inbound caller-name display of `number` on or off."""
    root = ET.Element("TnOptionOrder")
    _sub(root, "CustomerOrderId", reference)
    group = ET.SubElement(ET.SubElement(root, "TnOptionGroups"), "TnOptionGroup")
    _sub(group, "CallingNameDisplay", "on" if enabled else "off")
    _sub(ET.SubElement(group, "TelephoneNumbers"), "TelephoneNumber",
         wire_number(number, version))
    return _xml_bytes(root)


def geocoded(root: ET.Element, given: Address) -> Address:
    """The `<GeocodedAddress>` of a geocode answer, the parts it leaves out taken from
    `given`; `ValueError` when there is none."""
    found = root.find("GeocodedAddress")
    if found is None:
        raise ValueError("geocode answer without a GeocodedAddress")

    def part(tag: str, fallback: str) -> str:
        return (found.findtext(tag) or "").strip() or fallback

    line1 = part("AddressLine1", "") or " ".join(
        p for p in (part("HouseNumber", ""), part("PreDirectional", ""),
                    part("StreetName", ""), part("StreetSuffix", ""),
                    part("PostDirectional", "")) if p) or given.street_address
    return Address(street_address=line1,
                   extended_address=part("AddressLine2", given.extended_address),
                   locality=part("City", given.locality), region=part("StateCode", given.region),
                   postal_code=part("Zip", given.postal_code),
                   country=part("Country", given.country)[:2].upper() or given.country,
                   caller_name=given.caller_name)


def to_geocode_check(status: int, root: ET.Element, given: Address) -> AddressCheck:
    """A geocode answer: 200 valid, 409 corrected (its `GeocodedAddress` the suggestion),
    400 invalid (12110); `ValueError` for anything else."""
    if status == 400:
        return AddressCheck("invalid", given, message=xml_errors(root) or
                            "the address could not be validated / geocoded")
    if status == 409:
        return AddressCheck("corrected", given, [geocoded(root, given)],
                            message=(root.findtext("ErrorMessage") or "").strip() or None)
    if status == 200:
        return AddressCheck("valid", geocoded(root, given))
    raise ValueError(f"unexpected geocode answer {status}")


def to_feature_status(root: ET.Element) -> FeatureStatus:
    """Where an E911, LIDB or TN-option order stands (its create answer or a read of it);
    `refs` name it while pending. `ValueError` for an answer without an order id."""
    order = next((el for el in (root, *root) if el.tag in (
        "E911Order", "LidbOrder", "TnOptionOrder")), root)
    order_id = (order.findtext("orderId") or order.findtext("OrderId") or "").strip()
    status = (order.findtext("ProcessingStatus") or "").strip().upper()
    if not order_id:
        raise ValueError("feature order answer without an order id")
    problem = xml_errors(order)
    state = FEATURE_DONE.get(status, PENDING)
    if problem and state == PENDING:
        state = ERROR
    extra: dict[str, Any] = {}
    found = order.find("Address")
    if found is not None:
        for tag, key in (("Latitude", "latitude"), ("Longitude", "longitude"),
                         ("PlusFour", "plus_four")):
            if (found.findtext(tag) or "").strip():
                extra[key] = found.findtext(tag).strip()  # type: ignore[union-attr]
    message = problem or (f"order {order_id} {status}" if state == ERROR else None)
    return FeatureStatus(state, status or "RECEIVED", {"order_id": order_id},
                         message=message, extra=extra,
                         refs=[order_id] if state == PENDING else [])


def listed_feature_order(root: ET.Element) -> str | None:
    """The newest order id of a `GET /e911s?customerOrderId=` answer (`<E911Orders>` of
    `E911OrderSummary` or `E911Order`); None when it lists none."""
    if root.tag != "E911Orders":
        raise ValueError(f"expected <E911Orders>, got <{root.tag}>")
    rows = [el for el in root if el.tag in ("E911OrderSummary", "E911Order")]
    rows.sort(key=lambda el: el.findtext("lastModifiedDate") or el.findtext(
        "LastModifiedDate") or el.findtext("OrderDate") or "")
    for row in reversed(rows):
        found = (row.findtext("OrderId") or row.findtext("orderId") or "").strip()
        if found:
            return found
    return None


def _feature_event(root: ET.Element, feature: str) -> WebhookEvent:
    status = (root.findtext("Status") or "").strip().upper()
    state = {"COMPLETE": "complete", "ADJUSTED_COMPLETE": "complete", "FAILED": "failed",
             "PARTIAL": "failed", "ADJUSTED_PARTIAL": "failed"}.get(status, "pending")
    message = (root.findtext("Message") or "").strip() or None
    order_id = (root.findtext("OrderId") or "").strip() or None
    return WebhookEvent(number=None, order_reference=(root.findtext("CustomerOrderId") or
                                                      "").strip() or None,
                        order_id=order_id, operation=feature,
                        status=OrderStatus(state, status, message=message
                                           if state == "failed" else None, order_id=order_id))


def _xml_bytes(element: ET.Element) -> bytes:
    body = '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(element, encoding="unicode")
    return body.encode("utf-8")


def region_of(prefix: str) -> str | None:
    """The region of an E.164 prefix's dial code (`+44…` → `GB`), if one is unambiguous."""
    for length in (1, 2, 3):
        digits = prefix[1:1 + length]
        if not digits.isdigit():
            return None
        region = phonenumbers.region_code_for_country_code(int(digits))
        if region and region != "ZZ":
            return region
    return None


def _country(number: str, a3: str | None) -> str:
    if a3:
        return next((a2 for a2, three in ALPHA3.items() if three == a3), a3)
    return "US" if number.startswith("+1") else ""


# -- the carrier ---------------------------------------------------------------------------------


class Bandwidth2(TokenRefresh, AsyncOrderCarrier, HttpCarrier):
    """Bandwidth (Universal Platform v2, or the Numbers API v1 of legacy US/CA accounts)."""

    name = NAME
    default_base_url = DEFAULT_BASE_URLS["v2"]
    wire_format = "xml"
    capabilities = frozenset({"search_local", "search_npanxx", "search_tollfree",
                              "international", "buy", "release", "check", "async_orders",
                              "locality", "settle", "webhooks", "e911", "cnam"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("account_id", required=True, description="Bandwidth account id"),
        Setting("api_version", default="v2",
                description="`v2` (Universal Platform: E.164, international) or `v1` "
                            "(legacy US/CA, 10-digit numbers); unset in a config holding "
                            "`api_username` (Kazoo's): `v1`"),
        Setting("client_id", description="OAuth2 client id (client credentials; the default "
                                         "auth)"),
        Setting("client_secret", secret=True, description="OAuth2 client secret"),
        Setting("api_username", description="legacy API user (Basic auth; Bandwidth retires "
                                            f"it on {BASIC_AUTH_ENDS})"),
        Setting("api_password", secret=True, description="legacy API user's password"),
        Setting("token_url", description="OAuth2 token endpoint (default: Bandwidth's, "
                                         f"{TOKEN_URL})"),
        Setting("site_id", description="site (sub-account) numbers go to: needed to order, "
                "not to search"),
        Setting("sip_peer", description="SIP peer (location) numbers route to"),
        Setting("order_name_prefix", default="knm", description="order Name prefix"),
        Setting("max_search_quantity", int, default=500, description="cap on `quantity`"),
        Setting("webhook_username", description="Basic user of knm's webhook subscription"),
        Setting("webhook_password", secret=True,
                description="Basic password of knm's webhook subscription"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        version = api_version(config)
        if version not in DEFAULT_BASE_URLS:
            raise errors.CarrierMisconfigured(cls.name, "api_version", "must be v2 or v1")
        config = {**config, "api_version": version}
        if not config.get("base_url"):
            config["base_url"] = DEFAULT_BASE_URLS[version]
        out = super().validate_config(config)
        # OAuth2 when either of its settings is given; the legacy Basic pair when only it is;
        # with neither, what to set is OAuth2's
        pair = ("api_username", "api_password") if not (
            out.get("client_id") or out.get("client_secret")) and (
            out.get("api_username") or out.get("api_password")) else ("client_id",
                                                                        "client_secret")
        for key in pair:
            if not out.get(key):
                raise errors.CarrierMisconfigured(
                    cls.name, key, "is required (OAuth2 client credentials: client_id and "
                    "client_secret; or the legacy api_username and api_password)")
        return out

    @classmethod
    def config_warnings(cls, config: Mapping[str, Any]) -> list[str]:
        return config_warnings(config)

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._token = AccessToken(self._mint_token) if self.config.get("client_id") else None

    @property
    def version(self) -> str:
        return str(self.config["api_version"])

    # -- auth and errors ------------------------------------------------------------------------

    def access_token(self) -> AccessToken | None:
        return self._token

    def request_headers(self) -> dict[str, str]:
        if self._token is not None:
            return {"Authorization": f"Bearer {self._token.get()}", "Accept": "application/xml"}
        return {"Authorization": self.basic_auth(self.config["api_username"],
                                                 self.config["api_password"]),
                "Accept": "application/xml"}

    def _mint_token(self) -> tuple[str, float]:
        """One OAuth2 client-credentials exchange at `token_url` (called by the token cache,
        which renews it with under a minute left). Its failure is never unsettled — the
        request it was minted for has not been sent — and says it was the token request, so
        an operator looks at `client_id`/`client_secret`/`token_url`, not at the order."""
        try:
            response = self.post(
                token_url(self.config), authenticate=False, acts=False,
                headers={"Authorization": self.basic_auth(self.config["client_id"],
                                                          self.config["client_secret"]),
                         "Accept": "application/json"},
                data={"grant_type": "client_credentials"})
        except errors.CarrierFault as exc:
            what = ("refused client_id/client_secret"
                    if isinstance(exc, errors.CarrierCredentials) else "failed")
            exc.message = f"Bandwidth's OAuth2 token request (token_url) {what}"
            exc.args = (exc.message,)
            exc.unsettled = False
            raise
        try:
            token, life = token_answer(self.parse_json(response))
        except ValueError as exc:
            raise self.fault(errors.MalformedResponse, str(exc), unsettled=False) from None
        self.add_secret(token)
        return token, life

    def xml_error_message(self, root: ET.Element) -> str | None:
        return xml_errors(root)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        return errors.NumberUnavailable if means_unavailable(message) else None

    def check_reply(self, response: httpx.Response, body: Any) -> None:
        """A 2xx that is not an order answer but carries errors (a search's `<Error>`)."""
        if body.find("OrderStatus") is not None or local_name(body.tag).endswith(
                "OrderResponse"):
            return
        problem = xml_errors(body)
        if problem:
            raise self.refusal(problem, status=response.status_code,
                               default=errors.NumberUnavailable if means_unavailable(problem)
                               else errors.CarrierFault)

    def failure_class(self, status: OrderStatus) -> type[errors.CarrierFault]:
        return errors.NumberUnavailable if means_unavailable(status.message) else \
            errors.CarrierFault

    # -- search -------------------------------------------------------------------------------

    def _path(self, relative: str) -> str:
        return f"/accounts/{self.config['account_id']}/{relative}"

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        maximum = int(self.config["max_search_quantity"])
        asked = search_params(prefix, quantity, options, self.version, maximum)
        if asked is None:
            return []
        params, tollfree = asked
        root = self.call("GET", self._path("availableNumbers"), params=params,
                         deadline=options.deadline)
        return to_results(root, prefix, tollfree, max(1, min(quantity, maximum)))

    # -- orders -------------------------------------------------------------------------------

    def place_order(self, number: PhoneNumber) -> OrderStatus:
        num = number.number
        if not self.config.get("site_id"):
            raise errors.CarrierMisconfigured(self.name, "site_id", "is required to order")
        reference = self.order_reference(number)
        name = f"{self.config['order_name_prefix']}-{int(time.time())}"
        root = self.call("POST", self._path("orders"), number=num,
                         content=order_xml(num, reference, name, self.config, self.version),
                         headers={"Content-Type": "application/xml"})
        first = self.parsed(to_order_status, root, number=num)
        first.data.update(customer_order_id=reference, order_name=name, number=num)
        return first

    def fetch_order(self, order_id: str, number: PhoneNumber) -> OrderStatus:
        root = self.call("GET", self._path(f"orders/{order_id}"), number=number.number)
        return self.parsed(to_order_status, root, number=number.number)

    def place_disconnect(self, number: PhoneNumber) -> OrderStatus:
        num = number.number
        reference = self.order_reference(number)
        root = self.call("POST", self._path("disconnects"), number=num,
                         content=disconnect_xml(num, reference, self.version),
                         headers={"Content-Type": "application/xml"})
        first = self.parsed(to_order_status, root, number=num)
        first.data.pop("order_status", None)  # that key is the purchase's
        return first

    def fetch_disconnect(self, order_id: str, number: PhoneNumber) -> OrderStatus:
        root = self.call("GET", self._path(f"disconnects/{order_id}"), number=number.number)
        status = self.parsed(to_order_status, root, number=number.number)
        status.data.pop("order_status", None)
        return status

    # -- check and settle ---------------------------------------------------------------------

    def held(self, number: str) -> str | None:
        """The `/tns/{tn}` status of `number` when this account holds it, else None."""
        try:
            root = self.call("GET", f"/tns/{wire_number(number, self.version)}", number=number)
        except errors.CarrierNotFound:
            return None
        return held_status(root, self.config["account_id"])

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """Bandwidth's status (`Inservice`, …) of each number this account holds; others
        (unknown, another account's, aging, available) are left out."""
        out: dict[str, str] = {}
        for num in numbers:
            if self.version == "v1" and not num.startswith("+1"):
                continue
            status = self.held(num)
            if status:
                out[num] = status
        return out

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """A purchase: its order (by id, else by `CustomerOrderId`), confirmed with
        `/tns/{tn}`. A release: its disconnect order by id, else whether the account still
        holds the number."""
        num = number.number
        data = number.carrier_data
        if settling(number) == "disconnect":
            order_id = data.get("disconnect_order_id")
            if order_id:
                found = self.fetch_disconnect(str(order_id), number)
                if found.state != "complete":
                    return found
            status = self.held(num)
            if status is None:
                return OrderStatus("complete", "disconnected",
                                   message=f"{num} is no longer held")
            return OrderStatus("failed", status, message=f"{num} is still held ({status})")
        order = self._find_order(number)
        if order is not None and order.state in ("pending", "failed"):
            return order
        status = self.held(num)
        if status is not None:
            extra = {"order_id": order.order_id} if order is not None else {}
            learnt = {**(order.data if order else {}), **extra}
            return OrderStatus("complete", status, data=learnt,
                               order_id=order.order_id if order else None)
        if order is not None:  # complete, yet /tns does not show it ours (yet)
            return OrderStatus("pending", order.status, data={"order_id": order.order_id},
                               message="order complete, number not yet in service",
                               order_id=order.order_id)
        return OrderStatus("failed", message="no order with this CustomerOrderId, number not "
                                             "held")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """Order and disconnect notifications, verified with the Basic credentials set on
        knm's subscription (`webhook_username`, `webhook_password`)."""
        user, password = self.config.get("webhook_username"), self.config.get("webhook_password")
        if not user or not password:
            raise errors.Unauthenticated("webhook_username and webhook_password are not "
                                         "configured: a Bandwidth notification cannot be "
                                         "verified", cause="webhook")
        sent = {str(k).lower(): str(v) for k, v in headers.items()}.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), self.basic_auth(user, password).encode()):
            raise errors.Unauthenticated("Bandwidth notification refused: wrong credentials",
                                         cause="webhook")
        try:
            return to_events(parse_xml_text(body))
        except ValueError as exc:
            raise errors.Invalid("body", f"unreadable Bandwidth notification: {exc}") from None

    def _find_order(self, number: PhoneNumber) -> OrderStatus | None:
        data = number.carrier_data
        if data.get("order_id"):
            try:
                return self.fetch_order(str(data["order_id"]), number)
            except errors.CarrierNotFound:
                pass
        reference = data.get("order_reference") or data.get("customer_order_id")
        if not reference:
            return None
        root = self.call("GET", self._path("orders"), number=number.number,
                         params={"customerOrderId": reference})
        return listed_order(root, str(reference))

    # -- number features (SPEC §13) -----------------------------------------------------------

    def _feature_xml(self, method: str, path: str, number: str, *, accept: tuple[int, ...] = (),
                     **kw: Any) -> tuple[int, ET.Element]:
        """One request whose XML answer is parsed whatever it says (a failed order read is
        an answer, not an error): the status and the root."""
        if "content" in kw:
            kw["headers"] = {"Content-Type": "application/xml"}
        response = self.request(method, self._path(path), number=number, accept=accept, **kw)
        return response.status_code, self.parse_xml(response, number=number)

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        num = number.number
        status, root = self._feature_xml("POST", "geocodeRequest", num, accept=(400, 409),
                                         content=geocode_xml(address), idempotent=True,
                                         acts=False)
        return self.parsed(to_geocode_check, status, root, address, number=num)

    def _order(self, path: str, body: bytes, number: PhoneNumber, key: str) -> FeatureStatus:
        """Place a feature order and poll it for `feature_wait_s`; its id goes under `key`
        of the number's carrier data (what settling reads)."""
        num = number.number
        _, root = self._feature_xml("POST", path, num, content=body)
        first = self.parsed(to_feature_status, root, number=num)
        order_id = first.data.pop("order_id")
        status = poll_feature(self, lambda: self._read_order(path, order_id, num), first)
        status.data.pop("order_id", None)
        status.data[key] = order_id
        return status

    def _read_order(self, path: str, order_id: str, number: str) -> FeatureStatus:
        _, root = self._feature_xml("GET", f"{path}/{order_id}", number)
        found = self.parsed(to_feature_status, root, number=number)
        found.data.pop("order_id", None)
        return found

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        reference = new_order_reference()
        body = e911_order_xml(number.number, address, reference, self.version)
        try:
            status = self._order("e911s", body, number, E911_ORDER)
        except errors.KnmError as exc:
            if not exc.unsettled:
                raise
            # the answer was lost: an order may exist; settling finds it by its reference
            return FeatureStatus(PENDING, "unknown", {E911_ORDER: None,
                                                      E911_REFERENCE: reference}, address,
                                 message=self.scrub(str(exc)))
        status.address = address
        status.data[E911_REFERENCE] = reference
        return status

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        body = e911_order_xml(number.number, None, new_order_reference(), self.version)
        status = self._order("e911s", body, number, E911_ORDER)
        if status.state == ERROR:
            raise self.refusal(status.message, number=number.number)
        if status.state == PENDING:  # still at work: settling reads the order (its id kept)
            return status
        return FeatureStatus(REMOVED, status.carrier_status, {E911_ORDER: None})

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        """The E911 order by its id; one whose answer was lost, by knm's `CustomerOrderId`
        (none found: Bandwidth never took it — the change failed)."""
        num = number.number
        order_id = number.carrier_data.get(E911_ORDER)
        if not order_id:
            reference = number.carrier_data.get(E911_REFERENCE)
            if not reference:
                return FeatureStatus(ERROR, message="no E911 order is known for the number")
            _, root = self._feature_xml("GET", "e911s", num,
                                        params={"customerOrderId": reference})
            found = self.parsed(listed_feature_order, root, number=num)
            if found is None:
                return FeatureStatus(ERROR, message=f"Bandwidth has no E911 order {reference}")
            order_id = found
            status = self._read_order("e911s", str(order_id), num)
            status.data[E911_ORDER] = order_id
            return status
        return self._read_order("e911s", str(order_id), num)

    def set_cnam(self, number: PhoneNumber, display_name: str | None) -> FeatureStatus:
        body = lidb_xml(number.number, display_name, new_order_reference(), self.version)
        return self._order("lidbs", body, number, LIDB_ORDER)

    def set_inbound_lookup(self, number: PhoneNumber, enabled: bool) -> FeatureStatus:
        body = tnoption_xml(number.number, enabled, new_order_reference(), self.version)
        return self._order("tnoptions", body, number, TNOPTION_ORDER)

    def cnam_status(self, number: PhoneNumber) -> FeatureStatus:
        """The caller-name orders of the number read again: any failed fails the change,
        any still pending keeps it pending."""
        found = []
        for path, key in (("lidbs", LIDB_ORDER), ("tnoptions", TNOPTION_ORDER)):
            order_id = number.carrier_data.get(key)
            if order_id:
                found.append(self._read_order(path, str(order_id), number.number))
        for state in (ERROR, PENDING):
            worst = next((f for f in found if f.state == state), None)
            if worst is not None:
                return worst
        return FeatureStatus(PROVISIONED, "COMPLETE")
