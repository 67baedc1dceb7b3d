"""Abuse limits (issue "Carrier answers and callers that can't hurt knm", item 3): `429` with
`Retry-After` when one client, or one API key, asks too often.

What is limited is what costs something: trading API keys for tokens (`PUT /v2/api_auth`,
guessing keys or minting tokens), and the anonymous system search (each one may reach the
operator's carriers and spend their quota). The limits are settings of `number_manager`
(`rate_limit_api_auth_per_client`, `rate_limit_api_auth_per_key`,
`rate_limit_public_search_per_client`, in the `limits` notation: `"30/minute"`; `""` turns
one off) and read on every check, so `knm config set` changes them at run time. Counters live
in Redis when `KNM_CACHE_URL` points at Redis — every worker and node then counts together —
and in the process otherwise (each worker counts alone: the limit is per worker).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from functools import lru_cache
from typing import Any

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from knm import config, errors, store

API_AUTH_PER_CLIENT = "rate_limit_api_auth_per_client"
API_AUTH_PER_KEY = "rate_limit_api_auth_per_key"
PUBLIC_SEARCH_PER_CLIENT = "rate_limit_public_search_per_client"
DEFAULTS = {API_AUTH_PER_CLIENT: "30/minute", API_AUTH_PER_KEY: "30/minute",
            PUBLIC_SEARCH_PER_CLIENT: "120/minute"}


class TooManyRequests(errors.KnmError):
    """A caller went over one of knm's own limits (not a carrier's: that is `RateLimited`)."""

    code, error = 429, "too_many_requests"
    default_message = "too many requests; retry later"

    def __init__(self, cause: str, retry_after: float) -> None:
        super().__init__(cause=cause)
        self.retry_after = max(1, int(retry_after + 0.999))

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "retry_after": self.retry_after}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


_lock = threading.Lock()
_limiter: tuple[str, MovingWindowRateLimiter, Storage] | None = None


def _storage_url() -> str:
    url = os.environ.get("KNM_CACHE_URL", "")
    return url if url.startswith(("redis://", "rediss://")) else "memory://"


def _deployment() -> str:
    """Counters are shared by the processes of one deployment — those on one database —
    and kept apart from another deployment's on the same Redis."""
    return hashlib.sha256((store.current_url() or "").encode()).hexdigest()[:12]


def limiter() -> MovingWindowRateLimiter:
    """The process's limiter, on the storage `KNM_CACHE_URL` calls for."""
    global _limiter
    url = _storage_url()
    name = f"{url}#{_deployment()}"
    current = _limiter
    if current is None or current[0] != name:
        with _lock:
            if _limiter is None or _limiter[0] != name:
                options = {} if url == "memory://" else {"key_prefix": f"knm:{_deployment()}"}
                storage = storage_from_string(url, **options)
                _limiter = (name, MovingWindowRateLimiter(storage), storage)
            current = _limiter
    return current[1]


def reset() -> None:
    """Forget every counter (tests; an operator lifting a block)."""
    with _lock:
        if _limiter is not None:
            _limiter[2].reset()


@lru_cache(maxsize=64)
def _items(text: str) -> tuple[RateLimitItem, ...]:
    try:
        return tuple(parse_many(text))
    except ValueError:
        return ()


def _limits_of(setting: str) -> tuple[RateLimitItem, ...]:
    value = config.system(setting)
    if value is None:
        value = DEFAULTS[setting]
    return _items(str(value)) if value else ()


def hit(setting: str, who: str, what: str) -> None:
    """Count one request of `who` against `setting`; over the limit → `TooManyRequests`."""
    items = _limits_of(setting)
    if not items:
        return
    current = limiter()
    for item in items:
        if not current.hit(item, setting, who):
            reset_at, _ = current.get_window_stats(item, setting, who)
            raise TooManyRequests(what, reset_at - time.time())


def client_of(request: Request) -> str:
    """The calling address (behind a proxy, uvicorn's `--forwarded-allow-ips` makes it the
    client's own, from `X-Forwarded-For`)."""
    return request.client.host if request.client else "unknown"


def key_digest(key: str) -> str:
    """A counter name for an API key that is not the key itself (counters may sit in Redis)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def check_api_auth(request: Request, key: str) -> None:
    hit(API_AUTH_PER_CLIENT, client_of(request), "too many api_auth requests from this client")
    hit(API_AUTH_PER_KEY, key_digest(key), "too many api_auth requests for this API key")


def check_public_search(request: Request) -> None:
    hit(PUBLIC_SEARCH_PER_CLIENT, client_of(request),
        "too many anonymous searches from this client")
