"""Crossbar's response envelope, so Kazoo clients read knm's answers unchanged.

Success: `{"data": …, "status": "success", "request_id": …}` (plus `auth_token` after
`api_auth`, and `carriers` — how each asked carrier did — on a search). Error:
`{"data": <error json>, "error": "<code>", "message": "<slug>", "status": "error",
"request_id": …}` with the matching HTTP status.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from knm.api.logging import request_id_var
from knm.errors import KnmError

REQUEST_ID_HEADER = "X-Request-ID"
#: top-level key of a search answer: how each asked carrier did (Kazoo clients ignore it)
CARRIERS_KEY = "carriers"


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False,
                          default=str).encode()


def _headers() -> dict[str, str]:
    rid = request_id_var.get()
    return {REQUEST_ID_HEADER: rid} if rid else {}


def search_success(results: list[Any], carriers: dict[str, Any]) -> JSONBody:
    """A page of search results with the per-carrier report beside `data`."""
    return success(results, **{CARRIERS_KEY: carriers})


def success(data: Any, *, status_code: int = 200, **top: Any) -> JSONBody:
    """A success envelope; `top` adds top-level keys (Crossbar's `auth_token`)."""
    body: dict[str, Any] = dict(top)
    body.update({"data": data, "status": "success", "request_id": request_id_var.get()})
    return JSONBody(body, status_code=status_code, headers=_headers())


def error_body(err: KnmError) -> dict[str, Any]:
    body = {"data": err.to_json(), "error": str(err.code), "message": err.error,
            "status": "error", "request_id": request_id_var.get()}
    report = getattr(err, "carriers", None)
    if report is not None:  # a failed search: the same per-carrier key as its successes
        body[CARRIERS_KEY] = report
    return body


def failure(err: KnmError, *, headers: dict[str, str] | None = None) -> JSONBody:
    """The error envelope for `err`, with its HTTP status."""
    status = err.code if 400 <= err.code <= 599 else 500
    return JSONBody(error_body(err), status_code=status, headers={**_headers(),
                                                                  **(headers or {})})


def collection(success_map: dict[str, Any], error_map: dict[str, Any]) -> JSONBody:
    """Per-number results: 200 when every number succeeded, else 400 with both maps.

    The top-level `message` of a partial failure is the first failure's slug, so a client
    that only reads the envelope still learns what went wrong.
    """
    data = {"success": success_map, "error": error_map}
    if not error_map:
        return success(data)
    first = next(iter(error_map.values()))
    slug = first.get("error", "invalid") if isinstance(first, dict) else str(first)
    body = {"data": data, "error": "400", "message": slug, "status": "error",
            "request_id": request_id_var.get()}
    return JSONBody(body, status_code=400, headers=_headers())
