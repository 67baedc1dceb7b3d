"""A phonebook service for `knm_other` (Kazoo's generic inventory protocol), with a
deterministic stock, on the simulator framework (`knm.simulators.base`): the same switches,
request records and `ambiguous` answers as every carrier simulator.

The default stock is Kazoo's test data: ten numbers `+14158867900`..`+14158867909` with carrier
data `{"extension": d}`, and one block `+14158867900`..`+14158897909`. Ordered numbers leave
the stock (`sim.available`) for `sim.owned`. Routes (`<C>` is the country):
`GET /numbers/<C>/search?prefix&limit&offset`, `GET /blocks/<C>/search?prefix&size&offset&limit`,
`POST /numbers/<C>/status`, `PUT /numbers/<C>/order`, and Kazoo's locality lookups
(`knm_locality`): `GET /<C>/city?pattern=` (cities whose name starts with the pattern, with
their state and area codes, from `DEFAULT_CITIES`) and `POST /locality/metadata` (a number's
city and state, by area code). Kazoo's protocol has no auth; given an
`api_key`, the simulator requires it as a Bearer token (a phonebook behind a gateway).
`POST /_sim/control` with `{"latency_ms": n, "fail_status": code}` is the older control
(`{}` resets), kept for scripts written against it.

    with BackgroundServer(create_app()) as server:
        knm.config.set("number_manager.other", "phonebook_url", server.url)
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators.base import RecordedRequest, Simulator, generate_nanp

DEFAULT_NUMBERS: dict[str, dict[str, Any]] = {
    f"+1415886790{d}": {"extension": d} for d in range(10)
}
#: what the registered simulator (demo, conformance suite) sells: Kazoo's ten numbers and a
#: generated stock across area code 415, like the other simulators'
REGISTRY_NUMBERS: dict[str, dict[str, Any]] = {
    **DEFAULT_NUMBERS,
    **{f"+1{n}": {"extension": n[-4:], "locality": {"city": "SAN FRANCISCO", "region": "CA",
                                                     "country": "US"}}
       for n in generate_nanp("415", 150, seed="knm_other")},
}
DEFAULT_BLOCKS: list[dict[str, Any]] = [
    {"start_number": "+14158867900", "end_number": "+14158897909"},
]


#: what `GET /<C>/city?pattern=` answers from: city → state and area codes (US only)
DEFAULT_CITIES: dict[str, dict[str, Any]] = {
    "San Francisco": {"state": "CA", "prefixes": ["415", "628"]},
    "San Jose": {"state": "CA", "prefixes": ["408", "669"]},
    "San Diego": {"state": "CA", "prefixes": ["619", "858"]},
    "Santa Rosa": {"state": "CA", "prefixes": ["707"]},
    "New York": {"state": "NY", "prefixes": ["212", "332", "646", "917"]},
    "Newark": {"state": "NJ", "prefixes": ["862", "973"]},
    "Chicago": {"state": "IL", "prefixes": ["312", "773", "872"]},
}


def e164(raw: str) -> str:
    """What the phonebook makes of a number it is sent (10 digits are NANP)."""
    digits = raw.strip().replace(" ", "")
    if digits.startswith("+"):
        return digits
    if len(digits) == 10:
        return "+1" + digits
    return "+" + digits


class PhonebookSimulator(Simulator):
    """`PhonebookSimulator(numbers=…, blocks=…, api_key=None)`."""

    name: ClassVar[str] = "knm_other"
    content_type: ClassVar[str] = "application/json"

    def __init__(self, numbers: dict[str, dict[str, Any]] | None = None,
                 blocks: list[dict[str, Any]] | None = None, *,
                 api_key: str | None = None) -> None:
        self.catalog = dict(DEFAULT_NUMBERS if numbers is None else numbers)
        self.blocks = list(DEFAULT_BLOCKS if blocks is None else blocks)
        #: numbers still for sale (a live dict: ordered numbers leave it)
        self.available: dict[str, dict[str, Any]] = dict(self.catalog)
        self._order_ids = itertools.count(1)
        super().__init__(api_key=api_key)
        self.app.state.stock = self.available
        self.app.state.orders = self.owned

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.available.clear()
            self.available.update(self.catalog)
            self._order_ids = itertools.count(1)

    # -- carrier behaviour -------------------------------------------------------------------

    def check_auth(self, request: RecordedRequest) -> Response | None:
        key = self.credentials.get("api_key")
        if key and request.headers.get("authorization") != f"Bearer {key}":
            return self.error_body(401, "invalid API key")
        return None

    def error_body(self, status: int, message: str) -> Response:
        return JSONResponse({"status": "error", "message": message}, status_code=status)

    def malformed_body(self) -> bytes:
        return b'{"status": "success", "data": {"+1415886'

    def routes(self, app: FastAPI) -> None:
        sim = self

        @app.post("/_sim/control")
        async def set_control(request: Request) -> dict[str, Any]:
            control = await request.json() or {}
            sim.set(latency_ms=int(control.get("latency_ms") or 0),
                    fail_with=({"status": int(control["fail_status"]),
                                "message": "simulated failure"}
                               if control.get("fail_status") else None))
            return {"status": "success", "data": control}

        @app.get("/{country}/city")
        def city_prefixes(country: str, pattern: str = "") -> Any:
            wanted = pattern.strip().lower()
            found = {city: dict(info) for city, info in DEFAULT_CITIES.items()
                     if country.upper() == "US" and wanted and city.lower().startswith(wanted)}
            return {"status": "success", "data": found}

        @app.post("/locality/metadata")
        async def locality(request: Request) -> Any:
            body = await request.json()
            data: dict[str, Any] = {}
            for raw in (body or {}).get("data") or []:
                number = e164(str(raw))
                npa = number[2:5] if number.startswith("+1") else ""
                city = next((c for c, info in DEFAULT_CITIES.items()
                             if npa in info["prefixes"]), None)
                if city is None:
                    data[str(raw)] = {"status": "error", "message": "unknown number"}
                    continue
                state = DEFAULT_CITIES[city]["state"]
                data[str(raw)] = {
                    "status": "success", "number": number, "e164_number": number,
                    "country": "US", "geocode": {"locality": state},
                    "locality": {"locality": city, "province": state, "type": "LANDLINE"}}
            return {"status": "success", "data": data}

        @app.get("/numbers/{country}/search")
        def search_numbers(country: str, prefix: str = "", limit: int = 10,
                           offset: int = 0) -> Any:
            wanted = e164(prefix) if prefix else ""
            with sim.lock:
                found = sorted(n for n in sim.available if n.startswith(wanted))
                found = found[offset:offset + limit]
                return {"status": "success", "data": {n: sim.available[n] for n in found}}

        @app.get("/blocks/{country}/search")
        def search_blocks(country: str, prefix: str = "", size: int = 10, offset: int = 0,
                          limit: str = "") -> Any:
            wanted = e164(prefix) if prefix else ""
            found = [b for b in sim.blocks if b["start_number"].startswith(wanted)]
            return {"status": "success", "data": found[offset:offset + size]}

        @app.post("/numbers/{country}/status")
        async def status(request: Request, country: str) -> Any:
            body = await request.json()
            out = []
            with sim.lock:
                for raw in (body or {}).get("data") or []:
                    number = e164(str(raw))
                    if number in sim.owned:
                        out.append({"number": number, "status": "in_service"})
                    elif number in sim.available:
                        out.append({"number": number, "status": "available"})
            return {"status": "success", "data": out}

        @app.put("/numbers/{country}/order")
        async def order(request: Request, country: str) -> Any:
            body = (await request.json() or {}).get("data") or {}
            data: dict[str, Any] = {}
            with sim.lock:
                for number in body.get("numbers") or []:
                    if number in sim.available and number not in sim.taken:
                        sim.available.pop(number)
                        order_id = f"order-{next(sim._order_ids)}"
                        sim.owned[number] = {"number": number, "order_id": order_id,
                                             "gateways": body.get("gateways")}
                        data[number] = {"status": "success", "opaque": {"order_id": order_id},
                                        "locality": {"country": country.upper()}}
                    else:
                        data[number] = {"status": "error", "message": "number not in stock"}
            return {"status": "success", "data": data}


def create_app(numbers: dict[str, dict[str, Any]] | None = None,
               blocks: list[dict[str, Any]] | None = None) -> FastAPI:
    """A fresh phonebook with its own stock (defaults: Kazoo's test data); its simulator is
    `app.state.sim`."""
    return PhonebookSimulator(numbers, blocks).app
