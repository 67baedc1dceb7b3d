"""knm_twilio: Twilio REST API 2010-04-01 — available numbers, incoming phone numbers, release.

Requests are form-encoded with Twilio's PascalCase names, answers snake_case JSON, auth HTTP
Basic `AccountSid:AuthToken` (carriers/current-apis.md §3, audit §4.2). A search is
`GET …/AvailablePhoneNumbers/{CC}/{Local|TollFree|Mobile}.json`; a purchase is one
`POST …/IncomingPhoneNumbers.json` naming the number (`PhoneNumber`, never `AreaCode`: buying
"any number in an area code" is not idempotent and could buy a second number on a retry) and
routing it in the same request (`TrunkSid`, else `VoiceUrl`), answered 201 synchronously; a
release is `DELETE …/IncomingPhoneNumbers/{PN sid}.json` (204).

Twilio has no idempotency key, but buying a specific number is "idempotent by nature" (its
20500 error page). knm's `order_reference` travels as `FriendlyName`, and a purchase or
release whose answer was lost is settled by whether the account holds the number:
`GET …/IncomingPhoneNumbers.json?PhoneNumber=<e164>` (a pattern filter: the exact number is
kept from the page).

E911 (SPEC §13; reference/e911-cnam.md §2, twilio_api_v2010.json): Twilio validates an
address when it is created (`POST …/Addresses.json` with `EmergencyEnabled=true`) and, with
`AutoCorrectAddress` (its default), silently corrects it — so knm validates by creating one
that may be corrected and comparing what Twilio kept (another place: a correction, offered
as a choice; the trial address is deleted), then registers the address it validated with
`AutoCorrectAddress=false` and puts it on the number (`POST
…/IncomingPhoneNumbers/{PN}.json` `EmergencyAddressSid`). Registration is asynchronous:
`emergency_address_status` `pending-registration` → `registered` | `registration-failure`.
Twilio changes a registered address in two steps (null it, wait for `unregistered`, set the
new one): knm refuses a new address while the number holds one — remove it first. Inbound
caller names are `VoiceCallerIdLookup`.

Outbound caller names (reference/e911-cnam.md §2; twilio_trusthub_v1.json, the SDK's
`rest/trusthub/v1`, Twilio's CNAM onboarding guide) are Trust Hub **CNAM Trust Products**: a
product (`BU…`, policy `RNf3db3cd1fe25fcfd3c3ded065c8fea53`, the same in every account)
holds an EndUser of type `cnam_information` whose attribute `cnam_display_name` is the name,
and Twilio vets it per business (`draft` → `pending-review` → `in-review` →
`twilio-approved` | `twilio-rejected`). A number shows the name once assigned to an approved
product: `POST {trusthub_url}/TrustProducts/{BU}/ChannelEndpointAssignments`
(`ChannelEndpointType=phone-number`, `ChannelEndpointSid=PN…`) → an `RA…` assignment,
removed by `DELETE …/ChannelEndpointAssignments/{RA}`. knm never creates or submits a
product (vetting is the business's paperwork, done in Twilio's console): it finds the
approved product whose display name is the one asked (`cnam_products` maps names to products
outright; else the CNAM products are listed and their names read, cached
`CNAM_NAME_TTL_S`), assigns the number to it, and only then deletes the assignment knm made
before — a failure keeps the previous name. A name no approved product carries is refused
(`400`, saying to create and vet one); a toll-free or non-US number before any call (`501`).
An assignment whose answer was lost is PENDING, settled by reading the product's assignments.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.features import (
    ERROR,
    INTERRUPTED,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    AddressCheck,
    FeatureStatus,
    squeezed,
)
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import (
    OrderStatus,
    held_in_pages,
    linked_pages,
    poll_feature,
    settled_by_holding,
)
from knm.carriers.payloads import ERROR_PREFIX_BYTES
from knm.phone import is_us_tollfree, nanp_digits, region_of
from knm.record import PhoneNumber

NAME = "knm_twilio"
API_VERSION = "2010-04-01"
#: Twilio's codes meaning the number cannot be had (21422: not available; 21452: none left in
#: the area code — unverified, from Twilio's test-credentials pages)
UNAVAILABLE_CODES = frozenset({21422, 21452})
#: countries whose numbers share the +1 dial code and that Twilio lists under their own code
NANP_COUNTRIES = ("US", "CA")
#: most available numbers asked for at once (the spec's PageSize bound; the real cap of this
#: list is unverified)
MAX_PAGE_SIZE = 1000
#: owned-number rows read per lookup (the PhoneNumber filter is a pattern)
LOOKUP_PAGE_SIZE = 50
#: rows per page of a holdings listing (Twilio's most)
LISTING_PAGE_SIZE = 1000
#: SearchOptions.extra flag → Twilio capability filter
CAPABILITY_FILTERS = {"voice": "VoiceEnabled", "sms": "SmsEnabled", "mms": "MmsEnabled",
                      "fax": "FaxEnabled"}
#: a number's `emergency_address_status` → knm's feature state
EMERGENCY_STATES = {"registered": PROVISIONED, "pending-registration": PENDING,
                    "registration-failure": ERROR, "unregistered": ERROR,
                    "pending-unregistration": ERROR, "unregistration-failure": ERROR}
#: Twilio's codes for an address it cannot validate (21628) — unverified, like the rest of
#: the error codes here
INVALID_ADDRESS_CODES = frozenset({21628, 21629, 21615})
#: SearchOptions.extra key → Twilio locality filter
LOCALITY_FILTERS = {"region": "InRegion", "administrative_area": "InRegion",
                    "locality": "InLocality", "postal_code": "InPostalCode",
                    "rate_center": "InRateCenter", "lata": "InLata"}
#: Trust Hub's root (a second host: its paths are `/v1/TrustProducts`, `/v1/EndUsers`, …)
TRUSTHUB_URL = "https://trusthub.twilio.com/v1"
#: the policy of CNAM Trust Products — "a static value that will stay the same across all
#: accounts" (Twilio's CNAM onboarding guide)
CNAM_POLICY_SID = "RNf3db3cd1fe25fcfd3c3ded065c8fea53"
#: the EndUser type that carries a CNAM product's name, and the attribute holding it
CNAM_END_USER_TYPE = "cnam_information"
CNAM_NAME_ATTRIBUTE = "cnam_display_name"
#: a Trust Product's statuses (trust_product_enum_status)
APPROVED, REJECTED = "twilio-approved", "twilio-rejected"
VETTING = frozenset({"draft", "pending-review", "in-review"})
#: Twilio's rule for a CNAM name: at most 15 characters, a letter first, then letters,
#: digits, periods, commas and spaces
CNAM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9., ]{0,14}")
#: how long a product's display name is trusted before it is read again (a product's name
#: changes only through Twilio's vetting, so minutes are safe; its status is read every time)
CNAM_NAME_TTL_S = 600.0
#: Trust Hub pages read per listing (of `TRUSTHUB_PAGE_SIZE` rows each), at most
TRUSTHUB_PAGES = 20
TRUSTHUB_PAGE_SIZE = 100


# -- pure request building ---------------------------------------------------------------------


def account_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{quote(account_sid, safe='')}"


def number_kind(prefix: str, options: SearchOptions) -> str:
    """Which list of Twilio's a search reads: `TollFree` for toll-free prefixes (or
    `extra["tollfree"]`), `Mobile` for `extra["mobile"]` or a UK `+447` prefix, else `Local`."""
    if options.extra.get("tollfree"):
        return "TollFree"
    if options.extra.get("mobile"):
        return "Mobile"
    digits = nanp_digits(prefix)
    if digits is not None:
        return "TollFree" if is_us_tollfree(digits) else "Local"
    if prefix.startswith("+447"):
        return "Mobile"
    if prefix.startswith(("+4480", "+44800", "+44808")):
        return "TollFree"
    return "Local"


def search_request(prefix: str, quantity: int, options: SearchOptions
                   ) -> tuple[str, str, dict[str, str]] | None:
    """(country, list, query) of a search under E.164 `prefix`; None when the prefix names no
    country. The prefix travels as `AreaCode` (NANP) and, when it says more or less than an
    area code, as an anchored `Contains` (`+` and its digits: Twilio matches from the start);
    the other filters come from `options.extra`."""
    digits = nanp_digits(prefix)
    if digits is not None:
        country = options.country if options.country in NANP_COUNTRIES else "US"
    else:
        country = region_of(prefix) or ""
        if not country:
            return None
    kind = number_kind(prefix, options)
    params: dict[str, str] = {"PageSize": str(max(1, min(quantity, MAX_PAGE_SIZE)))}
    if digits is not None and len(digits) >= 3:
        params["AreaCode"] = digits[:3]
    whole = prefix.lstrip("+")
    if options.extra.get("contains"):
        params["Contains"] = str(options.extra["contains"])
    elif (digits is not None and digits and len(digits) != 3) or (
            digits is None and len(whole) >= 2):
        params["Contains"] = "+" + whole
    for key, name in CAPABILITY_FILTERS.items():
        if options.extra.get(key):
            params[name] = "true"
    for key, name in LOCALITY_FILTERS.items():
        if options.extra.get(key):
            params[name] = str(options.extra[key])
    return country, kind, params


def purchase_form(number: str, reference: str, config: Mapping[str, Any]) -> dict[str, str]:
    """The `POST IncomingPhoneNumbers.json` form buying `number` and routing it here: the
    trunk when one is set (Twilio then ignores voice URLs), else the voice URL."""
    form = {"PhoneNumber": number, "FriendlyName": reference}
    if config.get("trunk_sid"):
        form["TrunkSid"] = str(config["trunk_sid"])
    else:
        form["VoiceUrl"] = str(config["voice_url"])
        if config.get("voice_method"):
            form["VoiceMethod"] = str(config["voice_method"])
    for key, name in (("address_sid", "AddressSid"), ("bundle_sid", "BundleSid")):
        if config.get(key):
            form[name] = str(config[key])
    return form


def lookup_params(number: str) -> dict[str, str]:
    return {"PhoneNumber": number, "PageSize": str(LOOKUP_PAGE_SIZE)}


# -- pure response parsing ---------------------------------------------------------------------


def to_results(doc: Any, prefix: str, kind: str, limit: int) -> list[SearchResult]:
    """Search results under `prefix` from an AvailablePhoneNumbers page; `ValueError` for an
    answer without the list."""
    rows = doc.get("available_phone_numbers") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("search answer without available_phone_numbers")
    out: list[SearchResult] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        number = row.get("phone_number")
        if not isinstance(number, str) or not number.startswith(prefix):
            continue
        data = {"kind": kind, **{k: row[k] for k in ("iso_country", "address_requirements",
                                                      "capabilities") if k in row}}
        out.append(SearchResult(number, NAME, carrier_data=data, locality=_locality(row)))
        if len(out) >= limit:
            break
    return out


def held_row(doc: Any, number: str) -> dict[str, Any] | None:
    """The account's IncomingPhoneNumber for exactly `number` in a list page, if any."""
    rows = doc.get("incoming_phone_numbers") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("list answer without incoming_phone_numbers")
    return next((r for r in rows if isinstance(r, dict) and r.get("phone_number") == number),
                None)


def purchase_data(doc: Any, number: str) -> dict[str, Any]:
    """What a purchase answer tells knm to keep; `ValueError` unless it is the number's
    IncomingPhoneNumber with its `PN…` sid."""
    if not isinstance(doc, dict) or not doc.get("sid") or doc.get("phone_number") != number:
        raise ValueError("purchase answer without the number's sid")
    return {"twilio_sid": str(doc["sid"]), "friendly_name": doc.get("friendly_name"),
            "trunk_sid": doc.get("trunk_sid"), "voice_url": doc.get("voice_url")}


def address_form(address: Address, number: str, *, correct: bool) -> dict[str, str]:
    """`POST Addresses.json` for an emergency address of `number` (`FriendlyName` names the
    number: at most 32 characters for emergency addresses)."""
    form = {"CustomerName": address.caller_name or "Valued Customer",
            "Street": address.street_address, "City": address.locality,
            "Region": address.region, "PostalCode": address.postal_code,
            "IsoCountry": address.country, "FriendlyName": f"knm {number}"[:32],
            "EmergencyEnabled": "true", "AutoCorrectAddress": "true" if correct else "false"}
    if address.extended_address:
        form["StreetSecondary"] = address.extended_address
    return form


def from_twilio(doc: Any, given: Address) -> Address:
    """The address an Address resource holds, the parts it leaves out taken from `given`."""
    doc = doc if isinstance(doc, dict) else {}

    def part(key: str, fallback: str) -> str:
        value = doc.get(key)
        return str(value).strip() if isinstance(value, str) and value.strip() else fallback

    return Address(street_address=part("street", given.street_address),
                   extended_address=part("street_secondary", given.extended_address),
                   locality=part("city", given.locality), region=part("region", given.region),
                   postal_code=part("postal_code", given.postal_code),
                   country=part("iso_country", given.country),
                   caller_name=given.caller_name)


def to_emergency_status(row: Any) -> FeatureStatus:
    """An IncomingPhoneNumber's emergency registration as knm's feature state; `data`
    names the address it holds. `ValueError` for an answer that is not the number."""
    if not isinstance(row, dict) or "emergency_address_status" not in row:
        raise ValueError("number answer without emergency_address_status")
    word = str(row.get("emergency_address_status") or "unregistered")
    state = EMERGENCY_STATES.get(word, PENDING)
    return FeatureStatus(state, word, {"e911_address_sid": row.get("emergency_address_sid")},
                         message=f"Twilio says {word}" if state == ERROR else None)


def error_parts(body: bytes) -> tuple[int | None, str | None]:
    """Twilio's error `code` and `message` from an error body (`{"code": 21422, "message",
    "more_info", "status"}`), each None when absent."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    code = doc.get("code")
    message = doc.get("message")
    return (code if isinstance(code, int) else None,
            message if isinstance(message, str) and message else None)


def cnam_name_fault(name: str) -> str | None:
    """Why Twilio would not take `name` as a CNAM display name; None when it would."""
    if len(name) > 15:
        return "a Twilio caller name is at most 15 characters"
    if not CNAM_NAME.fullmatch(name):
        return ("a Twilio caller name starts with a letter and holds only letters, digits, "
                "periods, commas and spaces")
    return None


def trusthub_page(doc: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of one Trust Hub list page (`results`, named by `meta.key`) and its
    `meta.next_page_url`; `ValueError` for an answer that is not a page."""
    meta = doc.get("meta") if isinstance(doc, dict) else None
    key = meta.get("key") if isinstance(meta, dict) else None
    rows = doc.get(key or "results") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("Trust Hub answer without a results list")
    following = meta.get("next_page_url") if isinstance(meta, dict) else None
    return [r for r in rows if isinstance(r, dict)], \
        following if isinstance(following, str) and following else None


def display_name_of(end_user: Any) -> str | None:
    """The `cnam_display_name` of a `cnam_information` EndUser (its `attributes` an object,
    or that object as JSON text); None when it holds none."""
    if not isinstance(end_user, dict) or end_user.get("type") not in (None, CNAM_END_USER_TYPE):
        return None
    attributes = end_user.get("attributes")
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes)
        except ValueError:
            return None
    name = attributes.get(CNAM_NAME_ATTRIBUTE) if isinstance(attributes, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


def assignment_sid(doc: Any, pn: str) -> str:
    """The `RA…` sid of a channel-endpoint assignment answer for number `pn`; `ValueError`
    otherwise."""
    if not isinstance(doc, dict) or not str(doc.get("sid") or "").startswith("RA") or \
            doc.get("channel_endpoint_sid") not in (None, pn):
        raise ValueError("assignment answer without the number's RA sid")
    return str(doc["sid"])


def assignment_ref(product: str | None, assignment: str | None) -> str | None:
    """`BU…/RA…`: how knm keeps an assignment it made (both sids are needed to delete it)."""
    return f"{product}/{assignment}" if product and assignment else None


def split_ref(ref: Any) -> tuple[str | None, str | None]:
    product, _, assignment = str(ref or "").partition("/")
    return product or None, assignment or None


def _locality(row: dict[str, Any]) -> dict[str, Any] | None:
    locality = {"city": row.get("locality"), "region": row.get("region"),
                "country": row.get("iso_country"), "rate_center": row.get("rate_center")}
    locality = {k: v for k, v in locality.items() if v}
    return locality or None


# -- the carrier ---------------------------------------------------------------------------------


class Twilio(HttpCarrier):
    """Twilio numbers (US, Canada and the countries Twilio sells), routed to an Elastic SIP
    trunk (`trunk_sid`) or a voice webhook (`voice_url`)."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = "https://api.twilio.com"
    #: national digits a search prefix may have (Kazoo's `maximal_prefix_length`)
    maximal_prefix_length: ClassVar[int] = 10
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "search_mobile", "international",
         "buy", "release", "check", "locality", "settle", "e911", "cnam"})
    reads_interrupted: ClassVar[frozenset[str]] = frozenset({"e911"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("account_sid", required=True,
                description="Account SID (`AC…`): the Basic-auth user and the account path"),
        Setting("auth_token", required=True, secret=True,
                description="Auth Token (Basic-auth password)"),
        Setting("trunk_sid", description="Elastic SIP trunk (`TK…`) bought numbers route to; "
                                         "this or `voice_url` is needed to buy"),
        Setting("voice_url", description="voice webhook bought numbers route to when no "
                                         "`trunk_sid` is set"),
        Setting("voice_method", description="HTTP method of `voice_url` (Twilio's default: "
                                            "POST)"),
        Setting("address_sid", description="address (`AD…`) sent with purchases, for numbers "
                                           "that require one"),
        Setting("bundle_sid", description="regulatory bundle (`BU…`) sent with purchases in "
                                          "regulated countries"),
        Setting("trusthub_url", default=TRUSTHUB_URL,
                description="Trust Hub API root (outbound caller names); point it at a "
                            "simulator to test offline"),
        Setting("cnam_policy_sid", default=CNAM_POLICY_SID,
                description="policy (`RN…`) of the CNAM Trust Products whose names knm "
                            "assigns"),
        Setting("cnam_products", dict,
                description="caller name → the approved CNAM Trust Product (`BU…`) that "
                            "carries it, used instead of reading the products' names"),
    )

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        #: product sid → (its display name or None, monotonic time it expires)
        self._cnam_names: dict[str, tuple[str | None, float]] = {}
        self._cnam_lock = threading.Lock()

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": self.basic_auth(str(self.config["account_sid"]),
                                                 str(self.config["auth_token"])),
                "Accept": "application/json"}

    def extract_error_message(self, response: httpx.Response) -> str | None:
        """`<code>: <message>` of Twilio's error body, else the common shapes."""
        code, message = error_parts(response.content[:ERROR_PREFIX_BYTES])
        if message is not None:
            return f"{code}: {message}" if code is not None else message
        return super().extract_error_message(response)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        code, _ = error_parts(response.content[:ERROR_PREFIX_BYTES])
        return errors.NumberUnavailable if code in UNAVAILABLE_CODES else None

    @property
    def account(self) -> str:
        return account_path(str(self.config["account_sid"]))

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        request = search_request(prefix, quantity, options)
        if request is None:
            return []
        country, kind, params = request
        doc = self.call("GET", f"{self.account}/AvailablePhoneNumbers/{country}/{kind}.json",
                        params=params, deadline=options.deadline)
        return self.parsed(to_results, doc, prefix, kind, quantity)

    # -- purchase, release --------------------------------------------------------------------

    def routing_setting(self) -> str:
        """The routing setting in use; `CarrierMisconfigured` before anything is bought when
        neither is set (a number bought unrouted would ring nowhere)."""
        if self.config.get("trunk_sid"):
            return "trunk_sid"
        if self.config.get("voice_url"):
            return "voice_url"
        raise errors.CarrierMisconfigured(self.name, "trunk_sid",
                                          "(or voice_url) is required to buy numbers")

    def can_route(self) -> bool:
        return bool(self.config.get("trunk_sid") or self.config.get("voice_url"))

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        self.routing_setting()
        form = purchase_form(num, self.order_reference(number), self.config)
        doc = self.call("POST", f"{self.account}/IncomingPhoneNumbers.json", data=form,
                        number=num)
        self.learn(number, self.parsed(purchase_data, doc, num, number=num))
        routed = self.routed(doc)
        if not routed:
            self.log.warning("%s: %s bought, but Twilio's answer does not show it routed",
                             self.name, num)
        return self.learn(number, {"routing_status": "routed" if routed else "unknown"})

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        row = self.held(num)
        if row is None or not row.get("sid"):
            raise errors.CarrierNotFound(self.name, f"{num} is not a number of this account",
                                         number=num)
        sid = str(row["sid"])
        self.delete(f"{self.account}/IncomingPhoneNumbers/{quote(sid, safe='')}.json",
                    number=num)
        return self.learn(number, {"twilio_sid": sid})

    # -- check, settle ------------------------------------------------------------------------

    def held(self, number: str) -> dict[str, Any] | None:
        """The account's IncomingPhoneNumber for `number`, if it holds it."""
        doc = self.call("GET", f"{self.account}/IncomingPhoneNumbers.json",
                        params=lookup_params(number), number=number)
        return self.parsed(held_row, doc, number, number=number)

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` for each number the account holds; others are left out."""
        return {num: "in_service" for num in numbers if self.held(num) is not None}

    def routed(self, row: Mapping[str, Any]) -> bool:
        """Whether the account's IncomingPhoneNumber routes as configured."""
        if self.routing_setting() == "trunk_sid":
            return row.get("trunk_sid") == self.config["trunk_sid"]
        return not row.get("trunk_sid") and row.get("voice_url") == self.config["voice_url"]

    def reroute(self, number: str, sid: str) -> dict[str, Any]:
        """Route a held number as configured (`POST IncomingPhoneNumbers/{sid}.json`); what
        became of it, as carrier data. A failure is recorded, not raised."""
        form = {k: v for k, v in purchase_form(number, "", self.config).items()
                if k in ("TrunkSid", "VoiceUrl", "VoiceMethod")}
        form.setdefault("TrunkSid", "")  # a voice URL is ignored while a trunk is set
        try:
            self.call("POST", f"{self.account}/IncomingPhoneNumbers/{quote(sid, safe='')}.json",
                      data=form, number=number)
        except errors.KnmError as exc:
            status = "unknown" if exc.unsettled else "failed"
            self.log.warning("%s: %s held but not routed (%s): %s", self.name, number, status,
                             self.scrub(exc))
            return {"routing_status": status}
        return {"routing_status": "routed"}

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Purchases and releases are synchronous: settled by whether the account holds the
        number (a held number is ours whatever its FriendlyName says). The purchase routed
        the number in the same request; a held number routed elsewhere is routed as
        configured (an idempotent update: nothing is bought or released)."""
        return self.settle_held(number, self.held(number.number))

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """The account's IncomingPhoneNumbers, a thousand a page (`next_page_uri`)."""
        pages = linked_pages(
            lambda params: self.call("GET", f"{self.account}/IncomingPhoneNumbers.json",
                                     params=params),
            {"PageSize": str(LISTING_PAGE_SIZE)},
            rows=lambda doc: doc.get("incoming_phone_numbers") if isinstance(doc, dict) else None,
            next_link=lambda doc: doc.get("next_page_uri") if isinstance(doc, dict) else None)
        return held_in_pages(pages, numbers, budget, lambda row: row.get("phone_number"))

    def settle_held(self, number: PhoneNumber, row: Any) -> OrderStatus:
        data: dict[str, Any] = {"twilio_sid": row.get("sid"),
                                "friendly_name": row.get("friendly_name")} if row else {}
        status = str((row or {}).get("status") or "in-use")
        return settled_by_holding(
            number, row, data, holder="account", held_status=status,
            routed=lambda: self.routed(row) if self.can_route() else None,
            route=lambda: self.reroute(number.number, str(row.get("sid"))))

    # -- number features (SPEC §13) -----------------------------------------------------------

    def _number_path(self, number: PhoneNumber) -> str:
        """`…/IncomingPhoneNumbers/{PN}.json` of the number (its sid from its carrier data,
        else looked up)."""
        sid = number.carrier_data.get("twilio_sid")
        if not sid:
            row = self.held(number.number)
            if row is None or not row.get("sid"):
                raise errors.CarrierNotFound(self.name, f"{number.number} is not a number of "
                                             "this account", number=number.number)
            sid = row["sid"]
        return f"{self.account}/IncomingPhoneNumbers/{quote(str(sid), safe='')}.json"

    def _address_path(self, sid: str) -> str:
        return f"{self.account}/Addresses/{quote(sid, safe='')}.json"

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        """Twilio validates when it creates an address: a trial one, corrected if need be,
        compared with the address given, then deleted."""
        num = number.number
        try:
            doc = self.call("POST", f"{self.account}/Addresses.json", number=num,
                            data=address_form(address, num, correct=True))
        except errors.CarrierFault as exc:
            said = exc.carrier_message or ""  # `<code>: <message>` (extract_error_message)
            code, _, message = said.partition(": ")
            if exc.status == 400 and code.isdigit() and int(code) in INVALID_ADDRESS_CODES:
                return AddressCheck("invalid", address, message=message or said)
            raise
        kept = from_twilio(doc, address)
        if isinstance(doc, dict) and doc.get("sid"):
            self._forget_address(str(doc["sid"]), num)
        if kept.same_place(address):
            return AddressCheck("valid", kept)
        return AddressCheck("corrected", address, [kept])

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        num = number.number
        path = self._number_path(number)
        current = self.parsed(to_emergency_status, self.call("GET", path, number=num),
                              number=num)
        if current.data.get("e911_address_sid") or current.carrier_status not in (
                "unregistered", ""):
            raise self.refusal(f"Twilio holds an emergency address for {num} "
                               f"({current.carrier_status}): it changes one in two steps — "
                               "remove it first, then set the new one once it is "
                               "unregistered", number=num)
        created = self.call("POST", f"{self.account}/Addresses.json", number=num,
                            data=address_form(address, num, correct=False))
        sid = str(created.get("sid") or "") if isinstance(created, dict) else ""
        if not sid:
            raise self.fault(errors.MalformedResponse, "address answer without a sid",
                             number=num)
        learnt = {"twilio_sid": path.rsplit("/", 1)[-1].removesuffix(".json"),
                  "e911_address_sid": sid}
        try:
            doc = self.call("POST", path, number=num, data={"EmergencyAddressSid": sid})
        except errors.KnmError as exc:
            if not exc.unsettled:
                self._forget_address(sid, num)
                raise
            return FeatureStatus(PENDING, "unknown", learnt, from_twilio(created, address),
                                 message=self.scrub(str(exc)))
        first = self.parsed(to_emergency_status, doc, number=num)
        status = poll_feature(self, lambda: self.parsed(
            to_emergency_status, self.call("GET", path, number=num), number=num), first)
        if status.state == ERROR:
            self.call("POST", path, number=num, data={"EmergencyAddressSid": ""})
            self._forget_address(sid, num)
            return status
        return FeatureStatus(status.state, status.carrier_status, learnt,
                             from_twilio(created, address), status.message)

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        num = number.number
        path = self._number_path(number)
        status = self.parsed(to_emergency_status, self.call("GET", path, number=num),
                             number=num)
        if number.carrier_data.get(INTERRUPTED):
            return self._held_emergency(path, num, status)
        wanted, held = number.carrier_data.get("e911_address_sid"), status.data.get(
            "e911_address_sid")
        if wanted and held != wanted:
            return FeatureStatus(ERROR, status.carrier_status,
                                 message=f"Twilio holds {held or 'no address'} for the "
                                         f"number, not {wanted}")
        status.data = {}
        return status

    def _held_emergency(self, path: str, num: str, status: FeatureStatus) -> FeatureStatus:
        """For a save whose process died (knm never learnt its address sid): the Address the
        number names now; none (`unregistered`) is `REMOVED`."""
        held = status.data.get("e911_address_sid")
        if not held:
            return FeatureStatus(REMOVED, status.carrier_status or "unregistered")
        doc = self.call("GET", self._address_path(str(held)), number=num)
        return FeatureStatus(status.state, status.carrier_status,
                             {"twilio_sid": path.rsplit("/", 1)[-1].removesuffix(".json"),
                              "e911_address_sid": str(held)},
                             from_twilio(doc, Address("", "", "", "", country="")),
                             status.message)

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        """Null the number's emergency address (Twilio unregisters it); the address itself is
        deleted once nothing uses it (a failure leaves it in the account's addresses)."""
        num = number.number
        doc = self.call("POST", self._number_path(number), number=num,
                        data={"EmergencyAddressSid": ""})
        previous = number.carrier_data.get("e911_address_sid")
        if previous:
            self._forget_address(str(previous), num)
        word = doc.get("emergency_address_status") if isinstance(doc, dict) else None
        return FeatureStatus(REMOVED, str(word or "pending-unregistration"),
                             {"e911_address_sid": None})

    def _forget_address(self, sid: str, number: str) -> None:
        try:
            self.delete(self._address_path(sid), number=number)
        except errors.KnmError as exc:
            self.log.warning("%s: address %s of %s not deleted: %s", self.name, sid, number,
                             self.scrub(exc))

    # -- outbound caller names: Trust Hub CNAM products ---------------------------------------

    @property
    def trusthub(self) -> str:
        return str(self.config.get("trusthub_url") or TRUSTHUB_URL).rstrip("/")

    def _product_path(self, product: str) -> str:
        return f"{self.trusthub}/TrustProducts/{quote(product, safe='')}"

    def _pn_sid(self, number: PhoneNumber) -> str:
        """The number's `PN…` sid (carrier data, else looked up)."""
        return self._number_path(number).rsplit("/", 1)[-1].removesuffix(".json")

    def _cnam_eligible(self, num: str) -> None:
        """Twilio lists caller names on US long codes only: anything else is refused before
        any call."""
        digits = nanp_digits(num)
        if digits is None or region_of(num) != "US":
            raise errors.NotImplementedByCarrier(
                self.name, cause="cnam.display_name",
                message=f"Twilio lists outbound caller names (Trust Hub CNAM) on US numbers "
                        f"only; {num} is not one")
        if is_us_tollfree(digits):
            raise errors.NotImplementedByCarrier(
                self.name, cause="cnam.display_name",
                message="Twilio's Trust Hub CNAM does not take toll-free numbers (Twilio "
                        "support sets their caller names); long-code numbers only")

    def _pages(self, path: str, params: dict[str, str], num: str
               ) -> Iterator[dict[str, Any]]:
        """Every row of a Trust Hub list, page after page (`meta.next_page_url`, followed only
        while it stays under `trusthub_url`), at most `TRUSTHUB_PAGES` pages."""
        url: str | None = path
        query: dict[str, str] | None = {**params, "PageSize": str(TRUSTHUB_PAGE_SIZE)}
        for _ in range(TRUSTHUB_PAGES):
            if url is None:
                return
            doc = self.call("GET", url, params=query, number=num)
            rows, url = self.parsed(trusthub_page, doc, number=num)
            yield from rows
            if url is not None and not url.startswith(self.trusthub + "/"):
                self.log.warning("%s: Trust Hub's next page %s is not under trusthub_url; "
                                 "not followed", self.name, self.scrub(url))
                return
            query = None  # the next page's URL carries the query

    def _product_name(self, product: str, num: str) -> str | None:
        """A CNAM product's display name: its `cnam_information` EndUser's
        `cnam_display_name` (cached `CNAM_NAME_TTL_S`)."""
        with self._cnam_lock:
            cached = self._cnam_names.get(product)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        name = None
        for row in self._pages(f"{self._product_path(product)}/EntityAssignments",
                               {"ObjectType": CNAM_END_USER_TYPE}, num):
            sid = str(row.get("object_sid") or "")
            if sid.startswith("IT"):
                doc = self.call("GET", f"{self.trusthub}/EndUsers/{quote(sid, safe='')}",
                                number=num)
                name = display_name_of(doc)
                if name is not None:
                    break
        with self._cnam_lock:
            self._cnam_names[product] = (name, time.monotonic() + CNAM_NAME_TTL_S)
        return name

    def _named_product(self, name: str, num: str) -> dict[str, Any] | None:
        """The product `cnam_products` names for `name` (compared as `squeezed`), if any."""
        mapping = self.config.get("cnam_products") or {}
        sid = next((str(v) for k, v in mapping.items() if squeezed(k) == squeezed(name)), None)
        if sid is None:
            return None
        try:
            doc = self.call("GET", self._product_path(sid), number=num)
        except errors.CarrierNotFound:
            raise self._no_product(name, f"the product {sid} that the knm_twilio setting "
                                         "cnam_products names for it does not exist") from None
        if not isinstance(doc, dict) or not doc.get("sid"):
            raise self.fault(errors.MalformedResponse, "Trust Product answer without a sid",
                             number=num)
        return doc

    def _cnam_product(self, name: str, num: str) -> str:
        """The sid of the approved CNAM product whose display name is `name` (spacing and
        case aside); a refusal saying what to do when there is none."""
        named = self._named_product(name, num)
        if named is not None:
            return self._approved(named, name)
        products = list(self._pages(f"{self.trusthub}/TrustProducts",
                                    {"PolicySid": str(self.config.get("cnam_policy_sid")
                                                      or CNAM_POLICY_SID)}, num))
        products.sort(key=lambda p: p.get("status") != APPROVED)  # approved ones read first
        for product in products:
            sid = str(product.get("sid") or "")
            if sid and squeezed(self._product_name(sid, num)) == squeezed(name):
                return self._approved(product, name)
        raise self._no_product(name, "no CNAM Trust Product of this account carries it")

    def _approved(self, product: Mapping[str, Any], name: str) -> str:
        sid, status = str(product.get("sid")), str(product.get("status") or "")
        if status == APPROVED:
            return sid
        if status in VETTING:
            raise self._no_product(name, f"its CNAM Trust Product {sid} is {status}: Twilio "
                                         "has not approved it yet — save the name again once "
                                         "Trust Hub shows it twilio-approved")
        raise self._no_product(name, f"its CNAM Trust Product {sid} is {status or 'unknown'}"
                                     " — fix and resubmit it in Trust Hub")

    def _no_product(self, name: str, why: str) -> errors.Invalid:
        return errors.Invalid(
            "cnam.display_name",
            f"Twilio shows a caller name only through an approved Trust Hub CNAM product, "
            f"and for {name!r} {why}. Create a CNAM Trust Product with that display name in "
            "Twilio's console (Trust Hub) and have it vetted; knm then assigns numbers to it",
            carrier=self.name)

    def _assignment(self, product: str, pn: str, num: str) -> str | None:
        """The `RA…` sid assigning number `pn` to `product`, if it is assigned."""
        for row in self._pages(f"{self._product_path(product)}/ChannelEndpointAssignments",
                               {"ChannelEndpointSid": pn}, num):
            if row.get("channel_endpoint_sid") == pn and row.get("sid"):
                return str(row["sid"])
        return None

    def _unassign(self, ref: str | None, num: str) -> None:
        """Delete one assignment knm made (`BU…/RA…`); one already gone is fine."""
        product, assignment = split_ref(ref)
        if not (product and assignment):
            return
        try:
            self.delete(f"{self._product_path(product)}/ChannelEndpointAssignments/"
                        f"{quote(assignment, safe='')}", number=num)
        except errors.CarrierNotFound:
            self.log.info("%s: assignment %s of %s was gone already", self.name, ref, num)

    def _tidy(self, refs: list[str], num: str) -> list[str] | None:
        """Delete assignments knm no longer wants (the previous name's); what could not be
        deleted is returned, kept in the carrier data and tried again on the next change."""
        left = []
        for ref in dict.fromkeys(refs):
            try:
                self._unassign(ref, num)
            except errors.KnmError as exc:
                self.log.warning("%s: the previous caller-name assignment %s of %s was not "
                                 "deleted: %s", self.name, ref, num, self.scrub(exc))
                left.append(ref)
        return left or None

    def set_cnam(self, number: PhoneNumber, display_name: str | None) -> FeatureStatus:
        """Assign the number to the approved CNAM product carrying `display_name` (found, never
        created), then delete knm's previous assignment: PROVISIONED (Twilio's databases take
        48-72 hours more; not tracked). None removes knm's assignment."""
        num = number.number
        if display_name is None:
            return self._remove_cnam(number)
        self._cnam_eligible(num)
        fault = cnam_name_fault(display_name)
        if fault:
            raise errors.Invalid("cnam.display_name", fault)
        product = self._cnam_product(display_name, num)
        pn = self._pn_sid(number)
        data = number.carrier_data
        before = assignment_ref(data.get("twilio_cnam_product"),
                                data.get("twilio_cnam_assignment"))
        old = [r for r in (before, data.get("twilio_cnam_previous"),
                           *(data.get("twilio_cnam_stale") or [])) if r]
        learnt: dict[str, Any] = {"twilio_sid": pn, "twilio_cnam_product": product,
                                  "twilio_cnam_previous": None}
        assignment = self._assignment(product, pn, num)  # a retry finds its own
        if assignment is None:
            try:
                doc = self.call("POST", f"{self._product_path(product)}/"
                                "ChannelEndpointAssignments", number=num,
                                data={"ChannelEndpointType": "phone-number",
                                      "ChannelEndpointSid": pn})
                assignment = self.parsed(assignment_sid, doc, pn, number=num)
            except errors.KnmError as exc:
                if not exc.unsettled:
                    raise
                return FeatureStatus(PENDING, "unknown", {
                    **learnt, "twilio_cnam_assignment": None,
                    "twilio_cnam_previous": before, "twilio_cnam_stale": [
                        r for r in old if r != before] or None},
                    message=self.scrub(str(exc)))
        mine = assignment_ref(product, assignment)
        return FeatureStatus(PROVISIONED, "assigned", {
            **learnt, "twilio_cnam_assignment": assignment,
            "twilio_cnam_stale": self._tidy([r for r in old if r != mine], num)})

    def _remove_cnam(self, number: PhoneNumber) -> FeatureStatus:
        """Delete knm's assignment (looked up when its answer was lost) and any leftover."""
        num = number.number
        data = number.carrier_data
        product, assignment = data.get("twilio_cnam_product"), data.get(
            "twilio_cnam_assignment")
        if product and not assignment:
            assignment = self._assignment(str(product), self._pn_sid(number), num)
        self._unassign(assignment_ref(product, assignment), num)
        left = self._tidy([r for r in (data.get("twilio_cnam_previous"),
                                       *(data.get("twilio_cnam_stale") or [])) if r], num)
        return FeatureStatus(PROVISIONED, "unassigned", {
            "twilio_cnam_product": None, "twilio_cnam_assignment": None,
            "twilio_cnam_previous": None, "twilio_cnam_stale": left})

    def set_inbound_lookup(self, number: PhoneNumber, enabled: bool) -> FeatureStatus:
        num = number.number
        doc = self.call("POST", self._number_path(number), number=num,
                        data={"VoiceCallerIdLookup": "true" if enabled else "false"})
        shown = doc.get("voice_caller_id_lookup") if isinstance(doc, dict) else None
        if isinstance(shown, bool) and shown != bool(enabled):
            raise self.refusal("the caller-name lookup setting was not saved", number=num)
        return FeatureStatus(PROVISIONED, "enabled" if enabled else "disabled")

    def cnam_status(self, number: PhoneNumber) -> FeatureStatus:
        """Settle an assignment whose answer was lost: the product's assignments say whether
        Twilio took it. Taken, knm's previous assignment is deleted now (the step the lost
        answer deferred) and the name is PROVISIONED; not taken, ERROR — the previous one is
        still the number's. The inbound lookup is synchronous: never pending."""
        num = number.number
        data = number.carrier_data
        product = data.get("twilio_cnam_product")
        if not product or data.get("twilio_cnam_assignment"):
            return FeatureStatus(PROVISIONED, "enabled")
        assignment = self._assignment(str(product), self._pn_sid(number), num)
        previous = data.get("twilio_cnam_previous")
        if assignment is None:
            old_product, old_assignment = split_ref(previous)
            return FeatureStatus(ERROR, "unassigned", {
                "twilio_cnam_product": old_product, "twilio_cnam_assignment": old_assignment,
                "twilio_cnam_previous": None},
                message=f"Twilio did not assign the number to the CNAM Trust Product "
                        f"{product}; the previous caller name is kept")
        stale = [r for r in (previous, *(data.get("twilio_cnam_stale") or [])) if r]
        if stale and self.config.get("enable_provisioning", True):
            stale = self._tidy(stale, num) or []
        return FeatureStatus(PROVISIONED, "assigned", {
            "twilio_cnam_assignment": assignment, "twilio_cnam_previous": None,
            "twilio_cnam_stale": stale or None})
