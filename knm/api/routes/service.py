"""Service endpoints: `/healthz` and `/metrics`."""

from __future__ import annotations

import hmac
import os

from fastapi import APIRouter, Request
from starlette.responses import Response

from knm import errors, store
from knm.api import metrics
from knm.api.envelope import failure, success

router = APIRouter()


@router.get("/healthz", tags=["service"])
def healthz() -> Response:
    try:
        with store.read() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - the answer *is* the failure
        err = errors.DatabaseError(cause=type(exc).__name__, code=503,
                                   error="service_unavailable")
        return failure(err)
    return success({"status": "ok", "database": store.dialect()})


@router.get("/metrics", tags=["service"], response_class=Response)
def prometheus(request: Request) -> Response:
    expected = os.environ.get("KNM_METRICS_TOKEN")
    if expected and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(), f"Bearer {expected}".encode()):
        raise errors.Unauthenticated(cause="/metrics needs `Authorization: Bearer` with "
                                     "KNM_METRICS_TOKEN")
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
