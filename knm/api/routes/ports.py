"""Port requests (`…/port_requests…`, Kazoo's `cb_port_requests`; `PUT …/phone_numbers/{N}/port`
is in `numbers`): knm cannot honour them yet, so every route answers `501 not_implemented` in
Kazoo's envelope — never a 404 that reads "no such port request", never a silent 200.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from knm import errors
from knm.api.auth import Caller, authenticate, authorize
from knm.api.routes import V2

router = APIRouter()
METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE"]


def _refused() -> errors.KnmError:
    return errors.KnmError("port requests are not implemented by knm yet", code=501,
                           error="not_implemented", cause="port_requests")


def account_ports(account_id: str, rest: str = "",
                  caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    raise _refused()


def system_ports(rest: str = "", caller: Caller = Depends(authenticate)) -> Response:
    raise _refused()


for _path, _endpoint in (("/accounts/{account_id}/port_requests", account_ports),
                         ("/accounts/{account_id}/port_requests/{rest:path}", account_ports),
                         ("/accounts/{account_id}/descendants/port_requests", account_ports),
                         ("/accounts/{account_id}/descendants/port_requests/{rest:path}",
                          account_ports),
                         ("/port_requests", system_ports),
                         ("/port_requests/{rest:path}", system_ports)):
    for _method in METHODS:
        router.add_api_route(V2 + _path, _endpoint, methods=[_method], tags=["ports"],
                             summary="Port requests (not implemented: 501)",
                             include_in_schema="{rest:path}" not in _path,
                             operation_id=f"ports_{_method.lower()}_{_path}")
