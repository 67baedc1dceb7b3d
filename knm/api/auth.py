"""Who is calling, and may they touch this account (Kazoo's Crossbar rules).

A request authenticates with `X-Auth-Token` (Crossbar also accepts `Authorization: Bearer`
and `?auth_token=`); tokens come from `PUT /v2/api_auth` and expire after
`auth_token_ttl_s`. An account acts on itself and its descendants; a superduper admin on any
account. Token and account lookups are cached for a few seconds per process because every
request needs them and they almost never change; a token's own expiry is always honoured.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import Request
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from knm import accounts, errors
from knm.api.logging import remember_secret

#: declares the header in the OpenAPI document (the lookup below reads it itself)
token_header = APIKeyHeader(name="X-Auth-Token", auto_error=False,
                            description="token from PUT /v2/api_auth")

ACCOUNT_CACHE_S = 5.0
_MAX_ENTRIES = 10_000


class _TTLCache:
    """A small thread-safe LRU whose entries carry their own expiry time."""

    def __init__(self) -> None:
        self._data: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> object | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            if hit[0] <= time.time():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, key: str, value: object, expires_at: float) -> None:
        with self._lock:
            self._data[key] = (expires_at, value)
            self._data.move_to_end(key)
            while len(self._data) > _MAX_ENTRIES:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_tokens = _TTLCache()
_accounts = _TTLCache()


def clear_caches() -> None:
    """Forget cached tokens and accounts (the database was switched)."""
    _tokens.clear()
    _accounts.clear()


@dataclass(frozen=True)
class Caller:
    """The authenticated account of a request."""

    account_id: str

    @property
    def is_admin(self) -> bool:
        account = find_account(self.account_id)
        return bool(account and account.superduper_admin)


def find_account(account_id: str) -> accounts.Account | None:
    """`accounts.find`, cached for a few seconds."""
    cached = _accounts.get(account_id)
    if isinstance(cached, accounts.Account):
        return cached
    found = accounts.find(account_id)
    if found is not None:
        _accounts.put(account_id, found, time.time() + ACCOUNT_CACHE_S)
    return found


def reseller_of(account_id: str) -> str | None:
    """`accounts.reseller_id`, cached for a few seconds (every account search needs it)."""
    key = "reseller:" + account_id
    cached = _accounts.get(key)
    if isinstance(cached, tuple):
        return cached[0]
    found = accounts.reseller_id(account_id)
    _accounts.put(key, (found,), time.time() + ACCOUNT_CACHE_S)
    return found


def _cached_token_account(token: str) -> str | None:
    cached = _tokens.get(hashlib.sha256(token.encode()).hexdigest())
    return cached if isinstance(cached, str) else None


def _token_account(token: str) -> str | None:
    found = accounts.token_lookup(token)
    if found is None:
        return None
    account_id, expires_at = found
    _tokens.put(hashlib.sha256(token.encode()).hexdigest(), account_id,
                min(expires_at, time.time() + 60))
    return account_id


def token_of(request: Request) -> str | None:
    token = request.headers.get("x-auth-token")
    if not token:
        bearer = request.headers.get("authorization", "")
        if bearer[:7].lower() == "bearer ":
            token = bearer[7:].strip()
    if not token:
        token = request.query_params.get("auth_token")
    return token or None


async def authenticate(request: Request) -> Caller:
    """The caller, or `401 invalid_credentials` for a missing, unknown or expired token.

    Async so that a cached token costs no thread hop; a cache miss reads the database in the
    thread pool.
    """
    token = token_of(request)
    if not token:
        raise errors.Unauthenticated(cause="no X-Auth-Token")
    remember_secret(token)
    if len(token) > 512:
        raise errors.Unauthenticated(cause="unknown or expired token")
    account_id = _cached_token_account(token)
    if account_id is None:
        account_id = await run_in_threadpool(_token_account, token)
    if account_id is None:
        raise errors.Unauthenticated(cause="unknown or expired token")
    request.state.account_id = account_id
    return Caller(account_id)


def authorize(caller: Caller, account_id: str) -> accounts.Account:
    """The account `caller` wants to act on: 400 if unknown, 403 outside the caller's tree."""
    if not accounts.is_account_id(account_id):
        raise errors.Invalid("account_id", f"account id {account_id[:64]!r} is malformed")
    account = find_account(account_id)
    if account is None:
        raise errors.Invalid("account_id", f"account {account_id} not found")
    if caller.account_id == account.id or caller.account_id in account.tree:
        return account
    if caller.is_admin:
        return account
    raise errors.Forbidden(cause=account_id)

