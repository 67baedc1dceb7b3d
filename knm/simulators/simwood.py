"""Simwood simulator: the v3 numbers API (`/v3/numbers/<account>/…`), JSON, HTTP Basic auth.

Routes (also served without the `/v3/numbers` root, so a bare simulator URL works as a base):
- `GET  <account>/available/<standard|gold|…>/<1|10|100>?pattern=<digits>*[&country_code=1|44]`
  → a JSON array of `{"country_code", "number", "block", "bill_class"}`; without
  `country_code` the pattern is UK (`4420*` and `20*` alike, as Simwood documents);
- `PUT  <account>/allocated/<number>` allocates and answers the allocation's links
  (`{basic: {link, country_code, number, block, bill_class, SMS}, voice: {link}, fax: {link},
  sms: {link}, 999: {link}}`); a number not available (this account's already, or another
  customer's) is **404 "Number not available"**, as a third-party OpenAPI of Simwood says;
  `GET` answers the same links for one of the account's numbers, `DELETE` releases it (200);
  either is 404 "Number not allocated" for a number the account does not hold;
- `GET|PUT|DELETE <account>/allocated/<number>/config`: the number's configuration (`{}`
  when it has none); a `PUT` replaces it and answers `{"success": true}`, or — routing that
  is not Simwood's shape (`routing.<rule>` a list of lists of legs with a `type`; a `sip` leg
  needs an `endpoint`, a `pstn` leg a `number`) — `{"success": false, "errors": […]}` with
  HTTP 200 (Simwood's document gives the body, not the status).

Stock: deterministic UK numbers (`44` + 10 digits) for any UK pattern, NANP numbers for
`country_code=1`. Error bodies are Simwood's documented `{"success": false, "errors": […]}`
(`SimwoodSimulator(error_style="error")` answers `{"error": "…"}` instead, the other shape a
client meets); the wording of allocation errors comes from the third-party OpenAPI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators.base import RecordedRequest, Simulator, generate_nanp

ROOTS = ("/v3/numbers", "")
SIZES = (1, 10, 100)
UK_LENGTH = 12  # 44 + 10 national digits
LEG_NEEDS = {"sip": "endpoint", "pstn": "number", "reg": "user"}
NOT_AVAILABLE = "Number not available"
NOT_ALLOCATED = "Number not allocated"


def generate_uk(prefix: str, count: int, *, seed: str = "knm_simwood") -> list[str]:
    """Up to `count` distinct UK numbers (digits, no `+`) starting with `prefix`, sorted and
    the same for the same prefix. The first national digit is 1, 2 or 3 (geographic/non-geo)."""
    if not prefix.startswith("44") and not "44".startswith(prefix):
        return []
    prefix = (prefix if len(prefix) >= 2 else "44")[:UK_LENGTH]
    if len(prefix) == UK_LENGTH:
        return [prefix] if prefix[2] in "123" else []
    digest = hashlib.sha256(f"{seed}:{prefix}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    target = min(count, 10 ** (UK_LENGTH - len(prefix)))
    out: set[str] = set()
    tries = 0
    while len(out) < target and tries < target * 20:
        tries += 1
        candidate = prefix + "".join(rng.choice("0123456789")
                                     for _ in range(UK_LENGTH - len(prefix)))
        if candidate[2] in "123":
            out.add(candidate)
    return sorted(out)


def split(digits: str) -> tuple[str, str]:
    """E.164 digits → (country code, national number) for the countries simulated."""
    return ("1", digits[1:]) if digits.startswith("1") else (digits[:2], digits[2:])


def entry(digits: str) -> dict[str, Any]:
    """One search result, as Simwood lists it: country code and national number apart."""
    code, national = split(digits)
    return {"country_code": code, "number": national, "block": national[:6],
            "bill_class": "Standard"}


def allocation(account: str, digits: str) -> dict[str, Any]:
    """The allocation's links, in the shape a third-party OpenAPI and Java client give."""
    link = f"/v3/numbers/{account}/allocated/{digits}"
    return {"basic": {"link": link, **entry(digits), "SMS": 0},
            "voice": {"link": link + "/voice"}, "fax": {"link": link + "/fax"},
            "sms": {"link": link + "/sms"}, "999": {"link": link + "/999"}}


def config_errors(config: Any) -> list[str]:
    """What Simwood would refuse in a number configuration (the shape its document gives)."""
    if not isinstance(config, Mapping):
        return ["Configuration must be an object."]
    routing = config.get("routing", {})
    if not isinstance(routing, Mapping):
        return ["Routing block must be an array."]
    problems = []
    for rule, groups in routing.items():
        if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
            problems.append(f"Routing block '{rule}' must be an array.")
            continue
        for leg in (leg for group in groups for leg in group):
            kind = leg.get("type") if isinstance(leg, Mapping) else None
            if kind not in (*LEG_NEEDS, "fax", "busy", "teams"):
                problems.append(f"Routing block '{rule}': invalid type '{kind}'.")
            elif kind in LEG_NEEDS and not leg.get(LEG_NEEDS[kind]):
                problems.append(f"Routing block '{rule}': a {kind} endpoint needs "
                                f"'{LEG_NEEDS[kind]}'.")
    return problems


class SimwoodSimulator(Simulator):
    """Speaks Simwood's numbers API. Credentials: `username`, `password`, `account`."""

    name: ClassVar[str] = "knm_simwood"
    content_type: ClassVar[str] = "application/json"

    def __init__(self, username: str = "sim-user", password: str = "sim-password",
                 account: str = "930000", *, error_style: str = "errors", **kw: Any) -> None:
        if error_style not in ("errors", "error"):
            raise ValueError("error_style is 'errors' or 'error'")
        self.error_style = error_style
        super().__init__(username=username, password=password, account=account, **kw)

    def check_auth(self, request: RecordedRequest) -> Response | None:
        expected = base64.b64encode(
            f"{self.credentials['username']}:{self.credentials['password']}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return self.error_body(401, "Unauthorised: bad API credentials")
        return None

    def error_body(self, status: int, message: str) -> Response:
        body: dict[str, Any] = ({"success": False, "errors": [message]}
                                if self.error_style == "errors" else {"error": message})
        return JSONResponse(body, status_code=status)

    def malformed_body(self) -> bytes:
        return b'[{"country_code": "44", "number": "20794'

    def routes(self, app: FastAPI) -> None:
        for root in ROOTS:
            app.add_api_route(root + "/{account}/available/{tier}/{size}", self._available,
                              methods=["GET"])
            app.add_api_route(root + "/{account}/allocated/{number}/config", self._config,
                              methods=["GET", "PUT", "DELETE"])
            app.add_api_route(root + "/{account}/allocated/{number}", self._allocated,
                              methods=["GET", "PUT", "DELETE"])

    # -- handlers ----------------------------------------------------------------------------

    def _wrong_account(self, account: str) -> Response | None:
        if account != self.credentials["account"]:
            return self.error_body(403, f"Account {account} is not accessible with these "
                                        "credentials")
        return None

    async def _available(self, account: str, tier: str, size: str, request: Request
                         ) -> Response:
        refused = self._wrong_account(account)
        if refused is not None:
            return refused
        if not size.isdigit() or int(size) not in SIZES:
            return self.error_body(400, f"Result size must be one of {SIZES}")
        pattern = request.query_params.get("pattern", "")
        country = request.query_params.get("country_code", "44")
        digits = pattern.rstrip("*").lstrip("+")
        if not digits.isdigit() or pattern.count("*") > 1:
            return self.error_body(400, "pattern must be digits followed by *")
        if country == "1":
            national = digits[1:] if digits.startswith("1") else digits
            numbers = ["1" + n for n in generate_nanp(national, self.stock_size,
                                                     seed=self.name)]
        elif country == "44":
            uk = digits if digits.startswith("44") else "44" + digits
            numbers = [n for n in generate_uk(uk, self.stock_size) if n.startswith(uk)]
        else:
            return self.error_body(400, "country_code must be one of [1|44]")
        with self.lock:
            free = [n for n in numbers if not self.unavailable("+" + n)]
        return JSONResponse([entry(n) for n in free[:int(size)]])

    def _number(self, account: str, number: str) -> tuple[str, Response | None]:
        refused = self._wrong_account(account)
        if refused is not None:
            return "", refused
        digits = number.lstrip("+")
        if not digits.isdigit():
            return "", self.error_body(400, f"{number} is not a number")
        return digits, None

    async def _allocated(self, account: str, number: str, request: Request) -> Response:
        digits, refused = self._number(account, number)
        if refused is not None:
            return refused
        key = "+" + digits
        if request.method == "GET":
            with self.lock:
                owned = self.owned.get(key)
            if owned is None:
                return self.error_body(404, NOT_ALLOCATED)
            return JSONResponse(allocation(account, digits))
        if request.method == "DELETE":
            if self.release(key) is None:
                return self.error_body(404, NOT_ALLOCATED)
            return Response(status_code=200)
        with self.lock:
            if self.unavailable(key):  # a third-party spec documents 404 (audit S2)
                return self.error_body(404, NOT_AVAILABLE)
            self.owned[key] = {"number": key, "account": account, "config": {}}
        return JSONResponse(allocation(account, digits))

    async def _config(self, account: str, number: str, request: Request) -> Response:
        digits, refused = self._number(account, number)
        if refused is not None:
            return refused
        key = "+" + digits
        with self.lock:
            owned = self.owned.get(key)
        if owned is None:
            return self.error_body(404, NOT_ALLOCATED)
        if request.method == "GET":
            return JSONResponse(owned.get("config") or {})
        if request.method == "DELETE":
            owned["config"] = {}
            return JSONResponse({"success": True})
        try:
            config = json.loads(await request.body() or b"null")
        except ValueError:
            config = None
        problems = config_errors(config)
        if problems:  # the extant configuration stays, as Simwood documents
            return JSONResponse({"success": False, "errors": problems})
        with self.lock:
            owned["config"] = config
        return JSONResponse({"success": True})
