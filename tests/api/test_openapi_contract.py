"""The OpenAPI document tells the truth: schemathesis, with every one of its checks
(`--checks all`: status codes, content types, response schemas, headers, positive data
accepted, negative data rejected, unsupported methods, `Allow`, auth…), over real HTTP, with
Kazoo's fixture accounts and numbers and a carrier behind — no failure, on both databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from api_support import Api, Servers, start_api

#: test cases per API operation and database (the run reports well over 1,000 in all)
PER_OPERATION = 25
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    yield from Servers.run(tmp_path_factory.mktemp("contract"))


@pytest.fixture
def api(servers: Servers, kazoo_numbers: list[str], kazoo_accounts: dict[str, str]):
    yield from start_api(servers, kazoo_accounts)


def _config(api: Api, folder: Path) -> Path:
    path = folder / "schemathesis.toml"
    path.write_text(f'''
headers = {{ "X-Auth-Token" = "{api.tokens['reseller']}" }}

[parameters]
"path.account_id" = "{api.ids['reseller']}"

[checks.positive_data_acceptance]
# a well-formed request about something that is not there or not allowed: Kazoo answers
# 400 invalid (an unknown account), 400 invalid_state_transition, 404, 409, 501 (port
# requests), 502/504 (the carrier); all documented, none a rejection of the data's form
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "501", "5xx"]

[checks.not_a_server_error]
# 501: what knm says it does not do (port requests); 502/504: the carrier behind failed or
# did not answer — documented answers, not knm failing
expected-statuses = ["2xx", "3xx", "4xx", "501", "502", "504"]
''')
    return path


def test_every_schemathesis_check_passes(api: Api, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [SCHEMATHESIS, "--config-file", str(_config(api, tmp_path)), "run",
         f"{api.url}/openapi.json", "--url", api.url, "--checks", "all",
         "--max-examples", str(PER_OPERATION), "--seed", "1",
         "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-color",
         "--suppress-health-check", "all", "--request-timeout", "30",
         "--report", "json", "--report-json-path", str(report)],
        capture_output=True, text=True, timeout=900,
        cwd=tmp_path)  # schemathesis keeps its cache where it runs: not in the tree
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    assert not summary["failures"] and not summary["errors"], summary["failures"]
    assert cases["generated"] >= 1000 and not cases["with_failures"], cases


def test_a_wrong_method_names_every_method_the_path_serves(api: Api) -> None:
    answer = api.client.post("/v2/phone_numbers")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD"
    assert answer.json()["message"] == "method_not_allowed"
    assert api.client.delete("/v2/api_auth").headers["allow"] == "PUT"
    doc = api.client.get("/openapi.json").json()
    operation = doc["paths"]["/v2/accounts/{account_id}/phone_numbers/collection"]["put"]
    assert operation["requestBody"]["required"] is True
    assert {"200", "400", "401", "403", "404", "409", "413", "502", "504"} <= \
        set(operation["responses"])
    assert "422" not in operation["responses"]  # knm answers 400, never FastAPI's 422


def test_an_enormous_page_size_is_a_big_page_not_a_crash(api: Api) -> None:
    # found by the fuzzer: a page size past the databases' integer range was a 500
    answer = api.client.get(api.numbers_path("reseller"), headers=api.as_("reseller"),
                            params={"page_size": 2 ** 63 - 1})
    assert answer.status_code == 200 and answer.json()["data"]["numbers"]
