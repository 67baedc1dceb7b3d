"""Simwood (UK): the v3 numbers API, JSON with HTTP Basic auth.

Wire format as Kazoo's `knm_simwood` used it (reference/kazoo-http-carriers.md §7):
`GET <numbers_api_url>/<account>/available/standard/<1|10|100>?pattern=<digits>*` to search,
`PUT …/<account>/allocated/<digits>` to buy, `DELETE` the same to release. knm adds
`GET …/allocated/<digits>` for `check`. Response bodies beyond the search array are not
documented in our sources; the simulator's are plausible stand-ins.

Allocation is idempotent by Simwood's documented semantics ("allocate … if it does not exist
already"), and `GET allocated/<n>` says whether the account holds a number: that is how an
allocation or release whose answer was lost is settled. A 404 to the `PUT` is "number not
available" (audit S2).

Kazoo quirks deliberately *not* reproduced (§15.7):
- an HTTP error status is an error (Kazoo took any response as success);
- numbers get their `+` (Kazoo stored `442079460000`);
- the search pattern is URL-encoded and carries digits only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import OrderStatus, settling
from knm.record import PhoneNumber

NAME = "knm_simwood"
NUMBERS_API_URL = "https://api.simwood.com/v3/numbers"
#: dial codes Simwood sells numbers for; other searches are not sent (Kazoo: "UK only")
DIAL_CODES = ("+44",)


# -- pure request building ---------------------------------------------------------------------


def result_size(quantity: int) -> int:
    """Simwood answers in pages of 1, 10 or 100 numbers: the smallest that covers `quantity`."""
    if quantity <= 1:
        return 1
    if quantity <= 10:
        return 10
    return 100


def search_path(account: str, prefix: str, quantity: int) -> tuple[str, dict[str, str]]:
    """Path and query of a search for E.164 `prefix` (the pattern is digits and `*`)."""
    digits = prefix.lstrip("+")
    return (f"{quote(account, safe='')}/available/standard/{result_size(quantity)}",
            {"pattern": f"{digits}*"})


def allocated_path(account: str, number: str) -> str:
    """Path of one of the account's numbers (buy with PUT, release with DELETE)."""
    return f"{quote(account, safe='')}/allocated/{quote(number.lstrip('+'), safe='')}"


# -- pure response parsing ---------------------------------------------------------------------


def parse_search(doc: Any, prefix: str, quantity: int) -> list[SearchResult]:
    """Results from the search array: `country_code` + `number` made E.164, filtered by
    `prefix`, at most `quantity`. `ValueError` when the body is not an array of numbers."""
    if not isinstance(doc, list):
        raise ValueError(f"expected a JSON array of numbers, got {type(doc).__name__}")
    results: list[SearchResult] = []
    for entry in doc:
        if not isinstance(entry, Mapping):
            raise ValueError("a search entry is not an object")
        number = e164(entry)
        if number is None or not number.startswith(prefix):
            continue
        results.append(SearchResult(number=number, carrier=NAME, state="discovery",
                                    carrier_data=dict(entry)))
        if len(results) >= quantity:
            break
    return results


def e164(entry: Mapping[str, Any]) -> str | None:
    """`{"country_code": "44", "number": "2079460000"}` → `+442079460000`."""
    code = str(entry.get("country_code") or "").lstrip("+")
    number = str(entry.get("number") or "").lstrip("+")
    if not number.isdigit() or not code.isdigit():
        return None
    return f"+{code}{number}"


# -- the carrier ---------------------------------------------------------------------------------


class Simwood(HttpCarrier):
    """UK geographic numbers from Simwood."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = NUMBERS_API_URL
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_international", "buy", "release", "check", "settle"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("base_url", str, default=NUMBERS_API_URL, aliases=("numbers_api_url",),
                description="API root; point it at a simulator to test offline"),
        Setting("auth_username", str, required=True, description="API user (Basic auth)"),
        Setting("auth_password", str, required=True, secret=True,
                description="API password (Basic auth)"),
        Setting("simwood_account_id", str, required=True, description="Simwood account id"),
    )

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": self.basic_auth(str(self.config["auth_username"]),
                                                 str(self.config["auth_password"])),
                "Accept": "application/json"}

    @property
    def account(self) -> str:
        return str(self.config["simwood_account_id"])

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        if not prefix.startswith(DIAL_CODES):
            return []
        path, params = search_path(self.account, prefix, quantity)
        response = self.get(path, params=params, deadline=options.deadline)
        if not response.content.strip():
            return []
        return self.parsed(parse_search, self.parse_json(response), prefix, quantity)

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        try:
            response = self.put(allocated_path(self.account, number.number),
                                number=number.number)
        except errors.CarrierNotFound as exc:  # Simwood's "Number not available"
            raise errors.NumberUnavailable(self.name, exc.carrier_message, number=exc.number,
                                           status=exc.status, unsettled=False) from exc
        data: dict[str, Any] = {"simwood_account_id": self.account}
        if response.content.strip():
            body = self.parse_json(response, number=number.number)
            if isinstance(body, Mapping):
                data["allocation"] = dict(body)
        return self.learn(number, data)

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        self.delete(allocated_path(self.account, number.number), number=number.number)
        return number

    def holds(self, number: str) -> bool:
        """Does the account hold `number` (`GET allocated/<n>`: 404 when it does not)?"""
        try:
            self.get(allocated_path(self.account, number), number=number)
        except errors.CarrierNotFound:
            return False
        return True

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` for each number allocated to the account; numbers Simwood does not
        know (404) are left out, so another carrier may answer for them."""
        return {number: "in_service" for number in numbers if self.holds(number)}

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Allocation and release are synchronous: whether the account holds the number."""
        held = self.holds(number.number)
        if settling(number) == "disconnect":
            return (OrderStatus("failed", "allocated", message="still allocated") if held
                    else OrderStatus("complete", "not allocated"))
        return (OrderStatus("complete", "allocated", data={"simwood_account_id": self.account})
                if held else OrderStatus("failed", "not allocated",
                                         message="not allocated to the account"))
