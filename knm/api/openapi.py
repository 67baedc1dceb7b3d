"""The OpenAPI document, told truthfully (issue "Carrier answers and callers that can't hurt
knm", item 7): every status an operation answers, its required body, and the shape of the
answers — Crossbar's envelope — so a client generated from it, or a contract tester, meets
the API as it is.

FastAPI derives a first draft from the routes (paths, parameters, the request bodies the
routes declare). What it cannot know is added here, from rules that follow the code: which
errors an operation can end in (knm answers 400 where FastAPI would document 422; every
authenticated route may answer 401, 403 and 404; a route that reaches a carrier may answer
its 502 and 504…), the constraints knm enforces on parameters, and the envelopes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {"$ref": "#/components/schemas/ErrorEnvelope"}
SUCCESS = {"$ref": "#/components/schemas/SuccessEnvelope"}

SCHEMAS: dict[str, Any] = {
    "KnmError": {
        "type": "object",
        "description": "Kazoo's error JSON, plus the carrier's own words (SPEC §3)",
        "required": ["code", "error"],
        "properties": {
            "code": {"type": "integer"}, "error": {"type": "string"},
            "message": {"type": "string"}, "cause": {"type": "string"},
            "carrier": {"type": "string"}, "carrier_message": {"type": "string"},
            "operation": {"type": "string"}, "retry_after": {"type": "number"},
            "unsettled": {"type": "boolean"},
        },
        "additionalProperties": True,
    },
    "ErrorEnvelope": {
        "type": "object",
        "description": "Crossbar's error envelope; `data` is the error (or, for a "
                       "collection where every number failed, `{success, error}`)",
        "required": ["data", "error", "message", "status"],
        "properties": {
            "data": {"type": "object"}, "error": {"type": "string"},
            "message": {"type": "string"}, "status": {"enum": ["error"]},
            "request_id": {"type": ["string", "null"]},
            "carriers": {"type": "object"},
        },
        "additionalProperties": True,
    },
    "SuccessEnvelope": {
        "type": "object",
        "description": "Crossbar's envelope; `auth_token` after api_auth, `carriers` (how "
                       "each asked carrier did) on a search, paging keys on a listing",
        "required": ["data", "status"],
        "properties": {
            "data": {}, "status": {"enum": ["success"]},
            "request_id": {"type": ["string", "null"]}, "auth_token": {"type": "string"},
            "carriers": {"type": "object"}, "metadata": {"type": "object"},
            "page_size": {"type": "integer"}, "next_start_key": {},
            "start_key": {}, "revision": {"type": "string"},
        },
        "additionalProperties": True,
    },
}

#: what knm checks of query and path parameters before anything else, as schema constraints
PARAMETERS: dict[str, dict[str, Any]] = {
    "account_id": {"type": "string", "pattern": "^[a-z0-9_]{32}$"},
    "quantity": {"type": "integer", "minimum": 1},
    "offset": {"type": "integer", "minimum": 0},
    "page_size": {"type": "integer", "minimum": 1},  # larger than 100,000 reads 100,000
}

DESCRIPTIONS = {
    "200": "done (Crossbar's envelope)", "201": "created (Crossbar's envelope)",
    "400": "bad input (`invalid`, the cause names the field), or a Kazoo refusal "
           "(`invalid_state_transition`, `number_is_porting`, …); an emergency address the "
           "carrier rejects (`invalid data`: `data.address.invalid`) or corrects "
           "(`multiple_choice`: `data.multiple_choice.e911.details`); a collection in which "
           "every number failed",
    "401": "no, unknown or expired credentials",
    "403": "not allowed to act on this, or a feature the number may not have",
    "404": "no such number (or one the caller may not see), route or resource",
    "409": "the number is taken, busy at its carrier, or changed concurrently; an E911 or "
           "caller-name change still pending at its carrier (`feature_pending`)",
    "413": "the request body is over 1 MB",
    "429": "too many requests (knm's limits, or the carrier's); see `Retry-After`",
    "500": "knm failed, or a carrier fault",
    "501": "not implemented (port requests; a carrier without the feature)",
    "502": "a carrier failed, refused the credentials or answered nonsense",
    "503": "the database does not answer",
    "504": "a carrier did not answer in time (an order still pending is kept unsettled)",
}


def _errors(path: str, method: str, authenticated: bool) -> list[str]:
    """The error statuses an operation can answer, by the rules the code follows."""
    codes = {"400", "500"}
    if method in ("post", "put", "patch", "delete"):
        codes.add("413")
    if path == "/healthz":
        return ["503"]
    if path == "/metrics":
        return ["401", "500"]
    if path == "/v2/api_auth":
        return sorted(codes | {"401", "429"})
    if authenticated:
        codes |= {"401", "403", "404"}
    if "/port_requests" in path or path.endswith("/port"):
        codes |= {"501"}
    if "webhooks" in path:
        codes |= {"401", "404", "501"}
    if path.startswith("/v2/accounts/") or path == "/v2/phone_numbers" \
            or path.endswith("/prefix"):
        # what reaches a carrier (searches, purchases, releases, checks, settling) may end
        # in the carrier's failure; number writes may conflict or be refused as unavailable
        codes |= {"409", "429", "501", "502", "504"}
    if path == "/v2/phone_numbers":
        codes |= {"429"}
    return sorted(codes)


def _authenticated(path: str, operation: dict[str, Any]) -> bool:
    """Account routes take the caller's token (`X-Auth-Token`)."""
    return path.startswith("/v2/accounts/") or bool(operation.get("security"))


def _truthful(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    success = next((code for code in responses if code.startswith("2")), "200")
    content_type = "text/plain" if path == "/metrics" else "application/json"
    schema = {"type": "string"} if path == "/metrics" else SUCCESS
    responses[success] = {"description": DESCRIPTIONS.get(success, "done"),
                          "content": {content_type: {"schema": schema}}}
    for code in _errors(path, method, _authenticated(path, operation)):
        responses[code] = {"description": DESCRIPTIONS[code],
                           "content": {"application/json": {"schema": ERROR}}}
    if success == "200" and path.endswith("/collection") or "collection/" in path \
            or path.endswith("/orders/settle"):
        responses["200"]["description"] = ("per-number results: `data.success` and "
                                           "`data.error`; 400 when every number failed")
    for parameter in operation.get("parameters", []):
        constraint = PARAMETERS.get(parameter.get("name"))
        if constraint is not None:
            parameter["schema"] = {**parameter.get("schema", {}), **constraint}
            parameter["schema"].pop("anyOf", None)
    body = operation.get("requestBody")
    if body is not None:
        schema_of = body.get("content", {}).get("application/json", {}).get("schema", {})
        data = schema_of.get("properties", {}).get("data", {})
        if data.get("required"):  # the route reads fields it cannot do without
            body["required"] = True
            schema_of["required"] = ["data"]


def document(app: FastAPI) -> dict[str, Any]:
    """The whole document for `app`."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    doc.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    doc["components"]["schemas"].pop("HTTPValidationError", None)
    doc["components"]["schemas"].pop("ValidationError", None)
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                _truthful(path, method, operation)
    return doc


def install(app: FastAPI) -> None:
    """Serve the truthful document at `/openapi.json` (built once per app)."""
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not built:
            built.update(document(app))
        return built

    app.openapi = openapi  # type: ignore[method-assign]
