"""Flowroute Numbers v2 simulator: available numbers, purchase, routes, release (JSON:API-like).

Paths are the real host's (`https://api.flowroute.com/v2/…`). There is no Flowroute numbers
SDK on PyPI (`flowroute` there is an unrelated project; `flowroute-messaging-fossum` covers
messaging only), so tests drive this simulator with httpx against the shapes of
current-apis.md §6.

Wire facts verified against flowroute/flowroute-sdk-v3-python@08224869 (GitHub only:
`controllers/numbers_controller.py`, `controllers/routes_controller.py`, README examples) and
Flowroute's docs pages (v2.0 purchase, errors, v2.1 purchase example):
- `GET /v2/numbers/available?starts_with=&contains=&ends_with=&limit=&offset=&rate_center=
  &state=&number_type=` — `starts_with` counts the country code (`1646…`; a bare area code is
  taken as `1` + it), `limit` ≤ 200 (default 10), `number_type` `longcode` | `toll-free`.
  Answer `{"data": [{"type": "number", "id": "1…", "attributes": {"value", "rate_center",
  "state", "number_type", "monthly_cost", "setup_cost"}, "links": {"related"}}],
  "links": {"self", "next"}}`.
- `POST /v2/numbers/{11 digits}` buys → **201** `{"data": {number}, "included": [route 0],
  "links"}`; the number's `relationships.primary_route` is route `"0"` (`sip-reg`).
  With `messaging_enabled` true and messaging provisioning down the answer is **207**: the
  number is bought but messaging is not enabled. Here that happens when
  `sim.messaging_provisioning_up` is False, or for any number ending in `207`.
- `GET /v2/numbers?starts_with=&ends_with=&contains=&limit=&offset=` lists owned numbers;
  `GET /v2/numbers/{id}` shows one with `relationships` and the routes `included`.
- `POST /v2/routes {"data": {"type": "route", "attributes": {"route_type": "host", "value",
  "alias"}}}` → 201 and the route; `GET /v2/routes`; `PATCH
  /v2/numbers/{id}/relationships/{primary_route|failover_route} {"data": {"type": "route",
  "id"}}` → **204**; `DELETE` of the same relationship → 204.
- `DELETE /v2/numbers/{id}` → **204**; an unknown number is 404
  `{"errors": [{"detail": "Could not find that resource on your account.", "id", "status":
  404}]}`.
- HTTP Basic `access_key:secret_key`; a wrong pair is 401 `{"errors": [{"detail":
  "Authentication failed.", "id", "status": 401, "title": "Unauthorized"}]}`. Errors carry an
  integer `status` equal to the HTTP status.

Number features (SPEC §13; the SDK's `controllers/e911s_controller.py`,
`controllers/cnams_controller.py` and README examples):
- `POST /v2/e911s/validate {"data": {"type": "e911", "attributes": {label, first_name,
  last_name, street_name, street_number, city, state, country, zip, address_type?,
  address_type_number?}}}` → **204** valid, or **404** `{"errors": [{"detail", "id",
  "status"}]}`. Fates by the simulators' one rule (`knm.simulators.addresses`, the street
  being `street_number street_name`): postal code 00000 rejected, an address outside the US
  and Canada rejected; a street with CORRECTME is rejected too ("Could not geocode…"):
  Flowroute suggests no correction, so what another carrier would correct it refuses.
- `POST /v2/e911s` (the same body, validated the same way: 400 otherwise) → **201** the
  record, upper-cased as a geocoder spells it; `GET /v2/e911s`, `GET`/`PATCH`/`DELETE
  /v2/e911s/{id}` (a record a number uses cannot be deleted: 400, as the README says),
  `GET /v2/e911s/{id}/relationships/numbers`.
- `PATCH /v2/numbers/{id}/relationships/e911s/{e911_id}` → **204** (again: 204, no error);
  `DELETE /v2/numbers/{id}/relationships/e911s` → **204**. The number's
  `relationships.e911_address.data` is `{"type": "e911", "id"}` or null.
- `POST /v2/cnams {"value"}` (JSON, or form as the SDK posts it; at most 15 characters, one
  a letter: 400 otherwise) → **201** the record with `is_approved` false; it is approved (or,
  `feature_result` `failed`, rejected with a `rejection_reason`) after
  `feature_complete_ms` — or at once by `POST /_sim/cnams/{id}/approve` or `…/reject`
  (`{"reason"}`); `GET /v2/cnams?limit&offset&is_approved`, `GET`/`DELETE /v2/cnams/{id}`
  (deleting disassociates every number using it).
- `PATCH /v2/numbers/{id}/relationships/cnam/{cnam_id}` → **202** `{"data": {"attributes":
  {"date_created"}, "id", "type": "cnam"}}`; refused (400) while the record awaits approval
  and on toll-free numbers; `DELETE /v2/numbers/{id}/relationships/cnam` → **202**. The
  number's `relationships.cnam_preset.data` is `{"type": "cnam", "id"}` or null.
- `sim.e911s[id]` / `sim.cnams[id]` hold the records; an owned row's `e911_id` / `cnam_id`
  its associations.

Unverified (chosen): the exact statuses of refused associations and deletions (400 here),
the relationship objects' `type` words, whether `POST /v2/cnams` wants JSON or a form (both
taken), and that association is immediate once approved (Flowroute says it "takes 5-7
business days" to show in the CNAM databases).

Unverified (chosen): purchase answers 201 (the v2.x docs; the SDK README says 200); where
`messaging_enabled` / `cnam_lookups_enabled` travel (accepted as query parameters, top-level
JSON or `data.attributes`); the 207 body (the number document plus an `included`
`message_provisioning_status` error entry); buying a number not in stock answers 404 with
detail "Number is not available for purchase."; `number_type` values in answers (`longcode`,
`toll-free`; the 2018 README shows `standard`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators import addresses, numbering
from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator

HOST = "https://api.flowroute.com"
MEDIA = "application/vnd.api+json"
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 415: "Unsupported Media Type",
          422: "Unprocessable Entity", 429: "Too Many Requests",
          500: "Internal Server Error", 503: "Service Unavailable"}
DEFAULT_ROUTE = {"id": "0", "route_type": "sip-reg", "value": None, "alias": "sip-reg"}
DEFAULT_NPAS = {"longcode": ["206", "646", "201"], "toll-free": ["888", "877"]}


def flowroute_error(status: int, detail: str, *, title: bool = True) -> JSONResponse:
    error: dict[str, Any] = {"detail": detail, "id": str(uuid.uuid4()), "status": status}
    if title:
        error["title"] = TITLES.get(status, "Error")
    return JSONResponse({"errors": [error]}, status_code=status, media_type=MEDIA)


def _doc(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA)


class FlowrouteSimulator(Simulator):
    """`FlowrouteSimulator(access_key="12345678", secret_key="flowroute-simulated-secret")`:
    the HTTP Basic pair it accepts.

    Stock: NANP long codes for any area code (ids `1NPANXXXXXX`) and toll-free numbers in
    800/833/844/855/866/877/888. Owned numbers: `sim.owned["+1…"]` holds `id` (11 digits),
    `primary_route` and `failover_route` (route ids), `alias`, `messaging_enabled`,
    `cnam_lookups_enabled`. Routes: `sim.routes_book[id]` (`"0"` is the account's sip-reg
    route); `sim.messaging_provisioning_up = False` makes purchases asking for messaging
    answer 207.
    """

    name = "knm_flowroute"
    content_type = MEDIA

    def __init__(self, *, access_key: str = "12345678",
                 secret_key: str = "flowroute-simulated-secret") -> None:
        self.routes_book: dict[str, dict[str, Any]] = {"0": dict(DEFAULT_ROUTE)}
        self.messaging_provisioning_up = True
        self._next_route = 98396
        #: the account's E911 records and CNAM records, by id
        self.e911s: dict[str, dict[str, Any]] = {}
        self.cnams: dict[str, dict[str, Any]] = {}
        self._next_e911 = 21301
        self._next_cnam = 23454
        super().__init__(access_key=access_key, secret_key=secret_key)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.routes_book = {"0": dict(DEFAULT_ROUTE)}
            self.messaging_provisioning_up = True
            self.e911s.clear()
            self.cnams.clear()

    def check_auth(self, request: RecordedRequest) -> Response | None:
        pair = numbering.basic_auth(request)
        if pair != (self.credentials["access_key"], self.credentials["secret_key"]):
            return flowroute_error(401, "Authentication failed.")
        return None

    def error_body(self, status: int, message: str) -> Response:
        return flowroute_error(status, message)

    # -- routes -------------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        sim = self
        self._feature_routes(app)  # first: their literal paths win over `{relation}`

        @app.get("/v2/numbers/available")
        def search(request: Request) -> Response:
            return sim._search(dict(request.query_params))

        @app.get("/v2/numbers")
        def list_owned(request: Request) -> Response:
            return sim._list(dict(request.query_params))

        @app.post("/v2/numbers/{number_id}")
        async def buy(number_id: str, request: Request) -> Response:
            options = {**dict(request.query_params), **_options(await request.body())}
            return sim._buy(number_id, options)

        @app.get("/v2/numbers/{number_id}")
        def details(number_id: str) -> Response:
            row = sim._owned_by_id(number_id)
            if row is None:
                return flowroute_error(404, "Could not find that resource on your account.",
                                       title=False)
            return _doc(sim._number_doc(row))

        @app.delete("/v2/numbers/{number_id}")
        def release(number_id: str) -> Response:
            with sim.lock:
                row = sim._owned_by_id(number_id)
                if row is not None:
                    sim.owned.pop(row["number"], None)
            if row is None:
                return flowroute_error(404, "Could not find that resource on your account.",
                                       title=False)
            return Response(status_code=204)

        @app.patch("/v2/numbers/{number_id}/relationships/{relation}")
        async def set_route(number_id: str, relation: str, request: Request) -> Response:
            return sim._set_route(number_id, relation, await request.body())

        @app.delete("/v2/numbers/{number_id}/relationships/{relation}")
        def clear_route(number_id: str, relation: str) -> Response:
            if relation not in ("primary_route", "failover_route"):
                return flowroute_error(404, "Could not find that resource.")
            with sim.lock:
                row = sim._owned_by_id(number_id)
                if row is not None:
                    row[relation] = "0" if relation == "primary_route" else None
            if row is None:
                return flowroute_error(404, "Could not find that resource on your account.")
            return Response(status_code=204)

        @app.post("/v2/routes")
        async def create_route(request: Request) -> Response:
            return sim._create_route(await request.body())

        @app.get("/v2/routes")
        def list_routes(request: Request) -> Response:
            with sim.lock:
                routes = [_route_json(r) for r in sim.routes_book.values()]
            return _doc({"data": routes, "links": {"self": f"{HOST}/v2/routes"}})

    # -- numbers ------------------------------------------------------------------------------

    def _search(self, params: dict[str, str]) -> Response:
        try:
            limit = int(params.get("limit") or 10)
            offset = max(0, int(params.get("offset") or 0))
        except ValueError:
            return flowroute_error(400, "limit and offset must be integers.")
        if not 1 <= limit <= 200:
            return flowroute_error(400, "limit must be between 1 and 200.")
        fields = {k: params.get(k, "") for k in ("starts_with", "contains", "ends_with")}
        if any(v and not v.lstrip("+").isdigit() for v in fields.values()):
            return flowroute_error(400, "starts_with, contains and ends_with must be integers.")
        if params.get("rate_center") and not params.get("state"):
            return flowroute_error(400, "state is required with rate_center.")
        kind = params.get("number_type") or ""
        if kind and kind not in DEFAULT_NPAS:
            return flowroute_error(400, "number_type must be longcode or toll-free.")
        starts = fields["starts_with"].lstrip("+")
        if starts and not starts.startswith("1"):
            starts = "1" + starts
        national_start = starts[1:]
        if national_start:
            pools = [national_start]
        elif params.get("state"):
            pools = numbering.npas_in(params["state"])
        else:
            pools = DEFAULT_NPAS[kind or "longcode"]
        rows = []
        for start in pools:
            for n in self.stock(start, self.stock_size):
                value = "1" + n
                tollfree = n[:3] in TOLLFREE_NPAS
                if kind and tollfree != (kind == "toll-free"):
                    continue
                if fields["contains"] and fields["contains"] not in value:
                    continue
                if fields["ends_with"] and not value.endswith(fields["ends_with"]):
                    continue
                where = numbering.place(n)
                if params.get("state") and where["region"].lower() != params["state"].lower():
                    continue
                if params.get("rate_center") and \
                        where["rate_center"].lower() != params["rate_center"].lower():
                    continue
                rows.append(self._available(value))
        page = rows[offset:offset + limit]
        query = {k: v for k, v in params.items() if k not in ("limit", "offset")}
        links = {"self": f"{HOST}/v2/numbers/available?"
                         f"{urlencode({**query, 'limit': limit, 'offset': offset})}"}
        if offset + limit < len(rows):
            links["next"] = (f"{HOST}/v2/numbers/available?"
                             f"{urlencode({**query, 'limit': limit, 'offset': offset + limit})}")
        return _doc({"data": page, "links": links})

    def _available(self, value: str) -> dict[str, Any]:
        where = numbering.place(value[1:])
        tollfree = value[1:4] in TOLLFREE_NPAS
        return {"type": "number", "id": value,
                "attributes": {"value": value,
                               "rate_center": where["rate_center"].lower() or None,
                               "state": where["region"].lower() or None,
                               "number_type": "toll-free" if tollfree else "longcode",
                               "monthly_cost": 1.25, "setup_cost": 1},
                "links": {"related": f"{HOST}/v2/numbers/{value}"}}

    def _buy(self, number_id: str, options: dict[str, Any]) -> Response:
        if not re.fullmatch(r"1[2-9]\d{2}[2-9]\d{6}", number_id):
            return flowroute_error(400, "The phone number must be 11 digits starting with 1.")
        number = "+" + number_id
        messaging = _truthy(options.get("messaging_enabled"))
        with self.lock:
            if number in self.owned or not self.stock(number_id[1:], 1):
                return flowroute_error(404, "Number is not available for purchase.")
            cnam = options.get("cnam_lookups_enabled")
            row = {"id": number_id, "number": number, "primary_route": "0",
                   "failover_route": None, "alias": None, "messaging_enabled": False,
                   "cnam_lookups_enabled": True if cnam is None else _truthy(cnam),
                   "e911_id": None, "cnam_id": None}
            self.owned[number] = row
            provisioning_down = not self.messaging_provisioning_up or number_id.endswith("207")
            doc = self._number_doc(row)
        if messaging and provisioning_down:
            doc["included"].append({
                "type": "message_provisioning_status", "id": str(uuid.uuid4()),
                "attributes": {"status": "error",
                               "detail": "Message Provision API is unavailable; the number "
                                         "was purchased without messaging."}})
            return _doc(doc, 207)
        if messaging:
            with self.lock:
                row["messaging_enabled"] = True
            doc["included"].append({"type": "message_provisioning_status",
                                    "id": str(uuid.uuid4()),
                                    "attributes": {"status": "pending"}})
        return _doc(doc, 201)

    def _list(self, params: dict[str, str]) -> Response:
        try:
            limit = max(1, min(200, int(params.get("limit") or 10)))
            offset = max(0, int(params.get("offset") or 0))
        except ValueError:
            return flowroute_error(400, "limit and offset must be integers.")
        starts, ends, contains = (params.get(k, "").lstrip("+") for k in
                                  ("starts_with", "ends_with", "contains"))
        if starts and not starts.startswith("1"):
            starts = "1" + starts
        with self.lock:
            rows = sorted((dict(r) for r in self.owned.values()), key=lambda r: r["id"])
        rows = [r for r in rows if r["id"].startswith(starts) and r["id"].endswith(ends)
                and contains in r["id"]]
        data = [self._number_resource(r) for r in rows[offset:offset + limit]]
        for item in data:
            item.pop("relationships")
        links = {"self": f"{HOST}/v2/numbers?{urlencode({**params, 'limit': limit})}"}
        if offset + limit < len(rows):
            links["next"] = (f"{HOST}/v2/numbers?"
                             f"{urlencode({**params, 'limit': limit, 'offset': offset + limit})}")
        return _doc({"data": data, "links": links})

    def _owned_by_id(self, number_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.owned.get("+" + number_id.lstrip("+"))

    def _number_resource(self, row: dict[str, Any]) -> dict[str, Any]:
        value = row["id"]
        where = numbering.place(value[1:])
        tollfree = value[1:4] in TOLLFREE_NPAS

        def rel(route_id: str | None) -> dict[str, Any]:
            return {"data": {"type": "route", "id": route_id} if route_id else None}

        return {
            "type": "number", "id": value,
            "attributes": {"value": value, "alias": row["alias"],
                           "rate_center": where["rate_center"].lower() or None,
                           "state": where["region"].lower() or None,
                           "number_type": "toll-free" if tollfree else "longcode",
                           "rate_type": "toll-free" if tollfree else "local",
                           "iso_country": "US", "status": "PURCHASED",
                           "monthly_cost": 1.25, "setup_cost": 1.0,
                           "messaging_enabled": row["messaging_enabled"],
                           "cnam_lookups_enabled": row["cnam_lookups_enabled"]},
            "relationships": {"cnam_preset": {"data": {"type": "cnam", "id": row["cnam_id"]}
                                              if row.get("cnam_id") else None},
                              "e911_address": {"data": {"type": "e911", "id": row["e911_id"]}
                                               if row.get("e911_id") else None},
                              "failover_route": rel(row["failover_route"]),
                              "primary_route": rel(row["primary_route"])},
            "links": {"self": f"{HOST}/v2/numbers/{value}"},
        }

    def _number_doc(self, row: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            included = [_route_json(self.routes_book[r])
                        for r in dict.fromkeys((row["primary_route"], row["failover_route"]))
                        if r is not None and r in self.routes_book]
        return {"data": self._number_resource(row), "included": included,
                "links": {"self": f"{HOST}/v2/numbers/{row['id']}"}}

    # -- number features: E911 records and CNAM records ------------------------------------

    def _feature_routes(self, app: FastAPI) -> None:
        sim = self

        @app.post("/v2/e911s/validate")
        async def validate(request: Request) -> Response:
            attrs = _e911_attributes(await request.body())
            if isinstance(attrs, Response):
                return attrs
            refusal = _address_refusal(attrs)
            if refusal:
                return flowroute_error(404, refusal, title=False)
            return Response(status_code=204)

        @app.get("/v2/e911s")
        def list_e911s(request: Request) -> Response:
            state = (request.query_params.get("state") or "").upper()
            with sim.lock:
                rows = [r for r in sim.e911s.values() if not state or r["state"] == state]
            return _doc(_paged(request, [_e911_json(r) for r in rows], "/v2/e911s"))

        @app.post("/v2/e911s")
        async def create_e911(request: Request) -> Response:
            attrs = _e911_attributes(await request.body())
            if isinstance(attrs, Response):
                return attrs
            refusal = _address_refusal(attrs)
            if refusal:
                return flowroute_error(400, refusal, title=False)
            with sim.lock:
                e911_id = str(sim._next_e911)
                sim._next_e911 += 1
                sim.e911s[e911_id] = {"id": e911_id, **_geocoded(attrs)}
                record = _e911_json(sim.e911s[e911_id])
            return _doc({"data": record}, 201)

        @app.get("/v2/e911s/{e911_id}")
        def get_e911(e911_id: str) -> Response:
            with sim.lock:
                found = sim.e911s.get(e911_id)
            if found is None:
                return flowroute_error(404, "Could not find that resource on your account.")
            return _doc({"data": _e911_json(found)})

        @app.patch("/v2/e911s/{e911_id}")
        async def update_e911(e911_id: str, request: Request) -> Response:
            attrs = _e911_attributes(await request.body(), partial=True)
            if isinstance(attrs, Response):
                return attrs
            with sim.lock:
                found = sim.e911s.get(e911_id)
                if found is None:
                    return flowroute_error(404, "Could not find that resource on your account.")
                merged = {**{k: v for k, v in found.items() if k != "id"}, **attrs}
                refusal = _address_refusal(merged)
                if refusal:
                    return flowroute_error(400, refusal, title=False)
                found.update(_geocoded(merged))
                return _doc({"data": _e911_json(found)})

        @app.delete("/v2/e911s/{e911_id}")
        def delete_e911(e911_id: str) -> Response:
            with sim.lock:
                if e911_id not in sim.e911s:
                    return flowroute_error(404, "Could not find that resource on your account.")
                if sim._users("e911_id", e911_id):
                    return flowroute_error(400, "This E911 record is associated with phone "
                                           "numbers; remove the associations first.")
                sim.e911s.pop(e911_id)
            return Response(status_code=204)

        @app.get("/v2/e911s/{e911_id}/relationships/numbers")
        def e911_numbers(e911_id: str, request: Request) -> Response:
            with sim.lock:
                if e911_id not in sim.e911s:
                    return flowroute_error(404, "Could not find that resource on your account.")
                rows = [{"type": "number", "id": r["id"],
                         "attributes": {"alias": r["alias"], "value": r["id"]},
                         "links": {"self": f"{HOST}/v2/numbers/{r['id']}"}}
                        for r in sim._users("e911_id", e911_id)]
            return _doc(_paged(request, rows, f"/v2/e911s/{e911_id}/relationships/numbers"))

        @app.patch("/v2/numbers/{number_id}/relationships/e911s/{e911_id}")
        def associate_e911(number_id: str, e911_id: str) -> Response:
            with sim.lock:
                row = sim._owned_by_id(number_id)
                if row is None:
                    return flowroute_error(404, "Could not find that resource on your account.")
                if e911_id not in sim.e911s:
                    return flowroute_error(404, f"E911 record {e911_id} does not exist.")
                row["e911_id"] = e911_id
            return Response(status_code=204)

        @app.delete("/v2/numbers/{number_id}/relationships/e911s")
        def dissociate_e911(number_id: str) -> Response:
            with sim.lock:
                row = sim._owned_by_id(number_id)
                if row is None:
                    return flowroute_error(404, "Could not find that resource on your account.")
                row["e911_id"] = None
            return Response(status_code=204)

        @app.get("/v2/cnams")
        def list_cnams(request: Request) -> Response:
            wanted = request.query_params.get("is_approved")
            with sim.lock:
                rows = [sim._cnam(c) for c in list(sim.cnams)]
            if wanted is not None:
                rows = [r for r in rows if r["is_approved"] == _truthy(wanted)]
            return _doc(_paged(request, [_cnam_json(r) for r in rows], "/v2/cnams"))

        @app.post("/v2/cnams")
        async def create_cnam(request: Request) -> Response:
            body = await request.body()
            doc = _json(body)
            if not isinstance(doc, dict):
                doc = dict(parse_qsl(body.decode("utf-8", "replace")))
            value = doc.get("value")
            if not isinstance(value, str) or not value.strip():
                return flowroute_error(400, "value is required.")
            value = " ".join(value.split()).upper()
            if len(value) > 15 or not any(ch.isalpha() for ch in value):
                return flowroute_error(400, "A CNAM value is up to 15 characters, at least one "
                                       "of which is a letter.")
            with sim.lock:
                cnam_id = str(sim._next_cnam)
                sim._next_cnam += 1
                record = {"id": cnam_id, "value": value, "is_approved": False,
                          "rejection_reason": None, "creation_datetime": _stamp(),
                          "approval_datetime": None, "order": None}
                sim.cnams[cnam_id] = record
                answer = _cnam_json(record)  # as created: approval comes later
                record["order"] = sim.place_feature("cnam", "", cnam_id=cnam_id)["id"]
            return _doc({"data": answer}, 201)

        @app.get("/v2/cnams/{cnam_id}")
        def get_cnam(cnam_id: str) -> Response:
            with sim.lock:
                if cnam_id not in sim.cnams:
                    return flowroute_error(404, "Could not find that resource on your account.")
                return _doc({"data": _cnam_json(sim._cnam(cnam_id))})

        @app.delete("/v2/cnams/{cnam_id}")
        def delete_cnam(cnam_id: str) -> Response:
            with sim.lock:
                if sim.cnams.pop(cnam_id, None) is None:
                    return flowroute_error(404, "Could not find that resource on your account.")
                for row in sim._users("cnam_id", cnam_id):
                    row["cnam_id"] = None
            return Response(status_code=204)

        @app.patch("/v2/numbers/{number_id}/relationships/cnam/{cnam_id}")
        def associate_cnam(number_id: str, cnam_id: str) -> Response:
            with sim.lock:
                row = sim._owned_by_id(number_id)
                if row is None:
                    return flowroute_error(404, "Could not find that resource on your account.")
                if cnam_id not in sim.cnams:
                    return flowroute_error(404, f"CNAM record {cnam_id} does not exist.")
                if not sim._cnam(cnam_id)["is_approved"]:
                    return flowroute_error(400, "This CNAM record has not been approved yet.")
                if row["id"][1:4] in TOLLFREE_NPAS:
                    return flowroute_error(400, "CNAM records can be assigned to long code "
                                           "numbers only.")
                row["cnam_id"] = cnam_id
            return _doc({"data": {"attributes": {"date_created": _stamp()},
                                  "id": int(cnam_id), "type": "cnam"}}, 202)

        @app.delete("/v2/numbers/{number_id}/relationships/cnam")
        def dissociate_cnam(number_id: str) -> Response:
            with sim.lock:
                row = sim._owned_by_id(number_id)
                if row is None:
                    return flowroute_error(404, "Could not find that resource on your account.")
                row["cnam_id"] = None
            return _doc({"data": {"attributes": {"date_created": _stamp()}, "id": None,
                                  "type": "cnam"}}, 202)

        @app.post("/_sim/cnams/{cnam_id}/{verdict}")
        async def decide_cnam(cnam_id: str, verdict: str, request: Request) -> Response:
            doc = _json(await request.body())
            reason = doc.get("reason") if isinstance(doc, dict) else None
            if verdict not in ("approve", "reject"):
                return JSONResponse({"error": "approve or reject"}, status_code=404)
            if not sim.decide_cnam(cnam_id, verdict == "approve", reason):
                return JSONResponse({"error": f"no CNAM record {cnam_id}"}, status_code=404)
            with sim.lock:
                return JSONResponse(_cnam_json(sim.cnams[cnam_id]))

    def decide_cnam(self, cnam_id: str, approve: bool, reason: str | None = None) -> bool:
        """Approve or reject a CNAM record now, as Flowroute's staff would; False if unknown."""
        with self.lock:
            record = self.cnams.get(cnam_id)
            if record is None:
                return False
            order = self.feature_orders.get(record.get("order") or "")
            if order is not None and order["state"] == "pending":
                order["state"] = "complete" if approve else "failed"
            self._decided(record, approve, reason)
            return True

    def feature_done(self, order: dict[str, Any]) -> None:
        record = self.cnams.get(order.get("cnam_id") or "")
        if order["kind"] == "cnam" and record is not None and not record["is_approved"] \
                and not record["rejection_reason"]:
            self._decided(record, order["state"] == "complete", None)

    def _decided(self, record: dict[str, Any], approve: bool, reason: str | None) -> None:
        record["is_approved"] = approve
        record["rejection_reason"] = None if approve else (
            reason or "The CNAM preset appears to be misleading.")
        record["approval_datetime"] = _stamp() if approve else None

    def _cnam(self, cnam_id: str) -> dict[str, Any]:
        """A CNAM record with its approval advanced per the switches."""
        with self.lock:
            record = self.cnams[cnam_id]
            if record.get("order"):
                self.feature_progress(record["order"])
            return record

    def _users(self, key: str, record_id: str) -> list[dict[str, Any]]:
        """The owned numbers whose `key` association is `record_id`."""
        with self.lock:
            return [r for r in self.owned.values() if r.get(key) == record_id]

    # -- routes -------------------------------------------------------------------------------

    def _create_route(self, body: bytes) -> Response:
        doc = _json(body)
        data = doc.get("data") if isinstance(doc, dict) else None
        attrs = data.get("attributes") if isinstance(data, dict) else None
        if not isinstance(attrs, dict) or data.get("type") != "route":
            return flowroute_error(400, "The request body must be a route object.")
        kind, value = attrs.get("route_type"), attrs.get("value")
        if kind not in ("host", "number", "uri", "sip-reg") or not value:
            return flowroute_error(422, "route_type must be host, number or uri, with a value.")
        with self.lock:
            route_id = str(self._next_route)
            self._next_route += 1
            route = {"id": route_id, "route_type": kind, "value": value,
                     "alias": attrs.get("alias"), "edge_strategy_id": attrs.get(
                         "edge_strategy_id")}
            self.routes_book[route_id] = route
        return _doc({"data": _route_json(route),
                     "links": {"self": f"{HOST}/routes/{route_id}"}}, 201)

    def _set_route(self, number_id: str, relation: str, body: bytes) -> Response:
        if relation not in ("primary_route", "failover_route"):
            return flowroute_error(404, "Could not find that resource.")
        doc = _json(body)
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict) or data.get("type") != "route" or "id" not in data:
            return flowroute_error(400, "The request body must be a route relationship.")
        route_id = str(data["id"])
        with self.lock:
            row = self._owned_by_id(number_id)
            if row is None:
                return flowroute_error(404, "Could not find that resource on your account.")
            if route_id not in self.routes_book:
                return flowroute_error(422, f"Route {route_id} does not exist.")
            row[relation] = route_id
        return Response(status_code=204)


E911_FIELDS = ("label", "first_name", "last_name", "street_name", "street_number", "city",
               "state", "country", "zip")
E911_OPTIONAL = ("address_type", "address_type_number")
#: Flowroute's country words (and ISO codes, which its own examples use) → ISO
COUNTRY_ISO = {"USA": "US", "US": "US", "CANADA": "CA", "CA": "CA"}


def _e911_attributes(body: bytes, *, partial: bool = False) -> dict[str, Any] | Response:
    """An E911 record's attributes from a request body; Flowroute's 400 when malformed."""
    doc = _json(body)
    data = doc.get("data") if isinstance(doc, dict) else None
    attrs = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(attrs, dict) or data.get("type") != "e911":
        return flowroute_error(400, "The request body must be an e911 object.")
    if not partial:
        missing = [k for k in E911_FIELDS if not str(attrs.get(k) or "").strip()]
        if missing:
            return flowroute_error(400, f"Missing required attributes: {', '.join(missing)}.")
    if bool(attrs.get("address_type")) != bool(attrs.get("address_type_number")):
        return flowroute_error(400, "address_type_number is required with address_type.")
    return {k: str(attrs[k]) for k in E911_FIELDS + E911_OPTIONAL if attrs.get(k) is not None}


def _address_refusal(attrs: dict[str, Any]) -> str | None:
    """Why Flowroute's geocoder refuses these attributes (None: it takes them)."""
    street = f"{attrs.get('street_number', '')} {attrs.get('street_name', '')}"
    country = COUNTRY_ISO.get(str(attrs.get("country") or "").strip().upper(), "")
    verdict = addresses.fate(street, attrs.get("zip"), country)
    if verdict == addresses.VALID:
        return None
    return "Could not geocode this address. Please check the validity of your address."


def _geocoded(attrs: dict[str, Any]) -> dict[str, Any]:
    """The attributes as Flowroute's geocoder spells them (names kept as given)."""
    return {k: (v if k in ("label", "first_name", "last_name") else addresses.normalised(v))
            for k, v in attrs.items()}


def _e911_json(record: dict[str, Any]) -> dict[str, Any]:
    return {"type": "e911", "id": record["id"],
            "attributes": {k: v for k, v in record.items() if k != "id"},
            "links": {"self": f"{HOST}/v2/e911s/{record['id']}"}}


def _cnam_json(record: dict[str, Any]) -> dict[str, Any]:
    return {"type": "cnam", "id": record["id"],
            "attributes": {k: record[k] for k in ("value", "is_approved", "rejection_reason",
                                                  "creation_datetime", "approval_datetime")},
            "links": {"self": f"{HOST}/v2/cnams/{record['id']}"}}


def _paged(request: Request, rows: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """One `limit`/`offset` page of `rows` with Flowroute's `links` (default 10, ≤ 200)."""
    try:
        limit = max(1, min(200, int(request.query_params.get("limit") or 10)))
        offset = max(0, int(request.query_params.get("offset") or 0))
    except ValueError:
        limit, offset = 10, 0
    links = {"self": f"{HOST}{path}?limit={limit}&offset={offset}"}
    if offset + limit < len(rows):
        links["next"] = f"{HOST}{path}?limit={limit}&offset={offset + limit}"
    return {"data": rows[offset:offset + limit], "links": links}


def _stamp() -> str:
    """A timestamp as Flowroute's CNAM records show them (`2018-06-01 00:09:52.513092+00:00`)."""
    return time.strftime("%Y-%m-%d %H:%M:%S.000000+00:00", time.gmtime())


def _route_json(route: dict[str, Any]) -> dict[str, Any]:
    return {"type": "route", "id": route["id"],
            "attributes": {"route_type": route["route_type"], "value": route["value"],
                           "alias": route["alias"],
                           "edge_strategy_id": route.get("edge_strategy_id")},
            "links": {"self": f"{HOST}/v2/routes/{route['id']}"}}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _options(body: bytes) -> dict[str, Any]:
    """Purchase options from a JSON body, top level or under `data.attributes`."""
    doc = _json(body)
    if not isinstance(doc, dict):
        return {}
    attrs = (doc.get("data") or {}).get("attributes") if isinstance(doc.get("data"), dict) \
        else None
    return {**{k: v for k, v in doc.items() if k != "data"}, **(attrs or {})}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")
