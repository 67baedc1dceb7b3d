"""knm_telnyx: Telnyx API v2 (JSON) — search, number orders, release, ownership check.

Kazoo spoke Telnyx's retired v1 "origination" API (search objects, `x-api-token`); this is v2
(carriers/current-apis.md §2): a stateless `GET /available_phone_numbers` with `filter[…]`
parameters, `POST /number_orders` whose status may stay `pending` (polled, bounded), and a
real release (`DELETE /phone_numbers/{id}`, the id found by number). Kazoo's
`should_keep_best_effort` keeps its meaning: near matches are dropped unless it is true.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import httpx
import phonenumbers

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier, OrderStatus
from knm.record import PhoneNumber

TOLLFREE_NPAS = frozenset({"800", "833", "844", "855", "866", "877", "888"})
#: Telnyx error codes (or words) meaning the number can no longer be bought
UNAVAILABLE_CODES = ("85001",)
ORDER_STATES = {"success": "complete", "failure": "failed", "pending": "pending"}


class Telnyx(HttpCarrier):
    """Telnyx (API v2). Numbers in E.164 on the wire; auth `Authorization: Bearer <api_key>`."""

    name = "knm_telnyx"
    default_base_url = "https://api.telnyx.com/v2"
    async_orders = True
    capabilities = frozenset({"search_local", "search_npanxx", "search_tollfree",
                              "international", "buy", "release", "check", "async_orders",
                              "locality"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("api_key", required=True, secret=True, description="Telnyx API v2 key"),
        Setting("connection_id", description="connection (SIP trunk) bought numbers route to"),
        Setting("messaging_profile_id", description="messaging profile for bought numbers"),
        Setting("should_keep_best_effort", bool, default=False,
                description="keep near matches Telnyx offers when exact ones run out"),
        Setting("max_search_quantity", int, default=500, description="cap on filter[limit]"),
    )

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config['api_key']}",
                "Accept": "application/json"}

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        if message and (any(code in message for code in UNAVAILABLE_CODES)
                        or "not available" in message.lower()):
            return errors.NumberUnavailable
        return None

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        keep_best_effort = bool(self.config["should_keep_best_effort"])
        limit = max(1, min(quantity, int(self.config["max_search_quantity"])))
        params: dict[str, Any] = {"filter[limit]": limit,
                                  "filter[best_effort]": str(keep_best_effort).lower()}
        if prefix.startswith("+1"):
            digits = prefix[2:]
            params["filter[country_code]"] = (options.country if options.country in ("US", "CA")
                                              else "US")
            if digits[:3] in TOLLFREE_NPAS or options.extra.get("tollfree"):
                params["filter[phone_number_type]"] = "toll_free"
            if len(digits) >= 3:
                params["filter[national_destination_code]"] = digits[:3]
                if digits[3:]:
                    params["filter[phone_number][starts_with]"] = digits[3:]
            elif digits:
                params["filter[phone_number][starts_with]"] = digits
        else:
            country = _country_of(prefix) or options.country
            if not country:
                return []
            params["filter[country_code]"] = country
            dial = str(phonenumbers.country_code_for_region(country))
            national = prefix[1 + len(dial):] if prefix[1:].startswith(dial) else ""
            if national:
                params["filter[phone_number][starts_with]"] = national
        for key in ("locality", "administrative_area", "rate_center"):
            if options.extra.get(key):
                params[f"filter[{key}]"] = options.extra[key]
        response = self.get("/available_phone_numbers", params=params,
                            deadline=options.deadline)
        doc = self.parse_json(response)
        rows = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise self.fault(errors.MalformedResponse, "search answer without a data list",
                             status=response.status_code)
        out: list[SearchResult] = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("phone_number"), str):
                continue
            best_effort = bool(row.get("best_effort"))
            if best_effort and not keep_best_effort:
                continue
            number = row["phone_number"]
            if not best_effort and not number.startswith(prefix):
                continue
            out.append(SearchResult(number, self.name, carrier_data=_carrier_data(row),
                                    locality=_locality(row)))
        return out[:limit]

    # -- order --------------------------------------------------------------------------------

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        reference = f"knm-{uuid.uuid4().hex}"
        body: dict[str, Any] = {"phone_numbers": [{"phone_number": num}],
                                "customer_reference": reference}
        for key in ("connection_id", "messaging_profile_id"):
            if self.config.get(key):
                body[key] = self.config[key]
        response = self.post("/number_orders", json=body, number=num)
        first = self._order_status(self.parse_json(response, number=num), num)
        order_id = first.extra["id"]
        number.set_carrier_data({**number.carrier_data, "order_id": order_id,
                                 "customer_reference": reference})

        def fetch() -> OrderStatus:
            got = self.get(f"/number_orders/{order_id}", number=num)
            return self._order_status(self.parse_json(got, number=num), num)

        done = self.poll_order(number, order_id, fetch, first)
        data = {k: v for k, v in number.carrier_data.items() if k != "order_status"}
        data.update(order_id=order_id, customer_reference=reference, order_status=done.status)
        number.set_carrier_data(data)
        return number

    def _order_status(self, doc: Any, num: str) -> OrderStatus:
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict) or not data.get("id") or "status" not in data:
            raise self.fault(errors.MalformedResponse, "order answer without id and status",
                             number=num)
        status = str(data["status"])
        state = ORDER_STATES.get(status, "pending")
        mine = [p for p in data.get("phone_numbers") or []
                if isinstance(p, dict) and p.get("phone_number") == num]
        if mine and mine[0].get("status") == "failure":
            state = "failed"
        message = None
        if state == "failed":
            message = f"number order {data['id']} failed"
        return OrderStatus(state, status, data, message, extra={"id": str(data["id"])})

    # -- release and check --------------------------------------------------------------------

    def _owned(self, num: str) -> dict[str, Any] | None:
        """The phone-number resource Telnyx holds for `num` (the filter wants digits only)."""
        response = self.get("/phone_numbers", number=num,
                            params={"filter[phone_number]": num.lstrip("+"),
                                    "page[size]": 1})
        doc = self.parse_json(response, number=num)
        rows = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise self.fault(errors.MalformedResponse, "phone_numbers answer without data",
                             number=num)
        return next((r for r in rows if isinstance(r, dict) and r.get("phone_number") == num),
                    None)

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        owned = self._owned(num)
        if owned is None or not owned.get("id"):
            raise errors.CarrierNotFound(self.name, f"{num} is not a number of this account",
                                         number=num)
        self.delete(f"/phone_numbers/{owned['id']}", number=num)
        number.set_carrier_data({**number.carrier_data, "phone_number_id": str(owned["id"]),
                                 "release_status": "deleted"})
        return number

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """Telnyx's status (`active`, `purchase-pending`, …) of each number this account
        holds; numbers it does not hold are left out."""
        out: dict[str, str] = {}
        for num in numbers:
            owned = self._owned(num)
            if owned and owned.get("status"):
                out[num] = str(owned["status"])
        return out


def _country_of(prefix: str) -> str | None:
    """The region of an E.164 prefix's dial code (`+44…` → `GB`), if one is unambiguous."""
    for length in (1, 2, 3):
        try:
            code = int(prefix[1:1 + length])
        except ValueError:
            return None
        region = phonenumbers.region_code_for_country_code(code)
        if region and region != "ZZ":
            return region
    return None


def _carrier_data(row: dict[str, Any]) -> dict[str, Any]:
    data = {k: row[k] for k in ("best_effort", "cost_information", "quickship", "reservable")
            if k in row}
    return data


def _locality(row: dict[str, Any]) -> dict[str, Any] | None:
    regions = {r.get("region_type"): r.get("region_name")
               for r in row.get("region_information") or [] if isinstance(r, dict)}
    locality = {"city": regions.get("location"), "region": regions.get("state"),
                "country": regions.get("country_code"), "rate_center": regions.get("rate_center")}
    locality = {k: v for k, v in locality.items() if v}
    return locality or None
