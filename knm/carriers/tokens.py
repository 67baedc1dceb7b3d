"""Short-lived bearer tokens a carrier mints with its long-lived credentials.

Some carriers authenticate with an access token obtained from a token endpoint (Sinch's and
Bandwidth's OAuth2 client credentials, DIDWW's API version 2026-11-19).
The token is a secret like the credential it came from, expires on the carrier's clock, and
may be revoked before it expires. What every such carrier needs is the same:

- one token per carrier instance, shared by its threads, minted once when several threads
  need one at the same moment (`AccessToken.get`);
- renewed a margin before it expires, so a request never leaves with a token about to die;
- registered for scrubbing the moment it is known (the carrier's `add_secret`);
- and, when the carrier answers 401 to a request sent with a token it had cached, that token
  dropped and the request sent once more with a fresh one (`TokenRefresh`): a 401 means the
  carrier refused before doing anything, so even a purchase may be resent safely.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from knm import errors

__all__ = ["AccessToken", "TokenRefresh", "token_answer"]

#: a token is renewed when less than this is left of its life
RENEW_MARGIN_S = 60.0
#: the life assumed when the token answer does not say (`expires_in` missing)
DEFAULT_LIFE_S = 300.0


class AccessToken:
    """A cached bearer token. `mint()` returns `(token, lifetime_s)` — one request to the
    carrier's token endpoint — and is called under a lock, so concurrent callers wait for
    the one mint in flight instead of each minting their own."""

    def __init__(self, mint: Callable[[], tuple[str, float]]) -> None:
        self._mint = mint
        self._lock = threading.Lock()
        #: the token and when to renew it (monotonic)
        self._value: tuple[str, float] | None = None

    def cached(self) -> str | None:
        """The token held now, if it is not due for renewal."""
        value = self._value
        if value and time.monotonic() < value[1]:
            return value[0]
        return None

    def get(self) -> str:
        """A good token: the cached one, else a newly minted one."""
        with self._lock:
            token = self.cached()
            if token:
                return token
            token, life = self._mint()
            life = max(1.0, float(life or DEFAULT_LIFE_S))
            # renewed a margin before it dies; a short-lived token, half-way through its life
            self._value = (token, time.monotonic() + life - min(RENEW_MARGIN_S, life / 2))
            return token

    def forget(self, token: str | None = None) -> None:
        """Drop the cached token (only if it is still `token`, when given)."""
        with self._lock:
            if self._value and (token is None or self._value[0] == token):
                self._value = None


def token_answer(doc: Any) -> tuple[str, float]:
    """`(access_token, expires_in)` from a token endpoint's JSON answer; `ValueError`
    without a token."""
    token = doc.get("access_token") if isinstance(doc, dict) else None
    if not isinstance(token, str) or not token:
        raise ValueError("token answer without access_token")
    try:
        life = float(doc.get("expires_in") or DEFAULT_LIFE_S)
    except (TypeError, ValueError):
        life = DEFAULT_LIFE_S
    return token, life


class TokenRefresh:
    """Mixin for an `HttpCarrier` authenticating with an `AccessToken` (put it first:
    `class Acme(TokenRefresh, HttpCarrier)`): a request refused with 401 while it carried a
    token from the cache is sent once more with a newly minted one. A token minted for the
    request itself is not retried — then the credential itself is wrong."""

    def access_token(self) -> AccessToken | None:
        """The carrier's token cache, or None when it authenticates otherwise."""
        return None

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        tokens = self.access_token() if kw.get("authenticate", True) else None
        held = tokens.cached() if tokens is not None else None
        try:
            return super().request(method, path, **kw)  # type: ignore[misc]
        except errors.CarrierCredentials:
            if tokens is None or held is None:
                raise
            tokens.forget(held)
        return super().request(method, path, **kw)  # type: ignore[misc]
