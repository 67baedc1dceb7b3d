"""`PUT /v2/api_auth`: an account's API key traded for a token (Crossbar's shape)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from knm import accounts, config, errors
from knm.api import auth, ratelimit
from knm.api import logging as api_logging
from knm.api.envelope import success
from knm.api.requests import API_AUTH_BODY, json_data
from knm.api.routes import V2

router = APIRouter()


@router.put(V2 + "/api_auth", status_code=201, openapi_extra=API_AUTH_BODY,
            tags=["auth"], summary="Trade an account API key for an auth token")
def api_auth(request: Request, data: dict[str, Any] = Depends(json_data)) -> Response:
    key = data.get("api_key")
    if not isinstance(key, str) or not key:
        raise errors.Invalid("api_key", "`data.api_key` is required")
    api_logging.remember_secret(key)
    ratelimit.check_api_auth(request, key)
    account_id = accounts.account_for_api_key(key) if len(key) <= 256 else None
    if account_id is None:
        raise errors.Unauthenticated(cause="unknown api key")
    ttl = config.get(config.CATEGORY, "auth_token_ttl_s")
    try:
        ttl_s = float(ttl)
    except (TypeError, ValueError):
        ttl_s = 3600.0
    token = accounts.create_token(account_id, ttl_s)
    api_logging.remember_secret(token)
    account = auth.find_account(account_id)
    data_out: dict[str, Any] = {"account_id": account_id}
    if account is not None:
        data_out.update({"account_name": account.name, "is_reseller": account.is_reseller,
                         "reseller_id": accounts.reseller_id(account_id)})
    return success(data_out, status_code=201, auth_token=token)
