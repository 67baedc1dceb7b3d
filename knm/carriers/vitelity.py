"""Vitelity (`api.php`): commands in the query string of a POST, XML replies.

Wire format as Kazoo's `knm_vitelity` used it (reference/kazoo-http-carriers.md §5): every
parameter, credentials included, travels in the query string (a GET for searches, a POST with
an empty body for purchases and releases, which are never retried), and the reply is
`<content><status>ok|fail</status>…</content>`. The API is Vitelity's old one and
has not been checked against a current Vitelity document (the company was acquired); treat it
as "verify before relying on".

Kazoo quirks deliberately *not* reproduced (§15.5):
- a toll-free search works with any toll-free prefix (`800`, `8005`), not only a full number;
- `listnpanxx` gets the NPA-NXX (6 digits) and the answer is filtered by the whole prefix;
- HTTP statuses, transport errors and unreadable bodies are errors, not "no numbers".

Number features (SPEC §13), the commands of Kazoo's `knm_vitelity_e911` and
`knm_vitelity_cnam`: `e911checkaddress` (validation: `ok` with the address Vitelity would
register in `<info>`, a `<response>corrected</response>` when it is another place; `fail`
when the address is rejected), `e911send` (`did`, `name`, `address`, `unittype`/`unitnumber`
split from `extended_address` on its first space, `city`, `state`, `zip`), `e911getinfo`,
`e911delete`; `lidb` (`did`, `name`: the outbound listing; an empty name withdraws it) and
`cnamenable` / `cnamdisable` (the inbound lookup). All synchronous. The validation and info
replies' shapes are not documented anywhere we could check: stand-ins, like the rest.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.features import (
    ERROR,
    INTERRUPTED,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    AddressCheck,
    FeatureStatus,
)
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import OrderStatus, settling
from knm.carriers.payloads import element_dict, parse_xml_text
from knm.phone import classify, is_us_tollfree, nanp_digits, national_number, normalize
from knm.record import PhoneNumber

NAME = "knm_vitelity"
API_URI = "https://api.vitelity.net/api.php"
#: toll-free numbers asked for per search (Vitelity's `listtollfree` has no prefix filter)
TOLLFREE_SEARCH_LIMIT = 500
Params = list[tuple[str, str]]
#: Vitelity says everything in words: the knm error its words mean (first match wins)
FAULT_WORDS = (
    (("auth", "login", "password", "credential"), errors.CarrierCredentials),
    (("not available", "unavailable", "already", "taken"), errors.NumberUnavailable),
)
#: a search's `<error>` words that mean "nothing to offer" (Freeside's Net::Vitelity: audit V3)
NOTHING_AVAILABLE = frozenset({"noneavailable", "none", "unavailable"})


# -- pure request building ---------------------------------------------------------------------


def national_digits(prefix: str) -> str | None:
    """The NANP digits of an E.164 prefix (`+1415` → `415`); None when not a +1 prefix.

    Why: Vitelity sells US/Canadian numbers only, so anything else is not searched at all.
    """
    return nanp_digits(prefix)


def is_tollfree(digits: str) -> bool:
    """A toll-free NPA prefix (`800`, `8885551`): searched with `listtollfree`."""
    return is_us_tollfree(digits)


def _auth(config: Mapping[str, Any]) -> Params:
    return [("login", str(config.get("login") or "")), ("pass", str(config.get("password") or ""))]


def search_params(digits: str, quantity: int, config: Mapping[str, Any],
                  extra: Mapping[str, Any] | None = None) -> Params | None:
    """Query parameters (in Kazoo's order) searching under NANP `digits`; None = unsearchable.

    A local search needs at least an NPA; a toll-free one accepts any prefix (or none, with
    the `tollfree` option), because the answer is filtered by the prefix anyway.
    """
    extra = extra or {}
    if extra.get("tollfree") or is_tollfree(digits):
        # the list is filtered by the prefix here, so a small limit could hide every match
        limit = max(quantity, TOLLFREE_SEARCH_LIMIT)
        return [("cmd", "listtollfree"), ("limit", str(limit)), ("xml", "yes"), *_auth(config)]
    if len(digits) < 3:
        return None

    def given(key: str) -> Params:
        value = extra.get(key, config.get(key))
        return [] if value in (None, "") else [(key, _text(value))]

    if len(digits) == 3:
        head = [("npa", digits), ("cmd", "listnpa")]
    else:
        head = [("npanxx", digits[:6]), ("cmd", "listnpanxx")]
    return [*head, *given("withrates"), *given("type"), *given("provider"), ("xml", "yes"),
            *given("cnam"), *_auth(config)]


def order_params(number: str, config: Mapping[str, Any]) -> Params:
    """Parameters buying `number` (`gettollfree` or `getlocaldid`), routed to `routesip` when
    one is set (without it Vitelity applies the account's own routing: audit V1), of the
    configured DID `type` if any (Freeside passes it to `getlocaldid`: audit V2)."""
    kind = classify(number)
    cmd = "gettollfree" if kind in ("tollfree_us", "tollfree") else "getlocaldid"
    route = routesip(config)
    routed = [] if route is None else [("routesip", route)]
    did_type = [] if config.get("type") in (None, "") else [("type", str(config["type"]))]
    return [("did", national_number(number)), ("cmd", cmd), ("xml", "yes"),
            *routed, *did_type, *_auth(config)]


def release_params(number: str, config: Mapping[str, Any]) -> Params:
    """Parameters releasing `number` (`removedid`)."""
    return [("did", national_number(number)), ("cmd", "removedid"), ("xml", "yes"),
            *_auth(config)]


def listdids_params(config: Mapping[str, Any]) -> Params:
    """Parameters listing the account's DIDs (`listdids`): what `check` and settling read."""
    return [("cmd", "listdids"), ("xml", "yes"), *_auth(config)]


def unit(extended_address: str) -> tuple[str, str]:
    """Kazoo's split of `extended_address` into Vitelity's `unittype` and `unitnumber` (on its
    first space: `"Suite 200"` → `("Suite", "200")`)."""
    head, _, rest = extended_address.strip().partition(" ")
    return (head, rest.strip()) if rest else ("", head)


def address_params(address: Address) -> Params:
    unittype, unitnumber = unit(address.extended_address)
    return [("address", address.street_address), ("unittype", unittype),
            ("unitnumber", unitnumber), ("city", address.locality),
            ("state", address.region), ("zip", address.postal_code)]


def e911_params(number: str, cmd: str, config: Mapping[str, Any],
                address: Address | None = None) -> Params:
    """An E911 command for `number`: `e911checkaddress`, `e911send` (with the caller name),
    `e911getinfo`, `e911delete`."""
    params: Params = [("did", national_number(number)), ("cmd", cmd)]
    if address is not None:
        if cmd == "e911send":
            params.append(("name", address.caller_name))
        params.extend(address_params(address))
    return [*params, ("xml", "yes"), *_auth(config)]


def cnam_params(number: str, cmd: str, config: Mapping[str, Any],
                name: str | None = None) -> Params:
    """A caller-name command: `lidb` (with `name`), `cnamenable`, `cnamdisable`."""
    params: Params = [("did", national_number(number)), ("cmd", cmd)]
    if cmd == "lidb":
        params.append(("name", name or ""))
    return [*params, ("xml", "yes"), *_auth(config)]


def info_address(reply: VitelityReply, given: Address) -> Address:
    """The address in a reply's `<info>` (`address`, `unittype`+`unitnumber`, `city`,
    `state`, `zip`), the parts it leaves out taken from `given`."""
    info = reply.root.find("info")
    found = {child.tag: (child.text or "").strip() for child in (info if info is not None
                                                                   else [])}

    def part(key: str, fallback: str) -> str:
        return found.get(key) or fallback

    extended = " ".join(p for p in (found.get("unittype"), found.get("unitnumber")) if p)
    return Address(street_address=part("address", given.street_address),
                   extended_address=extended or given.extended_address,
                   locality=part("city", given.locality), region=part("state", given.region),
                   postal_code=part("zip", given.postal_code), country=given.country,
                   caller_name=part("name", given.caller_name))


def to_address_check(reply: VitelityReply, given: Address) -> AddressCheck:
    """`e911checkaddress`: `fail` → invalid (its error), `ok` → valid, or corrected when
    Vitelity says so or its `<info>` is another place."""
    if reply.status == "fail":
        return AddressCheck("invalid", given, message=reply.error or "address not found")
    if reply.status != "ok":
        raise ValueError("address check without a status")
    found = info_address(reply, given)
    said = (reply.root.findtext("response") or "").strip().lower()
    if said == "corrected" or not found.same_place(given):
        return AddressCheck("corrected", given, [found])
    return AddressCheck("valid", found)


def routesip(config: Mapping[str, Any]) -> str | None:
    """Where Vitelity routes a bought number (a list uses its first entry, as Kazoo did);
    None when unset: Freeside documents `routesip` as optional, the account's default routing
    applying without it."""
    value = config.get("routesip")
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return None if value in (None, "") else str(value)


# -- pure response parsing ---------------------------------------------------------------------


class VitelityReply:
    """A parsed `<content>` reply: its status, error text and numbers element."""

    def __init__(self, root: ET.Element) -> None:
        if root.tag != "content":
            raise ValueError(f"expected <content>, got <{root.tag}>")
        self.root = root
        self.status = (root.findtext("status") or "").strip().lower() or None
        self.error = (root.findtext("error") or "").strip() or None
        self.numbers = root.find("numbers")

    @classmethod
    def parse(cls, text: str | bytes) -> VitelityReply:
        """Parse a reply body; `ValueError` when it is not a Vitelity XML reply."""
        return cls(parse_xml_text(text))

    @property
    def says_nothing_available(self) -> bool:
        return self.status == "fail" and (self.error or "").lower() in NOTHING_AVAILABLE


def did_data(element: ET.Element) -> dict[str, Any]:
    """One `<did>`/`<number>` entry as a dict: the number normalized to E.164, nested
    elements as nested dicts, empty elements left out."""
    if len(element) == 0:
        return {"number": normalize((element.text or "").strip())}
    out: dict[str, Any] = {}
    for child in element:
        if child.tag in ("did", "number"):
            out["number"] = normalize((child.text or "").strip())
        elif len(child):
            out[child.tag] = element_dict(child)
        elif child.text and child.text.strip():
            out[child.tag] = child.text.strip()
    return out


def parse_search(reply: VitelityReply, prefix: str, quantity: int) -> list[SearchResult]:
    """Results under E.164 `prefix`, at most `quantity`. A reply with no `<numbers>` (or a
    `<response>` note in place of numbers) means nothing is available."""
    if reply.numbers is None or reply.numbers.find("response") is not None:
        return []
    results: list[SearchResult] = []
    for entry in reply.numbers:
        if entry.tag not in ("did", "number"):
            continue
        data = did_data(entry)
        number = data.get("number") or ""
        if not number.startswith(prefix) or not number.startswith("+"):
            continue
        results.append(SearchResult(number=number, carrier=NAME, state="discovery",
                                    carrier_data=data, locality=_locality(data)))
        if len(results) >= quantity:
            break
    return results


def account_dids(reply: VitelityReply) -> dict[str, dict[str, Any]]:
    """The account's DIDs of a `listdids` reply: E.164 → what Vitelity says of it. The XML
    shape is assumed to be the searches' (`<numbers><did>…`): unverified."""
    if reply.numbers is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for entry in reply.numbers:
        if entry.tag in ("did", "number"):
            data = did_data(entry)
            if str(data.get("number") or "").startswith("+"):
                out[data["number"]] = data
    return out


# -- the carrier ---------------------------------------------------------------------------------


class Vitelity(HttpCarrier):
    """US/Canadian local and toll-free numbers from Vitelity."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = API_URI
    wire_format: ClassVar[str] = "xml"
    fault_words = FAULT_WORDS
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "buy", "release", "check",
         "settle", "e911", "cnam"})
    reads_interrupted: ClassVar[frozenset[str]] = frozenset({"e911"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("base_url", str, default=API_URI, aliases=("api_uri",),
                description="API root; point it at a simulator to test offline"),
        Setting("login", str, required=True, description="Vitelity API login"),
        Setting("password", str, required=True, secret=True, aliases=("pass",),
                description="Vitelity API password"),
        Setting("routesip", list,
                description="where Vitelity routes bought numbers (a sub-account, or a SIP "
                            "host as in Kazoo: unverified which); unset: the account's "
                            "default routing"),
        Setting("use_stepswitch_cnam", bool, default=False,
                description="look up CNAM for Vitelity numbers"),
        Setting("withrates", str, description="optional search filter"),
        Setting("type", str, description="DID type (perminute, unlimited, your-pri): a "
                                         "search filter, and sent when buying"),
        Setting("provider", str, description="optional search filter"),
        Setting("cnam", str, description="optional search filter"),
    )

    def should_lookup_cnam(self) -> bool:
        return bool(self.config.get("use_stepswitch_cnam"))

    # -- hooks --------------------------------------------------------------------------------

    def parse_reply(self, response: httpx.Response, *, number: str | None = None
                    ) -> VitelityReply:
        return self.parsed(VitelityReply.parse, response.content, number=number)

    def check_reply(self, response: httpx.Response, body: Any) -> None:
        """`<status>fail</status>` is a refusal in words; a purchase or release (a POST)
        must be confirmed — silence is not success."""
        reply: VitelityReply = body
        searching = response.request.method == "GET"
        if reply.status == "fail":
            if searching and reply.says_nothing_available:
                return
            raise self.refusal(reply.error or "status fail", status=response.status_code)
        if reply.status not in (None, "ok"):
            raise self.fault(errors.MalformedResponse, f"unknown status {reply.status!r}",
                             status=response.status_code)
        if not searching and reply.status is None:
            raise self.fault(errors.MalformedResponse, "reply without a status",
                             status=response.status_code)

    def xml_error_message(self, root: ET.Element) -> str | None:
        return (root.findtext("error") or "").strip() or None if root.tag == "content" \
            else None

    # -- operations ---------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        digits = national_digits(prefix)
        if digits is None:
            return []
        params = search_params(digits, quantity, self.config, options.extra)
        if params is None:
            return []
        # a search is a safe read: sent as GET, so it may be retried (Kazoo POSTed every
        # command; api.php reads its parameters from the query string either way)
        reply = self.call("GET", self._path(), params=params, deadline=options.deadline)
        return parse_search(reply, "+1" + digits, quantity)

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        params = order_params(number.number, self.config)
        self.call("POST", self._path(), params=params, number=number.number)
        # no routesip sent: an old one must not stay on a re-bought number (None removes it)
        return self.learn(number, {"routesip": dict(params).get("routesip"),
                                   "command": dict(params)["cmd"]})

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        self.call("POST", self._path(), params=release_params(number.number, self.config),
                  number=number.number)
        return number

    def account_dids(self) -> dict[str, dict[str, Any]]:
        """Every DID of the account (`listdids`), by E.164 number."""
        reply = self.call("GET", self._path(), params=listdids_params(self.config))
        return account_dids(reply)

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` for each number the account holds (`listdids`); others left out."""
        held = self.account_dids()
        return {n: "in_service" for n in numbers if normalize(n) in held}

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Purchases and releases are synchronous here: whether the account holds the number
        (`listdids`) says what became of either."""
        return self.settle_held(number, self.account_dids().get(number.number))

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """One `listdids` answers for every number (the whole account in one reply)."""
        held = self.account_dids() if budget > 0 else {}
        return {number: held[number] for number in numbers if number in held}

    def settle_held(self, number: PhoneNumber, held: Any) -> OrderStatus:
        if settling(number) == "disconnect":
            if held is None:
                return OrderStatus("complete", "removed", message="not on the account")
            return OrderStatus("failed", "listed", message="still on the account")
        if held is None:
            return OrderStatus("failed", "not listed", message="not on the account")
        learnt = {"routesip": held["routesip"]} if held.get("routesip") else {}
        return OrderStatus("complete", "listed", data=learnt)

    # -- number features (SPEC §13) -----------------------------------------------------------

    def _ask(self, params: Params, number: str) -> VitelityReply:
        """A read whose `fail` is an answer (an address Vitelity rejects, a DID with no E911
        record), not an error: the reply as it is."""
        response = self.request("GET", self._path(), params=params, number=number)
        return self.parse_reply(response, number=number)

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        num = number.number
        reply = self._ask(e911_params(num, "e911checkaddress", self.config, address), num)
        return self.parsed(to_address_check, reply, address, number=num)

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        num = number.number
        try:
            reply = self.call("POST", self._path(), number=num,
                              params=e911_params(num, "e911send", self.config, address))
        except errors.KnmError as exc:
            if not exc.unsettled:
                raise
            # the answer was lost: settling reads what Vitelity holds (`e911getinfo`)
            return FeatureStatus(PENDING, "unknown", {"e911_sent": address.to_e911()},
                                 address, message=self.scrub(str(exc)))
        return FeatureStatus(PROVISIONED, (reply.root.findtext("response") or "ok").strip(),
                             {"e911_sent": None}, address=info_address(reply, address))

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        """What Vitelity holds for the number; after a lost answer, whether it is the
        address knm sent."""
        num = number.number
        reply = self._ask(e911_params(num, "e911getinfo", self.config), num)
        interrupted = number.carrier_data.get(INTERRUPTED)
        if reply.status != "ok":
            return FeatureStatus(REMOVED if interrupted else ERROR, reply.status or "",
                                 message=reply.error or
                                 "Vitelity has no E911 record for the number")
        if interrupted:  # a save that died: the address Vitelity holds now
            return FeatureStatus(PROVISIONED, "ok", {"e911_sent": None}, address=info_address(
                reply, Address("", "", "", "", country="")))
        sent = number.carrier_data.get("e911_sent")
        if isinstance(sent, dict):
            wanted = Address.from_e911(sent)
            if not info_address(reply, wanted).same_place(wanted):
                return FeatureStatus(ERROR, "ok", {"e911_sent": None},
                                     message="Vitelity holds another address")
        return FeatureStatus(PROVISIONED, "ok", {"e911_sent": None})

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        num = number.number
        self.call("POST", self._path(), number=num,
                  params=e911_params(num, "e911delete", self.config))
        return FeatureStatus(REMOVED, "ok")

    def set_cnam(self, number: PhoneNumber, display_name: str | None) -> FeatureStatus:
        """`lidb`: Kazoo checked the reply's `<response>ok</response>`; silence is not
        success."""
        num = number.number
        reply = self.call("POST", self._path(), number=num,
                          params=cnam_params(num, "lidb", self.config, display_name))
        said = (reply.root.findtext("response") or "").strip().lower()
        if said != "ok":
            raise self.fault(errors.MalformedResponse, "lidb reply without <response>ok",
                             number=num, unsettled=True)
        return FeatureStatus(PROVISIONED, "ok")

    def set_inbound_lookup(self, number: PhoneNumber, enabled: bool) -> FeatureStatus:
        num = number.number
        cmd = "cnamenable" if enabled else "cnamdisable"
        self.call("POST", self._path(), number=num, params=cnam_params(num, cmd, self.config))
        return FeatureStatus(PROVISIONED, cmd)

    def cnam_status(self, number: PhoneNumber) -> FeatureStatus:
        return FeatureStatus(PROVISIONED, "ok")  # synchronous: nothing is ever pending

    def _path(self) -> str:
        """`api.php` under a root URL; the URL itself when it names the script (an absolute
        URL, because the client's base URL always gains a trailing slash)."""
        base = str(self.config["base_url"]).rstrip("/")
        return base if base.endswith(".php") else "api.php"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _locality(data: Mapping[str, Any]) -> dict[str, Any] | None:
    locality = {"rate_center": data.get("ratecenter"), "region": data.get("state"),
                "city": data.get("city")}
    locality = {k: v for k, v in locality.items() if isinstance(v, str) and v}
    if not locality:
        return None
    return {**locality, "country": "US"}
