"""`GET /v2/accounts/{A}/phone_numbers` without `prefix`: the account's numbers as Crossbar
lists them (`phone_numbers/crossbar_listing` through `crossbar_view`).

`{"data": {"numbers": {N: entry}, "cascade_quantity": 0}, "page_size": …, "start_key": …,
"next_start_key": …}` — `page_size` is the number of entries in this page, `next_start_key`
the first number of the next page (absent on the last), Kazoo's paging keys beside `data`.
An entry is the view's row without its private keys, plus `features_available`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from knm.api import auth
from knm.api.auth import Caller
from knm.api.envelope import JSONBody, success
from knm.numbers import features, listing
from knm.record import PhoneNumber


def entry(pn: PhoneNumber, rules: features.Rules) -> dict[str, Any]:
    """One row of Kazoo's listing view (its public keys), with `features_available`."""
    feature_names = pn.features_list()
    out: dict[str, Any] = {
        "state": pn.state, "features": feature_names,
        "features_allowed": list(pn.features_allowed or []),
        "features_denied": list(pn.features_denied or []),
        "assigned_to": pn.assigned_to, "used_by": pn.used_by or "",
        "features_available": features.available_for(
            assigned_to=pn.assigned_to, used_by=pn.used_by, module_name=pn.module_name,
            features=feature_names, features_allowed=pn.features_allowed,
            features_denied=pn.features_denied, rules=rules),
    }
    if pn.created:
        out["created"] = pn.created
    if pn.modified:
        out["updated"] = pn.modified
    if pn.locality:
        out["locality"] = pn.locality
    return out


def answer(account_id: str, caller: Caller, params: Mapping[str, str]) -> JSONBody:
    """The listing page `params` (the request's query string) asks for."""
    query = listing.parse(params)
    found = listing.page(account_id, query)
    rules = features.rules(account_id, is_admin=caller.is_admin,
                           reseller_id=auth.reseller_of(account_id))
    data = {"numbers": {pn.number: entry(pn, rules) for pn in found.numbers},
            "cascade_quantity": 0}
    paging: dict[str, Any] = {"page_size": len(found.numbers)}
    if found.start_key is not None:
        paging["start_key"] = found.start_key
    if found.next_start_key is not None:
        paging["next_start_key"] = found.next_start_key
    return success(data, **paging)
