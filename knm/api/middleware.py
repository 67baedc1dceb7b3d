"""The outermost layer of every request: request id, body limit, metrics, access log, and
the last line of defence that turns any unexpected exception into Kazoo's error envelope.

It is plain ASGI (not Starlette's BaseHTTPMiddleware) so that it costs little per request and
sees the final status of every response, including the ones FastAPI produces itself.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from knm import errors
from knm.api import metrics
from knm.api.envelope import REQUEST_ID_HEADER, failure
from knm.api.errors import BodyTooLarge
from knm.api.logging import request_id_var, request_secrets_var

log = logging.getLogger("knm.api")
MAX_BODY = 1024 * 1024
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class RequestMiddleware:
    def __init__(self, app: Any, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        rid = given if _CLIENT_ID.match(given) else uuid.uuid4().hex
        rid_token = request_id_var.set(rid)
        secrets_token = request_secrets_var.set(())
        started = time.perf_counter()
        state = {"status": 500, "started": False}
        rid_header = (REQUEST_ID_HEADER.lower().encode(), rid.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                message["headers"] = [h for h in message.get("headers", [])
                                      if h[0].lower() != rid_header[0]] + [rid_header]
            await send(message)

        try:
            replay = await self._read_body(scope, receive, headers)
            if replay is None:
                await failure(BodyTooLarge(cause=f"limit is {self.max_body} bytes"))(
                    scope, receive, send_with_id)
            else:
                await self.app(scope, replay, send_with_id)
        except Exception as exc:  # noqa: BLE001 - nothing may escape as a bare 500
            log.error("unhandled error: %s", type(exc).__name__, exc_info=True)
            if not state["started"]:
                await failure(errors.InternalError())(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            status = state["status"]
            metrics.REQUESTS.labels(scope["method"], template, str(status)).inc()
            metrics.REQUEST_SECONDS.labels(template).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                state_obj = scope.get("state") or {}
                log.info("%s %s %s", scope["method"], template, status, extra={
                    "method": scope["method"], "path": scope.get("path"), "route": template,
                    "status": status, "duration_ms": round(elapsed * 1000, 2),
                    "account_id": state_obj.get("account_id") if isinstance(state_obj, dict)
                    else None,
                })
            request_secrets_var.reset(secrets_token)
            request_id_var.reset(rid_token)

    async def _read_body(self, scope: dict[str, Any], receive: Any,
                         headers: dict[str, str]) -> Any | None:
        """Read the whole body up front (bounded), so an oversized one is refused early.

        Returns a replaying `receive`, or None when the body is over the limit.
        """
        if scope["method"] not in _BODY_METHODS:
            return receive
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
