"""Sinch Numbers API v1 simulator: available numbers, rent, active numbers, release, OAuth2.

Paths are those of `https://numbers.api.sinch.com` (`/v1/projects/{projectId}/…`) and of the
token service `https://auth.sinch.com` (`/oauth2/token`); the simulator serves both, so a
client's numbers origin and auth origin are both the simulator's URL.

Wire facts, verified against the `sinch` SDK 2.3.0 (`sinch/domains/numbers`,
`sinch/domains/authentication`, `sinch/core`) and developers.sinch.com:
- JSON both ways, E.164 numbers with `+` in paths (`availableNumbers/+12025550134:rent`);
- `GET availableNumbers` takes `regionCode` (ISO alpha-2), `type` (`LOCAL`, `MOBILE`,
  `TOLL_FREE`), `numberPattern.pattern` + `numberPattern.searchPattern` (`START` — the
  pattern then carries the `+` and country code —, `CONTAIN`, `END`; the SDK's literal says
  `CONTAINS`, both are accepted), `capabilities` (repeated: `SMS`, `VOICE`) and `size`;
  answer `{"availableNumbers": [{phoneNumber, regionCode, type, capability, setupPrice,
  monthlyPrice, paymentIntervalMonths, supportingDocumentationRequired}]}`;
- `POST availableNumbers/{e164}:rent` with `smsConfiguration`, `voiceConfiguration`
  (`{"type": "EST", "trunkId"}` | `{"type": "RTC", "appId"}` | `{"type": "FAX", "serviceId"}`)
  and `callbackUrl`; answer an ActiveNumber. Voice provisioning is scheduled: the answer (and
  every read until it is applied) has `voiceConfiguration.scheduledVoiceProvisioning` with
  `status` `WAITING`; once applied the id sits in `voiceConfiguration` and the scheduled part
  is gone (or stays with `FAILED`);
- `GET activeNumbers` (`regionCode`, `type`, `pageSize`, `pageToken`, `numberPattern.*`,
  `capabilities`, `orderBy`) → `{activeNumbers, nextPageToken, totalSize}`;
  `GET`/`PATCH activeNumbers/{e164}` (`displayName`, `smsConfiguration`,
  `voiceConfiguration`, `callbackUrl`); `POST activeNumbers/{e164}:release`;
- auth: Basic `keyId:keySecret` on the numbers API, or a bearer token from
  `POST /oauth2/token` (Basic `keyId:keySecret`, form `grant_type=client_credentials`) answered
  `{access_token, expires_in, scope, token_type}`; the SDK renews its token on a 401 whose
  `WWW-Authenticate` says `expired`, which is what an expired token gets here;
- errors `{"error": {"code", "message", "status", "details": [...]}}`: 400 `INVALID_ARGUMENT`
  with a `BadRequest` detail of `fieldViolations`, 404 `NOT_FOUND` with a `ResourceInfo`
  detail (`resourceType`, `resourceName`) — the shapes of the SDKs' models.

Unverified, chosen here: renting a number that is not (or no longer) available is 404
`NOT_FOUND` naming the number; 401 bodies (`UNAUTHENTICATED`; the token service answers
`{"error": "invalid_client", "error_description"}`); the token lifetime (3599 s);
`regionCode` and `type` required on `activeNumbers` lists as on searches.

Stock (deterministic): US/CA `LOCAL` for any area code (`+1` + NPA, default 206, 212, 415),
US `TOLL_FREE` (800, 833, 844, 855, 866, 877, 888), GB `LOCAL` (+4420, +44161), GB `MOBILE`
(+447700), SE `MOBILE` (+4670).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import time
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators.base import TOLLFREE_NPAS, RecordedRequest, Simulator, generate_nanp

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
          404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
          500: "INTERNAL", 503: "UNAVAILABLE"}
#: (region, type) → (dial code, national prefixes, national significant number length)
INTERNATIONAL = {("GB", "LOCAL"): ("44", ("20", "161"), 10),
                 ("GB", "MOBILE"): ("44", ("7700",), 10),
                 ("SE", "MOBILE"): ("46", ("70",), 9)}
DEFAULT_NPAS = ("206", "212", "415")


def error_body(status: int, message: str, details: list[dict[str, Any]] | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message,
                                   "status": STATUS.get(status, "UNKNOWN"),
                                   "details": details or []}},
                        status_code=status, headers=headers)


def invalid(field: str, description: str) -> JSONResponse:
    return error_body(400, "Invalid argument", [{
        "type": "BadRequest", "fieldViolations": [{"field": field,
                                                   "description": description}]}])


def not_found(kind: str, name: str) -> JSONResponse:
    return error_body(404, f"{kind} not found", [{
        "type": "ResourceInfo", "resourceType": kind, "resourceName": name, "owner": "",
        "description": ""}])


class SinchSimulator(Simulator):
    """`SinchSimulator(project_id="…", key_id="…", key_secret="…", voice_provisioning_ms=200)`:
    Basic `key_id:key_secret` or a bearer token from `POST /oauth2/token`.
    `voice_provisioning_result` (`applied` | `failed`) decides scheduled voice provisioning."""

    name = "knm_sinch"
    content_type = "application/json"

    def __init__(self, *, project_id: str = "9b1a2f3e-0000-4c5d-8e7f-000000000001",
                 key_id: str = "sinch-key-id", key_secret: str = "sinch-key-secret",
                 voice_provisioning_ms: int = 200, token_ttl_s: int = 3599) -> None:
        super().__init__(project_id=project_id, key_id=key_id, key_secret=key_secret)
        self.voice_provisioning_ms = voice_provisioning_ms
        self.voice_provisioning_result = "applied"
        self.token_ttl_s = token_ttl_s
        self.tokens: dict[str, float] = {}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.tokens.clear()
            self.voice_provisioning_result = "applied"

    # -- auth and errors ----------------------------------------------------------------------

    def _basic_ok(self, header: str) -> bool:
        c = self.credentials
        want = base64.b64encode(f"{c['key_id']}:{c['key_secret']}".encode()).decode()
        return header == f"Basic {want}"

    def check_auth(self, request: RecordedRequest) -> Response | None:
        auth = request.headers.get("authorization", "")
        if request.path == "/oauth2/token":
            if self._basic_ok(auth):
                return None
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "Client authentication failed"},
                                status_code=401)
        if self._basic_ok(auth):
            return None
        if auth.startswith("Bearer "):
            with self.lock:
                expires = self.tokens.get(auth[7:])
            if expires and expires > time.time():
                return None
            if expires:
                return error_body(401, "The access token expired.", headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                                        'error_description="token expired"'})
        return error_body(401, "Request had invalid authentication credentials.")

    def error_body(self, status: int, message: str) -> Response:
        return error_body(status, message)

    def malformed_body(self) -> bytes:
        return b'{"availableNumbers": [{"phoneNumber": "+1206'

    # -- stock --------------------------------------------------------------------------------

    def pool(self, region: str, kind: str, start: str) -> list[str]:
        """E.164 numbers of a region and type beginning with `start` (E.164 digits, may be
        empty), sorted, owned ones included."""
        if region in ("US", "CA"):
            if kind not in ("LOCAL", "TOLL_FREE") or (start and not start.startswith("1")):
                return []
            national = start[1:]
            tollfree = kind == "TOLL_FREE"
            if len(national) >= 3:
                if (national[:3] in TOLLFREE_NPAS) != tollfree:
                    return []
                prefixes = [national]
            else:
                prefixes = [n for n in (TOLLFREE_NPAS if tollfree else DEFAULT_NPAS)
                            if n.startswith(national)]
            seed = f"{self.name}:{region}"
            return sorted(f"+1{n}" for p in prefixes for n in generate_nanp(p, 60, seed=seed))
        spec = INTERNATIONAL.get((region, kind))
        if spec is None:
            return []
        dial, prefixes, length = spec
        out = []
        for prefix in prefixes:
            seed = hashlib.sha256(f"{self.name}:{region}:{kind}:{prefix}".encode()).digest()
            rng = random.Random(int.from_bytes(seed[:8], "big"))
            for _ in range(40):
                rest = "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
                out.append(f"+{dial}{prefix}{rng.choice('2345678')}{rest}")
        return sorted(n for n in set(out) if n[1:].startswith(start))

    def capabilities(self, region: str, kind: str) -> list[str]:
        return ["VOICE"] if (region, kind) == ("GB", "LOCAL") else ["SMS", "VOICE"]

    def describe(self, number: str) -> tuple[str, str] | None:
        """(region, type) of a number the simulator sells, or None."""
        for region, kind in [("US", "LOCAL"), ("US", "TOLL_FREE"), *INTERNATIONAL]:
            if number in self.pool(region, kind, number[1:]):
                return region, kind
        return None

    # -- documents ----------------------------------------------------------------------------

    def _available_doc(self, number: str, region: str, kind: str) -> dict[str, Any]:
        monthly = {"TOLL_FREE": "2.00", "MOBILE": "3.00"}.get(kind, "1.00")
        return {"phoneNumber": number, "regionCode": region, "type": kind,
                "capability": self.capabilities(region, kind),
                "setupPrice": {"currencyCode": "USD", "amount": "0.00"},
                "monthlyPrice": {"currencyCode": "USD", "amount": monthly},
                "paymentIntervalMonths": 1, "supportingDocumentationRequired": region != "US"}

    def _voice_progress(self, row: dict[str, Any]) -> None:
        """Apply a scheduled voice provisioning whose delay has passed."""
        pending = row.get("scheduled_voice")
        if not pending or pending["status"] != "WAITING":
            return
        if (time.monotonic() - pending["at"]) * 1000 < self.voice_provisioning_ms:
            return
        if self.voice_provisioning_result == "failed":
            pending["status"] = "FAILED"
            pending["lastUpdatedTime"] = _stamp()
            return
        row["voice"] = {k: v for k, v in pending.items() if k not in ("at", "status",
                                                                       "lastUpdatedTime")}
        row["voice_updated"] = _stamp()
        row["scheduled_voice"] = None

    def _active_doc(self, row: dict[str, Any]) -> dict[str, Any]:
        self._voice_progress(row)
        voice = dict(row.get("voice") or {"type": (row.get("scheduled_voice") or {}).get(
            "type", "RTC")})
        voice["lastUpdatedTime"] = row.get("voice_updated")
        pending = row.get("scheduled_voice")
        voice["scheduledVoiceProvisioning"] = (
            {k: v for k, v in pending.items() if k != "at"} if pending else None)
        region, kind = row["region"], row["kind"]
        doc = {"phoneNumber": row["number"], "projectId": self.credentials["project_id"],
               "displayName": row.get("display_name", ""), "regionCode": region, "type": kind,
               "capability": self.capabilities(region, kind),
               "money": {"currencyCode": "USD",
                         "amount": self._available_doc(row["number"], region, kind)[
                             "monthlyPrice"]["amount"]},
               "paymentIntervalMonths": 1, "nextChargeDate": row["next_charge"],
               "expireAt": row.get("expire_at"), "smsConfiguration": row.get("sms"),
               "voiceConfiguration": voice, "callbackUrl": row.get("callback_url", "")}
        return doc

    # -- routes -------------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        sim = self
        base = "/v1/projects/{project_id}"

        @app.post("/oauth2/token")
        async def token(request: Request) -> Response:
            form = (await request.body()).decode()
            if "grant_type=client_credentials" not in form:
                return JSONResponse({"error": "unsupported_grant_type",
                                     "error_description": "grant_type must be "
                                     "client_credentials"}, status_code=400)
            value = secrets.token_urlsafe(32)
            with sim.lock:
                sim.tokens[value] = time.time() + sim.token_ttl_s
            return JSONResponse({"access_token": value, "expires_in": sim.token_ttl_s,
                                 "scope": "", "token_type": "bearer"})

        @app.get(base + "/availableNumbers")
        def search(project_id: str, request: Request) -> Response:
            if project_id != sim.credentials["project_id"]:
                return sim._no_project(project_id)
            return sim._search(request)

        @app.post(base + "/availableNumbers/{number}:rent")
        async def rent(project_id: str, number: str, request: Request) -> Response:
            if project_id != sim.credentials["project_id"]:
                return sim._no_project(project_id)
            try:
                body = json.loads(await request.body() or b"{}")
                assert isinstance(body, dict)
            except (ValueError, AssertionError):
                return invalid("body", "The request body is not valid JSON.")
            return sim._rent(number, body)

        @app.get(base + "/availableNumbers/{number}")
        def check(project_id: str, number: str) -> Response:
            kind = sim.describe(number)
            if project_id != sim.credentials["project_id"]:
                return sim._no_project(project_id)
            if kind is None or sim.unavailable(number):
                return not_found("AvailableNumber", number)
            return JSONResponse(sim._available_doc(number, *kind))

        @app.get(base + "/activeNumbers")
        def list_active(project_id: str, request: Request) -> Response:
            if project_id != sim.credentials["project_id"]:
                return sim._no_project(project_id)
            return sim._list_active(request)

        @app.get(base + "/activeNumbers/{number}")
        def get_active(project_id: str, number: str) -> Response:
            with sim.lock:
                row = sim.owned.get(number)
                if row is None or project_id != sim.credentials["project_id"]:
                    return not_found("ActiveNumber", number)
                return JSONResponse(sim._active_doc(row))

        @app.patch(base + "/activeNumbers/{number}")
        async def update_active(project_id: str, number: str, request: Request) -> Response:
            try:
                body = json.loads(await request.body() or b"{}")
                assert isinstance(body, dict)
            except (ValueError, AssertionError):
                return invalid("body", "The request body is not valid JSON.")
            with sim.lock:
                row = sim.owned.get(number)
                if row is None or project_id != sim.credentials["project_id"]:
                    return not_found("ActiveNumber", number)
                problem = sim._configure(row, body)
                return problem or JSONResponse(sim._active_doc(row))

        @app.post(base + "/activeNumbers/{number}:release")
        def release(project_id: str, number: str) -> Response:
            with sim.lock:
                row = sim.owned.get(number)
                if row is None or project_id != sim.credentials["project_id"]:
                    return not_found("ActiveNumber", number)
                doc = sim._active_doc(row)
                sim.release(number)
            doc["releaseDate"] = _stamp()
            return JSONResponse(doc)

    # -- behaviour ----------------------------------------------------------------------------

    def _no_project(self, project_id: str) -> Response:
        return error_body(403, f"Project {project_id} is not accessible with these "
                          "credentials.")

    def _search(self, request: Request) -> Response:
        q = request.query_params
        region, kind = q.get("regionCode", ""), q.get("type", "")
        if not region:
            return invalid("regionCode", "regionCode is required")
        if kind not in ("LOCAL", "MOBILE", "TOLL_FREE"):
            return invalid("type", "type must be one of LOCAL, MOBILE, TOLL_FREE")
        try:
            size = int(q.get("size") or 100)
        except ValueError:
            return invalid("size", "size must be an integer")
        pattern = q.get("numberPattern.pattern", "")
        how = q.get("numberPattern.searchPattern", "START" if pattern else "")
        wanted = set(q.getlist("capabilities"))
        start = pattern.lstrip("+") if how == "START" else ""
        if how not in ("", "START", "CONTAIN", "CONTAINS", "END"):
            return invalid("numberPattern.searchPattern",
                           "searchPattern must be one of START, CONTAIN, END")
        with self.lock:
            numbers = [n for n in self.pool(region, kind, start) if n not in self.owned]
        if how in ("CONTAIN", "CONTAINS"):
            numbers = [n for n in numbers if pattern.lstrip("+") in n[1:]]
        elif how == "END":
            numbers = [n for n in numbers if n.endswith(pattern)]
        if wanted - set(self.capabilities(region, kind)):
            numbers = []
        return JSONResponse({"availableNumbers": [
            self._available_doc(n, region, kind) for n in numbers[:max(0, size)]]})

    def _rent(self, number: str, body: dict[str, Any]) -> Response:
        kind = self.describe(number)
        if kind is None:
            return not_found("AvailableNumber", number)
        with self.lock:
            if self.unavailable(number):  # ours already, or another customer's
                return not_found("AvailableNumber", number)
            row = {"number": number, "region": kind[0], "kind": kind[1], "voice": None,
                   "scheduled_voice": None, "voice_updated": None, "sms": None,
                   "next_charge": _stamp(30 * 86400), "expire_at": None}
            problem = self._configure(row, body)
            if problem:
                return problem
            self.owned[number] = row
            doc = self._active_doc(row)
        return JSONResponse(doc)

    def _configure(self, row: dict[str, Any], body: dict[str, Any]) -> Response | None:
        """Apply `displayName`, `smsConfiguration`, `voiceConfiguration`, `callbackUrl`."""
        voice = body.get("voiceConfiguration")
        if voice is not None:
            if not isinstance(voice, dict):
                return invalid("voiceConfiguration", "must be an object")
            vtype = voice.get("type") or "RTC"
            key = {"EST": "trunkId", "RTC": "appId", "FAX": "serviceId"}.get(vtype)
            if key is None:
                return invalid("voiceConfiguration.type", "type must be one of RTC, EST, FAX")
            row["scheduled_voice"] = {"type": vtype, key: voice.get(key) or "",
                                      "status": "WAITING", "lastUpdatedTime": _stamp(),
                                      "at": time.monotonic()}
        if "smsConfiguration" in body:
            row["sms"] = body["smsConfiguration"]
        if "displayName" in body:
            row["display_name"] = body["displayName"]
        if "callbackUrl" in body:
            row["callback_url"] = body["callbackUrl"]
        return None

    def _list_active(self, request: Request) -> Response:
        q = request.query_params
        region, kind = q.get("regionCode", ""), q.get("type", "")
        if not region:
            return invalid("regionCode", "regionCode is required")
        if kind not in ("LOCAL", "MOBILE", "TOLL_FREE"):
            return invalid("type", "type must be one of LOCAL, MOBILE, TOLL_FREE")
        try:
            size = max(1, int(q.get("pageSize") or 100))
            offset = int(q.get("pageToken") or 0)
        except ValueError:
            return invalid("pageToken", "pageToken is not valid")
        pattern = q.get("numberPattern.pattern", "").lstrip("+")
        how = q.get("numberPattern.searchPattern", "START")
        with self.lock:
            rows = sorted((r for r in self.owned.values()
                           if r["region"] == region and r["kind"] == kind), key=lambda r:
                          r["number"])
            if pattern:
                rows = [r for r in rows if (
                    r["number"][1:].startswith(pattern) if how == "START" else
                    r["number"].endswith(pattern) if how == "END" else pattern in r["number"])]
            page = [self._active_doc(r) for r in rows[offset:offset + size]]
        more = offset + size < len(rows)
        return JSONResponse({"activeNumbers": page,
                             "nextPageToken": str(offset + size) if more else "",
                             "totalSize": len(rows)})


def _stamp(offset_s: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + offset_s))
