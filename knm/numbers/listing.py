"""An account's numbers a page at a time, with Crossbar's filters (Kazoo's
`phone_numbers/crossbar_listing` view read through `crossbar_view` and `crossbar_filter`).

Paging is by key, never by OFFSET: a page starts at `start_key` (a number, included), holds
up to `page_size` numbers in number order, and `next_start_key` is the first number of the
next page (absent on the last one) — Kazoo's linked-list paging. Each page is one range scan
of the `(assigned_to, number)` index, so its cost does not grow with the account.

Filters (`crossbar_filter`) are evaluated against the number's Kazoo document, as Kazoo does;
`filter_state`, `filter_assigned_to` and `filter_locality` are renamed to their `pvt_` keys.
Those that map to a column (`pvt_state`, `created_from/to`, `modified_from/to`) are applied in
the query; the others (`filter_{KEY}`, `filter_not_{KEY}`, `has_key`, `key_missing`,
`has_value`, `value_missing`) on each row read, the scan continuing until the page is full.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from knm import errors
from knm.numbers import repository
from knm.record import PhoneNumber

#: the largest page one request reads (more is `paginate=false`'s job, or the next page)
MAX_PAGE_SIZE = 100_000
#: Crossbar's default page (`crossbar.pagination_page_size`)
DEFAULT_PAGE_SIZE = 50
#: rows read per query while filters that are not columns thin the page
SCAN_CHUNK = 500
#: Kazoo renames these before filtering (`cb_phone_numbers:rename_qs_filters`)
RENAMED = {"state": "pvt_state", "assigned_to": "pvt_assigned_to", "locality": "pvt_locality"}
TIME_FILTERS = ("created_from", "created_to", "modified_from", "modified_to")
KEY_FILTERS = ("has_key", "key_missing", "has_value", "value_missing", "missing_value")

Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Query:
    """One listing request, parsed."""

    page_size: int | None = DEFAULT_PAGE_SIZE  # None: every number (`paginate=false`)
    start_key: str | None = None
    descending: bool = False
    states: set[str] | None = None
    not_states: set[str] = field(default_factory=set)
    created: tuple[int | None, int | None] = (None, None)
    modified: tuple[int | None, int | None] = (None, None)
    predicates: list[Predicate] = field(default_factory=list)


@dataclass
class Page:
    numbers: list[PhoneNumber]
    start_key: str | None
    next_start_key: str | None


# -- parsing the query string ------------------------------------------------------------------


def _is_true(value: str | None) -> bool:
    return str(value).strip().lower() == "true"


def _is_false(value: str | None) -> bool:
    return str(value).strip().lower() == "false"


def _integer(name: str, raw: str, minimum: int) -> int:
    text = raw.strip()
    if not text.lstrip("-").isdigit():
        raise errors.Invalid(name, f"{name} must be an integer")
    value = int(text)
    if value < minimum:
        raise errors.Invalid(name, f"{name} must be at least {minimum}")
    return value


def _matches(value: Any, wanted: str) -> bool:
    """`crossbar_filter:should_filter`: the document's value (as text) equals the filter, or
    is a member of it when the filter is a JSON list, or equals it JSON-decoded."""
    if isinstance(value, dict | list):
        raise TypeError("not comparable")  # Kazoo's crash, caught: the row does not match
    text = "" if value is None else ("true" if value is True else "false" if value is False
                                     else str(value))
    if text == wanted:
        return True
    try:
        decoded = json.loads(wanted)
    except (ValueError, RecursionError):
        return False
    if isinstance(decoded, list):
        return text in [v for v in decoded if isinstance(v, str)]
    return isinstance(decoded, str) and decoded == text


def _lookup(doc: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    current: Any = doc
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


def _non_empty(value: Any) -> bool:
    return value not in (None, "", [], {})


def _state_set(raw: str) -> set[str]:
    """The states a `filter_state` value admits (the same rule as `_matches`)."""
    out = {raw}
    try:
        decoded = json.loads(raw)
    except (ValueError, RecursionError):
        return out
    if isinstance(decoded, list):
        out.update(v for v in decoded if isinstance(v, str))
    elif isinstance(decoded, str):
        out.add(decoded)
    return out


def _safe(test: Predicate) -> Predicate:
    """Kazoo excludes a row whose filter crashed (`should_filter_doc`'s catch-all)."""
    def run(doc: dict[str, Any]) -> bool:
        try:
            return test(doc)
        except (TypeError, ValueError):
            return False
    return run


def _key_filter(name: str, key: str) -> Predicate:
    if name == "has_key":
        return lambda doc: _lookup(doc, key)[0] and _lookup(doc, key)[1] is not None
    if name == "key_missing":
        return lambda doc: not (_lookup(doc, key)[0] and _lookup(doc, key)[1] is not None)
    if name == "has_value":
        return lambda doc: _non_empty(_lookup(doc, key)[1])
    return lambda doc: not _non_empty(_lookup(doc, key)[1])  # value_missing


def _value_filter(key: str, wanted: str, negate: bool) -> Predicate:
    def test(doc: dict[str, Any]) -> bool:
        return _matches(_lookup(doc, key)[1], wanted) != negate
    return _safe(test)


def parse(params: Mapping[str, str]) -> Query:
    """A listing `Query` from the query string; bad values are `400 invalid` naming the
    parameter (Kazoo answers a bad `page_size` with a 404 `faulty_request`, and drops every
    row for an unreadable time bound)."""
    query = Query()
    if _is_false(params.get("paginate")):
        query.page_size = None
    elif params.get("page_size") is not None:
        # a page as large as the databases' LIMIT allows is "everything", not an overflow
        query.page_size = min(_integer("page_size", params["page_size"], 1), MAX_PAGE_SIZE)
    start = params.get("start_key")
    if start:
        start = start.strip()
        if start and start[0].isdigit() and params.get("start_key", "").startswith(" "):
            start = "+" + start  # a raw `+` in the query string arrives as a space
        query.start_key = start or None
    query.descending = _is_true(params.get("descending")) or _is_false(params.get("ascending"))
    bounds: dict[str, int] = {}
    for name, raw in params.items():
        if name in TIME_FILTERS:
            bounds[name] = _integer(name, raw, 0)
        elif name in KEY_FILTERS:
            query.predicates.append(_key_filter("value_missing" if name == "missing_value"
                                                else name, raw))
        elif name.startswith("filter_not_") and len(name) > len("filter_not_"):
            key = name.removeprefix("filter_not_")
            key = RENAMED.get(key, key)
            if key == "pvt_state":
                query.not_states |= _state_set(raw)
            else:
                query.predicates.append(_value_filter(key, raw, negate=True))
        elif name.startswith("filter_") and len(name) > len("filter_"):
            key = name.removeprefix("filter_")
            key = RENAMED.get(key, key)
            if key == "pvt_state":
                admitted = _state_set(raw)
                query.states = admitted if query.states is None else query.states & admitted
            else:
                query.predicates.append(_value_filter(key, raw, negate=False))
    query.created = (bounds.get("created_from"), bounds.get("created_to"))
    query.modified = (bounds.get("modified_from"), bounds.get("modified_to"))
    return query


# -- reading a page ----------------------------------------------------------------------------


def page(account_id: str, query: Query) -> Page:
    """One page of the account's numbers (every number when `query.page_size` is None),
    as records for showing (without public fields unless a filter needed them)."""
    wanted = None if query.page_size is None else query.page_size + 1
    found: list[PhoneNumber] = []
    chunk = wanted if not query.predicates else max(wanted or 0, SCAN_CHUNK)
    if wanted is None:
        chunk = SCAN_CHUNK * 4
    after: str | None = None
    first = True
    while wanted is None or len(found) < wanted:
        rows = repository.list_page(
            account_id, limit=chunk, start_key=query.start_key if first else None,
            after_key=after, descending=query.descending, states=query.states,
            not_states=query.not_states, created=query.created, modified=query.modified,
            full=bool(query.predicates))
        first = False
        for pn in rows:
            if all(test(pn.to_json()) for test in query.predicates):
                found.append(pn)
                if wanted is not None and len(found) == wanted:
                    break
        if len(rows) < chunk:
            break
        after = rows[-1].number
    next_key = None
    if wanted is not None and len(found) == wanted:
        next_key = found.pop().number
    return Page(found, query.start_key, next_key)
