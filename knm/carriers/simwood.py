"""Simwood (UK): the v3 numbers API, JSON with HTTP Basic auth.

Wire format (simwood/developer-site `docs/wholesale/api/v3.md`, audit §2.5):
`GET <numbers_api_url>/<account>/available/standard/<1|10|100>?pattern=<digits>*` to search,
`PUT …/<account>/allocated/<digits>` to buy ("allocate the number to your account if it does
not exist already"), `DELETE` the same to release, `GET` the same to read one of the account's
numbers (`check`, settling). US numbers are searched with `country_code=1` when `search_us` is
set (Simwood's default, and the only country knm asks otherwise, is the UK).

Routing: `PUT …/allocated/<digits>/config` replaces a number's configuration; knm writes one
`sip` routing block whose endpoint is the `routing` setting (`%e164@pbx.example.com`: Simwood
substitutes `%e164`, `%ukn`, `%did`). Without `routing` knm writes no configuration, and
Simwood routes the number by its trunk-level or account-level *default configuration* ("used
for all numbers on your account where no other configuration exists"), which is what Kazoo's
`knm_simwood` relied on. Routing is a request after the allocation: when it fails the number
is still bought (`routing_status` `failed` or `unknown`, and a warning).

Answers: the allocation is `{basic: {country_code, number, block, bill_class, …}, voice:
{link}, fax: {link}, sms: {link}, 999: {link}}` (a third-party OpenAPI and Java client; an
empty body is accepted too); a configuration error is `{"success": false, "errors": […]}`
(Simwood's own document), whether it comes with an error status or with a 200. A 404 to the
allocation `PUT` is "Number not available" (third-party OpenAPI, audit S2).

Allocation is idempotent by Simwood's documented semantics and `GET allocated/<n>` says
whether the account holds a number: that is how an allocation or release whose answer was lost
is settled. Such an allocation never had its routing written, so settling a held number whose
configuration does not route to `routing` writes it (`PUT …/config`, idempotent: it neither
buys nor releases), as the other carriers whose routing is a request of its own do.

Kazoo quirks deliberately *not* reproduced (§15.7):
- an HTTP error status is an error (Kazoo took any response as success);
- numbers get their `+` (Kazoo stored `442079460000`);
- the search pattern is URL-encoded and carries digits only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import OrderStatus, settling
from knm.carriers.payloads import json_error_message
from knm.carriers.threads import DaemonPool
from knm.record import PhoneNumber

NAME = "knm_simwood"
NUMBERS_API_URL = "https://api.simwood.com/v3/numbers"
UK, US = "+44", "+1"
#: the parts of a number's configuration knm keeps when it rewrites the routing
KEPT_CONFIG = ("options", "meta")


# -- pure request building ---------------------------------------------------------------------


def result_size(quantity: int) -> int:
    """Simwood answers in pages of 1, 10 or 100 numbers: the smallest that covers `quantity`."""
    if quantity <= 1:
        return 1
    if quantity <= 10:
        return 10
    return 100


def search_path(account: str, prefix: str, quantity: int) -> tuple[str, dict[str, str]]:
    """Path and query of a search for E.164 `prefix` (the pattern is digits and `*`). A UK
    pattern keeps its `44`, as Kazoo sent it (Simwood reads `4420*` and `20*` alike); a US
    one is the national digits with `country_code=1`."""
    digits = prefix.lstrip("+")
    params = {"pattern": f"{digits}*"}
    if prefix.startswith(US):
        params = {"pattern": f"{digits[1:]}*", "country_code": "1"}
    return (f"{quote(account, safe='')}/available/standard/{result_size(quantity)}", params)


#: reads a settle makes beside its own (a number's configuration while its allocation is read)
_reads = DaemonPool(max_workers=32, name="knm-simwood-read")


def allocated_path(account: str, number: str) -> str:
    """Path of one of the account's numbers (buy with PUT, release with DELETE)."""
    return f"{quote(account, safe='')}/allocated/{quote(number.lstrip('+'), safe='')}"


def config_path(account: str, number: str) -> str:
    """Path of a number's configuration (its routing)."""
    return allocated_path(account, number) + "/config"


def sip_endpoint(routing: str) -> str | None:
    """The endpoint of the `sip` routing block the `routing` setting means: `user@host[:port]`
    as given (Simwood's substitutions `%e164`, `%ukn`, `%did` left to Simwood), a `sip:` URI
    without its scheme, a bare host as `%e164@host`. None when it is none of those."""
    text = routing.strip()
    if text[:4].lower() == "sip:":
        text = text[4:]
    if "@" not in text:
        text = f"%e164@{text}"
    user, _, host = text.partition("@")
    if not user or not host or "@" in host or any(ch.isspace() for ch in text):
        return None
    return text


def routing_config(endpoint: str, keep: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A number configuration sending every call to `endpoint` over SIP, with the `options`
    and `meta` of the configuration `keep` (time rules go with the routing they name)."""
    kept = {k: keep[k] for k in KEPT_CONFIG if keep and k in keep}
    return {**kept, "routing": {"default": [[{"type": "sip", "endpoint": endpoint}]]}}


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


def allocation_data(doc: Any) -> dict[str, Any]:
    """What an allocation answer (`{basic: {…}, voice: {link}, …}`) tells about the number:
    its block and bill class. Anything else (an empty body, links only) tells nothing."""
    basic = doc.get("basic") if isinstance(doc, Mapping) else None
    if not isinstance(basic, Mapping):
        return {}
    return {key: str(basic[key]) for key in ("block", "bill_class") if basic.get(key)}


def number_config(doc: Any) -> dict[str, Any]:
    """A number's configuration from `GET …/config` (bare, or under `data`)."""
    if not isinstance(doc, Mapping):
        return {}
    if "routing" not in doc and isinstance(doc.get("data"), Mapping):
        doc = doc["data"]
    return dict(doc)


def routes_to(config: Mapping[str, Any], endpoint: str) -> bool:
    """Whether a configuration's default routing tries `endpoint` over SIP first."""
    routing = config.get("routing")
    default = routing.get("default") if isinstance(routing, Mapping) else None
    if not isinstance(default, list) or not default or not isinstance(default[0], list):
        return False
    return any(isinstance(leg, Mapping) and leg.get("type") == "sip"
               and leg.get("endpoint") == endpoint for leg in default[0])


# -- the carrier ---------------------------------------------------------------------------------


class Simwood(HttpCarrier):
    """UK geographic numbers from Simwood (and US numbers, with `search_us`)."""

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
        Setting("routing", str,
                description="where bought numbers route: a SIP endpoint `user@host` "
                            "(`%e164@pbx.example.com`; Simwood substitutes `%e164`, `%ukn`, "
                            "`%did`), a `sip:` URI, or a host (= `%e164@host`), written as "
                            "the number's configuration; unset: no configuration is written "
                            "and Simwood's trunk or account default configuration routes "
                            "the number"),
        Setting("search_us", bool, default=False,
                description="also search US numbers (`country_code=1`); off: only UK "
                            "searches reach Simwood"),
    )

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": self.basic_auth(str(self.config["auth_username"]),
                                                 str(self.config["auth_password"])),
                "Accept": "application/json"}

    def check_reply(self, response: httpx.Response, body: Any) -> None:
        """`{"success": false, "errors": […]}` in a 2xx answer is a refusal."""
        if isinstance(body, Mapping) and body.get("success") is False:
            raise self.refusal(json_error_message(body) or "success: false",
                               status=response.status_code)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        # a 404 to the allocation PUT is Simwood's "Number not available" (a 404 anywhere
        # else — a search, the number's configuration, a release — is "not found")
        request = response.request
        if (response.status_code == 404 and request.method == "PUT"
                and "/allocated/" in request.url.path
                and not request.url.path.endswith("/config")):
            return errors.NumberUnavailable
        return None

    @property
    def account(self) -> str:
        return str(self.config["simwood_account_id"])

    def endpoint(self) -> str | None:
        """The SIP endpoint of the `routing` setting; None when it is unset (the account's
        default configuration routes). `CarrierMisconfigured` when it is not one."""
        routing = str(self.config.get("routing") or "").strip()
        if not routing:
            return None
        endpoint = sip_endpoint(routing)
        if endpoint is None:
            raise errors.CarrierMisconfigured(
                self.name, "routing", "must be a SIP endpoint (user@host), a sip: URI or a "
                                      "host")
        return endpoint

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        if not (prefix.startswith(UK) or (prefix.startswith(US) and self.config["search_us"])):
            return []
        path, params = search_path(self.account, prefix, quantity)
        doc = self.body(self.get(path, params=params, deadline=options.deadline))
        if doc is None:
            return []
        return self.parsed(parse_search, doc, prefix, quantity)

    # -- purchase, routing, release -----------------------------------------------------------

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        endpoint = self.endpoint()  # a bad setting is refused before anything is bought
        doc = self.body(self.put(allocated_path(self.account, num), number=num), number=num)
        self.learn(number, {"simwood_account_id": self.account, **allocation_data(doc)})
        return self.learn(number, self.route(num, endpoint))

    def route(self, number: str, endpoint: str | None,
              keep: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write the configuration routing a bought `number` to `endpoint` (none when there
        is no `routing` setting); what became of it, as carrier data. A failure is recorded,
        not raised: the number is bought."""
        if endpoint is None:
            return {"routing_status": "account_default", "routing": None}
        try:
            # replacing a configuration is idempotent: it may be retried like a read
            self.body(self.put(config_path(self.account, number), number=number,
                               json=routing_config(endpoint, keep), idempotent=True,
                               acts=True), number=number)
        except errors.KnmError as exc:
            status = "unknown" if exc.unsettled else "failed"
            self.log.warning("%s: %s bought but not routed (%s): %s", self.name, number,
                             status, self.scrub(exc))
            return {"routing_status": status}
        return {"routing_status": "routed", "routing": endpoint}

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        self.delete(allocated_path(self.account, number.number), number=number.number)
        return number

    # -- check, settle ------------------------------------------------------------------------

    def allocated(self, number: str) -> dict[str, Any] | None:
        """The account's allocation of `number` (`GET allocated/<n>`; 404: not the
        account's)."""
        try:
            doc = self.body(self.get(allocated_path(self.account, number), number=number),
                            number=number)
        except errors.CarrierNotFound:
            return None
        return dict(doc) if isinstance(doc, Mapping) else {}

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` for each number allocated to the account; numbers Simwood does not
        know (404) are left out, so another carrier may answer for them."""
        return {number: "in_service" for number in numbers
                if self.allocated(number) is not None}

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Allocation and release are synchronous: whether the account holds the number. A
        held number whose configuration does not route to `routing` gets it written (the
        allocation whose answer was lost never got that far). The configuration is read
        beside the allocation, not after it: both are reads, and a settle of many numbers
        waits on Simwood's round trips (the allocation alone decides whether it is held)."""
        num = number.number
        if settling(number) == "disconnect":
            held = self.allocated(num)
            return (OrderStatus("failed", "allocated", message="still allocated") if held
                    is not None else OrderStatus("complete", "not allocated"))
        misconfigured: errors.CarrierMisconfigured | None = None
        try:
            endpoint = self.endpoint()
        except errors.CarrierMisconfigured as exc:
            endpoint, misconfigured = None, exc
        config_read = _reads.submit(self.current_config, num) if endpoint is not None else None
        held = self.allocated(num)
        current = config_read.result() if config_read is not None else None
        if held is None:
            return OrderStatus("failed", "not allocated",
                               message="not allocated to the account")
        data: dict[str, Any] = {"simwood_account_id": self.account, **allocation_data(held)}
        if misconfigured is not None:
            self.log.warning("%s: %s held, routing not checked: %s", self.name, num,
                             misconfigured)
            data["routing_status"] = "unknown"
            return OrderStatus("complete", "allocated", data)
        if endpoint is not None and current is not None and routes_to(current, endpoint):
            data.update({"routing_status": "routed", "routing": endpoint})
        else:
            data.update(self.route(num, endpoint, current))
        return OrderStatus("complete", "allocated", data)

    def current_config(self, number: str) -> dict[str, Any] | None:
        """A held number's configuration (`{}` when it has none); None when it could not be
        read (writing it then is still safe: the write is idempotent)."""
        try:
            return number_config(self.body(self.get(config_path(self.account, number),
                                                    number=number), number=number))
        except errors.CarrierNotFound:
            return {}
        except errors.KnmError as exc:
            self.log.warning("%s: configuration of %s not read: %s", self.name, number,
                             self.scrub(exc))
            return None

    # -- plumbing ----------------------------------------------------------------------------

    def body(self, response: httpx.Response, *, number: str | None = None) -> Any:
        """A 2xx answer's JSON (None for an empty one), checked for an in-body refusal."""
        if not response.content.strip():
            return None
        doc = self.parse_json(response, number=number)
        try:
            self.check_reply(response, doc)
        except errors.CarrierFault as exc:
            if exc.number is None and number is not None:
                exc.number, exc.cause = number, number
            raise
        return doc
