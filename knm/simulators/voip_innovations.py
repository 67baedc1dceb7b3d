"""VoIP Innovations simulator: the SOAP 1.1 `APIService.asmx` (API 3.0).

Actions, chosen by the `SOAPAction` header (and checked against the body): `getDIDs`,
`assignDID`, `releaseDID`, `queryDID`, `auditDIDs`. Credentials are `<login>`/`<secret>` in the
envelope; wrong ones get `responseCode` 301 (a stand-in: the real code is not documented where
we could check). `getDIDs` takes `npa`, `npa` + `nxx` (three digits each) or `state=TF` for
toll-free numbers, as VI's wiki describes the criteria; a toll-free area code given as `npa`
finds nothing. `assignDID` needs each DIDParam's `endpointId` (the wiki: "tn and endpointId
are required"; the older WSDL's `epg` is read when `endpointId` is absent) and keeps its
`refId`, which `queryDID` and `auditDIDs` echo. Per-number status codes: 100 success, 106231
"Number currently available" (Kazoo's fixture), 106230 "Number not available" and 106232
"endpointId is required" (stand-ins). A request the service cannot read gets a SOAP Fault
with HTTP 500, as .asmx services answer.

`sim.kazoo_fixtures = dir` (or the constructor argument) answers with Kazoo's fixture files
verbatim, dispatched as Kazoo's TEST build did but for toll-free searches, which knm sends
as `state=TF` (Kazoo: `npa=877`) → the toll-free fixture.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from fastapi import FastAPI, Request
from starlette.responses import Response

from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator, e164, national

PATHS = ("/", "/Services/APIService.asmx")
ACTIONS = ("getDIDs", "assignDID", "releaseDID", "queryDID", "auditDIDs")
FIXTURES = {"assignDID": "voip_innovations_assign_response.xml",
            "releaseDID": "voip_innovations_release_response.xml",
            "queryDID": "voip_innovations_query_response.xml",
            "getDIDs": "voip_innovations_get_response.xml"}
TOLLFREE_FIXTURE = "voip_innovations_get_tollfree_response.xml"
RATE_CENTERS = {"435": ("RICHFIELD", "UT"), "415": ("SAN FRANCISCO", "CA"),
                "212": ("NEW YORK CITY", "NY")}
AUTH_FAILED = ("301", "Invalid login or secret")
#: toll-free numbers a `state=TF` search offers per toll-free area code
TOLLFREE_PER_NPA = 50


def soap(action: str, result: str) -> bytes:
    """A SOAP reply to `action` whose `<ACTIONResult>` holds `result`."""
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
            f'<{action}Response xmlns="http://tempuri.org/"><{action}Result>{result}'
            f"</{action}Result></{action}Response></soap:Body></soap:Envelope>").encode()


def result(code: str, message: str, dids: str = "", locators: str = "") -> str:
    return (f"<responseCode>{code}</responseCode>"
            f"<responseMessage>{escape(message)}</responseMessage>"
            f"<DIDs>{dids}</DIDs><DIDLocators>{locators}</DIDLocators><DIDCounts/>")


def did(tn: str, code: str, status: str, availability: str = "", *, ref_id: str = "",
        endpoint: str = "0") -> str:
    return (f"<DID><tn>{tn}</tn><availability>{availability}</availability><rewrite/>"
            f"<status>{escape(status)}</status><statusCode>{code}</statusCode><tier>2</tier>"
            f"<refId>{escape(ref_id)}</refId><endpointId>{escape(endpoint)}</endpointId>"
            "<has411>false</has411><has911>false</has911><cnam>false</cnam><t38>false</t38>"
            "</DID>")


def locator(tn: str) -> str:
    center, state = RATE_CENTERS.get(tn[:3], ("SIMVILLE", "ZZ"))
    return (f"<DIDLocator><tn>{tn}</tn><rateCenter>{center}</rateCenter><state>{state}</state>"
            "<tier>2</tier><lataId>660</lataId><outboundCNAM>true</outboundCNAM>"
            "<t38>true</t38></DIDLocator>")


def fault(message: str, code: str = "soap:Client") -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{escape(message)}"
            "</faultstring><detail/></soap:Fault></soap:Body></soap:Envelope>").encode()


class SoapRequest:
    """The action and its parameters, read from a request envelope."""

    def __init__(self, request: RecordedRequest) -> None:
        header = request.headers.get("soapaction", "").strip('"')
        self.action = header.rsplit("/", 1)[-1]
        root = SafeET.fromstring(request.body, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
        body = next((el for el in root.iter() if _local(el.tag) == self.action), None)
        if body is None:
            raise ValueError(f"no <{self.action}> element in the body")
        self.element = body
        self.login = _text(body, "login")
        self.secret = _text(body, "secret")

    def value(self, name: str) -> str | None:
        """A direct parameter; `xsi:nil` or empty is None."""
        element = next((el for el in self.element if _local(el.tag) == name), None)
        if element is None or not (element.text or "").strip():
            return None
        return element.text.strip()

    def did_params(self) -> list[dict[str, str]]:
        out = []
        for el in self.element.iter():
            if _local(el.tag) == "DIDParam":
                out.append({_local(c.tag): (c.text or "").strip() for c in el})
        return out


class VoipInnovationsSimulator(Simulator):
    """Speaks VoIP Innovations' SOAP API. Credentials: `login`, `secret`."""

    name: ClassVar[str] = "knm_voip_innovations"
    content_type: ClassVar[str] = "text/xml; charset=utf-8"

    def __init__(self, login: str = "sim-login", secret: str = "sim-secret", *,
                 kazoo_fixtures: str | Path | None = None, **kw: Any) -> None:
        self.kazoo_fixtures = Path(kazoo_fixtures) if kazoo_fixtures else None
        super().__init__(login=login, secret=secret, **kw)

    def check_auth(self, request: RecordedRequest) -> Response | None:
        try:
            soap_request = SoapRequest(request)
        except (ValueError, ET.ParseError, Exception) as exc:  # noqa: BLE001 - any unreadable body
            return self._xml(fault(f"Server was unable to read request: {exc}"), 500)
        if (soap_request.login, soap_request.secret) == (
                self.credentials["login"], self.credentials["secret"]):
            return None
        return self._xml(soap(soap_request.action, result(*AUTH_FAILED)))

    def error_body(self, status: int, message: str) -> Response:
        return self._xml(fault(message, "soap:Server"), status)

    def malformed_body(self) -> bytes:
        return (b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://sc'
                b'hemas.xmlsoap.org/soap/envelope/"><soap:Body><getDIDsResponse><getDIDsRes')

    def routes(self, app: FastAPI) -> None:
        async def endpoint(request: Request) -> Response:
            recorded = RecordedRequest(method="POST", path=request.url.path, query="",
                                       headers={k.lower(): v for k, v in request.headers.items()},
                                       body=await request.body())
            soap_request = SoapRequest(recorded)  # readable: check_auth ran first
            if soap_request.action not in ACTIONS:
                return self._xml(fault(f"Unknown SOAPAction {soap_request.action!r}"), 500)
            return self._xml(self.handle(soap_request))

        for path in PATHS:
            app.add_api_route(path, endpoint, methods=["POST"])

    def handle(self, req: SoapRequest) -> bytes:
        """The reply body of one action."""
        if self.kazoo_fixtures is not None and req.action in FIXTURES:
            name = FIXTURES[req.action]
            if req.action == "getDIDs" and req.value("state") == "TF":
                name = TOLLFREE_FIXTURE
            return (self.kazoo_fixtures / name).read_bytes()
        if req.action == "getDIDs":
            return self._get_dids(req)
        if req.action == "assignDID":
            return self._assign(req)
        if req.action == "releaseDID":
            items = []
            for param in req.did_params():
                tn = param.get("tn", "")
                if self.release(e164(tn)) is None:
                    items.append(did(tn, "106231", "Number currently available", "available"))
                else:
                    items.append(did(tn, "100", "Released", "available"))
            return soap("releaseDID", result("100", "Success", dids="".join(items)))
        if req.action == "auditDIDs":
            with self.lock:
                owned = sorted(self.owned.values(), key=lambda o: o["number"])
            items = "".join(self._owned_did(o, "Number currently assigned to you")
                            for o in owned)
            return soap("auditDIDs", result("100", "Success", dids=items))
        tn = national(e164(req.value("did") or ""))
        with self.lock:
            row = self.owned.get(e164(tn))
        item = (self._owned_did(row, "Number currently assigned to you") if row
                else did(tn, "106231", "Number currently available", "available"))
        return soap("queryDID", result("100", "Success", dids=item))

    def _get_dids(self, req: SoapRequest) -> bytes:
        npa, nxx, state = req.value("npa") or "", req.value("nxx") or "", req.value("state")
        if state == "TF":
            tns = [n for code in TOLLFREE_NPAS for n in self.stock(code, TOLLFREE_PER_NPA)]
        elif len(npa) == 3 and npa.isdigit() and (not nxx or (len(nxx) == 3
                                                                and nxx.isdigit())):
            # toll-free numbers are not in any rate center: `state=TF` browses them
            tns = [] if npa in TOLLFREE_NPAS else self.stock(npa + nxx, self.stock_size)
        else:
            return soap("getDIDs", result("200", "At least one search criteria must be "
                                                 "passed: an NPA (and NXX) or a state"))
        return soap("getDIDs", result("100", "Success",
                                      locators="".join(locator(n) for n in tns)))

    def _assign(self, req: SoapRequest) -> bytes:
        items = []
        with self.lock:
            for param in req.did_params():
                tn, number = param.get("tn", ""), e164(param.get("tn", ""))
                endpoint = param.get("endpointId") or param.get("epg") or ""
                if not endpoint.isdigit():
                    items.append(did(tn, "106232", "endpointId is required"))
                elif self.unavailable(number):
                    items.append(did(tn, "106230", "Number not available"))
                else:
                    self.owned[number] = {"number": number, "endpoint": endpoint,
                                          "ref_id": param.get("refId") or ""}
                    items.append(did(tn, "100", f"Assigned to endpoint '{endpoint}' "
                                                f"rewritten as '{tn}' Tier 2", "assigned",
                                     ref_id=param.get("refId") or "", endpoint=endpoint))
        return soap("assignDID", result("100", "Success", dids="".join(items)))

    @staticmethod
    def _owned_did(row: dict[str, Any], status: str) -> str:
        tn = national(row["number"])
        ref, endpoint = row.get("ref_id") or "", row.get("endpoint") or "0"
        return did(tn, "100", f"{status} with refid '{ref}' rewritten as '{tn}' to endpoint "
                              f"'{endpoint}'", "assigned", ref_id=ref, endpoint=endpoint)

    def _xml(self, body: bytes, status: int = 200) -> Response:
        return Response(body, status_code=status, media_type=self.content_type)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(root: ET.Element, name: str) -> str | None:
    element = next((el for el in root.iter() if _local(el.tag) == name), None)
    return None if element is None else (element.text or "").strip()
