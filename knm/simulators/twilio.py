"""Twilio REST API 2010-04-01 simulator: available numbers, incoming phone numbers, release.

Paths are the real host's (`https://api.twilio.com`), so the `twilio` SDK works against it
once its HTTP client sends `https://api.twilio.com/…` here (tests/simulators/test_sdk_twilio.py).
Requests are form-encoded with PascalCase names; answers are snake_case JSON.

Wire facts verified against the `twilio` SDK 9.x sources (`rest/api/v2010/account/…`,
`base/version.py`, `base/page.py`) and current-apis.md §3:
- `GET /2010-04-01/Accounts/{Sid}/AvailablePhoneNumbers/{CC}/{Local|TollFree|Mobile}.json`
  with `AreaCode`, `Contains` (`*` one digit, `%` a run, leading `+` anchors; letters are keypad
  digits), `InRegion`, `InLocality`, `InPostalCode`, `InRateCenter` (needs `InLata`), `InLata`,
  `SmsEnabled`/`MmsEnabled`/`VoiceEnabled`/`FaxEnabled`, `Exclude*AddressRequired`,
  `PageSize` (default 50). The answer is `{"available_phone_numbers": [...], "uri": ...}` plus
  page fields; the SDK finds the records as the one key that is not a page field, so a list
  answer must carry exactly one such key.
- `POST …/IncomingPhoneNumbers.json` (also `/Local.json`, `/TollFree.json`, `/Mobile.json`)
  with `PhoneNumber` or `AreaCode`, `FriendlyName`, `TrunkSid`, `VoiceUrl`, `VoiceMethod`,
  `VoiceApplicationSid`, … → **201** and the IncomingPhoneNumber (`sid` `PN…`, `trunk_sid`,
  `voice_url`, `status`, `type`, RFC 2822 dates).
- `GET …/IncomingPhoneNumbers.json?PhoneNumber=&FriendlyName=&PageSize=&Page=&PageToken=`
  (partial numbers and `*` match) pages with `next_page_uri`, which the SDK follows.
- `POST …/IncomingPhoneNumbers/{PN}.json` updates (200; `TrunkSid=""` clears the trunk),
  `GET` reads it, `DELETE` releases it (**204**, empty body).
- HTTP Basic `AccountSid:AuthToken`; a wrong pair is 401
  `{"code": 20003, "message": "Authenticate", "more_info": …, "status": 401}`, which the SDK
  raises as `TwilioRestException` (code 20003) — or, for a list/page read, as the bare
  `TwilioException("Unable to fetch page")`, since its pages check only for HTTP 200.
- Errors are `{"code": int, "message", "more_info", "status"}`; the SDK builds
  `TwilioRestException(status, uri, "…: message", code)` from it.

Number features (SPEC §13; `Addresses`, `EmergencyAddressSid`, `emergency_address_status`,
`VoiceCallerIdLookup` of twilio_api_v2010.json): `POST …/Addresses.json` (`CustomerName`,
`Street`, `City`, `Region`, `PostalCode`, `IsoCountry` required; `EmergencyEnabled`,
`AutoCorrectAddress` default true) decides by the simulators' one rule
(`knm.simulators.addresses`): a rejected address is 400 21628; one to correct is created
corrected, or refused with 21629 when `AutoCorrectAddress=false`; `GET`/`DELETE
…/Addresses/{AD}.json` (an address a number uses cannot be deleted: 400 21625). Setting a
number's `EmergencyAddressSid` registers it (`emergency_address_status` `registered` at once,
or `pending-registration` then `registered` | `registration-failure` per the feature
switches); a new one while another is set is refused (400 21649: Twilio's two-step change);
`""` unregisters it. `VoiceCallerIdLookup` sets `voice_caller_id_lookup`.

Unverified (chosen, not confirmed by the material): the address error codes above, and error
code 21422 for "number not
available" (Twilio's test-credentials magic number page, from memory) and its message; 21452
("no numbers in area code") is from Twilio's test-inputs page; 21421 (invalid number), 21450
(neither `PhoneNumber` nor `AreaCode`), 21606 (`InRateCenter` without `InLata`) and 20001 (other
400s) are placeholders; a 404 for another account's path even with good credentials; a third-
party report says re-buying a number you already own answers 201 like an update — this
simulator answers 21422 instead (the number is not in the stock). Available-number
`capabilities` use the SDK fixture's lower-case keys. GB numbers require an address (`any`).
"""

from __future__ import annotations

import re
import time
import uuid
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators import addresses, numbering
from knm.simulators.base import RecordedRequest, Simulator, e164, national

API = "/2010-04-01/Accounts/{sid}"
DIAL_CODES = {"US": "1", "CA": "1", "GB": "44"}
#: (country, type) → national prefixes searched when a request narrows nothing
DEFAULT_PREFIXES = {("US", "Local"): ["415", "212", "512"], ("CA", "Local"): ["416"],
                    ("US", "TollFree"): ["800", "888"], ("CA", "TollFree"): ["877"],
                    ("GB", "Local"): ["20", "161"], ("GB", "Mobile"): ["7700"],
                    ("GB", "TollFree"): ["800"]}
KIND = {"Local": "local", "TollFree": "tollfree", "Mobile": "mobile"}
ERROR_CODES = {400: 20001, 401: 20003, 403: 20403, 404: 20404, 405: 20004, 429: 20429,
               500: 20500, 503: 20503}
KEYPAD = {c: d for d, letters in {"2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO",
                                   "7": "PQRS", "8": "TUV", "9": "WXYZ"}.items()
          for c in letters}
UPDATABLE = {"FriendlyName": "friendly_name", "TrunkSid": "trunk_sid", "VoiceUrl": "voice_url",
             "VoiceMethod": "voice_method", "VoiceFallbackUrl": "voice_fallback_url",
             "VoiceFallbackMethod": "voice_fallback_method",
             "VoiceApplicationSid": "voice_application_sid", "SmsUrl": "sms_url",
             "SmsMethod": "sms_method", "SmsApplicationSid": "sms_application_sid",
             "StatusCallback": "status_callback", "VoiceReceiveMode": "voice_receive_mode",
             "EmergencyStatus": "emergency_status", "AddressSid": "address_sid",
             "BundleSid": "bundle_sid", "IdentitySid": "identity_sid"}


def twilio_error(status: int, message: str, code: int | None = None) -> JSONResponse:
    code = code or ERROR_CODES.get(status, 20500)
    return JSONResponse({"code": code, "message": message,
                         "more_info": f"https://www.twilio.com/docs/errors/{code}",
                         "status": status}, status_code=status)


class TwilioSimulator(Simulator):
    """`TwilioSimulator(account_sid="AC555…5" (AC + 32 × 5), auth_token=
    "twilio-simulated-auth-token")`: the HTTP Basic pair it accepts, and the account path.

    Stock: NANP local numbers for any area code (deterministic per prefix), toll-free in
    800/833/844/855/866/877/888, GB local (`+4420…`, `+44161…`, any `+441`/`+442`/`+443`),
    GB mobile (`+447…`, default `+447700`) and GB toll-free (`+44800…`). No US mobile numbers
    (Twilio answers 404 for that list).
    Owned numbers: `sim.owned["+1…"]` is the IncomingPhoneNumber record (`id` = the `PN…` sid,
    `trunk_sid`, `voice_url`, … as last set).
    """

    name = "knm_twilio"
    content_type = "application/json"

    def __init__(self, *, account_sid: str = "AC" + "5" * 32,
                 auth_token: str = "twilio-simulated-auth-token") -> None:
        super().__init__(account_sid=account_sid, auth_token=auth_token)
        #: the account's Address resources by `AD…` sid
        self.addresses: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.addresses.clear()

    def check_auth(self, request: RecordedRequest) -> Response | None:
        pair = numbering.basic_auth(request)
        if pair != (self.credentials["account_sid"], self.credentials["auth_token"]):
            return twilio_error(401, "Authenticate", 20003)
        if not request.path.startswith(API.format(sid=self.credentials["account_sid"])):
            return twilio_error(404, f"The requested resource {request.path} was not found")
        return None

    def error_body(self, status: int, message: str) -> Response:
        return twilio_error(status, message)

    # -- routes -------------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        sim = self

        @app.get(API + "/AvailablePhoneNumbers/{country}/{kind}.json")
        def search(sid: str, country: str, kind: str, request: Request) -> Response:
            return sim._search(country, kind, dict(request.query_params), request.url.path)

        @app.get(API + "/IncomingPhoneNumbers.json")
        def list_owned(sid: str, request: Request) -> Response:
            return sim._list(dict(request.query_params), request.url.path)

        @app.post(API + "/IncomingPhoneNumbers.json")
        async def buy(sid: str, request: Request) -> Response:
            return sim._buy(await _form(request), None)

        @app.post(API + "/IncomingPhoneNumbers/{kind}.json")
        async def buy_or_update(sid: str, kind: str, request: Request) -> Response:
            form = await _form(request)
            if kind in KIND:
                return sim._buy(form, KIND[kind])
            return sim._update(kind, form)

        @app.get(API + "/IncomingPhoneNumbers/{pn}.json")
        def fetch(sid: str, pn: str) -> Response:
            row = sim._by_sid(pn)
            if row is None:
                return twilio_error(404, f"The requested resource {_uri(sim, pn)} was not found")
            with sim.lock:
                sim._progress(row)
                return JSONResponse(_public(row))

        @app.post(API + "/Addresses.json")
        async def create_address(sid: str, request: Request) -> Response:
            return sim._create_address(await _form(request))

        @app.get(API + "/Addresses/{ad}.json")
        def get_address(sid: str, ad: str) -> Response:
            with sim.lock:
                found = sim.addresses.get(ad)
            if found is None:
                return twilio_error(404, f"The requested resource Address {ad} was not found")
            return JSONResponse(found)

        @app.delete(API + "/Addresses/{ad}.json")
        def delete_address(sid: str, ad: str) -> Response:
            with sim.lock:
                if ad not in sim.addresses:
                    return twilio_error(404, f"The requested resource Address {ad} was not "
                                        "found")
                if any(r.get("emergency_address_sid") == ad for r in sim.owned.values()):
                    return twilio_error(400, "Cannot delete an address with dependent phone "
                                        "numbers.", 21625)
                sim.addresses.pop(ad)
            return Response(status_code=204)

        @app.delete(API + "/IncomingPhoneNumbers/{pn}.json")
        def release(sid: str, pn: str) -> Response:
            with sim.lock:
                row = sim._by_sid(pn)
                if row is not None:
                    sim.owned.pop(row["number"], None)
            if row is None:
                return twilio_error(404, f"The requested resource {_uri(sim, pn)} was not found")
            return Response(status_code=204)

    # -- search -------------------------------------------------------------------------------

    def _search(self, country: str, kind: str, params: dict[str, str], path: str) -> Response:
        if (country, kind) not in DEFAULT_PREFIXES:
            return twilio_error(404, f"The requested resource {path} was not found")
        area = params.get("AreaCode", "")
        contains = params.get("Contains", "")
        if params.get("InRateCenter") and not params.get("InLata"):
            return twilio_error(400, "InLata is required when InRateCenter is specified",
                                21606)
        size = _int(params.get("PageSize"), 50, 1, 1000)
        dial = DIAL_CODES[country]
        pattern = _contains_regex(contains, dial)
        rows = []
        for number in self._candidates(country, kind, area, contains):
            if pattern is not None and not pattern.search(number.lstrip("+")):
                continue
            row = self._available(number, country)
            if _matches(row, params):
                rows.append(row)
            if len(rows) >= size:
                break
        return JSONResponse({"available_phone_numbers": rows, "end": max(len(rows) - 1, 0),
                             "first_page_uri": f"{path}?PageSize={size}&Page=0",
                             "next_page_uri": None, "page": 0, "page_size": size,
                             "previous_page_uri": None, "start": 0, "uri": path})

    def _candidates(self, country: str, kind: str, area: str, contains: str) -> list[str]:
        dial = DIAL_CODES[country]
        lead = re.match(r"\+?(\d*)", contains).group(1)  # type: ignore[union-attr]
        if contains.startswith("+") or (dial != "1" and lead.startswith(dial)):
            lead = lead.removeprefix(dial)
        starts = [area] if area else []
        if lead:
            starts.append(lead if not area or lead.startswith(area) else area + lead)
        starts = starts or DEFAULT_PREFIXES[(country, kind)]
        found: list[str] = []
        for start in dict.fromkeys(starts):
            if dial == "1":
                pool = [e164(n) for n in self.stock(start, self.stock_size)]
                if area:
                    pool = [n for n in pool if n[2:5] == area]
            else:
                pool = numbering.international(self, dial, start, self.stock_size)
            want = KIND[kind]
            kinds = numbering.nanp_kind if dial == "1" else numbering.gb_kind
            found += [n for n in pool if kinds(n) == want and n not in found]
        return sorted(found)

    def _available(self, number: str, country: str) -> dict[str, Any]:
        if country in ("US", "CA"):
            where = numbering.place(national(number))
            friendly = f"({number[2:5]}) {number[5:8]}-{number[8:]}"
            needs = "none"
        else:
            where = {"region": "", "city": "London" if number.startswith("+4420") else "",
                     "rate_center": "", "lata": "", "postal_code": "", "latitude": "",
                     "longitude": ""}
            friendly, needs = number, "any"
        tollfree = numbering.nanp_kind(number) == "tollfree" or (
            country == "GB" and numbering.gb_kind(number) == "tollfree")
        return {"friendly_name": friendly, "phone_number": number,
                "lata": where["lata"] or None, "locality": where["city"] or None,
                "rate_center": where["rate_center"] or None,
                "latitude": where["latitude"] or None, "longitude": where["longitude"] or None,
                "region": where["region"] or None, "postal_code": where["postal_code"] or None,
                "iso_country": country, "address_requirements": needs, "beta": False,
                "capabilities": {"voice": True, "sms": True, "mms": not tollfree,
                                 "fax": False}}

    # -- incoming phone numbers ---------------------------------------------------------------

    def _buy(self, form: dict[str, str], kind: str | None) -> Response:
        wanted, area = form.get("PhoneNumber", ""), form.get("AreaCode", "")
        if not wanted and not area:
            return twilio_error(400, "A 'PhoneNumber' or 'AreaCode' is required.", 21450)
        with self.lock:
            if wanted:
                if not re.fullmatch(r"\+[1-9]\d{6,14}", wanted):
                    return twilio_error(400, f"The phone number {wanted} is invalid.", 21421)
                if not self._in_stock(wanted) or (kind and self._kind(wanted) != kind):
                    return twilio_error(400, f"The phone number {wanted} is not available.",
                                        21422)
                number = wanted
            else:
                free = [e164(n) for n in self.stock(area, 1)]
                if not free or (kind and self._kind(free[0]) != kind):
                    return twilio_error(400, "No phone numbers found in area code "
                                        f"{area}.", 21452)
                number = free[0]
            row = self._new_row(number)
            self._apply(row, form)
            self.owned[number] = row
        return JSONResponse(_public(row), status_code=201)

    def _update(self, pn: str, form: dict[str, str]) -> Response:
        with self.lock:
            row = self._by_sid(pn)
            if row is None:
                return twilio_error(404, f"The requested resource {_uri(self, pn)} was not found")
            if "EmergencyAddressSid" in form:
                refused = self._emergency(row, form["EmergencyAddressSid"])
                if refused is not None:
                    return refused
            self._apply(row, form)
            self._progress(row)
            return JSONResponse(_public(row))

    # -- emergency addresses --------------------------------------------------------------------

    def _create_address(self, form: dict[str, str]) -> Response:
        for key in ("CustomerName", "Street", "City", "Region", "PostalCode", "IsoCountry"):
            if not form.get(key):
                return twilio_error(400, f"Missing required parameter {key} in the post "
                                    "body", 21604)
        verdict = addresses.fate(form["Street"], form["PostalCode"], form["IsoCountry"])
        if verdict == addresses.INVALID:
            return twilio_error(400, "Address validation error: the address could not be "
                                "validated", 21628)
        street = addresses.normalised(form["Street"])
        if verdict == addresses.CORRECTED:
            if form.get("AutoCorrectAddress", "true").lower() == "false":
                return twilio_error(400, "Address Validation Error - Check Suggested Address: "
                                    f"{addresses.corrected_street(form['Street'])}", 21629)
            street = addresses.corrected_street(form["Street"])
        ad = "AD" + uuid.uuid4().hex
        stamp = formatdate(usegmt=False)
        found = {"sid": ad, "account_sid": self.credentials["account_sid"],
                 "customer_name": form["CustomerName"], "street": street,
                 "street_secondary": addresses.normalised(form.get("StreetSecondary")) or None,
                 "city": addresses.normalised(form["City"]),
                 "region": addresses.normalised(form["Region"]),
                 "postal_code": form["PostalCode"], "iso_country": form["IsoCountry"].upper(),
                 "friendly_name": form.get("FriendlyName"),
                 "emergency_enabled": form.get("EmergencyEnabled", "false").lower() == "true",
                 "validated": True, "verified": False, "date_created": stamp,
                 "date_updated": stamp,
                 "uri": API.format(sid=self.credentials["account_sid"]) + f"/Addresses/{ad}.json"}
        with self.lock:
            self.addresses[ad] = found
        return JSONResponse(found, status_code=201)

    def _emergency(self, row: dict[str, Any], ad: str) -> Response | None:
        """Set (or with `""` clear) a number's emergency address, Twilio's way: a new one
        only once the number holds none."""
        if not ad:
            row["emergency_address_sid"] = None
            row["emergency_address_status"] = "unregistered"
            row["emergency_order"] = None
            return None
        if ad not in self.addresses:
            return twilio_error(400, f"Address {ad} does not exist.", 21612)
        if row.get("emergency_address_sid"):
            return twilio_error(400, "The phone number already has an emergency address: "
                                "remove it and wait until it is unregistered.", 21649)
        row["emergency_address_sid"] = ad
        sw = self.switches
        if sw.feature_complete_ms == 0 and sw.feature_result == "complete":
            row["emergency_address_status"] = "registered"
            return None
        row["emergency_address_status"] = "pending-registration"
        order = self.place_feature("e911", row["number"], address_sid=ad)
        row["emergency_order"] = order["id"] if order["state"] == "pending" else None
        return None

    def _progress(self, row: dict[str, Any]) -> None:
        if row.get("emergency_order"):
            self.feature_progress(row["emergency_order"])

    def feature_done(self, order: dict[str, Any]) -> None:
        row = self.owned.get(order["number"])
        if row is None or row.get("emergency_address_sid") != order.get("address_sid"):
            return
        row["emergency_order"] = None
        row["emergency_address_status"] = (
            "registered" if order["state"] == "complete" else "registration-failure")

    def _list(self, params: dict[str, str], path: str) -> Response:
        size = _int(params.get("PageSize"), 50, 1, 1000)
        page = _int(params.get("Page"), 0, 0, 10**6)
        wanted = params.get("PhoneNumber", "")
        pattern = re.compile(re.escape(re.sub(r"[^\d*]", "", wanted)).replace(r"\*", r"\d"))
        friendly = params.get("FriendlyName")
        with self.lock:
            rows = [dict(r) for r in self.owned.values()
                    if pattern.search(r["number"].lstrip("+"))
                    and (friendly is None or r["friendly_name"] == friendly)]
        rows.sort(key=lambda r: r["date_created_ts"], reverse=True)
        chunk = rows[page * size:(page + 1) * size]

        def uri(n: int) -> str:
            query = {k: v for k, v in params.items() if k not in ("Page", "PageToken")}
            return f"{path}?{urlencode({**query, 'PageSize': size, 'Page': n})}"

        more = (page + 1) * size < len(rows)
        return JSONResponse({
            "incoming_phone_numbers": [_public(r) for r in chunk],
            "end": page * size + max(len(chunk) - 1, 0), "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) + f"&PageToken=PA{page + 1}" if more else None,
            "page": page, "page_size": size,
            "previous_page_uri": uri(page - 1) if page else None, "start": page * size,
            "uri": uri(page)})

    # -- helpers ------------------------------------------------------------------------------

    def _kind(self, number: str) -> str:
        return numbering.nanp_kind(number) if number.startswith("+1") \
            else numbering.gb_kind(number)

    def _in_stock(self, number: str) -> bool:
        if number in self.owned:
            return False
        if number.startswith("+1"):
            return len(number) == 12 and bool(self.stock(national(number), 1))
        if number.startswith("+44"):
            return numbering.international(self, "44", number[3:], 1) == [number]
        return False

    def _by_sid(self, pn: str) -> dict[str, Any] | None:
        with self.lock:
            return next((r for r in self.owned.values() if r["id"] == pn), None)

    def _new_row(self, number: str) -> dict[str, Any]:
        sid = "PN" + uuid.uuid4().hex
        stamp = formatdate(usegmt=False)
        country = "GB" if number.startswith("+44") else "US"
        kind = {"local": "local", "tollfree": "toll-free", "mobile": "mobile"}[self._kind(number)]
        available = self._available(number, country)
        return {
            "id": sid, "number": number, "date_created_ts": time.time(),
            "account_sid": self.credentials["account_sid"],
            "address_requirements": available["address_requirements"], "address_sid": None,
            "api_version": "2010-04-01", "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": kind != "toll-free",
                             "fax": False},
            "date_created": stamp, "date_updated": stamp, "emergency_status": "Inactive",
            "emergency_address_sid": None, "emergency_address_status": "unregistered",
            "friendly_name": available["friendly_name"], "identity_sid": None,
            "origin": "twilio", "phone_number": number, "sid": sid,
            "sms_application_sid": "", "sms_fallback_method": "POST", "sms_fallback_url": "",
            "sms_method": "POST", "sms_url": "", "status_callback": "",
            "status_callback_method": "POST", "trunk_sid": None,
            "uri": _uri(self, sid), "voice_receive_mode": "voice",
            "voice_application_sid": None, "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST", "voice_fallback_url": None,
            "voice_method": "POST", "voice_url": None, "bundle_sid": None,
            "status": "in-use", "type": kind,
            "subresource_uris": {"assigned_add_ons": _uri(self, sid).replace(
                ".json", "/AssignedAddOns.json")},
        }

    def _apply(self, row: dict[str, Any], form: dict[str, str]) -> None:
        for wire, field in UPDATABLE.items():
            if wire in form:
                row[field] = form[wire] or None
        if "VoiceCallerIdLookup" in form:
            row["voice_caller_id_lookup"] = form["VoiceCallerIdLookup"].lower() == "true"
        row["date_updated"] = formatdate(usegmt=False)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items()
            if k not in ("id", "number", "date_created_ts", "emergency_order")}


def _uri(sim: TwilioSimulator, pn: str) -> str:
    return API.format(sid=sim.credentials["account_sid"]) + f"/IncomingPhoneNumbers/{pn}.json"


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"),
                          keep_blank_values=True))


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(raw))) if raw not in (None, "") else default
    except ValueError:
        return default


def _contains_regex(contains: str, dial: str) -> re.Pattern[str] | None:
    """Twilio's `Contains` as a regex over the E.164 digits (no `+`)."""
    if not contains:
        return None
    anchored = contains.startswith("+")
    body = "".join(KEYPAD.get(c.upper(), c) for c in contains.lstrip("+"))
    out = "".join(r"\d" if c == "*" else r"\d*" if c == "%" else re.escape(c) for c in body
                  if c.isdigit() or c in "*%")
    end = "$" if body.endswith("$") else ""
    if anchored:
        return re.compile("^" + out + end)
    return re.compile(out + end)


def _matches(row: dict[str, Any], params: dict[str, str]) -> bool:
    """The locality, capability and address filters of an available-number search."""
    def same(key: str, field: str) -> bool:
        want = params.get(key)
        return not want or (row[field] or "").lower() == want.lower()

    caps = row["capabilities"]
    for key, cap in (("SmsEnabled", "sms"), ("MmsEnabled", "mms"), ("VoiceEnabled", "voice"),
                     ("FaxEnabled", "fax")):
        if params.get(key, "").lower() == "true" and not caps[cap]:
            return False
    needs = row["address_requirements"]
    if params.get("ExcludeAllAddressRequired", "").lower() == "true" and needs == "any":
        return False
    if params.get("ExcludeLocalAddressRequired", "").lower() == "true" and needs == "local":
        return False
    if params.get("ExcludeForeignAddressRequired", "").lower() == "true" and needs == "foreign":
        return False
    return (same("InRegion", "region") and same("InLocality", "locality")
            and same("InPostalCode", "postal_code") and same("InRateCenter", "rate_center")
            and same("InLata", "lata"))
