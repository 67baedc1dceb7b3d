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
}


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
        self._add_standing_trunk()

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.tokens.clear()
            self.trunks.clear()
            self.terminated.clear()
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

    def _group_doc(self, g: DidGroup, with_skus: bool) -> dict[str, Any]:
        skus = [{"type": "stock_keeping_units", "id": s["id"]} for s in self.skus(g)]
        rels = {
            "country": self._rel("did_groups", g.id, "country"),
            "region": self._rel("did_groups", g.id, "region"),
            "city": self._rel("did_groups", g.id, "city"),
            "did_group_type": self._rel("did_groups", g.id, "did_group_type"),
            "stock_keeping_units": self._rel("did_groups", g.id, "stock_keeping_units",
                                             skus if with_skus else ...),
        }
        features = ["voice_in"] if g.kind == "Toll-free" else ["voice_in", "sms_in", "t38"]
        return {"id": g.id, "type": "did_groups",
                "attributes": {"prefix": g.prefix, "features": features, "is_metered": False,
                               "area_name": g.area_name, "allow_additional_channels": True},
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
        wanted = set(include.split(","))

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
                           "dedicated_channels_count": 0, "emergency_enabled": False},
            "relationships": {
                "did_group": self._rel("dids", row["id"], "did_group", link(
                    "did_group", {"type": "did_groups", "id": row["did_group_id"]})),
                "order": self._rel("dids", row["id"], "order", link(
                    "order", {"type": "orders", "id": row["order_id"]})),
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
            return sim.collection(request, [sim._did_doc(r, include) for r in rows],
                                  sim._did_included(rows, include))

        @app.get("/v3/dids/{did_id}")
        def get_did(did_id: str, request: Request) -> Response:
            row = next((r for r in sim.dids() if r["id"] == did_id), None)
            if row is None:
                return errors_body(404, f"Record not found: {did_id}")
            include = request.query_params.get("include", "")
            doc = {"data": sim._did_doc(row, include), "meta": sim.meta(request)}
            if include:
                doc["included"] = sim._did_included([row], include)
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

    def _did_included(self, rows: list[dict[str, Any]], include: str
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
            if "did_group" in wanted:
                group = next(g for g in GROUPS if g.id == row["did_group_id"])
                out[group.id] = self._group_doc(group, False)
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

