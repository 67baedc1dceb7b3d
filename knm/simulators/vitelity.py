"""Vitelity simulator: `POST /api.php?cmd=…&login=…&pass=…&xml=yes`, XML `<content>` replies.

Commands served: `listnpa`, `listnpanxx`, `listtollfree`, `getlocaldid`, `gettollfree`,
`removedid`, `listdids` (the account's DIDs; in XML mode shaped like the searches' answers —
a stand-in: only the plain-text mode, `did,ratecenter,state,routesip` lines, is seen in use).
Bad credentials and refusals are what Kazoo parsed: HTTP 200 with
`<content><status>fail</status><error>…</error></content>`. The exact wording of Vitelity's
error texts is not documented anywhere we could check; the ones here are plausible stand-ins.

`VitelitySimulator(kazoo_fixtures=dir)` answers the three searches with Kazoo's fixture files
verbatim (`vitelity_listnpa.xml`, …), as Kazoo's TEST build did (without its http-only bug).

Number features (SPEC §13), on DIDs of the account only: `e911checkaddress` decides by the
simulators' one rule (`knm.simulators.addresses`: `fail` for a rejected address; `ok` with
`<response>corrected</response>` and the corrected address in `<info>`; `ok`, `valid` and the
normalised address), `e911send` (an address that does not pass the rule fails), `e911getinfo`,
`e911delete`, `lidb` (an empty name withdraws the listing), `cnamenable` / `cnamdisable`.
`sim.e911`, `sim.lidb` and `sim.cnam_lookup` hold what was set. The reply shapes of these
commands are stand-ins too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from starlette.responses import Response

from knm.simulators import addresses
from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator, e164, national

#: rate centers for a few NPAs, so search results look like a real carrier's
RATE_CENTERS = {"415": ("SAN FRANCISCO", "CA"), "212": ("NEW YORK CITY", "NY"),
                "303": ("DENVER", "CO"), "512": ("AUSTIN", "TX"), "987": ("ANYCITY", "ZZ")}
FIXTURES = {"listnpa": "vitelity_listnpa.xml", "listnpanxx": "vitelity_listnpanxx.xml",
            "listtollfree": "vitelity_listtollfree.xml"}
FEATURE_COMMANDS = ("e911checkaddress", "e911send", "e911getinfo", "e911delete", "lidb",
                    "cnamenable", "cnamdisable")
ADDRESS_KEYS = ("address", "unittype", "unitnumber", "city", "state", "zip")


def content(status: str, inner: str = "") -> bytes:
    """A Vitelity reply document."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<content><status>{status}</status>'
            f"{inner}</content>").encode()


def fail(message: str) -> bytes:
    return content("fail", f"<error>{escape(message)}</error>")


def numbers_xml(numbers: list[str], *, detailed: bool) -> bytes:
    """`<numbers>` of 10-digit numbers: with rate center and state, or bare `<did>` texts."""
    if not numbers:
        return content("ok", "<numbers><response>No numbers available</response></numbers>")
    items = []
    for n in numbers:
        if detailed:
            center, state = RATE_CENTERS.get(n[:3], ("SIMVILLE", "ZZ"))
            items.append(f"<did><number>{n}</number><ratecenter>{center}</ratecenter>"
                         f"<state>{state}</state></did>")
        else:
            items.append(f"<did>{n}</did>")
    return content("ok", f"<numbers>{''.join(items)}</numbers>")


class VitelitySimulator(Simulator):
    """Speaks Vitelity's `api.php`. Credentials: `login`, `password`."""

    name: ClassVar[str] = "knm_vitelity"
    content_type: ClassVar[str] = "text/xml"

    def __init__(self, login: str = "sim-login", password: str = "sim-password", *,
                 kazoo_fixtures: str | Path | None = None, **kw: Any) -> None:
        self.kazoo_fixtures = Path(kazoo_fixtures) if kazoo_fixtures else None
        super().__init__(login=login, password=password, **kw)
        #: what the account's DIDs have: E911 records, LIDB names, inbound CNAM lookups
        self.e911: dict[str, dict[str, str]] = {}
        self.lidb: dict[str, str] = {}
        self.cnam_lookup: dict[str, bool] = {}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.e911.clear()
            self.lidb.clear()
            self.cnam_lookup.clear()

    # -- carrier behaviour -------------------------------------------------------------------

    def check_auth(self, request: RecordedRequest) -> Response | None:
        params = request.params
        if (params.get("login") == self.credentials["login"]
                and params.get("pass") == self.credentials["password"]):
            return None
        return self._xml(fail("Invalid login or password (auth failed)"))

    def error_body(self, status: int, message: str) -> Response:
        return self._xml(fail(message), status)

    def malformed_body(self) -> bytes:
        return b'<?xml version="1.0"?><content><status>ok</status><numbers><did><number>98'

    def routes(self, app: FastAPI) -> None:
        @app.api_route("/api.php", methods=["GET", "POST"])
        async def api(request: Request) -> Response:
            return self._xml(self.handle(dict(request.query_params)))

    def handle(self, params: dict[str, str]) -> bytes:
        """The reply body for one command."""
        cmd = params.get("cmd", "")
        if params.get("xml") != "yes":
            return fail("this simulator answers xml=yes requests only")
        if self.kazoo_fixtures is not None and cmd in FIXTURES:
            return (self.kazoo_fixtures / FIXTURES[cmd]).read_bytes()
        if cmd == "listnpa":
            npa = params.get("npa", "")
            if len(npa) != 3 or not npa.isdigit():
                return fail("Invalid NPA")
            return numbers_xml(self.stock(npa, self.stock_size), detailed=True)
        if cmd == "listnpanxx":
            npanxx = params.get("npanxx", "")
            if len(npanxx) != 6 or not npanxx.isdigit():
                return fail("Invalid NPANXX")
            return numbers_xml(self.stock(npanxx, self.stock_size), detailed=True)
        if cmd == "listtollfree":
            limit = int(params.get("limit") or 100)
            found: list[str] = []
            for npa in TOLLFREE_NPAS:
                found.extend(self.stock(npa, 20))
            return numbers_xml(found[:limit], detailed=False)
        if cmd in ("getlocaldid", "gettollfree"):
            return self._buy(params, tollfree=cmd == "gettollfree")
        if cmd == "listdids":
            with self.lock:
                held = sorted(self.owned.items())
            items = "".join(
                f"<did><number>{national(n)}</number><ratecenter>"
                f"{RATE_CENTERS.get(national(n)[:3], ('SIMVILLE', 'ZZ'))[0]}</ratecenter>"
                f"<state>{RATE_CENTERS.get(national(n)[:3], ('SIMVILLE', 'ZZ'))[1]}</state>"
                f"<routesip>{escape(str(v.get('routesip') or ''))}</routesip></did>"
                for n, v in held)
            return content("ok", f"<numbers>{items}</numbers>")
        if cmd in FEATURE_COMMANDS:
            return self._feature(cmd, params)
        if cmd == "removedid":
            did = params.get("did", "")
            if self.release(e164(did)) is None:
                return fail("DID is not on your account")
            return content("ok", "<response>Removed</response>")
        return fail(f"Invalid command {cmd!r}")

    def _feature(self, cmd: str, params: dict[str, str]) -> bytes:
        number = e164(params.get("did", ""))
        with self.lock:
            if number not in self.owned:
                return fail("DID is not on your account")
            if cmd in ("e911checkaddress", "e911send"):
                verdict = addresses.fate(params.get("address"), params.get("zip"), "US")
                if verdict == addresses.INVALID:
                    return fail("Address not found in the MSAG")
                shown = {k: addresses.normalised(params.get(k)) for k in ADDRESS_KEYS}
                if verdict == addresses.CORRECTED:
                    if cmd == "e911send":
                        return fail("Address not found in the MSAG")
                    shown["address"] = addresses.corrected_street(params.get("address"))
                info = "<info>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in shown.items()
                                          ) + "</info>"
                if cmd == "e911checkaddress":
                    said = "corrected" if verdict == addresses.CORRECTED else "valid"
                    return content("ok", f"<response>{said}</response>{info}")
                self.e911[number] = {**shown, "name": params.get("name", "")}
                return content("ok", f"<response>E911 info updated</response>{info}")
            if cmd == "e911getinfo":
                found = self.e911.get(number)
                if found is None:
                    return fail("No E911 information for this DID")
                return content("ok", "<info>" + "".join(
                    f"<{k}>{escape(v)}</{k}>" for k, v in found.items()) + "</info>")
            if cmd == "e911delete":
                if self.e911.pop(number, None) is None:
                    return fail("No E911 information for this DID")
                return content("ok", "<response>E911 info removed</response>")
            if cmd == "lidb":
                name = params.get("name", "")
                if len(name) > 15:
                    return fail("Name is longer than 15 characters")
                if name:
                    self.lidb[number] = name
                else:
                    self.lidb.pop(number, None)
                return content("ok", "<response>ok</response>")
            self.cnam_lookup[number] = cmd == "cnamenable"
            return content("ok", "<response>ok</response>")

    def _buy(self, params: dict[str, str], *, tollfree: bool) -> bytes:
        did = params.get("did", "")
        if len(did) != 10 or not did.isdigit():
            return fail("Invalid DID")
        if (did[:3] in TOLLFREE_NPAS) != tollfree:
            return fail("Wrong command for this DID type")
        number = e164(did)
        with self.lock:
            if self.unavailable(number):
                return fail("DID not available")
            # routesip is optional (Freeside): without it the DID keeps the account's routing
            self.owned[number] = {"number": number, "routesip": params.get("routesip")}
        return content("ok", "<response>Success</response>")

    def _xml(self, body: bytes, status: int = 200) -> Response:
        return Response(body, status_code=status, media_type=self.content_type)
