"""Bandwidth Numbers API (v1, XML) simulator: search, orders, disconnects, TN lookup, OAuth2.

Paths are relative to the API root (`https://api.bandwidth.com/api/v1` in production), so a
carrier's `base_url` is just the simulator's URL. Payload shapes follow Bandwidth's documented
examples and Kazoo's fixtures (`bandwidth2_*.xml`); area code 973 and toll-free 855 serve the
fixture numbers, every other prefix a deterministic generated stock.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.carriers.http import parse_xml_text
from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator, e164, national

XML = "application/xml"
PROLOG = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

#: Kazoo's fixture stock: bandwidth2_find_by_npa_no_detail.xml and bandwidth2_find_tollfree.xml
FIXTURE_STOCK = {
    "973": ["9733705112", "9733705183"],
    "855": ["8552522133", "8552522137", "8552522143", "8552522151", "8552522158",
            "8552522166", "8552522174", "8552522195", "8552522236", "8552523156",
            "8552523192", "8552523459", "8552523701", "8552523751", "8552523752"],
}
#: Kazoo's fixture detail (bandwidth2_find_by_npa.xml)
FIXTURE_DETAIL = {"9733705112": ("MENDHAM", "224", "MENDHAM", "NJ"),
                  "9733705183": ("MENDHAM", "224", "MENDHAM", "NJ")}


def xml_response(body: str, status: int = 200, headers: dict[str, str] | None = None
                 ) -> Response:
    return Response(PROLOG + body, status_code=status, media_type=XML, headers=headers)


class Bandwidth2Simulator(Simulator):
    """`Bandwidth2Simulator(account_id="9900001", api_username="u", api_password="p",
    client_id="cid", client_secret="cs")`: Basic auth with either pair, or a Bearer token
    from `POST /oauth2/token`."""

    name = "knm_bandwidth2"
    content_type = XML

    def __init__(self, *, account_id: str = "9900001", api_username: str = "knm",
                 api_password: str = "bw-password", client_id: str = "knm-client",
                 client_secret: str = "bw-client-secret") -> None:
        super().__init__(account_id=account_id, api_username=api_username,
                         api_password=api_password, client_id=client_id,
                         client_secret=client_secret)
        self.tokens: dict[str, float] = {}
        self.token_ttl_s = 3600
        self.fixed_stock.update(FIXTURE_STOCK)
        self.disconnects: dict[str, dict[str, Any]] = {}

    # -- auth and errors ----------------------------------------------------------------------

    def _basic(self, user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def check_auth(self, request: RecordedRequest) -> Response | None:
        auth = request.headers.get("authorization", "")
        c = self.credentials
        if request.path == "/oauth2/token":
            if auth == self._basic(c["client_id"], c["client_secret"]):
                return None
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if auth == self._basic(c["api_username"], c["api_password"]):
            return None
        if auth.startswith("Bearer "):
            with self.lock:
                expires = self.tokens.get(auth[7:])
            if expires and expires > time.time():
                return None
        return self.error_body(401, "Invalid credentials")

    def error_body(self, status: int, message: str) -> Response:
        # shape 3 of Bandwidth's errors (ResponseStatus), used by most resources
        code = {400: 12000, 401: 401, 403: 403, 404: 12512, 409: 5005}.get(status, 99999)
        return xml_response(
            f"<ErrorResponse><ResponseStatus><ErrorCode>{code}</ErrorCode>"
            f"<Description>{escape(message)}</Description></ResponseStatus></ErrorResponse>",
            status)

    # -- routes -------------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        sim = self

        @app.post("/oauth2/token")
        async def token(request: Request) -> Response:
            form = (await request.body()).decode()
            if "grant_type=client_credentials" not in form:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            value = secrets.token_urlsafe(24)
            with sim.lock:
                sim.tokens[value] = time.time() + sim.token_ttl_s
            return JSONResponse({"access_token": value, "token_type": "Bearer",
                                 "expires_in": sim.token_ttl_s})

        @app.get("/accounts/{account_id}/availableNumbers")
        def search(account_id: str, request: Request) -> Response:
            if account_id != sim.credentials["account_id"]:
                return sim.error_body(403, f"account {account_id} is not yours")
            return sim._search(dict(request.query_params))

        @app.post("/accounts/{account_id}/orders")
        async def order(account_id: str, request: Request) -> Response:
            if account_id != sim.credentials["account_id"]:
                return sim.error_body(403, f"account {account_id} is not yours")
            return sim._create_order(await request.body())

        @app.get("/accounts/{account_id}/orders/{order_id}")
        def get_order(account_id: str, order_id: str) -> Response:
            current = sim.order_progress(order_id)
            if current is None or account_id != sim.credentials["account_id"]:
                return sim.error_body(404, f"Order {order_id} not found")
            return xml_response(sim._order_xml(current, final=True))

        @app.post("/accounts/{account_id}/disconnects")
        async def disconnect(account_id: str, request: Request) -> Response:
            if account_id != sim.credentials["account_id"]:
                return sim.error_body(403, f"account {account_id} is not yours")
            return sim._create_disconnect(await request.body())

        @app.get("/accounts/{account_id}/disconnects/{order_id}")
        def get_disconnect(account_id: str, order_id: str) -> Response:
            with sim.lock:
                found = sim.disconnects.get(order_id)
            if found is None:
                return sim.error_body(404, f"Disconnect {order_id} not found")
            return xml_response(sim._disconnect_xml(found, "COMPLETE"))

        @app.get("/tns/{tn}")
        def tn(tn: str) -> Response:
            with sim.lock:
                owned = sim.owned.get(e164(tn))
            if owned is None:
                return sim.error_body(404, f"Telephone number '{tn}' is not valid")
            return xml_response(
                f"<TelephoneNumberResponse><TelephoneNumber>{tn}</TelephoneNumber>"
                f"<Status>Inservice</Status><OrderId>{owned['order_id']}</OrderId>"
                f"<OrderType>NEW_NUMBER_ORDER</OrderType>"
                f"<AccountId>{sim.credentials['account_id']}</AccountId>"
                f"</TelephoneNumberResponse>")

    # -- behaviour ----------------------------------------------------------------------------

    def _search(self, params: dict[str, str]) -> Response:
        quantity = int(params.get("quantity") or 5000)
        detail = params.get("enableTNDetail", "false").lower() == "true"
        pattern = params.get("tollFreeWildCardPattern")
        prefix = (params.get("areaCode") or params.get("npaNxx") or params.get("npaNxxx")
                  or (pattern or "").rstrip("*"))
        if not prefix:
            return xml_response(
                "<SearchResult><Error><Code>4010</Code><Description>One of more required "
                "search parameters are null or empty, please refer to the api documentation"
                "</Description></Error></SearchResult>", 400)
        if pattern and pattern[:3].rstrip("*") and not any(
                tf.startswith(pattern.rstrip("*")) for tf in TOLLFREE_NPAS):
            return xml_response(
                "<SearchResult><Error><Code>4000</Code><Description>The TollFree wild card "
                "pattern is invalid</Description></Error></SearchResult>", 400)
        if pattern and len(prefix) < 3:
            npas = [tf for tf in TOLLFREE_NPAS if tf.startswith(prefix)]
            numbers = sorted(n for npa in npas for n in self.stock(npa, quantity))[:quantity]
        else:
            numbers = self.stock(prefix, quantity)
        if detail:
            items = "".join(self._detail_xml(n) for n in numbers)
            body = (f"<SearchResult><ResultCount>{len(numbers)}</ResultCount>"
                    f"<TelephoneNumberDetailList>{items}</TelephoneNumberDetailList>"
                    f"</SearchResult>")
        else:
            items = "".join(f"<TelephoneNumber>{n}</TelephoneNumber>" for n in numbers)
            body = (f"<SearchResult><ResultCount>{len(numbers)}</ResultCount>"
                    f"<TelephoneNumberList>{items}</TelephoneNumberList></SearchResult>")
        return xml_response(body)

    def _detail_xml(self, number: str) -> str:
        city, lata, rate_center, state = FIXTURE_DETAIL.get(
            number, (f"CITY {number[:3]}", str(200 + int(number[:3]) % 700),
                     f"RC {number[:6]}", "ZZ" if number[:3] in TOLLFREE_NPAS else "NY"))
        return (f"<TelephoneNumberDetail><City>{city}</City><LATA>{lata}</LATA>"
                f"<RateCenter>{rate_center}</RateCenter><State>{state}</State>"
                f"<FullNumber>{number}</FullNumber><Tier>0</Tier><VendorId>49</VendorId>"
                f"<VendorName>Bandwidth CLEC</VendorName></TelephoneNumberDetail>")

    def _create_order(self, body: bytes) -> Response:
        try:
            root = parse_xml_text(body)
        except ValueError:
            return self.error_body(400, "The request body is not valid XML")
        fields = {el.tag: (el.text or "") for el in root}
        numbers = [el.text or "" for el in root.iterfind(
            "ExistingTelephoneNumberOrderType/TelephoneNumberList/TelephoneNumber")]
        if root.tag != "Order" or not numbers:
            return self.error_body(500, "Internal server error")
        if not fields.get("SiteId"):
            return xml_response(
                "<OrderResponse><ErrorList><Error><Code>5022</Code><Description>SiteId is "
                "required</Description></Error></ErrorList></OrderResponse>", 400)
        order = self.place_order([e164(n) for n in numbers], **{
            "customer_order_id": fields.get("CustomerOrderId", ""),
            "name": fields.get("Name", ""), "site_id": fields.get("SiteId", ""),
            "peer_id": fields.get("PeerId", ""),
            "create_date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())})
        if order["failed_numbers"]:
            tns = "".join(f"<TelephoneNumber>{national(n)}</TelephoneNumber>"
                          for n in order["failed_numbers"])
            return xml_response(
                f"<OrderResponse><ErrorList><Error><Code>5005</Code><Description>Telephone "
                f"Number Unavailable</Description><TelephoneNumberList>{tns}"
                f"</TelephoneNumberList></Error></ErrorList>"
                f"{self._order_element(order)}<OrderStatus>FAILED</OrderStatus>"
                f"</OrderResponse>", 400)
        # a new order is always RECEIVED at first, as at Bandwidth
        return xml_response(self._order_xml(order, final=False), 201,
                            headers={"Location": f"/orders/{order['id']}"})

    def _order_element(self, order: dict[str, Any]) -> str:
        tns = "".join(f"<TelephoneNumber>{national(n)}</TelephoneNumber>"
                      for n in order["numbers"])
        peer = f"<PeerId>{escape(order['peer_id'])}</PeerId>" if order["peer_id"] else ""
        return (f"<Order><CustomerOrderId>{escape(order['customer_order_id'])}</CustomerOrderId>"
                f"<Name>{escape(order['name'])}</Name>"
                f"<OrderCreateDate>{order['create_date']}</OrderCreateDate>{peer}"
                f"<BackOrderRequested>false</BackOrderRequested><id>{order['id']}</id>"
                f"<ExistingTelephoneNumberOrderType><TelephoneNumberList>{tns}"
                f"</TelephoneNumberList></ExistingTelephoneNumberOrderType>"
                f"<PartialAllowed>true</PartialAllowed>"
                f"<SiteId>{escape(order['site_id'])}</SiteId></Order>")

    def _order_xml(self, order: dict[str, Any], *, final: bool) -> str:
        state = order["state"] if final else "pending"
        status = {"pending": "RECEIVED", "complete": "COMPLETE", "failed": "FAILED"}[state]
        extra = ""
        if state == "failed":
            extra = ("<ErrorList><Error><Code>5005</Code><Description>Telephone Number "
                     "Unavailable</Description></Error></ErrorList>")
        elif state == "complete":
            done = "".join(f"<TelephoneNumber><FullNumber>{national(n)}</FullNumber>"
                           f"</TelephoneNumber>" for n in order["numbers"])
            extra = (f"<CompletedQuantity>{len(order['numbers'])}</CompletedQuantity>"
                     f"<CompletedNumbers>{done}</CompletedNumbers>"
                     f"<FailedQuantity>0</FailedQuantity>")
        return (f"<OrderResponse>{extra}{self._order_element(order)}"
                f"<OrderStatus>{status}</OrderStatus></OrderResponse>")

    def _create_disconnect(self, body: bytes) -> Response:
        try:
            root = parse_xml_text(body)
        except ValueError:
            return self.error_body(400, "The request body is not valid XML")
        numbers = [el.text or "" for el in root.iterfind(
            "DisconnectTelephoneNumberOrderType/TelephoneNumberList/TelephoneNumber")]
        if root.tag != "DisconnectTelephoneNumberOrder" or not numbers:
            return xml_response(
                "<DisconnectTelephoneNumberOrderResponse><ErrorList><Error><Code>5001</Code>"
                "<Description>Invalid input telephone number list</Description></Error>"
                "</ErrorList></DisconnectTelephoneNumberOrderResponse>", 400)
        unknown = [n for n in numbers if e164(n) not in self.owned]
        if unknown:
            return xml_response(
                "<DisconnectTelephoneNumberOrderResponse><ErrorList><Error><Code>5006</Code>"
                f"<Description>Telephone number {national(unknown[0])} is not in the account"
                "</Description></Error></ErrorList></DisconnectTelephoneNumberOrderResponse>",
                400)
        for n in numbers:
            self.release(e164(n))
        order_id = secrets.token_hex(16)
        found = {"id": order_id, "numbers": numbers,
                 "customer_order_id": root.findtext("CustomerOrderId") or ""}
        with self.lock:
            self.disconnects[order_id] = found
        return xml_response(self._disconnect_xml(found, "RECEIVED"), 201)

    def _disconnect_xml(self, found: dict[str, Any], status: str) -> str:
        tns = "".join(f"<TelephoneNumber>{n}</TelephoneNumber>" for n in found["numbers"])
        listed = (f"<DisconnectedTelephoneNumberList>{tns}</DisconnectedTelephoneNumberList>"
                  if status == "COMPLETE" else "")
        return (f"<DisconnectTelephoneNumberOrderResponse><orderRequest>"
                f"<CustomerOrderId>{escape(found['customer_order_id'])}</CustomerOrderId>"
                f"<id>{found['id']}</id><DisconnectTelephoneNumberOrderType>"
                f"<TelephoneNumberList>{tns}</TelephoneNumberList>"
                f"</DisconnectTelephoneNumberOrderType></orderRequest>{listed}"
                f"<OrderStatus>{status}</OrderStatus></DisconnectTelephoneNumberOrderResponse>")
