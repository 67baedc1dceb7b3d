"""DIDWW API v3 simulator (JSON:API): coverage, available DIDs, orders, DIDs, voice-in trunks.

Paths are those of `https://api.didww.com/v3` (the simulator serves them under `/v3`, so a
client's base URL is `<sim url>/v3`); the token service of API version 2026-11-19
(`https://auth.didww.com/token`) is `<sim url>/token`.

Wire facts, verified against didww/didww-api-3-openapi@11d0c011 (`openapi/v3_api.yaml`, API
version 2026-04-16), the `didww` SDK 3.2.0 and its recorded fixtures, and doc.didww.com:
- media type `application/vnd.api+json` both ways; `meta.api_version` on every document,
  `meta.total_records` and `links.first/last/next` on collections; `page[number]`,
  `page[size]` (default 50, at most 1000);
- auth: an `Api-Key` header, the version per request in `X-DIDWW-API-Version` (default
  2026-04-16). In 2026-11-19 an API key on an API request is refused with 401; the key only
  mints bearer tokens at `POST /token` (Api-Key header), sent as `Authorization: Bearer`;
- filters (spec `*Filter` parameters): did_groups `country.id`, `region.id`, `city.id`,
  `nanpa_prefix.id`, `nanpa_prefix.npanxx`, `prefix`, `area_name`, `did_group_type.id`;
  available_dids `did_group.id`, `country.id`, `nanpa_prefix.id`, `number_contains`, …;
  nanpa_prefixes `npa`, `nxx`, `npanxx`; dids `number`, `order.id`, `terminated`,
  `voice_in_trunk.id`; orders `external_reference_id`, `status`, `reference`. Any other
  filter is 400 with code `102` "Filter not allowed" (the spec's example error);
- errors: `{"errors": [{"title", "detail", "code", "status", "source": {"pointer"}}]}`, `code`
  a JSON:API code (`100` validation, `102` filter, `106` missing parameter), `status` the
  HTTP status as a string;
- orders: `POST /v3/orders` with `items` of type `did_order_items` carrying `sku_id` + `qty`,
  `available_did_id` (with or without `sku_id`) or `sku_id` + `nanpa_prefix_id` + `qty`,
  plus `external_reference_id`, `callback_url`, `callback_method`, `allow_back_ordering`;
  201, `status` `pending`, later `completed` or `canceled`; the DIDs appear in
  `GET /v3/dids?filter[order.id]=` once the order completed;
- DIDs have no DELETE: `PATCH /v3/dids/{id}` sets `terminated`, `billing_cycles_count`,
  `description`, `capacity_limit` and the exclusive relationships `voice_in_trunk` /
  `voice_in_trunk_group`. Numbers are digits with the country code, no `+` (`16169886810`).

Unverified, chosen here: the 401 body (JSON:API, code `401`); the error for an available DID
that is gone (422, code `100`, pointer at the item); the token response (`access_token`,
`token_type`, `expires_in`); what `terminated` does at once (here the number leaves the
account's active stock and returns to sale, the DID stays listed with `terminated: true`);
`billing_cycles_count: 0` is only recorded. Order callbacks are recorded, not sent.

Emergency calling (doc.didww.com "Emergency Resources", the SDK's fixtures): `GET
/v3/emergency_requirements` (filters `country.id`, `did_group_type.id` — 2026-11-19:
`number_type`, the other being 400 —; US local numbers: identity `any`; London: a `personal`
identity with a `birth_date`); `POST`/`GET`/`DELETE /v3/identities` and `/v3/addresses` (409
while in use); `POST /v3/emergency_requirement_validations` (201, or 422 with one error per
problem: identity type, mandatory fields, the address's country, the simulators' address
rule of `knm.simulators.addresses` — a CORRECTME street is valid: DIDWW corrects nothing);
`POST /v3/emergency_verifications` (`dids` or `emergency_calling_service`, 403 while
`sim.emergency_plan` is False — `POST /_sim/emergency_plan {"assigned"}` —, 422 for a DID
without the emergency feature or already in a live service, or a service `in_process`,
`pending_update` or `canceled`) → `pending`, reviewed per `feature_complete_ms` /
`feature_result` or at once by `POST /_sim/emergency_verifications/{id}/approve|reject`
(`{"reasons", "comment"}`); approval makes (or updates) the emergency calling service with
status `sim.approved_service_status`; `GET /v3/emergency_verifications[/{id}]`
(`include=emergency_calling_service`), `GET`/`DELETE /v3/emergency_calling_services/{id}`
(deleted: `canceled`). Unverified, chosen here: the 403 body, the verification filter
`external_reference_id`, deletions allowed once a service is canceled. `sim.hold(number)`
puts a DID on the account as if bought earlier.

Stock (deterministic): US 212 New York, 415 San Francisco, 312 Chicago, 201 Jersey City
(each with NANPA prefixes, whose NXXs are those of the stock), US toll-free 800; GB 20
London, 161 Manchester. Every DID group has two SKUs (0 and 2 channels included).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from knm.simulators import addresses
from knm.simulators.base import RecordedRequest, Simulator, generate_nanp

JSONAPI = "application/vnd.api+json"
V_KEY = "2026-04-16"
V_TOKEN = "2026-11-19"
_NS = uuid.UUID("5f0c6f3e-0d1a-4d7e-9a51-6a7e1f1d0d11")


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, ":".join(parts)))


@dataclass(frozen=True)
class DidGroup:
    country: str          # ISO alpha-2
    region: str | None    # region name
    city: str | None
    kind: str             # did_group_type name
    prefix: str           # national prefix (NPA for NANP, area code elsewhere)
    area_name: str

    @property
    def id(self) -> str:
        return _uid("did_group", self.country, self.prefix)


COUNTRIES = {"US": ("United States", "1"), "GB": ("United Kingdom", "44")}
REGIONS = {"New York": ("US", "NY"), "California": ("US", "CA"), "Illinois": ("US", "IL"),
           "New Jersey": ("US", "NJ"), "England": ("GB", None)}
GROUPS = [
    DidGroup("US", "New York", "New York", "Local", "212", "New York"),
    DidGroup("US", "California", "San Francisco", "Local", "415", "San Francisco"),
    DidGroup("US", "Illinois", "Chicago", "Local", "312", "Chicago"),
    DidGroup("US", "New Jersey", "Jersey City", "Local", "201", "Jersey City"),
    DidGroup("US", None, None, "Toll-free", "800", "Toll-free"),
    DidGroup("GB", "England", "London", "Local", "20", "London"),
    DidGroup("GB", "England", "Manchester", "Local", "161", "Manchester"),
]
#: national significant number length per country
NSN_LENGTH = {"US": 10, "GB": 10}

ALLOWED_FILTERS = {
    "did_groups": {"allow_additional_channels", "area_name", "available_dids_enabled",
                   "city.id", "country.id", "did_group_type.id", "features", "id",
                   "is_available", "is_metered", "meta.total_count_gteq", "nanpa_prefix.id",
                   "nanpa_prefix.npanxx", "needs_registration", "prefix", "region.id"},
    "available_dids": {"city.id", "country.id", "did_group.features", "did_group.id",
                       "did_group.needs_registration", "did_group_type.id", "id",
                       "nanpa_prefix.id", "number_contains", "region.id"},
    "nanpa_prefixes": {"country.id", "did_group.features", "did_group.is_available", "id",
                       "npa", "npanxx", "nxx", "region.id"},
    "dids": {"address_verification.id", "awaiting_registration", "billing_cycles_count",
             "blocked", "capacity_pool.id", "city.id", "country.id", "description",
             "did_group.features", "did_group.id", "emergency_calling_service.id",
             "emergency_enabled", "id", "number", "order.id", "order.reference",
             "pending_removal", "region.id", "shared_capacity_group.id", "terminated",
             "trunk.id", "trunk_group.id", "voice_in_trunk.id", "voice_in_trunk_group.id"},
    "orders": {"created_at_gteq", "created_at_lteq", "external_reference_id", "id",
               "reference", "status"},
    "voice_in_trunks": {"configuration.type", "external_reference_id", "id", "name"},
    "countries": {"id", "is_available", "iso", "name", "prefix"},
    "emergency_requirements": {"id", "country.id", "did_group_type.id", "number_type"},
    "emergency_verifications": {"id", "status", "external_reference_id", "reference"},
    "emergency_calling_services": {"id", "status", "reference", "country.id"},
}
#: a DID group type's `number_type` (API version 2026-11-19)
NUMBER_TYPES = {"Local": "local", "Toll-free": "toll_free"}
#: emergency requirements by (country, DID group type): identity type, mandatory fields of a
#: personal identity
REQUIREMENTS = {("US", "Local"): ("any", []), ("GB", "Local"): ("personal", ["birth_date"])}


def jsonapi(doc: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(doc), status_code=status, media_type=JSONAPI)


def errors_body(status: int, detail: str, *, title: str | None = None, code: str | None = None,
                pointer: str | None = None) -> Response:
    error: dict[str, Any] = {
        "title": title or {400: "Bad request", 401: "Unauthorized", 403: "Forbidden",
                           404: "Record not found", 422: "is invalid",
                           429: "Too many requests"}.get(status, "Internal server error"),
        "detail": detail, "code": code or {422: "100", 404: "404"}.get(status, str(status)),
        "status": str(status)}
    if pointer:
        error["source"] = {"pointer": pointer}
    return jsonapi({"errors": [error]}, status)


class DidwwSimulator(Simulator):
    """`DidwwSimulator(api_key="…", token_ttl_s=600, trunk_id=None)`: the `Api-Key` header
    (API version 2026-04-16) or a bearer token from `POST /token` (version 2026-11-19).
    `trunk_id` is a voice-in trunk the account already has — the one an operator sets up
    once before buying numbers routed to it —, kept across `reset()`."""

    name = "knm_didww"
    content_type = JSONAPI

    def __init__(self, *, api_key: str = "didww-simulated-api-key", token_ttl_s: int = 600,
                 trunk_id: str | None = None) -> None:
        super().__init__(api_key=api_key)
        self.token_ttl_s = token_ttl_s
        self.tokens: dict[str, float] = {}
        self.trunks: dict[str, dict[str, Any]] = {}
        self.standing_trunk = trunk_id
        #: DIDs that were terminated: id → row (they stay listed, `terminated: true`)
        self.terminated: dict[str, dict[str, Any]] = {}
        self._numbers: dict[str, list[str]] = {}
        self._emergency_books()
        self._add_standing_trunk()

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.tokens.clear()
            self.trunks.clear()
            self.terminated.clear()
            self._emergency_books()
            self._add_standing_trunk()

    def _add_standing_trunk(self) -> None:
        if self.standing_trunk:
            self.trunks[self.standing_trunk] = {
                "id": self.standing_trunk, "name": "knm", "priority": 1, "weight": 100,
                "capacity_limit": None, "ringing_timeout": None, "cli_format": "e164",
                "cli_prefix": None, "description": None, "external_reference_id": None,
                "created_at": _stamp(), "configuration": {
                    "type": "sip_configurations",
                    "attributes": {"host": "sip.knm.invalid", "port": 5060}},
                "pop": None}

    # -- auth and errors ----------------------------------------------------------------------

    def check_auth(self, request: RecordedRequest) -> Response | None:
        key = request.headers.get("api-key", "")
        good_key = key == self.credentials["api_key"]
        if request.path == "/token":
            return None if good_key else errors_body(401, "Invalid API key.")
        if request.path.startswith("/v3/public_keys"):
            return None
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            with self.lock:
                expires = self.tokens.get(auth[7:])
            if expires and expires > time.time():
                return None
            return errors_body(401, "The access token is invalid or has expired.")
        if good_key:
            if request.headers.get("x-didww-api-version") == V_TOKEN:
                return errors_body(401, f"API version {V_TOKEN} authenticates with a bearer "
                                   "access token; an API key is used only to mint one.")
            return None
        return errors_body(401, "Invalid or missing API key.")

    def error_body(self, status: int, message: str) -> Response:
        return errors_body(status, message)

    def malformed_body(self) -> bytes:
        return b'{"data": [{"id": "0b76223b", "type": "available_dids", "attributes": {"num'

    # -- stock ----------------------------------------------------------------------------------

    def group_numbers(self, group: DidGroup) -> list[str]:
        """Every number of a DID group (digits with country code), sorted, owned ones too."""
        if group.prefix not in self._numbers:
            self._numbers[group.prefix] = self._generate(group)
        return self._numbers[group.prefix]

    def _generate(self, group: DidGroup) -> list[str]:
        if group.country == "US":
            return ["1" + n for n in generate_nanp(group.prefix, 60, seed=self.name)]
        dial = COUNTRIES[group.country][1]
        rest = NSN_LENGTH[group.country] - len(group.prefix)
        seed = hashlib.sha256(f"{self.name}:{group.country}:{group.prefix}".encode()).digest()
        rng = random.Random(int.from_bytes(seed[:8], "big"))
        out = {dial + group.prefix + rng.choice("2345678")
               + "".join(rng.choice("0123456789") for _ in range(rest - 1)) for _ in range(60)}
        return sorted(out)

    def available(self, group: DidGroup) -> list[str]:
        with self.lock:
            return [n for n in self.group_numbers(group) if "+" + n not in self.owned]

    def nanpa_prefixes(self) -> list[dict[str, Any]]:
        rows = []
        for group in GROUPS:
            if group.country != "US" or group.kind != "Local":
                continue
            for nxx in sorted({n[4:7] for n in self.group_numbers(group)})[:8]:
                rows.append({"id": _uid("nanpa", group.prefix, nxx), "npa": group.prefix,
                             "nxx": nxx, "group": group})
        return rows

    def skus(self, group: DidGroup) -> list[dict[str, Any]]:
        monthly = "0.49" if group.kind == "Toll-free" else "0.19"
        return [{"id": _uid("sku", group.id, str(ch)), "type": "stock_keeping_units",
                 "attributes": {"setup_price": "0.0", "monthly_price": monthly if ch else "0.09",
                                "channels_included_count": ch}} for ch in (0, 2)]

    def _sku_group(self, sku_id: str) -> DidGroup | None:
        return next((g for g in GROUPS if any(s["id"] == sku_id for s in self.skus(g))), None)

    # -- resource documents ---------------------------------------------------------------------

    def _rel(self, own: str, oid: str, name: str, data: Any = ...) -> dict[str, Any]:
        base = f"https://api.didww.com/v3/{own}/{oid}"
        rel: dict[str, Any] = {"links": {"self": f"{base}/relationships/{name}",
                                         "related": f"{base}/{name}"}}
        if data is not ...:
            rel["data"] = data
        return rel

    def _group_doc(self, g: DidGroup, with_skus: bool, version: str = V_KEY,
                   with_type: bool = False) -> dict[str, Any]:
        skus = [{"type": "stock_keeping_units", "id": s["id"]} for s in self.skus(g)]
        rels = {
            "country": self._rel("did_groups", g.id, "country"),
            "region": self._rel("did_groups", g.id, "region"),
            "city": self._rel("did_groups", g.id, "city"),
            "did_group_type": self._rel("did_groups", g.id, "did_group_type", {
                "type": "did_group_types", "id": _uid("type", g.kind)} if with_type else ...),
            "stock_keeping_units": self._rel("did_groups", g.id, "stock_keeping_units",
                                             skus if with_skus else ...),
        }
        features = ["voice_in"] if g.kind == "Toll-free" else ["voice_in", "sms_in", "t38",
                                                               "emergency"]
        attrs: dict[str, Any] = {"prefix": g.prefix, "features": features, "is_metered": False,
                                 "area_name": g.area_name, "allow_additional_channels": True}
        if version == V_TOKEN:  # 2026-11-19: the number type replaces did_group_type
            attrs["number_type"] = NUMBER_TYPES[g.kind]
            rels.pop("did_group_type")
        return {"id": g.id, "type": "did_groups", "attributes": attrs,
                "relationships": rels,
                "meta": {"available_dids_enabled": True, "needs_registration": False,
                         "is_available": True, "total_count": len(self.available(g))}}

    def _available_doc(self, number: str, g: DidGroup, include: str) -> dict[str, Any]:
        aid = _uid("available_did", number)
        rels = {"did_group": self._rel("available_dids", aid, "did_group",
                                       {"type": "did_groups", "id": g.id}
                                       if "did_group" in include else ...),
                "nanpa_prefix": self._rel("available_dids", aid, "nanpa_prefix")}
        return {"id": aid, "type": "available_dids", "attributes": {"number": number},
                "relationships": rels}

    def _did_doc(self, row: dict[str, Any], include: str = "") -> dict[str, Any]:
        """A DID; relationship linkage only for what `include` asked (as the spec says)."""
        trunk = row.get("voice_in_trunk")
        group_trunk = row.get("voice_in_trunk_group")
        # a dotted include path includes each resource on its way (JSON:API)
        wanted = {p.split(".")[0] for p in include.split(",")} | set(include.split(","))

        def link(name: str, value: Any) -> Any:
            return value if name in wanted else ...

        return {
            "id": row["id"], "type": "dids",
            "attributes": {"blocked": False, "capacity_limit": row.get("capacity_limit"),
                           "description": row.get("description"),
                           "terminated": row.get("terminated", False),
                           "awaiting_registration": False, "created_at": row["created_at"],
                           "number": row["did_number"], "expires_at": row["expires_at"],
                           "channels_included_count": row.get("channels", 0),
                           "billing_cycles_count": row.get("billing_cycles_count"),
                           "dedicated_channels_count": 0,
                           "emergency_enabled": self._service_active(row.get("ecs_id"))},
            "relationships": {
                "did_group": self._rel("dids", row["id"], "did_group", link(
                    "did_group", {"type": "did_groups", "id": row["did_group_id"]})),
                "order": self._rel("dids", row["id"], "order", link(
                    "order", {"type": "orders", "id": row["order_id"]})),
                "emergency_calling_service": self._rel(
                    "dids", row["id"], "emergency_calling_service", link(
                        "emergency_calling_service",
                        {"type": "emergency_calling_services", "id": row["ecs_id"]}
                        if row.get("ecs_id") else None)),
                "voice_in_trunk": self._rel("dids", row["id"], "voice_in_trunk", link(
                    "voice_in_trunk",
                    {"type": "voice_in_trunks", "id": trunk} if trunk else None)),
                "voice_in_trunk_group": self._rel(
                    "dids", row["id"], "voice_in_trunk_group", link(
                        "voice_in_trunk_group",
                        {"type": "voice_in_trunk_groups", "id": group_trunk} if group_trunk
                        else None)),
            }}

    def _order_doc(self, order: dict[str, Any]) -> dict[str, Any]:
        status = {"pending": "pending", "complete": "completed", "failed": "canceled"}[
            order["state"]]
        return {"id": order["id"], "type": "orders", "attributes": {
            "amount": f"{0.19 * len(order['numbers']):.2f}", "status": status,
            "created_at": order["created_at"], "description": "DID",
            "reference": order["reference"], "items": order["items"],
            "callback_url": order.get("callback_url"),
            "callback_method": order.get("callback_method"),
            "allow_back_ordering": order.get("allow_back_ordering", False),
            "external_reference_id": order.get("external_reference_id")}}

    def _trunk_doc(self, trunk: dict[str, Any]) -> dict[str, Any]:
        return {"id": trunk["id"], "type": "voice_in_trunks",
                "attributes": {k: v for k, v in trunk.items() if k not in ("id", "pop")},
                "relationships": {
                    "pop": self._rel("voice_in_trunks", trunk["id"], "pop",
                                     trunk.get("pop")),
                    "voice_in_trunk_group": self._rel("voice_in_trunks", trunk["id"],
                                                      "voice_in_trunk_group")}}

    # -- helpers ----------------------------------------------------------------------------------

    def meta(self, request: Request) -> dict[str, Any]:
        bearer = request.headers.get("authorization", "").startswith("Bearer ")
        return {"api_version": V_TOKEN if bearer else
                request.headers.get("x-didww-api-version") or V_KEY}

    def filters(self, request: Request, resource: str) -> dict[str, str] | Response:
        out = {}
        for key, value in request.query_params.items():
            if key.startswith("filter[") and key.endswith("]"):
                name = key[7:-1]
                if name not in ALLOWED_FILTERS[resource]:
                    return errors_body(400, f"{name} is not allowed.",
                                       title="Filter not allowed", code="102")
                out[name] = value
        return out

    def collection(self, request: Request, rows: list[dict[str, Any]],
                   included: list[dict[str, Any]] | None = None) -> Response:
        try:
            number = max(1, int(request.query_params.get("page[number]") or 1))
            size = min(1000, max(1, int(request.query_params.get("page[size]") or 50)))
        except ValueError:
            return errors_body(400, "page[number] and page[size] must be integers.",
                               title="Invalid page value", code="118")
        page = rows[(number - 1) * size: number * size]
        last = max(1, -(-len(rows) // size))
        url = str(request.url.remove_query_params(["page[number]", "page[size]"]))
        sep = "&" if "?" in url else "?"
        links = {"first": f"{url}{sep}page[number]=1&page[size]={size}",
                 "last": f"{url}{sep}page[number]={last}&page[size]={size}"}
        if number < last:
            links["next"] = f"{url}{sep}page[number]={number + 1}&page[size]={size}"
        doc: dict[str, Any] = {"data": page, "meta": {**self.meta(request),
                                                       "total_records": len(rows)},
                               "links": links}
        if included is not None:
            doc["included"] = included
        return jsonapi(doc)

    def dids(self) -> list[dict[str, Any]]:
        """Rows of the account's DIDs: those of completed orders, then terminated ones."""
        with self.lock:
            live = [r for r in self.owned.values()
                    if (self.order_progress(r["order_id"]) or {}).get("state") == "complete"]
            return sorted(live + list(self.terminated.values()), key=lambda r: r["did_number"])

    # -- routes -------------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        sim = self

        @app.post("/token")
        def token() -> Response:
            value = secrets.token_urlsafe(32)
            with sim.lock:
                sim.tokens[value] = time.time() + sim.token_ttl_s
            return JSONResponse({"access_token": value, "token_type": "Bearer",
                                 "expires_in": sim.token_ttl_s, "api_version": V_TOKEN})

        @app.get("/v3/countries")
        def countries(request: Request) -> Response:
            wanted = sim.filters(request, "countries")
            if isinstance(wanted, Response):
                return wanted
            rows = [{"id": _uid("country", iso), "type": "countries",
                     "attributes": {"name": name, "prefix": dial, "iso": iso}}
                    for iso, (name, dial) in COUNTRIES.items()
                    if _match(wanted, {"iso": iso, "prefix": dial, "name": name,
                                       "id": _uid("country", iso)})]
            return jsonapi({"data": rows, "meta": sim.meta(request)})

        @app.get("/v3/regions")
        def regions(request: Request) -> Response:
            rows = [{"id": _uid("region", name), "type": "regions",
                     "attributes": {"name": name, "iso": iso}}
                    for name, (_country, iso) in REGIONS.items()]
            return jsonapi({"data": rows, "meta": sim.meta(request)})

        @app.get("/v3/nanpa_prefixes")
        def nanpa(request: Request) -> Response:
            wanted = sim.filters(request, "nanpa_prefixes")
            if isinstance(wanted, Response):
                return wanted
            rows = [{"id": p["id"], "type": "nanpa_prefixes",
                     "attributes": {"npa": p["npa"], "nxx": p["nxx"]}}
                    for p in sim.nanpa_prefixes()
                    if _match(wanted, {"id": p["id"], "npa": p["npa"], "nxx": p["nxx"],
                                       "npanxx": p["npa"] + p["nxx"],
                                       "country.id": _uid("country", "US")})]
            return sim.collection(request, rows)

        @app.get("/v3/did_groups")
        def did_groups(request: Request) -> Response:
            wanted = sim.filters(request, "did_groups")
            if isinstance(wanted, Response):
                return wanted
            groups = [g for g in GROUPS if _match(wanted, sim._group_fields(g))]
            with_skus = "stock_keeping_units" in request.query_params.get("include", "")
            included = ([s for g in groups for s in sim.skus(g)] if with_skus else None)
            return sim.collection(request, [sim._group_doc(g, with_skus) for g in groups],
                                  included)

        @app.get("/v3/did_groups/{group_id}")
        def did_group(group_id: str, request: Request) -> Response:
            group = next((g for g in GROUPS if g.id == group_id), None)
            if group is None:
                return errors_body(404, f"Record not found: {group_id}")
            with_skus = "stock_keeping_units" in request.query_params.get("include", "")
            doc = {"data": sim._group_doc(group, with_skus), "meta": sim.meta(request)}
            if with_skus:
                doc["included"] = sim.skus(group)
            return jsonapi(doc)

        @app.get("/v3/available_dids")
        def available_dids(request: Request) -> Response:
            wanted = sim.filters(request, "available_dids")
            if isinstance(wanted, Response):
                return wanted
            contains = wanted.pop("number_contains", "")
            rows, groups = [], []
            for g in GROUPS:
                fields = sim._group_fields(g)
                fields = {"did_group.id": g.id, **{k: v for k, v in fields.items()
                                                    if k != "id"}}
                for number in sim.available(g):
                    row_fields = {**fields, "id": _uid("available_did", number),
                                  "nanpa_prefix.id": _uid("nanpa", g.prefix, number[4:7])}
                    if contains in number and _match(wanted, row_fields):
                        rows.append(sim._available_doc(
                            number, g, request.query_params.get("include", "")))
                        if g not in groups:
                            groups.append(g)
            include = request.query_params.get("include", "")
            included = None
            if "did_group" in include:
                with_skus = "did_group.stock_keeping_units" in include
                included = [sim._group_doc(g, with_skus) for g in groups]
                if with_skus:
                    included += [s for g in groups for s in sim.skus(g)]
            return sim.collection(request, rows, included)

        @app.post("/v3/orders")
        async def create_order(request: Request) -> Response:
            try:
                doc = json.loads(await request.body() or b"null")
                attrs = doc["data"]["attributes"]
                assert doc["data"]["type"] == "orders" and isinstance(attrs, dict)
            except (ValueError, KeyError, TypeError, AssertionError):
                return errors_body(400, "The request body is not a JSON:API orders document.",
                                   title="Invalid request", code="106", pointer="/data")
            return sim._create_order(attrs, request)

        @app.get("/v3/orders")
        def list_orders(request: Request) -> Response:
            wanted = sim.filters(request, "orders")
            if isinstance(wanted, Response):
                return wanted
            with sim.lock:
                ids = list(sim.orders)
            docs = [sim._order_doc(o) for o in map(sim.order_progress, ids) if o]
            docs = [d for d in docs if _match(wanted, {
                "id": d["id"], "status": d["attributes"]["status"],
                "reference": d["attributes"]["reference"],
                "external_reference_id": d["attributes"]["external_reference_id"] or ""})]
            return sim.collection(request, docs)

        @app.get("/v3/orders/{order_id}")
        def get_order(order_id: str, request: Request) -> Response:
            order = sim.order_progress(order_id)
            if order is None:
                return errors_body(404, f"Record not found: {order_id}")
            return jsonapi({"data": sim._order_doc(order), "meta": sim.meta(request)})

        @app.delete("/v3/orders/{order_id}")
        def cancel_order(order_id: str) -> Response:
            with sim.lock:
                order = sim.order_progress(order_id)
                if order is None:
                    return errors_body(404, f"Record not found: {order_id}")
                if order["state"] != "pending":
                    return errors_body(422, "Only a pending order can be canceled.",
                                       pointer="/data/attributes/status")
                order["state"] = "failed"
                for n in order["numbers"]:
                    sim.owned.pop(n, None)
            return Response(status_code=204)

        @app.get("/v3/dids")
        def list_dids(request: Request) -> Response:
            wanted = sim.filters(request, "dids")
            if isinstance(wanted, Response):
                return wanted
            rows = [r for r in sim.dids() if _match(wanted, {
                "id": r["id"], "number": r["did_number"], "order.id": r["order_id"],
                "terminated": str(r.get("terminated", False)).lower(),
                "voice_in_trunk.id": r.get("voice_in_trunk") or "",
                "did_group.id": r["did_group_id"]})]
            include = request.query_params.get("include", "")
            version = sim.meta(request)["api_version"]
            return sim.collection(request, [sim._did_doc(r, include) for r in rows],
                                  sim._did_included(rows, include, version))

        @app.get("/v3/dids/{did_id}")
        def get_did(did_id: str, request: Request) -> Response:
            row = next((r for r in sim.dids() if r["id"] == did_id), None)
            if row is None:
                return errors_body(404, f"Record not found: {did_id}")
            include = request.query_params.get("include", "")
            doc = {"data": sim._did_doc(row, include), "meta": sim.meta(request)}
            if include:
                doc["included"] = sim._did_included([row], include,
                                                    sim.meta(request)["api_version"])
            return jsonapi(doc)

        @app.patch("/v3/dids/{did_id}")
        async def patch_did(did_id: str, request: Request) -> Response:
            try:
                data = json.loads(await request.body() or b"null")["data"]
            except (ValueError, KeyError, TypeError):
                return errors_body(400, "The request body is not a JSON:API document.",
                                   title="Invalid request", code="106", pointer="/data")
            return sim._patch_did(did_id, data, request)

        sim._trunk_routes(app)
        sim._emergency_routes(app)

    def _trunk_routes(self, app: FastAPI) -> None:
        sim = self

        @app.post("/v3/voice_in_trunks")
        async def create_trunk(request: Request) -> Response:
            try:
                data = json.loads(await request.body() or b"null")["data"]
                attrs = dict(data.get("attributes") or {})
            except (ValueError, KeyError, TypeError, AttributeError):
                return errors_body(400, "The request body is not a JSON:API document.",
                                   title="Invalid request", code="106", pointer="/data")
            if not attrs.get("name"):
                return errors_body(422, "name - can't be blank",
                                   pointer="/data/attributes/name")
            trunk_id = str(uuid.uuid4())
            pop = ((data.get("relationships") or {}).get("pop") or {}).get("data")
            trunk = {"id": trunk_id, "priority": 1, "weight": 100, "capacity_limit": None,
                     "ringing_timeout": None, "cli_format": "e164", "cli_prefix": None,
                     "description": None, "external_reference_id": None,
                     "created_at": _stamp(), **attrs, "pop": pop}
            with sim.lock:
                sim.trunks[trunk_id] = trunk
            return jsonapi({"data": sim._trunk_doc(trunk), "meta": sim.meta(request)}, 201)

        @app.get("/v3/voice_in_trunks")
        def list_trunks(request: Request) -> Response:
            wanted = sim.filters(request, "voice_in_trunks")
            if isinstance(wanted, Response):
                return wanted
            with sim.lock:
                trunks = list(sim.trunks.values())
            rows = [sim._trunk_doc(t) for t in trunks if _match(wanted, {
                "id": t["id"], "name": t.get("name") or "",
                "external_reference_id": t.get("external_reference_id") or "",
                "configuration.type": (t.get("configuration") or {}).get("type", "")})]
            return sim.collection(request, rows)

        @app.get("/v3/voice_in_trunks/{trunk_id}")
        def get_trunk(trunk_id: str, request: Request) -> Response:
            with sim.lock:
                trunk = sim.trunks.get(trunk_id)
            if trunk is None:
                return errors_body(404, f"Record not found: {trunk_id}")
            return jsonapi({"data": sim._trunk_doc(trunk), "meta": sim.meta(request)})

        @app.delete("/v3/voice_in_trunks/{trunk_id}")
        def delete_trunk(trunk_id: str) -> Response:
            with sim.lock:
                if sim.trunks.pop(trunk_id, None) is None:
                    return errors_body(404, f"Record not found: {trunk_id}")
                for row in sim.owned.values():
                    if row.get("voice_in_trunk") == trunk_id:
                        row["voice_in_trunk"] = None
            return Response(status_code=204)

    # -- behaviour ------------------------------------------------------------------------------

    def _did_included(self, rows: list[dict[str, Any]], include: str, version: str = V_KEY
                      ) -> list[dict[str, Any]] | None:
        if not include:
            return None
        out: dict[str, dict[str, Any]] = {}
        wanted = set(include.split(","))
        for row in rows:
            trunk = self.trunks.get(row.get("voice_in_trunk") or "")
            if "voice_in_trunk" in wanted and trunk:
                out[trunk["id"]] = self._trunk_doc(trunk)
            if "order" in wanted:
                order = self.order_progress(row["order_id"])
                if order:
                    out[order["id"]] = self._order_doc(order)
            with_type = "did_group.did_group_type" in wanted and version == V_KEY
            if "did_group" in wanted or with_type:
                group = next(g for g in GROUPS if g.id == row["did_group_id"])
                out[group.id] = self._group_doc(group, False, version, with_type)
                if with_type:
                    out[_uid("type", group.kind)] = {
                        "id": _uid("type", group.kind), "type": "did_group_types",
                        "attributes": {"name": group.kind}}
            service = self.services.get(row.get("ecs_id") or "")
            if "emergency_calling_service" in wanted and service:
                out[service["id"]] = self._service_doc(service)
        return list(out.values())

    def _group_fields(self, g: DidGroup) -> dict[str, Any]:
        npanxx = [p["npa"] + p["nxx"] for p in self.nanpa_prefixes() if p["group"] == g]
        return {"id": g.id, "country.id": _uid("country", g.country),
                "region.id": _uid("region", g.region) if g.region else "",
                "city.id": _uid("city", g.city) if g.city else "",
                "did_group_type.id": _uid("type", g.kind), "prefix": g.prefix,
                "area_name": g.area_name,
                "nanpa_prefix.id": [_uid("nanpa", v[:3], v[3:]) for v in npanxx],
                "nanpa_prefix.npanxx": npanxx}

    def _create_order(self, attrs: dict[str, Any], request: Request) -> Response:
        items = attrs.get("items")
        if not isinstance(items, list) or not items:
            return errors_body(422, "items - can't be blank", pointer="/data/attributes/items")
        numbers: list[str] = []
        out_items: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            picked = self._pick(item, i, numbers, bool(attrs.get("allow_back_ordering")))
            if isinstance(picked, Response):
                return picked
            group, chosen, sku = picked
            numbers += chosen
            sku_attrs = next(s["attributes"] for s in self.skus(group) if s["id"] == sku)
            out_items.append({"type": "did_order_items", "attributes": {
                "qty": len(chosen), "nrc": sku_attrs["setup_price"],
                "mrc": sku_attrs["monthly_price"], "prorated_mrc": False,
                "billed_from": None, "billed_to": None,
                "setup_price": sku_attrs["setup_price"],
                "monthly_price": sku_attrs["monthly_price"], "did_group_id": group.id}})
        order = self.place_order(
            numbers, items=out_items, created_at=_stamp(),
            reference=f"SIM-{secrets.randbelow(900000) + 100000}",
            external_reference_id=attrs.get("external_reference_id"),
            callback_url=attrs.get("callback_url"),
            callback_method=attrs.get("callback_method"),
            allow_back_ordering=bool(attrs.get("allow_back_ordering")))
        if order["failed_numbers"]:
            return errors_body(422, "available_did_id - is invalid",
                               pointer="/data/attributes/items/0/available_did_id")
        with self.lock:
            for n in numbers:
                if n not in self.owned:  # the order failed at once (switch order_result)
                    continue
                group = next(g for g in GROUPS if n.lstrip("+") in self.group_numbers(g))
                self.owned[n].update({
                    "id": _uid("did", n, order["id"]), "did_number": n.lstrip("+"),
                    "did_group_id": group.id, "created_at": order["created_at"],
                    "expires_at": _stamp(30 * 86400), "terminated": False,
                    "billing_cycles_count": None, "description": None,
                    "capacity_limit": None, "voice_in_trunk": None,
                    "voice_in_trunk_group": None})
        return jsonapi({"data": self._order_doc(order), "meta": self.meta(request)}, 201)

    def _pick(self, item: Any, i: int, taken: list[str], backorder: bool
              ) -> tuple[DidGroup, list[str], str] | Response:
        pointer = f"/data/attributes/items/{i}"
        attrs = item.get("attributes") if isinstance(item, dict) else None
        if not isinstance(attrs, dict) or item.get("type") != "did_order_items":
            return errors_body(422, "type - is invalid", pointer=f"{pointer}/type")
        if attrs.get("available_did_id"):
            for g in GROUPS:
                for n in self.group_numbers(g):
                    if _uid("available_did", n) == attrs["available_did_id"]:
                        if "+" + n in self.owned or "+" + n in taken:
                            break
                        return g, ["+" + n], attrs.get("sku_id") or self.skus(g)[0]["id"]
            return errors_body(422, "available_did_id - is invalid",
                               pointer=f"{pointer}/available_did_id")
        sku = attrs.get("sku_id")
        group = self._sku_group(sku) if sku else None
        if group is None:
            return errors_body(422, "sku_id - is invalid", pointer=f"{pointer}/sku_id")
        try:
            qty = int(attrs.get("qty") or 0)
        except (TypeError, ValueError):
            qty = 0
        if qty < 1:
            return errors_body(422, "qty - must be greater than 0", pointer=f"{pointer}/qty")
        free = [n for n in self.available(group) if "+" + n not in taken]
        if attrs.get("nanpa_prefix_id"):
            free = [n for n in free if _uid("nanpa", group.prefix, n[4:7])
                    == attrs["nanpa_prefix_id"]]
        if len(free) < qty and not backorder:
            return errors_body(422, "qty - not enough DIDs in stock for this SKU",
                               pointer=f"{pointer}/qty")
        return group, ["+" + n for n in free[:qty]], sku

    def _patch_did(self, did_id: str, data: Any, request: Request) -> Response:
        with self.lock:
            key = next((n for n, r in self.owned.items() if r.get("id") == did_id), None)
            row = self.owned.get(key) if key else self.terminated.get(did_id)
            if row is None or (key and (self.order_progress(row["order_id"]) or {}).get(
                    "state") != "complete"):
                return errors_body(404, f"Record not found: {did_id}")
            if not isinstance(data, dict) or data.get("type") != "dids":
                return errors_body(400, "data.type must be dids.", title="Invalid request",
                                   code="106", pointer="/data/type")
            attrs = data.get("attributes") or {}
            allowed = {"billing_cycles_count", "capacity_limit", "description", "terminated",
                       "dedicated_channels_count"}
            bad = sorted(set(attrs) - allowed)
            if bad:
                return errors_body(400, f"{bad[0]} is not allowed.", title="Param not allowed",
                                   code="105", pointer=f"/data/attributes/{bad[0]}")
            rels = data.get("relationships") or {}
            for name in ("voice_in_trunk", "voice_in_trunk_group"):
                if name not in rels:
                    continue
                target = (rels[name] or {}).get("data")
                if target and name == "voice_in_trunk" and target.get("id") not in self.trunks:
                    return errors_body(422, f"{name} - is invalid",
                                       pointer=f"/data/relationships/{name}")
                row[name] = target.get("id") if target else None
                if target:  # the two are exclusive
                    other = "voice_in_trunk_group" if name == "voice_in_trunk" else \
                        "voice_in_trunk"
                    row[other] = None
            row.update({k: v for k, v in attrs.items() if k != "dedicated_channels_count"})
            if attrs.get("terminated") and key:
                self.owned.pop(key, None)
                self.terminated[did_id] = row
            elif attrs.get("terminated") is False and not key:
                number = "+" + row["did_number"]
                if number in self.owned:
                    return errors_body(422, "terminated - the number was sold again",
                                       pointer="/data/attributes/terminated")
                self.terminated.pop(did_id, None)
                self.owned[number] = row
        return jsonapi({"data": self._did_doc(row), "meta": self.meta(request)})


    # -- emergency calling: identities, addresses, requirements, verifications, services ------

    def _emergency_books(self) -> None:
        #: the account has an emergency calling plan (False: verifications are 403)
        self.emergency_plan = True
        #: the status of a service once its verification is approved (`in_process`: DIDWW
        #: still activates it; tests then set `services[id]["status"]`)
        self.approved_service_status = "active"
        self.identities: dict[str, dict[str, Any]] = {}
        self.addresses: dict[str, dict[str, Any]] = {}
        self.verifications: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}

    def hold(self, number: str) -> dict[str, Any]:
        """Put `number` (E.164, in one of the stock's DID groups) on the account as a live DID
        of a completed order, as if bought earlier: the row."""
        digits = number.lstrip("+")
        group = next(g for g in GROUPS if digits.startswith(COUNTRIES[g.country][1] + g.prefix))
        order = self.place_order([number], items=[], created_at=_stamp(), reference="SIM-1",
                                 external_reference_id=None)
        with self.lock:
            order["state"] = "complete"
            row = self.owned.setdefault(number, {})
            row.update({"id": _uid("did", number, order["id"]), "did_number": digits,
                        "order_id": order["id"], "did_group_id": group.id,
                        "created_at": _stamp(), "expires_at": _stamp(30 * 86400),
                        "terminated": False, "billing_cycles_count": None,
                        "description": None, "capacity_limit": None,
                        "voice_in_trunk": self.standing_trunk, "voice_in_trunk_group": None,
                        "ecs_id": None})
            return row

    def _service_active(self, service_id: str | None) -> bool:
        service = self.services.get(service_id or "")
        return bool(service and service["status"] == "active")

    def _requirement(self, requirement_id: str) -> tuple[str, str] | None:
        return next((key for key in REQUIREMENTS
                     if _uid("emergency_requirement", *key) == requirement_id), None)

    def _requirement_doc(self, key: tuple[str, str], version: str) -> dict[str, Any]:
        identity_type, personal = REQUIREMENTS[key]
        rid = _uid("emergency_requirement", *key)
        attrs: dict[str, Any] = {
            "identity_type": identity_type, "address_area_level": "city",
            "personal_area_level": "country", "business_area_level": "country",
            "address_mandatory_fields": [], "personal_mandatory_fields": personal,
            "business_mandatory_fields": [], "estimate_setup_time": "1-3 days",
            "requirement_restriction_message": None}
        rels = {"country": self._rel("emergency_requirements", rid, "country")}
        if version == V_TOKEN:
            attrs = {"number_type": NUMBER_TYPES[key[1]], **attrs}
        else:
            rels["did_group_type"] = self._rel("emergency_requirements", rid, "did_group_type")
        return {"id": rid, "type": "emergency_requirements", "attributes": attrs,
                "relationships": rels, "meta": {"setup_price": "0.0", "monthly_price": "1.5"}}

    def _verification(self, vid: str) -> dict[str, Any] | None:
        """A verification with its review advanced per the switches."""
        with self.lock:
            found = self.verifications.get(vid)
            if found is not None:
                self.feature_progress(found["order"])
            return found

    def _verification_doc(self, v: dict[str, Any], include: str = "") -> dict[str, Any]:
        wanted = set(include.split(","))  # linkage only for what was included (as DIDWW)
        rels = {"address": self._rel("emergency_verifications", v["id"], "address",
                                     {"type": "addresses", "id": v["address_id"]}
                                     if "address" in wanted else ...),
                "dids": self._rel("emergency_verifications", v["id"], "dids",
                                  [{"type": "dids", "id": d} for d in v["did_ids"]]
                                  if "dids" in wanted else ...),
                "emergency_calling_service": self._rel(
                    "emergency_verifications", v["id"], "emergency_calling_service",
                    ({"type": "emergency_calling_services", "id": v["service_id"]}
                     if v["service_id"] else None)
                    if "emergency_calling_service" in wanted else ...)}
        return {"id": v["id"], "type": "emergency_verifications", "attributes": {
            k: v[k] for k in ("reference", "status", "reject_reasons", "reject_comment",
                              "callback_url", "callback_method", "created_at",
                              "external_reference_id")}, "relationships": rels}

    def _service_doc(self, service: dict[str, Any]) -> dict[str, Any]:
        return {"id": service["id"], "type": "emergency_calling_services", "attributes": {
            k: service[k] for k in ("name", "reference", "status", "activated_at",
                                    "canceled_at", "created_at", "renew_date")},
                "relationships": {name: self._rel("emergency_calling_services", service["id"],
                                                  name)
                                  for name in ("address", "dids", "country",
                                               "emergency_verification")},
                "meta": {"setup_price": "0.0", "monthly_price": "1.5"}}

    def _record_doc(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        attrs = {k: v for k, v in record.items() if not k.endswith("_id") or
                 k == "external_reference_id"}
        attrs.pop("id", None)
        rels = {"country": self._rel(kind, record["id"], "country",
                                     {"type": "countries", "id": record["country_id"]})}
        if kind == "addresses":
            rels["identity"] = self._rel(kind, record["id"], "identity",
                                         {"type": "identities", "id": record["identity_id"]})
        return {"id": record["id"], "type": kind, "attributes": attrs, "relationships": rels}

    def decide_verification(self, vid: str, approve: bool, reasons: list[str] | None = None,
                            comment: str | None = None) -> bool:
        """Approve or reject a pending verification now, as DIDWW's emergency team would;
        False if there is none pending by that id."""
        with self.lock:
            found = self.verifications.get(vid)
            if found is None or found["status"] != "pending":
                return False
            order = self.feature_orders.get(found["order"])
            if order is not None and order["state"] == "pending":
                order["state"] = "complete" if approve else "failed"
            self._reviewed(found, approve, reasons, comment)
            return True

    def feature_done(self, order: dict[str, Any]) -> None:
        found = self.verifications.get(order.get("verification_id") or "")
        if order["kind"] == "e911" and found is not None and found["status"] == "pending":
            self._reviewed(found, order["state"] == "complete", None, None)

    def _reviewed(self, v: dict[str, Any], approve: bool, reasons: list[str] | None,
                  comment: str | None) -> None:
        """A verification's verdict applied: approved, the service made (or its address
        replaced) and the DIDs' emergency calling on; rejected, nothing changes."""
        if not approve:
            v.update(status="rejected", reject_reasons=reasons or ["address_not_verified"],
                     reject_comment=comment or "The address could not be confirmed as the "
                                               "location of the number's users.")
            return
        v["status"] = "approved"
        service = self.services.get(v["service_id"] or "")
        if service is None:
            sid = str(uuid.uuid4())
            service = {"id": sid, "name": f"Emergency {v['reference']}",
                       "reference": f"ECS-{secrets.randbelow(900000) + 100000}",
                       "status": "active", "activated_at": _stamp(), "canceled_at": None,
                       "created_at": _stamp(), "renew_date": None, "address_id": None,
                       "did_ids": list(v["did_ids"])}
            self.services[sid] = service
            v["service_id"] = sid
        service.update(address_id=v["address_id"], status=self.approved_service_status)
        for row in self.owned.values():
            if row.get("id") in service["did_ids"]:
                row["ecs_id"] = service["id"]

    def _in_use(self, kind: str, rid: str) -> bool:
        """Does a live service or a pending verification use the address (or, an identity,
        does an address belong to it)?"""
        if kind == "identities":
            return any(a["identity_id"] == rid for a in self.addresses.values())
        return any(s["address_id"] == rid and s["status"] != "canceled"
                   for s in self.services.values()) or any(
            v["address_id"] == rid and v["status"] == "pending"
            for v in self.verifications.values())

    def _create_identity(self, data: dict[str, Any]) -> dict[str, Any] | Response:
        attrs = dict(data.get("attributes") or {})
        country = (((data.get("relationships") or {}).get("country") or {}).get("data")
                   or {}).get("id")
        if attrs.get("identity_type") not in ("personal", "business"):
            return errors_body(422, "identity_type - is not included in the list",
                               pointer="/data/attributes/identity_type")
        needed = ("first_name", "last_name") if attrs["identity_type"] == "personal" else \
            ("company_name",)
        for key in needed:
            if not attrs.get(key):
                return errors_body(422, f"{key} - can't be blank",
                                   pointer=f"/data/attributes/{key}")
        if country not in {_uid("country", iso) for iso in COUNTRIES}:
            return errors_body(422, "country - must exist",
                               pointer="/data/relationships/country")
        return {"id": str(uuid.uuid4()), "created_at": _stamp(), "verified": False,
                **attrs, "country_id": country}

    def _create_address(self, data: dict[str, Any]) -> dict[str, Any] | Response:
        attrs = dict(data.get("attributes") or {})
        rels = data.get("relationships") or {}
        country = ((rels.get("country") or {}).get("data") or {}).get("id")
        identity = ((rels.get("identity") or {}).get("data") or {}).get("id")
        for key in ("address", "city_name", "postal_code"):
            if not attrs.get(key):
                return errors_body(422, f"{key} - can't be blank",
                                   pointer=f"/data/attributes/{key}")
        if identity not in self.identities:
            return errors_body(422, "identity - must exist",
                               pointer="/data/relationships/identity")
        if country not in {_uid("country", iso) for iso in COUNTRIES}:
            return errors_body(422, "country - must exist",
                               pointer="/data/relationships/country")
        return {"id": str(uuid.uuid4()), "created_at": _stamp(), "verified": False,
                **attrs, "country_id": country, "identity_id": identity}

    def _validation_errors(self, rels: dict[str, Any]) -> list[str] | Response:
        """What DIDWW says is wrong with an identity and address for a requirement."""
        def target(name: str) -> str | None:
            return ((rels.get(name) or {}).get("data") or {}).get("id")
        key = self._requirement(target("emergency_requirement") or "")
        identity = self.identities.get(target("identity") or "")
        address = self.addresses.get(target("address") or "")
        if key is None or identity is None or address is None:
            missing = "emergency_requirement" if key is None else (
                "identity" if identity is None else "address")
            return errors_body(422, f"{missing} - must exist",
                               pointer=f"/data/relationships/{missing}")
        identity_type, personal = REQUIREMENTS[key]
        problems: list[str] = []
        if identity_type != "any" and identity["identity_type"] != identity_type:
            problems.append(f"Identity must be {identity_type}")
        if identity["identity_type"] == "personal":
            problems += [f"Identity {f} is required" for f in personal if not identity.get(f)]
        iso = next(i for i in COUNTRIES if _uid("country", i) == address["country_id"])
        if iso != key[0]:
            problems.append(f"Address in {COUNTRIES[key[0]][0]} required")
        elif addresses.fate(address["address"], address["postal_code"], iso,
                            countries=COUNTRIES) == addresses.INVALID:
            problems.append(f"Address: {addresses.REJECTED_BECAUSE}")
        return problems

    def _create_verification(self, data: dict[str, Any], request: Request) -> Response:
        if not self.emergency_plan:
            return errors_body(403, "Emergency calling plan is not assigned to this account.")
        attrs = dict(data.get("attributes") or {})
        rels = data.get("relationships") or {}
        address_id = ((rels.get("address") or {}).get("data") or {}).get("id")
        service_id = ((rels.get("emergency_calling_service") or {}).get("data") or {}).get("id")
        dids = [d.get("id") for d in ((rels.get("dids") or {}).get("data") or [])
                if isinstance(d, dict)]
        if address_id not in self.addresses:
            return errors_body(422, "address - must exist", pointer="/data/relationships/address")
        if bool(service_id) == bool(dids):
            return errors_body(422, "dids or emergency_calling_service - exactly one is "
                                    "required", pointer="/data/relationships/dids")
        if service_id:
            service = self.services.get(service_id)
            if service is None or service["status"] in ("canceled", "in_process",
                                                         "pending_update"):
                return errors_body(422, "emergency_calling_service - is invalid",
                                   pointer="/data/relationships/emergency_calling_service")
            dids = list(service["did_ids"])
        rows = {r["id"]: r for r in self.owned.values() if r.get("id")}
        for did in dids:
            row = rows.get(did)
            group = next((g for g in GROUPS if row and g.id == row["did_group_id"]), None)
            if row is None or group is None or group.kind == "Toll-free":
                return errors_body(422, f"dids - DID {did} does not support emergency calling",
                                   pointer="/data/relationships/dids")
            if not service_id and row.get("ecs_id") and self._service_active(row["ecs_id"]):
                return errors_body(422, f"dids - DID {did} is assigned to another emergency "
                                        "calling service", pointer="/data/relationships/dids")
        vid = str(uuid.uuid4())
        found = {"id": vid, "reference": f"EVR-{secrets.randbelow(900000) + 100000}",
                 "status": "pending", "reject_reasons": None, "reject_comment": None,
                 "callback_url": attrs.get("callback_url"),
                 "callback_method": attrs.get("callback_method"), "created_at": _stamp(),
                 "external_reference_id": attrs.get("external_reference_id"),
                 "address_id": address_id, "did_ids": dids, "service_id": service_id}
        self.verifications[vid] = found
        number = next(("+" + r["did_number"] for r in rows.values() if r["id"] in dids), "")
        found["order"] = self.place_feature("e911", number, verification_id=vid)["id"]
        return jsonapi({"data": self._verification_doc(found), "meta": self.meta(request)},
                       201)

    def _emergency_routes(self, app: FastAPI) -> None:
        sim = self

        async def body_data(request: Request, kind: str) -> dict[str, Any] | Response:
            try:
                data = json.loads(await request.body() or b"null")["data"]
                assert isinstance(data, dict) and data.get("type") == kind
                return data
            except (ValueError, KeyError, TypeError, AssertionError):
                return errors_body(400, f"The request body is not a JSON:API {kind} "
                                        "document.", title="Invalid request", code="106",
                                   pointer="/data")

        @app.get("/v3/emergency_requirements")
        def list_requirements(request: Request) -> Response:
            wanted = sim.filters(request, "emergency_requirements")
            if isinstance(wanted, Response):
                return wanted
            version = sim.meta(request)["api_version"]
            gone = "did_group_type.id" if version == V_TOKEN else "number_type"
            if gone in wanted:
                return errors_body(400, f"{gone} is not allowed.", title="Filter not allowed",
                                   code="102")
            rows = [sim._requirement_doc(key, version) for key in REQUIREMENTS
                    if _match(wanted, {"id": _uid("emergency_requirement", *key),
                                       "country.id": _uid("country", key[0]),
                                       "did_group_type.id": _uid("type", key[1]),
                                       "number_type": NUMBER_TYPES[key[1]]})]
            return sim.collection(request, rows)

        @app.post("/v3/emergency_requirement_validations")
        async def validate(request: Request) -> Response:
            data = await body_data(request, "emergency_requirement_validations")
            if isinstance(data, Response):
                return data
            with sim.lock:
                problems = sim._validation_errors(data.get("relationships") or {})
            if isinstance(problems, Response):
                return problems
            if problems:
                body = {"errors": [{"title": p, "detail": p, "code": "100",
                                    "source": {"pointer": "/data"}, "status": "422"}
                                   for p in problems]}
                return jsonapi(body, 422)
            return jsonapi({"data": {"id": str(uuid.uuid4()),
                                     "type": "emergency_requirement_validations"},
                            "meta": sim.meta(request)}, 201)

        for kind in ("identities", "addresses"):
            sim._record_routes(app, kind, body_data)

        @app.post("/v3/emergency_verifications")
        async def create_verification(request: Request) -> Response:
            data = await body_data(request, "emergency_verifications")
            if isinstance(data, Response):
                return data
            with sim.lock:
                return sim._create_verification(data, request)

        @app.get("/v3/emergency_verifications")
        def list_verifications(request: Request) -> Response:
            wanted = sim.filters(request, "emergency_verifications")
            if isinstance(wanted, Response):
                return wanted
            include = request.query_params.get("include", "")
            with sim.lock:
                rows = [sim._verification(vid) for vid in list(sim.verifications)]
                rows = [v for v in rows if v and _match(wanted, {
                    "id": v["id"], "status": v["status"], "reference": v["reference"],
                    "external_reference_id": v["external_reference_id"] or ""})]
                docs = [sim._verification_doc(v, include) for v in rows]
                included = [sim._service_doc(sim.services[v["service_id"]]) for v in rows
                            if v["service_id"] in sim.services] \
                    if "emergency_calling_service" in include.split(",") else None
            return sim.collection(request, docs, included)

        @app.get("/v3/emergency_verifications/{vid}")
        def get_verification(vid: str, request: Request) -> Response:
            with sim.lock:
                found = sim._verification(vid)
                if found is None:
                    return errors_body(404, f"Record not found: {vid}")
                include = request.query_params.get("include", "")
                body = {"data": sim._verification_doc(found, include), "meta": sim.meta(request)}
                service = sim.services.get(found["service_id"] or "")
                if "emergency_calling_service" in include.split(","):
                    body["included"] = [sim._service_doc(service)] if service else []
            return jsonapi(body)

        @app.get("/v3/emergency_calling_services/{sid}")
        def get_service(sid: str, request: Request) -> Response:
            with sim.lock:
                service = sim.services.get(sid)
                if service is None:
                    return errors_body(404, f"Record not found: {sid}")
                return jsonapi({"data": sim._service_doc(service), "meta": sim.meta(request)})

        @app.delete("/v3/emergency_calling_services/{sid}")
        def delete_service(sid: str) -> Response:
            with sim.lock:
                service = sim.services.get(sid)
                if service is None or service["status"] in ("canceled", "in_process",
                                                         "pending_update"):
                    return errors_body(404, f"Record not found: {sid}")
                service.update(status="canceled", canceled_at=_stamp())
                for row in sim.owned.values():
                    if row.get("ecs_id") == sid:
                        row["ecs_id"] = None
            return Response(status_code=204)

        @app.post("/_sim/emergency_verifications/{vid}/{verdict}")
        async def decide(vid: str, verdict: str, request: Request) -> Response:
            try:
                doc = json.loads(await request.body() or b"{}")
            except ValueError:
                doc = {}
            if verdict not in ("approve", "reject"):
                return JSONResponse({"error": "approve or reject"}, status_code=404)
            if not sim.decide_verification(vid, verdict == "approve", doc.get("reasons"),
                                           doc.get("comment")):
                return JSONResponse({"error": f"no pending verification {vid}"},
                                    status_code=404)
            return JSONResponse({"id": vid, "status": sim.verifications[vid]["status"]})

        @app.post("/_sim/emergency_plan")
        async def plan(request: Request) -> Response:
            try:
                sim.emergency_plan = bool(json.loads(await request.body())["assigned"])
            except (ValueError, KeyError, TypeError):
                return JSONResponse({"error": 'send {"assigned": true|false}'},
                                    status_code=400)
            return JSONResponse({"assigned": sim.emergency_plan})

    def _record_routes(self, app: FastAPI, kind: str, body_data: Any) -> None:
        """`POST`, `GET`, `DELETE /v3/{identities|addresses}` (one in use is not deleted:
        409, DIDWW's Conflict error)."""
        sim = self
        make = self._create_identity if kind == "identities" else self._create_address

        def books() -> dict[str, dict[str, Any]]:
            return sim.identities if kind == "identities" else sim.addresses

        @app.post(f"/v3/{kind}")
        async def create(request: Request) -> Response:
            data = await body_data(request, kind)
            if isinstance(data, Response):
                return data
            with sim.lock:
                record = make(data)
                if isinstance(record, Response):
                    return record
                books()[record["id"]] = record
                return jsonapi({"data": sim._record_doc(kind, record),
                                "meta": sim.meta(request)}, 201)

        @app.get(f"/v3/{kind}/{{rid}}")
        def read(rid: str, request: Request) -> Response:
            with sim.lock:
                record = books().get(rid)
                if record is None:
                    return errors_body(404, f"Record not found: {rid}")
                return jsonapi({"data": sim._record_doc(kind, record),
                                "meta": sim.meta(request)})

        @app.delete(f"/v3/{kind}/{{rid}}")
        def remove(rid: str) -> Response:
            with sim.lock:
                if rid not in books():
                    return errors_body(404, f"Record not found: {rid}")
                if sim._in_use(kind, rid):
                    return errors_body(409, "The record is in use and cannot be deleted.",
                                       title="Conflict", code="409")
                books().pop(rid)
            return Response(status_code=204)

def _match(wanted: dict[str, str], fields: dict[str, Any]) -> bool:
    """JSON:API filters: each takes a comma-separated list matching any of its values."""
    for name, value in wanted.items():
        have = fields.get(name, "")
        have_list = have if isinstance(have, list) else [str(have)]
        if not set(value.split(",")) & set(have_list):
            return False
    return True


def _stamp(offset_s: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + offset_s))

