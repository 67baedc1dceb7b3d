"""Errors, conversion, config and accounts: the pieces every other layer stands on."""

from __future__ import annotations

import pytest

from knm import accounts, config, errors, phone

# -- errors ------------------------------------------------------------------------------------


def test_kazoo_error_json_shapes() -> None:
    assert errors.NotFound("+15559871234").to_json() == {
        "code": 404, "error": "not_found", "cause": "+15559871234",
        "message": "number +15559871234 not found"}
    assert errors.Forbidden().to_json() == {
        "code": 403, "error": "forbidden",
        "message": "requestor is unauthorized to perform operation"}
    assert errors.AssignFailure().to_json() == {
        "code": 400, "error": "assign_failure", "cause": "field_undefined",
        "message": "invalid account to assign to"}
    assert errors.InvalidStateTransition("available", "available").to_json()["cause"] == \
        "from available to available"
    assert errors.InvalidStateTransition(None, "reserved").cause == "from (nothing) to reserved"
    assert errors.NumberExists("+15551233322").code == 409


def test_carrier_fault_carries_what_the_carrier_said() -> None:
    err = errors.CarrierFault("knm_telnyx", "number already ordered", number="+14155550100")
    assert err.to_json() == {
        "code": 500, "error": "unspecified_fault", "message": "fault by carrier",
        "cause": "+14155550100", "carrier": "knm_telnyx",
        "carrier_message": "number already ordered"}
    assert isinstance(err, errors.KnmError)
    assert errors.CarrierTimeout("knm_x").to_json()["code"] == 504
    assert errors.CarrierUnavailable("knm_x").to_json()["error"] == "carrier_unavailable"
    assert errors.RateLimited("knm_x", retry_after=3).to_json()["retry_after"] == 3


# -- conversion --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("4156301234", "+14156301234"),
    ("14156301234", "+14156301234"),
    ("+14156301234", "+14156301234"),
    ("(415) 630-1234", "+14156301234"),
    ("011441234567890", "+441234567890"),
    ("00441234567890", "+441234567890"),
    ("1000", "1000"),
])
def test_normalize_like_kazoo(raw: str, expected: str) -> None:
    assert phone.normalize(raw) == expected


def test_national_numbers_of_other_countries_use_phonenumbers() -> None:
    assert phone.normalize("0612345678", "FR") == "+33612345678"


@pytest.mark.parametrize("number, name", [
    ("+18005551212", "tollfree_us"),
    ("+19005551212", "toll_us"),
    ("911", "emergency"),
    ("+18765551212", "caribbean"),
    ("+14158867900", "did_us"),
    ("+441234567890", "international"),
    ("1000", "unknown"),
])
def test_classifiers_keep_kazoo_names(number: str, name: str) -> None:
    assert phone.classify(number) == name


def test_to_db_matches_kazoo() -> None:
    assert phone.to_db("+14158867900") == "numbers%2F%2B1415"
    assert phone.to_db("14158867900") == "numbers%2F14158"
    assert phone.to_db("1234") is None


@pytest.mark.parametrize("prefix, country, expected", [
    ("415", "US", "+1415"), ("+1415", "US", "+1415"), ("415886", "US", "+1415886"),
    ("20", "GB", "+4420"), (" 415 ", "US", "+1415"), ("1415888", "US", "+1415888"),
    ("14158867900", "US", "+14158867900"), ("1", "US", "+1"),
])
def test_search_prefix_normalized_once(prefix: str, country: str, expected: str) -> None:
    assert phone.normalize_prefix(prefix, country) == expected


@pytest.mark.parametrize("prefix", ["", "41a", "+1+1415", "415-886"])
def test_bad_search_prefix_is_invalid_naming_prefix(prefix: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        phone.normalize_prefix(prefix)
    assert caught.value.cause == "prefix"


def test_unknown_country_is_invalid_naming_country() -> None:
    with pytest.raises(errors.Invalid) as caught:
        phone.normalize_prefix("415", "ZZ")
    assert caught.value.cause == "country"


def test_identify_reports_country_and_type() -> None:
    facts = phone.identify("+18005551212")
    assert facts["classifier"] == "tollfree_us"
    assert facts["country"] == "US"
    assert facts["type"] == "toll_free"


# -- config ------------------------------------------------------------------------------------


def test_config_layers_node_default_builtin(db: str) -> None:
    assert config.get("number_manager", "maximum_search_quantity") == 500
    config.set("number_manager", "maximum_search_quantity", 50)
    assert config.get("number_manager", "maximum_search_quantity") == 50
    config.set("number_manager", "maximum_search_quantity", 7, node="node-a")
    assert config.get("number_manager", "maximum_search_quantity", node="node-a") == 7
    assert config.get("number_manager", "maximum_search_quantity", node="node-b") == 50
    config.set("number_manager", "maximum_search_quantity", None)
    assert config.get("number_manager", "maximum_search_quantity", node="node-b") == 500


def test_account_config_overrides_system(db: str) -> None:
    account = accounts.create("acme")
    config.set("number_manager", "carrier_modules", ["knm_local", "knm_telnyx"],
               account_id=account.id)
    assert config.get("number_manager", "carrier_modules") == ["knm_local"]
    assert config.get("number_manager", "carrier_modules", account_id=account.id) == [
        "knm_local", "knm_telnyx"]
    assert config.get_own("number_manager", "carrier_modules", account_id="x" * 32) is None


def test_secrets_are_masked() -> None:
    shown = config.mask({"api_key": "k-123", "login": "me", "password": "p",
                         "nested": {"client_secret": "s"}, "empty_token": ""})
    assert shown == {"api_key": "***", "login": "me", "password": "***",
                     "nested": {"client_secret": "***"}, "empty_token": ""}


# -- accounts ----------------------------------------------------------------------------------


def test_account_tree_and_reseller(db: str) -> None:
    master = accounts.create("master", superduper_admin=True)
    reseller = accounts.create("reseller", parent_id=master.id, is_reseller=True)
    child = accounts.create("child", parent_id=reseller.id)
    grandchild = accounts.create("grandchild", parent_id=child.id)
    assert grandchild.tree == [master.id, reseller.id, child.id]
    assert accounts.reseller_id(grandchild.id) == reseller.id
    assert accounts.reseller_id(reseller.id) == reseller.id
    assert accounts.reseller_id(master.id) == master.id
    assert accounts.in_hierarchy(master.id, grandchild.id)
    assert not accounts.in_hierarchy(grandchild.id, master.id)
    assert accounts.is_admin("system") and accounts.is_admin(master.id)
    assert not accounts.is_admin(child.id)
    assert accounts.master() == master
    assert [a.id for a in accounts.list()] == [master.id, reseller.id, child.id, grandchild.id]


def test_bad_account_input_is_invalid(db: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        accounts.get("0" * 32)
    assert caught.value.cause == "account_id"
    with pytest.raises(errors.Invalid):
        accounts.create("x", account_id="not-an-id")
    with pytest.raises(errors.Invalid) as caught:
        accounts.create("x", parent_id="f" * 32)
    assert caught.value.cause == "parent_id"


def test_api_keys_and_tokens(db: str) -> None:
    account = accounts.create("acme")
    key = accounts.create_api_key(account.id)
    assert accounts.account_for_api_key(key) == account.id
    assert accounts.account_for_api_key(key + "x") is None
    token = accounts.create_token(account.id, ttl_s=60)
    assert accounts.account_for_token(token) == account.id
    expired = accounts.create_token(account.id, ttl_s=-1)
    assert accounts.account_for_token(expired) is None


def test_config_written_by_another_process_is_seen_within_the_ttl(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from knm import store
    from knm.store.schema import config_entries

    monkeypatch.setenv("KNM_CONFIG_TTL_MS", "200")
    assert config.get("number_manager", "should_age") is False  # snapshot taken
    with store.write() as conn:  # what another process's `knm config set` does
        conn.execute(config_entries.insert().values(
            scope="system", category="number_manager", section="default",
            key="should_age", value=True))
    time.sleep(0.3)
    assert config.get("number_manager", "should_age") is True


def test_config_values_handed_out_are_copies(db: str) -> None:
    config.set("number_manager", "carrier_modules", ["knm_local"])
    config.get("number_manager", "carrier_modules").append("knm_evil")
    assert config.get("number_manager", "carrier_modules") == ["knm_local"]
