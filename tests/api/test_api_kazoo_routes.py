"""Crossbar `phone_numbers` routes and parameters beyond the basics (kazoo-api-gap.md §1):
listing pages and filters, `features_available`, search input (toll-free, vanity, raw `+`,
`reseller_id`), Sync, reserve, port requests, collection PATCH and hard DELETE, `carrier_name`,
`accept_charges`, `e911` writes only where a carrier provisions them, city and locality
lookups, identify — over real HTTP on both databases, checking what a Kazoo client reads."""

from __future__ import annotations

from typing import ClassVar

import pytest
from api_support import Api, Servers, assert_error, assert_ok, start_api

from knm import carriers, config, errors, numbers
from knm.carriers.base import Carrier, SearchOptions, SearchResult
from knm.carriers.orders import OrderStatus
from knm.record import PhoneNumber

PB = "+1415886790"  # the phonebook simulator's stock


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    yield from Servers.run(tmp_path_factory.mktemp("routes"))


@pytest.fixture
def api(servers: Servers, kazoo_accounts: dict[str, str]):
    yield from start_api(servers, kazoo_accounts)


def _made(api: Api, account: str, found: list[str], **kw: object) -> None:
    result = numbers.create(found, assign_to=api.ids[account], **kw)
    assert result.ok, result.failed


# -- listing -----------------------------------------------------------------------------------


def test_listing_pages_by_key(api: Api) -> None:
    mine = [f"+1415555{i:04d}" for i in range(7)]
    _made(api, "child", mine)
    path = api.numbers_path("child")
    first = api.call("GET", path, "child", params={"page_size": 3}).json()
    assert list(first["data"]["numbers"]) == mine[:3]
    assert first["page_size"] == 3 and first["next_start_key"] == mine[3]
    assert "start_key" not in first  # none was given
    # the next page from `next_start_key`, sent with a raw `+` as Kazoo clients do
    raw = api.client.get(api.url + path + f"?page_size=3&start_key={mine[3]}",
                         headers=api.as_("child")).json()
    assert list(raw["data"]["numbers"]) == mine[3:6] and raw["start_key"] == mine[3]
    last = api.call("GET", path, "child", params={"page_size": 3,
                                                  "start_key": raw["next_start_key"]}).json()
    assert list(last["data"]["numbers"]) == mine[6:] and "next_start_key" not in last
    # Crossbar's default page is 50; `paginate=false` is every number in one answer
    assert api.call("GET", path, "child").json()["page_size"] == 7
    backwards = api.call("GET", path, "child", params={"page_size": 2, "descending": "true"})
    assert list(backwards.json()["data"]["numbers"]) == [mine[6], mine[5]]
    for bad in ("0", "-1", "many"):
        data = assert_error(api.call("GET", path, "child", params={"page_size": bad}),
                            400, "invalid")
        assert data["cause"] == "page_size"


def test_ten_thousand_numbers_in_pages_of_fifty_visit_each_once(api: Api) -> None:
    mine = [f"+1628555{i:04d}" for i in range(10_000)]
    _made(api, "reseller", mine)
    _made(api, "child", ["+16285549999", "+16285560000"])  # another account's, around them
    path, seen, start, pages = api.numbers_path("reseller"), [], None, 0
    while True:
        params: dict[str, object] = {"page_size": 50}
        if start is not None:
            params["start_key"] = start
        body = api.call("GET", path, "reseller", params=params).json()
        assert body["page_size"] == len(body["data"]["numbers"]) <= 50
        seen.extend(body["data"]["numbers"])
        pages += 1
        start = body.get("next_start_key")
        if start is None:
            break
    assert pages == 200 and len(seen) == len(set(seen)) == 10_000
    assert seen == mine  # in number order, each once, none of another account's


def test_listing_filters(api: Api) -> None:
    _made(api, "child", ["+14155550201", "+14155550202"])
    _made(api, "child", ["+14155550203"], state="reserved")
    _made(api, "child", ["+14155550204"], state="port_in")
    numbers.update("+14155550202", public_fields={"e911x": {"zip": "1"}, "tag": "blue"})
    path = api.numbers_path("child")

    def listed(**params: object) -> list[str]:
        return list(assert_ok(api.call("GET", path, "child", params=params))["numbers"])

    # Monster's `numbers.list`: a JSON list of states
    assert listed(filter_state='["in_service","port_in"]', paginate="false") == [
        "+14155550201", "+14155550202", "+14155550204"]
    assert listed(filter_state="reserved") == ["+14155550203"]
    assert listed(filter_not_state="in_service") == ["+14155550203", "+14155550204"]
    assert listed(filter_tag="blue") == ["+14155550202"]
    assert listed(filter_not_tag="blue") == ["+14155550201", "+14155550203", "+14155550204"]
    assert listed(has_key="e911x") == listed(has_value="tag") == ["+14155550202"]
    assert "+14155550202" not in listed(key_missing="tag")
    assert listed(filter_pvt_module_name="knm_local", filter_state="reserved") == [
        "+14155550203"]
    # a filter on a key the page would not fill: the scan goes on until it finds them
    assert listed(filter_tag="blue", page_size=1) == ["+14155550202"]
    created = numbers.get("+14155550202").created
    assert set(listed(created_from=created, created_to=created)) >= {"+14155550202"}
    assert listed(modified_from=created + 10**9) == []
    data = assert_error(api.call("GET", path, "child", params={"created_from": "soon"}),
                        400, "invalid")
    assert data["cause"] == "created_from"


def test_features_available_on_listings_and_single_reads(api: Api) -> None:
    """Kazoo's `list_available_features` through the API: a foreign carrier's number may
    have the external features, a local one not, `carrier_name` only for an admin, and the
    reseller's allow/deny lists narrow both."""
    _made(api, "child", ["+14155550301"])  # knm_local
    _made(api, "child", ["+14155550302"], module_name="knm_bandwidth2")
    path = api.numbers_path("child")
    rows = assert_ok(api.call("GET", path, "child"))["numbers"]
    assert rows["+14155550301"]["features_available"] == ["force_outbound", "prepend",
                                                          "ringback"]
    assert rows["+14155550302"]["features_available"] == [
        "cnam", "e911", "force_outbound", "inbound_cnam", "outbound_cnam", "port", "prepend",
        "ringback"]
    assert rows["+14155550301"]["features"] == ["local"]
    body = api.call("GET", api.numbers_path("child", "+14155550302"), "master").json()
    assert "carrier_name" in body["metadata"]["features"]["available"]  # an admin reads
    assert body["data"]["_read_only"]["features"]["available"] == \
        body["data"]["_read_only"]["features_available"] == body["metadata"]["features"][
            "available"]
    # the reseller of the child allows only some features, and denies one of them
    config.set("number_manager", "features", {"allow": ["e911", "knm_prepend", "cnam_notifier"],
                                              "deny": ["cnam"]}, account_id=api.ids["reseller"])
    rows = assert_ok(api.call("GET", path, "child"))["numbers"]
    assert rows["+14155550302"]["features_available"] == ["e911", "prepend"]
    # a denial set on the reseller replaces the local rule — but a local number has no
    # carrier to register an address: e911 only once the reseller names a provider for it
    assert rows["+14155550301"]["features_available"] == ["prepend"]
    config.set("number_manager", "e911_provider", "knm_bandwidth2",
               account_id=api.ids["reseller"])
    rows = assert_ok(api.call("GET", path, "child"))["numbers"]
    assert rows["+14155550301"]["features_available"] == ["e911", "prepend"]
    single = assert_ok(api.call("GET", api.numbers_path("child", "+14155550301"), "child"))
    assert single["_read_only"]["features"]["settings"] == {
        "e911": {"provider": "knm_bandwidth2"}}


# -- search ------------------------------------------------------------------------------------


def test_search_input_kazoo_clients_send(api: Api) -> None:
    path = api.numbers_path("reseller")
    # a raw `+` in the query string is a `+`, not a space
    raw = api.client.get(api.url + path + "?prefix=+1415886&quantity=2",
                         headers=api.as_("reseller"))
    assert [r["number"] for r in assert_ok(raw)] == [f"{PB}0", f"{PB}1"]
    foreign = api.client.get(api.url + path + "?prefix=+44207&quantity=2",
                             headers=api.as_("reseller"))
    assert assert_ok(foreign) == []
    asked = api.phonebook.app.state.sim.requests[-1]
    assert asked.path == "/numbers/US/search" and asked.params["prefix"] == "+44207"
    # vanity letters are dialled; toll-free wildcards are toll-free searches
    _made(api, "master", ["+18002000100", "+18012000100", "+14153569377"], state="available")
    vanity = assert_ok(api.call("GET", path, "reseller",
                                params={"prefix": "415FLOWERS", "quantity": 1}))
    assert vanity == [{"number": "+14153569377", "state": "available"}]
    tollfree = assert_ok(api.call("GET", path, "reseller", params={"prefix": "80*"}))
    assert [r["number"] for r in tollfree] == ["+18002000100"]
    data = assert_error(api.call("GET", path, "reseller",
                                 params={"prefix": "80*", "country": "GB"}), 400, "invalid")
    assert data["cause"] == "prefix"


def test_reseller_id_search(api: Api) -> None:
    reserved = "+14255550400"
    _made(api, "reseller", [reserved], state="reserved")
    wanted = {"prefix": "425555", "reseller_id": api.ids["reseller"]}
    # not allowed by the reseller: refused, for the system search and an account's alike
    data = assert_error(api.call("GET", "/v2/phone_numbers", None, params=wanted), 403,
                        "forbidden")
    assert data["cause"] == "reseller_id"
    assert_error(api.call("GET", api.numbers_path("unrelated"), "unrelated", params=wanted),
                 403, "forbidden")
    # an account that does not exist is named, not searched as nobody
    data = assert_error(api.call("GET", "/v2/phone_numbers", None,
                                 params={**wanted, "reseller_id": "f" * 32}), 400, "invalid")
    assert data["cause"] == "reseller_id" and "f" * 32 in data["message"]
    # allowed: the search runs as the reseller, whose reserved numbers are offered
    config.set("number_manager", "unauthorized_numbers_lookup", True,
               account_id=api.ids["reseller"])
    for who, path in ((None, "/v2/phone_numbers"), ("unrelated", api.numbers_path("unrelated"))):
        found = assert_ok(api.call("GET", path, who, params=wanted))
        assert {"number": reserved, "state": "reserved"} in found, who
    # a plain account may not open its numbers to everyone this way
    config.set("number_manager", "unauthorized_numbers_lookup", True,
               account_id=api.ids["child"])
    assert_error(api.call("GET", "/v2/phone_numbers", None,
                          params={**wanted, "reseller_id": api.ids["child"]}), 403, "forbidden")


def test_city_prefixes_and_locality(api: Api) -> None:
    cities = assert_ok(api.call("GET", api.numbers_path("child", "prefix"), "child",
                                params={"city": "san f"}))
    assert cities == {"San Francisco": {"state": "CA", "prefixes": ["415", "628"]}}
    public = assert_ok(api.call("GET", "/v2/phone_numbers/prefix", None,
                                params={"city": "Chicago"}))
    assert public["Chicago"]["state"] == "IL"
    assert assert_error(api.call("GET", "/v2/phone_numbers/prefix", None), 400,
                        "invalid")["cause"] == "city"
    found = assert_ok(api.call("POST", api.numbers_path("child", "locality"), "child",
                               data={"numbers": ["+14155550100", "+19995550100"]}))
    assert found["+14155550100"]["status"] == "success"
    assert found["+14155550100"]["locality"]["locality"] == "San Francisco"
    assert found["+19995550100"]["status"] == "error"
    # without a phonebook: a clear 501 naming the setting, not a 404
    config.set("number_manager.other", "phonebook_url", None)
    data = assert_error(api.call("GET", "/v2/phone_numbers/prefix", None,
                                 params={"city": "San"}), 501, "not_implemented")
    assert "phonebook_url" in data["cause"]


# -- one number ------------------------------------------------------------------------------


def test_reserve_port_and_port_requests(api: Api) -> None:
    _made(api, "master", ["+14155550500"], state="available")
    path = api.numbers_path("grandchild", "+14155550500/reserve")
    reserved = assert_ok(api.call("PUT", path, "child", data={"tag": "held"}), 201)
    assert reserved["state"] == "reserved" and reserved["tag"] == "held"
    assert reserved["_read_only"]["assigned_to"] == api.ids["grandchild"]
    assert_error(api.call("PUT", path, "child", data={}), 400, "no_change_required")
    # another account's number reads as one nobody holds
    _made(api, "unrelated", ["+14155550501"])
    for number in ("+14155550501", "+14155550502"):
        assert_error(api.call("PUT", api.numbers_path("child", f"{number}/reserve"), "child",
                              data={}), 404, "not_found")
        assert_error(api.call("PUT", api.numbers_path("child", f"{number}/activate"), "child",
                              data={}), 404, "not_found")
    # port requests: a clear 501 in Kazoo's envelope, after authentication
    port = assert_error(api.call("PUT", api.numbers_path("child", "+14155550503/port"),
                                 "child", data={}), 501, "not_implemented")
    assert "port" in port["message"]
    for method, tail in (("GET", ""), ("PUT", ""), ("GET", "/abc123"),
                         ("PATCH", "/abc123/submitted"), ("DELETE", "/abc123")):
        assert_error(api.call(method, f"/v2/accounts/{api.ids['child']}/port_requests{tail}",
                              "child", data={}), 501, "not_implemented")
    assert_error(api.call("GET", "/v2/port_requests", "child"), 501, "not_implemented")
    assert_error(api.call("GET", f"/v2/accounts/{api.ids['child']}/port_requests", None),
                 401, "invalid_credentials")


def test_identify_answers_as_kazoo(api: Api) -> None:
    _made(api, "child", ["+14155550601"])
    _made(api, "child", ["+14155550602"], state="aging")
    _made(api, "master", ["+14155550603"], state="available")
    got = assert_ok(api.call("GET", api.numbers_path("reseller", "+14155550601/identify"),
                             "reseller"))
    assert (got["account_id"], got["number"]) == (api.ids["child"], "+14155550601")
    response = api.call("GET", api.numbers_path("reseller", "+14155550602/identify"),
                        "reseller")
    assert response.status_code == 400 and response.json()["message"] == "client error"
    data = response.json()["data"]
    assert (data["cause"], data["account_id"], data["number"]) == (
        "not_in_service", api.ids["child"], "+14155550602")
    for number in ("+14155550603", "+14155550604"):  # in no account; held by nobody
        assert_error(api.call("GET", api.numbers_path("reseller", f"{number}/identify"),
                              "reseller"), 404, "not_found")


def test_e911_only_where_a_carrier_provisions_it(api: Api) -> None:
    """SPEC §13: never stored and answered 200 as if provisioned. knm_local numbers have no
    carrier to register an address: every write of one is `403 forbidden` (Kazoo's answer for
    a feature not available), alone or in a collection, and nothing is stored."""
    number, path = "+14155550700", api.numbers_path("child", "+14155550700")
    address = {"street_address": "140 Geary St", "locality": "San Francisco",
               "region": "CA", "postal_code": "94108"}
    data = assert_error(api.call("PUT", path, "master", data={"e911": address}), 403,
                        "forbidden")
    assert data["cause"] == "e911"
    assert_error(api.call("GET", path, "child"), 404, "not_found")  # nothing was created
    _made(api, "child", [number])
    for method in ("POST", "PATCH"):
        assert_error(api.call(method, path, "child", data={"e911": address}), 403,
                     "forbidden")
    bulk = api.call("POST", api.numbers_path("child", "collection"), "child",
                    data={"numbers": [number], "e911": address})
    assert bulk.status_code == 400
    assert bulk.json()["data"]["error"][number]["error"] == "forbidden"
    # a malformed address is a 400 naming the field, as Crossbar's schema says
    foreign = "+19735550701"
    _made(api, "child", [foreign], module_name="knm_bandwidth2", state="in_service")
    bad = assert_error(api.call("PATCH", api.numbers_path("child", foreign), "child",
                                data={"e911": {**address, "region": "California"}}),
                       400, "invalid")
    assert bad["cause"] == "e911.region"
    assert "e911" not in assert_ok(api.call("GET", path, "child"))
    # an address that came with the number (a Kazoo import) survives other edits, and goes
    # with no carrier call: knm never registered it (Bandwidth is not even configured here)
    imported = numbers.import_kazoo([{
        "_id": "+14155550701", "pvt_state": "in_service", "pvt_module_name": "knm_bandwidth2",
        "pvt_assigned_to": api.ids["child"], "pvt_created": 63900000000,
        "pvt_modified": 63900000000, "e911": address, "cnam": {"display_name": "A"}}])
    assert imported.ok, imported.failed
    path = api.numbers_path("child", "+14155550701")
    kept = assert_ok(api.call("PATCH", path, "child", data={"tag": "B"}))
    assert kept["e911"] == address and kept["cnam"] == {"display_name": "A"}
    gone = assert_ok(api.call("PATCH", path, "child", data={"e911": None}))
    assert "e911" not in gone and gone["cnam"] == {"display_name": "A"}


def test_carrier_name_renames_the_carrier_for_admins(api: Api) -> None:
    number, path = "+14155550800", api.numbers_path("child", "+14155550800")
    _made(api, "child", [number])
    renamed = assert_ok(api.call("POST", path, "master",
                                 data={"carrier_name": "bandwidth2", "tag": "x"}))
    assert renamed["_read_only"]["carrier_module"] == "bandwidth2"
    assert "carrier_name" not in renamed and renamed["tag"] == "x"
    assert numbers.get(number).module_name == "knm_bandwidth2"
    data = assert_error(api.call("POST", path, "reseller", data={"carrier_name": "local"}),
                        403, "forbidden")
    assert data["cause"] == "carrier_name"
    data = assert_error(api.call("POST", path, "master", data={"carrier_name": "nosuch"}),
                        400, "invalid")
    assert "'nosuch' is not known by the system" in data["message"]


# -- collections -----------------------------------------------------------------------------


def test_collection_patch_hard_delete_and_accept_charges(api: Api) -> None:
    path = api.numbers_path("reseller", "collection")
    wanted = ["+14155550901", "+14155550902"]
    made = api.client.put(api.url + path, headers=api.as_("reseller"), json={
        "data": {"numbers": wanted, "tag": "a", "keep": 1, "accept_charges": True},
        "accept_charges": True})
    created = assert_ok(made)["success"]
    assert all("accept_charges" not in n and n["tag"] == "a" for n in created.values())
    patched = assert_ok(api.call("PATCH", path, "reseller",
                                 data={"numbers": wanted, "tag": "b", "keep": None,
                                       "label": {"display_name": "ACME"}}))["success"]
    assert {n: (p["tag"], "keep" in p, p["label"]) for n, p in patched.items()} == dict.fromkeys(
        wanted, ("b", False, {"display_name": "ACME"}))
    # ?hard=true: a superduper admin deletes outright; anyone else is refused per number
    refused = api.call("DELETE", path, "reseller", params={"hard": "true"},
                       data={"numbers": wanted})
    assert refused.status_code == 400
    assert {e["error"] for e in refused.json()["data"]["error"].values()} == {"forbidden"}
    gone = assert_ok(api.call("DELETE", path, "master", params={"hard": "true"},
                              data={"numbers": wanted}))
    assert all(n["_read_only"]["is_deleted"] for n in gone["success"].values())
    assert numbers.get(wanted, auth_by="system").failed.keys() == set(wanted)


# -- Sync --------------------------------------------------------------------------------------


class Settles(Carrier):
    """A carrier whose purchases end unanswered, and which can tell afterwards that they
    went through: what `POST …/fix` reconciles."""

    name = "knm_test_settles"
    settled: ClassVar[list[str]] = []

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        return [SearchResult(f"{prefix}{i:07d}"[:12], self.name, "discovery")
                for i in range(quantity)][:2]

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        raise errors.CarrierTimeout(self.name, "no answer", number=number.number)

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        return number

    def settle(self, number: PhoneNumber) -> OrderStatus:
        type(self).settled.append(number.number)
        return OrderStatus("complete", "COMPLETE")


def test_sync_settles_the_accounts_unsettled_orders(api: Api) -> None:
    carriers.register(Settles)
    try:
        config.set("number_manager", "carrier_modules", ["knm_test_settles"])
        found = assert_ok(api.call("GET", api.numbers_path("reseller"), "reseller",
                                   params={"prefix": "+1888", "quantity": 2}))
        first, second = (r["number"] for r in found)
        for number in (first, second):
            lost = api.call("PUT", api.numbers_path("reseller", f"{number}/activate"),
                            "reseller", data={})
            assert lost.status_code == 504
        listed = assert_ok(api.call("GET", api.numbers_path("reseller"), "reseller"))
        assert {n: e["state"] for n, e in listed["numbers"].items()} == {
            first: "discovery", second: "discovery"}
        one = assert_ok(api.call("POST", api.numbers_path("reseller", f"fix/{first}"),
                                 "reseller"))
        assert one["state"] == "in_service" and first in Settles.settled
        synced = assert_ok(api.call("POST", api.numbers_path("reseller", "fix"), "reseller"))
        assert {n: e["state"] for n, e in synced["numbers"].items()} == {
            first: "in_service", second: "in_service"}
        assert set(Settles.settled) == {first, second}
    finally:
        carriers.unregister("knm_test_settles")
        Settles.settled.clear()
