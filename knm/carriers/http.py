"""The template of every HTTP carrier: one client, one request, one error table.

A foreign carrier subclasses `HttpCarrier` and writes only what is its own — request building
and response parsing. Everything that must behave the same for every carrier lives here once:

- settings common to all HTTP carriers (`base_url`, `timeout_ms`, `max_response_bytes`,
  `enable_provisioning`, `sandbox_provisioning`; `order_poll_interval_ms`/`order_timeout_s`
  for carriers with asynchronous orders) merged with the subclass's own `settings`;
- one pooled, TLS-verifying `httpx.Client` per carrier instance (thread-safe);
- `request()`: ONE total deadline per request — connect, send and the whole body (never
  longer than a search's deadline, nor than `timeout_ms`), enforced on every socket
  operation, so a server dripping a byte at a time cannot hold a purchase past it; the body
  read as a stream and cut at `max_response_bytes`, its decompressed size included (a gzip
  bomb); of an error body only a bounded prefix is read. Idempotent requests are retried on
  connection failures and 502/503/504; a purchase POST never is;
- ONE table from outcomes to `knm.errors` (`error_class_for_status`), with the carrier's own
  message (hooks `extract_error_message`, `xml_error_message`, `classify_error`), every
  secret removed, and a scrubbed stand-in of the transport error as `__cause__`;
- SPEC §5.1's `unsettled`: False when the request never reached the carrier (connection
  refused, connect timeout) or could not act (a read); True for anything after a request
  that may have acted was sent (timeouts, resets, 5xx, unreadable answers);
- in-body failures (`check_reply`: a 200 whose body says no) raised as refusals, classified
  by the carrier's word table (`fault_words`, `classify_by_words`);
- the provisioning gate of SPEC §12 (`acquire_number`/`disconnect_number` → `order_number`/
  `release_number`).

Subclass contract (the small API other carriers build on)::

    class Acme(HttpCarrier):
        name = "knm_acme"
        default_base_url = "https://api.acme.example/v1"
        capabilities = frozenset({"search_local", "buy", "release"})
        settings = (Setting("api_key", required=True, secret=True),)
        wire_format = "json"                      # what `parse_reply` reads ("xml" too)
        fault_words = ((("not available",), errors.NumberUnavailable),)

        def request_headers(self) -> dict[str, str]: ...        # auth, per request
        def check_reply(self, response, body) -> None: ...      # optional: 2xx saying no
        def xml_error_message(self, root) -> str | None: ...    # optional
        def classify_error(self, response, message): ...        # optional

        def find_numbers(self, prefix, quantity, options): ...  # self.call("GET", …, deadline=…)
        def order_number(self, number): ...                     # self.call("POST", …)
        def release_number(self, number): ...

Carriers whose orders complete later subclass `knm.carriers.orders.AsyncOrderCarrier`.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import weakref
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import httpcore
import httpx

from knm import errors
from knm.carriers.base import Carrier, ScrubbedCause, Setting, short_name
from knm.carriers.orders import PURCHASE_KEYS, OrderStatus, poll_order
from knm.carriers.payloads import ERROR_PREFIX_BYTES, error_text, parse_xml_text
from knm.record import PhoneNumber
from knm.secrets import Scrubber, basic_credential, install_log_filter, registry

__all__ = [
    "COMMON_SETTINGS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ORDER_SETTINGS",
    "HttpCarrier",
    "OrderStatus",
    "ScrubbedCause",
    "WordTable",
    "classify_by_words",
    "error_class_for_status",
    "parse_xml_text",
]

log = logging.getLogger("knm.carriers.http")

#: SPEC §12: the largest answer read from a carrier, decompressed size included
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024

COMMON_SETTINGS: tuple[Setting, ...] = (
    Setting("base_url", str, description="API root; point it at a simulator to test offline"),
    Setting("timeout_ms", int, default=10000,
            description="total time one request may take, body included (a search's "
                        "deadline may shorten it)"),
    Setting("enable_provisioning", bool, default=True,
            description="false: buying and releasing are refused (or sandboxed)"),
    Setting("sandbox_provisioning", bool, default=False,
            description="with provisioning disabled, pretend buys/releases succeed"),
    Setting("max_response_bytes", int, default=DEFAULT_MAX_RESPONSE_BYTES,
            description="largest answer read (decompressed); a bigger one is malformed"),
)
ORDER_SETTINGS: tuple[Setting, ...] = (
    Setting("order_poll_interval_ms", int, default=2000,
            description="how often a pending order is polled"),
    Setting("order_timeout_s", float, default=120,
            description="how long an order is polled before it is left pending"),
    Setting("feature_wait_s", float, default=5,
            description="how long an E911 or caller-name change is polled before it is "
                        "answered PENDING and left to settling"),
)

#: statuses worth retrying for an idempotent request: the request was not (fully) processed
RETRY_STATUSES = frozenset({502, 503, 504})
#: longest carrier message kept in an error (a whole HTML error page helps nobody)
MAX_MESSAGE = 500
#: transport failures of a request that never reached the carrier (SPEC §5.1: refused)
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
            httpx.UnsupportedProtocol, httpx.ProxyError)
#: what knm can decompress with a bounded output (asked for in `Accept-Encoding`)
ACCEPT_ENCODING = "gzip, deflate"
_READ_CHUNK = 64 * 1024

#: a carrier's words → the knm error they mean, first match wins
WordTable = Sequence[tuple[Iterable[str], type[errors.CarrierFault]]]


def error_class_for_status(status: int) -> type[errors.CarrierFault]:
    """The one table from an HTTP status to a knm error (before carrier refinements)."""
    if status in (401, 403):
        return errors.CarrierCredentials
    if status == 404:
        return errors.CarrierNotFound
    if status == 409:
        return errors.NumberUnavailable
    if status == 429:
        return errors.RateLimited
    if status == 504:
        return errors.CarrierTimeout
    if status >= 500:
        return errors.CarrierUnavailable
    return errors.CarrierFault


def classify_by_words(text: str | None, table: WordTable) -> type[errors.CarrierFault] | None:
    """The error class of the first row of `table` one of whose words `text` contains
    (case-insensitive); None when no row matches. For carriers that say everything in
    words (Vitelity's `<error>`, VoIP Innovations' status texts)."""
    lowered = (text or "").lower()
    for words, cls in table:
        if any(word.lower() in lowered for word in words):
            return cls
    return None


class _UnreadableBody(Exception):
    """A body knm will not read: undecodable, or in an encoding it did not ask for."""


class _BodyTooLarge(_UnreadableBody):
    pass


# -- one total deadline per request ------------------------------------------------------------

_deadline = threading.local()


@contextmanager
def _total_deadline(ends: float) -> Iterator[None]:
    """Every socket operation of this thread's request ends by `ends` (monotonic)."""
    previous = getattr(_deadline, "ends", None)
    _deadline.ends = ends
    try:
        yield
    finally:
        _deadline.ends = previous


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """`timeout` shortened to what is left of this thread's total deadline."""
    ends = getattr(_deadline, "ends", None)
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise expired("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write is bounded by the request's total deadline, so a
    peer answering a byte at a time (each read well within httpx's per-read timeout) still
    cannot keep the request past it."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(
            ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _bounded(timeout, httpcore.ConnectTimeout), local_address,
            socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(
            path, _bounded(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """httpx's transport with the deadline-bounded network backend under its pool."""
    transport = httpx.HTTPTransport(verify=True, limits=limits)
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = _DeadlineBackend(pool._network_backend)
    else:  # pragma: no cover - another httpx/httpcore layout: per-read timeouts only
        log.warning("httpx transport without a replaceable network backend: carrier "
                    "requests are bounded per read, not by one total deadline")
    return transport


# -- bounded bodies ------------------------------------------------------------------------------


class _Decoder:
    """Content-Encoding undone with a bounded output per step (a gzip bomb never inflates
    past the limit in memory)."""

    def __init__(self, encoding: str) -> None:
        names = [e.strip().lower() for e in encoding.split(",") if e.strip()]
        self._steps: list[Any] = []
        for name in reversed(names):
            if name in ("identity", ""):
                continue
            if name in ("gzip", "x-gzip"):
                self._steps.append(zlib.decompressobj(16 + zlib.MAX_WBITS))
            elif name == "deflate":
                self._steps.append(None)  # zlib or raw deflate: decided on the first bytes
            else:
                raise _UnreadableBody(f"unsupported Content-Encoding {name!r}")

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data`; at most `room` bytes come out (more input is then left over)."""
        for index, step in enumerate(self._steps):
            if step is None:
                raw = not (len(data) >= 2 and data[0] & 0x0F == 8
                           and (data[0] << 8 | data[1]) % 31 == 0)
                step = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
                self._steps[index] = step
            out = step.decompress(data, room)
            if step.unconsumed_tail:  # the output is full: the body is too big
                return out + b"\0"
            data = out
        return data


def read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of the decoded body of a streamed `response`, and whether that is
    all of it. Neither the bytes read off the wire nor the decoded bytes held ever exceed
    about `limit` + one chunk."""
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    out = bytearray()
    try:
        for raw in response.iter_raw(_READ_CHUNK):
            out += decoder.feed(raw, limit - len(out) + 1)
            if len(out) > limit or response.num_bytes_downloaded > limit + _READ_CHUNK:
                return bytes(out[:limit]), False
    except zlib.error as exc:
        raise _UnreadableBody(f"undecodable body: {exc}") from None
    return bytes(out), True


def _buffered(response: httpx.Response, body: bytes) -> httpx.Response:
    """A plain response holding the (decoded) body read, for the carrier to parse."""
    headers = [(k, v) for k, v in response.headers.multi_items()
               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers, content=body,
                          request=response.request)


_owners = itertools.count(1)


class HttpCarrier(Carrier):
    """Template-method base of every carrier that speaks HTTP. See the module docstring."""

    #: the carrier's real API root; `base_url` in config overrides it
    default_base_url: ClassVar[str] = ""
    #: False for a carrier that works (answers nothing) without a URL (`knm_other`)
    requires_base_url: ClassVar[bool] = True
    #: orders complete later at this carrier: adds `order_poll_interval_ms`/`order_timeout_s`
    async_orders: ClassVar[bool] = False
    #: what `parse_reply` reads by default: "json" or "xml"
    wire_format: ClassVar[str] = "json"
    #: words in the carrier's refusals → the knm error they mean (see `classify_by_words`)
    fault_words: ClassVar[WordTable] = ()
    #: retries of an idempotent request after a connection failure or 502/503/504
    max_retries: ClassVar[int] = 2
    retry_backoff_s: ClassVar[float] = 0.05
    maximal_prefix_length: ClassVar[int] = 3
    user_agent: ClassVar[str] = "knm/0.1"

    def __init_subclass__(cls, **kw: Any) -> None:
        """Merge the common settings under the subclass's own (same name: the subclass wins)."""
        super().__init_subclass__(**kw)
        own = cls.__dict__.get("settings", ())
        merged: dict[str, Setting] = {s.name: s for s in COMMON_SETTINGS}
        if cls.async_orders:
            merged.update({s.name: s for s in ORDER_SETTINGS})
        for parent in cls.__mro__[1:]:
            for s in parent.__dict__.get("settings", ()):
                merged.setdefault(s.name, s)
        merged.update({s.name: s for s in own})
        if "default_base_url" in cls.__dict__ and not any(s.name == "base_url" for s in own):
            base = merged["base_url"]
            merged["base_url"] = Setting(base.name, base.type, base.required, base.secret,
                                         cls.default_base_url, base.description, base.aliases)
        cls.settings = tuple(merged.values())

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        if self.requires_base_url and not self.config.get("base_url"):
            raise errors.CarrierMisconfigured(self.name, "base_url")
        self.log = logging.getLogger(f"knm.carriers.{short_name(self.name)}")
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        # what this instance may leak: its configured secrets, and every credential it sends
        # (the exact Basic/Bearer values, OAuth tokens it obtains); the log filter knows them
        # until the instance is closed or collected (the registry replaces instances whose
        # config changed without closing them: another thread may still be using one)
        self._sent_auth: set[str] = set()
        self._scrubber = Scrubber(super().secrets())
        self._secrets_owner = f"{self.name}#{next(_owners)}"
        install_log_filter()
        registry.register(self._secrets_owner, self._scrubber.secrets())
        weakref.finalize(self, registry.forget, self._secrets_owner)

    # -- hooks a carrier may override -----------------------------------------------------------

    def request_headers(self) -> dict[str, str]:
        """Headers sent with every request (auth goes here). Called per request."""
        return {}

    def parse_reply(self, response: httpx.Response, *, number: str | None = None) -> Any:
        """The body of a 2xx answer as the carrier's format (`wire_format`), or
        `MalformedResponse`."""
        if self.wire_format == "xml":
            return self.parse_xml(response, number=number)
        return self.parse_json(response, number=number)

    def check_reply(self, response: httpx.Response, body: Any) -> None:
        """Raise when a 2xx answer's body says the carrier refused (raise `self.refusal(…)`;
        the number is filled in). Nothing by default."""
        return None

    def xml_error_message(self, root: ET.Element) -> str | None:
        """The error text of an XML error body in this carrier's own shape; None: use the
        common shapes (`Description`, `ErrorMessage`, …)."""
        return None

    def extract_error_message(self, response: httpx.Response) -> str | None:
        """The carrier's own error text from (a bounded prefix of) an error body: the
        carrier's XML shape (`xml_error_message`), else the common JSON/XML shapes, else the
        text itself."""
        content = response.content[:ERROR_PREFIX_BYTES]
        if content.lstrip()[:1] == b"<":
            try:
                root = parse_xml_text(content)
            except ValueError:
                root = None
            if root is not None:
                own = self.xml_error_message(root)
                if own:
                    return own
        return error_text(content, charset=response.charset_encoding)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        """Refine the status table with what the carrier said (e.g. its 'number unavailable'
        code in a 400). None keeps the table's answer."""
        return None

    # -- secrets ------------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Register a secret learnt at run time (an OAuth access token) for scrubbing."""
        if value:
            self._scrubber.add(str(value))
            registry.register(self._secrets_owner, self._scrubber.secrets())

    def _sending(self, headers: Mapping[str, str]) -> None:
        """Learn the credential of an `Authorization` header about to be sent."""
        value = headers.get("Authorization") or headers.get("authorization")
        if value and value not in self._sent_auth:
            self._sent_auth.add(value)
            self._scrubber.add_header_value(value)
            registry.register(self._secrets_owner, self._scrubber.secrets())

    def scrub(self, text: Any) -> str | None:
        """`text` with every configured or sent secret masked, in every form it may take."""
        if text is None:
            return None
        return self._scrubber(text)

    def info(self) -> dict[str, Any]:
        """Flags and masked settings: safe to show to anyone who may list carriers."""
        return {
            "maximal_prefix_length": self.maximal_prefix_length,
            "capabilities": sorted(self.capabilities),
            "settings": self.masked_config(),
        }

    def masked_config(self) -> dict[str, Any]:
        out = super().masked_config()
        if out.get("base_url"):
            out["base_url"] = self.scrub(out["base_url"])
        return out

    @staticmethod
    def basic_auth(user: str, password: str) -> str:
        """The value of an `Authorization: Basic …` header."""
        return "Basic " + basic_credential(user, password)

    def secrets(self) -> list[str]:
        """Configured secrets and the credentials sent so far (Basic, Bearer, tokens)."""
        return sorted(self._scrubber.secrets())

    # -- HTTP -----------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """One pooled client per carrier instance, created on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
                    self._client = httpx.Client(
                        base_url=str(self.config["base_url"]).rstrip("/"),
                        transport=_transport(limits),
                        follow_redirects=False,
                        headers={"User-Agent": self.user_agent,
                                 "Accept-Encoding": ACCEPT_ENCODING},
                    )
                    registry.register(self._secrets_owner, self._scrubber.secrets())
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        registry.forget(self._secrets_owner)

    @property
    def max_response_bytes(self) -> int:
        return max(1, int(self.config.get("max_response_bytes") or DEFAULT_MAX_RESPONSE_BYTES))

    def timeout_for(self, deadline: float | None) -> float:
        """Seconds this request may take in all: `timeout_ms`, shortened to what is left of
        the deadline (a `time.monotonic()` value). Raises `CarrierTimeout` (nothing sent, so
        not unsettled) if nothing is left."""
        timeout = max(0.001, float(self.config.get("timeout_ms") or 10000) / 1000.0)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0.005:
                raise errors.CarrierTimeout(self.name, "search deadline reached before the call",
                                            unsettled=False)
            timeout = min(timeout, left)
        return timeout

    def request(self, method: str, path: str, *, deadline: float | None = None,
                number: str | None = None, idempotent: bool | None = None,
                acts: bool | None = None, authenticate: bool = True,
                accept: Iterable[int] = (), **kw: Any) -> httpx.Response:
        """Send one request and return its 2xx response, body read; anything else raises a
        `KnmError`.

        `path` is relative to `base_url` (or absolute). `deadline` (monotonic) bounds the
        call. `number` becomes the error's cause. `idempotent` defaults to True for GET/HEAD
        only; only idempotent requests are retried. `acts` (default: not idempotent) says
        whether the request may change something at the carrier: only then can a failure
        after sending it be unsettled. `authenticate=False` leaves out `request_headers()`
        (for fetching a token). `accept` lists error statuses that are answers of this
        request rather than failures (Bandwidth's geocoder says "corrected" with a 409):
        they are returned like a 2xx, their body read up to the error-body bound. Extra
        keywords go to `httpx.Client.build_request` (`params`, `json`, `content`, `data`,
        `headers`).
        """
        accepted = frozenset(accept)
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        if acts is None:
            acts = not idempotent
        headers = {**(self.request_headers() if authenticate else {}),
                   **(kw.pop("headers", None) or {})}
        self._sending(headers)
        attempts = 1 + (self.max_retries if idempotent else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            timeout = self.timeout_for(deadline)
            started = time.monotonic()
            failure: errors.CarrierFault | None = None
            cause: ScrubbedCause | None = None
            try:
                response = self._send(method, path, headers, timeout, started + timeout, kw)
            except httpx.TimeoutException as exc:
                self._log(method, path, f"timeout after {timeout:.3f}s", started)
                # a connect timeout never reached the carrier, but waiting again would
                # overrun the same budget; report it as the timeout it is
                cause = self._cause(exc)
                failure = errors.CarrierTimeout(
                    self.name, f"no answer within {timeout:.3f}s ({type(exc).__name__})",
                    number=number, unsettled=acts and not isinstance(exc, NOT_SENT))
            except httpx.HTTPError as exc:
                self._log(method, path, f"transport error {type(exc).__name__}", started)
                if idempotent and not last and isinstance(exc, httpx.ConnectError):
                    self._backoff(attempt, deadline)
                    continue
                cause = self._cause(exc)
                failure = errors.CarrierUnavailable(
                    self.name, str(cause), number=number,
                    unsettled=acts and not isinstance(exc, NOT_SENT))
            except _UnreadableBody as exc:
                self._log(method, path, "unreadable body", started)
                cause = self._cause(exc)
                failure = errors.MalformedResponse(self.name, self.scrub(str(exc)),
                                                   number=number, unsettled=acts)
            if failure is not None:
                raise failure from cause
            self._log(method, path, str(response.status_code), started)
            if response.is_success or response.status_code in accepted:
                return response
            if idempotent and not last and response.status_code in RETRY_STATUSES:
                self._backoff(attempt, deadline)
                continue
            raise self.error_from_response(response, number=number, acts=acts)
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, path: str, *, number: str | None = None, **kw: Any) -> Any:
        """`request()`, then the body read as the carrier's format (`parse_reply`) and checked
        for an in-body refusal (`check_reply`): what most carrier methods want."""
        response = self.request(method, path, number=number, **kw)
        body = self.parse_reply(response, number=number)
        try:
            self.check_reply(response, body)
        except errors.CarrierFault as exc:
            if exc.number is None and number is not None:
                exc.number, exc.cause = number, number
            raise
        return body

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def error_from_response(self, response: httpx.Response, *, number: str | None = None,
                            acts: bool = True) -> errors.CarrierFault:
        """Map a non-2xx response to the knm error the table (and the carrier) says."""
        status = response.status_code
        try:
            message = self.extract_error_message(response)
        except Exception:  # noqa: BLE001 - a broken error body must not hide the error itself
            message = None
        if message is None and not response.content:
            message = f"HTTP {status} with an empty body"
        message = self.scrub(_clip(message))
        cls = self.classify_error(response, message) or error_class_for_status(status)
        unsettled = None if acts else False
        if cls is errors.RateLimited:
            return errors.RateLimited(self.name, message, retry_after=_retry_after(response),
                                      number=number, status=status, unsettled=unsettled)
        return cls(self.name, message, number=number, status=status, unsettled=unsettled)

    def fault(self, cls: type[errors.CarrierFault], message: str | None, *,
              number: str | None = None, status: int | None = None,
              unsettled: bool | None = None) -> errors.CarrierFault:
        """A carrier error with the message scrubbed (for faults found in a 2xx body). It
        builds the error and returns it; the caller raises it (`raise self.fault(…)`)."""
        return cls(self.name, self.scrub(_clip(message)), number=number, status=status,
                   unsettled=unsettled)

    def refusal(self, message: str | None, *, number: str | None = None,
                status: int | None = None,
                default: type[errors.CarrierFault] = errors.CarrierFault
                ) -> errors.CarrierFault:
        """The carrier said no in a body it answered normally: the error its words mean
        (`fault_words`), never unsettled — the carrier read the request and refused it."""
        cls = classify_by_words(message, self.fault_words) or default
        return self.fault(cls, message, number=number, status=status, unsettled=False)

    # -- bodies ---------------------------------------------------------------------------------

    def parsed(self, parse: Callable[..., Any], *args: Any, number: str | None = None,
               **kw: Any) -> Any:
        """`parse(*args, **kw)` — a carrier's pure parser — with its `ValueError` turned into
        the carrier's `MalformedResponse` (scrubbed, `number` as the cause)."""
        try:
            return parse(*args, **kw)
        except ValueError as exc:
            error = self.fault(errors.MalformedResponse, str(exc), number=number)
        raise error

    def parse_json(self, response: httpx.Response, *, number: str | None = None) -> Any:
        """The decoded JSON body, or `MalformedResponse`."""
        try:
            return response.json()
        except ValueError as exc:
            error = self.fault(errors.MalformedResponse,
                               f"expected JSON, got: {response.text[:200]!r}",
                               number=number, status=response.status_code)
            cause = self._cause(exc)
        raise error from cause

    def parse_xml(self, response: httpx.Response, *, number: str | None = None) -> ET.Element:
        """The XML root, parsed without DTDs/entities (an XML bomb is `MalformedResponse`)."""
        try:
            return parse_xml_text(response.content)
        except ValueError as exc:
            error = self.fault(errors.MalformedResponse, str(exc), number=number,
                               status=response.status_code)
            cause = self._cause(exc)
        raise error from cause

    # -- provisioning -------------------------------------------------------------------------

    def provisioning_allowed(self, number: PhoneNumber) -> bool:
        """True: go ahead and call the carrier. False: sandboxed, pretend success.
        Raises `ProvisioningDisabled` when provisioning is off and not sandboxed."""
        if self.config.get("enable_provisioning", True):
            return True
        if self.config.get("sandbox_provisioning"):
            self.log.info("%s: provisioning disabled, sandboxed: %s not sent", self.name,
                          number.number)
            return False
        raise errors.ProvisioningDisabled(self.name, "enable_provisioning is false",
                                          number=number.number)

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        """Provisioning gate, then `order_number`."""
        if not self.provisioning_allowed(number):
            return number
        return self.order_number(number)

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        """Provisioning gate, then `release_number`."""
        if not self.provisioning_allowed(number):
            return number
        return self.release_number(number)

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        """Buy `number` at the carrier (called only when provisioning is allowed)."""
        raise errors.NotImplementedByCarrier(self.name)

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        """Release `number` at the carrier (called only when provisioning is allowed)."""
        raise errors.NotImplementedByCarrier(self.name)

    def poll_order(self, number: PhoneNumber, order_id: str,
                   fetch: Callable[[], OrderStatus], first: OrderStatus | None = None,
                   *, pending_keys: tuple[str, str] = PURCHASE_KEYS) -> OrderStatus:
        """Bounded polling of an order a carrier placed by hand (`knm.carriers.orders.
        poll_order`); carriers whose orders are asynchronous usually subclass
        `AsyncOrderCarrier`, which does the whole sequence."""
        return poll_order(self, number, order_id, fetch, first, pending_keys=pending_keys)

    # -- internals ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, headers: dict[str, str], timeout: float,
              ends: float, kw: dict[str, Any]) -> httpx.Response:
        """One exchange under one total deadline; the body read into memory, bounded."""
        client = self.client
        request = client.build_request(method, path, headers=headers, timeout=timeout, **kw)
        with _total_deadline(ends):
            response = client.send(request, stream=True)
            try:
                limit = self.max_response_bytes if response.is_success else ERROR_PREFIX_BYTES
                length = response.headers.get("content-length", "")
                if response.is_success and length.isdigit() and int(length) > limit:
                    body, whole = b"", False  # not worth reading: it is too big already
                else:
                    body, whole = read_bounded(response, limit)
            finally:
                response.close()
        if response.is_success and not whole:
            raise _BodyTooLarge(f"answer larger than max_response_bytes ({limit} bytes)")
        return _buffered(response, body)

    def _cause(self, exc: BaseException) -> ScrubbedCause:
        return ScrubbedCause(type(exc).__name__, self.scrub(str(exc)) or "")

    def _backoff(self, attempt: int, deadline: float | None) -> None:
        pause = self.retry_backoff_s * (2 ** attempt)
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - time.monotonic() - 0.01))
        time.sleep(pause)

    def _log(self, method: str, path: str, outcome: str, started: float) -> None:
        if self.log.isEnabledFor(logging.DEBUG):
            ms = (time.monotonic() - started) * 1000
            self.log.debug("%s", self.scrub(f"{self.name} {method} {path} -> {outcome} "
                                            f"in {ms:.0f} ms"))


_SPACES = re.compile(r"\s+")


def _clip(message: str | None) -> str | None:
    if message is None:
        return None
    message = _SPACES.sub(" ", str(message)[:MAX_MESSAGE * 4]).strip()
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    for header in ("Retry-After", "X-RateLimit-Reset"):
        value = response.headers.get(header)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None
