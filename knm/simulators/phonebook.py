"""A phonebook service for `knm_other`, with a deterministic stock.

The default stock is Kazoo's test data: ten numbers `+14158867900`..`+14158867909` with carrier
data `{"extension": d}`, and one block `+14158867900`..`+14158897909`. Ordered numbers leave
the stock. It also answers Kazoo's locality lookups (`knm_locality`): `GET /<C>/city?pattern=`
(cities whose name starts with the pattern, with their state and area codes, from
`DEFAULT_CITIES`) and `POST /locality/metadata` (a number's city and state by area code).
`POST /_sim/control` with `{"latency_ms": n, "fail_status": code}` makes every later request
slow or failing (`{}` resets), so tests can exercise timeouts and errors.

    with BackgroundServer(create_app()) as server:
        knm.config.set("number_manager.other", "phonebook_url", server.url)
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

DEFAULT_NUMBERS: dict[str, dict[str, Any]] = {
    f"+1415886790{d}": {"extension": d} for d in range(10)
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


def _e164(raw: str) -> str:
    digits = raw.strip().replace(" ", "")
    if digits.startswith("+"):
        return digits
    if len(digits) == 10:
        return "+1" + digits
    return "+" + digits


def create_app(numbers: dict[str, dict[str, Any]] | None = None,
               blocks: list[dict[str, Any]] | None = None) -> FastAPI:
    """A fresh phonebook with its own stock (defaults: Kazoo's test data)."""
    app = FastAPI(title="knm phonebook simulator")
    stock: dict[str, dict[str, Any]] = dict(DEFAULT_NUMBERS if numbers is None else numbers)
    block_list = list(DEFAULT_BLOCKS if blocks is None else blocks)
    orders: dict[str, dict[str, Any]] = {}
    control: dict[str, Any] = {}
    order_ids = itertools.count(1)
    app.state.stock, app.state.orders, app.state.control = stock, orders, control
    cities = {city: dict(info) for city, info in DEFAULT_CITIES.items()}
    app.state.cities = cities
    app.state.requests = []

    async def _gate(request: Request) -> JSONResponse | None:
        app.state.requests.append((request.method, request.url.path, str(request.url.query)))
        if control.get("latency_ms"):
            await asyncio.sleep(control["latency_ms"] / 1000.0)
        if control.get("fail_status"):
            return JSONResponse({"status": "error", "message": "simulated failure"},
                                status_code=int(control["fail_status"]))
        return None

    @app.post("/_sim/control")
    async def set_control(request: Request) -> dict[str, Any]:
        control.clear()
        control.update(await request.json() or {})
        return {"status": "success", "data": control}

    @app.get("/{country}/city")
    async def city_prefixes(request: Request, country: str, pattern: str = "") -> Any:
        if (failed := await _gate(request)) is not None:
            return failed
        wanted = pattern.strip().lower()
        found = {city: dict(info) for city, info in cities.items()
                 if country.upper() == "US" and wanted and city.lower().startswith(wanted)}
        return {"status": "success", "data": found}

    @app.post("/locality/metadata")
    async def locality(request: Request) -> Any:
        if (failed := await _gate(request)) is not None:
            return failed
        body = await request.json()
        data: dict[str, Any] = {}
        for raw in (body or {}).get("data") or []:
            number = _e164(str(raw))
            npa = number[2:5] if number.startswith("+1") else ""
            city = next((c for c, info in cities.items() if npa in info["prefixes"]), None)
            if city is None:
                data[str(raw)] = {"status": "error", "message": "unknown number"}
                continue
            data[str(raw)] = {
                "status": "success", "number": number, "e164_number": number, "country": "US",
                "geocode": {"locality": cities[city]["state"]},
                "locality": {"locality": city, "province": cities[city]["state"],
                             "type": "LANDLINE"},
            }
        return {"status": "success", "data": data}

    @app.get("/numbers/{country}/search")
    async def search_numbers(request: Request, country: str, prefix: str = "",
                             limit: int = 10, offset: int = 0) -> Any:
        if (failed := await _gate(request)) is not None:
            return failed
        wanted = _e164(prefix) if prefix else ""
        found = sorted(n for n in stock if n.startswith(wanted))[offset:offset + limit]
        return {"status": "success", "data": {n: stock[n] for n in found}}

    @app.get("/blocks/{country}/search")
    async def search_blocks(request: Request, country: str, prefix: str = "",
                            size: int = 10, offset: int = 0, limit: str = "") -> Any:
        if (failed := await _gate(request)) is not None:
            return failed
        wanted = _e164(prefix) if prefix else ""
        found = [b for b in block_list if b["start_number"].startswith(wanted)]
        return {"status": "success", "data": found[offset:offset + size]}

    @app.post("/numbers/{country}/status")
    async def status(request: Request, country: str) -> Any:
        if (failed := await _gate(request)) is not None:
            return failed
        body = await request.json()
        out = []
        for raw in (body or {}).get("data") or []:
            number = _e164(str(raw))
            if number in orders:
                out.append({"number": number, "status": "in_service"})
            elif number in stock:
                out.append({"number": number, "status": "available"})
        return {"status": "success", "data": out}

    @app.put("/numbers/{country}/order")
    async def order(request: Request, country: str) -> Any:
        if (failed := await _gate(request)) is not None:
            return failed
        body = (await request.json() or {}).get("data") or {}
        data: dict[str, Any] = {}
        for number in body.get("numbers") or []:
            if number in stock:
                stock.pop(number)
                order_id = f"order-{next(order_ids)}"
                orders[number] = {"order_id": order_id, "gateways": body.get("gateways")}
                data[number] = {"status": "success", "opaque": {"order_id": order_id},
                                "locality": {"country": country.upper()}}
            else:
                data[number] = {"status": "error", "message": "number not in stock"}
        return {"status": "success", "data": data}

    return app
