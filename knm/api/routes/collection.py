"""Several numbers at once: `PUT|POST|PATCH|DELETE …/phone_numbers/collection` and
`…/collection/activate`. Body `{"data": {"numbers": [...], …}}`; the other keys of `data`
apply to every number. The answer has per-number results (SPEC §10): 200 with both maps when
a number succeeded, 400 with both when every one failed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from knm import carriers as facade
from knm import errors, numbers
from knm.api.auth import Caller, authenticate, authorize
from knm.api.present import collection_answer
from knm.api.requests import NUMBERS_BODY, creation_state, json_data, number_list, public_fields
from knm.api.routes import ACCOUNT
from knm.numbers import BulkResult

router = APIRouter()
BASE = ACCOUNT + "/collection"


def carrier_module(data: dict[str, Any], caller: Caller) -> str | None:
    """Kazoo's `carrier_name` (`knm_rename_carrier`): the carrier module the numbers are to
    be of — a superduper admin's choice only, and a carrier knm knows. Never stored."""
    name = data.get("carrier_name")
    if name is None or name == "":
        return None
    if not isinstance(name, str):
        raise errors.Invalid("carrier_name", "`carrier_name` must be a carrier's name")
    if not caller.is_admin:
        raise errors.Forbidden(cause="carrier_name", message="renaming a number's carrier "
                               "(`carrier_name`) is for superduper admins only")
    module = name
    while module.startswith(("knm_", "wnm_")):
        module = module[4:]
    module = "knm_" + module
    if facade.carrier_class(module) is None:
        raise errors.Invalid("carrier_name", f"'{name}' is not known by the system")
    return module


def each_failed(wanted: list[str], exc: errors.KnmError) -> BulkResult:
    """A refusal that applies to every number, answered per number as Kazoo does."""
    return BulkResult([], dict.fromkeys(wanted, exc))


@router.put(BASE, openapi_extra=NUMBERS_BODY, tags=["collection"],
            summary="Create several numbers (`carrier_name`: admins only)")
def create_many(account_id: str, data: dict[str, Any] = Depends(json_data),
                caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    wanted = number_list(data)
    state = creation_state(data)
    try:
        module = carrier_module(data, caller)
    except errors.KnmError as exc:
        return collection_answer(each_failed(wanted, exc), caller)
    result = numbers.create(wanted, assign_to=account.id, auth_by=caller.account_id,
                            state=state, module_name=module,
                            public_fields=public_fields(data) or None)
    return collection_answer(result, caller)


@router.post(BASE, openapi_extra=NUMBERS_BODY, tags=["collection"],
             summary="Replace the public fields of several numbers")
def update_many(account_id: str, data: dict[str, Any] = Depends(json_data),
                caller: Caller = Depends(authenticate)) -> Response:
    return _update_many(account_id, data, caller, merge=False)


@router.patch(BASE, openapi_extra=NUMBERS_BODY, tags=["collection"],
              summary="Merge into the public fields of several numbers (`null` removes)")
def patch_many(account_id: str, data: dict[str, Any] = Depends(json_data),
               caller: Caller = Depends(authenticate)) -> Response:
    return _update_many(account_id, data, caller, merge=True)


def _update_many(account_id: str, data: dict[str, Any], caller: Caller, *, merge: bool
                 ) -> Response:
    """POST (replace) and PATCH (merge) of several numbers' public fields: one path, so the
    two differ only in how the fields are applied."""
    authorize(caller, account_id)
    wanted = number_list(data)
    try:
        module = carrier_module(data, caller)
    except errors.KnmError as exc:
        return collection_answer(each_failed(wanted, exc), caller)
    fields = {"merge_fields" if merge else "public_fields": public_fields(data)}
    result = numbers.update(wanted, auth_by=caller.account_id, module_name=module, **fields)
    return collection_answer(result, caller)


@router.delete(BASE, openapi_extra=NUMBERS_BODY, tags=["collection"],
               summary="Release several numbers (`?hard=true`: delete them, admins only)")
def release_many(account_id: str, hard: bool = Query(False),
                 data: dict[str, Any] = Depends(json_data),
                 caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    wanted = number_list(data)
    if hard:
        result = numbers.delete(wanted, auth_by=caller.account_id)
    else:
        result = numbers.release(wanted, auth_by=caller.account_id)
    return collection_answer(result, caller)


@router.put(BASE + "/activate", openapi_extra=NUMBERS_BODY, tags=["collection"],
            summary="Buy several numbers into the account")
def activate_many(account_id: str, data: dict[str, Any] = Depends(json_data),
                  caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    result = numbers.move(number_list(data), account.id, auth_by=caller.account_id,
                          public_fields=public_fields(data) or None)
    return collection_answer(result, caller)


router.add_api_route(BASE + "/activate", activate_many, methods=["POST"],
                     openapi_extra=NUMBERS_BODY, tags=["collection"],
                     summary="Buy several numbers into the account (POST alias)")
