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

Unverified (chosen): whether the real API sends the 420 with HTTP 200 or HTTP 420 — set
`sim.method_failed_status = 420` to answer the other way (the SDK then raises
`HttpRequestError`); labels other than "success", "method failed" and "authentication failed";
`cost` figures; US numbers being `mobile-lvn` (Vonage lists US long codes so).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators import numbering
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


def vonage_status(code: str, label: str, http_status: int = 200) -> JSONResponse:
    return JSONResponse({"error-code": code, "error-code-label": label},
                        status_code=http_status)


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
        super().__init__(api_key=api_key, api_secret=api_secret)

    def reset(self) -> None:
        super().reset()
        self.method_failed_status = 200

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
