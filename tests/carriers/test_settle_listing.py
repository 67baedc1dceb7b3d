"""Settling many lost purchases from one listing of the carrier's holdings
(`Carrier.held_listing`, issue "Orders that are never lost", its benchmark): a carrier that
can list what its account holds is asked for a page or two instead of once per number — and
nothing about the outcome changes. Only a number the listing shows counts as held; one it
leaves out is asked on its own (a listing read page by page can skip a row, and "not held"
would undo a purchase), a listing that fails costs nothing but its request, and the listing
reads at most `listing_budget` pages. Over real HTTP to each carrier's simulator, through
`knm.numbers` on a database."""

from __future__ import annotations

import re

import pytest
from order_flows import wired

from knm import accounts, carriers, errors, numbers
from knm.carriers import twilio
from knm.carriers.orders import held_in_pages, linked_pages, next_page_query
from knm.numbers.purchase import LISTING_MIN, listing_budget
from knm.simulators import registry
from knm.simulators.base import RecordedRequest

#: the carriers that list their holdings, and the path of that listing
LISTING_PATH = {
    "knm_twilio": "/IncomingPhoneNumbers.json",
    "knm_signalwire": "/phone_numbers",
    "knm_vonage": "/account/numbers",
    "knm_flowroute": "/v2/numbers",
    "knm_telnyx": "/phone_numbers",
    "knm_vitelity": "/api.php",
    "knm_didww": "/v3/dids",
    "knm_voip_innovations": "/APIService.asmx",
}
#: the carriers whose every request is a POST (SOAP): their lookups are POSTs too
METHOD = {"knm_voip_innovations": "POST"}
COUNT = 8


def _digits(number: str) -> str:
    return number.lstrip("+")[-10:]


def _names_a_number(request: RecordedRequest, wanted: list[str]) -> bool:
    text = f"{request.path}?{request.query} {request.text}"
    return any(_digits(n) in re.sub(r"\D", "", text) for n in wanted)


def _listing_reads(live: registry.Live, wanted: list[str]) -> list[RecordedRequest]:
    """The reads (GETs; SOAP POSTs) of the holdings path that name none of `wanted`
    (Vitelity's `listdids` names none in any case: its every ownership question is the
    whole list)."""
    name = live.spec.carrier
    return [r for r in live.sim.received(METHOD.get(name, "GET"), LISTING_PATH[name])
            if not _names_a_number(r, wanted)]


def _lookups(live: registry.Live, wanted: list[str]) -> list[RecordedRequest]:
    """The reads asking about one of `wanted` by number."""
    method = METHOD.get(live.spec.carrier, "GET")
    return [r for r in live.sim.received(method) if _names_a_number(r, wanted)]


def _lose_purchases(live: registry.Live, count: int, *, besides: tuple[str, ...] = ()
                    ) -> tuple[str, list[str]]:
    """`count` purchases at `live`'s carrier whose answers were lost (each bought once at
    the carrier, kept unsettled by knm): the buyer's id and the numbers."""
    buyer = accounts.create("Listing buyer", allow_number_additions=True)
    prefix = live.spec.prefixes["local"]
    found = carriers.find(prefix, count + len(besides),
                          query_id=f"listing-{live.spec.carrier}-{len(besides)}")
    wanted = [row["number"] for row in found if row["number"] not in besides][:count]
    assert len(wanted) == count
    live.sim.set(ambiguous="empty_502", match=live.spec.purchase_method)
    lost = numbers.move(wanted, buyer.id)
    assert sorted(lost.failed) == sorted(wanted)
    assert all(err.unsettled for err in lost.failed.values())
    live.sim.reset_switches()
    live.sim.requests.clear()
    return buyer.id, wanted


def _in_service_for(buyer: str, wanted: list[str]) -> None:
    for number in wanted:
        pn = numbers.get(number)
        assert (pn.state, pn.assigned_to, pn.pending_operation) == ("in_service", buyer, None)
    assert not [pn for pn in numbers.unsettled() if pn.number in wanted]


@pytest.mark.parametrize("name", sorted(LISTING_PATH))
def test_lost_purchases_settle_from_one_listing(name: str, sqlite_db: str) -> None:
    with wired(name) as lives:
        live = lives[name]
        buyer, wanted = _lose_purchases(live, COUNT)
        result = numbers.settle()
        assert sorted(pn.number for pn in result.succeeded) == sorted(wanted)
        _in_service_for(buyer, wanted)
        assert len(_listing_reads(live, wanted)) == 1, "one page lists them all"
        assert _lookups(live, wanted) == [], "no number was looked up on its own"
        assert not [r for r in live.sim.received("GET", "/number_orders")
                    if "customer_reference" in r.query], "no order was looked up on its own"
        assert not [r for r in live.sim.received("GET", "/orders")
                    if "external_reference_id" in r.query], "no order was looked up on its own"
        if name == "knm_didww":  # the order found in the listing is recorded
            assert all(numbers.get(n).carrier_data.get("order_id") for n in wanted)
        if name == "knm_telnyx":  # the order found in the listing is the one recorded
            orders = {o["customer_reference"]: o["id"] for o in live.sim.orders.values()}
            for number in wanted:
                data = numbers.get(number).carrier_data
                assert data["order_id"] == orders[data["order_reference"]]


SPOILT_LISTINGS = {"refused": {"fail_with": {"status": 500, "message": "listing unavailable"}},
                   "truncated": {"ambiguous": "truncated"},
                   "html_500": {"ambiguous": "html_500"}}


@pytest.mark.parametrize("how", sorted(SPOILT_LISTINGS))
@pytest.mark.parametrize("name", ["knm_twilio", "knm_vonage", "knm_vitelity",
                                  "knm_voip_innovations"])
def test_a_failed_listing_falls_back_to_asking_each_number(name: str, how: str,
                                                          sqlite_db: str) -> None:
    with wired(name) as lives:
        live = lives[name]
        buyer, wanted = _lose_purchases(live, COUNT)
        live.sim.set(**SPOILT_LISTINGS[how], match=LISTING_PATH[name], times=1)
        result = numbers.settle()
        assert sorted(pn.number for pn in result.succeeded) == sorted(wanted)
        _in_service_for(buyer, wanted)
        asked = (len(_listing_reads(live, wanted)) - 1 if name == "knm_vitelity"
                 else len(_lookups(live, wanted)))
        assert asked == COUNT, "every number was then asked on its own"


def test_numbers_the_listing_leaves_out_are_asked_on_their_own(sqlite_db: str,
                                                               monkeypatch) -> None:
    """A listing cut at its budget (one page of two rows here) settles the numbers it shows;
    the others are looked up one by one — never taken for "not held"."""
    monkeypatch.setattr(twilio, "LISTING_PAGE_SIZE", 2)
    with wired("knm_twilio") as lives:
        live = lives["knm_twilio"]
        buyer, wanted = _lose_purchases(live, COUNT)
        assert listing_budget(COUNT) == 1
        result = numbers.settle()
        assert sorted(pn.number for pn in result.succeeded) == sorted(wanted)
        _in_service_for(buyer, wanted)
        assert len(_listing_reads(live, wanted)) == 1
        assert len(_lookups(live, wanted)) == COUNT - 2


def test_released_numbers_are_absent_from_the_listing_and_asked_on_their_own(
        sqlite_db: str) -> None:
    """Lost releases beside lost purchases: the purchases are in the listing, the released
    numbers are not — each is asked on its own and settled released."""
    with wired("knm_twilio") as lives:
        live = lives["knm_twilio"]
        buyer, wanted = _lose_purchases(live, COUNT)
        numbers.settle()
        _in_service_for(buyer, wanted)
        gone = wanted[:3]
        live.sim.set(ambiguous="truncated", match=live.spec.release_method)
        released = numbers.release(gone)
        assert sorted(released.failed) == sorted(gone)
        live.sim.reset_switches()
        live.sim.requests.clear()
        buyer2, more = _lose_purchases(live, LISTING_MIN, besides=tuple(gone))
        result = numbers.settle()
        assert sorted(pn.number for pn in result.succeeded) == sorted(gone + more)
        _in_service_for(buyer2, more)
        for number in gone:
            with pytest.raises(errors.NotFound):
                numbers.get(number)
        assert len(_lookups(live, gone)) == len(gone)


def test_held_in_pages_reads_no_more_than_it_needs() -> None:
    asked: list[int] = []

    def pages():
        for n in range(10):
            asked.append(n)
            yield [{"n": f"+1{n}{i}"} for i in range(3)]

    found = held_in_pages(pages(), ["+101", "+112"], 5, lambda row: row["n"])
    assert sorted(found) == ["+101", "+112"] and asked == [0, 1], "stops once all are found"
    asked.clear()
    found = held_in_pages(pages(), ["+101", "+190"], 3, lambda row: row["n"])
    assert sorted(found) == ["+101"] and asked == [0, 1, 2], "stops at its budget"


def test_held_in_pages_keeps_what_it_found_when_a_page_fails() -> None:
    def pages():
        yield [{"n": "+1"}, "not a row", {"n": "+9"}]
        raise errors.CarrierTimeout("knm_x", "the second page never came")

    assert held_in_pages(pages(), ["+1", "+2"], 5, lambda row: row["n"]) == {"+1": {"n": "+1"}}


def test_next_page_query_keeps_only_the_query() -> None:
    assert next_page_query("https://elsewhere.example/v2/numbers?limit=200&offset=200") == {
        "limit": "200", "offset": "200"}
    assert next_page_query("/2010-04-01/x.json?PageSize=2&Page=1&PageToken=PA1") == {
        "PageSize": "2", "Page": "1", "PageToken": "PA1"}
    assert next_page_query(None) is None and next_page_query("/no/query") is None


def test_linked_pages_follow_the_next_links_query_on_knms_own_path() -> None:
    asked: list[dict[str, str]] = []
    pages = {"0": {"data": [1, 2], "links": {"next": "https://other.example/x?page=1&t=T"}},
             "1": {"data": [3], "links": {}}}

    def get(params: dict[str, str]) -> dict:
        asked.append(params)
        return pages[params["page"]]

    assert list(linked_pages(get, {"page": "0"})) == [[1, 2], [3]]
    assert asked == [{"page": "0"}, {"page": "1", "t": "T"}]
    assert list(linked_pages(lambda _: {"data": "not a list"}, {"page": "0"})) == []
