"""Reading Crossbar requests: the `{"data": …}` body, numbers in the path and the body, the
keys that steer a request rather than being stored, and query values whose `+` must survive.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_plus

from fastapi import Request

from knm import errors, phone

_E164 = re.compile(r"^\+[1-9]\d{1,17}$")
MAX_DEPTH = 32
#: body keys that steer the request and are never stored as public fields (`accept_charges`
#: is Crossbar's charges confirmation: knm has no charges, so it is accepted and ignored)
CONTROL_KEYS = frozenset({"numbers", "create_with_state", "id", "_read_only", "state",
                          "used_by", "features", "features_available", "metadata",
                          "accept_charges", "carrier_name"})


def schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """OpenAPI for Crossbar's `{"data": {...}}` request body (docs and schemathesis use it)."""
    data: dict[str, Any] = {"type": "object", "properties": properties,
                            "additionalProperties": True}
    body: dict[str, Any] = {"type": "object", "properties": {
        "data": data, "accept_charges": {"type": "boolean"}}}
    if required:  # the route cannot do without these: body, `data` and fields required
        data["required"] = required
        body["required"] = ["data"]
    else:  # `"data": null` is no data, as an empty body is
        data["type"] = ["object", "null"]
    return {"requestBody": {"required": bool(required),
                            "content": {"application/json": {"schema": body}}}}


NUMBERS_BODY = schema({"numbers": {"type": "array", "minItems": 1,
                                   "items": {"type": "string", "minLength": 1}},
                       "carrier_name": {"type": "string"},
                       "create_with_state": {"type": "string"}}, ["numbers"])
NUMBER_BODY = schema({"create_with_state": {"type": "string"},
                      "carrier_name": {"type": "string"}})
API_AUTH_BODY = schema({"api_key": {"type": "string"}}, ["api_key"])
#: just the numbers (`check`, `locality`)
ONLY_NUMBERS_BODY = schema({"numbers": {"type": "array", "minItems": 1,
                                        "items": {"type": "string", "minLength": 1}}},
                           ["numbers"])
#: the numbers are optional: without them, every number the route covers
SOME_NUMBERS_BODY = schema({"numbers": {"type": "array", "minItems": 1,
                                        "items": {"type": "string", "minLength": 1}}})


def search_window(quantity: int, offset: int) -> None:
    """A search's page, checked whether or not the request turns out to be a search (a
    parameter that is given must be right, even where it is not used)."""
    if quantity < 1:
        raise errors.Invalid("quantity", "quantity must be at least 1")
    if offset < 0:
        raise errors.Invalid("offset", "offset must be at least 0")


async def json_data(request: Request) -> dict[str, Any]:
    """The `data` object of a Crossbar request body ({} when there is no body)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.Invalid("body", "request body is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise errors.Invalid("body", "request body must be a JSON object")
    if not isinstance(doc.get("accept_charges", False), bool):
        raise errors.Invalid("accept_charges", "`accept_charges` must be true or false")
    data = doc.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.Invalid("data", "`data` must be a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise errors.Invalid("data", f"`data` is nested deeper than {MAX_DEPTH} levels")
    return data


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion (a hostile body cannot blow the
    stack here, nor later when the number is saved)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            todo.extend((child, level + 1) for child in
                        (item.values() if isinstance(item, dict) else item))
    return deepest


def dialled(text: str) -> str:
    """A number as given, with vanity letters dialled (`+1415FLOWERS` → `+14153569377`):
    Monster UI buys a vanity number by the letters its user typed. Only text that starts
    like a number is read so (`+` or a digit); words stay words."""
    if text[:1] in ("+", *"0123456789"):
        return phone.vanity_digits(text) or text
    return text


def number_list(data: dict[str, Any]) -> list[str]:
    found = data.get("numbers")
    if not isinstance(found, list) or not found:
        raise errors.Invalid("numbers", "`data.numbers` must be a non-empty list of numbers")
    if not all(isinstance(n, str) and n.strip() for n in found):
        raise errors.Invalid("numbers", "every entry of `data.numbers` must be a number "
                             "(a non-empty string)")
    return list(dict.fromkeys(dialled(n.strip()) for n in found))


def path_number(raw: str) -> str:
    """A number from the URL: raw `+…`, `%2B…` (decoded already), a national form, or a
    vanity form (`+1415FLOWERS`)."""
    text = dialled(raw.strip())
    normalized = phone.normalize(text) if len(text) <= 64 else text
    if not _E164.match(normalized):
        raise errors.NotReconcilable(text[:64])
    return normalized


def public_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items()
            if k not in CONTROL_KEYS and not k.startswith("_") and not k.startswith("pvt_")}


def creation_state(data: dict[str, Any]) -> str | None:
    state = data.get("create_with_state")
    if state is not None and not isinstance(state, str):
        raise errors.Invalid("create_with_state", "must be a state name")
    return state or None


def raw_query_value(request: Request, name: str) -> str | None:
    """A query parameter as the client wrote it, with a literal `+` kept as `+`.

    Form decoding reads `+` as a space, so `?prefix=+44207` would arrive as ` 44207`; a
    number prefix never contains a space, and Kazoo clients send E.164 prefixes with a raw
    `+`. An encoded `%2B` reads as `+` either way."""
    raw = request.scope.get("query_string", b"").decode("latin-1")
    found: str | None = None
    for part in raw.split("&"):
        key, _, value = part.partition("=")
        if unquote_plus(key) == name:
            # a leading `+` is the number's; any later one is form encoding's space
            found = "+" + unquote_plus(value[1:]) if value.startswith("+") \
                else unquote_plus(value)
    return found
