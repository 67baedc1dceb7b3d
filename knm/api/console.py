"""`/console`: a small web console for operators, served by the API app itself.

One static page (HTML, vanilla JavaScript, CSS; no build step, nothing from a CDN) that
logs in with an API key and then uses only the public HTTP API — search, buy, list, release,
import — exactly as any other client would. Nothing here reaches below the HTTP API: the
console is a client that happens to be served from the same origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, RedirectResponse

from knm.api.errors import RouteNotFound

FOLDER = Path(__file__).resolve().parent / "static" / "console"
#: file name → media type, the whole of what `/console/` serves besides the page
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
#: every byte the page uses comes from knm; the browser refuses anything else
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/console")
def console_page() -> FileResponse:
    return FileResponse(FOLDER / "index.html", media_type="text/html; charset=utf-8",
                        headers=HEADERS)


@router.get("/console/")
def console_slash() -> RedirectResponse:
    return RedirectResponse("/console", status_code=308)


@router.get("/console/{name}")
def console_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise RouteNotFound(cause=f"/console/{name[:64]}")
    return FileResponse(FOLDER / name, media_type=f"{media_type}; charset=utf-8",
                        headers=HEADERS)
