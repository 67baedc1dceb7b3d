"""Schemathesis, driven by the API's own OpenAPI document, over real HTTP: whatever it sends
(valid or deliberately invalid), the API answers in Kazoo's envelope and never with a 5xx."""

from __future__ import annotations

import json

import pytest
import schemathesis
from api_support import Api, Servers, start_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

CASES = 150  # per database: 300 cases over both databases


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    yield from Servers.run(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture
def api(servers: Servers, kazoo_accounts: dict[str, str]):
    yield from start_api(servers, kazoo_accounts)


def test_no_input_yields_a_server_error(api: Api) -> None:
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json")
    reseller = {"account_id": api.ids["reseller"]}
    strategy = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE),
        schema.as_strategy(GenerationMode.NEGATIVE),
        schema.as_strategy(GenerationMode.POSITIVE, path_parameters=reseller),
        schema.as_strategy(GenerationMode.NEGATIVE, path_parameters=reseller),
    )
    seen: dict[int, int] = {}
    token = {"X-Auth-Token": api.tokens["reseller"]}

    @settings(max_examples=CASES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=api.url, headers=token, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        # a 501 is an answer, not a failure: what knm says it cannot do yet (port requests)
        deliberate = response.status_code == 501 and \
            json.loads(response.text).get("message") == "not_implemented"
        assert response.status_code < 500 or deliberate, (
            case.method, case.formatted_path, case.query, case.body, response.text)
        if case.path not in ("/metrics", "/openapi.json"):
            body = json.loads(response.text)
            assert body["status"] in ("success", "error") and body["request_id"]
            headers = {k.lower(): v for k, v in response.headers.items()}
            echoed = headers["x-request-id"]
            assert body["request_id"] in (echoed if isinstance(echoed, list) else [echoed])

    run()
    print("status codes seen:", sorted(seen.items()))
    assert sum(seen.values()) >= CASES
    # the generator reached both sides: accepted requests and refused ones
    assert any(code < 300 for code in seen) and any(400 <= code < 500 for code in seen)
