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

Unverified (chosen): buying a number that is not available answers 422 with detail
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

from knm.simulators import numbering
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


def signalwire_error(status: int, message: str | None = None) -> JSONResponse:
    """422 in the validation shape, every other status as `{"error": …}`."""
    if status == 422:
        return JSONResponse({"errors": [{"detail": message or "Invalid", "status": "422",
                                         "title": "Invalid Attribute", "code": "422"}]},
                            status_code=422)
    return JSONResponse({"error": message or ERROR_WORDS.get(status, "Error")},
                        status_code=status)


class SignalWireSimulator(Simulator):
    """`SignalWireSimulator(project_id="8a5f1c2e-5e1d-4f0b-9d2c-signalwire01", api_token=
    "PTsignalwire-simulated-token", space="example")`: the HTTP Basic pair it accepts; `space`
    only names the host in `links`.

    Stock: NANP local numbers for any area code and toll-free numbers in 800/833/844/855/866/
    877/888 (SignalWire sells US/CA numbers only here). Owned numbers:
    `sim.owned["+1…"]` is the PhoneNumber record (`id` its uuid, `call_handler`,
    `call_sip_endpoint_id`, `call_request_url`, … as last set).
    """

    name = "knm_signalwire"
    content_type = "application/json"

    def __init__(self, *, project_id: str = "8a5f1c2e-5e1d-4f0b-9d2c-signalwire01",
                 api_token: str = "PTsignalwire-simulated-token",
                 space: str = "example") -> None:
        super().__init__(project_id=project_id, api_token=api_token, space=space)

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
                    sim.owned.pop(row["number"], None)
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
        with self.lock:
            return next((r for r in self.owned.values() if r["id"] == number_id), None)

    def _new_row(self, number: str) -> dict[str, Any]:
        stamp = _stamp()
        tollfree = number[2:5] in TOLLFREE_NPAS
        row: dict[str, Any] = {
            "id": str(uuid.uuid4()), "number": number, "name": None,
            "capabilities": ["voice", "sms", "fax"] + ([] if tollfree else ["mms"]),
            "number_type": "toll-free" if tollfree else "longcode",
            "e911_address_id": None, "created_at": stamp, "updated_at": stamp,
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
