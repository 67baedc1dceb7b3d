"""Reading and checking what operators import (`knm.numbers.importers`): which numbers may be
stored, CSV lines with their numbers, and Kazoo documents imported twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import kazoo_number_docs

from knm import errors, numbers
from knm.numbers import importers


@pytest.mark.parametrize("raw, number", [
    ("+14155550100", "+14155550100"),
    ("4155550100", "+14155550100"),
    ("1 (415) 555-0100", "+14155550100"),
    ("+44 20 7946 0000", "+442079460000"),
    ("+883510000000091", "+883510000000091"),  # iNum: a non-geographic calling code
])
def test_real_numbers_in_e164(raw: str, number: str) -> None:
    assert importers.check_number(raw) == number


@pytest.mark.parametrize("raw, says", [
    ("+1999", "+1999 is not a valid number of country code +1"),
    ("+19995552600", "not a valid number of country code +1"),
    ("+15551234567", "not a valid number of country code +1"),
    ("1000", "not a number in international form"),
    ("12", "not a number in international form"),
    ("+999123456", "starts with no country's calling code"),
    ("+1415886790123456", "has 16 digits"),
    ("call me", "'call me' is not a phone number"),
    ("+1415x", "is not a phone number"),
    ("", "no number given"),
])
def test_numbers_that_are_not_real(raw: str, says: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        importers.check_number(raw)
    assert caught.value.cause == "number"
    assert says in caught.value.message


def test_checked_keeps_good_numbers_and_counts_the_rest() -> None:
    report = importers.ImportReport()
    good = list(importers.checked([(1, "+14155550100"), (2, "+1999"), (3, "415 555 0101"),
                                   (4, "x")], report))
    assert good == ["+14155550100", "+14155550101"]
    assert (report.read, report.failed) == (4, 2)
    assert [(r.line, r.value) for r in report.rejected] == [(2, "+1999"), (4, "x")]


def test_reports_keep_the_first_bad_lines_and_count_them_all() -> None:
    report = importers.ImportReport()
    good = list(importers.checked(((i, "+1999") for i in range(1, 1501)), report))
    assert good == [] and report.failed == 1500
    assert len(report.rejected) == importers.MAX_REPORTED
    assert report.rejected[-1].line == importers.MAX_REPORTED


def test_csv_entries_with_line_numbers(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("+14155550100\n\n# comment\n4155550101,extra\n,\n")
    assert list(importers.csv_entries(plain)) == [(1, "+14155550100"), (4, "4155550101")]
    headed = tmp_path / "headed.csv"
    headed.write_text('note,Number\n"two\nlines",+14155550100\nx,\n')
    assert list(importers.csv_entries(headed)) == [(3, "+14155550100"), (4, "")]
    other = tmp_path / "other.csv"
    other.write_text("tn,price\n+14155550100,1\n")
    assert list(importers.csv_entries(other)) == [(2, "+14155550100")]


def test_kazoo_documents_from_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps({"_id": "+14155550100"}))
    (tmp_path / "dump.json").write_text(json.dumps(
        {"docs": [{"doc": {"_id": "+14155550101"}}, {"_id": "+14155550102"}]}))
    docs = importers.kazoo_documents([tmp_path])
    assert sorted(d["_id"] for d in docs) == ["+14155550100", "+14155550101", "+14155550102"]
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(errors.Invalid) as caught:
        importers.kazoo_documents([tmp_path / "bad.json"])
    assert caught.value.cause == "path"


# -- Kazoo documents imported twice ----------------------------------------------------------

def test_importing_the_same_documents_again_finds_them_present(
        kazoo_accounts: dict[str, str]) -> None:
    docs = kazoo_number_docs()
    first = importers.import_kazoo(docs)
    assert len(first.imported) == len(docs) and not first.failed and not first.present
    again = importers.import_kazoo(docs)
    assert again.imported == [] and again.failed == {}
    assert sorted(again.present) == sorted(d["_id"] for d in docs)
    assert again.to_json()["already_present"] == len(docs)


def test_a_different_version_of_a_stored_number_is_a_failure(
        kazoo_accounts: dict[str, str]) -> None:
    docs = kazoo_number_docs()
    importers.import_kazoo(docs)
    with_rev = next(d for d in docs if d.get("_rev"))
    without_rev = next(d for d in docs if not d.get("_rev"))
    newer = {**with_rev, "_rev": "99-0123456789abcdef"}
    moved = {**without_rev, "pvt_assigned_to": kazoo_accounts["master"]}
    for changed in (newer, moved):
        outcome = importers.import_kazoo([changed])
        assert outcome.present == [] and outcome.imported == []
        assert outcome.failed[changed["_id"]].error == "number_exists"
    # a document without `_rev` is the same one when state and owner are
    assert importers.import_kazoo([without_rev]).present == [without_rev["_id"]]
    # the stored records are unchanged
    assert numbers.get(with_rev["_id"]).to_json()["_rev"] == with_rev["_rev"]
    assert numbers.get(without_rev["_id"]).assigned_to == without_rev["pvt_assigned_to"]


def test_a_large_dump_imported_again_is_present_on_both_databases(db: str) -> None:
    """From 200 rows PostgreSQL inserts with COPY, whose unique violation used to escape as a
    driver error (500) instead of each number's `number_exists`."""
    docs = [{"_id": f"+1415200{i:04d}", "pvt_state": "available", "_rev": f"1-{i:032x}"}
            for i in range(250)]
    assert len(importers.import_kazoo(docs).imported) == 250
    again = importers.import_kazoo(docs + [{"_id": "+14152009999", "pvt_state": "available"}])
    assert again.imported == ["+14152009999"] and again.failed == {}
    assert len(again.present) == 250
