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
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier, parse_xml_text
from knm.phone import US_TOLLFREE_NPAS, classify, normalize
from knm.record import PhoneNumber

NAME = "knm_vitelity"
API_URI = "https://api.vitelity.net/api.php"
#: toll-free numbers asked for per search (Vitelity's `listtollfree` has no prefix filter)
TOLLFREE_SEARCH_LIMIT = 500
Params = list[tuple[str, str]]


# -- pure request building ---------------------------------------------------------------------


def national_digits(prefix: str) -> str | None:
    """The NANP digits of an E.164 prefix (`+1415` → `415`); None when not a +1 prefix.

    Why: Vitelity sells US/Canadian numbers only, so anything else is not searched at all.
    """
    text = prefix.strip()
    if text.startswith("+"):
        if not text.startswith("+1"):
            return None
        return text[2:]
    return text[1:] if len(text) == 11 and text.startswith("1") else text


def is_tollfree(digits: str) -> bool:
    """A toll-free NPA prefix (`800`, `8885551`): searched with `listtollfree`."""
    return len(digits) >= 3 and digits[:3] in US_TOLLFREE_NPAS


def search_params(digits: str, quantity: int, config: Mapping[str, Any],
                  extra: Mapping[str, Any] | None = None) -> Params | None:
    """Query parameters (in Kazoo's order) searching under NANP `digits`; None = unsearchable.

    A local search needs at least an NPA; a toll-free one accepts any prefix (or none, with
    the `tollfree` option), because the answer is filtered by the prefix anyway.
    """
    extra = extra or {}
    auth = [("login", str(config.get("login") or "")), ("pass", str(config.get("password") or ""))]
    if extra.get("tollfree") or is_tollfree(digits):
        # the list is filtered by the prefix here, so a small limit could hide every match
        limit = max(quantity, TOLLFREE_SEARCH_LIMIT)
        return [("cmd", "listtollfree"), ("limit", str(limit)), ("xml", "yes"), *auth]
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
            *given("cnam"), *auth]


def order_params(number: str, config: Mapping[str, Any]) -> Params:
    """Parameters buying `number` (`gettollfree` or `getlocaldid`) routed to `routesip`."""
    kind = classify(number)
    cmd = "gettollfree" if kind in ("tollfree_us", "tollfree") else "getlocaldid"
    return [("did", _npan(number)), ("cmd", cmd), ("xml", "yes"),
            ("routesip", routesip(config)), ("login", str(config.get("login") or "")),
            ("pass", str(config.get("password") or ""))]


def release_params(number: str, config: Mapping[str, Any]) -> Params:
    """Parameters releasing `number` (`removedid`)."""
    return [("did", _npan(number)), ("cmd", "removedid"), ("xml", "yes"),
            ("login", str(config.get("login") or "")),
            ("pass", str(config.get("password") or ""))]


def routesip(config: Mapping[str, Any]) -> str:
    """Where Vitelity routes a bought number; a list uses its first entry (as Kazoo did)."""
    value = config.get("routesip")
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value in (None, ""):
        raise errors.CarrierMisconfigured(NAME, "routesip", "is required to buy numbers")
    return str(value)


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
            out[child.tag] = _element_dict(child)
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


def fault_class(message: str | None) -> type[errors.CarrierFault]:
    """Vitelity says everything in words; pick the knm error its words mean."""
    text = (message or "").lower()
    if any(word in text for word in ("auth", "login", "password", "credential")):
        return errors.CarrierCredentials
    if any(word in text for word in ("not available", "unavailable", "already", "taken")):
        return errors.NumberUnavailable
    return errors.CarrierFault


# -- the carrier ---------------------------------------------------------------------------------


class Vitelity(HttpCarrier):
    """US/Canadian local and toll-free numbers from Vitelity."""

    name: ClassVar[str] = NAME
    default_base_url: ClassVar[str] = API_URI
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "buy", "release"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("login", str, required=True, description="Vitelity API login"),
        Setting("password", str, required=True, secret=True,
                description="Vitelity API password (Kazoo's `pass`)"),
        Setting("routesip", str, description="SIP host Vitelity routes bought numbers to; "
                                             "required to buy"),
        Setting("api_uri", str, description="Kazoo's name for `base_url`"),
        Setting("use_stepswitch_cnam", bool, default=False,
                description="look up CNAM for Vitelity numbers"),
        Setting("withrates", str, description="optional search filter"),
        Setting("type", str, description="optional search filter"),
        Setting("provider", str, description="optional search filter"),
        Setting("cnam", str, description="optional search filter"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Kazoo names the base URL `api_uri` and the password `pass`; accept both."""
        config = dict(config)
        if config.get("api_uri") and not config.get("base_url"):
            config["base_url"] = config["api_uri"]
        if config.get("pass") and not config.get("password"):
            config["password"] = config.pop("pass")
        if isinstance(config.get("routesip"), (list, tuple)):
            config["routesip"] = routesip(config)
        return super().validate_config(config)

    def should_lookup_cnam(self) -> bool:
        return bool(self.config.get("use_stepswitch_cnam"))

    def extract_error_message(self, response: httpx.Response) -> str | None:
        try:
            reply = VitelityReply.parse(response.content)
        except ValueError:
            return super().extract_error_message(response)
        return reply.error or super().extract_error_message(response)

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
        reply = self._call("GET", params, deadline=options.deadline)
        return parse_search(reply, "+1" + digits, quantity)

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        params = order_params(number.number, self.config)
        self._call("POST", params, number=number.number)
        number.update_carrier_data({"routesip": dict(params)["routesip"],
                                    "command": dict(params)["cmd"]})
        return number

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        self._call("POST", release_params(number.number, self.config), number=number.number)
        return number

    def _call(self, method: str, params: Params, *, deadline: float | None = None,
              number: str | None = None) -> VitelityReply:
        response = self.request(method, self._path(), params=params, deadline=deadline,
                                number=number)
        try:
            reply = VitelityReply.parse(response.content)
        except ValueError as exc:
            raise self.fault(errors.MalformedResponse, str(exc), number=number,
                             status=response.status_code) from None
        if reply.status == "fail":
            raise self.fault(fault_class(reply.error), reply.error or "status fail",
                             number=number, status=response.status_code)
        if reply.status not in (None, "ok"):
            raise self.fault(errors.MalformedResponse, f"unknown status {reply.status!r}",
                             number=number, status=response.status_code)
        if number is not None and reply.status is None:
            # a purchase or release must be confirmed; silence is not success
            raise self.fault(errors.MalformedResponse, "reply without a status",
                             number=number, status=response.status_code)
        return reply

    def _path(self) -> str:
        """`api.php` under a root URL; the URL itself when it names the script (an absolute
        URL, because the client's base URL always gains a trailing slash)."""
        base = str(self.config["base_url"]).rstrip("/")
        return base if base.endswith(".php") else "api.php"


# -- helpers ---------------------------------------------------------------------------------------




def _npan(number: str) -> str:
    digits = normalize(number).removeprefix("+")
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element_dict(element: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in element:
        if len(child):
            out[child.tag] = _element_dict(child)
        elif child.text and child.text.strip():
            out[child.tag] = child.text.strip()
    return out


def _locality(data: Mapping[str, Any]) -> dict[str, Any] | None:
    locality = {"rate_center": data.get("ratecenter"), "region": data.get("state"),
                "city": data.get("city")}
    locality = {k: v for k, v in locality.items() if isinstance(v, str) and v}
    if not locality:
        return None
    return {**locality, "country": "US"}
