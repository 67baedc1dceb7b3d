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
caller names are `VoiceCallerIdLookup`; outbound ones are Trust Hub CNAM products (a business
profile, vetting, channel-endpoint assignments), not a per-number setting: refused (`501`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.features import (
    ERROR,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    AddressCheck,
    FeatureStatus,
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
    )

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
        status = self.parsed(to_emergency_status,
                             self.call("GET", self._number_path(number), number=num),
                             number=num)
        wanted, held = number.carrier_data.get("e911_address_sid"), status.data.get(
            "e911_address_sid")
        if wanted and held != wanted:
            return FeatureStatus(ERROR, status.carrier_status,
                                 message=f"Twilio holds {held or 'no address'} for the "
                                         f"number, not {wanted}")
        status.data = {}
        return status

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

    def set_cnam(self, number: PhoneNumber, display_name: str | None) -> FeatureStatus:
        """Twilio lists outbound caller names through Trust Hub CNAM products (a vetted
        business profile, then channel-endpoint assignments), not per number: refused."""
        raise errors.NotImplementedByCarrier(
            self.name, cause="cnam.display_name",
            message="Twilio lists outbound caller names through Trust Hub CNAM products "
                    "(vetting of a business profile), not per number; knm sets only the "
                    "inbound lookup (cnam.inbound_lookup) on Twilio numbers")

    def set_inbound_lookup(self, number: PhoneNumber, enabled: bool) -> FeatureStatus:
        num = number.number
        doc = self.call("POST", self._number_path(number), number=num,
                        data={"VoiceCallerIdLookup": "true" if enabled else "false"})
        shown = doc.get("voice_caller_id_lookup") if isinstance(doc, dict) else None
        if isinstance(shown, bool) and shown != bool(enabled):
            raise self.refusal("the caller-name lookup setting was not saved", number=num)
        return FeatureStatus(PROVISIONED, "enabled" if enabled else "disabled")

    def cnam_status(self, number: PhoneNumber) -> FeatureStatus:
        return FeatureStatus(PROVISIONED, "enabled")  # synchronous: nothing is ever pending
