"""`/docs` and `/console` are served by knm alone: every asset they reference loads from knm,
and nothing outside the files they need is reachable through them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from knm.simulators.server import BackgroundServer

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    from knm.api import create_app

    folder: Path = tmp_path_factory.mktemp("static")
    with BackgroundServer(create_app(f"sqlite:///{folder / 'knm.sqlite'}")) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def _references(html: str) -> list[str]:
    return [ref for ref in _REFERENCE.findall(html) if not ref.startswith("data:")]


def test_docs_and_every_asset_it_references_load_from_knm(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = _references(page.text)
    assert len(refs) == 3, refs  # the script, the stylesheet, the icon
    assert "http://" not in page.text and "https://" not in page.text
    kinds = {}
    for ref in refs:
        assert ref.startswith("/docs/assets/"), ref
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        kinds[ref.rsplit("/", 1)[1]] = (asset.headers["content-type"], len(asset.content))
    assert kinds["swagger-ui-bundle.js"][0].startswith("text/javascript")
    assert kinds["swagger-ui-bundle.js"][1] > 500_000  # the real bundle, not a stub
    assert kinds["swagger-ui.css"][0].startswith("text/css")
    assert kinds["favicon.png"][0] == "image/png"
    # the spec the page loads is served too, and Swagger UI's online validator is off
    assert "'/openapi.json'" in page.text and '"validatorUrl": null' in page.text
    assert client.get("/openapi.json").json()["info"]["title"] == "knm"


def test_console_page_and_its_assets_load_from_knm_with_a_strict_policy(
        client: httpx.Client) -> None:
    page = client.get("/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    refs = _references(page.text)
    assert sorted(refs) == ["/console/console.css", "/console/console.js"]
    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200 and asset.headers["x-content-type-options"] == "nosniff"
    assert client.get("/console/console.js").headers["content-type"].startswith(
        "text/javascript")
    assert "<script>" not in page.text  # no inline script: the policy would refuse it
    moved = client.get("/console/", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == "/console"


@pytest.mark.parametrize("path", ["/console/index.htm", "/console/..%2Fapp.py",
                                  "/docs/assets/redoc.standalone.js",
                                  "/docs/assets/..%2F__init__.py", "/console/app.py"])
def test_nothing_but_the_listed_files_is_served(client: httpx.Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json()["message"] == "not_found"
