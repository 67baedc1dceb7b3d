"""SignalWire RELAY REST simulator: `/api/relay/rest/phone_numbers` search, buy, route, release.

Paths are the real space host's (`https://{space}.signalwire.com/api/relay/rest/…`). The
`signalwire-sdk` REST client (`signalwire.rest.RestClient`) works against it unchanged with
`host="127.0.0.1:<port>"`: the SDK itself speaks plain HTTP to a loopback host.

Wire facts verified against `signalwire-sdk` 3.7 (`signalwire/rest/_base.py`,
`namespaces/relay_rest_resources_generated.py`, `relay_rest_types_generated.py`, generated
from SignalWire's relay-rest OpenAPI) and signalwire/docs TypeSpec
(`specs/signalwire-rest/relay-rest/phone-numbers/main.tsp`, `models/requests.tsp`):
- `GET phone_numbers/search` with `areacode`, `number_type` (`local` default, `toll-free`),
  one of `starts_with` / `contains` / `ends_with` ("3 to 7 digits"), `max_results` (≤ 100,
  default 50), `region` (not with `areacode`), `city` (needs `region`, not with `areacode` or
  the digit filters). Answer `{"links": {…}, "data": [{"number": "+1…", "region", "city",
  "rate_center", "lata", "capabilities": {"voice", "sms", "mms", "fax"}}]}`.
- `POST phone_numbers {"number": "+1…"}` → **200** and the PhoneNumber (`id` uuid, `number`,
  `name`, `capabilities` list, `number_type` `longcode`|`toll-free`, `call_handler`, `call_*`,
  `message_*`, `country_code`, `created_at`, `updated_at`, `next_billed_at`).
- `GET phone_numbers?filter_name=&filter_number=&page_number=&page_size=&page_token=` →
  `{"links", "data"}`; `GET`/`PUT`/`DELETE phone_numbers/{id}` (PUT → 200, DELETE → **204**).
  The SDK's `update` is a PUT.
- Routing is `call_handler` plus its fields (`relay_sip_endpoint` + `call_sip_endpoint_id`,
  `laml_webhooks` + `call_request_url`, …). The *request* enum leaves out `sip_gateway`
  ("Fabric API only"), so this simulator refuses it with 422.
- HTTP Basic `project_id:api_token`. 401 is `{"error": "Unauthorized"}`, 404
  `{"error": "Not Found"}`, 500 `{"error": "Internal Server Error"}`, 422 is
  `{"errors": [{"detail", "status": "422", "title", "code"}]}`. The SDK has no auth-specific
  exception: every non-2xx raises `SignalWireRestError` with `.status_code` and the parsed
  `.body`.

E911 (signalwire/docs TypeSpec `relay-rest/addresses`, `relay-rest/phone-numbers`, July 2026;
the SDK's `client.addresses` has create/list/get/delete, not the assignment):
- `POST addresses` (`label`, `country`, `first_name`, `last_name`, `street_number`,
  `street_name`, `city`, `state`, `postal_code` required; `address_type` one of SignalWire's
  ten; `address_number`; `emergency_enabled` default false; `auto_correct_address` default
  true) → 200 and the Address (`id`, the fields, `zip_code`, `emergency_enabled`,
  `validated`, `validated_at`). With `emergency_enabled` and `country` US the address is
  validated (`knm.simulators.addresses`' rule): rejected → 422 `errors` without
  `candidates`; correctable → stored corrected, or with `auto_correct_address` false 422
  with `candidates` (`street_number`, `street_name`, `city`, `state`, `postal_code`). A
  non-US address is stored with `emergency_enabled` false. `GET addresses` (`filter_label`),
  `GET`/`DELETE addresses/{id}` (204).
- `POST phone_numbers/{id}/e911_address {"e911_address_id"}` → the PhoneNumber with
  `e911_status` `pending`, which becomes `active` (or `failed`) per the feature switches
  (`feature_complete_ms`, `feature_result`); `DELETE phone_numbers/{id}/e911_address` → the
  PhoneNumber, `pending_removal`, then `unregistered` (the address unassigned). Removal only
  while `active` (else 422).

Unverified (chosen): an assignment is refused (422) while one is `pending` or
`pending_removal`, for an address that is not a validated emergency one, and on toll-free
numbers (the LaML API's note); an assignment over an `active` one replaces it; a `failed`
assignment keeps the address on the number; an address a number uses (`pending`, `active`,
`pending_removal`) cannot be deleted (422), a failed one can (it is unassigned); the words of
these refusals. Buying a number that is not available answers 422 with detail
"Number is not available for purchase."; invalid search filter combinations answer 422 (the
spec lists only 401/500 for search); `filter_number` matches a digit substring.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators import addresses, numbering
from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator, e164, national

BASE = "/api/relay/rest"
ERROR_WORDS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               429: "Too Many Requests", 500: "Internal Server Error"}
CALL_HANDLERS = {"relay_context", "relay_topic", "relay_script", "relay_application",
                 "relay_connector", "relay_sip_endpoint", "relay_verto_endpoint",
                 "laml_webhooks", "laml_application", "dialogflow", "video_room", "ai_agent",
                 "call_flow"}
MESSAGE_HANDLERS = {"relay_context", "relay_topic", "relay_application", "laml_webhooks",
                    "laml_application"}
UPDATABLE = {"name", "call_handler", "call_receive_mode", "call_request_url",
             "call_request_method", "call_fallback_url", "call_fallback_method",
             "call_status_callback_url", "call_status_callback_method",
             "call_laml_application_id", "call_dialogflow_agent_id", "call_relay_topic",
             "call_relay_topic_status_callback_url", "call_relay_script_url",
             "call_relay_context", "call_relay_context_status_callback_url",
             "call_relay_application", "call_relay_connector_id", "call_sip_endpoint_id",
             "call_verto_resource", "call_video_room_id", "call_ai_agent_id", "call_flow_id",
             "call_flow_version", "message_handler", "message_request_url",
             "message_request_method", "message_fallback_url", "message_fallback_method",
             "message_laml_application_id", "message_relay_topic", "message_relay_context",
             "message_relay_application"}
DEFAULT_NPAS = {"local": ["512", "415", "212"], "toll-free": ["888", "877"]}
ADDRESS_FIELDS = ("label", "country", "first_name", "last_name", "street_number",
                  "street_name", "city", "state", "postal_code")
ADDRESS_TYPES = {"Apartment", "Basement", "Building", "Department", "Floor", "Office",
                 "Penthouse", "Suite", "Trailer", "Unit"}
#: the E911 states in which a number's address is in use (not deletable, not replaceable
#: while pending)
IN_USE = {"pending", "active", "pending_removal"}


def signalwire_error(status: int, message: str | None = None,
                     candidates: list[dict[str, Any]] | None = None) -> JSONResponse:
    """422 in the validation shape (with an address's `candidates` when there are some),
    every other status as `{"error": …}`."""
    if status == 422:
        body: dict[str, Any] = {"errors": [{"detail": message or "Invalid", "status": "422",
                                            "title": "Invalid Attribute", "code": "422"}]}
        if candidates:
            body["candidates"] = candidates
        return JSONResponse(body, status_code=422)
    return JSONResponse({"error": message or ERROR_WORDS.get(status, "Error")},
                        status_code=status)


class SignalWireSimulator(Simulator):
    """`SignalWireSimulator(project_id="8a5f1c2e-5e1d-4f0b-9d2c-signalwire01", api_token=
    "PTsignalwire-simulated-token", space="example")`: the HTTP Basic pair it accepts; `space`
    only names the host in `links`.

    Stock: NANP local numbers for any area code and toll-free numbers in 800/833/844/855/866/
    877/888 (SignalWire sells US/CA numbers only here). Owned numbers:
    `sim.owned["+1…"]` is the PhoneNumber record (`id` its uuid, `call_handler`,
    `call_sip_endpoint_id`, `call_request_url`, … as last set; `e911_address_id`,
    `e911_status`). `sim.addresses[id]` is an Address resource.
    """

    name = "knm_signalwire"
    content_type = "application/json"

    def __init__(self, *, project_id: str = "8a5f1c2e-5e1d-4f0b-9d2c-signalwire01",
                 api_token: str = "PTsignalwire-simulated-token",
                 space: str = "example") -> None:
        super().__init__(project_id=project_id, api_token=api_token, space=space)
        self.addresses: dict[str, dict[str, Any]] = {}
        #: number → its E911 feature order still pending
        self.e911_orders: dict[str, str] = {}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.addresses.clear()
            self.e911_orders.clear()

    def check_auth(self, request: RecordedRequest) -> Response | None:
        pair = numbering.basic_auth(request)
        if pair != (self.credentials["project_id"], self.credentials["api_token"]):
            return signalwire_error(401)
        return None

    def error_body(self, status: int, message: str) -> Response:
        return signalwire_error(status, message)

    # -- routes -------------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        sim = self

        @app.get(BASE + "/phone_numbers/search")
        def search(request: Request) -> Response:
            return sim._search(dict(request.query_params), str(request.url))

        @app.get(BASE + "/phone_numbers")
        def list_owned(request: Request) -> Response:
            return sim._list(dict(request.query_params))

        @app.post(BASE + "/phone_numbers")
        async def buy(request: Request) -> Response:
            doc = await _json(request)
            if not isinstance(doc, dict) or not isinstance(doc.get("number"), str):
                return signalwire_error(422, "Number can't be blank")
            return sim._buy(doc["number"])

        @app.get(BASE + "/phone_numbers/{number_id}")
        def fetch(number_id: str) -> Response:
            row = sim._by_id(number_id)
            return JSONResponse(dict(row)) if row else signalwire_error(404)

        @app.post(BASE + "/phone_numbers/{number_id}/e911_address")
        async def assign(number_id: str, request: Request) -> Response:
            doc = await _json(request)
            wanted = doc.get("e911_address_id") if isinstance(doc, dict) else None
            if not isinstance(wanted, str) or not wanted:
                return signalwire_error(422, "E911 address can't be blank")
            return sim._assign(number_id, wanted)

        @app.delete(BASE + "/phone_numbers/{number_id}/e911_address")
        def unassign(number_id: str) -> Response:
            return sim._unassign(number_id)

        @app.get(BASE + "/addresses")
        def list_addresses(request: Request) -> Response:
            label = request.query_params.get("filter_label", "").lower()
            with sim.lock:
                rows = [dict(a) for a in sim.addresses.values()
                        if label in str(a["label"]).lower()]
            return JSONResponse({"links": {"self": str(request.url)}, "data": rows[::-1]})

        @app.post(BASE + "/addresses")
        async def create_address(request: Request) -> Response:
            doc = await _json(request)
            if not isinstance(doc, dict):
                return signalwire_error(400)
            return sim._create_address(doc)

        @app.get(BASE + "/addresses/{address_id}")
        def get_address(address_id: str) -> Response:
            with sim.lock:
                found = sim.addresses.get(address_id)
            return JSONResponse(dict(found)) if found else signalwire_error(404)

        @app.delete(BASE + "/addresses/{address_id}")
        def delete_address(address_id: str) -> Response:
            return sim._delete_address(address_id)

        @app.put(BASE + "/phone_numbers/{number_id}")
        async def update(number_id: str, request: Request) -> Response:
            doc = await _json(request)
            if not isinstance(doc, dict):
                return signalwire_error(400)
            return sim._update(number_id, doc)

        @app.delete(BASE + "/phone_numbers/{number_id}")
        def release(number_id: str) -> Response:
            with sim.lock:
                row = sim._by_id(number_id)
                if row is not None:
                    sim.owned.pop(row["number"], None)  # its E911 goes with it
                    sim.e911_orders.pop(row["number"], None)
            return Response(status_code=204) if row else signalwire_error(404)

    # -- behaviour ----------------------------------------------------------------------------

    def _search(self, params: dict[str, str], url: str) -> Response:
        area = params.get("areacode", "")
        kind = params.get("number_type") or "local"
        if kind not in DEFAULT_NPAS:
            return signalwire_error(422, "Number type must be local or toll-free")
        digits = {k: params[k] for k in ("starts_with", "contains", "ends_with") if params.get(k)}
        region, city = params.get("region", ""), params.get("city", "")
        problem = _search_problem(area, digits, region, city)
        if problem:
            return signalwire_error(422, problem)
        try:
            limit = max(1, min(100, int(params.get("max_results") or 50)))
        except ValueError:
            return signalwire_error(422, "Max results must be a number")
        if area:
            starts = [area]
        elif "starts_with" in digits:
            starts = [digits["starts_with"]]
        elif region:
            starts = numbering.npas_in(region, city)
        else:
            starts = DEFAULT_NPAS[kind]
        rows = []
        for start in starts:
            for n in self.stock(start, self.stock_size):
                if (n[:3] in TOLLFREE_NPAS) != (kind == "toll-free"):
                    continue
                if not _digits_match(n, digits):
                    continue
                rows.append(self._available(n))
                if len(rows) >= limit:
                    break
            if len(rows) >= limit:
                break
        return JSONResponse({"links": {"self": url}, "data": rows})

    def _available(self, n: str) -> dict[str, Any]:
        where = numbering.place(n)
        tollfree = n[:3] in TOLLFREE_NPAS
        return {"number": e164(n), "region": where["region"], "city": where["city"],
                "rate_center": where["rate_center"], "lata": where["lata"],
                "capabilities": {"voice": True, "sms": True, "mms": not tollfree,
                                 "fax": True}}

    def _buy(self, number: str) -> Response:
        if not re.fullmatch(r"\+1[2-9]\d{2}[2-9]\d{6}", number):
            return signalwire_error(422, "Number is invalid")
        with self.lock:
            if number in self.owned or not self.stock(national(number), 1):
                return signalwire_error(422, "Number is not available for purchase.")
            row = self._new_row(number)
            self.owned[number] = row
        return JSONResponse(dict(row))

    def _update(self, number_id: str, doc: dict[str, Any]) -> Response:
        handler = doc.get("call_handler")
        if handler is not None and handler not in CALL_HANDLERS:
            return signalwire_error(422, "Call handler is not included in the list")
        message = doc.get("message_handler")
        if message is not None and message not in MESSAGE_HANDLERS:
            return signalwire_error(422, "Message handler is not included in the list")
        with self.lock:
            row = self._by_id(number_id)
            if row is None:
                return signalwire_error(404)
            for key in UPDATABLE & set(doc):
                row[key] = doc[key]
            row["updated_at"] = _stamp()
            return JSONResponse(dict(row))

    def _list(self, params: dict[str, str]) -> Response:
        try:
            size = max(1, min(1000, int(params.get("page_size") or 50)))
            page = max(0, int(params.get("page_number") or 0))
        except ValueError:
            return signalwire_error(422, "Page size and page number must be numbers")
        if page and not params.get("page_token"):
            return signalwire_error(422, "Page token is required when page number > 0")
        wanted = re.sub(r"\D", "", params.get("filter_number", ""))
        name = params.get("filter_name", "").lower()
        with self.lock:
            rows = [dict(r) for r in self.owned.values()
                    if wanted in r["number"] and name in (r["name"] or "").lower()]
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        chunk = rows[page * size:(page + 1) * size]
        base = f"https://{self.credentials['space']}.signalwire.com{BASE}/phone_numbers"
        links = {"self": f"{base}?page_number={page}&page_size={size}",
                 "first": f"{base}?page_number=0&page_size={size}"}
        if (page + 1) * size < len(rows):
            links["next"] = (f"{base}?page_number={page + 1}&page_size={size}"
                             f"&page_token=PA{uuid.uuid4().hex[:12]}")
        if page:
            links["prev"] = f"{base}?page_number={page - 1}&page_size={size}"
        return JSONResponse({"links": links, "data": [dict(r) for r in chunk]})

    def _by_id(self, number_id: str) -> dict[str, Any] | None:
        """The owned row of that id, its E911 order advanced per the switches."""
        with self.lock:
            row = next((r for r in self.owned.values() if r["id"] == number_id), None)
            if row is not None and row["number"] in self.e911_orders:
                self.feature_progress(self.e911_orders[row["number"]])
            return row

    # -- E911 ---------------------------------------------------------------------------------

    def _create_address(self, doc: dict[str, Any]) -> Response:
        for key in ADDRESS_FIELDS:
            if not isinstance(doc.get(key), str) or not doc[key].strip():
                return signalwire_error(422, f"{key.capitalize().replace('_', ' ')} can't be "
                                             "blank")
        kind = doc.get("address_type")
        if kind is not None and kind not in ADDRESS_TYPES:
            return signalwire_error(422, "Address type is not included in the list")
        emergency = bool(doc.get("emergency_enabled")) and doc["country"].upper() == "US"
        street = f"{doc['street_number']} {doc['street_name']}"
        found = {k: addresses.normalised(doc[k]) if k not in ("label", "first_name",
                                                               "last_name") else doc[k]
                 for k in ADDRESS_FIELDS}
        if emergency:
            verdict = addresses.fate(street, doc["postal_code"], doc["country"])
            if verdict == addresses.INVALID:
                return signalwire_error(422, addresses.REJECTED_BECAUSE)
            if verdict == addresses.CORRECTED:
                name = addresses.corrected_street(doc["street_name"])
                if doc.get("auto_correct_address", True) is False:
                    candidate = {"street_number": found["street_number"], "street_name": name,
                                 "city": found["city"], "state": found["state"],
                                 "postal_code": found["postal_code"]}
                    return signalwire_error(422, "The address could not be validated as "
                                            "given: see the suggested candidates",
                                            [candidate])
                found["street_name"] = name
        found.update(id=str(uuid.uuid4()), address_type=kind,
                     address_number=addresses.normalised(doc.get("address_number")) or None,
                     zip_code=found["postal_code"], emergency_enabled=emergency,
                     validated=emergency, validated_at=_stamp() if emergency else None)
        with self.lock:
            self.addresses[found["id"]] = found
        return JSONResponse(dict(found))

    def _delete_address(self, address_id: str) -> Response:
        with self.lock:
            if address_id not in self.addresses:
                return signalwire_error(404)
            users = [r for r in self.owned.values() if r.get("e911_address_id") == address_id]
            if any(r.get("e911_status") in IN_USE for r in users):
                return signalwire_error(422, "Address is assigned to a phone number")
            for row in users:  # a failed assignment: the address is unassigned with it
                row["e911_address_id"] = None
            self.addresses.pop(address_id)
        return Response(status_code=204)

    def _assign(self, number_id: str, wanted: str) -> Response:
        with self.lock:
            row = self._by_id(number_id)
            if row is None:
                return signalwire_error(404)
            found = self.addresses.get(wanted)
            if found is None or not found["validated"]:
                return signalwire_error(422, "E911 address must be a validated emergency "
                                             "address of this project")
            if row["number_type"] == "toll-free":
                return signalwire_error(422, "E911 is not supported for toll-free numbers")
            if row.get("e911_status") in ("pending", "pending_removal"):
                return signalwire_error(422, "E911 provisioning is in progress for this "
                                             "number")
            row.update(e911_address_id=wanted, e911_status="pending", updated_at=_stamp())
            answer = dict(row)
            self._e911_order(row, "assign")
        return JSONResponse(answer)

    def _unassign(self, number_id: str) -> Response:
        with self.lock:
            row = self._by_id(number_id)
            if row is None:
                return signalwire_error(404)
            if row.get("e911_status") != "active":
                return signalwire_error(422, "E911 address can only be removed while the "
                                             "number's E911 is active")
            row.update(e911_status="pending_removal", updated_at=_stamp())
            answer = dict(row)
            self._e911_order(row, "remove")
        return JSONResponse(answer)

    def _e911_order(self, row: dict[str, Any], action: str) -> None:
        order = self.place_feature("e911", row["number"], action=action,
                                   address_id=row["e911_address_id"])
        if order["state"] == "pending":
            self.e911_orders[row["number"]] = order["id"]

    def feature_done(self, order: dict[str, Any]) -> None:
        row = self.owned.get(order["number"])
        if self.e911_orders.get(order["number"]) == order["id"]:
            self.e911_orders.pop(order["number"])
        if row is None or row.get("e911_address_id") != order.get("address_id"):
            return
        ok = order["state"] == "complete"
        if order["action"] == "remove":
            row.update(e911_status="unregistered" if ok else "active",
                       e911_address_id=None if ok else row["e911_address_id"])
        else:
            row["e911_status"] = "active" if ok else "failed"

    def _new_row(self, number: str) -> dict[str, Any]:
        stamp = _stamp()
        tollfree = number[2:5] in TOLLFREE_NPAS
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "number": number, "name": None,
            "capabilities": ["voice", "sms", "fax"] + ([] if tollfree else ["mms"]),
            "number_type": "toll-free" if tollfree else "longcode",
            "e911_address_id": None, "e911_status": None, "created_at": stamp,
            "updated_at": stamp,
            "next_billed_at": stamp, "call_handler": None,
            "calling_handler_resource_id": None, "call_receive_mode": "voice",
            "messaging_handler_resource_id": None, "country_code": "US",
        }
        for key in sorted(UPDATABLE - row.keys()):
            row[key] = None
        return row


def _search_problem(area: str, digits: dict[str, str], region: str, city: str) -> str:
    if len(digits) > 1:
        return "Only one of starts_with, contains or ends_with can be used"
    for key, value in digits.items():
        if not re.fullmatch(r"\d{3,7}", value):
            return f"{key.capitalize().replace('_', ' ')} must be 3 to 7 digits"
    if region and area:
        return "Region cannot be used together with areacode"
    if city and (not region or area or digits):
        return "City must be used with region and without areacode or digit patterns"
    return ""


def _digits_match(n: str, digits: dict[str, str]) -> bool:
    if "starts_with" in digits:
        return n.startswith(digits["starts_with"])
    if "contains" in digits:
        return digits["contains"] in n
    if "ends_with" in digits:
        return n.endswith(digits["ends_with"])
    return True


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None
