"""Orders over HTTP (SPEC §5.1, §10): the unsettled purchases and releases of an account, a
"settle now", and the carriers' webhooks that settle them at once.

The webhook route takes no knm token: the carrier proves itself (Telnyx's Ed25519 signature,
Bandwidth's Basic credentials), and an unverifiable request is a 401 that changes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from knm import errors, numbers
from knm.api.auth import Caller, authenticate, authorize
from knm.api.envelope import success
from knm.api.present import collection_answer
from knm.api.requests import SOME_NUMBERS_BODY, json_data, number_list
from knm.api.routes import ACCOUNT, V2

router = APIRouter()

#: the most a webhook body may carry (a carrier's notification is a few kilobytes)
MAX_WEBHOOK_BYTES = 256 * 1024


@router.get(ACCOUNT + "/orders", tags=["orders"],
            summary="Unsettled purchases and releases of the account and its descendants, "
                    "and their E911 / caller-name changes still pending at carriers")
def list_orders(account_id: str, caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    return success([numbers.order_summary(pn)
                    for pn in numbers.unsettled(account_id=account.id)]
                   + numbers.pending_features(account_id=account.id))


@router.post(ACCOUNT + "/orders/settle", tags=["orders"],
             openapi_extra=SOME_NUMBERS_BODY,
             summary="Ask the carriers now what became of unsettled orders (all of the "
                     "account's, or `data.numbers`)")
def settle_orders(account_id: str, data: dict[str, Any] = Depends(json_data),
                  caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    if "numbers" in data:
        wanted = number_list(data)
    else:
        wanted = list(dict.fromkeys(
            [pn.number for pn in numbers.unsettled(account_id=account.id)]
            + [row["number"] for row in numbers.pending_features(account_id=account.id)]))
    result = numbers.settle(wanted, auth_by=caller.account_id)
    return collection_answer(result, caller)


@router.post(V2 + "/carriers/{carrier}/webhooks", tags=["orders"],
             summary="A carrier's order notification, verified by the carrier's signature")
async def carrier_webhook(carrier: str, request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        raise errors.Invalid("body", f"a webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
    settled = await run_in_threadpool(numbers.apply_webhook, carrier, dict(request.headers),
                                      body)
    return success({"settled": {s.number: s.outcome for s in settled}})
