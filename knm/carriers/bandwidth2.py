"""knm_bandwidth2: Bandwidth's Numbers API (v1, XML) — search, order, disconnect, TN lookup.

Kazoo's module with its quirks fixed deliberately (reference/kazoo-http-carriers.md §15):
the toll-free pattern keeps its first digit, the order id stored is Bandwidth's (the client
reference is kept as `customer_order_id`), polling is bounded (`order_timeout_s`), an empty
search is an empty list rather than an error, and a disconnect really releases the number
(a disconnect order). Auth is Basic (`api_username`/`api_password`, retired by Bandwidth on
2026-12-02) or OAuth2 client credentials (`client_id`/`client_secret`), preferred when set.
"""

from __future__ import annotations

import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any, ClassVar

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier, OrderStatus, parse_xml_text
from knm.record import PhoneNumber

TOLLFREE_NPAS = frozenset({"800", "822", "833", "844", "855", "866", "877", "880", "881",
                           "882", "883", "884", "885", "886", "887", "888", "889"})
#: Bandwidth error codes meaning "someone else has this number now"
UNAVAILABLE_CODES = frozenset({"5005", "5004"})
ORDER_DONE = {"COMPLETE": "complete", "FAILED": "failed", "PARTIAL": "failed"}


class Bandwidth2(HttpCarrier):
    """Bandwidth (Numbers API v1). US and Canada numbers, 10 digits on the wire."""

    name = "knm_bandwidth2"
    default_base_url = "https://api.bandwidth.com/api/v1"
    async_orders = True
    capabilities = frozenset({"search_local", "search_npanxx", "search_tollfree", "buy",
                              "release", "check", "async_orders", "locality"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("account_id", required=True, description="Bandwidth account id"),
        Setting("api_username", description="legacy API user (Basic auth)"),
        Setting("api_password", secret=True, description="legacy API user's password"),
        Setting("client_id", description="OAuth2 client id (client credentials)"),
        Setting("client_secret", secret=True, description="OAuth2 client secret"),
        Setting("site_id", description="site (sub-account) numbers go to: needed to order, "
                "not to search"),
        Setting("sip_peer", description="SIP peer (location) numbers route to"),
        Setting("order_name_prefix", default="knm", description="order Name prefix"),
        Setting("max_search_quantity", int, default=500, description="cap on `quantity`"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        out = super().validate_config(config)
        if out.get("client_id") or out.get("client_secret"):
            for key in ("client_id", "client_secret"):
                if not out.get(key):
                    raise errors.CarrierMisconfigured(cls.name, key)
        elif not (out.get("api_username") and out.get("api_password")):
            key = "api_username" if not out.get("api_username") else "api_password"
            raise errors.CarrierMisconfigured(
                cls.name, key, "is required (or client_id and client_secret for OAuth2)")
        return out

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()

    # -- auth ---------------------------------------------------------------------------------

    def request_headers(self) -> dict[str, str]:
        if self.config.get("client_id"):
            return {"Authorization": f"Bearer {self._access_token()}"}
        return {"Authorization": self.basic_auth(self.config["api_username"],
                                                 self.config["api_password"])}

    def _access_token(self) -> str:
        """A cached OAuth2 token, refreshed when under a minute of validity is left."""
        with self._token_lock:
            if self._token and self._token[1] - time.monotonic() > 60:
                return self._token[0]
            response = self.post(
                "/oauth2/token", authenticate=False,
                headers={"Authorization": self.basic_auth(self.config["client_id"],
                                                          self.config["client_secret"])},
                data={"grant_type": "client_credentials"})
            doc = self.parse_json(response)
            token = doc.get("access_token") if isinstance(doc, dict) else None
            if not token:
                raise self.fault(errors.MalformedResponse, "token response without access_token")
            self.add_secret(token)
            self._token = (token, time.monotonic() + float(doc.get("expires_in") or 300))
            return token

    # -- errors -------------------------------------------------------------------------------

    def extract_error_message(self, response: httpx.Response) -> str | None:
        try:
            root = parse_xml_text(response.content)
        except ValueError:
            return super().extract_error_message(response)
        message = _xml_errors(root)
        return message or super().extract_error_message(response)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        if message and any(message.startswith(code) or f"; {code}:" in message
                           for code in UNAVAILABLE_CODES):
            return errors.NumberUnavailable
        return None

    # -- search -------------------------------------------------------------------------------

    def _path(self, relative: str) -> str:
        return f"/accounts/{self.config['account_id']}/{relative}"

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        if not prefix.startswith("+1"):
            return []  # v1 sells US and Canadian numbers only
        digits = prefix[2:]
        quantity = max(1, min(quantity, int(self.config["max_search_quantity"])))
        params: dict[str, Any] = {"quantity": quantity, "enableTNDetail": "true"}
        tollfree = digits[:3] in TOLLFREE_NPAS or (
            options.extra.get("tollfree") and digits[:1] == "8")
        if tollfree:
            params["tollFreeWildCardPattern"] = (digits[:3] + "**")[:3]
        elif len(digits) < 3:
            return []  # Bandwidth cannot search by less than an area code
        elif len(digits) < 6:
            params["areaCode"] = digits[:3]
        elif len(digits) == 6:
            params.update(npaNxx=digits, LCA="false")
        else:
            params.update(npaNxxx=digits[:7], LCA="false")
        if len(digits) not in (3, 6, 7):  # filtered here: ask for as many as allowed
            params["quantity"] = int(self.config["max_search_quantity"])
        response = self.get(self._path("availableNumbers"), params=params,
                            deadline=options.deadline)
        root = self.parse_xml(response)
        problem = _xml_errors(root)
        if problem:
            raise self.fault(errors.CarrierFault, problem, status=response.status_code)
        results = [r for r in self._results(root, tollfree) if r.number.startswith(prefix)]
        return results[:quantity]

    def _results(self, root: ET.Element, tollfree: bool) -> list[SearchResult]:
        out: list[SearchResult] = []
        for el in root.iterfind("TelephoneNumberDetailList/TelephoneNumberDetail"):
            number = _e164(el.findtext("FullNumber") or "")
            if not number:
                continue
            city, state = el.findtext("City"), el.findtext("State")
            rate_center = {"name": el.findtext("RateCenter"), "lata": el.findtext("LATA"),
                           "state": state}
            rate_center = {k: v for k, v in rate_center.items() if v}
            locality = {"city": city, "region": state, "country": "US",
                        "rate_center": rate_center.get("name")}
            out.append(SearchResult(
                number, self.name,
                carrier_data={} if tollfree else {"rate_center": rate_center},
                locality={k: v for k, v in locality.items() if v}))
        for el in root.iterfind("TelephoneNumberList/TelephoneNumber"):
            number = _e164(el.text or "")
            if number:
                out.append(SearchResult(number, self.name))
        return out

    # -- order --------------------------------------------------------------------------------

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        if not self.config.get("site_id"):
            raise errors.CarrierMisconfigured(self.name, "site_id", "is required to order")
        reference = f"knm-{uuid.uuid4().hex[:32]}"
        name = f"{self.config['order_name_prefix']}-{int(time.time())}"
        order = ET.Element("Order")
        for tag, value in (("CustomerOrderId", reference), ("Name", name),
                           ("SiteId", self.config["site_id"]),
                           ("PeerId", self.config.get("sip_peer"))):
            if value:
                ET.SubElement(order, tag).text = str(value)
        tns = ET.SubElement(ET.SubElement(order, "ExistingTelephoneNumberOrderType"),
                            "TelephoneNumberList")
        ET.SubElement(tns, "TelephoneNumber").text = _national(num)
        response = self.post(self._path("orders"), number=num, content=_xml_bytes(order),
                             headers={"Content-Type": "application/xml"})
        first = self._order_status(self.parse_xml(response, number=num), num)
        order_id = first.extra.get("id")
        if not order_id:
            raise self.fault(errors.MalformedResponse, "order response without an order id",
                             number=num)
        number.set_carrier_data({**number.carrier_data, "order_id": order_id,
                                 "customer_order_id": reference, "order_name": name})

        def fetch() -> OrderStatus:
            got = self.get(self._path(f"orders/{order_id}"), number=num)
            return self._order_status(self.parse_xml(got, number=num), num)

        done = self.poll_order(number, order_id, fetch, first)
        data = {k: v for k, v in number.carrier_data.items() if k != "order_status"}
        data.update(order_id=order_id, customer_order_id=reference, order_name=name,
                    number=num, order_status=done.status.lower() or "complete")
        number.set_carrier_data(data)
        return number

    def _order_status(self, root: ET.Element, num: str) -> OrderStatus:
        status = (root.findtext("OrderStatus") or "").strip().upper()
        order_id = root.findtext("Order/id") or root.findtext("orderRequest/id")
        problem = _xml_errors(root)
        state = ORDER_DONE.get(status, "pending")
        if problem and (state == "failed" or not status):
            if any(problem.startswith(code) for code in UNAVAILABLE_CODES):
                raise self.fault(errors.NumberUnavailable, problem, number=num)
            raise self.fault(errors.CarrierFault, problem, number=num)
        if not status:
            raise self.fault(errors.MalformedResponse, "order response without OrderStatus",
                             number=num)
        return OrderStatus(state, status, root, problem, extra={"id": order_id})

    # -- disconnect ---------------------------------------------------------------------------

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        reference = f"knm-{uuid.uuid4().hex[:32]}"
        doc = ET.Element("DisconnectTelephoneNumberOrder")
        ET.SubElement(doc, "CustomerOrderId").text = reference
        kind = ET.SubElement(doc, "DisconnectTelephoneNumberOrderType")
        ET.SubElement(ET.SubElement(kind, "TelephoneNumberList"),
                      "TelephoneNumber").text = _national(num)
        ET.SubElement(kind, "DisconnectMode").text = "NORMAL"
        response = self.post(self._path("disconnects"), number=num, content=_xml_bytes(doc),
                             headers={"Content-Type": "application/xml"})
        first = self._order_status(self.parse_xml(response, number=num), num)
        order_id = first.extra.get("id") or ""

        def fetch() -> OrderStatus:
            got = self.get(self._path(f"disconnects/{order_id}"), number=num)
            return self._order_status(self.parse_xml(got, number=num), num)

        try:
            self.poll_order(number, order_id, fetch, first,
                            pending_keys=("disconnect_order_id", "disconnect_status"))
        except errors.CarrierTimeout:
            return number  # accepted by Bandwidth; it completes on its own
        number.set_carrier_data({**number.carrier_data, "disconnect_order_id": order_id,
                                 "disconnect_status": "complete"})
        return number

    # -- check --------------------------------------------------------------------------------

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """Bandwidth's status (`Inservice`, …) of each number it knows; others are left out."""
        out: dict[str, str] = {}
        for num in numbers:
            if not num.startswith("+1"):
                continue
            try:
                response = self.get(f"/tns/{_national(num)}", number=num)
            except errors.CarrierNotFound:
                continue
            status = self.parse_xml(response, number=num).findtext("Status")
            if status:
                out[num] = status
        return out


def _xml_errors(root: ET.Element) -> str | None:
    """The three error shapes of Bandwidth (Error, ErrorList/Error, ResponseStatus)."""
    parts = []
    for el in root.iter():
        if el.tag in ("Error", "ResponseStatus"):
            code = (el.findtext("Code") or el.findtext("ErrorCode") or "").strip()
            text = (el.findtext("Description") or "").strip()
            if code or text:
                parts.append(f"{code}: {text}" if code else text)
    return "; ".join(parts) or None


def _xml_bytes(element: ET.Element) -> bytes:
    body = '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(element, encoding="unicode")
    return body.encode("utf-8")


def _national(number: str) -> str:
    return number[2:] if number.startswith("+1") else number.lstrip("+")


def _e164(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    if text.startswith("+"):
        return text
    return f"+1{text[-10:]}" if len(text) >= 10 else ""
