"""VoIP Innovations: the SOAP 1.1 "API 3.0" web service (`APIService.asmx`).

Wire format as Kazoo's `knm_voip_innovations` used it (reference/kazoo-http-carriers.md §6),
brought to VoIP Innovations' current wiki ("All API 3.0 Methods", "2.1 DID"; audit §2.4): one
POST per action with a `SOAPAction: http://tempuri.org/<action>` header, credentials inside
the envelope (`<tns:login>`, `<tns:secret>`), success iff `responseCode` is `100`.

- `getDIDs` searches by `npa`, by `npa` and `nxx` (three digits each, the wiki's separate
  criteria; Kazoo sent the six digits as `nxx`), and toll-free numbers with `state=TF` (the
  wiki: "Use 'TF' to browse toll-free DIDs"), the answer filtered by the whole prefix.
- `assignDID` sends per DID `tn`, `endpointId` (the `endpoint_group` setting: the wiki names
  `tn` and `endpointId` the required DIDParam fields), `refId` (knm's `order_reference`, which
  VI keeps with the DID) and, last, the same endpoint as `epg`: the DIDParam of the WSDL
  samples of 2017 (and Kazoo) names the field `epg`, and which name today's WSDL has is not
  verifiable here. An .asmx service by default ignores an element its schema does not name, so
  the one it knows is read and the other is dropped.
- `queryDID` settles a purchase or release whose answer was lost (assigned to us or not);
  `check` asks `queryDID` per number, or `auditDIDs` (every DID the account owns, one call)
  for more than `AUDIT_FROM` numbers.

VI's API sandbox "has since been deprecated": `sandbox_provisioning` keeps only its SPEC §12
meaning (pretend success while provisioning is disabled) and never changes the URL.

Kazoo quirks deliberately *not* reproduced (§15.6):
- values are XML-escaped, so a password with `<` or `&` cannot break (or inject into) the
  envelope;
- a 4–5 digit prefix is searched by its NPA and filtered, instead of crashing;
- a refused purchase keeps the carrier's status text; an unexpected number of `<DID>` entries
  is a malformed reply, not a crash.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from xml.sax.saxutils import escape

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier, classify_by_words
from knm.carriers.orders import OrderStatus, settling
from knm.carriers.payloads import children, first, flat, parse_xml_text, text_of
from knm.phone import is_us_tollfree, nanp_digits, national_number, normalize
from knm.record import PhoneNumber

NAME = "knm_voip_innovations"
PRODUCTION_URL = "https://backoffice.voipinnovations.com/Services/APIService.asmx"
TNS = "http://tempuri.org/"
SUCCESS = "100"
#: the search filters of `getDIDs`, in the order the service expects them
GET_DIDS_KEYS = ("cnam", "lata", "npa", "nxx", "rateCenter", "state", "t38", "tier")
#: `getDIDs`' state for toll-free numbers
TOLLFREE_STATE = "TF"
#: `check` of more numbers than this reads the whole account once (`auditDIDs`)
AUDIT_FROM = 10
#: the service reports everything as text: the knm error its words mean (first match wins)
FAULT_WORDS = (
    (("login", "auth", "password", "credential", "secret"), errors.CarrierCredentials),
    (("not available",), errors.NumberUnavailable),
)

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


def did_params_body(numbers: Sequence[str], endpoint_id: str | None = None,
                    ref_id: str | None = None) -> str:
    """`<tns:didParams>` for `assignDID` (with the endpoint group as `endpointId`, knm's
    reference as the customer-defined `refId`, and the endpoint again as the older WSDL's
    `epg`, last) or `releaseDID` (numbers only)."""
    items = []
    for number in numbers:
        parts = [f"<tns:tn>{escape(tn(number))}</tns:tn>"]
        if endpoint_id:
            parts.append(f"<tns:endpointId>{escape(endpoint_id)}</tns:endpointId>")
        if ref_id:
            parts.append(f"<tns:refId>{escape(ref_id)}</tns:refId>")
        if endpoint_id:
            parts.append(f"<tns:epg>{escape(endpoint_id)}</tns:epg>")
        items.append(f"<tns:DIDParam>{''.join(parts)}</tns:DIDParam>")
    return f"<tns:didParams>{''.join(items)}</tns:didParams>"


def query_did_body(number: str) -> str:
    return f"<tns:did>{escape(tn(number))}</tns:did>"


def tn(number: str) -> str:
    """The 10-digit form the service uses: `+14352154006` → `4352154006`."""
    return national_number(number)


def national_digits(prefix: str) -> str | None:
    """NANP digits of an E.164 prefix (`+1435` → `435`); None for any other country."""
    return nanp_digits(prefix)


def search_filters(digits: str) -> dict[str, str] | None:
    """`getDIDs` filters for NANP `digits`: toll-free numbers by `state=TF` (the answer is
    filtered by the prefix afterwards), others by `npa`, and with six digits or more by `npa`
    and `nxx` apart. None when the prefix is too short to search."""
    if len(digits) < 3:
        return None
    if is_us_tollfree(digits):
        return {"state": TOLLFREE_STATE}
    if len(digits) < 6:
        return {"npa": digits[:3]}
    return {"npa": digits[:3], "nxx": digits[3:6]}


# -- pure response parsing ---------------------------------------------------------------------


class SoapReply:
    """A parsed reply: the `<ACTIONResult>` element and its response code and message."""

    def __init__(self, root: ET.Element, action: str) -> None:
        self.root = root
        self.result = first(root, f"{action}Result")
        if self.result is None:
            fault = soap_fault(root)
            raise ValueError(fault or f"no <{action}Result> in the reply")
        self.code = (text_of(self.result, "responseCode") or "").strip()
        self.message = (text_of(self.result, "responseMessage") or "").strip() or None

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS

    @classmethod
    def parse(cls, text: str | bytes, action: str) -> SoapReply:
        """`ValueError` for anything but a readable reply to `action`."""
        return cls(parse_xml_text(text), action)

    def dids(self) -> list[dict[str, str]]:
        """`<DIDs><DID>` entries as flat dicts of their texts."""
        return [flat(el) for el in children(self.result, "DIDs", "DID")]

    def locators(self) -> list[dict[str, str]]:
        """`<DIDLocators><DIDLocator>` entries (search results) as flat dicts."""
        return [flat(el) for el in children(self.result, "DIDLocators", "DIDLocator")]


def soap_fault(root: ET.Element) -> str | None:
    """The `faultstring` of a SOAP Fault, if the reply is one."""
    fault = first(root, "Fault")
    if fault is None:
        return None
    return (text_of(fault, "faultstring") or text_of(fault, "faultcode") or "SOAP fault").strip()


def is_client_fault(root: ET.Element) -> bool:
    """A SOAP Fault blaming the request (`soap:Client`): the service read it and refused."""
    code = text_of(first(root, "Fault"), "faultcode")
    return bool(code) and code.rsplit(":", 1)[-1].startswith("Client")


def held_did(reply: SoapReply, number: str) -> dict[str, str] | None:
    """The `queryDID` entry of `number` when the account holds it (`assigned`)."""
    for did in reply.dids():
        if (did.get("statusCode") == SUCCESS and did.get("tn") == tn(number)
                and (did.get("availability") or "assigned") == "assigned"):
            return did
    return None


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


# -- the carrier ---------------------------------------------------------------------------------


class VoipInnovations(HttpCarrier):
    """US local and toll-free numbers from VoIP Innovations (SOAP)."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = PRODUCTION_URL
    fault_words = FAULT_WORDS
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "buy", "release", "check",
         "settle"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("login", str, required=True, description="API login"),
        Setting("password", str, required=True, secret=True,
                description="API secret (`<tns:secret>`)"),
        Setting("endpoint_group", str, default="",
                description="VoIP Innovations endpoint group (its numeric id) bought numbers "
                            "route to, sent as the DID's `endpointId` (and `epg`); needed to "
                            "buy"),
    )

    # -- hooks --------------------------------------------------------------------------------

    def parse_reply(self, response: httpx.Response, *, number: str | None = None
                    ) -> SoapReply:
        action = response.request.headers.get("SOAPAction", "").rsplit("/", 1)[-1]
        return self.parsed(SoapReply.parse, response.content, action, number=number)

    def check_reply(self, response: httpx.Response, body: Any) -> None:
        """A reply whose `responseCode` is not 100 is a refusal in words."""
        reply: SoapReply = body
        if not reply.ok:
            raise self.refusal(reply.message or f"responseCode {reply.code or '(none)'}",
                               status=response.status_code)

    def xml_error_message(self, root: ET.Element) -> str | None:
        fault = soap_fault(root)
        if fault:
            return fault
        message = first(root, "responseMessage")
        if message is not None and message.text and message.text.strip():
            return message.text.strip()
        return None

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        # .asmx answers every SOAP fault with HTTP 500; a client fault is our request's
        # problem (or our credentials'), not an outage
        if self._client_fault(response):
            return classify_by_words(message, FAULT_WORDS) or errors.CarrierFault
        return None

    def error_from_response(self, response: httpx.Response, *, number: str | None = None,
                            acts: bool = True) -> errors.CarrierFault:
        error = super().error_from_response(response, number=number, acts=acts)
        if self._client_fault(response):
            error.unsettled = False  # the service read the request and refused it
        return error

    # -- operations --------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        digits = national_digits(prefix)
        filters = None if digits is None else search_filters(digits)
        if filters is None:
            return []
        reply = self.soap("getDIDs", get_dids_body(**filters), deadline=options.deadline,
                          idempotent=True)
        return parse_search(reply, "+1" + str(digits), quantity)

    def endpoint_id(self) -> str:
        """The configured endpoint group; `CarrierMisconfigured` before anything is bought
        without one (VI requires `endpointId`, an integer, on every assigned DID)."""
        value = str(self.config.get("endpoint_group") or "").strip()
        if not value:
            raise errors.CarrierMisconfigured(self.name, "endpoint_group",
                                              "is required to buy numbers")
        if not value.isdigit():
            raise errors.CarrierMisconfigured(
                self.name, "endpoint_group", "must be the endpoint group's numeric id")
        return value

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        endpoint = self.endpoint_id()
        body = did_params_body([number.number], endpoint, self.order_reference(number))
        reply = self.soap("assignDID", body, number=number.number)
        did = self._one_did(reply, number.number)
        # the endpoint travels with the assignment: assigned is routed
        return self.learn(number, {"endpoint_group": endpoint, "routing_status": "routed",
                                   "status": did.get("status") or None,
                                   "tier": did.get("tier") or None})

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        reply = self.soap("releaseDID", did_params_body([number.number]), number=number.number)
        self._one_did(reply, number.number)
        return number

    def query(self, number: str) -> SoapReply:
        return self.soap("queryDID", query_did_body(number), number=number, idempotent=True)

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """The availability (`assigned`, …) of each number the service reports as ours or
        known: `queryDID` per number, or for more than `AUDIT_FROM` numbers one `auditDIDs`
        (every DID the account owns). Numbers it does not report are left out, so another
        carrier may answer for them."""
        if len(numbers) > AUDIT_FROM:
            owned = {did.get("tn"): did for did in self.soap(
                "auditDIDs", "", idempotent=True).dids()}
            return {number: owned[tn(number)].get("availability") or "assigned"
                    for number in numbers if tn(number) in owned}
        out: dict[str, str] = {}
        for number in numbers:
            try:
                reply = self.query(number)
            except errors.CarrierCredentials:
                raise
            except errors.CarrierFault:
                continue
            for did in reply.dids():
                if did.get("statusCode") == SUCCESS and tn(number) == did.get("tn"):
                    out[number] = did.get("availability") or "assigned"
        return out

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Assignments and releases are synchronous: `queryDID` says whether the DID is
        assigned to this account (its `refId` and `endpointId`, when VI echoes them, are
        kept; assigned to the configured endpoint is routed)."""
        return self.settle_held(number, held_did(self.query(number.number), number.number))

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """One `auditDIDs` (every DID the account owns) answers for all of them."""
        if budget < 1:
            return {}
        wanted = {tn(number): number for number in numbers}
        return {wanted[did["tn"]]: did
                for did in self.soap("auditDIDs", "", idempotent=True).dids()
                if did.get("tn") in wanted
                and (did.get("availability") or "assigned") == "assigned"}

    def settle_held(self, number: PhoneNumber, held: Any) -> OrderStatus:
        if settling(number) == "disconnect":
            if held is None:
                return OrderStatus("complete", "available", message="not assigned to us")
            return OrderStatus("failed", "assigned", message="still assigned to us")
        if held is None:
            return OrderStatus("failed", "available", message="not assigned to us")
        learnt = {k: v for k, v in (("status", held.get("status")), ("tier", held.get("tier")),
                                    ("ref_id", held.get("refId")),
                                    ("endpoint_id", held.get("endpointId"))) if v}
        wanted = str(self.config.get("endpoint_group") or "").strip()
        learnt["routing_status"] = ("routed" if wanted and held.get("endpointId") == wanted
                                    else "unknown")
        return OrderStatus("complete", "assigned", data=learnt)

    # -- plumbing ----------------------------------------------------------------------------

    def soap(self, action: str, body: str, *, deadline: float | None = None,
             number: str | None = None, idempotent: bool = False) -> SoapReply:
        """POST one SOAP action; a reply whose `responseCode` is not 100 raises."""
        content = envelope(action, body, str(self.config.get("login") or ""),
                           str(self.config.get("password") or ""))
        # the service URL names the .asmx itself: send it absolute (the client's base URL
        # would gain a trailing slash)
        return self.call("POST", str(self.config["base_url"]),
                         content=content.encode("utf-8"), headers=soap_headers(action),
                         deadline=deadline, number=number, idempotent=idempotent)

    def _one_did(self, reply: SoapReply, number: str) -> dict[str, str]:
        dids = reply.dids()
        if len(dids) != 1:
            raise self.fault(errors.MalformedResponse,
                             f"expected one <DID> in the reply, got {len(dids)}", number=number)
        did = dids[0]
        if did.get("statusCode") == SUCCESS:
            return did
        raise self.refusal(did.get("status") or f"statusCode {did.get('statusCode') or '(none)'}",
                           number=number)

    def _client_fault(self, response: httpx.Response) -> bool:
        if response.status_code != 500 or b"Fault" not in response.content:
            return False
        try:
            return is_client_fault(parse_xml_text(response.content))
        except ValueError:
            return False


def _is_true(value: Any) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes")
