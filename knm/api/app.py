"""The Kazoo-compatible HTTP API: Crossbar's `phone_numbers` endpoints on top of `knm.numbers`.

Clients written for Kazoo point at `http://HOST:PORT/v2` and work unchanged: same paths, same
envelope, same field names, same status codes. Everything here translates HTTP into calls of
`knm.numbers` and `knm.carriers` (search included), and their results (or `KnmError`s) back
into Crossbar's JSON.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

import knm
from knm import accounts, config, errors, numbers, phone, runtime, store
from knm import cache as search_cache
from knm import carriers as facade
from knm.api import auth, console, docs, metrics, ratelimit
from knm.api import errors as api_errors
from knm.api import logging as api_logging
from knm.api.auth import Caller, authenticate, authorize
from knm.api.envelope import JSONBody, collection, failure, search_success, success
from knm.api.middleware import RequestMiddleware
from knm.carriers import search
from knm.numbers import settler
from knm.record import PhoneNumber

V2 = "/v2"
ACCOUNT = V2 + "/accounts/{account_id}/phone_numbers"
_E164 = re.compile(r"^\+[1-9]\d{1,17}$")
#: body keys that steer the request and are never stored as public fields
_CONTROL_KEYS = {"numbers", "create_with_state", "id", "_read_only", "state", "used_by",
                 "features"}

# -- request helpers -------------------------------------------------------------------------


def _schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """OpenAPI for Crossbar's `{"data": {...}}` request body (docs and schemathesis use it)."""
    data: dict[str, Any] = {"type": "object", "properties": properties,
                            "additionalProperties": True}
    if required:
        data["required"] = required
    return {"requestBody": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"data": data}}}}}}


NUMBERS_BODY = _schema({"numbers": {"type": "array", "items": {"type": "string"}}},
                       ["numbers"])
NUMBER_BODY = _schema({"create_with_state": {"type": "string"}})
API_AUTH_BODY = _schema({"api_key": {"type": "string"}}, ["api_key"])


async def json_data(request: Request) -> dict[str, Any]:
    """The `data` object of a Crossbar request body ({} when there is no body)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.Invalid("body", "request body is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise errors.Invalid("body", "request body must be a JSON object")
    data = doc.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.Invalid("data", "`data` must be a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise errors.Invalid("data", f"`data` is nested deeper than {MAX_DEPTH} levels")
    return data


MAX_DEPTH = 32


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion (a hostile body cannot blow the
    stack here, nor later when the number is saved)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            todo.extend((child, level + 1) for child in
                        (item.values() if isinstance(item, dict) else item))
    return deepest


def _number_list(data: dict[str, Any]) -> list[str]:
    found = data.get("numbers")
    if not isinstance(found, list) or not found:
        raise errors.Invalid("numbers", "`data.numbers` must be a non-empty list of numbers")
    if not all(isinstance(n, str) for n in found):
        raise errors.Invalid("numbers", "every entry of `data.numbers` must be a string")
    return list(dict.fromkeys(found))


def path_number(raw: str) -> str:
    """A number from the URL: raw `+…`, `%2B…` (decoded already) or a national form."""
    text = raw.strip()
    normalized = phone.normalize(text) if len(text) <= 64 else text
    if not _E164.match(normalized):
        raise errors.NotReconcilable(text[:64])
    return normalized


def _public_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items()
            if k not in _CONTROL_KEYS and not k.startswith("_") and not k.startswith("pvt_")}


def _visible(caller: Caller, account: accounts.Account, number: str) -> PhoneNumber:
    """The stored number, or `404 not_found` when the caller may not see it (the operations'
    own rule: available numbers are public, others need the caller to be authorized)."""
    try:
        return numbers.get(number, auth_by=caller.account_id)
    except errors.Forbidden as exc:
        raise errors.NotFound(number) from exc


def _error_json(err: Any) -> Any:
    if isinstance(err, errors.KnmError):
        return err.to_json()
    return err


def _collection_result(result: Any) -> JSONBody:
    ok = {pn.number: pn.to_public_json() for pn in result.succeeded}
    failed = {str(k): _error_json(v) for k, v in result.failed.items()}
    return collection(ok, failed)


def _listing_entry(pn: PhoneNumber) -> dict[str, Any]:
    entry: dict[str, Any] = {"state": pn.state, "features": pn.features_list(),
                             "assigned_to": pn.assigned_to, "used_by": pn.used_by or ""}
    if pn.created:
        entry["created"] = pn.created
    if pn.modified:
        entry["updated"] = pn.modified
    if pn.locality:
        entry["locality"] = pn.locality
    return entry


def _search(prefix: str, quantity: int, offset: int, country: str, dialcode: str | None,
            account: accounts.Account | None) -> JSONBody:
    account_id = account.id if account else None
    outcome = search.find_with_report(
        prefix, max(1, quantity), offset=offset, country=country or "US", dialcode=dialcode,
        account_id=account_id,
        reseller_id=auth.reseller_of(account_id) if account_id else None,
        # anonymous: the same search within a few seconds spends no carrier quota again
        reuse_s=config.system_number("public_search_reuse_s") if account is None else 0.0,
    )
    metrics.SEARCHES.labels("account" if account else "system",
                            "cache" if outcome.from_cache else "carriers").inc()
    failed = outcome.failure()
    if failed is not None:
        raise failed
    return search_success(outcome.results, outcome.carriers_json())


# -- the routes ------------------------------------------------------------------------------

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


@router.get(V2 + "/phone_numbers", tags=["search"],
            summary="Search the system's carriers (no auth)")
def system_search(request: Request, prefix: str | None = None, quantity: int = 1,
                  offset: int = 0, country: str = "US", dialcode: str | None = None
                  ) -> Response:
    ratelimit.check_public_search(request)
    if prefix is None:
        raise errors.Invalid("prefix", "`prefix` is required to search")
    return _search(prefix, quantity, offset, country, dialcode, None)


@router.get(ACCOUNT, tags=["search"],
            summary="Search as the account (with `prefix`), else list its numbers")
async def account_numbers(account_id: str, prefix: str | None = None, quantity: int = 1,
                          offset: int = 0, country: str = "US", dialcode: str | None = None,
                          caller: Caller = Depends(authenticate)) -> Response:
    # both lookups are cached per process (a miss is one indexed read): done in place
    account = authorize(caller, account_id)
    if prefix is not None:
        reseller = auth.reseller_of(account.id)
        if search.answers_from_store_only(account_id=account.id, reseller_id=reseller):
            # indexed reads of our own database, no carrier to wait for: answering here
            # costs less than handing the request to a thread and back
            return _search(prefix, quantity, offset, country, dialcode, account)
        return await run_in_threadpool(_search, prefix, quantity, offset, country, dialcode,
                                       account)
    listed = await run_in_threadpool(numbers.list_account, account.id)
    return success({"numbers": {pn.number: _listing_entry(pn) for pn in listed},
                    "cascade_quantity": 0})


@router.get(ACCOUNT + "/carriers_info", tags=["carriers"])
def carriers_info(account_id: str, caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    return success(facade.info(caller.account_id, account.id, auth.reseller_of(account.id)))


@router.post(ACCOUNT + "/check", openapi_extra=NUMBERS_BODY, tags=["carriers"],
             summary="Status of numbers at their carriers")
def check(account_id: str, data: dict[str, Any] = Depends(json_data),
          caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    return success(facade.check(_number_list(data)))


@router.get(ACCOUNT + "/classifiers", tags=["classifiers"])
def classifiers(account_id: str, caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    return success(phone.CLASSIFIERS)


@router.get(ACCOUNT + "/classifiers/{number}", tags=["classifiers"])
def classify(account_id: str, number: str, caller: Caller = Depends(authenticate)
             ) -> Response:
    authorize(caller, account_id)
    text = number.strip()[:64]
    name = phone.classify(text)
    spec = dict(phone.CLASSIFIERS.get(name or "unknown", {}))
    return success({**spec, "name": name, "number": text, "e164": phone.normalize(text)})


def _collection_routes() -> None:
    base = ACCOUNT + "/collection"

    @router.put(base, openapi_extra=NUMBERS_BODY, tags=["collection"],
                summary="Create several numbers")
    def create_many(account_id: str, data: dict[str, Any] = Depends(json_data),
                    caller: Caller = Depends(authenticate)) -> Response:
        account = authorize(caller, account_id)
        state = data.get("create_with_state")
        if state is not None and not isinstance(state, str):
            raise errors.Invalid("create_with_state", "must be a state name")
        result = numbers.create(_number_list(data), assign_to=account.id,
                                auth_by=caller.account_id, state=state,
                                public_fields=_public_fields(data) or None)
        return _collection_result(result)

    @router.post(base, openapi_extra=NUMBERS_BODY, tags=["collection"],
                 summary="Update public fields of several numbers")
    def update_many(account_id: str, data: dict[str, Any] = Depends(json_data),
                    caller: Caller = Depends(authenticate)) -> Response:
        authorize(caller, account_id)
        result = numbers.update(_number_list(data), auth_by=caller.account_id,
                                public_fields=_public_fields(data))
        return _collection_result(result)

    @router.delete(base, openapi_extra=NUMBERS_BODY, tags=["collection"],
                   summary="Release several numbers")
    def release_many(account_id: str, data: dict[str, Any] = Depends(json_data),
                     caller: Caller = Depends(authenticate)) -> Response:
        authorize(caller, account_id)
        result = numbers.release(_number_list(data), auth_by=caller.account_id)
        return _collection_result(result)

    @router.put(base + "/activate", openapi_extra=NUMBERS_BODY, tags=["collection"],
                summary="Buy several numbers into the account")
    def activate_many(account_id: str, data: dict[str, Any] = Depends(json_data),
                      caller: Caller = Depends(authenticate)) -> Response:
        account = authorize(caller, account_id)
        result = numbers.move(_number_list(data), account.id, auth_by=caller.account_id,
                              public_fields=_public_fields(data) or None)
        return _collection_result(result)

    router.add_api_route(base + "/activate", activate_many, methods=["POST"],
                         openapi_extra=NUMBERS_BODY, tags=["collection"],
                         summary="Buy several numbers into the account (POST alias)")


_collection_routes()


@router.get(ACCOUNT + "/{number}/identify", tags=["numbers"])
def identify(account_id: str, number: str, caller: Caller = Depends(authenticate)
             ) -> Response:
    account = authorize(caller, account_id)
    normalized = path_number(number)
    out = phone.identify(normalized)
    try:
        pn = _visible(caller, account, normalized)
        out["account_id"] = pn.assigned_to
    except errors.NotFound:
        pass
    return success(out)


@router.put(ACCOUNT + "/{number}/activate", status_code=201, openapi_extra=NUMBER_BODY,
            tags=["numbers"], summary="Buy the number into the account")
def activate(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
             caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    pn = numbers.move(path_number(number), account.id, auth_by=caller.account_id,
                      public_fields=_public_fields(data) or None)
    return success(pn.to_public_json(), status_code=201)


@router.put(ACCOUNT + "/{number}", status_code=201, openapi_extra=NUMBER_BODY,
            tags=["numbers"], summary="Create the number in the account")
def create(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
           caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    state = data.get("create_with_state")
    if state is not None and not isinstance(state, str):
        raise errors.Invalid("create_with_state", "must be a state name")
    pn = numbers.create(path_number(number), assign_to=account.id,
                        auth_by=caller.account_id, state=state,
                        public_fields=_public_fields(data) or None)
    return success(pn.to_public_json(), status_code=201)


@router.get(ACCOUNT + "/{number}", tags=["numbers"])
def get_number(account_id: str, number: str, caller: Caller = Depends(authenticate)
               ) -> Response:
    account = authorize(caller, account_id)
    return success(_visible(caller, account, path_number(number)).to_public_json())


@router.post(ACCOUNT + "/{number}", openapi_extra=NUMBER_BODY, tags=["numbers"],
             summary="Replace the number's public fields")
def replace_number(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
                   caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    pn = _visible(caller, account, path_number(number))
    pn = numbers.update(pn.number, auth_by=caller.account_id,
                        public_fields=_public_fields(data))
    return success(pn.to_public_json())


@router.patch(ACCOUNT + "/{number}", openapi_extra=NUMBER_BODY, tags=["numbers"],
              summary="Merge into the number's public fields")
def patch_number(account_id: str, number: str, data: dict[str, Any] = Depends(json_data),
                 caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    pn = _visible(caller, account, path_number(number))
    merged = {**_public_fields(pn.doc), **_public_fields(data)}
    merged = {k: v for k, v in merged.items() if v is not None}
    pn = numbers.update(pn.number, auth_by=caller.account_id, public_fields=merged)
    return success(pn.to_public_json())


@router.delete(ACCOUNT + "/{number}", tags=["numbers"],
               summary="Release the number (`?hard=true`: delete it, admins only)")
def delete_number(account_id: str, number: str, hard: bool = Query(False),
                  caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    pn = _visible(caller, account, path_number(number))
    if hard:
        if not caller.is_admin:
            raise errors.Forbidden(cause="hard delete needs a superduper admin")
        pn = numbers.delete(pn.number, auth_by=caller.account_id)
    else:
        pn = numbers.release(pn.number, auth_by=caller.account_id)
    return success(pn.to_public_json())


@router.get("/healthz", tags=["service"])
def healthz() -> Response:
    try:
        with store.read() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - the answer *is* the failure
        err = errors.DatabaseError(cause=type(exc).__name__, code=503,
                                   error="service_unavailable")
        return failure(err)
    return success({"status": "ok", "database": store.dialect()})


@router.get("/metrics", tags=["service"], response_class=Response)
def prometheus(request: Request) -> Response:
    expected = os.environ.get("KNM_METRICS_TOKEN")
    if expected and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(), f"Bearer {expected}".encode()):
        raise errors.Unauthenticated(cause="/metrics needs `Authorization: Bearer` with "
                                     "KNM_METRICS_TOKEN")
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


# -- the application -------------------------------------------------------------------------

_started_lock = threading.Lock()


def create_app(db_url: str | None = None) -> FastAPI:
    """The ASGI app. `db_url` switches this process's store (migrations run either way).

    Importable by string (`knm.api.app:create_app`, factory) so uvicorn can start it in
    several worker processes; each then opens the database named by `KNM_DATABASE_URL`.
    """
    with _started_lock:
        if db_url:  # this database, the search cache as it is
            runtime.configure(db=db_url, cache=search_cache.get_cache())
        else:
            store.engine()  # opens (and migrates) the configured database
        auth.clear_caches()
        metrics.install_carrier_observers()
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Handlers are synchronous and mostly CPU (Python + SQLite). Forty threads per worker
        # only fight over the GIL; a few keep the CPU busy while one waits on the database.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = _api_threads()
        # SPEC §5.1: every worker runs a settler; a lock lets one of them work at a time
        background = settler.BackgroundSettler()
        background.start()
        try:
            yield
        finally:
            background.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="knm",
        version=_version(),
        description="Kazoo-compatible phone-number API (Crossbar `phone_numbers`).",
        docs_url=None, redoc_url=None,
    )
    api_errors.install(app)
    app.include_router(router)
    app.include_router(docs.router)
    app.include_router(console.router)
    app.add_middleware(RequestMiddleware)
    return app


def _api_threads() -> int:
    """Threads per worker for request handlers (`KNM_API_THREADS`, default 8)."""
    try:
        return max(1, int(os.environ.get("KNM_API_THREADS", "8")))
    except ValueError:
        return 8


def worker_app() -> FastAPI:
    """The app as `knm serve` runs it in each worker: logging configured, then `create_app`."""
    if not api_logging.is_configured():
        api_logging.configure(os.environ.get("KNM_LOG_LEVEL", "INFO"))
    runtime.configure()  # what `knm serve` exported: KNM_DATABASE_URL, KNM_CACHE_URL
    return create_app()


def _version() -> str:
    return knm.__version__
