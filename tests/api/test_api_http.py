"""The Kazoo-compatible HTTP API over real HTTP: a server on a loopback port, both databases.

Each test drives the API the way a Kazoo client does (envelope, field names, status codes)
and checks what such a client would notice.
"""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from api_support import Api, Servers, assert_error, assert_ok, start_api

from knm import accounts, config

PB = "+1415886790"  # the phonebook simulator's stock: +14158867900..+14158867909


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    yield from Servers.run(tmp_path_factory.mktemp("api"))


@pytest.fixture
def api(servers: Servers, kazoo_accounts: dict[str, str]):
    yield from start_api(servers, kazoo_accounts)


def _create(api: Api, number: str, account: str = "master", who: str = "master",
            **data) -> dict:
    return assert_ok(api.call("PUT", api.numbers_path(account, number), who, data=data), 201)


# -- auth ------------------------------------------------------------------------------------


def test_api_auth_trades_a_key_for_a_token_that_works(api: Api) -> None:
    key = accounts.create_api_key(api.ids["child"])
    response = api.call("PUT", "/v2/api_auth", None, data={"api_key": key})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success" and body["data"]["account_id"] == api.ids["child"]
    assert body["data"]["reseller_id"] == api.ids["reseller"]
    token = body["auth_token"]
    listed = api.client.get(api.numbers_path("child"), headers={"X-Auth-Token": token})
    assert assert_ok(listed) == {"numbers": {}, "cascade_quantity": 0}


def test_api_auth_refuses_bad_keys(api: Api) -> None:
    assert_error(api.call("PUT", "/v2/api_auth", None, data={"api_key": "0" * 64}),
                 401, "invalid_credentials")
    data = assert_error(api.call("PUT", "/v2/api_auth", None, data={}), 400, "invalid")
    assert data["cause"] == "api_key"
    data = assert_error(api.call("PUT", "/v2/api_auth", None, data={"api_key": 42}),
                        400, "invalid")
    assert data["cause"] == "api_key"


def test_token_ttl_comes_from_config(api: Api) -> None:
    key = accounts.create_api_key(api.ids["child"])
    config.set("number_manager", "auth_token_ttl_s", 0)
    body = api.call("PUT", "/v2/api_auth", None, data={"api_key": key}).json()
    expired = {"X-Auth-Token": body["auth_token"]}
    assert_error(api.client.get(api.numbers_path("child"), headers=expired),
                 401, "invalid_credentials")


def test_missing_or_unknown_token_is_401(api: Api) -> None:
    for headers in ({}, {"X-Auth-Token": "not-a-token"}, {"X-Auth-Token": "x" * 5000}):
        data = assert_error(api.client.get(api.numbers_path("child"), headers=headers),
                            401, "invalid_credentials")
        assert data["message"] == "invalid credentials"


def test_expired_token_is_401(api: Api) -> None:
    token = accounts.create_token(api.ids["child"], -1)
    assert_error(api.client.get(api.numbers_path("child"), headers={"X-Auth-Token": token}),
                 401, "invalid_credentials")


def test_bearer_header_is_accepted(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['child']}"}
    assert_ok(api.client.get(api.numbers_path("child"), headers=headers))


def test_an_account_acts_on_itself_and_descendants_only(api: Api) -> None:
    assert_ok(api.call("GET", api.numbers_path("grandchild"), "reseller"))
    assert_ok(api.call("GET", api.numbers_path("child"), "child"))
    data = assert_error(api.call("GET", api.numbers_path("reseller"), "child"), 403,
                        "forbidden")
    assert data["cause"] == api.ids["reseller"]
    assert_error(api.call("GET", api.numbers_path("child"), "unrelated"), 403, "forbidden")
    # the superduper admin reaches any account, even outside its tree
    assert_ok(api.call("GET", api.numbers_path("unrelated"), "master"))


def test_numbers_of_other_accounts_are_not_found(api: Api) -> None:
    number = "+14155551234"
    _create(api, number, "grandchild")
    # a descendant's number is visible to its ancestors
    got = assert_ok(api.call("GET", api.numbers_path("reseller", number), "reseller"))
    assert got["_read_only"]["assigned_to"] == api.ids["grandchild"]
    # ... and not to an unrelated account, which learns nothing about it
    assert_error(api.call("GET", api.numbers_path("unrelated", number), "unrelated"),
                 404, "not_found")
    assert_error(api.call("DELETE", api.numbers_path("unrelated", number), "unrelated"),
                 404, "not_found")
    assert_error(api.call("PATCH", api.numbers_path("unrelated", number), "unrelated",
                          data={"x": 1}), 404, "not_found")


# -- search ----------------------------------------------------------------------------------


def test_system_search_needs_no_token_and_refuses_quantity_below_one(api: Api) -> None:
    found = assert_ok(api.call("GET", "/v2/phone_numbers", None,
                               params={"prefix": "415886", "quantity": 3}))
    assert found == [{"number": f"{PB}{d}", "state": "discovery"} for d in range(3)]
    for quantity in (0, -5):  # the library refuses it, and so does the API (SPEC §3)
        data = assert_error(api.call("GET", "/v2/phone_numbers", None,
                                     params={"prefix": "+1415886", "quantity": quantity}),
                            400, "invalid")
        assert data["cause"] == "quantity"
    paged = assert_ok(api.call("GET", "/v2/phone_numbers", None,
                               params={"prefix": "415886", "quantity": 2, "offset": 8}))
    assert [r["number"] for r in paged] == [f"{PB}8", f"{PB}9"]


SEARCH_BAD_INPUT = [
    ({}, "prefix"),
    ({"prefix": "41*5"}, "prefix"),
    ({"prefix": "41-5"}, "prefix"),
    ({"prefix": "415", "quantity": "many"}, "quantity"),
    ({"prefix": "415", "quantity": "1.5"}, "quantity"),
    ({"prefix": "415", "offset": "-1"}, "offset"),
    ({"prefix": "415", "country": "ZZ"}, "country"),
]


def test_search_bad_input_is_400_invalid(api: Api) -> None:
    for params, cause in SEARCH_BAD_INPUT:
        data = assert_error(api.call("GET", "/v2/phone_numbers", None, params=params),
                            400, "invalid")
        assert data["cause"] == cause, params
        data = assert_error(api.call("GET", api.numbers_path("child"), "child",
                                     params=params or {"prefix": ""}), 400, "invalid")


def test_account_search_sees_local_numbers_and_lists_its_own(api: Api) -> None:
    _create(api, "+14155550100", create_with_state="available")
    found = assert_ok(api.call("GET", api.numbers_path("reseller"), "reseller",
                               params={"prefix": "415555", "quantity": 5}))
    assert found == [{"number": "+14155550100", "state": "available"}]
    _create(api, "+14155550101", "reseller", who="reseller")
    listed = assert_ok(api.call("GET", api.numbers_path("reseller"), "reseller"))
    assert set(listed["numbers"]) == {"+14155550101"}
    entry = listed["numbers"]["+14155550101"]
    assert entry["state"] == "in_service" and entry["assigned_to"] == api.ids["reseller"]


def test_carriers_info_and_check(api: Api) -> None:
    info = assert_ok(api.call("GET", api.numbers_path("master", "carriers_info")))
    assert {"maximal_prefix_length", "usable_carriers", "usable_creation_states"} <= set(info)
    assert "available" in info["usable_creation_states"]
    child = assert_ok(api.call("GET", api.numbers_path("child", "carriers_info"), "child"))
    assert child["usable_creation_states"] == []
    checked = assert_ok(api.call("POST", api.numbers_path("master", "check"),
                                 data={"numbers": [f"{PB}1", "+19995550000"]}))
    assert checked == {f"{PB}1": "available", "+19995550000": "error"}
    data = assert_error(api.call("POST", api.numbers_path("master", "check"),
                                 data={"numbers": "+14158867901"}), 400, "invalid")
    assert data["cause"] == "numbers"


# -- one number ------------------------------------------------------------------------------


def test_number_lifecycle_create_read_update_patch_release(api: Api) -> None:
    number = "+14155550123"
    created = _create(api, number, "grandchild", who="grandchild",
                      create_with_state="reserved", label={"display_name": "ACME"})
    assert created["id"] == number and created["state"] == "reserved"
    assert created["label"] == {"display_name": "ACME"}
    assert "create_with_state" not in created
    read_only = created["_read_only"]
    assert read_only["state"] == "reserved" and read_only["assigned_to"] == api.ids[
        "grandchild"]
    assert {"created", "modified", "features"} <= set(read_only)

    again = api.call("PUT", api.numbers_path("grandchild", number), "grandchild", data={})
    assert_error(again, 409, "number_exists")

    path = api.numbers_path("grandchild", number)
    patched = assert_ok(api.call("PATCH", path, "grandchild", data={"tag": "blue"}))
    assert patched["label"] == {"display_name": "ACME"} and patched["tag"] == "blue"
    replaced = assert_ok(api.call("POST", path, "grandchild", data={"tag": "x"}))
    assert replaced["tag"] == "x" and "label" not in replaced
    assert assert_ok(api.call("GET", path, "grandchild"))["tag"] == "x"

    released = assert_ok(api.call("DELETE", path, "grandchild"))
    assert released["id"] == number
    assert_error(api.call("GET", path, "grandchild"), 404, "not_found")


def test_create_is_refused_to_accounts_without_additions(api: Api) -> None:
    response = api.call("PUT", api.numbers_path("child", "+14155550124"), "child", data={})
    assert_error(response, 403, "forbidden")
    bad_state = api.call("PUT", api.numbers_path("master", "+14155550125"),
                         data={"create_with_state": ["reserved"]})
    assert assert_error(bad_state, 400, "invalid")["cause"] == "create_with_state"


def test_hard_delete_is_for_admins_only(api: Api) -> None:
    number = "+14155550126"
    _create(api, number, "reseller", who="reseller")
    path = api.numbers_path("reseller", number)
    assert_error(api.call("DELETE", path, "reseller", params={"hard": "true"}), 403,
                 "forbidden")
    deleted = assert_ok(api.call("DELETE", path, "master", params={"hard": "true"}))
    assert deleted["_read_only"].get("is_deleted") is True
    assert_error(api.call("GET", path, "master"), 404, "not_found")


def test_activate_buys_a_discovered_number(api: Api) -> None:
    assert_ok(api.call("GET", api.numbers_path("reseller"), "reseller",
                       params={"prefix": "415886", "quantity": 5}))
    bought = assert_ok(api.call("PUT", api.numbers_path("reseller", f"{PB}2/activate"),
                                "reseller", data={}), 201)
    assert bought["state"] == "in_service"
    assert bought["_read_only"]["assigned_to"] == api.ids["reseller"]
    assert bought["_read_only"]["carrier_module"] == "other"
    assert f"{PB}2" not in api.phonebook.app.state.stock  # ordered at the carrier
    missing = api.call("PUT", api.numbers_path("reseller", "+19995550001/activate"),
                       "reseller", data={})
    assert_error(missing, 404, "not_found")


def test_number_in_path_forms(api: Api) -> None:
    _create(api, "4155550127")  # created from a national form
    for form in ("+14155550127", "%2B14155550127", "4155550127", "14155550127",
                 "%2B1%20415%20555%200127"):
        got = assert_ok(api.call("GET", api.numbers_path("master", form)))
        assert got["id"] == "+14155550127", form
    # the raw `+` reaches the server unencoded too
    raw = api.client.get(api.url + api.numbers_path("master", "+14155550127"),
                         headers=api.as_("master"))
    assert raw.request.url.raw_path.decode().endswith("/+14155550127")
    assert assert_ok(raw)["id"] == "+14155550127"


def test_unparseable_number_in_path(api: Api) -> None:
    data = assert_error(api.call("GET", api.numbers_path("master", "not-a-number")),
                        404, "not_reconcilable")
    assert data["cause"] == "not-a-number"
    assert_error(api.call("PUT", api.numbers_path("master", "12"), data={}), 404,
                 "not_reconcilable")


# -- collections -----------------------------------------------------------------------------


def test_collection_create_and_release_mix_good_and_bad(api: Api) -> None:
    good = ["+14155550130", "+14155550131"]
    _create(api, "+14155550132", "unrelated")
    path = api.numbers_path("reseller", "collection")
    everything_ok = api.call("PUT", path, "reseller", data={"numbers": good})
    result = assert_ok(everything_ok)
    assert set(result["success"]) == set(good) and result["error"] == {}

    mixed = api.call("PUT", path, "reseller",
                     data={"numbers": ["+14155550133", "+14155550132", "bogus"]})
    body = {"data": assert_ok(mixed)}  # one number succeeded: 200 with both maps
    assert set(body["data"]["success"]) == {"+14155550133"}
    errors = body["data"]["error"]
    assert errors["+14155550132"]["error"] == "number_exists"
    assert errors["bogus"]["error"] == "not_reconcilable"

    released = api.call("DELETE", path, "reseller",
                        data={"numbers": good + ["+14155550132"]})
    data = assert_ok(released)
    assert set(data["success"]) == set(good)
    # another account's number reads as one nobody holds
    assert data["error"]["+14155550132"]["error"] == "not_found"

    failed = api.call("PUT", path, "reseller", data={"numbers": ["+14155550132", "bogus"]})
    body = failed.json()
    assert failed.status_code == 400 and body["status"] == "error"  # every number failed
    assert body["data"]["success"] == {}
    errors = body["data"]["error"]
    assert {n: e["error"] for n, e in errors.items()} == {"+14155550132": "number_exists",
                                                         "bogus": "not_reconcilable"}
    assert body["message"] == next(iter(errors.values()))["error"]  # the first failure's


def test_collection_update_and_activate(api: Api) -> None:
    path = api.numbers_path("reseller", "collection")
    assert_ok(api.call("PUT", path, "reseller", data={"numbers": ["+14155550140"]}))
    updated = assert_ok(api.call("POST", path, "reseller",
                                 data={"numbers": ["+14155550140"], "tag": "blue"}))
    assert updated["success"]["+14155550140"]["tag"] == "blue"

    assert_ok(api.call("GET", api.numbers_path("reseller"), "reseller",
                       params={"prefix": "415886", "quantity": 10}))
    bought = api.call("PUT", api.numbers_path("reseller", "collection/activate"), "reseller",
                      data={"numbers": [f"{PB}5", f"{PB}6", "+19995550002"]})
    data = assert_ok(bought)
    assert set(data["success"]) == {f"{PB}5", f"{PB}6"}
    assert data["error"]["+19995550002"]["error"] == "not_found"


def test_collection_bad_input(api: Api) -> None:
    for payload in ({"numbers": []}, {"numbers": [1, 2]}, {}, {"numbers": {"a": 1}}):
        response = api.call("PUT", api.numbers_path("master", "collection"), data=payload)
        assert assert_error(response, 400, "invalid")["cause"] == "numbers", payload


# -- classifiers and identify ----------------------------------------------------------------


def test_classifiers_and_identify(api: Api) -> None:
    listed = assert_ok(api.call("GET", api.numbers_path("child", "classifiers"), "child"))
    assert listed["did_us"]["friendly_name"] == "US DID" and "tollfree_us" in listed
    one = assert_ok(api.call("GET", api.numbers_path("child", "classifiers/8005551234"),
                             "child"))
    assert one["name"] == "tollfree_us" and one["e164"] == "+18005551234"
    assert one["number"] == "8005551234"

    _create(api, "+14155550150", "child", who="master")
    ident = assert_ok(api.call("GET", api.numbers_path("child", "+14155550150/identify"),
                               "child"))
    assert ident["number"] == "+14155550150" and ident["country"] == "US"
    assert ident["classifier"] == "did_us" and ident["account_id"] == api.ids["child"]
    # another account's number is not identified: the same 404 as a number nobody holds
    for number in ("+14155550150", "+14155550151"):
        assert_error(api.call("GET", api.numbers_path("unrelated", f"{number}/identify"),
                              "unrelated"), 404, "not_found")


# -- bad input never yields a 500 ------------------------------------------------------------


MALFORMED = [(b"{not json", "body"), (b"[1, 2]", "body"), (b'{"data": "text"}', "data"),
             (b"\xff\xfe", "body"), (b'"just a string"', "body"),
             (b'{"data": {"x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}", "body"),
             (b'{"data": {"x": ' + b"[" * 500 + b"]" * 500 + b"}}", "data")]


def test_malformed_bodies_are_400_invalid(api: Api) -> None:
    for raw, cause in MALFORMED:
        for method, tail in (("PUT", "collection"), ("POST", "+14155550100"),
                             ("PUT", "+14155550100/activate")):
            response = api.call(method, api.numbers_path("master", tail), raw=raw)
            assert assert_error(response, 400, "invalid")["cause"] == cause, (raw, tail)
        response = api.call("PUT", "/v2/api_auth", None, raw=raw)
        assert assert_error(response, 400, "invalid")["cause"] == cause


def test_unknown_account_is_400_invalid(api: Api) -> None:
    for account_id in ("f" * 32, "short", "x" * 200):
        response = api.call("GET", f"/v2/accounts/{account_id}/phone_numbers")
        assert assert_error(response, 400, "invalid")["cause"] == "account_id"


def test_body_over_one_megabyte_is_413(api: Api) -> None:
    big = json.dumps({"data": {"numbers": ["+14155550100"], "pad": "x" * (1024 * 1024)}})
    response = api.call("PUT", api.numbers_path("master", "collection"), raw=big)
    assert_error(response, 413, "request_too_large")

    def chunks():  # no Content-Length: the limit still holds
        for _ in range(40):
            yield b"x" * 32768

    streamed = api.call("PUT", api.numbers_path("master", "collection"), raw=chunks())
    assert_error(streamed, 413, "request_too_large")


def test_unknown_route_and_method(api: Api) -> None:
    assert_error(api.call("GET", "/v2/nothing/here"), 404, "not_found")
    assert_error(api.call("GET", "/v1/phone_numbers"), 404, "not_found")
    assert_error(api.call("PATCH", "/v2/phone_numbers"), 405, "method_not_allowed")


def test_request_id_is_echoed_and_fresh(api: Api) -> None:
    mine = api.client.get("/healthz", headers={"X-Request-ID": "client-id-1"})
    assert mine.headers["x-request-id"] == "client-id-1"
    assert mine.json()["request_id"] == "client-id-1"
    a, b = api.client.get("/healthz"), api.client.get("/healthz")
    assert a.headers["x-request-id"] != b.headers["x-request-id"]
    hostile = api.client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert hostile.headers["x-request-id"] != "bad id\twith junk"


# -- service endpoints -----------------------------------------------------------------------


def test_healthz_openapi_docs(api: Api) -> None:
    health = assert_ok(api.client.get("/healthz"))
    assert health["status"] == "ok"
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v2/api_auth", "/v2/phone_numbers",
                 "/v2/accounts/{account_id}/phone_numbers/{number}",
                 "/v2/accounts/{account_id}/phone_numbers/collection/activate",
                 "/v2/accounts/{account_id}/phone_numbers/{number}/identify"):
        assert path in paths
    docs = api.client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_metrics_count_requests_searches_and_carriers(api: Api) -> None:
    assert_ok(api.call("GET", "/v2/phone_numbers", None, params={"prefix": "415886"}))
    api.phonebook.app.state.sim.set(fail_with={"status": 500})
    # its only carrier failed: an error answer (SPEC §10), counted like any other request
    assert_error(api.call("GET", "/v2/phone_numbers", None, params={"prefix": "415887"}),
                 502, "carrier_unavailable")
    text = api.client.get("/metrics").text
    assert 'knm_http_requests_total{method="GET",route="/v2/phone_numbers",status="200"}' \
        in text
    assert 'knm_searches_total{scope="system",source="carriers"}' in text
    assert 'knm_carrier_latency_seconds_count{carrier="knm_other",operation="search"}' in text
    assert ('knm_carrier_errors_total{carrier="knm_other",operation="search",'
            'outcome="failed"}') in text


def test_metrics_count_purchases_and_their_failures(api: Api) -> None:
    timed = 'knm_carrier_latency_seconds_count{carrier="knm_other",operation="acquire"}'
    failed = 'knm_carrier_errors_total{carrier="knm_other",operation="acquire",outcome="failed"}'

    def value(name: str) -> float:
        text = api.client.get("/metrics").text
        line = next((li for li in text.splitlines() if li.startswith(name + " ")), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    before = value(timed), value(failed)
    assert_ok(api.call("GET", api.numbers_path("reseller"), "reseller",
                       params={"prefix": "415886", "quantity": 5}))
    assert_ok(api.call("PUT", api.numbers_path("reseller", f"{PB}3/activate"), "reseller",
                       data={}), 201)
    api.phonebook.app.state.sim.set(fail_with={"status": 500})
    refused = api.call("PUT", api.numbers_path("reseller", f"{PB}4/activate"), "reseller",
                       data={})
    assert refused.status_code >= 500 and refused.json()["data"]["carrier"] == "knm_other"
    assert (value(timed), value(failed)) == (before[0] + 2, before[1] + 1)


def test_logs_are_json_with_request_id_and_no_secrets(api: Api) -> None:
    from knm.api import logging as api_logging

    stream = io.StringIO()
    api_logging.configure("INFO", stream=stream, json_lines=True)
    try:
        key = accounts.create_api_key(api.ids["child"])
        auth = api.call("PUT", "/v2/api_auth", None, data={"api_key": key})
        token = auth.json()["auth_token"]
        listed = api.client.get(api.numbers_path("child"), params={"auth_token": token})
        assert_ok(listed)
        logging.getLogger("knm.test").warning("leaked? api_key=%s, token=%s", key, token)
        failed = api.client.get(api.numbers_path("child"), headers={"X-Auth-Token": "s3cr3t"})
        assert failed.status_code == 401
        deadline = time.monotonic() + 5  # the access line is written just after the response
        while failed.headers["x-request-id"] not in stream.getvalue():
            assert time.monotonic() < deadline, "no log line for the failed request"
            time.sleep(0.01)
    finally:
        api_logging.reset()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "nothing was logged"
    text = stream.getvalue()
    assert key not in text and token not in text and "s3cr3t" not in text
    ids = {line["request_id"] for line in lines if line["logger"] == "knm.api"}
    assert listed.headers["x-request-id"] in ids and failed.headers["x-request-id"] in ids
    access = [line for line in lines if line.get("route") == "/v2/accounts/{account_id}"
              "/phone_numbers" and line["status"] == 200]
    assert access and access[0]["account_id"] == api.ids["child"]

