"""How numbers are answered: Crossbar's number JSON with the features the number may have,
per-number collection results, and the one rule about existence.

**Existence is never revealed.** A number the caller may not see (another account's, or one
knm does not hold) answers `404 not_found` on every route that acts on an existing number,
alone or in a collection; a `403 forbidden` about such a number would say that it exists.
"""

from __future__ import annotations

from typing import Any

from knm import errors, numbers
from knm.api import auth
from knm.api.auth import Caller
from knm.api.envelope import JSONBody, collection, success
from knm.numbers import features
from knm.record import PhoneNumber


def rules_for(caller: Caller) -> features.RulesCache:
    return features.RulesCache(is_admin=caller.is_admin, reseller_of=auth.reseller_of)


def number_json(pn: PhoneNumber, rules: features.RulesCache) -> dict[str, Any]:
    return features.public_json(pn, rules)


def number_answer(pn: PhoneNumber, caller: Caller, *, status_code: int = 200) -> JSONBody:
    """One number, with the envelope's `metadata` (its `_read_only`, which is where Monster UI
    reads `metadata.features.available` for its feature menus)."""
    body = number_json(pn, rules_for(caller))
    return success(body, status_code=status_code, metadata=body["_read_only"])


def visible(caller: Caller, number: str) -> PhoneNumber:
    """The stored number, or `404 not_found` when the caller may not see it (the operations'
    own rule: available numbers are public, others need the caller to be authorized)."""
    try:
        return numbers.get(number, auth_by=caller.account_id)
    except errors.Forbidden as exc:
        raise errors.NotFound(number) from exc


def _concealed(caller: Caller, wanted: list[str]) -> set[str]:
    """Which of `wanted` are stored but hidden from the caller (a new number refused to a
    caller is a refusal about the caller, and stays a `403`)."""
    found = numbers.get(wanted, auth_by=caller.account_id)
    return {num for num, exc in found.failed.items() if isinstance(exc, errors.Forbidden)}


def hidden(caller: Caller, number: str, exc: errors.KnmError) -> errors.KnmError:
    """`exc`, or `not_found` when it is a refusal about a number the caller may not see."""
    if isinstance(exc, errors.Forbidden) and _concealed(caller, [number]):
        return errors.NotFound(number)
    return exc


def collection_answer(result: Any, caller: Caller) -> JSONBody:
    """Crossbar's per-number answer (SPEC §10): 200 when a number succeeded, 400 when all
    failed; refusals about numbers the caller may not see read `not_found`."""
    rules = rules_for(caller)
    ok = {pn.number: number_json(pn, rules) for pn in result.succeeded}
    refused = [num for num, exc in result.failed.items() if isinstance(exc, errors.Forbidden)]
    concealed = _concealed(caller, refused) if refused else set()
    failed: dict[str, Any] = {}
    for num, exc in result.failed.items():
        if num in concealed:
            exc = errors.NotFound(num)
        failed[str(num)] = exc.to_json() if isinstance(exc, errors.KnmError) else exc
    return collection(ok, failed)
