"""Telnyx API v2 simulator: number search, number orders, owned numbers, release.

Paths are relative to `https://api.telnyx.com/v2`. Auth is `Authorization: Bearer <api_key>`;
errors are `{"errors": [{"code", "title", "detail", "source"?, "meta": {"url"}}]}` as Telnyx
sends them. The stock replays Kazoo's fixtures where they fit (`telnyx_npa_search.json` for
301-359, `telnyx_tollfree_search` for 800, the area codes of
`telnyx_international_search.json` for GB) and is generated elsewhere.

Wire facts, verified against the `telnyx` SDK 4.189 (`resources/available_phone_numbers.py`,
`number_orders.py`, `phone_numbers/phone_numbers.py`, `pagination.py`, `_client.py`),
team-telnyx/openapi (the team notes §2) and Telnyx's error catalogue (audit §2.2):
- codes: 10005 Resource not found, 10006 Invalid ID, 10007 Unexpected error, 10009
  Authentication failed, 10010 Authorization failed, 10011 Too many requests, 10012 Duplicate
  resource, 10014 Unsupported Media Type, 10015 Bad Request (validation, with
  `source.pointer`); the SDK maps the HTTP status to its error class (401 →
  `AuthenticationError`, 422 → `UnprocessableEntityError`, …);
- filters are deepObject keys: `GET /available_phone_numbers?filter[country_code]=…`,
  `GET /number_orders?filter[customer_reference]=&filter[status]=`,
  `GET /phone_numbers?filter[phone_number]=&filter[status]=&filter[customer_reference]=`;
  lists page with `page[number]`/`page[size]` and `meta.{page_number, page_size,
  total_pages, total_results}` (the SDK stops at `total_pages`);
- owned numbers are `purchase-pending` while their order is pending, then `active`;
  `DELETE /phone_numbers/{id}` takes the resource id and answers the row, `status: deleted`;
- webhooks (switch `webhook_url`): `number_order.complete` with the number order as payload,
  signed with Ed25519 over `"{telnyx-timestamp}|{body}"` in `telnyx-signature-ed25519` (base64),
  as the `telnyx` SDK's `webhooks.unwrap` verifies them; the simulator's own key pair signs,
  its public key is `sim.webhook_public_key` and `GET /_sim/webhook_key`.

Unverified, chosen here: "number not available" is code 85001 (third-party evidence only)
with HTTP `unavailable_status` (422 by default; the third-party code saw 409); how
`filter[phone_number]` matches (here: the digits contain the filter's digits).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator, e164, national

DIAL_CODES = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "NL": "31", "IE": "353"}
FIXTURE_STOCK = {
    "301359": ["3013590340", "3013591789", "3013596520", "3013596526", "3013596695"],
    "800": ["8006198104", "8009177894"],
}
#: GB area codes of telnyx_international_search.json (first two), made into whole numbers
GB_STOCK = ["+441432760001", "+441432760002", "+441631560001", "+441631560002"]
ERROR_TITLES = {400: ("10015", "Bad Request"), 401: ("10009", "Authentication failed"),
                403: ("10010", "Authorization failed"), 404: ("10005", "Resource not found"),
                409: ("10012", "Duplicate resource"), 415: ("10014", "Unsupported Media Type"),
                422: ("10015", "Bad Request"), 429: ("10011", "Too many requests"),
                500: ("10007", "Unexpected error")}


def errors_body(status: int, detail: str, code: str | None = None,
                pointer: str | None = None) -> JSONResponse:
    default_code, title = ERROR_TITLES.get(status, ("10007", "Unexpected error"))
    code = code or default_code
    error: dict[str, Any] = {"code": code, "title": title, "detail": detail,
                             "meta": {"url": f"https://developers.telnyx.com/docs/overview/"
                                             f"errors/{code}"}}
    if pointer:
        error["source"] = {"pointer": pointer}
    return JSONResponse({"errors": [error]}, status_code=status)


class TelnyxSimulator(Simulator):
    """`TelnyxSimulator(api_key="KEYtelnyx-simulated-secret", unavailable_status=422)`.
    Stock: any US/CA area code (Kazoo's fixtures for 301359 and 800), GB, DE, FR, NL, IE."""

    name = "knm_telnyx"
    content_type = "application/json"

    def __init__(self, *, api_key: str = "KEYtelnyx-simulated-secret",
                 unavailable_status: int = 422) -> None:
        super().__init__(api_key=api_key)
        self.fixed_stock.update(FIXTURE_STOCK)
        self.unavailable_status = unavailable_status
        # the key pair webhooks are signed with; Telnyx shows its public key (base64) in the
        # portal, here it is `webhook_public_key` and `GET /_sim/webhook_key`
        self._signing_key = Ed25519PrivateKey.generate()
        self.webhook_public_key = base64.b64encode(self._signing_key.public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw)).decode()

    def sign(self, body: bytes, timestamp: str) -> str:
        """Telnyx's `telnyx-signature-ed25519`: Ed25519 over `"{timestamp}|{body}"`."""
        return base64.b64encode(self._signing_key.sign(timestamp.encode() + b"|" + body)).decode()

    def webhook_request(self, kind: str, subject: dict[str, Any]
                        ) -> tuple[dict[str, str], bytes] | None:
        """`number_order.complete` (success or failure) for a finished number order; Telnyx
        sends no webhook for a deleted number."""
        if kind != "order":
            return None
        body = json.dumps({"data": {
            "event_type": "number_order.complete", "id": str(uuid.uuid4()),
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
            "payload": self._order_json(subject), "record_type": "event"},
            "meta": {"attempt": 1, "delivered_to": self.switches.webhook_url}}).encode()
        stamp = str(int(time.time()))
        return ({"content-type": "application/json", "telnyx-timestamp": stamp,
                 "telnyx-signature-ed25519": self.sign(body, stamp)}, body)

    def check_auth(self, request: RecordedRequest) -> Response | None:
        if request.headers.get("authorization") == f"Bearer {self.credentials['api_key']}":
            return None
        return errors_body(401, "Could not understand the provided credentials.")

    def error_body(self, status: int, message: str) -> Response:
        return errors_body(status, message)

    # -- stock --------------------------------------------------------------------------------

    def international(self, country: str, start: str, quantity: int) -> list[str]:
        """E.164 numbers of a non-NANP country starting with national digits `start`."""
        dial = DIAL_CODES.get(country)
        if dial is None:
            return []
        pool = list(GB_STOCK) if country == "GB" else []
        seed = hashlib.sha256(f"{country}:{start}".encode()).digest()
        rng = random.Random(int.from_bytes(seed[:8], "big"))
        body = start or str(rng.randint(1, 9))
        while len(pool) < 40:
            rest = rng.choice("23456789") + "".join(rng.choice("0123456789")
                                                    for _ in range(9 - len(body)))
            pool.append(f"+{dial}{body}{rest}")
        wanted = f"+{dial}{start}"
        with self.lock:
            free = sorted({n for n in pool if n.startswith(wanted) and n not in self.owned})
        return free[:quantity]

    # -- routes -------------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        sim = self

        @app.get("/_sim/webhook_key")
        def webhook_key() -> dict[str, str]:
            return {"public_key": sim.webhook_public_key}

        @app.get("/available_phone_numbers")
        def search(request: Request) -> Response:
            return sim._search(dict(request.query_params))

        @app.post("/number_orders")
        async def create_order(request: Request) -> Response:
            try:
                doc = await request.json()
            except ValueError:
                return errors_body(400, "The request body is not valid JSON.")
            numbers = [p.get("phone_number") for p in (doc.get("phone_numbers") or [])
                       if isinstance(p, dict)]
            if not numbers or not all(isinstance(n, str) and n.startswith("+")
                                      for n in numbers):
                return errors_body(422, "You must provide at least 1 phone number.",
                                   pointer="/phone_numbers")
            order = sim.place_order(numbers, customer_reference=doc.get("customer_reference"),
                                    connection_id=doc.get("connection_id"),
                                    messaging_profile_id=doc.get("messaging_profile_id"))
            if order["failed_numbers"]:
                with sim.lock:
                    sim.orders.pop(order["id"], None)
                return errors_body(sim.unavailable_status,
                                   f"Number {order['failed_numbers'][0]} is not available "
                                   "for purchase.", code="85001",
                                   pointer="/phone_numbers/0/phone_number")
            with sim.lock:
                for n in numbers:
                    sim.owned[n].update(customer_reference=doc.get("customer_reference"),
                                        connection_id=doc.get("connection_id"))
            return JSONResponse({"data": sim._order_json(order)})

        @app.get("/number_orders")
        def list_orders(request: Request) -> Response:
            q = request.query_params
            with sim.lock:
                ids = list(sim.orders)
            rows = [sim._order_json(o) for o in map(sim.order_progress, ids) if o]
            rows = [r for r in rows if _wanted(q, "filter[customer_reference]",
                                               r["customer_reference"])
                    and _wanted(q, "filter[status]", r["status"])]
            return sim._page(rows, q)

        @app.get("/number_orders/{order_id}")
        def get_order(order_id: str) -> Response:
            order = sim.order_progress(order_id)
            if order is None:
                return errors_body(404, f"Number order {order_id} not found.")
            return JSONResponse({"data": sim._order_json(order)})

        @app.get("/phone_numbers")
        def list_numbers(request: Request) -> Response:
            q = request.query_params
            wanted = "".join(ch for ch in q.get("filter[phone_number]", "") if ch.isdigit())
            if "filter[phone_number]" in q and (len(wanted) < 3 or not q[
                    "filter[phone_number]"].isdigit()):
                return sim._page([], q)  # "requires at least three digits"
            with sim.lock:
                rows = [sim._number_json(v) for n, v in sorted(sim.owned.items())
                        if wanted in n]
            rows = [r for r in rows if _wanted(q, "filter[status]", r["status"])
                    and _wanted(q, "filter[customer_reference]", r["customer_reference"])]
            return sim._page(rows, q)

        @app.get("/phone_numbers/{number_id}")
        def get_number(number_id: str) -> Response:
            with sim.lock:
                row = next((v for v in sim.owned.values() if v["id"] == number_id), None)
                if row is None:
                    return errors_body(404, f"Phone number {number_id} not found.")
                return JSONResponse({"data": sim._number_json(row)})

        @app.delete("/phone_numbers/{number_id}")
        def delete_number(number_id: str) -> Response:
            with sim.lock:
                found = next((n for n, v in sim.owned.items() if v["id"] == number_id), None)
                row = sim.owned.pop(found) if found else None
            if row is None:
                return errors_body(404, f"Phone number {number_id} not found.")
            return JSONResponse({"data": {**sim._number_json(row), "status": "deleted"}})

    def _page(self, rows: list[dict[str, Any]], q: Any) -> Response:
        try:
            number = max(1, int(q.get("page[number]") or 1))
            size = min(250, max(1, int(q.get("page[size]") or 20)))
        except ValueError:
            return errors_body(400, "page[number] and page[size] must be integers.",
                               pointer="/page")
        total_pages = max(1, -(-len(rows) // size))
        return JSONResponse({"data": rows[(number - 1) * size: number * size], "meta": {
            "page_number": number, "page_size": size, "total_pages": total_pages,
            "total_results": len(rows)}})

    # -- behaviour ----------------------------------------------------------------------------

    def _search(self, params: dict[str, str]) -> Response:
        country = params.get("filter[country_code]", "")
        if not country:
            return errors_body(400, "Country code is always required in search requests.",
                               pointer="/filter/country_code")
        limit = int(params.get("filter[limit]") or 10)
        ndc = params.get("filter[national_destination_code]", "")
        starts = params.get("filter[phone_number][starts_with]", "")
        kind = params.get("filter[phone_number_type]", "")
        best_effort = params.get("filter[best_effort]", "false").lower() == "true"
        if country in ("US", "CA"):
            start = national(starts) if starts.startswith("+1") else starts
            digits = ndc + start
            if kind == "toll_free" and ndc and ndc not in TOLLFREE_NPAS:
                numbers: list[str] = []
            else:
                numbers = [e164(n) for n in self.stock(digits, limit)] if digits else []
            exact = {n: False for n in numbers}
            if best_effort and len(exact) < limit and ndc:
                # near matches: same area code, other exchanges
                for n in self.stock(ndc, limit):
                    exact.setdefault(e164(n), True)
        else:
            exact = {n: False for n in self.international(country, starts.lstrip("+"), limit)}
        rows = [self._available(n, be, country) for n, be in list(exact.items())[:limit]]
        return JSONResponse({"data": rows, "meta": {
            "total_results": len(rows),
            "best_effort_results": sum(1 for r in rows if r["best_effort"])}})

    def _available(self, number: str, best_effort: bool, country: str) -> dict[str, Any]:
        regions = [{"region_type": "country_code", "region_name": country}]
        if number.startswith("+1") and number[2:5] not in TOLLFREE_NPAS:
            regions += [{"region_type": "state", "region_name": "MD"},
                        {"region_type": "rate_center", "region_name": f"RC {number[2:8]}"},
                        {"region_type": "location", "region_name": f"CITY {number[2:5]}"}]
        tollfree = number[2:5] in TOLLFREE_NPAS and number.startswith("+1")
        return {"record_type": "available_phone_number", "phone_number": number,
                "vanity_format": "", "best_effort": best_effort, "quickship": tollfree,
                "reservable": True, "region_information": regions,
                "cost_information": {"upfront_cost": "1.00", "monthly_cost": "1.00",
                                     "currency": "USD"},
                "features": [{"name": "sms"}, {"name": "voice"}]}

    def _order_json(self, order: dict[str, Any]) -> dict[str, Any]:
        status = {"pending": "pending", "complete": "success", "failed": "failure"}[
            order["state"]]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        return {
            "id": order["id"], "record_type": "number_order",
            "phone_numbers_count": len(order["numbers"]),
            "connection_id": order.get("connection_id"),
            "messaging_profile_id": order.get("messaging_profile_id"),
            "phone_numbers": [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, order["id"] + n)),
                               "record_type": "number_order_phone_number",
                               "phone_number": n, "requirements_met": True,
                               "status": status} for n in order["numbers"]],
            "status": status, "customer_reference": order.get("customer_reference"),
            "created_at": stamp, "updated_at": stamp, "requirements_met": True,
        }

    def _number_json(self, row: dict[str, Any]) -> dict[str, Any]:
        order = self.order_progress(row["order_id"]) or {}
        status = "active" if order.get("state", "complete") == "complete" else \
            "purchase-pending"
        return {"id": row["id"], "record_type": "phone_number", "phone_number": row["number"],
                "status": status, "connection_id": row.get("connection_id"),
                "customer_reference": row.get("customer_reference"),
                "deletion_lock_enabled": False, "tags": [],
                "purchased_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _wanted(q: Any, key: str, value: Any) -> bool:
    """A list filter: absent, or equal to the value."""
    return key not in q or q[key] == (value or "")
