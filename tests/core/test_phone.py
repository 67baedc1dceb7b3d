"""`knm.phone`: number conversion and classification as Kazoo does it (knm_converters)."""

from __future__ import annotations

import pytest

from knm import errors, phone


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
