"""`knm_other`: a generic "phonebook" number inventory spoken to as JSON over HTTP (Kazoo
§3.5, §4.8; kazoo-http-carriers §10).

Routes under `phonebook_url` (`<C>` = `default_country`):
`GET /numbers/<C>/search?prefix&limit&offset`, `GET /blocks/<C>/search?prefix&size&offset&limit`,
`POST /numbers/<C>/status`, `PUT /numbers/<C>/order`. No auth. Unlike Kazoo, the prefix is
URL-encoded (Kazoo sent `+1415` raw, which servers read as a space), and a failing phonebook
is reported as a carrier fault instead of "nothing available".
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from knm import errors
from knm.carriers.base import Carrier, SearchOptions, SearchResult, Setting
from knm.phone import normalize, to_npan
from knm.record import PhoneNumber


class Other(Carrier):
    name = "knm_other"
    local = False
    billable = True
    maximal_prefix_length = 10
    settings = (
        Setting("phonebook_url", str, description="base URL of the phonebook service"),
        Setting("default_country", str, default="US", description="country in every path"),
        Setting("endpoints", list, default=[], description="gateways sent with orders"),
        Setting("timeout_ms", int, default=10_000, description="per-request timeout"),
    )
    capabilities = frozenset({"search", "blocks", "acquire", "check"})

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self._client = httpx.Client(timeout=self.config["timeout_ms"] / 1000.0)

    def close(self) -> None:
        self._client.close()

    # -- plumbing --------------------------------------------------------------------------

    @property
    def base_url(self) -> str | None:
        url = self.config.get("phonebook_url") or self.config.get("base_url")
        return str(url).rstrip("/") if url else None

    @property
    def country(self) -> str:
        return str(self.config.get("default_country") or "US").upper()

    def _request(self, method: str, path: str, *, number: str | None = None,
                 deadline: float | None = None, **kwargs: Any) -> tuple[int, Any]:
        timeout = self.config["timeout_ms"] / 1000.0
        if deadline is not None:
            timeout = max(min(timeout, deadline - time.monotonic()), 0.001)
        try:
            response = self._client.request(method, f"{self.base_url}{path}", timeout=timeout,
                                            **kwargs)
        except httpx.TimeoutException as exc:
            raise errors.CarrierTimeout(self.name, "phonebook did not answer in time",
                                        number=number) from exc
        except httpx.HTTPError as exc:
            raise errors.CarrierUnavailable(self.name, f"phonebook unreachable: "
                                            f"{type(exc).__name__}", number=number) from exc
        try:
            body = response.json() if response.content else None
        except json.JSONDecodeError as exc:
            raise errors.MalformedResponse(self.name, f"non-JSON answer (HTTP "
                                           f"{response.status_code})", number=number,
                                           status=response.status_code) from exc
        return response.status_code, body

    def _fault(self, status: int, body: Any, what: str, number: str | None = None
               ) -> errors.CarrierFault:
        said = body.get("message") or body.get("error") if isinstance(body, dict) else None
        text = f"{what}: HTTP {status}" + (f": {said}" if said else "")
        if status >= 500:
            return errors.CarrierUnavailable(self.name, text, number=number, status=status)
        return errors.CarrierFault(self.name, text, number=number, status=status)

    # -- search ----------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        if not self.base_url:
            return []  # Kazoo: no phonebook, nothing available
        if options.blocks is not None:
            return self._find_blocks(prefix, quantity, options)
        status, body = self._request(
            "GET", f"/numbers/{self.country}/search", deadline=options.deadline,
            params={"prefix": prefix, "limit": quantity, "offset": options.offset or 0})
        if status != 200:
            raise self._fault(status, body, "number search failed")
        if not isinstance(body, dict) or body.get("status") != "success":
            return []
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise errors.MalformedResponse(self.name, "search `data` is not an object")
        return [SearchResult(normalize(did), self.name, "discovery",
                             dict(extra) if isinstance(extra, dict) else {"value": extra},
                             locality=_locality(extra))
                for did, extra in data.items()]

    def _find_blocks(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        limit = options.blocks
        limit_text = str(limit).lower() if isinstance(limit, bool) else str(limit)
        status, body = self._request(
            "GET", f"/blocks/{self.country}/search", deadline=options.deadline,
            params={"prefix": prefix, "size": quantity, "offset": options.offset or 0,
                    "limit": limit_text})
        if status != 200:
            raise self._fault(status, body, "block search failed")
        if not isinstance(body, dict) or body.get("status") != "success":
            return []
        out: list[SearchResult] = []
        for block in body.get("data") or []:
            if not isinstance(block, dict):
                raise errors.MalformedResponse(self.name, "a block is not an object")
            first, last = block.get("start_number"), block.get("end_number")
            if not first or not last:
                raise errors.MalformedResponse(self.name, "a block lacks its start or end")
            span = (normalize(first), normalize(last))
            for number in span:
                out.append(SearchResult(number, self.name, "discovery", dict(block),
                                        block=span))
        return out

    # -- check -----------------------------------------------------------------------------

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        if not self.base_url:
            raise errors.CarrierMisconfigured(self.name, "phonebook_url")
        status, body = self._request("POST", f"/numbers/{self.country}/status",
                                     json={"data": [to_npan(normalize(n)) for n in numbers]})
        if status != 200:
            raise self._fault(status, body, "status check failed")
        if not isinstance(body, dict) or body.get("status") != "success":
            raise errors.CarrierFault(self.name, "status check refused")
        out: dict[str, str] = {}
        for entry in body.get("data") or []:
            if isinstance(entry, dict) and entry.get("number") and entry.get("status"):
                out[normalize(str(entry["number"]))] = str(entry["status"])
        return out

    # -- buy / release ---------------------------------------------------------------------

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        if not self.base_url:
            raise errors.CarrierMisconfigured(self.name, "phonebook_url")
        endpoints = self.config.get("endpoints") or []
        status, body = self._request(
            "PUT", f"/numbers/{self.country}/order", number=num,
            json={"data": {"numbers": [num], "gateways": list(endpoints)}})
        if status != 200:
            raise self._fault(status, body, "lookup_failed", num)
        entry = (body or {}).get("data", {}).get(num) if isinstance(body, dict) else None
        if not isinstance(entry, dict) or entry.get("status") != "success":
            said = entry.get("message") if isinstance(entry, dict) else None
            raise errors.CarrierFault(self.name, "lookup_resp_error" + (f": {said}" if said
                                                                        else ""), number=num)
        if entry.get("opaque"):
            number.set_carrier_data(entry["opaque"])
        if entry.get("locality"):
            number.set_feature("locality", entry["locality"])
        return number

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        return number


def _locality(extra: Any) -> dict[str, Any] | None:
    if isinstance(extra, dict) and isinstance(extra.get("locality"), dict):
        return dict(extra["locality"])
    return None
