"""Finding numbers: searches (system and per account, `reseller_id`, toll-free wildcards and
vanity letters), the account's listing, city → area codes, localities, carriers' info and
status, and the classifiers.

Crossbar's search input is wider than knm's library (SPEC §4: digits and a leading `+`); it is
translated here, before the search:
- `80*` … `88*` (Monster UI's toll-free radio buttons, Kazoo's `IS_US_TOLLFREE_WILDCARD`):
  a toll-free search (`tollfree=True`) of the digits, offering toll-free numbers only;
- letters (Monster UI's vanity search, `415FLOWERS`): dialled on a keypad (`4153569377`);
- a raw `+` in the query string (`?prefix=+44207`) is a `+`, not the space form decoding
  makes of it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from knm import accounts, config, errors, phone
from knm import carriers as facade
from knm.api import auth, listing, metrics, ratelimit
from knm.api.auth import Caller, authenticate, authorize
from knm.api.envelope import JSONBody, search_success, success
from knm.api.requests import (
    ONLY_NUMBERS_BODY,
    json_data,
    number_list,
    raw_query_value,
    search_window,
)
from knm.api.routes import ACCOUNT, V2
from knm.carriers import locality, search

router = APIRouter()


# -- search ------------------------------------------------------------------------------------


def search_input(raw: str | None, country: str) -> tuple[str, dict[str, Any]]:
    """The prefix knm searches for, and the carrier filters Crossbar's input implies."""
    if raw is None:
        raise errors.Invalid("prefix", "`prefix` is required to search")
    text = "".join(raw.split())
    tollfree = phone.tollfree_wildcard(text)
    if tollfree is not None:
        if phone.dialcode_for(country or "US") != "+1":
            raise errors.Invalid("prefix", "toll-free wildcards (`80*`) are US searches")
        return tollfree, {"tollfree": True}
    return phone.vanity_digits(text) or text, {}


def _prefix(request: Request, decoded: str | None) -> str | None:
    if decoded is None:
        return None
    raw = raw_query_value(request, "prefix")
    return decoded if raw is None else raw


def reseller_lookup(reseller_id: str) -> str:
    """Kazoo's `maybe_reseller_id_lookup`: search as a reseller that allows it
    (`number_manager.unauthorized_numbers_lookup`, its own or the system's, and it is a
    reseller or a superduper admin) — the account and reseller of the search are then it."""
    found = auth.find_account(reseller_id) if accounts.is_account_id(reseller_id) else None
    if found is None:
        raise errors.Invalid("reseller_id", f"account {reseller_id[:64]} not found")
    allowed = config.get(config.CATEGORY, "unauthorized_numbers_lookup",
                         account_id=found.id) is True
    if not (allowed and (found.is_reseller or found.superduper_admin)):
        raise errors.Forbidden(cause="reseller_id", message="number search restricted: the "
                               "reseller does not allow searches on its behalf "
                               "(unauthorized_numbers_lookup)")
    return found.id


def run_search(prefix: str, extra: dict[str, Any], quantity: int, offset: int, country: str,
               dialcode: str | None, account_id: str | None, reseller_id: str | None,
               scope: str) -> JSONBody:
    outcome = search.find_with_report(
        prefix, quantity, offset=offset, country=country or "US", dialcode=dialcode,
        account_id=account_id, reseller_id=reseller_id,
        # anonymous: the same search within a few seconds spends no carrier quota again
        reuse_s=config.system_number("public_search_reuse_s") if scope == "system" else 0.0,
        **extra)
    metrics.SEARCHES.labels(scope, "cache" if outcome.from_cache else "carriers").inc()
    failed = outcome.failure()
    if failed is not None:
        raise failed
    return search_success(outcome.results, outcome.carriers_json())


@router.get(V2 + "/phone_numbers", tags=["search"],
            summary="Search the system's carriers (no auth)")
def system_search(request: Request, prefix: str | None = None, quantity: int = 1,
                  offset: int = 0, country: str = "US", dialcode: str | None = None,
                  reseller_id: str | None = None) -> Response:
    ratelimit.check_public_search(request)
    wanted, extra = search_input(_prefix(request, prefix), country)
    account = reseller = None
    if reseller_id is not None:
        account = reseller = reseller_lookup(reseller_id)
    return run_search(wanted, extra, quantity, offset, country, dialcode, account, reseller,
                      "system")


LISTING_HELP = (
    "Without `prefix`: the account's numbers, `page_size` at a time (default 50) from "
    "`start_key` (the previous page's `next_start_key`), or all with `paginate=false`; "
    "Crossbar's filters apply: `filter_{KEY}`, `filter_not_{KEY}` (a value or a JSON list; "
    "`filter_state=[\"in_service\",\"port_in\"]`), `has_key`, `key_missing`, `has_value`, "
    "`value_missing`, `created_from`/`created_to`, `modified_from`/`modified_to`.")


@router.get(ACCOUNT, tags=["search"],
            summary="Search as the account (with `prefix`), else list its numbers",
            description=LISTING_HELP)
async def account_numbers(request: Request, account_id: str, prefix: str | None = None,
                          quantity: int = 1, offset: int = 0, country: str = "US",
                          dialcode: str | None = None, reseller_id: str | None = None,
                          page_size: int | None = None, start_key: str | None = None,
                          paginate: str | None = None, descending: str | None = None,
                          caller: Caller = Depends(authenticate)) -> Response:
    # the listing reads its parameters (and Crossbar's open-ended filters) from the query
    # string itself; they are declared above for the OpenAPI document
    del page_size, start_key, paginate, descending
    search_window(quantity, offset)
    # the account lookups are cached per process (a miss is one indexed read): done in place
    account = authorize(caller, account_id)
    if prefix is None:
        params = dict(request.query_params)
        if "start_key" in params:
            params["start_key"] = raw_query_value(request, "start_key") or ""
        return await run_in_threadpool(listing.answer, account.id, caller, params)
    wanted, extra = search_input(_prefix(request, prefix), country)
    if reseller_id is not None:
        searcher = reseller = await run_in_threadpool(reseller_lookup, reseller_id)
    else:
        searcher, reseller = account.id, auth.reseller_of(account.id)
    args = (wanted, extra, quantity, offset, country, dialcode, searcher, reseller, "account")
    if search.answers_from_store_only(account_id=searcher, reseller_id=reseller):
        # indexed reads of our own database, no carrier to wait for: answering here costs
        # less than handing the request to a thread and back
        return run_search(*args)
    return await run_in_threadpool(run_search, *args)


# -- where numbers are -------------------------------------------------------------------------


def _city(city: str | None) -> Response:
    if city is None or not city.strip():
        raise errors.Invalid("city", "`city` is required")
    return success(locality.city_prefixes(city.strip()))


@router.get(V2 + "/phone_numbers/prefix", tags=["search"],
            summary="Area codes of a city, from the phonebook (no auth)")
def system_city_prefixes(city: str | None = None) -> Response:
    return _city(city)


@router.get(ACCOUNT + "/prefix", tags=["search"],
            summary="Area codes of a city, from the phonebook")
def city_prefixes(account_id: str, city: str | None = None,
                  caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    return _city(city)


@router.post(ACCOUNT + "/locality", openapi_extra=ONLY_NUMBERS_BODY, tags=["search"],
             summary="Locality of numbers, from the phonebook")
def localities(account_id: str, data: dict[str, Any] = Depends(json_data),
               caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    return success(locality.localities(number_list(data)))


# -- carriers and classifiers ------------------------------------------------------------------


@router.get(ACCOUNT + "/carriers_info", tags=["carriers"])
def carriers_info(account_id: str, caller: Caller = Depends(authenticate)) -> Response:
    account = authorize(caller, account_id)
    return success(facade.info(caller.account_id, account.id, auth.reseller_of(account.id)))


@router.post(ACCOUNT + "/check", openapi_extra=ONLY_NUMBERS_BODY, tags=["carriers"],
             summary="Status of numbers at their carriers")
def check(account_id: str, data: dict[str, Any] = Depends(json_data),
          caller: Caller = Depends(authenticate)) -> Response:
    authorize(caller, account_id)
    return success(facade.check(number_list(data)))


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
