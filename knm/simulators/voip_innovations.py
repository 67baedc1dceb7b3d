"""VoIP Innovations simulator: the SOAP 1.1 `APIService.asmx` (API v3).

Actions, chosen by the `SOAPAction` header (and checked against the body): `getDIDs`,
`assignDID`, `releaseDID`, `queryDID`. Credentials are `<login>`/`<secret>` in the envelope;
wrong ones get `responseCode` 301 (a stand-in: the real code is not documented where we could
check). Per-number status codes: 100 success, 106231 "Number currently available" (Kazoo's
fixture), 106230 "Number not available" (a stand-in). A request the service cannot read gets a
SOAP Fault with HTTP 500, as .asmx services answer.

`VoipInnovationsSimulator(kazoo_fixtures=dir)` answers with Kazoo's fixture files verbatim,
dispatched as Kazoo's TEST build did (`getDIDs` with npa 877 → the toll-free fixture).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from fastapi import FastAPI, Request
from starlette.responses import Response

from knm.simulators.base import RecordedRequest, Simulator, e164, national

PATHS = ("/", "/Services/APIService.asmx", "/VOIP/Services/APIService.asmx")
ACTIONS = ("getDIDs", "assignDID", "releaseDID", "queryDID")
FIXTURES = {"assignDID": "voip_innovations_assign_response.xml",
            "releaseDID": "voip_innovations_release_response.xml",
            "queryDID": "voip_innovations_query_response.xml",
            "getDIDs": "voip_innovations_get_response.xml"}
TOLLFREE_FIXTURE = "voip_innovations_get_tollfree_response.xml"
RATE_CENTERS = {"435": ("RICHFIELD", "UT"), "415": ("SAN FRANCISCO", "CA"),
                "212": ("NEW YORK CITY", "NY")}
AUTH_FAILED = ("301", "Invalid login or secret")


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


def did(tn: str, code: str, status: str, availability: str = "") -> str:
    return (f"<DID><tn>{tn}</tn><availability>{availability}</availability><rewrite/>"
            f"<status>{escape(status)}</status><statusCode>{code}</statusCode><tier>2</tier>"
            "<refId/><endpointId>0</endpointId><has411>false</has411><has911>false</has911>"
            "<cnam>false</cnam><t38>false</t38></DID>")


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
        if self.kazoo_fixtures is not None:
            name = FIXTURES[req.action]
            if req.action == "getDIDs" and req.value("npa") == "877":
                name = TOLLFREE_FIXTURE
            return (self.kazoo_fixtures / name).read_bytes()
        if req.action == "getDIDs":
            prefix = req.value("nxx") or req.value("npa") or ""
            if len(prefix) not in (3, 6) or not prefix.isdigit():
                return soap("getDIDs", result("200", "An NPA or NPA-NXX is required"))
            tns = self.stock(prefix, self.stock_size)
            return soap("getDIDs", result("100", "Success",
                                          locators="".join(locator(n) for n in tns)))
        if req.action == "assignDID":
            items = []
            with self.lock:
                for param in req.did_params():
                    tn, number = param.get("tn", ""), e164(param.get("tn", ""))
                    if self.unavailable(number):
                        items.append(did(tn, "106230", "Number not available"))
                        continue
                    self.owned[number] = {"number": number, "epg": param.get("epg")}
                    items.append(did(tn, "100", f"Assigned to endpoint '{param.get('epg')}' "
                                                f"rewritten as '{tn}' Tier 2", "assigned"))
            return soap("assignDID", result("100", "Success", dids="".join(items)))
        if req.action == "releaseDID":
            items = []
            for param in req.did_params():
                tn = param.get("tn", "")
                if self.release(e164(tn)) is None:
                    items.append(did(tn, "106231", "Number currently available", "available"))
                else:
                    items.append(did(tn, "100", "Released", "available"))
            return soap("releaseDID", result("100", "Success", dids="".join(items)))
        tn = national(e164(req.value("did") or ""))
        with self.lock:
            owned = e164(tn) in self.owned
        item = (did(tn, "100", "Number currently assigned to you", "assigned") if owned
                else did(tn, "106231", "Number currently available", "available"))
        return soap("queryDID", result("100", "Success", dids=item))

    def _xml(self, body: bytes, status: int = 200) -> Response:
        return Response(body, status_code=status, media_type=self.content_type)


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(root: ET.Element, name: str) -> str | None:
    element = next((el for el in root.iter() if _local(el.tag) == name), None)
    return None if element is None else (element.text or "").strip()
