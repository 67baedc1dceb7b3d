"""The web console in a real browser (Debian's Chromium, headless), on the demo's data.

Each test gets the demo's set-up — every carrier simulator on loopback, wired into a fresh
database, and the demo account with its API key — and the API app (what `knm serve` runs)
on a loopback port. The browser only ever talks to that port: a request to anywhere else
is refused and fails the test, so nothing can quietly come from a CDN.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from chromium_launch import launch
from playwright.sync_api import Page, expect, sync_playwright

from knm import demo as demo_module
from knm.api import auth
from knm.demo import DemoSystem
from knm.simulators.server import BackgroundServer


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """The API app on loopback; it serves whatever database the test switched to."""
    from knm.api import create_app

    folder = tmp_path_factory.mktemp("console")
    with BackgroundServer(create_app(f"sqlite:///{folder / 'bootstrap.sqlite'}")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with sync_playwright() as playwright:
        context = launch(playwright, str(tmp_path_factory.mktemp("chromium-profile")))
        try:
            yield context
        finally:
            context.close()


@dataclass
class Console:
    page: Page
    demo: DemoSystem
    origin: str
    outside: list[str]

    def open(self) -> None:
        self.page.goto(self.origin + "/console")
        expect(self.page.locator("body[data-ready=true]")).to_have_count(1)

    def log_in(self, key: str | None = None) -> None:
        self.page.get_by_label("API key").fill(key or self.demo.api_key)
        self.page.get_by_role("button", name="Log in").click()

    def search(self, prefix: str, quantity: int = 20) -> None:
        self.page.get_by_label("Prefix").fill(prefix)
        self.page.get_by_label("Quantity").fill(str(quantity))
        before = self.page.get_by_test_id("search-results").get_attribute("data-generation")
        self.page.get_by_role("button", name="Search", exact=True).click()
        expect(self.page.get_by_test_id("search-results")).not_to_have_attribute(
            "data-generation", before or "0")

    def row_numbers(self, testid: str) -> list[str]:
        return self.page.get_by_test_id(testid).evaluate_all(
            "rows => rows.map(r => r.dataset.number)")

    def carrier(self, name: str) -> Any:
        return self.page.locator(f"[data-testid=carrier-row][data-carrier={name}]")

    def switch(self, carrier: str, **switches: Any) -> None:
        """Flip a simulator's failure switches over its control endpoint."""
        url = self.demo.simulators[carrier] + "/_sim/switches"
        httpx.post(url, json=switches, timeout=5).raise_for_status()

    def stock(self, carrier: str, prefix: str) -> set[str]:
        """The numbers a simulator stocks under a NANP prefix, in E.164."""
        url = self.demo.simulators[carrier]
        server = next(s for s in self.demo.servers if s.url == url)
        return {"+1" + n for n in server.app.state.sim.stock(prefix, 250)}

    def fail_everywhere(self) -> None:
        """Every network carrier answers 500 (the phonebook behind `knm_other` has its own
        control endpoint)."""
        for name, url in self.demo.simulators.items():
            if name == "knm_other":
                httpx.post(url + "/_sim/control", json={"fail_status": 500},
                           timeout=5).raise_for_status()
            else:
                self.switch(name, fail_with={"status": 500, "message": f"{name} is down"})

    def listed(self) -> dict[str, Any]:
        """The account's numbers as the API itself answers (not as the page shows them)."""
        with httpx.Client(base_url=self.origin + "/v2", timeout=30) as client:
            token = client.put("/api_auth", json={"data": {"api_key": self.demo.api_key}}
                               ).json()["auth_token"]
            return client.get(f"/accounts/{self.demo.account_id}/phone_numbers",
                              params={"paginate": "false"},
                              headers={"X-Auth-Token": token}).json()["data"]["numbers"]


def _console(db_url: str, api_server: BackgroundServer, browser: Any,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    monkeypatch.setenv("KNM_DATABASE_URL", db_url)  # setup() sets it; restored afterwards
    auth.clear_caches()
    system = demo_module.setup(port=api_server.port, db_url=db_url)
    page = browser.new_page()
    outside: list[str] = []

    def only_knm(route: Any) -> None:
        if route.request.url.startswith(api_server.url + "/") or \
                route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_knm)
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield Console(page, system, api_server.url, outside)
    finally:
        page.close()
        system.stop()
    assert outside == [], f"the page asked for something outside knm: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def console(sqlite_db: str, api_server: BackgroundServer, browser: Any,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    yield from _console(sqlite_db, api_server, browser, monkeypatch)


@pytest.fixture
def console_any_db(db: str, api_server: BackgroundServer, browser: Any,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    yield from _console(db, api_server, browser, monkeypatch)


def test_log_in_search_page_buy_see_listed_and_release(console_any_db: Console) -> None:
    console = console_any_db
    page = console.page
    console.open()
    console.log_in()
    expect(page.get_by_test_id("session-account")).to_have_text("Demo")

    console.search("415")
    first = console.row_numbers("search-row")
    assert len(first) == 20 and all(n.startswith("+1415") for n in first)
    assert first == sorted(first)
    expect(page.get_by_test_id("search-summary")).to_have_text("20 numbers (1–20)")
    # locality where the carriers told it (the simulators give rate centers and regions)
    expect(page.get_by_test_id("search-row").first).to_contain_text("US")
    for name in ("telnyx", "bandwidth2", "vitelity", "local"):
        expect(console.carrier(name)).to_have_attribute("data-outcome", "answered")

    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_test_id("search-summary")).to_have_text(
        "20 numbers (21–40) from the search cache")
    second = console.row_numbers("search-row")
    assert len(second) == 20 and second[0] > first[-1]
    expect(console.carrier("telnyx")).to_have_attribute("data-outcome", "answered")
    page.get_by_role("button", name="Previous page").click()
    expect(page.get_by_test_id("search-summary")).to_have_text("20 numbers (1–20)")

    wanted = first[:2]
    for number in wanted:
        page.get_by_label(f"Select {number}").check()
    page.get_by_role("button", name="Buy 2 selected").click()
    expect(page.get_by_test_id("buy-ok")).to_have_count(2)
    assert sorted(console.row_numbers("buy-ok")) == wanted
    expect(page.get_by_test_id("buy-ok").first).to_contain_text("in_service")
    expect(page.get_by_label(f"Select {wanted[0]}")).to_be_disabled()
    assert {n: console.listed()[n]["state"] for n in wanted} == dict.fromkeys(
        wanted, "in_service")

    page.get_by_role("tab", name="My numbers").click()
    rows = page.get_by_test_id("number-row")
    expect(rows).to_have_count(2)
    assert console.row_numbers("number-row") == wanted
    expect(rows.first.get_by_test_id("number-state")).to_have_text("in_service")

    page.get_by_role("button", name=f"Release {wanted[0]}").click()
    expect(page.get_by_test_id("numbers-summary")).to_contain_text(f"Released {wanted[0]}")
    expect(rows).to_have_count(1)
    assert console.row_numbers("number-row") == [wanted[1]]
    assert wanted[0] not in console.listed()


def test_a_failing_carrier_is_shown_beside_the_others_results(console: Console) -> None:
    page = console.page
    console.open()
    console.log_in()
    console.switch("knm_telnyx", fail_with={"status": 500, "message": "telnyx maintenance"})
    console.search("415")
    expect(page.get_by_test_id("search-row")).to_have_count(20)
    telnyx = console.carrier("telnyx")
    expect(telnyx).to_have_attribute("data-outcome", "failed")
    expect(telnyx.get_by_test_id("carrier-error")).to_contain_text("telnyx maintenance")
    expect(telnyx.get_by_test_id("error-slug")).to_have_text("carrier_unavailable")
    expect(console.carrier("bandwidth2")).to_have_attribute("data-outcome", "answered")
    expect(page.get_by_test_id("search-error")).to_be_hidden()

    # every network carrier down: the search is an error naming them, not "no numbers"
    console.fail_everywhere()
    console.search("415")
    error = page.get_by_test_id("search-error")
    expect(error).to_be_visible()
    expect(error.get_by_test_id("error-slug")).to_have_text("carrier_unavailable")
    expect(error.get_by_test_id("error-message")).to_contain_text("no number found")
    expect(error).to_contain_text("telnyx")
    expect(page.get_by_test_id("search-results")).to_be_hidden()
    expect(console.carrier("vitelity")).to_have_attribute("data-outcome", "failed")
    expect(console.carrier("local")).to_have_attribute("data-outcome", "answered")


def test_buying_several_shows_each_numbers_own_result(console: Console) -> None:
    page = console.page
    console.open()
    console.log_in()
    console.search("415", 100)  # enough rows to hold numbers of both, whatever else is wired
    found = console.row_numbers("search-row")
    stock = {name: console.stock(name, "415") for name in ("knm_telnyx", "knm_bandwidth2")}
    from_telnyx = [n for n in found if n in stock["knm_telnyx"] - stock["knm_bandwidth2"]]
    from_bandwidth = [n for n in found if n in stock["knm_bandwidth2"] - stock["knm_telnyx"]]
    wanted = sorted([from_telnyx[0], *from_bandwidth[:2]])
    for number in wanted:
        page.get_by_label(f"Select {number}").check()
    # Telnyx now refuses orders (its searches still work): one of the three cannot be had
    console.switch("knm_telnyx", fail_with={"status": 422, "message": "number reserved"},
                   match="POST")
    page.get_by_role("button", name="Buy 3 selected").click()
    expect(page.get_by_test_id("buy-failed")).to_have_count(1)
    assert console.row_numbers("buy-failed") == [from_telnyx[0]]
    refused = page.get_by_test_id("buy-failed")
    expect(refused.get_by_test_id("error-carrier")).to_contain_text("number reserved")
    expect(refused.get_by_test_id("error-carrier")).to_contain_text("knm_telnyx")
    assert sorted(console.row_numbers("buy-ok")) == from_bandwidth[:2]
    assert set(console.listed()) == set(from_bandwidth[:2])
    expect(page.get_by_label(f"Select {from_telnyx[0]}")).to_be_checked()  # there to retry
    expect(page.get_by_role("button", name="Buy 1 selected")).to_be_enabled()


def test_a_wrong_api_key_shows_the_apis_error(console: Console) -> None:
    page = console.page
    console.open()
    console.log_in("0" * 64)
    error = page.get_by_test_id("login-error")
    expect(error).to_be_visible()
    expect(error.get_by_test_id("error-message")).to_have_text("invalid credentials")
    expect(error.get_by_test_id("error-slug")).to_have_text("invalid_credentials")
    expect(page.get_by_test_id("app")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_session_lasts_for_the_tab_and_an_expired_token_asks_to_log_in(
        console: Console) -> None:
    page = console.page
    console.open()
    console.log_in()
    expect(page.get_by_test_id("session-account")).to_have_text("Demo")
    stored = page.evaluate("sessionStorage.getItem('knm.console.session')")
    assert console.demo.api_key not in stored  # only the token is kept
    page.reload()
    expect(page.get_by_test_id("app")).to_be_visible()

    page.evaluate("""() => {
        const s = JSON.parse(sessionStorage.getItem('knm.console.session'));
        s.token = 'expired-token';
        sessionStorage.setItem('knm.console.session', JSON.stringify(s));
    }""")
    page.reload()
    expect(page.get_by_test_id("login")).to_be_visible()
    expect(page.get_by_test_id("login-error")).to_contain_text("log in again")
    assert page.evaluate("sessionStorage.length") == 0

    console.log_in()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_test_id("login")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_import_a_csv_in_chunks_with_progress_and_per_line_errors(console: Console,
                                                                  tmp_path: Path) -> None:
    page = console.page
    console.open()
    console.log_in()
    good = [f"+1628555{i:04d}" for i in range(230)]
    lines = ["number,label", *[f"{n},desk {i}" for i, n in enumerate(good)]]
    lines.insert(6, "hello,not a number")          # line 7
    lines.insert(11, f"{good[3]},again")            # line 12: repeats line 5
    lines.append("(628) 555-9999,US national")      # last line: accepted, normalized
    lines.append('"+999",nonsense')                 # reaches the API, which refuses it
    csv = tmp_path / "numbers.csv"
    csv.write_text("\r\n".join(lines) + "\r\n")

    page.get_by_role("tab", name="Import CSV").click()
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_label("Create in state").select_option("reserved")
    page.get_by_role("button", name="Import").click()
    summary = page.get_by_test_id("import-summary")
    expect(summary).to_have_text("231 imported, 3 not imported (of 234 lines).")
    progress = page.get_by_test_id("import-progress")
    assert progress.evaluate("p => [p.value, p.max]") == [234, 234]
    errors = page.get_by_test_id("import-error-row")
    expect(errors).to_have_count(3)
    by_line = {int(r.get_attribute("data-line")): r.inner_text()
               for r in errors.all()}
    assert sorted(by_line) == [7, 12, len(lines)]
    assert "not a phone number" in by_line[7] and "invalid" in by_line[7]
    assert "same number as line 5" in by_line[12]
    assert "+999" in by_line[len(lines)]

    listed = console.listed()
    assert {listed[n]["state"] for n in good} == {"reserved"}
    assert "+16285559999" in listed and len(listed) == 231
    page.get_by_role("tab", name="My numbers").click()
    expect(page.get_by_test_id("numbers-summary")).to_have_text("231 numbers")
    expect(page.get_by_test_id("number-row")).to_have_count(20)
    expect(page.get_by_test_id("numbers-page")).to_have_text("Page 1 of 12")


def test_the_numbers_list_filters_by_state_and_pages(console: Console) -> None:
    from knm import numbers

    reserved = [f"+1628556{i:04d}" for i in range(25)]
    in_service = [f"+1628557{i:04d}" for i in range(3)]
    assert numbers.create(reserved, assign_to=console.demo.account_id, state="reserved").ok
    assert numbers.create(in_service, assign_to=console.demo.account_id,
                          state="in_service").ok
    page = console.page
    console.open()
    console.log_in()
    page.get_by_role("tab", name="My numbers").click()
    expect(page.get_by_test_id("numbers-summary")).to_have_text("28 numbers")
    page.get_by_label("Filter by state").select_option("in_service")
    expect(page.get_by_test_id("numbers-summary")).to_have_text("3 of 28 numbers")
    assert console.row_numbers("number-row") == in_service
    page.get_by_label("Filter by state").select_option("reserved")
    expect(page.get_by_test_id("number-row")).to_have_count(20)
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_test_id("numbers-page")).to_have_text("Page 2 of 2")
    assert console.row_numbers("number-row") == reserved[20:]


def test_swagger_ui_loads_from_knm_alone(console: Console) -> None:
    page = console.page
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(console.origin + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("knm")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    assert console.origin + "/docs/assets/swagger-ui-bundle.js" in seen
    assert console.origin + "/openapi.json" in seen
    assert all(url.startswith(console.origin + "/") or url.startswith("data:") for url in seen)
