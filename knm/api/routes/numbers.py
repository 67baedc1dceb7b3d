"""One number: create, read, replace, merge, release (`…/phone_numbers/{N}`), buy
(`/activate`), reserve, identify, and Monster UI's "Sync" (`POST …/fix`, `…/fix/{N}`).

The last routes here take any word as `{number}`: this router is included after every other
router of `…/phone_numbers/<word>` (see `knm.api.routes`).

**What "fix" reconciles.** Kazoo's Sync copies number documents between the number databases
and the account's database, corrects `used_by` from callflows, and reconciles the services.
knm keeps each number once, so nothing can disagree between copies; what can disagree is a
number and its carrier while a purchase or release is unsettled (SPEC §5.1). `POST …/fix`
settles the account's unsettled orders (asks the carriers what happened and finishes them;
one still pending stays as it is) and answers the listing, as Kazoo does; `POST …/fix/{N}`
does the same for one number and answers it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from knm import errors, numbers, phone
from knm.api import listing
from knm.api.auth import Caller, authenticate, authorize
from knm.api.envelope import JSONBody, success
from knm.api.present import hidden, number_answer, visible
from knm.api.requests import NUMBER_BODY, creation_state, json_data, path_number, public_fields
from knm.api.routes import ACCOUNT
from knm.api.routes.collection import carrier_module
from knm.numbers import purchase

router = APIRouter()
#: states in which `identify` names the number's account (Kazoo's `check_number`)
IDENTIFIED_STATES = ("port_in", "in_service", "port_out", "reserved")


def not_implemented(what: str, cause: str) -> errors.KnmError:
    return errors.KnmError(f"{what} is not implemented by knm yet", code=501,
                           error="not_implemented", cause=cause)


# -- Sync --------------------------------------------------------------------------------------


def _settle_quietly(wanted: list[str], caller: Caller) -> None:
    """Settle what can be settled; a carrier still at work leaves its number as it is (the
    listing shows it), as Kazoo's Sync ignores what it could not fix."""
    if wanted:
        numbers.settle(wanted, auth_by=caller.account_id)


def _unsettled_of(account_id: str) -> list[str]:
    """The account's own unsettled numbers (its buyer is it; not its sub-accounts')."""
    return [pn.number for pn in numbers.unsettled(account_id=account_id)
            if ((pn.carrier_data or {}).get(purchase.ORDER_ACCOUNT) or pn.assigned_to)
            == account_id]


@router.post(ACCOUNT + "/fix", tags=["numbers"],
             summary="Sync: settle the account's unsettled orders, then list its numbers")
def fix(request: Request, account_id: str, caller: Caller = Depends(authenticate)
        ) -> Response:
    account = authorize(caller, account_id)
    _settle_quietly(_unsettled_of(account.id), caller)
    return listing.answer(account.id, caller, dict(request.query_params))


@router.post(ACCOUNT + "/fix/{number}", tags=["numbers"],
             summary="Sync one number: settle its order if unsettled")
def fix_one(account_id: str, number: str, caller: Caller = Depends(authenticate)
            ) -> Response:
    authorize(caller, account_id)
    pn = visible(caller, path_number(number))
    _settle_quietly([pn.number], caller)  # a settled number is answered as it is
    return number_answer(visible(caller, pn.number), caller)


# -- one number's sub-resources ----------------------------------------------------------------


class _ClientError(errors.KnmError):
    """Crossbar's `response_400(<<"client error">>, Data)`: `data` is Kazoo's object."""

    code, error = 400, "client error"

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__("number is not in service", cause=data.get("cause"))
        self.data = data

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), **self.data}


@router.get(ACCOUNT + "/{number}/identify", tags=["numbers"],
            summary="Which account holds the number")
def identify(account_id: str, number: str, caller: Caller = Depends(authenticate)
             ) -> Response:
    authorize(caller, account_id)
    normalized = path_number(number)
    pn = visible(caller, normalized)
    if pn.assigned_to is None:
        raise errors.NotFound(normalized)  # in no account: nothing to identify
    if pn.state not in IDENTIFIED_STATES:
        raise _ClientError({"cause": "not_in_service", "account_id": pn.assigned_to,
                            "number": pn.number})
    out = phone.identify(pn.number)
    out.update({"account_id": pn.assigned_to, "number": pn.number})
    return success(out)


def _acting(caller: Caller, number: str, call: Any) -> Any:
    """`call()`, with a refusal about a number the caller may not see answered 404."""
    try:
        return call()
    except errors.Forbidden as exc:
        raise hidden(caller, number, exc) from exc


@router.put(ACCOUNT + "/{number}/activate", status_code=201, openapi_extra=NUMBER_BODY,
            tags=["numbers"], summary="Buy the number into the account")
def activate(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
             caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    normalized = path_number(number)
    pn = _acting(caller, normalized, lambda: numbers.move(
        normalized, account.id, auth_by=caller.account_id,
        public_fields=public_fields(data) or None))
    return number_answer(pn, caller, status_code=201)


@router.put(ACCOUNT + "/{number}/reserve", status_code=201, openapi_extra=NUMBER_BODY,
            tags=["numbers"], summary="Reserve the number for the account")
def reserve(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
            caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    normalized = path_number(number)
    pn = _acting(caller, normalized, lambda: numbers.reserve(
        normalized, assign_to=account.id, auth_by=caller.account_id,
        public_fields=public_fields(data) or None))
    return number_answer(pn, caller, status_code=201)


@router.put(ACCOUNT + "/{number}/port", tags=["ports"],
            summary="Port the number in (not implemented: 501)")
def port(account_id: str, number: str, caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    path_number(number)
    raise not_implemented("porting a number in (port requests)", "port")


# -- the number itself -------------------------------------------------------------------------


@router.put(ACCOUNT + "/{number}", status_code=201, openapi_extra=NUMBER_BODY,
            tags=["numbers"], summary="Create the number in the account")
def create(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
           caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    normalized = path_number(number)
    state = creation_state(data)
    pn = numbers.create(normalized, assign_to=account.id, auth_by=caller.account_id,
                        state=state, module_name=carrier_module(data, caller),
                        public_fields=public_fields(data) or None)
    return number_answer(pn, caller, status_code=201)


@router.get(ACCOUNT + "/{number}", tags=["numbers"])
def get_number(account_id: str, number: str, caller: Caller = Depends(authenticate)
               ) -> Response:
    authorize(caller, account_id)
    return number_answer(visible(caller, path_number(number)), caller)


def _update(caller: Caller, number: str, data: dict[str, Any], *, merge: bool) -> JSONBody:
    pn = visible(caller, path_number(number))
    module = carrier_module(data, caller)
    fields = public_fields(data)
    pn = _acting(caller, pn.number, lambda: numbers.update(
        pn.number, auth_by=caller.account_id, module_name=module,
        **({"merge_fields": fields} if merge else {"public_fields": fields})))
    return number_answer(pn, caller)


@router.post(ACCOUNT + "/{number}", openapi_extra=NUMBER_BODY, tags=["numbers"],
             summary="Replace the number's public fields")
def replace_number(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
                   caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    return _update(caller, number, data, merge=False)


@router.patch(ACCOUNT + "/{number}", openapi_extra=NUMBER_BODY, tags=["numbers"],
              summary="Merge into the number's public fields (`null` removes a key)")
def patch_number(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
                 caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    return _update(caller, number, data, merge=True)


@router.delete(ACCOUNT + "/{number}", tags=["numbers"],
               summary="Release the number (`?hard=true`: delete it, admins only)")
def delete_number(account_id: str, number: str, hard: bool = Query(False),
                  caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    pn = visible(caller, path_number(number))
    if hard:
        if not caller.is_admin:
            raise errors.Forbidden(cause="hard delete needs a superduper admin")
        pn = numbers.delete(pn.number, auth_by=caller.account_id)
    else:
        if pn.state == "available" and pn.assigned_to is None:
            raise errors.NotFound(pn.number)  # nobody's: Kazoo's "from available" is a 404
        pn = _acting(caller, pn.number,
                     lambda: numbers.release(pn.number, auth_by=caller.account_id))
    return number_answer(pn, caller)
