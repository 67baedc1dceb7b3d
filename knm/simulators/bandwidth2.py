"""Bandwidth Numbers API (XML) simulator, v1 and Universal Platform v2: search, orders,
disconnects, TN lookup, in-service numbers, OAuth2.

The host is `https://api.bandwidth.com`; the simulator serves, like it, the v1 API under
`/api/v1` (legacy US/CA accounts, 10-digit numbers), the Universal Platform under `/api/v2`
(E.164 numbers everywhere, `countryCodeA3`, international stock), and the token endpoint at
`/api/v1/oauth2/token` for both. For knm's v1 carrier the v1 paths are also served at the
root (`base_url` = the simulator's URL, token at `/oauth2/token`). Payload shapes follow
Bandwidth's documented examples and Kazoo's fixtures (`bandwidth2_*.xml`); area code 973 and
toll-free 855 serve the fixture numbers, every other prefix a deterministic generated stock.

Wire facts, verified against Bandwidth/api-docs@2fcdf57e (`numbers.yml`, `numbers_v2.yml`,
`errors.mdx`, `orderWebhook.md`), Bandwidth/cli@34a6b488 (the audit's §2.1) and
`bandwidth-numbers-sdk` 1.2.0, whose calls this simulator answers:
- `GET /accounts/{id}/availableNumbers` (`areaCode`, `npaNxx`, `npaNxxx`,
  `tollFreeWildCardPattern`, `quantity`, `enableTNDetail`; v2 adds `countryCodeA3`, required
  with `areaCode`, and `phoneNumberType` GEOGRAPHIC | MOBILE | TOLL_FREE, and answers JSON
  when asked with `Accept: application/json`) → `<SearchResult>`;
- `POST /accounts/{id}/orders` `<Order>` with `CustomerOrderId`, `SiteId`, `PeerId`,
  `ExistingTelephoneNumberOrderType/TelephoneNumberList` → 201 `RECEIVED` and a `Location`
  header (the SDK takes the order id from its last segment); `GET /accounts/{id}/orders/{id}`
  → `COMPLETE` | `FAILED` (ErrorList 5005 "Telephone Number Unavailable", `FailedQuantity`,
  `FailedNumbers`) | `BACKORDERED`; `GET /accounts/{id}/orders?customerOrderId=` →
  `<ResponseSelectWrapper><ListOrderIdUserIdDate>` (numbers.yml `ListOrders`);
- `POST /accounts/{id}/disconnects` `<DisconnectTelephoneNumberOrder>` → 201 `RECEIVED`;
  `GET …/disconnects/{id}` → `COMPLETE`;
- `GET /tns/{tn}` → `<TelephoneNumberResponse>` with `Status` and `AccountId`;
  `GET /accounts/{id}/inserviceNumbers` → `<TNs><TelephoneNumbers>`;
- OAuth2: `POST /api/v1/oauth2/token`, Basic `client_id:client_secret`, form
  `grant_type=client_credentials` → `{access_token, token_type, expires_in}`, the token URL
  the same for v1 and v2 (the SDK hard-codes `https://api.bandwidth.com/api/v1/oauth2/token`).
  The token endpoint stands for Bandwidth's identity service rather than the Numbers API:
  tokens it issued outlive `reset()` (a test resetting the books does not revoke a client's
  credentials; `revoke_tokens()` does), and the failure switches reach it only when their
  `match` names it (`match="/oauth2/token"`), so a failure aimed at "the next POST" hits the
  order it means and not the token a fresh client fetches first. Its requests are recorded
  like every other.

Unverified, chosen here: the bodies of 401/403 (`ErrorResponse/ResponseStatus`); the code of
the v2 error for `areaCode` without `countryCodeA3` (4010); an unavailable number on v1 is a
synchronous 400 with 5005 (kept for knm's v1 carrier), on v2 the asynchronous failure
(201 `RECEIVED`, then `FAILED` 5005), which the breaking-changes and ordering guides suggest;
`BACKORDERED` comes only from the switch `order_result="backordered"`. Webhooks (switch
`webhook_url`): an order's or disconnect's `<Notification>` (orderWebhook.md: `OrderType`,
`OrderId`, `CustomerOrderId`, `Status`, `CompletedTelephoneNumbers`) with the subscription's
Basic credentials (`webhook_username`, `webhook_password`). `/tns/{tn}` answers 404
for a released number unless `report_aging` is set (then `Aging`, as the real API does; knm's
carrier must check `Status` and `AccountId` first, audit B5). `sim.foreign[e164] = account`
makes a number in service on another account.

International stock (v2): GBR geographic 20, 161; GBR mobile 7700; GBR toll-free 800.

Number features (SPEC §13; numbers.yml `CreateGeocodeRequest`, `CreateE911Order`,
`ReadE911Order`, LIDB and TN-option orders): `POST /accounts/{id}/geocodeRequest` answers by
the simulators' one rule (`knm.simulators.addresses`): 200 with the `GeocodedAddress`, 409
"Some adjustments are required…" with the corrected one, 400 12110 for a rejected address;
`POST /accounts/{id}/e911s` (a TN of the account in service, else 400 8003; an address that
does not geocode, 400 12110; `DeleteTNSpecificE911Address` removes it; `GET
/accounts/{id}/e911s?customerOrderId=` lists `E911OrderSummary` rows), `/lidbs` (11020 for
a TN whose LIDB order is in process) and `/tnoptions` answer 201 RECEIVED and complete per
`feature_complete_ms` / `feature_result` (COMPLETE, or FAILED with an ErrorList), read with
`GET …/{e911s|lidbs|tnoptions}/{id}`; `sim.e911`, `sim.lidb` and `sim.calling_name` hold what
completed orders did. Completed `e911s` and `tnoptions` orders send their `<Notification>`
(Bandwidth's notifications name them; LIDB orders send none).
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import time
from typing import Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.carriers.http import parse_xml_text
from knm.simulators import addresses
from knm.simulators.base import (
    TOLLFREE_NPAS,
    RecordedRequest,
    Simulator,
    Switches,
    e164,
    national,
)

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
#: Universal Platform countries beyond USA/CAN: (A3, type) → (dial code, prefixes, NSN length)
#: where the simulator issues OAuth2 tokens (Bandwidth's URL, and the root for v1 clients)
TOKEN_PATHS = ("/oauth2/token", "/api/v1/oauth2/token")
INTERNATIONAL = {("GBR", "GEOGRAPHIC"): ("44", ("20", "161"), 10),
                 ("GBR", "MOBILE"): ("44", ("7700",), 10),
                 ("GBR", "TOLL_FREE"): ("44", ("800",), 10)}


def xml_response(body: str, status: int = 200, headers: dict[str, str] | None = None
                 ) -> Response:
    return Response(PROLOG + body, status_code=status, media_type=XML, headers=headers)


class Bandwidth2Simulator(Simulator):
    """`Bandwidth2Simulator(account_id="9900001", api_username="u", api_password="p",
    client_id="cid", client_secret="cs")`: Basic auth with either pair, or a Bearer token
    from `POST /oauth2/token` (also `/api/v1/oauth2/token`). Defaults: account `9900001`,
    `knm`/`bw-password`, `knm-client`/`bw-client-secret`. Stock: any NANP prefix (973 and 855
    replay Kazoo's fixtures); on v2 also GBR (see the module docstring)."""

    name = "knm_bandwidth2"
    content_type = XML

    def __init__(self, *, account_id: str = "9900001", api_username: str = "knm",
                 api_password: str = "bw-password", client_id: str = "knm-client",
                 client_secret: str = "bw-client-secret",
                 webhook_username: str = "knm-hooks",
                 webhook_password: str = "bw-hook-secret") -> None:
        super().__init__(account_id=account_id, api_username=api_username,
                         api_password=api_password, client_id=client_id,
                         client_secret=client_secret, webhook_username=webhook_username,
                         webhook_password=webhook_password)
        self.tokens: dict[str, float] = {}
        self.token_ttl_s = 3600
        self.fixed_stock.update(FIXTURE_STOCK)
        self.disconnects: dict[str, dict[str, Any]] = {}
        #: numbers released here (E.164): `/tns` reports them `Aging` when `report_aging`
        self.aging: set[str] = set()
        self.report_aging = False
        #: numbers in service on other accounts: E.164 → account id
        self.foreign: dict[str, str] = {}
        #: what completed feature orders did: E.164 → E911 address, LIDB name, display on/off
        self.e911: dict[str, dict[str, str]] = {}
        self.lidb: dict[str, dict[str, str]] = {}
        self.calling_name: dict[str, str] = {}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.disconnects.clear()
            self.aging.clear()
            self.foreign.clear()
            self.e911.clear()
            self.lidb.clear()
            self.calling_name.clear()

    def revoke_tokens(self) -> None:
        """Forget every token issued: a client's next request with one is a 401."""
        with self.lock:
            self.tokens.clear()

    def _take_failure(self, request: RecordedRequest) -> tuple[Switches, bool]:
        """The framework's rule, except that a token request fails only when `match` names
        the token endpoint (see the module docstring)."""
        if request.path in TOKEN_PATHS:
            with self.lock:
                aimed = bool(self.switches.match) and "oauth2/token" in str(self.switches.match)
                latency = self.switches.latency_ms
            if not aimed:  # its latency is the host's, like every request's
                return Switches(latency_ms=latency), False
        return super()._take_failure(request)

    def release(self, number: str) -> dict[str, Any] | None:
        found = super().release(number)
        if found is not None:
            with self.lock:
                self.aging.add(number)
        return found

    def order_progress(self, order_id: str) -> dict[str, Any] | None:
        """As the framework's, plus `order_result="backordered"`: BACKORDERED, numbers freed."""
        with self.lock:
            order = self.orders.get(order_id)
            if (order is not None and order["state"] == "pending"
                    and self.switches.order_result == "backordered"
                    and (time.monotonic() - order["created"]) * 1000
                    >= self.switches.order_complete_ms):
                order["state"] = "backordered"
                for n in order["numbers"]:
                    self.owned.pop(n, None)
                self.finished("order", order)
                return order
        return super().order_progress(order_id)

    # -- webhooks -----------------------------------------------------------------------------

    def webhook_request(self, kind: str, subject: dict[str, Any]
                        ) -> tuple[dict[str, str], bytes] | None:
        """The order or disconnect `<Notification>` of a subscription (orderWebhook.md), sent
        with the subscription's Basic credentials (`webhook_username`/`webhook_password`)."""
        if kind == "feature":
            return self._feature_notification(subject)
        if kind == "order":
            status, order_type = self._status(subject["state"]), "orders"
            show = (lambda n: n) if subject.get("v2") else national
            done = subject["numbers"] if subject["state"] == "complete" else []
            reference = subject.get("customer_order_id", "")
        else:
            status, order_type, show = "COMPLETE", "disconnects", (lambda n: n)
            done, reference = subject["numbers"], subject.get("customer_order_id", "")
        tns = "".join(f"<TelephoneNumber>{show(n)}</TelephoneNumber>" for n in done)
        message = {"COMPLETE": "Order completed", "FAILED": "5005: Telephone Number "
                   "Unavailable", "BACKORDERED": "Order backordered"}.get(status, status)
        body = (f'<?xml version="1.0"?><Notification><SubscriptionId>sim-subscription'
                f"</SubscriptionId><OrderType>{order_type}</OrderType>"
                f"<OrderId>{subject['id']}</OrderId>"
                f"<CustomerOrderId>{escape(reference)}</CustomerOrderId>"
                f"<Status>{status}</Status><Message>{escape(message)}</Message>"
                f"<CompletedTelephoneNumbers>{tns}</CompletedTelephoneNumbers></Notification>")
        c = self.credentials
        return ({"content-type": "application/xml; charset=utf-8",
                 "authorization": self._basic(c["webhook_username"], c["webhook_password"])},
                body.encode())

    # -- auth and errors ----------------------------------------------------------------------

    def _basic(self, user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def check_auth(self, request: RecordedRequest) -> Response | None:
        auth = request.headers.get("authorization", "")
        c = self.credentials
        if request.path in TOKEN_PATHS:
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

        async def token(request: Request) -> Response:
            form = (await request.body()).decode()
            if "grant_type=client_credentials" not in form:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            value = secrets.token_urlsafe(24)
            with sim.lock:
                sim.tokens[value] = time.time() + sim.token_ttl_s
            return JSONResponse({"access_token": value, "token_type": "Bearer",
                                 "expires_in": sim.token_ttl_s})

        for path in TOKEN_PATHS:
            app.add_api_route(path, token, methods=["POST"])
        for prefix, version in (("", "v1"), ("/api/v1", "v1"), ("/api/v2", "v2")):
            app.include_router(self._router(version), prefix=prefix)

    def _router(self, version: str) -> APIRouter:
        """The account API of one version (`v1`: 10-digit numbers, `v2`: E.164)."""
        sim = self
        v2 = version == "v2"
        router = APIRouter()

        def foreign(account_id: str) -> Response | None:
            if account_id != sim.credentials["account_id"]:
                return sim.error_body(403, f"account {account_id} is not yours")
            return None

        @router.get("/accounts/{account_id}/availableNumbers")
        def search(account_id: str, request: Request) -> Response:
            return foreign(account_id) or sim._search(
                dict(request.query_params), v2=v2,
                as_json=v2 and "application/json" in request.headers.get("accept", ""))

        @router.post("/accounts/{account_id}/orders")
        async def order(account_id: str, request: Request) -> Response:
            return foreign(account_id) or sim._create_order(await request.body(), v2=v2)

        @router.get("/accounts/{account_id}/orders")
        def list_orders(account_id: str, request: Request) -> Response:
            return foreign(account_id) or sim._list_orders(dict(request.query_params))

        def one_order(order_id: str) -> Response:
            current = sim.order_progress(order_id)
            if current is None:
                return sim.error_body(404, f"Order {order_id} not found")
            return xml_response(sim._order_xml(current, final=True, v2=v2))

        @router.get("/accounts/{account_id}/orders/{order_id}")
        def get_order(account_id: str, order_id: str) -> Response:
            if account_id != sim.credentials["account_id"]:
                return sim.error_body(404, f"Order {order_id} not found")
            return one_order(order_id)

        @router.get("/orders/{order_id}")
        def get_order_short(order_id: str) -> Response:
            return one_order(order_id)

        @router.post("/accounts/{account_id}/disconnects")
        async def disconnect(account_id: str, request: Request) -> Response:
            return foreign(account_id) or sim._create_disconnect(await request.body(), v2=v2)

        @router.get("/accounts/{account_id}/disconnects/{order_id}")
        def get_disconnect(account_id: str, order_id: str) -> Response:
            with sim.lock:
                found = sim.disconnects.get(order_id)
            if found is None:
                return sim.error_body(404, f"Disconnect {order_id} not found")
            return xml_response(sim._disconnect_xml(found, "COMPLETE"))

        @router.get("/accounts/{account_id}/inserviceNumbers")
        def in_service(account_id: str) -> Response:
            denied = foreign(account_id)
            if denied:
                return denied
            numbers = [n for n in sim._in_service()]
            tns = "".join(f"<TelephoneNumber>{n if v2 else national(n)}</TelephoneNumber>"
                          for n in numbers)
            return xml_response(
                f"<TNs><TotalCount>{len(numbers)}</TotalCount><Links><first>Link=&lt;"
                f"/accounts/{account_id}/inserviceNumbers?page=1&amp;size=500&gt;;"
                f"rel=\"first\";</first></Links><TelephoneNumbers><Count>{len(numbers)}"
                f"</Count>{tns}</TelephoneNumbers></TNs>")

        @router.get("/tns/{tn}")
        def tn(tn: str) -> Response:
            return sim._tn(tn, v2=v2)

        @router.post("/accounts/{account_id}/geocodeRequest")
        async def geocode(account_id: str, request: Request) -> Response:
            return foreign(account_id) or sim._geocode(await request.body())

        for path, kind in (("e911s", "e911"), ("lidbs", "lidb"), ("tnoptions", "tnoption")):
            sim._feature_order_routes(router, path, kind, foreign, v2)
        return router

    # -- number features (SPEC §13) -------------------------------------------------------------

    def _feature_order_routes(self, router: APIRouter, path: str, kind: str,
                              foreign: Any, v2: bool) -> None:
        sim = self

        async def create(account_id: str, request: Request) -> Response:
            return foreign(account_id) or sim._create_feature_order(kind, await request.body(),
                                                                     v2=v2)

        def read(account_id: str, order_id: str) -> Response:
            denied = foreign(account_id)
            if denied:
                return denied
            order = sim.feature_progress(order_id)
            if order is None or order["kind"] != kind:
                return sim.error_body(404, "The resource does not exist")
            return xml_response(sim._feature_order_xml(order))

        def listed(account_id: str, request: Request) -> Response:
            denied = foreign(account_id)
            if denied:
                return denied
            wanted = request.query_params.get("customerOrderId")
            with sim.lock:
                ids = [i for i, o in sim.feature_orders.items() if o["kind"] == kind
                       and (wanted is None or o["customer_order_id"] == wanted)]
            rows = "".join(sim._feature_summary(sim.feature_progress(i)) for i in ids)
            return xml_response(f"<E911Orders><TotalCount>{len(ids)}</TotalCount>{rows}"
                                "</E911Orders>")

        router.add_api_route(f"/accounts/{{account_id}}/{path}", create, methods=["POST"])
        if kind == "e911":
            router.add_api_route(f"/accounts/{{account_id}}/{path}", listed, methods=["GET"])
        router.add_api_route(f"/accounts/{{account_id}}/{path}/{{order_id}}", read,
                             methods=["GET"])

    def _geocode(self, body: bytes) -> Response:
        try:
            root = parse_xml_text(body)
        except ValueError:
            return self.error_body(400, "The request body is not valid XML")
        fields = {el.tag: (el.text or "").strip() for el in root}
        street = fields.get("AddressLine1") or " ".join(
            fields.get(k, "") for k in ("HouseNumber", "StreetName", "StreetSuffix")).strip()
        verdict = addresses.fate(street, fields.get("Zip"), fields.get("Country") or "US")
        if verdict == addresses.INVALID:
            return xml_response(
                "<GeocodeRequestResponse><ResponseStatus><ErrorCode>12110</ErrorCode>"
                f"<Description>{addresses.REJECTED_BECAUSE}</Description></ResponseStatus>"
                "</GeocodeRequestResponse>", 400)
        line1 = addresses.corrected_street(street) if verdict == addresses.CORRECTED else \
            addresses.normalised(street)
        house, _, name = line1.partition(" ")
        answer = (f"<GeocodedAddress><AddressLine1>{escape(line1)}</AddressLine1>"
                  f"<HouseNumber>{escape(house)}</HouseNumber>"
                  f"<StreetName>{escape(name)}</StreetName>"
                  f"<AddressLine2>{escape(addresses.normalised(fields.get('AddressLine2')))}"
                  f"</AddressLine2>"
                  f"<City>{escape(addresses.normalised(fields.get('City')))}</City>"
                  f"<StateCode>{escape(addresses.normalised(fields.get('StateCode')))}"
                  f"</StateCode><Zip>{escape(fields.get('Zip', ''))}</Zip>"
                  f"<PlusFour>0001</PlusFour><Country>US</Country></GeocodedAddress>")
        request_part = "<RequestAddress>" + "".join(
            f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()) + "</RequestAddress>"
        if verdict == addresses.CORRECTED:
            return xml_response(
                "<GeocodeRequestResponse><ErrorMessage>Some adjustments are required to allow "
                f"the address to pass geocoding: Specified value - Street Name : "
                f"\"{escape(addresses.normalised(street))}\" Valid value - \"{escape(line1)}\""
                f"</ErrorMessage>{answer}{request_part}</GeocodeRequestResponse>", 409)
        return xml_response(f"<GeocodeRequestResponse>{answer}{request_part}"
                            "</GeocodeRequestResponse>")

    def _create_feature_order(self, kind: str, body: bytes, *, v2: bool = False) -> Response:
        try:
            root = parse_xml_text(body)
        except ValueError:
            return self.error_body(400, "The request body is not valid XML")
        tag = {"e911": "E911Order", "lidb": "LidbOrder", "tnoption": "TnOptionOrder"}[kind]
        if root.tag != tag:
            return self.error_body(400, f"Expected <{tag}>")
        numbers = [e164((el.text or "").strip()) for el in root.iter("TelephoneNumber")]
        if len(numbers) != 1:
            return self._order_error(tag, "5070", "Telephone number is invalid.")
        number = numbers[0]
        with self.lock:
            held = number in self._in_service()
            busy = any(o["number"] == number and o["kind"] == kind and o["state"] == "pending"
                       for o in self.feature_orders.values())
        if not held:
            return self._order_error(tag, "8003", "Telephone numbers does not belong to this "
                                     "account.")
        data: dict[str, Any] = {"v2": v2,
                                "customer_order_id": root.findtext("CustomerOrderId") or "",
                                "create_date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                             time.gmtime())}
        if kind == "e911":
            delete = (root.findtext("DeleteTNSpecificE911Address") or "").strip() == "true"
            address = {el.tag: (el.text or "").strip()
                       for el in (root.find("Address") if root.find("Address") is not None
                                  else [])}
            if not delete:
                street = " ".join(p for p in (address.get("HouseNumber"),
                                              address.get("StreetName")) if p)
                if not address.get("HouseNumber") or not address.get("StreetName"):
                    return self._order_error(tag, "8011", "HouseNumber and StreetName are "
                                             "required.")
                if addresses.fate(street, address.get("Zip"),
                                  address.get("Country") or "US") != addresses.VALID:
                    return self._order_error(tag, "12110", addresses.REJECTED_BECAUSE)
            data.update(delete=delete, address=address,
                        caller_name=(root.findtext("CallerName") or "").strip())
        elif kind == "lidb":
            if busy:
                return self._order_error(tag, "11020", "Cannot add LIDB to a telephone number "
                                         "that already has LIDB or is in process")
            visibility = (root.findtext(".//Visibility") or "").strip()
            if visibility not in ("PUBLIC", "PRIVATE"):
                return self._order_error(tag, "11007", "No visibility supplied. Visibility "
                                         "must be one of the following - PUBLIC, PRIVATE")
            data.update(name=(root.findtext(".//SubscriberInformation") or "").strip(),
                        visibility=visibility,
                        use_type=(root.findtext(".//UseType") or "").strip())
        else:
            display = (root.findtext(".//CallingNameDisplay") or "").strip().lower()
            if display not in ("on", "off", "systemdefault", "unchanged"):
                return self._order_error(tag, "5081", f"CallingNameDisplay '{display}' is "
                                         "invalid.")
            data.update(display=display)
        order = self.place_feature(kind, number, **data)
        shown = {**order, "state": "pending"}  # a new order is always RECEIVED at first
        response = f"{tag}Response"
        return xml_response(f"<{response}>{self._feature_order_xml(shown)}</{response}>", 201)

    def _feature_summary(self, order: dict[str, Any] | None) -> str:
        if order is None:
            return ""
        status = {"pending": "RECEIVED", "complete": "COMPLETE", "failed": "FAILED"}[
            order["state"]]
        return (f"<E911OrderSummary><accountId>{self.credentials['account_id']}</accountId>"
                f"<CountOfTNs>1</CountOfTNs><userId>{self.credentials['api_username']}"
                f"</userId><lastModifiedDate>{order['create_date']}</lastModifiedDate>"
                f"<OrderDate>{order['create_date']}</OrderDate><OrderType>e911</OrderType>"
                f"<OrderStatus>{status}</OrderStatus><OrderId>{order['id']}</OrderId>"
                f"</E911OrderSummary>")

    def _order_error(self, tag: str, code: str, text: str) -> Response:
        return xml_response(f"<{tag}Response><ResponseStatus><ErrorCode>{code}</ErrorCode>"
                            f"<Description>{escape(text)}</Description></ResponseStatus>"
                            f"</{tag}Response>", 400)

    def feature_done(self, order: dict[str, Any]) -> None:
        if order["state"] != "complete":
            return
        number = order["number"]
        if order["kind"] == "e911":
            if order.get("delete"):
                self.e911.pop(number, None)
            else:
                self.e911[number] = {**order["address"], "CallerName": order["caller_name"]}
        elif order["kind"] == "lidb":
            self.lidb[number] = {"name": order["name"], "visibility": order["visibility"]}
        else:
            self.calling_name[number] = order["display"]

    def _feature_order_xml(self, order: dict[str, Any]) -> str:
        status = {"pending": "RECEIVED", "complete": "COMPLETE", "failed": "FAILED"}[
            order["state"]]
        shown = order["number"] if order.get("v2") else national(order["number"])
        tns = f"<TelephoneNumbers><TelephoneNumber>{shown}</TelephoneNumber></TelephoneNumbers>"
        errors = ""
        if order["state"] == "failed":
            errors = ("<ErrorList><Error><Code>8009</Code><Description>Telephone numbers not "
                      f"in 'Inservice'</Description>{tns}</Error></ErrorList>")
        head = (f"<CustomerOrderId>{escape(order['customer_order_id'])}</CustomerOrderId>"
                f"<OrderCreateDate>{order['create_date']}</OrderCreateDate>"
                f"<AccountId>{self.credentials['account_id']}</AccountId>")
        if order["kind"] == "e911":
            address = "" if order.get("delete") else "<Address>" + "".join(
                f"<{k}>{escape(v)}</{k}>" for k, v in order["address"].items()) + \
                "<Latitude>37.787602</Latitude><Longitude>-122.408234</Longitude></Address>"
            caller = "" if order.get("delete") else \
                f"<CallerName>{escape(order['caller_name'])}</CallerName>"
            return (f"<E911Order>{head}<orderId>{order['id']}</orderId>{address}{caller}"
                    f"<ProcessingStatus>{status}</ProcessingStatus>{tns}{errors}</E911Order>")
        if order["kind"] == "lidb":
            return (f"<LidbOrder>{head}<orderId>{order['id']}</orderId>"
                    f"<ProcessingStatus>{status}</ProcessingStatus>{errors or '<ErrorList/>'}"
                    f"<LidbTnGroups><LidbTnGroup>{tns}<SubscriberInformation>"
                    f"{escape(order['name'])}</SubscriberInformation><UseType>"
                    f"{escape(order['use_type'])}</UseType><Visibility>{order['visibility']}"
                    f"</Visibility></LidbTnGroup></LidbTnGroups></LidbOrder>")
        return (f"<TnOptionOrder>{head}<OrderId>{order['id']}</OrderId>"
                f"<ProcessingStatus>{status}</ProcessingStatus><TnOptionGroups><TnOptionGroup>"
                f"<CallingNameDisplay>{order['display']}</CallingNameDisplay>{tns}"
                f"</TnOptionGroup></TnOptionGroups>{errors or '<ErrorList/>'}</TnOptionOrder>")

    def _feature_notification(self, order: dict[str, Any]
                              ) -> tuple[dict[str, str], bytes] | None:
        """The `<Notification>` of a finished E911 or TN-option order (none for LIDB)."""
        order_type = {"e911": "e911s", "tnoption": "tnoptions"}.get(order["kind"])
        if order_type is None:
            return None
        status = "COMPLETE" if order["state"] == "complete" else "FAILED"
        message = "Order completed" if status == "COMPLETE" else \
            "8009: Telephone numbers not in 'Inservice'"
        body = (f'<?xml version="1.0"?><Notification><SubscriptionId>sim-subscription'
                f"</SubscriptionId><OrderType>{order_type}</OrderType>"
                f"<OrderId>{order['id']}</OrderId>"
                f"<CustomerOrderId>{escape(order['customer_order_id'])}</CustomerOrderId>"
                f"<Status>{status}</Status><Message>{escape(message)}</Message>"
                f"</Notification>")
        c = self.credentials
        return ({"content-type": "application/xml; charset=utf-8",
                 "authorization": self._basic(c["webhook_username"], c["webhook_password"])},
                body.encode())

    # -- behaviour ----------------------------------------------------------------------------

    def international(self, a3: str, kind: str, start: str) -> list[str]:
        """E.164 numbers of a Universal Platform country starting with national `start`."""
        spec = INTERNATIONAL.get((a3, kind))
        if spec is None:
            return []
        dial, prefixes, length = spec
        out = set()
        for prefix in prefixes:
            seed = hashlib.sha256(f"{self.name}:{a3}:{prefix}".encode()).digest()
            rng = random.Random(int.from_bytes(seed[:8], "big"))
            for _ in range(40):
                rest = "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
                out.add(f"+{dial}{prefix}{rng.choice('2345678')}{rest}")
        with self.lock:
            return sorted(n for n in out if n[1 + len(dial):].startswith(start)
                          and n not in self.owned)

    def _search(self, params: dict[str, str], *, v2: bool = False, as_json: bool = False
                ) -> Response:
        quantity = int(params.get("quantity") or 5000)
        detail = params.get("enableTNDetail", "false").lower() == "true"
        pattern = params.get("tollFreeWildCardPattern")
        area = params.get("areaCode")
        prefix = (area or params.get("npaNxx") or params.get("npaNxxx")
                  or (pattern or "").rstrip("*"))
        if not prefix:
            return self._search_error(4010, "One of more required search parameters are null "
                                      "or empty, please refer to the api documentation",
                                      as_json)
        countries = [c for c in params.get("countryCodeA3", "USA,CAN").split(",") if c]
        if v2 and area and "countryCodeA3" not in params:
            return self._search_error(4010, "countryCodeA3 is required when searching by "
                                      "areaCode", as_json)
        kind = params.get("phoneNumberType", "TOLL_FREE" if pattern else "GEOGRAPHIC")
        if v2 and not set(countries) & {"USA", "CAN"}:
            numbers = [n for c in countries for n in self.international(c, kind, prefix)]
            return self._search_answer(sorted(numbers)[:quantity], detail, as_json, v2,
                                       countries[0] if countries else "GBR", kind)
        if pattern and pattern[:3].rstrip("*") and not any(
                tf.startswith(pattern.rstrip("*")) for tf in TOLLFREE_NPAS):
            return self._search_error(4000, "The TollFree wild card pattern is invalid",
                                      as_json)
        if pattern and len(prefix) < 3:
            npas = [tf for tf in TOLLFREE_NPAS if tf.startswith(prefix)]
            numbers = sorted(n for npa in npas for n in self.stock(npa, quantity))[:quantity]
        else:
            numbers = self.stock(prefix, quantity)
        if v2:
            kind = "TOLL_FREE" if prefix[:3] in TOLLFREE_NPAS else "GEOGRAPHIC"
        return self._search_answer([e164(n) if v2 else n for n in numbers], detail, as_json,
                                   v2, "USA", kind)

    def _search_error(self, code: int, text: str, as_json: bool) -> Response:
        if as_json:
            return JSONResponse({"error": {"code": code, "description": text}},
                                status_code=400)
        return xml_response(f"<SearchResult><Error><Code>{code}</Code><Description>{text}"
                            f"</Description></Error></SearchResult>", 400)

    def _search_answer(self, numbers: list[str], detail: bool, as_json: bool, v2: bool,
                       a3: str, kind: str) -> Response:
        if as_json:
            if detail:
                rows = [{k[0].lower() + k[1:] if k != "LATA" else k: v
                         for k, v in self._detail(n, v2, a3, kind).items()} for n in numbers]
                return JSONResponse({"resultCount": len(rows),
                                     "telephoneNumberDetailList": rows})
            return JSONResponse({"resultCount": len(numbers), "telephoneNumberList": numbers})
        if detail:
            items = "".join("<TelephoneNumberDetail>" + "".join(
                f"<{k}>{escape(str(v))}</{k}>" for k, v in self._detail(n, v2, a3, kind).items())
                + "</TelephoneNumberDetail>" for n in numbers)
            body = (f"<SearchResult><ResultCount>{len(numbers)}</ResultCount>"
                    f"<TelephoneNumberDetailList>{items}</TelephoneNumberDetailList>"
                    f"</SearchResult>")
        else:
            items = "".join(f"<TelephoneNumber>{n}</TelephoneNumber>" for n in numbers)
            body = (f"<SearchResult><ResultCount>{len(numbers)}</ResultCount>"
                    f"<TelephoneNumberList>{items}</TelephoneNumberList></SearchResult>")
        return xml_response(body)

    def _detail(self, number: str, v2: bool, a3: str, kind: str) -> dict[str, Any]:
        """One `TelephoneNumberDetail`, element names in Bandwidth's order."""
        out: dict[str, Any] = {}
        if v2:
            out.update({"CountryCodeA3": a3, "PhoneNumberType": kind})
        if number.startswith("+") and not number.startswith("+1"):
            out.update({"City": "LONDON" if number.startswith("+4420") else "MANCHESTER",
                        "FullNumber": number, "Tier": 0, "VendorId": 49,
                        "VendorName": "Bandwidth CLEC"})
            return out
        ten = national(number)
        city, lata, rate_center, state = FIXTURE_DETAIL.get(
            ten, (f"CITY {ten[:3]}", str(200 + int(ten[:3]) % 700),
                  f"RC {ten[:6]}", "ZZ" if ten[:3] in TOLLFREE_NPAS else "NY"))
        out.update({"City": city, "LATA": lata, "RateCenter": rate_center, "State": state,
                    "FullNumber": number, "Tier": 0, "VendorId": 49,
                    "VendorName": "Bandwidth CLEC"})
        return out

    def _create_order(self, body: bytes, *, v2: bool = False) -> Response:
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
        if v2 and not all(n.startswith("+") for n in numbers):
            return xml_response(
                "<OrderResponse><ErrorList><Error><Code>5001</Code><Description>Telephone "
                "numbers must be in E.164 format</Description></Error></ErrorList>"
                "</OrderResponse>", 400)
        order = self.place_order([e164(n) for n in numbers], **{
            "customer_order_id": fields.get("CustomerOrderId", ""),
            "name": fields.get("Name", ""), "site_id": fields.get("SiteId", ""),
            "peer_id": fields.get("PeerId", ""), "v2": v2,
            "create_date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())})
        if order["failed_numbers"] and not v2:
            tns = "".join(f"<TelephoneNumber>{national(n)}</TelephoneNumber>"
                          for n in order["failed_numbers"])
            return xml_response(
                f"<OrderResponse><ErrorList><Error><Code>5005</Code><Description>Telephone "
                f"Number Unavailable</Description><TelephoneNumberList>{tns}"
                f"</TelephoneNumberList></Error></ErrorList>"
                f"{self._order_element(order)}<OrderStatus>FAILED</OrderStatus>"
                f"</OrderResponse>", 400)
        # a new order is always RECEIVED at first, as at Bandwidth; on v2 an unavailable
        # number shows only when the order is read again (FAILED, 5005)
        location = f"/accounts/{self.credentials['account_id']}/orders/{order['id']}"
        return xml_response(self._order_xml(order, final=False, v2=v2), 201,
                            headers={"Location": location})

    def _list_orders(self, params: dict[str, str]) -> Response:
        wanted = params.get("customerOrderId")
        with self.lock:
            ids = [i for i, o in self.orders.items()
                   if wanted is None or o.get("customer_order_id") == wanted]
        rows = []
        for order_id in ids:
            order = self.order_progress(order_id)
            if order is None:
                continue
            rows.append(
                f"<OrderIdUserIdDate><accountId>{self.credentials['account_id']}</accountId>"
                f"<CountOfTNs>{len(order['numbers'])}</CountOfTNs>"
                f"<CustomerOrderId>{escape(order.get('customer_order_id', ''))}"
                f"</CustomerOrderId><userId>{escape(self.credentials['api_username'])}"
                f"</userId><lastModifiedDate>{order['create_date']}</lastModifiedDate>"
                f"<OrderDate>{order['create_date']}</OrderDate>"
                f"<OrderType>new_number</OrderType><orderId>{order_id}</orderId>"
                f"<OrderStatus>{self._status(order['state'])}</OrderStatus>"
                f"</OrderIdUserIdDate>")
        return xml_response(
            f"<ResponseSelectWrapper><ListOrderIdUserIdDate><TotalCount>{len(rows)}"
            f"</TotalCount>{''.join(rows)}</ListOrderIdUserIdDate></ResponseSelectWrapper>")

    @staticmethod
    def _status(state: str) -> str:
        return {"pending": "RECEIVED", "complete": "COMPLETE", "failed": "FAILED",
                "backordered": "BACKORDERED"}[state]

    def _order_element(self, order: dict[str, Any]) -> str:
        show = (lambda n: n) if order.get("v2") else national
        tns = "".join(f"<TelephoneNumber>{show(n)}</TelephoneNumber>" for n in order["numbers"])
        peer = f"<PeerId>{escape(order['peer_id'])}</PeerId>" if order["peer_id"] else ""
        return (f"<Order><CustomerOrderId>{escape(order['customer_order_id'])}</CustomerOrderId>"
                f"<Name>{escape(order['name'])}</Name>"
                f"<OrderCreateDate>{order['create_date']}</OrderCreateDate>{peer}"
                f"<BackOrderRequested>false</BackOrderRequested><id>{order['id']}</id>"
                f"<ExistingTelephoneNumberOrderType><TelephoneNumberList>{tns}"
                f"</TelephoneNumberList></ExistingTelephoneNumberOrderType>"
                f"<PartialAllowed>true</PartialAllowed>"
                f"<SiteId>{escape(order['site_id'])}</SiteId></Order>")

    def _order_xml(self, order: dict[str, Any], *, final: bool, v2: bool = False) -> str:
        state = order["state"] if final else "pending"
        show = (lambda n: n) if order.get("v2") else national
        extra = ""
        if state in ("failed", "backordered"):
            failed = order["failed_numbers"] or order["numbers"]
            code, text = (("5005", "Telephone Number Unavailable") if state == "failed" else
                          ("5018", "The entire quantity of telephone numbers ordered is "
                           "unavailable"))
            tns = "".join(f"<FullNumber>{show(n)}</FullNumber>" for n in failed)
            extra = (f"<CompletedQuantity>0</CompletedQuantity>"
                     f"<ErrorList><Error><Code>{code}</Code><Description>{text}</Description>"
                     f"<TelephoneNumber>{show(failed[0])}</TelephoneNumber></Error></ErrorList>"
                     f"<FailedNumbers>{tns}</FailedNumbers>"
                     f"<FailedQuantity>{len(failed)}</FailedQuantity>")
        elif state == "complete":
            done = "".join(f"<TelephoneNumber><FullNumber>{show(n)}</FullNumber>"
                           f"</TelephoneNumber>" for n in order["numbers"])
            extra = (f"<CompletedQuantity>{len(order['numbers'])}</CompletedQuantity>"
                     f"<CompletedNumbers>{done}</CompletedNumbers>"
                     f"<FailedQuantity>0</FailedQuantity>")
        return (f"<OrderResponse>{extra}{self._order_element(order)}"
                f"<OrderStatus>{self._status(state)}</OrderStatus></OrderResponse>")

    def _in_service(self) -> list[str]:
        with self.lock:
            ids = {v["order_id"] for v in self.owned.values()}
            done = {i for i in ids if (self.order_progress(i) or {}).get("state") == "complete"}
            return sorted(n for n, v in self.owned.items() if v["order_id"] in done)

    def _tn(self, tn: str, *, v2: bool) -> Response:
        number = tn if tn.startswith("+") else e164(tn)
        shown = number if v2 else national(number)
        with self.lock:
            owned = self.owned.get(number)
            other = self.foreign.get(number)
            aging = self.report_aging and number in self.aging
        if owned is not None:
            state = (self.order_progress(owned["order_id"]) or {}).get("state")
            if state != "complete":
                owned = None
        if owned is not None:
            status, account, order_id = "Inservice", self.credentials["account_id"], \
                owned["order_id"]
        elif other is not None:
            status, account, order_id = "Inservice", other, "00000000-0000-0000-0000-0"
        elif aging:
            status, account, order_id = "Aging", self.credentials["account_id"], ""
        else:
            return self.error_body(404, f"Telephone number '{tn}' is not valid")
        order = f"<OrderId>{order_id}</OrderId><OrderType>NEW_NUMBER_ORDER</OrderType>" \
            if order_id else ""
        return xml_response(
            f"<TelephoneNumberResponse><TelephoneNumber>{shown}</TelephoneNumber>"
            f"<Status>{status}</Status>{order}<AccountId>{account}</AccountId>"
            f"</TelephoneNumberResponse>")

    def _create_disconnect(self, body: bytes, *, v2: bool = False) -> Response:
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
            shown = unknown[0] if v2 else national(unknown[0])
            return xml_response(
                "<DisconnectTelephoneNumberOrderResponse><ErrorList><Error><Code>5006</Code>"
                f"<Description>Telephone number {shown} is not in the account"
                "</Description></Error></ErrorList></DisconnectTelephoneNumberOrderResponse>",
                400)
        for n in numbers:
            self.release(e164(n))
        order_id = secrets.token_hex(16)
        found = {"id": order_id, "numbers": numbers,
                 "customer_order_id": root.findtext("CustomerOrderId") or ""}
        with self.lock:
            self.disconnects[order_id] = found
        self.finished("disconnect", found)
        return xml_response(self._disconnect_xml(found, "RECEIVED"), 201,
                            headers={"Location": f"/accounts/{self.credentials['account_id']}"
                                                 f"/disconnects/{order_id}"})

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
