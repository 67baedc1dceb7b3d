"""Monster UI's number controls against `knm serve`, request by request
(shared/reference/kazoo-api-gap.md §4).

Each test replays what one of Monster UI's common controls sends, in the order a user's clicks
produce it: the paths of `jquery.kazoosdk.js`'s `numbers` resources, its encoding (URL
parameters through `encodeURIComponent`, `filters` appended as a query string, jQuery's
`cache: false` stamp on every GET, bodies `{"data": {…, "ui_metadata"}}`, `accept_charges`
at the top when the charges dialog was accepted), and asserts what the control then reads
from each answer (`data.success` / `data.error`, `features_available`,
`metadata.features.available`, `data.account_id`, …). The server is `knm serve` with two
workers in its own process, on each database; the carriers behind it are knm's own stock and
the Bandwidth simulator, and a phonebook simulator answers city and locality lookups.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from api_support import knm_serve_process

from knm import accounts, config, numbers
from knm.simulators import phonebook, registry
from knm.simulators.base import Simulator
from knm.simulators.server import BackgroundServer

#: `jquery.kazoosdk.js` `numbers` resources (monster-ui 3c00cf7c, lines 313-333), verbatim
RESOURCES = {
    "get": ("GET", "accounts/{accountId}/phone_numbers/{phoneNumber}"),
    "create": ("PUT", "accounts/{accountId}/phone_numbers/{phoneNumber}"),
    "createBlock": ("PUT", "accounts/{accountId}/phone_numbers/collection"),
    "activate": ("PUT", "accounts/{accountId}/phone_numbers/{phoneNumber}/activate"),
    "activateBlock": ("PUT", "accounts/{accountId}/phone_numbers/collection/activate"),
    "update": ("POST", "accounts/{accountId}/phone_numbers/{phoneNumber}"),
    "delete": ("DELETE", "accounts/{accountId}/phone_numbers/{phoneNumber}"),
    "deleteBlock": ("DELETE", "accounts/{accountId}/phone_numbers/collection"),
    "identify": ("GET", "accounts/{accountId}/phone_numbers/{phoneNumber}/identify"),
    "list": ("GET", "accounts/{accountId}/phone_numbers?filter_state="
             + quote('["in_service","port_in"]', safe="")),
    "listAll": ("GET", "accounts/{accountId}/phone_numbers"),
    "search": ("GET", "accounts/{accountId}/phone_numbers?prefix={pattern}&quantity={limit}"
               "&offset={offset}"),
    "searchBlocks": ("GET", "accounts/{accountId}/phone_numbers?prefix={pattern}"
                     "&quantity={size}&offset={offset}&blocks={limit}"),
    "searchCity": ("GET", "accounts/{accountId}/phone_numbers/prefix?city={city}"),
    "sync": ("POST", "accounts/{accountId}/phone_numbers/fix"),
    "syncOne": ("POST", "accounts/{accountId}/phone_numbers/fix/{number}"),
    "getCarrierInfo": ("GET", "accounts/{accountId}/phone_numbers/carriers_info"),
    "patch": ("PATCH", "accounts/{accountId}/phone_numbers/{phoneNumber}"),
}
UI_METADATA = {"version": "4.3-0", "ui": "monster-ui", "origin": "common"}
#: JavaScript's encodeURIComponent leaves these unescaped
_URI_SAFE = "-_.!~*'()"


def encode_uri_component(value: Any) -> str:
    return quote(str(value), safe=_URI_SAFE)


@dataclass
class Monster:
    """What Monster UI's SDK puts on the wire for `callApi({resource: "numbers.<name>"})`."""

    client: httpx.Client

    def call(self, resource: str, *, filters: dict[str, Any] | None = None,
             data: dict[str, Any] | None = None, accept_charges: bool = False,
             **params: Any) -> httpx.Response:
        verb, template = RESOURCES[resource]
        url = re.sub(r"{(\w+)}", lambda m: encode_uri_component(params[m.group(1)]), template)
        if filters:
            url += ("&" if "?" in url else "?") + "&".join(
                f"{k}={encode_uri_component(v)}" for k, v in filters.items())
        if verb == "GET":  # jQuery's `cache: false`
            url += ("&" if "?" in url else "?") + f"_={int(time.time() * 1000)}"
            return self.client.get("/v2/" + url)
        payload: dict[str, Any] = {"data": {**(data or {}), "ui_metadata": UI_METADATA}}
        if accept_charges:
            payload["accept_charges"] = True
        return self.client.request(verb, "/v2/" + url, content=json.dumps(payload),
                                   headers={"Content-Type": "application/json"})

    def ok(self, resource: str, **kw: Any) -> dict[str, Any]:
        """The whole answer of a call Monster takes its success path for (a 2xx)."""
        response = self.call(resource, **kw)
        assert response.is_success, (resource, response.status_code, response.text)
        body = response.json()
        assert body["status"] == "success"
        return body


def number_features(number: dict[str, Any]) -> list[str]:
    """`monster.util.getNumberFeatures` (monster.util.js:1170)."""
    metadata = number.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("features"), dict) \
            and "available" in metadata["features"]:
        return metadata["features"]["available"]
    return number.get("features_available", [])


@dataclass
class Site:
    """knm serve with its carriers, the accounts, and a Monster session per account."""

    url: str
    bandwidth: Simulator
    ids: dict[str, str]
    tokens: dict[str, str]

    def monster(self, who: str) -> Monster:
        return Monster(httpx.Client(base_url=self.url, timeout=30,
                                    headers={"X-Auth-Token": self.tokens[who]}))


LOCAL_STOCK = {"+18002000100": "toll-free, knm's own", "+18015550100": "Utah, not toll-free",
               "+14153569377": "415-FLOWERS"}


@pytest.fixture
def site(db: str, tmp_path: Path) -> Iterator[Site]:
    spec = registry.get("knm_bandwidth2")
    bandwidth = spec.make_simulator()
    with BackgroundServer(bandwidth.app) as bw, BackgroundServer(phonebook.create_app()) as pb:
        master = accounts.create("master", superduper_admin=True, is_reseller=True,
                                 allow_number_additions=True)
        reseller = accounts.create("reseller", parent_id=master.id, is_reseller=True,
                                   allow_number_additions=True)
        customer = accounts.create("customer", parent_id=reseller.id,
                                   allow_number_additions=True)
        branch = accounts.create("branch", parent_id=customer.id)
        stranger = accounts.create("stranger", parent_id=master.id,
                                   allow_number_additions=True)
        ids = {"master": master.id, "reseller": reseller.id, "customer": customer.id,
               "branch": branch.id, "stranger": stranger.id}
        config.set("number_manager", "carrier_modules", ["knm_local", "knm_bandwidth2"])
        for key, value in {**registry.wire("knm_bandwidth2", bw.url, bandwidth),
                           **spec.fast_orders}.items():
            config.set("number_manager.bandwidth2", key, value)
        config.set("crossbar.phone_numbers", "phonebook_url", pb.url)
        # the server's own settler stays off: Sync is what settles here
        config.set("number_manager", "order_settle_interval_s", 0)
        assert numbers.create(list(LOCAL_STOCK), assign_to=master.id, state="available").ok
        keys = {who: accounts.create_api_key(account_id) for who, account_id in ids.items()}
        with knm_serve_process(db, tmp_path / "serve") as v2:
            tokens = {}
            for who, key in keys.items():
                answer = httpx.put(v2 + "/api_auth", json={"data": {"api_key": key}})
                assert answer.status_code == 201, answer.text
                tokens[who] = answer.json()["auth_token"]
            yield Site(v2.removesuffix("/v2"), bandwidth, ids, tokens)


def _numbers(body: dict[str, Any]) -> list[str]:
    return [row["number"] for row in body["data"]]


def test_buy_numbers_control(site: Site) -> None:
    """`buyNumbers.js`: open the dialog, search (and scroll), city autocomplete, sequential
    blocks, toll-free, vanity, then buy the selection — one of it sold meanwhile."""
    ui = site.monster("reseller")
    customer = site.ids["customer"]

    # opening the dialog: `maximal_prefix_length` sizes the area-code input (:95)
    info = ui.ok("getCarrierInfo", accountId=customer)["data"]
    assert isinstance(info["maximal_prefix_length"], int) and info["maximal_prefix_length"] >= 3

    # regular search, 15 at a time, infinite scroll by offset (:881, :1218)
    first = _numbers(ui.ok("search", accountId=customer, pattern="415", limit=15, offset=0))
    second = _numbers(ui.ok("search", accountId=customer, pattern="415", limit=15, offset=15))
    assert len(first) == len(second) == 15
    assert all(n.startswith("+1415") for n in first + second)
    assert not set(first) & set(second) and first + second == sorted(first + second)

    # city autocomplete: `{City: {state, prefixes}}` becomes "City, ST (415, 628)" (:718)
    cities = ui.ok("searchCity", accountId=customer, city="San")["data"]
    assert cities["San Francisco"] == {"state": "CA", "prefixes": ["415", "628"]}
    assert {"San Jose", "San Diego"} <= set(cities) and "Chicago" not in cities

    # sequential block search: `+1` + area code, `blocks` ignored as Kazoo ignores it (:834)
    block = _numbers(ui.ok("searchBlocks", accountId=customer, pattern="+1646", size=5,
                           offset=0, limit=3))
    assert len(block) == 5 and all(n.startswith("+1646") for n in block)

    # toll-free: the radio buttons' wildcards (:574, :617); toll-free numbers only
    for wildcard, npa in (("80*", "800"), ("84*", "844"), ("88*", "888")):
        found = _numbers(ui.ok("search", accountId=customer, pattern=wildcard, limit=15,
                               offset=0))
        assert found and all(n.startswith("+1" + npa) for n in found), (wildcard, found)
        asked = site.bandwidth.received("GET", "/availableNumbers")[-1].params
        assert asked["tollFreeWildCardPattern"] == wildcard
    assert "+18002000100" in _numbers(ui.ok("search", accountId=customer, pattern="80*",
                                            limit=50, offset=0))
    assert "+18015550100" not in _numbers(ui.ok("search", accountId=customer, pattern="80*",
                                                limit=50, offset=0))

    # vanity: ten characters, letters upper-cased, one result wanted (:466)
    vanity = _numbers(ui.ok("search", accountId=customer, pattern="415FLOWERS", limit=1,
                            offset=0))
    assert vanity == ["+14153569377"]

    # buy the selection (:204, :1195) — one of them was sold to someone else meanwhile
    wanted = [n for n in first if n.startswith("+1415") and n not in LOCAL_STOCK][:3]
    site.bandwidth.owned[wanted[1]] = {"id": "1", "order_id": "elsewhere", "number": wanted[1]}
    answer = ui.call("activateBlock", accountId=customer, data={"numbers": wanted},
                     accept_charges=True)
    assert answer.status_code == 200, answer.text  # Monster's success branch
    data = answer.json()["data"]
    assert set(data["success"]) == {wanted[0], wanted[2]}  # → callbacks.success(data.success)
    assert all(n["state"] == "in_service" for n in data["success"].values())
    assert list(data["error"]) == [wanted[1]]  # the alert lists `_.keys(data.error)`
    assert data["error"][wanted[1]]["error"] == "number_unavailable"

    # buy the vanity number: Monster sends it as typed, `'+' + prefix + letters` (:515)
    vanity_buy = ui.ok("activateBlock", accountId=customer,
                       data={"numbers": ["+1415FLOWERS"]})["data"]
    assert list(vanity_buy["success"]) == ["+14153569377"] and not vanity_buy["error"]

    listed = ui.ok("listAll", accountId=customer, filters={"paginate": False})["data"]
    assert set(listed["numbers"]) == {wanted[0], wanted[2], "+14153569377"}


def test_numbers_manager(site: Site) -> None:
    """`numbers.js`: list, identify, read a sub-account's number, add external numbers,
    activate a spare one, move numbers to another account, delete, sync."""
    admin, ui = site.monster("master"), site.monster("reseller")
    customer, branch = site.ids["customer"], site.ids["branch"]
    mine = ["+14155550101", "+14155550102", "+14155550103"]
    assert numbers.create(mine, assign_to=customer).ok
    assert numbers.create("+14155550104", assign_to=customer, state="reserved")
    assert numbers.create("+14155550105", assign_to=customer, state="port_in")
    assert numbers.create("+14155550199", assign_to=site.ids["stranger"])

    # the number manager's full list, and the in-service view (`numbers.list`)
    full = ui.ok("listAll", accountId=customer, filters={"paginate": False})
    assert set(full["data"]["numbers"]) == {*mine, "+14155550104", "+14155550105"}
    assert full["page_size"] == 5 and "next_start_key" not in full
    entry = full["data"]["numbers"][mine[0]]
    assert entry["state"] == "in_service" and entry["assigned_to"] == customer
    # the feature menu's entries (numberFeaturesMenu.js:30): a local number as a reseller
    # sees it — no external features, no admin-only carrier renaming, no failover
    assert number_features(entry) == ["force_outbound", "prepend", "ringback"]
    in_service = ui.ok("list", accountId=customer, filters={"paginate": False})["data"]
    assert set(in_service["numbers"]) == {*mine, "+14155550105"}  # reserved one left out

    # find which account holds a number (:1546): a sub-account's, then nobody's / another's
    found = ui.ok("identify", accountId=site.ids["reseller"], phoneNumber=mine[0])["data"]
    assert (found["account_id"], found["number"]) == (customer, mine[0])
    for elsewhere in ("+14155550199", "+14155550198"):
        gone = ui.call("identify", accountId=site.ids["reseller"], phoneNumber=elsewhere)
        assert gone.status_code == 404 and gone.json()["message"] == "not_found"
    parked = ui.call("identify", accountId=site.ids["reseller"], phoneNumber="+14155550104")
    assert parked.status_code == 200  # reserved numbers are identified too (Kazoo's states)

    # read a sub-account's number (:1200, :1959): the envelope's metadata feeds the menu
    body = ui.ok("get", accountId=customer, phoneNumber=mine[0])
    number = {**body["data"], "metadata": body.get("metadata", {})}
    assert number_features(number) == ["force_outbound", "prepend", "ringback"]
    as_admin = admin.ok("get", accountId=customer, phoneNumber=mine[0])
    assert "carrier_name" in as_admin["metadata"]["features"]["available"]

    # add external numbers (:1623): admins pick the carrier, a reseller cannot
    added = admin.ok("createBlock", accountId=customer,
                     data={"numbers": ["+19735550111", "+19735550112", "12"],
                           "carrier_name": "bandwidth2", "create_with_state": "in_service"})
    data = added["data"]
    assert set(data["success"]) == {"+19735550111", "+19735550112"}
    assert set(data["error"]) == {"12"}  # the recap dialog (`data.error`)
    made = data["success"]["+19735550111"]
    assert made["_read_only"]["carrier_module"] == "bandwidth2" and "carrier_name" not in made
    refused = ui.call("createBlock", accountId=customer,
                      data={"numbers": ["+19735550113"], "carrier_name": "bandwidth2"})
    assert refused.status_code == 400 and refused.json()["data"]["error"][
        "+19735550113"]["error"] == "forbidden"  # Monster's `data.error` recap branch

    # activate a spare number (:1646)
    activated = ui.ok("activate", accountId=customer, phoneNumber="+14155550104")["data"]
    assert activated["state"] == "in_service"

    # move numbers to another account (:1524): `number in data.success`
    moved = ui.ok("activateBlock", accountId=branch,
                  data={"numbers": [mine[1], mine[2]]})["data"]
    assert set(moved["success"]) == {mine[1], mine[2]} and not moved["error"]
    assert set(ui.ok("listAll", accountId=branch, filters={"paginate": False})["data"][
        "numbers"]) == {mine[1], mine[2]}

    # delete (:1572): one of the customer's, one of another account that must not show
    deleted = ui.call("deleteBlock", accountId=customer,
                      data={"numbers": [mine[0], "+14155550199"]})
    assert deleted.status_code == 200, deleted.text
    result = deleted.json()["data"]
    assert set(result["success"]) == {mine[0]}
    assert result["error"]["+14155550199"]["error"] == "not_found"  # as if nobody held it
    assert numbers.get("+14155550199").assigned_to == site.ids["stranger"]

    # a purchase Bandwidth had not finished when knm stopped waiting: kept, unsettled
    site.bandwidth.set(order_result="never")
    pending = _numbers(ui.ok("search", accountId=customer, pattern="646", limit=1,
                             offset=0))[0]
    lost = ui.call("activateBlock", accountId=customer, data={"numbers": [pending]})
    assert lost.status_code == 400, lost.text  # its only number failed
    assert lost.json()["data"]["error"][pending]["error"] == "carrier_timeout"
    listed = ui.ok("listAll", accountId=customer, filters={"paginate": False})["data"]
    assert listed["numbers"][pending]["state"] == "discovery"
    site.bandwidth.set(order_result="complete")  # the carrier finished it meanwhile

    # Sync (:1849) settles it with the carrier and answers the listing; the per-number
    # sync (numberFeaturesMenu.js:91) answers the number
    synced = ui.ok("sync", accountId=customer)["data"]
    assert set(synced["numbers"]) == {"+14155550104", "+14155550105", "+19735550111",
                                      "+19735550112", pending}
    assert synced["numbers"][pending]["state"] == "in_service"
    one = ui.ok("syncOne", accountId=customer, number="+14155550105")["data"]
    assert one["id"] == "+14155550105" and one["state"] == "port_in"
    for elsewhere in ("+14155550199", "+14155550198"):  # another account's, nobody's
        hidden = ui.call("syncOne", accountId=customer, number=elsewhere)
        assert hidden.status_code == 404 and hidden.json()["message"] == "not_found"


def _edit_features(ui: Monster, account_id: str, number: str) -> dict[str, Any]:
    """`numbersGetNumber` (numbers.js:1955) as `common.numbers.editFeatures` calls it: the
    number's data with the envelope's metadata put inside it."""
    body = ui.ok("get", accountId=account_id, phoneNumber=number)
    return {**body["data"], "metadata": body.get("metadata", {})}


def _update_number(ui: Monster, account_id: str, data: dict[str, Any]) -> httpx.Response:
    """`e911UpdateNumber` / `callerIdUpdateNumber`: `features` and `metadata` deleted, the
    rest POSTed back (`numbers.update`)."""
    payload = {k: v for k, v in data.items() if k not in ("features", "metadata")}
    return ui.call("update", accountId=account_id, phoneNumber=data["id"], data=payload)


def _e911_form(account_name: str, **fields: str) -> dict[str, Any]:
    """What `e911Normalize` (e911.js) makes of the dialog: the form's fields in its order,
    `caller_name` forced to the account's name, the e-mail textarea split into a list."""
    form = {"postal_code": "94108", "street_address": "140 Geary St",
            "extended_address": "Floor 3", "locality": "San Francisco", "region": "CA",
            "country": "US", "notification_contact_emails": "NOC@example.com ops@example.com"}
    form.update(fields)
    form["caller_name"] = account_name
    form["street_address"] = form["street_address"].strip()
    form["notification_contact_emails"] = list(dict.fromkeys(
        e for e in form["notification_contact_emails"].strip().lower().split(" ") if e))
    return form


def test_e911_and_caller_id_dialogs(site: Site) -> None:
    """`e911.js` and `callerId.js` (monster-ui 3c00cf7c) on two Bandwidth numbers: the
    feature menu offers both, an address Bandwidth rejects is the invalid-address alert, one
    it corrects is the choice dialog whose pick is saved as is, removing the address is
    allowed while another number keeps one, and the caller name is saved."""
    ui = site.monster("reseller")
    customer = site.ids["customer"]
    wanted = _numbers(ui.ok("search", accountId=customer, pattern="973", limit=2, offset=0))
    bought = ui.ok("activateBlock", accountId=customer, data={"numbers": wanted})["data"]
    assert set(bought["success"]) == set(wanted)
    first, second = wanted

    # the feature menu (numberFeaturesMenu.js) offers E911 and caller name on them
    number = _edit_features(ui, customer, first)
    assert {"e911", "cnam", "inbound_cnam", "outbound_cnam"} <= set(number_features(number))
    assert number["metadata"]["features"]["settings"]["e911"] == {
        "provider": "knm_bandwidth2"}

    # Save with a ZIP Bandwidth cannot geocode: `_data.error === '400'` → invalidAddress
    number["e911"] = _e911_form("customer", postal_code="00000")
    refused = _update_number(ui, customer, number)
    body = refused.json()
    assert refused.status_code == 400 and body["error"] == "400"
    assert body["message"] == "invalid data" and body["status"] == "error"
    invalid = body["data"]["address"]["invalid"]
    assert invalid["cause"]["postal_code"] == "00000" and invalid["message"]
    assert "e911" not in ui.ok("get", accountId=customer, phoneNumber=first)["data"]
    assert site.bandwidth.e911 == {}

    # a street Bandwidth corrects: `multipleChoices(_data.data.multiple_choice.e911)` shows
    # `cause` and `details`; the user's pick, `details[i]`, is POSTed back as the e911
    number = _edit_features(ui, customer, first)
    number["e911"] = _e911_form("customer", street_address="140 Geary St CORRECTME")
    choice = _update_number(ui, customer, number)
    body = choice.json()
    assert choice.status_code == 400 and body["error"] == "400"
    assert body["message"] == "multiple_choice"
    offered = body["data"]["multiple_choice"]["e911"]
    assert offered["cause"]["street_address"] == "140 Geary St CORRECTME"
    assert [d["street_address"] for d in offered["details"]] == ["140 GEARY ST"]
    number["e911"] = offered["details"][0]
    saved = _update_number(ui, customer, number)
    assert saved.status_code == 200, saved.text
    e911 = saved.json()["data"]["e911"]  # the toast reads data.data.id
    assert saved.json()["data"]["id"] == first
    assert (e911["street_address"], e911["extended_address"], e911["status"]) == (
        "140 GEARY ST", "FLOOR 3", "PROVISIONED")
    assert e911["notification_contact_emails"] == ["noc@example.com", "ops@example.com"]
    assert e911["caller_name"] == "customer" and "latitude" in e911
    assert site.bandwidth.e911[first]["StreetName"] == "GEARY ST"

    # the second number gets the plain address straight away
    number = _edit_features(ui, customer, second)
    number["e911"] = _e911_form("customer", street_address="1 Market St", postal_code="94105",
                                extended_address="")
    assert _update_number(ui, customer, number).status_code == 200

    # Remove (e911.js #remove_e911_btn): allowed while another number keeps an address —
    # counted from the listing's `features`
    listed = ui.ok("list", accountId=customer, filters={"paginate": False})["data"]["numbers"]
    assert sum("e911" in row.get("features", []) for row in listed.values()) == 2
    number = _edit_features(ui, customer, second)
    del number["e911"]
    removed = _update_number(ui, customer, number)
    assert removed.status_code == 200, removed.text
    assert "e911" not in removed.json()["data"]
    assert "e911" not in removed.json()["data"].get("features", [])
    assert second not in site.bandwidth.e911 and first in site.bandwidth.e911
    listed = ui.ok("list", accountId=customer, filters={"paginate": False})["data"]["numbers"]
    assert sum("e911" in row.get("features", []) for row in listed.values()) == 1

    # Caller ID (callerId.js): the form's `cnam`, an empty display name deleted; the answer
    # has `data`, so Monster does not read the number again
    number = _edit_features(ui, customer, first)
    number["cnam"] = {"display_name": "ACME INC", "inbound_lookup": True}
    e911_orders = len(site.bandwidth.received("POST", "/e911s"))
    named = _update_number(ui, customer, number)
    assert named.status_code == 200, named.text
    data = named.json()["data"]
    assert data["cnam"]["display_name"] == "ACME INC" and data["cnam"]["inbound_lookup"]
    assert {"inbound_cnam", "outbound_cnam", "e911"} <= set(data["features"])
    assert data["e911"] == e911  # sent back unchanged with the number: not re-registered
    assert len(site.bandwidth.received("POST", "/e911s")) == e911_orders
    assert site.bandwidth.lidb[first]["name"] == "ACME INC"
    assert site.bandwidth.calling_name[first] == "on"
