"""Where numbers are and which area codes a city has, from a phonebook service (Kazoo's
`knm_locality`): the lookups behind Crossbar's `GET …/phone_numbers/prefix?city=` and
`POST …/phone_numbers/locality`.

Kazoo's settings, read where Kazoo reads them:
- city → area codes: `crossbar.phone_numbers` `phonebook_url` (and `default_country`, default
  `US`): `GET {url}/{country}/city?pattern={city}`, answering `{"data": {City: {"state",
  "prefixes"}}}`;
- numbers → locality: `number_manager.locality` `url`: `POST {url}/locality/metadata` with
  `{"data": [numbers]}`, answering `{"status": "success", "data": {N: {...}}}`.
Both fall back to `number_manager.other` `phonebook_url` (Kazoo does so for the locality
lookup; knm for the city one too, so one phonebook setting serves all three).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from knm import config, errors

SOURCE = "phonebook"
TIMEOUT_S = 5.0
MAX_BYTES = 2 * 1024 * 1024
CITY_CATEGORY = "crossbar.phone_numbers"
LOCALITY_CATEGORY = "number_manager.locality"
FALLBACK_CATEGORY = "number_manager.other"


def _url(category: str, key: str) -> str | None:
    for cat, name in ((category, key), (FALLBACK_CATEGORY, "phonebook_url")):
        value = config.get(cat, name)
        if isinstance(value, str) and value.strip():
            return value.strip().rstrip("/")
    return None


def _unconfigured(what: str, category: str, key: str) -> errors.KnmError:
    return errors.KnmError(
        f"{what} needs a phonebook service: set `knm config set {category} {key} URL` "
        f"(or {FALLBACK_CATEGORY} phonebook_url)", code=501, error="not_implemented",
        cause=f"{category}.{key}")


def _call(method: str, url: str, **kw: Any) -> Any:
    """The JSON answer of the phonebook, or the carrier-style error saying what went wrong."""
    try:
        with httpx.Client(timeout=TIMEOUT_S) as client:
            response = client.request(method, url, **kw)
    except httpx.TimeoutException as exc:
        raise errors.CarrierTimeout(SOURCE, type(exc).__name__, unsettled=False) from exc
    except httpx.HTTPError as exc:
        raise errors.CarrierUnavailable(SOURCE, type(exc).__name__, unsettled=False) from exc
    if len(response.content) > MAX_BYTES:
        raise errors.MalformedResponse(SOURCE, "answer too large", unsettled=False)
    if response.status_code != 200:
        raise errors.CarrierUnavailable(SOURCE, f"HTTP {response.status_code}",
                                        status=response.status_code, unsettled=False)
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        raise errors.MalformedResponse(SOURCE, "answer is not JSON", unsettled=False) from exc


def city_prefixes(city: str) -> dict[str, Any]:
    """`{City: {"state": …, "prefixes": [area codes]}}` for cities matching `city`."""
    url = _url(CITY_CATEGORY, "phonebook_url")
    if url is None:
        raise _unconfigured("city search", CITY_CATEGORY, "phonebook_url")
    country = str(config.get(CITY_CATEGORY, "default_country") or "US").upper()
    answer = _call("GET", f"{url}/{country}/city", params={"pattern": city})
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise errors.MalformedResponse(SOURCE, "city answer has no `data` object",
                                       unsettled=False)
    return data


def localities(numbers: list[str]) -> dict[str, Any]:
    """Per number, what the phonebook knows of it (`status`, `locality`, `carrier`, …)."""
    url = _url(LOCALITY_CATEGORY, "url")
    if url is None:
        raise _unconfigured("locality lookup", LOCALITY_CATEGORY, "url")
    answer = _call("POST", f"{url}/locality/metadata", json={"data": numbers})
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise errors.CarrierUnavailable(SOURCE, "number locality lookup failed",
                                        unsettled=False)
    data = answer.get("data")
    return data if isinstance(data, dict) else {}
