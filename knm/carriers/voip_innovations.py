"""VoIP Innovations: the SOAP 1.1 "API v3" web service (`APIService.asmx`).

Wire format as Kazoo's `knm_voip_innovations` used it (reference/kazoo-http-carriers.md §6):
one POST per action with a `SOAPAction: http://tempuri.org/<action>` header, credentials inside
the envelope (`<tns:login>`, `<tns:secret>`), success iff `responseCode` is `100`. The service
has not been checked against a current VoIP Innovations document (the company was acquired);
treat it as "verify before relying on".

Kazoo quirks deliberately *not* reproduced (§15.6):
- values are XML-escaped, so a password with `<` or `&` cannot break (or inject into) the
  envelope;
- a 4–5 digit prefix is searched by its NPA and filtered, instead of crashing;
- a refused purchase keeps the carrier's status text; an unexpected number of `<DID>` entries
  is a malformed reply, not a crash.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier, parse_xml_text
from knm.phone import normalize
from knm.record import PhoneNumber

NAME = "knm_voip_innovations"
PRODUCTION_URL = "https://backoffice.voipinnovations.com/Services/APIService.asmx"
SANDBOX_URL = "http://dev.voipinnovations.com/VOIP/Services/APIService.asmx"
TNS = "http://tempuri.org/"
SUCCESS = "100"
#: the search filters of `getDIDs`, in the order the service expects them
GET_DIDS_KEYS = ("cnam", "lata", "npa", "nxx", "rateCenter", "state", "t38", "tier")

_ENVELOPE_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>"
    '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:tns="http://tempuri.org/"'
    ' xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
)


# -- pure request building ---------------------------------------------------------------------


def envelope(action: str, body: str, login: str, secret: str) -> str:
    """The SOAP envelope of `action`; `body` is already-escaped XML, credentials are escaped
    here."""
    return (f"{_ENVELOPE_HEAD}<tns:{action}>{body}"
            f"<tns:login>{escape(login)}</tns:login><tns:secret>{escape(secret)}</tns:secret>"
            f"</tns:{action}></env:Body></env:Envelope>")


def soap_headers(action: str) -> dict[str, str]:
    """Headers of one SOAP call: the action names the operation for the .asmx dispatcher."""
    return {"SOAPAction": TNS + action, "Accept": "*/*",
            "Content-Type": "text/xml;charset=UTF-8"}


def get_dids_body(**filters: str | None) -> str:
    """`getDIDs` filters: every key present, a missing one as `xsi:nil`."""
    parts = []
    for key in GET_DIDS_KEYS:
        value = filters.get(key)
        if value in (None, ""):
            parts.append(f"<tns:{key} xsi:nil='true'/>")
        else:
            parts.append(f"<tns:{key}>{escape(str(value))}</tns:{key}>")
    return "".join(parts)


def did_params_body(numbers: Sequence[str], endpoint_group: str | None = None) -> str:
    """`<tns:didParams>` for `assignDID` (with the endpoint group) or `releaseDID`."""
    items = []
    for number in numbers:
        epg = "" if endpoint_group is None else f"<tns:epg>{escape(endpoint_group)}</tns:epg>"
        items.append(f"<tns:DIDParam><tns:tn>{escape(tn(number))}</tns:tn>{epg}</tns:DIDParam>")
    return f"<tns:didParams>{''.join(items)}</tns:didParams>"


def query_did_body(number: str) -> str:
    return f"<tns:did>{escape(tn(number))}</tns:did>"


def tn(number: str) -> str:
    """The 10-digit form the service uses: `+14352154006` → `4352154006`."""
    return national_digits(normalize(number)) or normalize(number).removeprefix("+")


def national_digits(prefix: str) -> str | None:
    """NANP digits of an E.164 prefix (`+1435` → `435`); None for any other country."""
    text = prefix.strip()
    if text.startswith("+"):
        return text[2:] if text.startswith("+1") else None
    return text[1:] if len(text) == 11 and text.startswith("1") else text


def search_filters(digits: str) -> dict[str, str] | None:
    """`getDIDs` filters for NANP `digits`: an NPA, or Kazoo's 6-digit `nxx` (NPA+NXX).
    None when the prefix is too short to search."""
    if len(digits) < 3:
        return None
    if len(digits) < 6:
        return {"npa": digits[:3]}
    return {"nxx": digits[:6]}


# -- pure response parsing ---------------------------------------------------------------------


class SoapReply:
    """A parsed reply: the `<ACTIONResult>` element and its response code and message."""

    def __init__(self, root: ET.Element, action: str) -> None:
        self.root = root
        self.result = _first(root, f"{action}Result")
        if self.result is None:
            fault = soap_fault(root)
            raise ValueError(fault or f"no <{action}Result> in the reply")
        self.code = (_text(self.result, "responseCode") or "").strip()
        self.message = (_text(self.result, "responseMessage") or "").strip() or None

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS

    @classmethod
    def parse(cls, text: str | bytes, action: str) -> SoapReply:
        """`ValueError` for anything but a readable reply to `action`."""
        return cls(parse_xml_text(text), action)

    def dids(self) -> list[dict[str, str]]:
        """`<DIDs><DID>` entries as flat dicts of their texts."""
        return [_flat(el) for el in _children(self.result, "DIDs", "DID")]

    def locators(self) -> list[dict[str, str]]:
        """`<DIDLocators><DIDLocator>` entries (search results) as flat dicts."""
        return [_flat(el) for el in _children(self.result, "DIDLocators", "DIDLocator")]


def soap_fault(root: ET.Element) -> str | None:
    """The `faultstring` of a SOAP Fault, if the reply is one."""
    fault = _first(root, "Fault")
    if fault is None:
        return None
    return (_text(fault, "faultstring") or _text(fault, "faultcode") or "SOAP fault").strip()


def parse_search(reply: SoapReply, prefix: str, quantity: int) -> list[SearchResult]:
    """Numbers under E.164 `prefix` from a `getDIDs` reply, at most `quantity`."""
    results: list[SearchResult] = []
    for entry in reply.locators():
        number = normalize(entry.get("tn", ""))
        if not number.startswith("+") or not number.startswith(prefix):
            continue
        data = {"e164": number, "rate_center": entry.get("rateCenter"),
                "state": entry.get("state"), "cnam": _is_true(entry.get("outboundCNAM")),
                "t38": _is_true(entry.get("t38"))}
        locality = {"rate_center": data["rate_center"], "region": data["state"],
                    "country": "US"}
        results.append(SearchResult(
            number=number, carrier=NAME, state="discovery", carrier_data=data,
            locality={k: v for k, v in locality.items() if v and v != "ALL"}))
        if len(results) >= quantity:
            break
    return results


def fault_class(message: str | None) -> type[errors.CarrierFault]:
    """The knm error the service's words mean (it reports everything as text and codes)."""
    text = (message or "").lower()
    if any(word in text for word in ("login", "auth", "password", "credential", "secret")):
        return errors.CarrierCredentials
    return errors.CarrierFault


# -- the carrier ---------------------------------------------------------------------------------


class VoipInnovations(HttpCarrier):
    """US local and toll-free numbers from VoIP Innovations (SOAP)."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = PRODUCTION_URL
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "buy", "release", "check"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("login", str, required=True, description="API login"),
        Setting("password", str, required=True, secret=True,
                description="API secret (`<tns:secret>`)"),
        Setting("endpoint_group", str, default="",
                description="endpoint group (epg) bought numbers are assigned to"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """As in Kazoo, `sandbox_provisioning` points every call at the sandbox service
        unless a `base_url` is given."""
        given = config.get("base_url")
        out = super().validate_config(config)
        if not given and out.get("sandbox_provisioning"):
            out["base_url"] = SANDBOX_URL
        return out

    def extract_error_message(self, response: httpx.Response) -> str | None:
        try:
            root = parse_xml_text(response.content)
        except ValueError:
            return super().extract_error_message(response)
        fault = soap_fault(root)
        if fault:
            return fault
        message = _first(root, "responseMessage")
        if message is not None and message.text and message.text.strip():
            return message.text.strip()
        return super().extract_error_message(response)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        # .asmx answers every SOAP fault with HTTP 500; a client fault is our request's
        # problem (or our credentials'), not an outage
        if response.status_code == 500 and b"Fault" in response.content:
            try:
                code = _text(_first(parse_xml_text(response.content), "Fault"), "faultcode")
            except (ValueError, AttributeError):
                return None
            if code and code.rsplit(":", 1)[-1].startswith("Client"):
                return fault_class(message)
        return None

    # -- operations --------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        digits = national_digits(prefix)
        filters = None if digits is None else search_filters(digits)
        if filters is None:
            return []
        reply = self.call("getDIDs", get_dids_body(**filters), deadline=options.deadline,
                          idempotent=True)
        return parse_search(reply, "+1" + str(digits), quantity)

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        body = did_params_body([number.number], str(self.config.get("endpoint_group") or ""))
        reply = self.call("assignDID", body, number=number.number)
        did = self._one_did(reply, number.number, buying=True)
        number.update_carrier_data({"endpoint_group": self.config.get("endpoint_group") or None,
                                    "status": did.get("status") or None,
                                    "tier": did.get("tier") or None})
        return number

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        reply = self.call("releaseDID", did_params_body([number.number]), number=number.number)
        self._one_did(reply, number.number, buying=False)
        return number

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`queryDID` per number: its availability (`assigned`, …) where the service knows
        it; numbers it refuses are left out, so another carrier may answer for them."""
        out: dict[str, str] = {}
        for number in numbers:
            try:
                reply = self.call("queryDID", query_did_body(number), number=number,
                                  idempotent=True)
            except errors.CarrierCredentials:
                raise
            except errors.CarrierFault:
                continue
            for did in reply.dids():
                if did.get("statusCode") == SUCCESS and tn(number) == did.get("tn"):
                    out[number] = did.get("availability") or "assigned"
        return out

    # -- plumbing ----------------------------------------------------------------------------

    def call(self, action: str, body: str, *, deadline: float | None = None,
             number: str | None = None, idempotent: bool = False) -> SoapReply:
        """POST one SOAP action; a reply whose `responseCode` is not 100 raises."""
        content = envelope(action, body, str(self.config.get("login") or ""),
                           str(self.config.get("password") or ""))
        # the service URL names the .asmx itself: send it absolute (the client's base URL
        # would gain a trailing slash)
        response = self.post(str(self.config["base_url"]), content=content.encode("utf-8"),
                             headers=soap_headers(action), deadline=deadline, number=number,
                             idempotent=idempotent)
        try:
            reply = SoapReply.parse(response.content, action)
        except ValueError as exc:
            raise self.fault(errors.MalformedResponse, str(exc), number=number,
                             status=response.status_code) from None
        if not reply.ok:
            message = reply.message or f"responseCode {reply.code or '(none)'}"
            raise self.fault(fault_class(message), message, number=number,
                             status=response.status_code)
        return reply

    def _one_did(self, reply: SoapReply, number: str, *, buying: bool) -> dict[str, str]:
        dids = reply.dids()
        if len(dids) != 1:
            raise self.fault(errors.MalformedResponse,
                             f"expected one <DID> in the reply, got {len(dids)}", number=number)
        did = dids[0]
        if did.get("statusCode") == SUCCESS:
            return did
        message = did.get("status") or f"statusCode {did.get('statusCode') or '(none)'}"
        cls = fault_class(message)
        if buying and cls is errors.CarrierFault and "not available" in message.lower():
            cls = errors.NumberUnavailable
        raise self.fault(cls, message, number=number)


# -- helpers ---------------------------------------------------------------------------------------


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _first(root: ET.Element | None, name: str) -> ET.Element | None:
    if root is None:
        return None
    return next((el for el in root.iter() if _local(el.tag) == name), None)


def _text(root: ET.Element | None, name: str) -> str | None:
    element = _first(root, name)
    return None if element is None else (element.text or "")


def _children(root: ET.Element | None, container: str, item: str) -> list[ET.Element]:
    box = None if root is None else next(
        (el for el in root if _local(el.tag) == container), None)
    return [] if box is None else [el for el in box if _local(el.tag) == item]


def _flat(element: ET.Element) -> dict[str, str]:
    return {_local(child.tag): (child.text or "").strip() for child in element}


def _is_true(value: Any) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes")
