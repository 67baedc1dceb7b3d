"""Every failure of a request becomes Kazoo's error envelope, never a 500 with a trace.

FastAPI's own errors (an unknown route, a wrong method, a query parameter of the wrong type)
arrive here as Starlette/FastAPI exceptions and are translated into knm errors with Kazoo's
slugs; a `KnmError` raised by any layer below is rendered as it is.
"""

from __future__ import annotations

import logging
import math
import re
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from knm import errors
from knm.api.envelope import failure

log = logging.getLogger("knm.api")


class RouteNotFound(errors.KnmError):
    code, error = 404, "not_found"
    default_message = "no such endpoint"


class MethodNotAllowed(errors.KnmError):
    code, error = 405, "method_not_allowed"
    default_message = "method not allowed on this endpoint"


class BodyTooLarge(errors.KnmError):
    code, error = 413, "request_too_large"
    default_message = "request body is larger than the limit"


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header")]
    return ".".join(parts) or "request"


def from_validation(exc: RequestValidationError) -> errors.Invalid:
    problems = exc.errors()
    first = problems[0] if problems else {}
    name = _field(first.get("loc", ()))
    return errors.Invalid(name, f"{name}: {first.get('msg', 'invalid value')}")


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """The methods of this path, as the API's document has them: of the most specific path
    template that matches (`…/carriers_info` rather than `…/{number}`, which would take any
    word). Paths the document leaves out (`/docs`, `/console`) ask the routes themselves."""
    documented = _documented_methods(request.app, request.url.path)
    if documented is None:
        documented = [method for method in METHODS
                      if any(route.matches({**request.scope, "method": method})[0]
                             == Match.FULL for route in request.app.router.routes)]
    allowed = set(documented)
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def _documented_methods(app: FastAPI, path: str) -> list[str] | None:
    best: tuple[int, list[str]] | None = None
    for template, operations in app.openapi().get("paths", {}).items():
        if _template_regex(template).match(path):
            generic = template.count("{")
            if best is None or generic < best[0]:
                best = (generic, [m.upper() for m in operations if m.upper() in METHODS])
    return None if best is None else best[1]


@lru_cache(maxsize=256)
def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$")


def install(app: FastAPI) -> None:
    """Register the translators on `app`."""

    @app.exception_handler(errors.KnmError)
    async def _knm(_request: Request, exc: errors.KnmError) -> Any:
        if exc.code >= 500:
            log.warning("request failed: %s", exc)
        retry_after = getattr(exc, "retry_after", None)  # knm's own limits, a carrier's 429
        if isinstance(retry_after, int | float) and exc.code == 429:
            return failure(exc, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
        return failure(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Any:
        return failure(from_validation(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Any:
        if exc.status_code == 404:
            return failure(RouteNotFound(cause=request.url.path))
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            return failure(MethodNotAllowed(cause=request.method),
                           headers={"Allow": ", ".join(allowed)})
        return failure(errors.KnmError(str(exc.detail), code=exc.status_code,
                                       error="http_error"))
