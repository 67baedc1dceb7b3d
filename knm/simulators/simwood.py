"""Simwood simulator: the v3 numbers API (`/v3/numbers/<account>/…`), JSON, HTTP Basic auth.

Routes (also served without the `/v3/numbers` root, so a bare simulator URL works as a base):
- `GET  <account>/available/<standard|gold|…>/<1|10|100>?pattern=<digits>*` → a JSON array of
  `{"country_code", "number", "block", "bill_class"}`;
- `PUT  <account>/allocated/<number>` buys, `DELETE` releases, `GET` reads one of the account's
  numbers (404 when it is not the account's). A `PUT` of a number not available is a 404
("Number … is not available"), as a third-party OpenAPI of Simwood documents it.

Stock: deterministic UK numbers (`44` + 10 digits) for any pattern under `44`; other countries
have none. Error bodies are `{"error": "…"}`; Simwood's exact wording is not documented in our
sources, so these are plausible stand-ins.
"""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators.base import RecordedRequest, Simulator

ROOTS = ("/v3/numbers", "")
SIZES = (1, 10, 100)
UK_LENGTH = 12  # 44 + 10 national digits


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


def entry(digits: str) -> dict[str, Any]:
    """One search result, as Simwood lists it: country code and national number apart."""
    national = digits[2:]
    return {"country_code": "44", "number": national, "block": national[:6],
            "bill_class": "Standard"}


class SimwoodSimulator(Simulator):
    """Speaks Simwood's numbers API. Credentials: `username`, `password`, `account`."""

    name: ClassVar[str] = "knm_simwood"
    content_type: ClassVar[str] = "application/json"

    def __init__(self, username: str = "sim-user", password: str = "sim-password",
                 account: str = "930000", **kw: Any) -> None:
        super().__init__(username=username, password=password, account=account, **kw)

    def check_auth(self, request: RecordedRequest) -> Response | None:
        expected = base64.b64encode(
            f"{self.credentials['username']}:{self.credentials['password']}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return self.error_body(401, "Unauthorised: bad API credentials")
        return None

    def malformed_body(self) -> bytes:
        return b'[{"country_code": "44", "number": "20794'

    def routes(self, app: FastAPI) -> None:
        for root in ROOTS:
            app.add_api_route(root + "/{account}/available/{tier}/{size}", self._available,
                              methods=["GET"])
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
        digits = pattern.rstrip("*").lstrip("+")
        if not digits.isdigit() or pattern.count("*") > 1:
            return self.error_body(400, "pattern must be digits followed by *")
        numbers = [n for n in generate_uk(digits, self.stock_size) if n.startswith(digits)]
        with self.lock:
            free = [n for n in numbers if "+" + n not in self.owned]
        return JSONResponse([entry(n) for n in free[:int(size)]])

    async def _allocated(self, account: str, number: str, request: Request) -> Response:
        refused = self._wrong_account(account)
        if refused is not None:
            return refused
        digits = number.lstrip("+")
        if not digits.isdigit():
            return self.error_body(400, f"{number} is not a number")
        key = "+" + digits
        if request.method == "GET":
            with self.lock:
                owned = self.owned.get(key)
            if owned is None:
                return self.error_body(404, f"{digits} is not allocated to account {account}")
            return JSONResponse({"country_code": digits[:2], "number": digits[2:],
                                 "allocated": True})
        if request.method == "DELETE":
            if self.release(key) is None:
                return self.error_body(404, f"{digits} is not allocated to account {account}")
            return Response(status_code=204)
        with self.lock:
            if self.unavailable(key):  # a third-party spec documents 404 (audit S2)
                return self.error_body(404, f"Number {digits} is not available")
            self.owned[key] = {"number": key, "account": account}
        return JSONResponse({"country_code": digits[:2], "number": digits[2:],
                             "allocated": True})
