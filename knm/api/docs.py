"""`/docs`: Swagger UI with every asset served by knm, so the page works offline.

FastAPI's default page loads Swagger UI from a CDN and is blank on a machine without the
internet — which is where an operator trying `knm demo` often is. The assets come from the
`fastapi-offline` package (a maintained PyPI package shipping the `swagger-ui-dist` files);
only the files named in `ASSETS` are served, so nothing else of that folder is exposed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse

from knm.api.errors import RouteNotFound

ASSET_PATH = "/docs/assets"
#: file name → media type, the whole of what `/docs/assets/` serves
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "favicon.png": "image/png"}

router = APIRouter(include_in_schema=False)


def asset_folder() -> Path:
    """Where the installed Swagger UI files are."""
    return Path(str(resources.files("fastapi_offline") / "static"))


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="knm API",
        swagger_js_url=f"{ASSET_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_PATH}/favicon.png",
        # Swagger UI would otherwise send the spec's URL to an online validator
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(ASSET_PATH + "/{name}")
def swagger_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise RouteNotFound(cause=f"{ASSET_PATH}/{name[:64]}")
    return FileResponse(asset_folder() / name, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})
