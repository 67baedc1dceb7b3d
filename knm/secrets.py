"""Secrets, written once: which settings are secret, how they are shown, and how they are
scrubbed from every text that leaves knm (errors, logs, CLI and HTTP output).

Why one module: a credential leaks through whichever path forgot it. A carrier's message may
quote the password raw, URL-encoded (a query string), XML-escaped (a SOAP fault echoing the
request), JSON-escaped, or inside the `Basic`/`Bearer` header value knm sent; a database URL
carries `user:pass@` or `?password=`. Every one of those forms is handled here, and every sink
(carrier errors, the facade, the CLI, the API's log formatter, httpx's own log records) calls
this module rather than its own copy.

The log filter needs to know the live secrets of the whole process. They are kept per owner
(one carrier instance, one API request…) in a registry with a fixed capacity: an owner that
is replaced or closed is forgotten, and the oldest owners make room when it is full, so the
registry — and the work per log record — stay bounded however long the process runs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

MASK = "***"
#: SPEC §7: a key ending in one of these names holds a secret (`api_key`, `auth_password`, …);
#: `authorization` covers header dumps, `pass` Vitelity's Kazoo-era password key
SECRET_KEY_PATTERN = re.compile(r"(password|token|secret|api_?key|key|authorization)$|^pass$",
                                re.IGNORECASE)
#: shortest value worth scrubbing: masking every "a" or "1" would destroy messages
MIN_SECRET_LENGTH = 3
#: an `Authorization` value in any text: the scheme is kept, the credential masked
AUTH_HEADER_VALUE = re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
#: `scheme://user:password@host` in any text
URL_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*):([^@/?#\s]*)@")
#: `password=…` (and the other secret names) in a query string or a `key=value` text
SECRET_ASSIGNMENT = re.compile(
    r"""(?ix)
    (["']?[\w-]*(?:password|token|secret|api_key|apikey|key|authorization)["']?\s*[:=]\s*)
    (?:"[^"]*"|'[^']*'|(?:bearer|basic)\s+\S+|[^\s,;&}'"]+)
    """
)


def is_secret_key(key: str) -> bool:
    """Does a setting of this name hold a secret (SPEC §7)?"""
    return bool(SECRET_KEY_PATTERN.search(str(key)))


def masked(values: Mapping[str, Any], secret_keys: Iterable[str] = ()) -> dict[str, Any]:
    """A copy fit for display: every secret value (by its key's name, or declared in
    `secret_keys`) shown as `***`, nested mappings included; empty values stay empty."""
    declared = frozenset(secret_keys)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = masked(value, declared)
        elif (key in declared or is_secret_key(key)) and value not in (None, ""):
            out[key] = MASK
        else:
            out[key] = value
    return out


def basic_credential(user: str, password: str) -> str:
    """The credential of an `Authorization: Basic …` header (what follows `Basic `)."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def forms_of(secret: str) -> set[str]:
    """Every way `secret` may appear in a carrier's answer or a log line."""
    if len(secret) < MIN_SECRET_LENGTH:
        return set()
    out = {secret, quote(secret, safe=""), quote_plus(secret),
           xml_escape(secret), xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
           json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    return {form for form in out if len(form) >= MIN_SECRET_LENGTH}


def redact_url(url: str) -> str:
    """A database (or any) URL fit to print: `user:***@host`, `?password=***`."""
    text = URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}:{MASK}@", str(url))
    return SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + MASK, text)


class Scrubber:
    """Masks a fixed set of secrets, in all their forms, in any text.

    Build one per owner of secrets (a carrier instance) and add what it sends: its configured
    secrets, and the exact header credentials of its requests (`add_header_value`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._forms: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: Any) -> None:
        fresh = {str(s) for s in secrets if s not in (None, "")} - self._secrets
        if not fresh:
            return
        with self._lock:
            self._secrets |= fresh
            forms: set[str] = set()
            for secret in self._secrets:
                forms |= forms_of(secret)
            # longest first, so a secret containing another is masked whole
            self._forms = tuple(sorted(forms, key=len, reverse=True))

    def add_header_value(self, value: str) -> None:
        """An `Authorization` header value sent (`Basic …`, `Bearer …`, or a bare key)."""
        scheme, _, credential = str(value).partition(" ")
        self.add(credential if credential and scheme.lower() in ("basic", "bearer")
                 else value)

    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def __call__(self, text: Any) -> str:
        out = str(text)
        for form in self._forms:
            if form in out:
                out = out.replace(form, MASK)
        out = AUTH_HEADER_VALUE.sub(lambda m: f"{m.group(1)} {MASK}", out)
        return URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}:{MASK}@", out)


def scrub(text: Any, secrets: Iterable[str] = ()) -> str:
    """`text` with `secrets` (in every form), header credentials and URL passwords masked."""
    return Scrubber(secrets)(text)


class SecretRegistry:
    """The live secrets of this process, per owner, for the log filter. Bounded: at most
    `capacity` owners; registering an owner again replaces its secrets; the oldest owner is
    forgotten when a new one needs room."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._owners: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._scrubber: Scrubber | None = Scrubber()

    def register(self, owner: str, secrets: Iterable[str]) -> None:
        values = frozenset(str(s) for s in secrets if s not in (None, ""))
        with self._lock:
            if self._owners.get(owner) == values:
                self._owners.move_to_end(owner)
                return
            self._owners[owner] = values
            self._owners.move_to_end(owner)
            while len(self._owners) > self.capacity:
                self._owners.popitem(last=False)
            self._scrubber = None

    def forget(self, owner: str) -> None:
        with self._lock:
            if self._owners.pop(owner, None) is not None:
                self._scrubber = None

    def __len__(self) -> int:
        return len(self._owners)

    def scrubber(self) -> Scrubber:
        with self._lock:
            current = self._scrubber
            if current is None:
                current = Scrubber(v for values in self._owners.values() for v in values)
                self._scrubber = current
            return current


#: the process's live secrets (carriers register theirs; the log filter reads them)
registry = SecretRegistry()


class SecretsLogFilter(logging.Filter):
    """Masks every live secret in a record before any handler sees it. httpx and httpcore log
    request URLs, and some carriers (Vitelity) put credentials in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not len(registry):
            return True
        try:
            original = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            return True
        message = registry.scrubber()(original)
        if message != original:
            record.msg, record.args = message, None
        return True


_filter = SecretsLogFilter()
_installed: set[str] = set()
_install_lock = threading.Lock()
#: the loggers of the HTTP stack carriers use
HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.http11", "httpcore.connection",
                "httpcore.proxy")


def install_log_filter(names: Iterable[str] = HTTP_LOGGERS) -> None:
    """Attach the secrets filter to these loggers (idempotent)."""
    with _install_lock:
        for name in names:
            if name not in _installed:
                logging.getLogger(name).addFilter(_filter)
                _installed.add(name)
