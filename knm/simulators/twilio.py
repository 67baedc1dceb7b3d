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

Trust Hub (outbound caller names; twilio_trusthub_v1.json and the SDK's `rest/trusthub/v1`),
served by the same app under `/v1` — the real host is `https://trusthub.twilio.com/v1`, so
the SDK reaches it once its HTTP client sends that host here, and knm once its
`trusthub_url` is this server's `/v1`: `GET /v1/TrustProducts?PolicySid=&Status=&FriendlyName=`
and `GET /v1/TrustProducts/{BU}` (`status` draft | pending-review | in-review |
twilio-rejected | twilio-approved); `GET /v1/TrustProducts/{BU}/EntityAssignments?ObjectType=`
(`BV…` rows naming `object_sid`); `GET /v1/EndUsers/{IT}` (`type`, `attributes`); `POST
/v1/TrustProducts/{BU}/ChannelEndpointAssignments` (`ChannelEndpointType=phone-number`,
`ChannelEndpointSid=PN…` of this account) → **201** `RA…`, `GET` it listed
(`?ChannelEndpointSid=`), `DELETE …/{RA}` → **204**. Lists are `{"results": [...], "meta":
{"key": "results", "next_page_url", …}}` (the SDK reads the records by `meta.key`). Seeded
(`TRUST_PRODUCTS`): approved CNAM products "ACME" and "ACME WEST", "ACME EAST" pending review,
"ACME SOUTH" rejected, and a SHAKEN/STIR product (another policy, no display name);
`sim.add_cnam_product(name, status)` adds one, `sim.assignments` holds the assignments.

Unverified (chosen, not confirmed by the material): the address error codes above, and error
code 21422 for "number not
available" (Twilio's test-credentials magic number page, from memory) and its message; 21452
("no numbers in area code") is from Twilio's test-inputs page; 21421 (invalid number), 21450
(neither `PhoneNumber` nor `AreaCode`), 21606 (`InRateCenter` without `InLata`) and 20001 (other
400s) are placeholders; a 404 for another account's path even with good credentials; a third-
party report says re-buying a number you already own answers 201 like an update — this
simulator answers 21422 instead (the number is not in the stock). Available-number
`capabilities` use the SDK fixture's lower-case keys. GB numbers require an address (`any`).
Trust Hub's error codes and words for an assignment it refuses (a number already assigned to
the product, another account's or a toll-free number: 400, code 20001 here), whether a
number may be on two CNAM products at once (allowed here: knm assigns the new one before it
deletes the old), whether assigning to a product that is not approved is allowed (allowed
here, as in Twilio's onboarding order; knm never does it), and that releasing a number
drops its assignments (done here).
"""

from __future__ import annotations

import hashlib
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


TRUSTHUB = "/v1"
CNAM_POLICY = "RNf3db3cd1fe25fcfd3c3ded065c8fea53"
SHAKEN_POLICY = "RN7a97559effdf62d00f4298208492a5ea"
#: the seeded Trust Products: (display name or None, status, policy)
TRUST_PRODUCTS = (("ACME", "twilio-approved", CNAM_POLICY),
                  ("ACME WEST", "twilio-approved", CNAM_POLICY),
                  ("ACME EAST", "pending-review", CNAM_POLICY),
                  ("ACME SOUTH", "twilio-rejected", CNAM_POLICY),
                  (None, "twilio-approved", SHAKEN_POLICY))


def sid_for(prefix: str, text: str) -> str:
    """A deterministic Twilio-shaped sid (`BU` + 32 hex digits) for seeded resources."""
    return prefix + hashlib.sha256(text.encode()).hexdigest()[:32]


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
        #: Trust Hub: products by `BU…`, end users by `IT…`, entity assignments (`BV…`,
        #: with the object's type) and channel-endpoint assignments (`RA…`) by product
        self.trust_products: dict[str, dict[str, Any]] = {}
        self.end_users: dict[str, dict[str, Any]] = {}
        self.entities: dict[str, list[dict[str, Any]]] = {}
        self.assignments: dict[str, list[dict[str, Any]]] = {}
        self._seed_trust_hub()

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.addresses.clear()
            self._seed_trust_hub()

    def _seed_trust_hub(self) -> None:
        for store in (self.trust_products, self.end_users, self.entities, self.assignments):
            store.clear()
        for name, status, policy in TRUST_PRODUCTS:
            self.add_cnam_product(name, status, policy=policy,
                                  key=f"{name or 'shaken'}:{status}")

    def add_cnam_product(self, name: str | None, status: str = "twilio-approved", *,
                         policy: str = CNAM_POLICY, key: str | None = None) -> str:
        """A Trust Product of `policy` whose `cnam_information` EndUser carries `name` (None:
        no end user); its `BU…` sid."""
        bu = sid_for("BU", key or uuid.uuid4().hex)
        stamp = _iso()
        with self.lock:
            self.trust_products[bu] = {
                "sid": bu, "account_sid": self.credentials["account_sid"],
                "policy_sid": policy, "friendly_name": f"{name or 'SHAKEN/STIR'} product",
                "status": status, "email": "trust@knm.example", "status_callback": None,
                "valid_until": None, "date_created": stamp, "date_updated": stamp,
                "errors": None if status != "twilio-rejected" else [
                    {"code": 11008, "message": "display name contains prohibited content"}]}
            self.entities[bu], self.assignments[bu] = [], []
            if name is not None:
                it = sid_for("IT", bu)
                self.end_users[it] = {"sid": it, "account_sid": self.credentials["account_sid"],
                                      "friendly_name": f"{name} CNAM information",
                                      "type": "cnam_information",
                                      "attributes": {"cnam_display_name": name},
                                      "date_created": stamp, "date_updated": stamp}
                self.entities[bu].append({"sid": sid_for("BV", it), "trust_product_sid": bu,
                                          "account_sid": self.credentials["account_sid"],
                                          "object_sid": it, "date_created": stamp,
                                          "object_type": "cnam_information"})
        return bu

    def cnam_of(self, number: str) -> list[str]:
        """The display names of the CNAM products `number` is assigned to (a test's view)."""
        row = self.owned.get(number)
        with self.lock:
            found = [bu for bu, rows in self.assignments.items()
                     if row and any(r["channel_endpoint_sid"] == row["id"] for r in rows)]
            return [self._product_name(bu) or bu for bu in found]

    def _product_name(self, bu: str) -> str | None:
        for entity in self.entities.get(bu, []):
            user = self.end_users.get(entity["object_sid"])
            if user is not None:
                return str(user["attributes"]["cnam_display_name"])
        return None

    def check_auth(self, request: RecordedRequest) -> Response | None:
        pair = numbering.basic_auth(request)
        if pair != (self.credentials["account_sid"], self.credentials["auth_token"]):
            return twilio_error(401, "Authenticate", 20003)
        if request.path.startswith(TRUSTHUB + "/"):
            return None
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
                    for rows in sim.assignments.values():
                        rows[:] = [r for r in rows if r["channel_endpoint_sid"] != pn]
            if row is None:
                return twilio_error(404, f"The requested resource {_uri(sim, pn)} was not found")
            return Response(status_code=204)

        self._trust_hub_routes(app)

    def _trust_hub_routes(self, app: FastAPI) -> None:
        sim = self

        @app.get(TRUSTHUB + "/TrustProducts")
        def products(request: Request) -> Response:
            query = dict(request.query_params)
            with sim.lock:
                rows = [dict(p) for p in sim.trust_products.values()
                        if all(not query.get(k) or p[f] == query[k] for k, f in (
                            ("PolicySid", "policy_sid"), ("Status", "status"),
                            ("FriendlyName", "friendly_name")))]
            return sim._page(request, [sim._product_view(request, p) for p in rows])

        @app.get(TRUSTHUB + "/TrustProducts/{bu}")
        def product(bu: str, request: Request) -> Response:
            with sim.lock:
                found = sim.trust_products.get(bu)
            if found is None:
                return twilio_error(404, f"The requested resource /TrustProducts/{bu} was not "
                                    "found")
            return JSONResponse(sim._product_view(request, dict(found)))

        @app.get(TRUSTHUB + "/TrustProducts/{bu}/EntityAssignments")
        def entities(bu: str, request: Request) -> Response:
            wanted = request.query_params.get("ObjectType")
            with sim.lock:
                if bu not in sim.trust_products:
                    return twilio_error(404, f"Trust Product {bu} was not found")
                rows = [{k: v for k, v in e.items() if k != "object_type"}
                        for e in sim.entities[bu] if not wanted or e["object_type"] == wanted]
            base = _root(request)
            for row in rows:
                row["url"] = f"{base}/TrustProducts/{bu}/EntityAssignments/{row['sid']}"
            return sim._page(request, rows)

        @app.get(TRUSTHUB + "/EndUsers/{it}")
        def end_user(it: str, request: Request) -> Response:
            with sim.lock:
                found = sim.end_users.get(it)
            if found is None:
                return twilio_error(404, f"The requested resource /EndUsers/{it} was not found")
            return JSONResponse({**found, "url": f"{_root(request)}/EndUsers/{it}"})

        @app.post(TRUSTHUB + "/TrustProducts/{bu}/ChannelEndpointAssignments")
        async def assign(bu: str, request: Request) -> Response:
            return sim._assign(bu, await _form(request), _root(request))

        @app.get(TRUSTHUB + "/TrustProducts/{bu}/ChannelEndpointAssignments")
        def assigned(bu: str, request: Request) -> Response:
            wanted = {s for s in (request.query_params.get("ChannelEndpointSid", ""),
                                  *request.query_params.get("ChannelEndpointSids", "").split(
                                      ",")) if s}
            with sim.lock:
                if bu not in sim.trust_products:
                    return twilio_error(404, f"Trust Product {bu} was not found")
                rows = [dict(r) for r in sim.assignments[bu]
                        if not wanted or r["channel_endpoint_sid"] in wanted]
            return sim._page(request, rows)

        @app.delete(TRUSTHUB + "/TrustProducts/{bu}/ChannelEndpointAssignments/{ra}")
        def unassign(bu: str, ra: str) -> Response:
            with sim.lock:
                rows = sim.assignments.get(bu, [])
                kept = [r for r in rows if r["sid"] != ra]
                if len(kept) == len(rows):
                    return twilio_error(404, f"The requested resource "
                                        f"/TrustProducts/{bu}/ChannelEndpointAssignments/{ra} "
                                        "was not found")
                rows[:] = kept
            return Response(status_code=204)

    # -- Trust Hub ------------------------------------------------------------------------------

    def _product_view(self, request: Request, row: dict[str, Any]) -> dict[str, Any]:
        url = f"{_root(request)}/TrustProducts/{row['sid']}"
        return {**row, "url": url, "links": {
            "trust_products_entity_assignments": url + "/EntityAssignments",
            "trust_products_evaluations": url + "/Evaluations",
            "trust_products_channel_endpoint_assignment": url + "/ChannelEndpointAssignments"}}

    def _page(self, request: Request, rows: list[dict[str, Any]]) -> Response:
        """One Trust Hub list page (`PageSize`, `Page`), `meta.next_page_url` absolute as
        Twilio's are — on this server's own root."""
        params = dict(request.query_params)
        size = _int(params.get("PageSize"), 50, 1, 1000)
        page = _int(params.get("Page"), 0, 0, 10**6)
        base = f"{_root(request)}{request.url.path.removeprefix(TRUSTHUB)}"

        def url(n: int) -> str:
            query = {k: v for k, v in params.items() if k not in ("Page", "PageToken")}
            return f"{base}?{urlencode({**query, 'PageSize': size, 'Page': n})}"

        more = (page + 1) * size < len(rows)
        return JSONResponse({"results": rows[page * size:(page + 1) * size], "meta": {
            "page": page, "page_size": size, "first_page_url": url(0),
            "previous_page_url": url(page - 1) if page else None, "url": url(page),
            "next_page_url": url(page + 1) + f"&PageToken=PT{page + 1}" if more else None,
            "key": "results"}})

    def _assign(self, bu: str, form: dict[str, str], root: str) -> Response:
        kind, pn = form.get("ChannelEndpointType", ""), form.get("ChannelEndpointSid", "")
        if not kind or not pn:
            return twilio_error(400, "Missing required parameter ChannelEndpointType or "
                                "ChannelEndpointSid in the post body", 20001)
        with self.lock:
            if bu not in self.trust_products:
                return twilio_error(404, f"Trust Product {bu} was not found")
            row = self._by_sid(pn)
            if kind != "phone-number" or row is None:
                return twilio_error(400, f"Channel endpoint {pn} is not a phone number of this "
                                    "account", 20001)
            if numbering.nanp_kind(row["number"]) == "tollfree":
                return twilio_error(400, "Toll-free numbers cannot be assigned to a CNAM "
                                    "Trust Product", 20001)
            if any(r["channel_endpoint_sid"] == pn for r in self.assignments[bu]):
                return twilio_error(400, f"Channel endpoint {pn} is already assigned to this "
                                    "Trust Product", 20001)
            ra = "RA" + uuid.uuid4().hex
            made = {"sid": ra, "trust_product_sid": bu,
                    "account_sid": self.credentials["account_sid"],
                    "channel_endpoint_sid": pn, "channel_endpoint_type": kind,
                    "date_created": _iso(),
                    "url": f"{root}/TrustProducts/{bu}/ChannelEndpointAssignments/{ra}"}
            self.assignments[bu].append(made)
        return JSONResponse(made, status_code=201)

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


def _iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _root(request: Request) -> str:
    """This server's Trust Hub root as the client reached it (`http://host:port/v1`)."""
    return str(request.base_url).rstrip("/") + TRUSTHUB


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
