"""The shared machinery of carrier simulators: stock, orders, auth, failure switches, records.

A simulator is a FastAPI app speaking one carrier's wire format. This module gives each of them
the same controls, so tests, benchmarks and `knm demo` drive every simulator alike:

- **switches**, settable from Python (`sim.set(latency_ms=150)`; `app.state.sim` is the
  `Simulator`) and over HTTP (`POST /_sim/switches` with a JSON object; `GET` reads them;
  `POST /_sim/reset` clears switches, records, scripts, orders and owned numbers):

  | switch | effect on carrier requests (never on `/_sim/*`) |
  |---|---|
  | `latency_ms` | every request waits this long first |
  | `fail_with` | `{"status": 400, "message": "…"}`: the carrier's own error body; `"body"`, |
  |   | `"content_type"` give an exact body, `"headers"` extra headers (`Retry-After`) |
  | `hang` | the request sleeps `hang_s` (default 30 s): longer than any client timeout |
  | `malformed` | 200 with a truncated body in the carrier's content type |
  | `empty_502` | 502 with an empty body |
  | `ambiguous` | the request IS done (a purchase or release happens in the books), then its |
  |   | answer is spoilt: `"timeout"` (never answered: held until the client gives up or |
  |   | `hang_s`), `"truncated"` (the real answer cut in half, its Content-Length promising |
  |   | more), `"empty_502"`, `"html_500"` (what a proxy in front of the carrier sends) |
  | `match` | apply the failures above only to requests whose `"METHOD /path"` contains this |
  | `times` | apply them this many times, then clear them (None: until reset) |
  | `order_complete_ms` | an order stays pending this long (0: completes at once) |
  | `order_result` | `complete`, `failed`, or `never` (stays pending forever) |
  | `webhook_url` | where the simulator sends the carrier's own webhooks (orders done, |
  |   | releases), as the carrier signs or authenticates them; None: none are sent |
  | `feature_complete_ms` | a number-feature order (an E911 registration, a caller-name |
  |   | listing) stays pending this long (0: done at once) |
  | `feature_result` | `complete`, `failed`, or `never` (feature orders stay pending) |

- **records**: every carrier request received (`sim.requests`: method, path, query, headers,
  body), so tests assert what was sent on the wire;
- **scripts**: `sim.script("GET", "/path", body)` answers one route with an exact body (used to
  replay Kazoo's fixture payloads verbatim);
- a deterministic **stock** per prefix (`sim.stock("415", 20)`: the same numbers every run,
  minus the ones bought) and an **order book** moving pending → complete/failed;
  `sim.taken` holds numbers sold to another customer (a purchase of one is refused as
  unavailable, and they are not this account's);
- **webhooks** (`webhook_url`): when an order finishes (or a release is done) the simulator
  POSTs the carrier's notification (`webhook_request`, per carrier) to that URL from a
  background thread; `sim.webhooks_sent` records each (`GET /_sim/webhooks`);
- **number features** (SPEC §13): a book of feature orders (`place_feature`,
  `feature_progress`) moving pending → complete/failed per `feature_complete_ms` and
  `feature_result`, and one rule for every carrier's address validation
  (`knm.simulators.addresses`).

Subclasses set `name`, `content_type`, implement `routes(app)`, `check_auth(request)`
and `error_body(status, message)`. Run one with `knm.simulators.server.BackgroundServer`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import httpx
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from starlette.responses import JSONResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TOLLFREE_NPAS = ("800", "833", "844", "855", "866", "877", "888")
#: the ways the `ambiguous` switch spoils an answer after doing the request
AMBIGUOUS = ("timeout", "truncated", "empty_502", "html_500")
#: how feature orders end (`feature_result`)
FEATURE_RESULTS = ("complete", "failed", "never")
PROXY_500 = (b"<html><head><title>500 Internal Server Error</title></head><body>"
             b"<center><h1>500 Internal Server Error</h1></center><hr><center>nginx</center>"
             b"</body></html>")


@dataclass
class Switches:
    """Runtime behaviour of a simulator. See the module docstring for each field."""

    latency_ms: int = 0
    fail_with: dict[str, Any] | None = None
    hang: bool = False
    hang_s: float = 30.0
    malformed: bool = False
    empty_502: bool = False
    ambiguous: str | None = None
    match: str | None = None
    times: int | None = None
    order_complete_ms: int = 0
    order_result: str = "complete"
    webhook_url: str | None = None
    feature_complete_ms: int = 0
    feature_result: str = "complete"

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown switches: {sorted(unknown)}")
        if values.get("ambiguous") not in (None, *AMBIGUOUS):
            raise ValueError(f"ambiguous must be one of {AMBIGUOUS}")
        if values.get("feature_result", "complete") not in FEATURE_RESULTS:
            raise ValueError(f"feature_result must be one of {FEATURE_RESULTS}")
        for key, value in values.items():
            setattr(self, key, value)

    def failing(self) -> bool:
        return bool(self.fail_with or self.hang or self.malformed or self.empty_502
                    or self.ambiguous)


@dataclass
class RecordedRequest:
    """One request a simulator received. Header names are lower-case."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    @property
    def params(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.query, keep_blank_values=True))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query,
                "headers": self.headers, "body": self.text}


class Simulator:
    """Base of every carrier simulator. `sim.app` is the ASGI app; `app.state.sim` is `sim`."""

    name: ClassVar[str] = ""
    content_type: ClassVar[str] = "application/json"
    #: most numbers one prefix offers (a search asking for more gets this many)
    stock_size: ClassVar[int] = 250

    def __init__(self, **credentials: Any) -> None:
        self.credentials: dict[str, Any] = dict(credentials)
        self.lock = threading.RLock()
        self.switches = Switches()
        self.requests: list[RecordedRequest] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.owned: dict[str, dict[str, Any]] = {}
        #: number-feature orders (E911 registrations, caller-name listings) by id
        self.feature_orders: dict[str, dict[str, Any]] = {}
        #: numbers another customer holds: not for sale, not this account's
        self.taken: set[str] = set()
        #: webhooks sent: `{"url", "headers", "body", "status"}` (status None: not delivered)
        self.webhooks_sent: list[dict[str, Any]] = []
        #: prefix → numbers served instead of generated ones (Kazoo fixture stock)
        self.fixed_stock: dict[str, list[str]] = {}
        self._scripts: list[dict[str, Any]] = []
        self.app = FastAPI(title=f"{self.name} simulator", openapi_url=None, docs_url=None,
                           redoc_url=None)
        self.app.state.sim = self
        self._control_routes(self.app)
        self.routes(self.app)
        self.app.add_middleware(_SimMiddleware, sim=self)

    # -- to override --------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        """Add the carrier's routes."""

    def check_auth(self, request: RecordedRequest) -> Response | None:
        """None if the request's credentials are good, else the carrier's 401/403 response."""
        return None

    def error_body(self, status: int, message: str) -> Response:
        """The carrier's own error response."""
        return JSONResponse({"error": message}, status_code=status)

    def webhook_request(self, kind: str, subject: dict[str, Any]
                        ) -> tuple[dict[str, str], bytes] | None:
        """The carrier's notification (headers, body) that `subject` — an order (`kind`
        `"order"`, finished) or a release (`"disconnect"`) — is done; None: this carrier
        sends none."""
        return None

    def malformed_body(self) -> bytes:
        """A body that starts right and then breaks off."""
        return b'{"data": [{"phone_number": "+1415' if "json" in self.content_type \
            else b"<?xml version='1.0'?><SearchResult><TelephoneNumberList><Telepho"

    # -- control from Python ------------------------------------------------------------------

    def set(self, **values: Any) -> Simulator:
        """Change switches: `sim.set(latency_ms=150, fail_with={"status": 500})`."""
        with self.lock:
            self.switches.update(values)
        return self

    def reset_switches(self) -> None:
        """Switches back to their defaults; records, orders and owned numbers kept."""
        with self.lock:
            self.switches = Switches()

    def reset(self) -> None:
        """Back to a fresh simulator: switches, records, scripts, orders, owned numbers."""
        with self.lock:
            self.switches = Switches()
            self.requests.clear()
            self._scripts.clear()
            self.orders.clear()
            self.owned.clear()
            self.taken.clear()
            self.webhooks_sent.clear()
            self.feature_orders.clear()

    def script(self, method: str, path: str, body: str | bytes, *, status: int = 200,
               content_type: str | None = None, times: int | None = None) -> None:
        """Answer `METHOD path` (exact path, query ignored) with `body` (`times` times)."""
        with self.lock:
            self._scripts.append({"method": method.upper(), "path": path, "status": status,
                                  "body": body.encode() if isinstance(body, str) else body,
                                  "content_type": content_type or self.content_type,
                                  "times": times})

    def received(self, method: str | None = None, path_contains: str = "") -> list[RecordedRequest]:
        """The requests received, optionally filtered by method and a path fragment."""
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method.upper()) and path_contains in r.path]

    # -- stock ----------------------------------------------------------------------------------

    def stock(self, prefix: str, quantity: int) -> list[str]:
        """Up to `quantity` national numbers (10 digits for NANP) starting with `prefix`,
        sorted, deterministic per prefix, minus the ones already bought."""
        digits = "".join(ch for ch in prefix if ch.isdigit())
        if digits in self.fixed_stock:
            pool = self.fixed_stock[digits]
        else:
            pool = generate_nanp(digits, self.stock_size, seed=self.name)
        with self.lock:
            free = [n for n in pool if n not in self.owned and e164(n) not in self.owned
                    and e164(n) not in self.taken]
        return free[:max(0, quantity)]

    # -- orders ---------------------------------------------------------------------------------

    def place_order(self, numbers: list[str], **data: Any) -> dict[str, Any]:
        """Open an order for `numbers` (E.164). A number already owned makes the order fail
        at once with `failed_numbers` naming it; the others are held for the order."""
        with self.lock:
            order_id = data.pop("order_id", None) or str(uuid.uuid4())
            taken = [n for n in numbers if self.unavailable(n)]
            order = {"id": order_id, "numbers": list(numbers), "created": time.monotonic(),
                     "state": "pending", "failed_numbers": taken, **data}
            if taken:
                order["state"] = "failed"
            else:
                for n in numbers:
                    self.owned[n] = {"id": str(uuid.uuid4().int)[:19], "order_id": order_id,
                                     "number": n}
            self.orders[order_id] = order
            self.order_progress(order_id)
            if order["state"] == "pending" and self.switches.webhook_url:
                # no poll may come: finish the order on time so its webhook goes out
                timer = threading.Timer(self.switches.order_complete_ms / 1000 + 0.01,
                                        self.order_progress, (order_id,))
                timer.daemon = True
                timer.start()
            return order

    def unavailable(self, number: str) -> bool:
        """Can `number` not be bought here (already this account's, or another's)?"""
        with self.lock:
            return number in self.owned or number in self.taken

    def order_progress(self, order_id: str) -> dict[str, Any] | None:
        """The order with its state advanced per the switches (None if unknown)."""
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order["state"] != "pending":
                return order
            sw = self.switches
            if sw.order_result == "never":
                return order
            if (time.monotonic() - order["created"]) * 1000 >= sw.order_complete_ms:
                order["state"] = "failed" if sw.order_result == "failed" else "complete"
                if order["state"] == "failed":
                    for n in order["numbers"]:
                        self.owned.pop(n, None)
                self.finished("order", order)
            return order

    # -- number-feature orders ---------------------------------------------------------------

    def place_feature(self, kind: str, number: str, **data: Any) -> dict[str, Any]:
        """Open a feature order (`kind`: `e911`, `lidb`, `tnoption`, …) for `number`; it
        completes per `feature_complete_ms` / `feature_result` (`feature_progress`), and its
        webhook goes out when it does (`webhook_request("feature", order)`)."""
        with self.lock:
            order = {"id": str(uuid.uuid4()), "kind": kind, "number": number,
                     "created": time.monotonic(), "state": "pending", **data}
            self.feature_orders[order["id"]] = order
            self.feature_progress(order["id"])
            if order["state"] == "pending" and self.switches.webhook_url:
                timer = threading.Timer(self.switches.feature_complete_ms / 1000 + 0.01,
                                        self.feature_progress, (order["id"],))
                timer.daemon = True
                timer.start()
            return order

    def feature_progress(self, order_id: str) -> dict[str, Any] | None:
        """The feature order with its state advanced per the switches (None if unknown);
        a carrier's `feature_done(order)` applies what a completed one did."""
        # the same shape as `order_progress` on purpose (the duplicate finder pairs them):
        # another table, other switches and another completion step; one function taking all
        # three as arguments would read worse than the two
        with self.lock:
            order = self.feature_orders.get(order_id)
            if order is None or order["state"] != "pending":
                return order
            sw = self.switches
            if sw.feature_result == "never":
                return order
            if (time.monotonic() - order["created"]) * 1000 >= sw.feature_complete_ms:
                order["state"] = "failed" if sw.feature_result == "failed" else "complete"
                self.feature_done(order)
                self.finished("feature", order)
            return order

    def feature_done(self, order: dict[str, Any]) -> None:
        """A feature order finished (`order["state"]` says how): apply it to the carrier's
        books. Nothing by default."""

    def finished(self, kind: str, subject: dict[str, Any]) -> None:
        """An order finished or a release was done: send the carrier's webhook, if any."""
        url = self.switches.webhook_url
        request = self.webhook_request(kind, subject) if url else None
        if url and request is not None:
            threading.Thread(target=self._deliver, args=(url, *request), daemon=True).start()

    def _deliver(self, url: str, headers: dict[str, str], body: bytes) -> None:
        sent: dict[str, Any] = {"url": url, "headers": headers, "body": body.decode(),
                                "status": None}
        try:
            sent["status"] = httpx.post(url, headers=headers, content=body,
                                        timeout=5).status_code
        except httpx.HTTPError as exc:
            sent["error"] = type(exc).__name__
        with self.lock:
            self.webhooks_sent.append(sent)

    def release(self, number: str) -> dict[str, Any] | None:
        """Give a number back; returns what was owned, or None if it was not."""
        with self.lock:
            return self.owned.pop(number, None)

    # -- internals ------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def _take_failure(self, request: RecordedRequest) -> tuple[Switches, bool]:
        """A snapshot of the switches and whether a failure applies to this request."""
        with self.lock:
            sw = Switches(**asdict(self.switches))
            applies = sw.failing() and (
                not sw.match or sw.match in f"{request.method} {request.path}")
            if applies and self.switches.times is not None:
                self.switches.times -= 1
                if self.switches.times <= 0:
                    self.switches.fail_with = None
                    self.switches.hang = self.switches.malformed = False
                    self.switches.empty_502 = False
                    self.switches.ambiguous = None
                    self.switches.times = None
            return sw, applies

    def _take_script(self, request: RecordedRequest) -> Response | None:
        with self.lock:
            for s in self._scripts:
                if s["method"] == request.method and s["path"] == request.path:
                    if s["times"] is not None:
                        s["times"] -= 1
                        if s["times"] <= 0:
                            self._scripts.remove(s)
                    return Response(s["body"], status_code=s["status"],
                                    media_type=s["content_type"])
        return None

    def _failure_response(self, sw: Switches) -> Response:
        if sw.empty_502:
            return Response(b"", status_code=502)
        if sw.malformed:
            return Response(self.malformed_body(), status_code=200, media_type=self.content_type)
        spec = dict(sw.fail_with or {})
        status = int(spec.get("status", 500))
        if "body" in spec:
            response = Response(str(spec["body"]).encode(), status_code=status,
                                media_type=spec.get("content_type", self.content_type))
        else:
            response = self.error_body(status, str(spec.get("message", "simulated failure")))
        for key, value in (spec.get("headers") or {}).items():
            response.headers[key] = str(value)
        return response

    def _control_routes(self, app: FastAPI) -> None:
        @app.get("/_sim/switches")
        def get_switches() -> dict[str, Any]:
            with self.lock:
                return asdict(self.switches)

        @app.post("/_sim/switches")
        async def post_switches(request: FastAPIRequest) -> Response:
            try:
                self.set(**(await request.json()))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            with self.lock:
                return JSONResponse(asdict(self.switches))

        @app.post("/_sim/reset")
        def post_reset() -> dict[str, Any]:
            self.reset()
            return {"reset": True}

        @app.get("/_sim/requests")
        def get_requests() -> list[dict[str, Any]]:
            with self.lock:
                return [r.to_json() for r in self.requests]

        @app.get("/_sim/webhooks")
        def get_webhooks() -> list[dict[str, Any]]:
            with self.lock:
                return list(self.webhooks_sent)


class _SimMiddleware:
    """Pure ASGI: record, apply switches and auth, then hand over to the carrier routes."""

    def __init__(self, app: Any, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                # The client went away before its body arrived (a buyer killed mid-send): a
                # carrier never sees such a request, so it is neither recorded nor served.
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = RecordedRequest(
            method=scope["method"], path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={k.decode("latin-1").lower(): v.decode("latin-1")
                     for k, v in scope.get("headers", [])},
            body=body,
        )
        self.sim._record(request)
        sw, failing = self.sim._take_failure(request)
        if sw.latency_ms:
            await asyncio.sleep(sw.latency_ms / 1000)
        if failing and sw.ambiguous:
            await self._ambiguous(sw, request, scope, body, receive, send)
            return
        response: Response | None = None
        if failing:
            if sw.hang:
                try:  # until the client gives up (disconnects) or hang_s passes
                    await asyncio.wait_for(_until_disconnect(receive), sw.hang_s)
                    return
                except TimeoutError:
                    response = Response(b"", status_code=504)
            else:
                response = self.sim._failure_response(sw)
        await self._serve(request, scope, body, receive, send, response)

    async def _serve(self, request: RecordedRequest, scope: Scope, body: bytes,
                     receive: Receive, send: Send, response: Response | None = None) -> None:
        """Answer as the carrier would: auth, a script, or the carrier's routes."""
        if response is None:
            response = self.sim.check_auth(request)
        if response is None:
            response = self.sim._take_script(request)

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if response is not None:
            await response(scope, replay, send)
        else:
            await self.app(scope, replay, send)

    async def _ambiguous(self, sw: Switches, request: RecordedRequest, scope: Scope,
                         body: bytes, receive: Receive, send: Send) -> None:
        """Do the request for real, then spoil its answer the way `sw.ambiguous` says."""
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._serve(request, scope, body, receive, capture)
        real = b"".join(chunks)
        if sw.ambiguous == "timeout":
            try:  # until the client gives up (disconnects) or hang_s passes
                await asyncio.wait_for(_until_disconnect(receive), sw.hang_s)
                return
            except TimeoutError:
                await Response(b"", status_code=504)(scope, receive, send)
                return
        if sw.ambiguous == "empty_502":
            await Response(b"", status_code=502)(scope, receive, send)
            return
        if sw.ambiguous == "html_500":
            await Response(PROXY_500, status_code=500, media_type="text/html")(
                scope, receive, send)
            return
        # truncated: the real status and headers, a Content-Length promising the whole body
        # (at least one byte), half of it sent, then the connection is dropped
        headers = [(k, v) for k, v in start.get("headers", [])
                   if k.lower() != b"content-length"]
        promised = max(len(real), 2)
        headers.append((b"content-length", str(promised).encode()))
        status = int(start.get("status", 200))
        if status in (204, 304):
            status = 200  # a bodiless status would make the cut body invisible
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": real[:len(real) // 2],
                    "more_body": True})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def generate_nanp(prefix: str, count: int, *, seed: str = "") -> list[str]:
    """`count` distinct 10-digit NANP numbers starting with `prefix` (1–10 digits), sorted;
    the same for the same prefix and seed. Digits a prefix leaves open are random but valid
    (NPA and NXX never start with 0 or 1)."""
    prefix = prefix[:10]
    if len(prefix) == 10:
        return [prefix]
    digest = hashlib.sha256(f"{seed}:{prefix}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    room = 10 ** (10 - len(prefix))
    target = min(count, room)
    out: set[str] = set()
    tries = 0
    while len(out) < target and tries < target * 20:
        tries += 1
        candidate = prefix + "".join(rng.choice("0123456789") for _ in range(10 - len(prefix)))
        if candidate[0] in "01" or candidate[3] in "01":
            continue
        out.add(candidate)
    return sorted(out)


def e164(national: str) -> str:
    """10-digit NANP → `+1…`; anything already E.164 unchanged."""
    return national if national.startswith("+") else f"+1{national}"


def national(number: str) -> str:
    """`+1XXXXXXXXXX` → the 10 digits; other numbers lose only their `+`."""
    return number[2:] if number.startswith("+1") else number.lstrip("+")
