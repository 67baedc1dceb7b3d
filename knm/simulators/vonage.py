"""Vonage (Nexmo) Numbers API simulator: `rest.nexmo.com` search, buy, update, cancel, list.

Paths are the real host's (`https://rest.nexmo.com`). The `vonage` SDK (`vonage-numbers`)
always builds `https://{rest_host}{path}`, so tests run this simulator over TLS and point the
SDK's documented `HttpClientOptions(rest_host="127.0.0.1:<port>")` at it
(tests/simulators/test_sdk_vonage.py).

Wire facts verified against `vonage-numbers` 1.0 (`number_management.py`, `requests.py`,
`responses.py`), `vonage-http-client` 1.5 (`http_client.py`, `errors.py`), the SDK's test
fixtures (`number_management/tests/data/*.json`) and Nexmo/api-specification
`definitions/numbers.yml` (1.0.17):
- `GET /number/search?country=GB&type=&pattern=&search_pattern=&features=&size=&index=`:
  `search_pattern` 0 = starts with (the pattern includes the country code), 1 = contains,
  2 = ends with; `type` `landline` | `mobile-lvn` | `landline-toll-free`; `features` `SMS`,
  `VOICE`, `MMS` or comma-joined; `size` ≤ 100 (default 10), `index` from 1. Answer
  `{"count": <all matches>, "numbers": [{"country", "msisdn", "cost", "type", "features"}]}`;
  with no match only `{"count": 0}` (the SDK reads a missing `numbers` as empty).
- `POST /number/buy`, `/number/cancel` (form `country`, `msisdn` digits without `+`,
  `target_api_key`) and `/number/update` (`app_id`, `moHttpUrl`, `voiceCallbackType`
  `sip`|`tel`, `voiceCallbackValue`, `voiceStatusCallback`) answer
  `{"error-code": "200", "error-code-label": "success"}`. **A failure is HTTP 200 too, with
  `error-code` "420" and label "method failed"** (the SDK fixture `no_number.json`, served
  with status 200); the SDK raises `NumbersError` whenever `error-code` is not "200".
- `GET /account/numbers?country=&pattern=&search_pattern=&size=&index=&application_id=
  &has_application=` → `{"count", "numbers": [{country, msisdn, type, features, moHttpUrl,
  voiceCallbackType, voiceCallbackValue, app_id, …}]}`.
- Auth: HTTP Basic `api_key:api_secret` (what the SDK sends); the older `api_key` /
  `api_secret` query or form parameters (spec 1.0.17) are accepted too. A wrong pair is HTTP
  401 `{"error-code": "401", "error-code-label": "authentication failed"}`, which the SDK
  raises as `vonage_http_client.errors.AuthenticationError`.

Emergency calling (SPEC §13; Vonage/vonage-dotnet-sdk@8cad0859 `Vonage/Voice/Emergency`,
its E2E tests, developer.vonage.com/en/api/emergency and /api/addresses), JSON on the paths of
`https://api.nexmo.com`, the same Basic auth:
- `POST /v1/addresses {address_name (2-32), address_line1, address_line2, city, region,
  postal_code, country (2 letters), type: "emergency", address_location_type
  (business|residential)}` → **201** the address with its `id` (a UUID), as the geocoder
  spelt it (upper case, single spaces); `GET /v1/addresses?page&page_size` →
  `{page, page_size, total_pages, total_items, _embedded: {addresses: […]}}`; `GET`,
  `DELETE /v1/addresses/{id}` (→ 204).
- `GET /v1/emergency/numbers/{msisdn}` → `{number, contact_name, address: {…}}`;
  `PATCH` there `{"address": {"id"}, "contact_name"}` assigns the address, answered **200**
  the same document (synchronous: no feature orders).
- `sim.addresses[id]` holds the account's addresses, `sim.emergency[+E164]` a number's
  assignment (`address_id`, `contact_name`); cancelling a number drops its assignment.

Unverified (chosen), emergency calling: an address's fate follows `knm.simulators.addresses`
at creation — rejected with **422** and an RFC 7807 problem (`type`, `title`, `detail`,
`instance`, `invalid_parameters`), a `CORRECTME` street stored corrected (Vonage suggests
nothing: it keeps what it would register), US and Canada only; 201 rather than 200 to a
creation; a number without an address is `GET` 200 `{"number"}`, one the account does not hold
404; removal is `DELETE /v1/emergency/numbers/{msisdn}` (204; 404 when nothing is assigned);
an address a number uses cannot be deleted (409); `fail_with` bodies keep the Numbers API's
`error-code` shape (give `"body"` for a problem document).

Unverified (chosen): whether the real API sends the 420 with HTTP 200 or HTTP 420 — set
`sim.method_failed_status = 420` to answer the other way (the SDK then raises
`HttpRequestError`); labels other than "success", "method failed" and "authentication failed";
`cost` figures; US numbers being `mobile-lvn` (Vonage lists US long codes so).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators import addresses, numbering
from knm.simulators.base import RecordedRequest, Simulator, e164, national

DIAL_CODES = {"US": "1", "CA": "1", "GB": "44"}
#: (country, type) → national prefixes offered when a search narrows nothing
DEFAULT_PREFIXES = {("US", "mobile-lvn"): ["201", "415"],
                    ("US", "landline-toll-free"): ["800", "888"],
                    ("CA", "mobile-lvn"): ["416"], ("CA", "landline-toll-free"): ["877"],
                    ("GB", "landline"): ["20", "161"], ("GB", "mobile-lvn"): ["7700"],
                    ("GB", "landline-toll-free"): ["800"]}
VOICE_FIELDS = {"app_id": "app_id", "moHttpUrl": "moHttpUrl",
                "voiceCallbackType": "voiceCallbackType",
                "voiceCallbackValue": "voiceCallbackValue",
                "voiceStatusCallback": "voiceStatusCallback", "moSmppSysType": "moSmppSysType",
                "messagesCallbackType": "messagesCallbackType",
                "messagesCallbackValue": "messagesCallbackValue"}


#: the countries whose emergency addresses the simulator registers
E911_COUNTRIES = ("US", "CA")
LOCATION_TYPES = ("business", "residential")
ADDRESS_FIELDS = ("address_name", "address_line1", "address_line2", "city", "region",
                  "postal_code", "country", "type", "address_location_type")


def vonage_status(code: str, label: str, http_status: int = 200) -> JSONResponse:
    return JSONResponse({"error-code": code, "error-code-label": label},
                        status_code=http_status)


def problem(status: int, title: str, detail: str,
            invalid: list[tuple[str, str]] | None = None) -> JSONResponse:
    """An RFC 7807 problem, the error shape of Vonage's newer APIs."""
    body: dict[str, Any] = {"type": f"https://developer.vonage.com/api-errors#{status}",
                            "title": title, "detail": detail, "instance": str(uuid.uuid4())}
    if invalid:
        body["invalid_parameters"] = [{"name": n, "reason": r} for n, r in invalid]
    return JSONResponse(body, status_code=status)


class VonageSimulator(Simulator):
    """`VonageSimulator(api_key="a1b2c3d4", api_secret="vonage-simulated-secret")`: the
    pair it accepts as HTTP Basic (or as `api_key`/`api_secret` parameters).

    Stock: GB landline (`4420…`, `44161…`, any `441`/`442`/`443`), GB mobile (`447…`,
    default `447700`), GB toll-free (`44800…`), US/CA long codes (`mobile-lvn`, any area
    code) and US/CA toll-free (`landline-toll-free`). Owned numbers: `sim.owned["+44…"]` holds
    `country`, `msisdn`, `type`, `features` and the routing last set (`app_id`,
    `voiceCallbackType`, `voiceCallbackValue`, `moHttpUrl`).
    """

    name = "knm_vonage"
    content_type = "application/json"

    def __init__(self, *, api_key: str = "a1b2c3d4",
                 api_secret: str = "vonage-simulated-secret") -> None:
        #: HTTP status sent with `error-code` 420 (see the module docstring); reset: 200
        self.method_failed_status = 200
        #: the account's addresses by id; each number's emergency assignment
        self.addresses: dict[str, dict[str, Any]] = {}
        self.emergency: dict[str, dict[str, Any]] = {}
        super().__init__(api_key=api_key, api_secret=api_secret)

    def reset(self) -> None:
        super().reset()
        self.method_failed_status = 200
        with self.lock:
            self.addresses.clear()
            self.emergency.clear()

    def check_auth(self, request: RecordedRequest) -> Response | None:
        wanted = (self.credentials["api_key"], self.credentials["api_secret"])
        if numbering.basic_auth(request) == wanted:
            return None
        given = {**request.params, **dict(parse_qsl(request.text))}
        if (given.get("api_key"), given.get("api_secret")) == wanted:
            return None
        return vonage_status("401", "authentication failed", 401)

    def error_body(self, status: int, message: str) -> Response:
        return vonage_status(str(status), message, status)

    # -- routes -------------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        sim = self

        @app.get("/number/search")
        def search(request: Request) -> Response:
            return sim._search(dict(request.query_params))

        @app.get("/account/numbers")
        def owned(request: Request) -> Response:
            return sim._owned(dict(request.query_params))

        @app.post("/number/buy")
        async def buy(request: Request) -> Response:
            return sim._buy(await _form(request))

        @app.post("/number/cancel")
        async def cancel(request: Request) -> Response:
            return sim._cancel(await _form(request))

        @app.post("/number/update")
        async def update(request: Request) -> Response:
            return sim._update(await _form(request))

        self._emergency_routes(app)

    def _emergency_routes(self, app: FastAPI) -> None:
        sim = self

        @app.post("/v1/addresses")
        async def create_address(request: Request) -> Response:
            return sim._create_address(_json(await request.body()))

        @app.get("/v1/addresses")
        def list_addresses(request: Request) -> Response:
            return sim._list_addresses(dict(request.query_params))

        @app.get("/v1/addresses/{address_id}")
        def get_address(address_id: str) -> Response:
            with sim.lock:
                row = sim.addresses.get(address_id)
            return JSONResponse(row) if row else problem(404, "Not found",
                                                         f"No address {address_id}")

        @app.delete("/v1/addresses/{address_id}")
        def delete_address(address_id: str) -> Response:
            return sim._delete_address(address_id)

        @app.get("/v1/emergency/numbers/{msisdn}")
        def get_emergency(msisdn: str) -> Response:
            return sim._get_emergency(msisdn)

        @app.patch("/v1/emergency/numbers/{msisdn}")
        async def assign(msisdn: str, request: Request) -> Response:
            return sim._assign(msisdn, _json(await request.body()))

        @app.delete("/v1/emergency/numbers/{msisdn}")
        def unassign(msisdn: str) -> Response:
            return sim._unassign(msisdn)

    # -- behaviour ----------------------------------------------------------------------------

    def _failed(self) -> Response:
        return vonage_status("420", "method failed", self.method_failed_status)

    def _search(self, params: dict[str, str]) -> Response:
        country = params.get("country", "").upper()
        if len(country) != 2:
            return vonage_status("400", "missing parameter country", 400)
        kinds = [params["type"]] if params.get("type") else \
            [t for c, t in DEFAULT_PREFIXES if c == country]
        pattern, how = params.get("pattern", ""), params.get("search_pattern", "0")
        features = {f for f in params.get("features", "").upper().split(",") if f}
        size, index = _page(params, 10)
        rows = []
        for kind in kinds:
            for msisdn in self._candidates(country, kind, pattern, how):
                row = self._available(country, msisdn)
                if row["type"] == kind and features <= set(row["features"]):
                    rows.append(row)
        rows.sort(key=lambda r: r["msisdn"])
        chunk = rows[(index - 1) * size:index * size]
        return JSONResponse({"count": len(rows), "numbers": chunk} if chunk
                            else {"count": len(rows)})

    def _candidates(self, country: str, kind: str, pattern: str, how: str) -> list[str]:
        dial = DIAL_CODES.get(country)
        if dial is None or (country, kind) not in DEFAULT_PREFIXES:
            return []
        digits = re.sub(r"\D", "", pattern)
        if digits and how == "0":
            if not digits.startswith(dial):
                return []
            starts = [digits[len(dial):]] if len(digits) > len(dial) else \
                DEFAULT_PREFIXES[(country, kind)]
        else:
            starts = DEFAULT_PREFIXES[(country, kind)]
        out: list[str] = []
        for start in starts:
            if dial == "1":
                pool = [e164(n) for n in self.stock(start, self.stock_size)]
            else:
                pool = numbering.international(self, dial, start, self.stock_size)
            out += [n.lstrip("+") for n in pool if _pattern_ok(n.lstrip("+"), digits, how)]
        return out

    def _available(self, country: str, msisdn: str) -> dict[str, Any]:
        number = "+" + msisdn
        if country == "GB":
            kind = {"local": "landline", "mobile": "mobile-lvn",
                    "tollfree": "landline-toll-free"}[numbering.gb_kind(number)]
        else:
            kind = "landline-toll-free" if numbering.nanp_kind(number) == "tollfree" \
                else "mobile-lvn"
        features = {"landline": ["VOICE"], "mobile-lvn": ["SMS", "VOICE"],
                    "landline-toll-free": ["VOICE"]}[kind]
        cost = {"landline": "0.90", "mobile-lvn": "1.25", "landline-toll-free": "2.50"}[kind]
        return {"country": country, "msisdn": msisdn, "cost": cost, "type": kind,
                "features": features}

    def _buy(self, form: dict[str, str]) -> Response:
        country, msisdn = form.get("country", "").upper(), form.get("msisdn", "")
        if not re.fullmatch(r"[1-9]\d{6,14}", msisdn) or not country:
            return vonage_status("400", "missing or invalid parameter msisdn/country", 400)
        number = "+" + msisdn
        with self.lock:
            if not self._sells(country, number):
                return self._failed()
            self.owned[number] = {"id": msisdn, "number": number,
                                  **self._available(country, msisdn)}
        return vonage_status("200", "success")

    def _sells(self, country: str, number: str) -> bool:
        """Whether `number` is in stock for `country` (and not owned)."""
        if number in self.owned or country not in DIAL_CODES:
            return False
        dial = DIAL_CODES[country]
        if not number.startswith("+" + dial):
            return False
        if dial == "1":
            return len(number) == 12 and bool(self.stock(national(number), 1))
        return numbering.international(self, dial, number[1 + len(dial):], 1) == [number]

    def _cancel(self, form: dict[str, str]) -> Response:
        number = "+" + form.get("msisdn", "")
        with self.lock:
            row = self.owned.get(number)
            if row is None or row["country"] != form.get("country", "").upper():
                return self._failed()
            self.owned.pop(number)
            self.emergency.pop(number, None)  # the number's emergency calling goes with it
        return vonage_status("200", "success")

    def _update(self, form: dict[str, str]) -> Response:
        number = "+" + form.get("msisdn", "")
        kind = form.get("voiceCallbackType")
        if kind is not None and kind not in ("sip", "tel", "app"):
            return self._failed()
        if (kind is None) != (form.get("voiceCallbackValue") is None):
            return self._failed()
        with self.lock:
            row = self.owned.get(number)
            if row is None or row["country"] != form.get("country", "").upper():
                return self._failed()
            for wire, field in VOICE_FIELDS.items():
                if wire in form:
                    row[field] = form[wire] or None
        return vonage_status("200", "success")

    def _owned(self, params: dict[str, str]) -> Response:
        country = params.get("country", "").upper()
        pattern = re.sub(r"\D", "", params.get("pattern", ""))
        how = params.get("search_pattern", "0")
        app = params.get("application_id")
        has_app = params.get("has_application", "").lower()
        size, index = _page(params, 10)
        with self.lock:
            rows = [dict(r) for r in self.owned.values()]
        out = []
        for r in sorted(rows, key=lambda r: r["msisdn"]):
            if country and r["country"] != country:
                continue
            if not _pattern_ok(r["msisdn"], pattern, how):
                continue
            if app and r.get("app_id") != app:
                continue
            if has_app in ("true", "false") and bool(r.get("app_id")) != (has_app == "true"):
                continue
            out.append({k: v for k, v in r.items() if k not in ("id", "number", "cost")
                        and v is not None})
        chunk = out[(index - 1) * size:index * size]
        return JSONResponse({"count": len(out), "numbers": chunk} if chunk
                            else {"count": len(out)})

    # -- emergency calling ----------------------------------------------------------------------

    def _create_address(self, doc: Any) -> Response:
        """Validate and store an emergency address (`knm.simulators.addresses` decides its
        fate); 422 with the fields at fault otherwise."""
        if not isinstance(doc, dict):
            return problem(400, "Bad request", "The request body must be a JSON object")
        wrong = _address_faults(doc)
        if wrong:
            return problem(422, "Invalid parameters", "The request failed due to validation "
                           "errors", wrong)
        street, postal = str(doc["address_line1"]), str(doc["postal_code"])
        country = str(doc["country"]).upper()
        verdict = addresses.fate(street, postal, country, countries=E911_COUNTRIES)
        if verdict == addresses.INVALID:
            return problem(422, "Invalid address", addresses.REJECTED_BECAUSE,
                           [("address", "not a dispatchable emergency location")])
        row = {k: doc[k] for k in ADDRESS_FIELDS if doc.get(k) not in (None, "")}
        row.update({k: addresses.normalised(row[k]) for k in
                    ("address_line1", "address_line2", "city", "region", "postal_code")
                    if k in row})
        if verdict == addresses.CORRECTED:
            row["address_line1"] = addresses.corrected_street(street)
        row.update({"id": str(uuid.uuid4()), "country": country,
                    "address_location_type": row.get("address_location_type", "business")})
        with self.lock:
            self.addresses[row["id"]] = row
        return JSONResponse(row, status_code=201)

    def _list_addresses(self, params: dict[str, str]) -> Response:
        try:
            page = max(1, int(params.get("page") or 1))
            size = max(1, min(1000, int(params.get("page_size") or 100)))
        except ValueError:
            return problem(400, "Bad request", "page and page_size must be numbers")
        with self.lock:
            rows = [dict(r) for r in self.addresses.values()]
        chunk = rows[(page - 1) * size:page * size]
        return JSONResponse({"page": page, "page_size": size,
                             "total_pages": max(1, -(-len(rows) // size)),
                             "total_items": len(rows), "_embedded": {"addresses": chunk}})

    def _delete_address(self, address_id: str) -> Response:
        with self.lock:
            if address_id not in self.addresses:
                return problem(404, "Not found", f"No address {address_id}")
            users = [n for n, a in self.emergency.items() if a["address_id"] == address_id]
            if users:
                return problem(409, "Address in use", f"The address is assigned to "
                               f"{', '.join(u.lstrip('+') for u in users)}")
            self.addresses.pop(address_id)
        return Response(status_code=204)

    def _number_info(self, number: str) -> dict[str, Any]:
        info: dict[str, Any] = {"number": number.lstrip("+")}
        assigned = self.emergency.get(number)
        if assigned:
            info["contact_name"] = assigned["contact_name"]
            info["address"] = dict(self.addresses[assigned["address_id"]])
        return info

    def _get_emergency(self, msisdn: str) -> Response:
        number = "+" + msisdn.lstrip("+")
        with self.lock:
            if number not in self.owned:
                return problem(404, "Not found", f"Number {msisdn} is not in this account")
            return JSONResponse(self._number_info(number))

    def _assign(self, msisdn: str, doc: Any) -> Response:
        number = "+" + msisdn.lstrip("+")
        if not isinstance(doc, dict):
            return problem(400, "Bad request", "The request body must be a JSON object")
        address = doc.get("address")
        address_id = str(address.get("id") or "") if isinstance(address, dict) else ""
        contact = doc.get("contact_name")
        with self.lock:
            if number not in self.owned:
                return problem(404, "Not found", f"Number {msisdn} is not in this account")
            wrong = []
            if self.addresses.get(address_id, {}).get("type") != "emergency":
                wrong.append(("address.id", "not an emergency address of this account"))
            if not isinstance(contact, str) or not contact.strip():
                wrong.append(("contact_name", "is required"))
            if wrong:
                return problem(422, "Invalid parameters", "The request failed due to "
                               "validation errors", wrong)
            self.emergency[number] = {"address_id": address_id, "contact_name": contact}
            return JSONResponse(self._number_info(number))

    def _unassign(self, msisdn: str) -> Response:
        number = "+" + msisdn.lstrip("+")
        with self.lock:
            if number not in self.owned or self.emergency.pop(number, None) is None:
                return problem(404, "Not found", f"No emergency address on {msisdn}")
        return Response(status_code=204)


def _pattern_ok(msisdn: str, digits: str, how: str) -> bool:
    """Vonage's `pattern` + `search_pattern`: 0 starts with, 1 contains, 2 ends with."""
    if not digits:
        return True
    if how == "1":
        return digits in msisdn
    if how == "2":
        return msisdn.endswith(digits)
    return msisdn.startswith(digits)


def _page(params: dict[str, str], default: int) -> tuple[int, int]:
    try:
        size = max(1, min(100, int(params.get("size") or default)))
        index = max(1, int(params.get("index") or 1))
    except ValueError:
        return default, 1
    return size, index


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                          keep_blank_values=True))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _address_faults(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The fields of an address body Vonage's schema refuses (name, reason)."""
    wrong = [(k, "is required") for k in ("address_line1", "city", "postal_code", "country")
             if not isinstance(doc.get(k), str) or not doc[k].strip()]
    if doc.get("type") != "emergency":
        wrong.append(("type", "must be one of: emergency"))
    name = doc.get("address_name")
    if name is not None and (not isinstance(name, str) or not 2 <= len(name) <= 32):
        wrong.append(("address_name", "must be 2 to 32 characters"))
    country = doc.get("country")
    if isinstance(country, str) and country.strip() and len(country.strip()) != 2:
        wrong.append(("country", "must be an ISO 3166-1 alpha-2 code"))
    kind = doc.get("address_location_type")
    if kind is not None and kind not in LOCATION_TYPES:
        wrong.append(("address_location_type", "must be one of: business, residential"))
    return wrong
