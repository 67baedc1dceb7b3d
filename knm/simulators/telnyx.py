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

Number features (SPEC §13; the `telnyx` SDK's `addresses`, `addresses.actions`,
`phone_numbers.actions.enable_emergency`, `phone_numbers.voice`, `phone_numbers.jobs`):
`POST /addresses/actions/validate` → `{result: valid|invalid, suggested, errors}` by the
simulators' one rule (`knm.simulators.addresses`: postal code 00000 rejected, a street with
CORRECTME corrected, US/CA addresses valid); `POST /addresses` (validated for emergency use
unless `validate_address` is false: 422 code 20207 otherwise), `GET`/`DELETE
/addresses/{id}` (an address a number's emergency settings use cannot be deleted);
`POST /phone_numbers/{id}/actions/enable_emergency` → 200 `active`, or 202 `provisioning`
when the switches make feature orders take time or fail (`provisioning-failed` once done);
`GET`/`PATCH /phone_numbers/{id}/voice` (`emergency`, `cnam_listing`; `caller_id_name_enabled`
is written here and shown on the phone-number resource); `POST
/phone_numbers/jobs/update_emergency_settings` → 202 job, done at once (`GET
/phone_numbers/jobs/{id}`: completed). `TelnyxSimulator(kazoo_fixtures=dir)` gives the first
address it creates the id of Kazoo's `telnyx_create_e911.json`.

Unverified, chosen here: "number not available" is code 85001 (third-party evidence only)
with HTTP `unavailable_status` (422 by default; the third-party code saw 409); how
`filter[phone_number]` matches (here: the digits contain the filter's digits).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators import addresses
from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator, e164, national

DIAL_CODES = {"US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "NL": "31", "IE": "353"}
FIXTURE_STOCK = {
    "301359": ["3013590340", "3013591789", "3013596520", "3013596526", "3013596695"],
    "800": ["8006198104", "8009177894"],
}
#: countries the simulator treats as regulated (Germany asks for an address in the country)
REGULATED = frozenset({"DE"})
#: GB area codes of telnyx_international_search.json (first two), made into whole numbers
GB_STOCK = ["+441432760001", "+441432760002", "+441631560001", "+441631560002"]
#: Telnyx's CNAM listing: letters, digits and spaces, at most 15
CNAM_LISTING = re.compile(r"^[A-Za-z0-9 ]{1,15}$")
ADDRESS_FIELDS = ("street_address", "extended_address", "locality", "administrative_area",
                  "postal_code", "country_code")
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
                 unavailable_status: int = 422,
                 kazoo_fixtures: str | Path | None = None,
                 regulated: frozenset[str] = REGULATED) -> None:
        super().__init__(api_key=api_key)
        self.fixed_stock.update(FIXTURE_STOCK)
        self.unavailable_status = unavailable_status
        #: countries whose numbers are held on `requirement-info-pending` until an order
        #: names a requirement group or bundle
        self.regulated = frozenset(regulated)
        #: the account's addresses (`POST /addresses`) and background jobs, by id
        self.addresses: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.kazoo_fixtures = Path(kazoo_fixtures) if kazoo_fixtures else None
        self._fixture_ids: list[str] = []
        self._load_fixture_ids()
        # the key pair webhooks are signed with; Telnyx shows its public key (base64) in the
        # portal, here it is `webhook_public_key` and `GET /_sim/webhook_key`
        self._signing_key = Ed25519PrivateKey.generate()
        self.webhook_public_key = base64.b64encode(self._signing_key.public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw)).decode()

    def _load_fixture_ids(self) -> None:
        if self.kazoo_fixtures is not None:
            created = json.loads((self.kazoo_fixtures / "telnyx_create_e911.json").read_text())
            self._fixture_ids = [str(created["id"])]

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.addresses.clear()
            self.jobs.clear()
            self._load_fixture_ids()

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
                                    messaging_profile_id=doc.get("messaging_profile_id"),
                                    regulatory=sim.regulatory(doc))
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

        self._feature_routes(app)

        @app.delete("/phone_numbers/{number_id}")
        def delete_number(number_id: str) -> Response:
            with sim.lock:
                found = next((n for n, v in sim.owned.items() if v["id"] == number_id), None)
                row = sim.owned.pop(found) if found else None
            if row is None:
                return errors_body(404, f"Phone number {number_id} not found.")
            return JSONResponse({"data": {**sim._number_json(row), "status": "deleted"}})

    # -- number features (SPEC §13) ---------------------------------------------------------

    def _feature_routes(self, app: FastAPI) -> None:
        sim = self

        async def body_of(request: Request) -> dict[str, Any] | Response:
            try:
                doc = await request.json()
            except ValueError:
                return errors_body(400, "The request body is not valid JSON.")
            return doc if isinstance(doc, dict) else errors_body(
                422, "The request body must be an object.")

        @app.post("/addresses/actions/validate")
        async def validate(request: Request) -> Response:
            doc = await body_of(request)
            if isinstance(doc, Response):
                return doc
            for key in ("country_code", "street_address", "postal_code"):
                if not doc.get(key):
                    return errors_body(422, f"{key} is required.", pointer=f"/{key}")
            return JSONResponse({"data": sim._validation(doc)})

        @app.post("/addresses")
        async def create_address(request: Request) -> Response:
            doc = await body_of(request)
            if isinstance(doc, Response):
                return doc
            return sim._create_address(doc)

        @app.get("/addresses/{address_id}")
        def get_address(address_id: str) -> Response:
            with sim.lock:
                found = sim.addresses.get(address_id)
            if found is None:
                return errors_body(404, f"Address {address_id} not found.")
            return JSONResponse({"data": found})

        @app.delete("/addresses/{address_id}")
        def delete_address(address_id: str) -> Response:
            with sim.lock:
                found = sim.addresses.get(address_id)
                if found is None:
                    return errors_body(404, f"Address {address_id} not found.")
                users = [n for n, row in sim.owned.items()
                         if sim._emergency(row)["emergency_address_id"] == address_id
                         and sim._emergency(row)["emergency_enabled"]]
                if users:
                    return errors_body(422, f"Address {address_id} is in use by {users[0]}.",
                                       pointer="/id")
                sim.addresses.pop(address_id)
            return JSONResponse({"data": found})

        @app.post("/phone_numbers/{number_id}/actions/enable_emergency")
        async def enable_emergency(number_id: str, request: Request) -> Response:
            doc = await body_of(request)
            if isinstance(doc, Response):
                return doc
            return sim._enable_emergency(number_id, doc)

        @app.get("/phone_numbers/{number_id}/voice")
        def get_voice(number_id: str) -> Response:
            with sim.lock:
                row = sim._row_by_id(number_id)
                if row is None:
                    return errors_body(404, f"Phone number {number_id} not found.")
                return JSONResponse({"data": sim._voice_json(row)})

        @app.patch("/phone_numbers/{number_id}/voice")
        async def patch_voice(number_id: str, request: Request) -> Response:
            doc = await body_of(request)
            if isinstance(doc, Response):
                return doc
            return sim._patch_voice(number_id, doc)

        @app.post("/phone_numbers/jobs/update_emergency_settings")
        async def emergency_job(request: Request) -> Response:
            doc = await body_of(request)
            if isinstance(doc, Response):
                return doc
            return sim._emergency_job(doc)

        @app.get("/phone_numbers/jobs/{job_id}")
        def get_job(job_id: str) -> Response:
            with sim.lock:
                job = sim.jobs.get(job_id)
            if job is None:
                return errors_body(404, f"Job {job_id} not found.")
            return JSONResponse({"data": {**job, "status": "completed"}})

    def _validation(self, doc: dict[str, Any]) -> dict[str, Any]:
        """`ValidateAddressResult` by the simulators' rule."""
        verdict = addresses.fate(doc.get("street_address"), doc.get("postal_code"),
                                 doc.get("country_code"))
        if verdict == addresses.INVALID:
            pointer = "/postal_code" if str(doc.get("postal_code")).strip() == \
                addresses.REJECTED_POSTAL_CODE else "/street_address"
            return {"record_type": "address_validation", "result": "invalid", "suggested": {},
                    "errors": [{"code": "10015", "title": "Invalid address",
                                "detail": addresses.REJECTED_BECAUSE,
                                "source": {"pointer": pointer}}]}
        suggested = {k: addresses.normalised(doc.get(k)) for k in ADDRESS_FIELDS
                     if doc.get(k)}
        if verdict == addresses.CORRECTED:
            suggested["street_address"] = addresses.corrected_street(doc.get("street_address"))
        return {"record_type": "address_validation", "result": "valid",
                "suggested": suggested, "errors": []}

    def _create_address(self, doc: dict[str, Any]) -> Response:
        for key in ("street_address", "locality", "country_code"):
            if not doc.get(key):
                return errors_body(422, f"{key} is required.", pointer=f"/{key}")
        if not (doc.get("business_name") or (doc.get("first_name") and doc.get("last_name"))):
            return errors_body(422, "An address must have either a first and last name or a "
                               "business name.", pointer="/business_name")
        if doc.get("validate_address", True) and addresses.fate(
                doc.get("street_address"), doc.get("postal_code"),
                doc.get("country_code")) != addresses.VALID:
            return errors_body(422, "Invalid street address", code="20207",
                               pointer="/street_address")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        with self.lock:
            address_id = self._fixture_ids.pop(0) if self._fixture_ids else \
                str(uuid.uuid4().int)[:18]
            found = {"id": address_id, "record_type": "address", "created_at": stamp,
                     "updated_at": stamp, "address_book": bool(doc.get("address_book", True)),
                     "validate_address": bool(doc.get("validate_address", True)),
                     **{k: doc.get(k) for k in ("first_name", "last_name", "business_name",
                                                "customer_reference", "phone_number")},
                     **{k: addresses.normalised(doc.get(k)) for k in ADDRESS_FIELDS}}
            self.addresses[address_id] = found
        return JSONResponse({"data": found})

    def _row_by_id(self, number_id: str) -> dict[str, Any] | None:
        return next((v for v in self.owned.values() if v["id"] == number_id), None)

    def _emergency(self, row: dict[str, Any]) -> dict[str, Any]:
        """A number's emergency settings, advanced per a pending feature order."""
        settings = row.setdefault("emergency", {"emergency_enabled": False,
                                                "emergency_address_id": None,
                                                "emergency_status": "disabled"})
        if row.get("emergency_order"):
            self.feature_progress(row["emergency_order"])
        return settings

    def feature_done(self, order: dict[str, Any]) -> None:
        row = self.owned.get(order["number"])
        if row is None or order["kind"] != "e911" or (row.get("emergency") or {}).get(
                "emergency_address_id") != order.get("address_id"):
            return  # the number moved on to other settings meanwhile
        if row.get("emergency_order") == order["id"]:
            row["emergency_order"] = None
        row["emergency"]["emergency_status"] = (
            "active" if order["state"] == "complete" else "provisioning-failed")

    def _voice_json(self, row: dict[str, Any]) -> dict[str, Any]:
        listing = row.setdefault("cnam_listing", {"cnam_listing_enabled": False,
                                                  "cnam_listing_details": None})
        return {"id": row["id"], "record_type": "voice_settings", "phone_number": row["number"],
                "connection_id": row.get("connection_id"),
                "customer_reference": row.get("customer_reference"),
                "tech_prefix_enabled": False, "translated_number": "",
                "usage_payment_method": "pay-per-minute",
                "emergency": dict(self._emergency(row)), "cnam_listing": dict(listing),
                "call_forwarding": {"call_forwarding_enabled": True, "forwarding_type": "always",
                                    "forwards_to": None},
                "media_features": {"accept_any_rtp_packets_enabled": False,
                                   "rtp_auto_adjust_enabled": True,
                                   "t38_fax_gateway_enabled": True}}

    def _enable_emergency(self, number_id: str, doc: dict[str, Any]) -> Response:
        address_id = doc.get("emergency_address_id")
        if not isinstance(doc.get("emergency_enabled"), bool) or not address_id:
            return errors_body(422, "emergency_enabled and emergency_address_id are required.",
                               pointer="/emergency_address_id")
        with self.lock:
            row = self._row_by_id(number_id)
            if row is None:
                return errors_body(404, f"Phone number {number_id} not found.")
            if address_id not in self.addresses:
                return errors_body(422, f"Address {address_id} does not exist.",
                                   pointer="/emergency_address_id")
            settings = self._emergency(row)
            settings.update(emergency_enabled=bool(doc["emergency_enabled"]),
                            emergency_address_id=address_id)
            sw = self.switches
            if sw.feature_complete_ms == 0 and sw.feature_result == "complete":
                settings["emergency_status"] = "active"
                return JSONResponse({"data": self._voice_json(row)})
            settings["emergency_status"] = "provisioning"
            row["emergency_order"] = None
            answer = {**self._voice_json(row),
                      "emergency": {**settings, "emergency_status": "provisioning"}}
            order = self.place_feature("e911", row["number"], address_id=address_id)
            if order["state"] == "pending":
                row["emergency_order"] = order["id"]
        return JSONResponse({"data": answer}, status_code=202)

    def _patch_voice(self, number_id: str, doc: dict[str, Any]) -> Response:
        listing = doc.get("cnam_listing")
        if listing is not None:
            if not isinstance(listing, dict):
                return errors_body(422, "cnam_listing must be an object.",
                                   pointer="/cnam_listing")
            details = listing.get("cnam_listing_details")
            if listing.get("cnam_listing_enabled") and not (
                    isinstance(details, str) and CNAM_LISTING.match(details)):
                return errors_body(422, "cnam_listing_details must be alphanumeric "
                                   "characters or spaces, at most 15.",
                                   pointer="/cnam_listing/cnam_listing_details")
        with self.lock:
            row = self._row_by_id(number_id)
            if row is None:
                return errors_body(404, f"Phone number {number_id} not found.")
            if listing is not None:
                enabled = bool(listing.get("cnam_listing_enabled"))
                row["cnam_listing"] = {"cnam_listing_enabled": enabled,
                                       "cnam_listing_details": listing.get(
                                           "cnam_listing_details") if enabled else None}
            if isinstance(doc.get("caller_id_name_enabled"), bool):
                row["caller_id_name_enabled"] = doc["caller_id_name_enabled"]
            return JSONResponse({"data": self._voice_json(row)})

    def _emergency_job(self, doc: dict[str, Any]) -> Response:
        enabled = doc.get("emergency_enabled")
        numbers = doc.get("phone_numbers")
        if not isinstance(enabled, bool) or not isinstance(numbers, list) or not numbers:
            return errors_body(422, "emergency_enabled and phone_numbers are required.",
                               pointer="/phone_numbers")
        if enabled and not doc.get("emergency_address_id"):
            return errors_body(422, "emergency_address_id is required to enable.",
                               code="10015", pointer="/emergency_address_id")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        done, failed = [], []
        with self.lock:
            for number in numbers:
                row = self.owned.get(number)
                if row is None:
                    failed.append({"phone_number": number, "errors": [{
                        "code": "10005", "title": "Resource not found",
                        "detail": f"{number} is not a number of this account"}]})
                    continue
                settings = self._emergency(row)
                row["emergency_order"] = None
                settings.update(emergency_enabled=enabled,
                                emergency_address_id=doc.get("emergency_address_id")
                                if enabled else None,
                                emergency_status="active" if enabled else "disabled")
                done.append({"id": row["id"], "phone_number": number})
            job = {"id": str(uuid.uuid4()), "record_type": "phone_numbers_job",
                   "type": "update_emergency_settings", "status": "pending",
                   "created_at": stamp, "updated_at": stamp,
                   "successful_operations": done, "failed_operations": failed,
                   "pending_operations": [], "phone_numbers": [
                       {"phone_number": n} for n in numbers]}
            self.jobs[job["id"]] = job
        return JSONResponse({"data": job}, status_code=202)

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

    def regulatory(self, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Per ordered number of a regulated country: the requirement group or bundle it came
        with and whether that meets the requirements (any id does, here)."""
        out: dict[str, dict[str, Any]] = {}
        for row in doc.get("phone_numbers") or []:
            if not isinstance(row, dict) or not isinstance(row.get("phone_number"), str):
                continue
            if _country_of(row["phone_number"]) not in self.regulated:
                continue
            given = {k: row[k] for k in ("requirement_group_id", "bundle_id") if row.get(k)}
            out[row["phone_number"]] = {**given, "requirements_met": bool(given)}
        return out

    def order_progress(self, order_id: str) -> dict[str, Any] | None:
        """As the framework's, except that an order with a number whose requirements are not
        met stays pending (Telnyx waits for the documents)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is not None and order["state"] == "pending" and any(
                    not r["requirements_met"] for r in (order.get("regulatory") or {}).values()):
                return order
        return super().order_progress(order_id)

    def _order_json(self, order: dict[str, Any]) -> dict[str, Any]:
        status = {"pending": "pending", "complete": "success", "failed": "failure"}[
            order["state"]]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        regulatory = order.get("regulatory") or {}
        rows = []
        for n in order["numbers"]:
            row: dict[str, Any] = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, order["id"] + n)),
                                   "record_type": "number_order_phone_number",
                                   "phone_number": n, "requirements_met": True,
                                   "status": status}
            if n in regulatory:
                row.update(regulatory[n])
                row["requirements_status"] = ("approved" if regulatory[n]["requirements_met"]
                                              else "requirement-info-pending")
            rows.append(row)
        return {
            "id": order["id"], "record_type": "number_order",
            "phone_numbers_count": len(order["numbers"]),
            "connection_id": order.get("connection_id"),
            "messaging_profile_id": order.get("messaging_profile_id"),
            "phone_numbers": rows,
            "status": status, "customer_reference": order.get("customer_reference"),
            "created_at": stamp, "updated_at": stamp,
            "requirements_met": all(r["requirements_met"] for r in rows),
        }

    def _number_json(self, row: dict[str, Any]) -> dict[str, Any]:
        order = self.order_progress(row["order_id"]) or {}
        status = "active" if order.get("state", "complete") == "complete" else \
            "purchase-pending"
        emergency = self._emergency(row)
        listing = row.get("cnam_listing") or {}
        return {"id": row["id"], "record_type": "phone_number", "phone_number": row["number"],
                "status": status, "connection_id": row.get("connection_id"),
                "customer_reference": row.get("customer_reference"),
                "deletion_lock_enabled": False, "tags": [],
                "emergency_enabled": emergency["emergency_enabled"],
                "emergency_address_id": emergency["emergency_address_id"],
                "emergency_status": emergency["emergency_status"],
                "caller_id_name_enabled": bool(row.get("caller_id_name_enabled")),
                "cnam_listing_enabled": bool(listing.get("cnam_listing_enabled")),
                "purchased_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _wanted(q: Any, key: str, value: Any) -> bool:
    """A list filter: absent, or equal to the value."""
    return key not in q or q[key] == (value or "")


def _country_of(number: str) -> str | None:
    """The ISO country of an E.164 number, by the simulator's dial codes (longest first)."""
    digits = number.lstrip("+")
    for country, dial in sorted(DIAL_CODES.items(), key=lambda kv: -len(kv[1])):
        if dial != "1" and digits.startswith(dial):
            return country
    return "US" if digits.startswith("1") else None
