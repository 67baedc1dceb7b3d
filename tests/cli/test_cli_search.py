"""`knm search`: the library's validation, the per-carrier report, and why nothing was found."""

from __future__ import annotations

from cli_support import human, knm, ok, refused
from conftest import MASTER

pytest_plugins = ["cli_support"]


def test_search_bad_input(db: str, master: str) -> None:
    refused(db, "search", "4I5", cause="prefix")
    refused(db, "search", "+1+1415", cause="prefix")
    refused(db, "search", "415", "--quantity", "0", cause="quantity")
    err = refused(db, "search", "415", "--quantity", str(10**9), cause="quantity")
    assert "500" in err["message"]  # names maximum_search_quantity
    refused(db, "search", "415", "--quantity", "ten", cause="quantity")
    refused(db, "search", "415", "--offset", "-1", cause="offset")
    refused(db, "search", "415", "--country", "ZZ", cause="country")
    refused(db, "search", "415", "--account", "f" * 32, cause="account_id")
    err = refused(db, "search", "415", "--carrier", "no_such_carrier", cause="carrier")
    assert "no_such_carrier" in err["message"]


def test_search_quantity_cap_follows_config(db: str) -> None:
    ok(db, "config", "set", "number_manager", "maximum_search_quantity", "20")
    refused(db, "search", "415", "--quantity", "21", cause="quantity")
    assert ok(db, "search", "415", "--quantity", "20")["numbers"] == []


def test_search_reports_each_carrier(db: str, fake_carriers: None) -> None:
    out = ok(db, "search", "415", "--quantity", "2", "--carrier", "cli_test_good",
             "--carrier", "knm_cli_test_broken")
    assert out["numbers"] == [{"number": "+14155550100", "state": "discovery"},
                              {"number": "+14155550101", "state": "discovery"}]
    assert out["carriers"]["knm_cli_test_good"]["outcome"] == "answered"
    assert out["carriers"]["knm_cli_test_broken"]["outcome"] == "failed"
    assert out["from_cache"] is False

    page = ok(db, "search", "415", "--quantity", "2", "--offset", "2", "--query-id",
              out["query_id"])
    assert page["from_cache"] is True
    assert page["numbers"] == [{"number": "+14155550102", "state": "discovery"}]

    human = knm(db, "search", "+1415", "--carrier", "cli_test_good", "--carrier",
                "cli_test_broken", as_json=False)
    assert human.exit_code == 0
    assert "+14155550100" in human.stdout and "failed" in human.stdout


def test_search_where_every_carrier_failed_exits_non_zero(db: str, fake_carriers: None
                                                          ) -> None:
    err = refused(db, "search", "415", "--carrier", "cli_test_broken",
                  slug="carrier_unavailable")
    assert err["code"] == 502 and "knm_cli_test_broken" in err["message"]
    assert err["carriers"]["knm_cli_test_broken"]["outcome"] == "failed"  # named in full
    shown = human(db, "search", "415", "--carrier", "cli_test_broken")
    assert shown.exit_code == 1
    assert "knm_cli_test_broken" in shown.stdout and "failed" in shown.stdout  # the report
    assert "carrier_unavailable" in shown.stderr


def test_empty_search_says_why(db: str, master: str) -> None:
    out = ok(db, "search", "415")
    assert out["numbers"] == []
    assert "knm_local" in out["empty_because"]
    assert any("--account" in hint for hint in out["hints"])  # local numbers need an account
    as_account = ok(db, "search", "415", "--account", MASTER)
    assert not any("--account" in hint for hint in as_account["hints"])
    assert any("knm numbers generate" in hint for hint in as_account["hints"])
    shown = human(db, "search", "415", "--account", MASTER)
    assert shown.exit_code == 0 and "Nothing found: no carrier holds numbers under +1415" \
        in shown.stdout
