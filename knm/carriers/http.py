"""Shared HTTP plumbing for foreign carriers: one place for clients, timeouts, errors, XML.

A foreign carrier subclasses `HttpCarrier` and writes only what is its own — request building
and response parsing. Everything that must behave the same for every carrier lives here once:

- settings common to all HTTP carriers (`base_url`, `timeout_ms`, `enable_provisioning`,
  `sandbox_provisioning`, and for carriers with asynchronous orders `order_poll_interval_ms`
  and `order_timeout_s`) merged with the subclass's own `settings`;
- one pooled, TLS-verifying `httpx.Client` per carrier instance (thread-safe);
- `request()`: a call never outlives the search deadline; idempotent GETs are retried on
  connection failures and 502/503/504, a purchase POST never is;
- ONE table from outcomes to `knm.errors` (see `error_class_for_status`), with the carrier's own
  message extracted (`extract_error_message` hook) and every configured secret removed;
- hardened XML parsing (`parse_xml`: no DTDs, no entities, no external references);
- the provisioning gate of SPEC §12 (`acquire_number`/`disconnect_number` → `order_number`/
  `release_number`);
- bounded order polling (`poll_order`) that never forgets a pending order.

Subclass contract (the small API other carriers build on)::

    class Acme(HttpCarrier):
        name = "knm_acme"
        default_base_url = "https://api.acme.example/v1"
        async_orders = False                      # True adds the order polling settings
        capabilities = frozenset({"search_local", "buy", "release"})
        settings = (Setting("api_key", required=True, secret=True),)

        def request_headers(self) -> dict[str, str]:       # auth, per request
            return {"Authorization": f"Bearer {self.config['api_key']}"}

        def extract_error_message(self, response) -> str | None: ...   # optional
        def classify_error(self, response, message) -> type[CarrierFault] | None: ...  # optional

        def find_numbers(self, prefix, quantity, options): ...  # self.get(..., deadline=...)
        def order_number(self, number): ...                     # self.post(...)
        def release_number(self, number): ...
"""

from __future__ import annotations

import json
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import defusedxml
import defusedxml.ElementTree as SafeET
import httpx

from knm import errors
from knm.carriers.base import Carrier, Setting, short_name
from knm.carriers.orders import OrderStatus
from knm.record import PhoneNumber
from knm.secrets import Scrubber, basic_credential, install_log_filter, registry

__all__ = [
    "COMMON_SETTINGS",
    "ORDER_SETTINGS",
    "HttpCarrier",
    "OrderStatus",
    "error_class_for_status",
    "parse_xml_text",
]

log = logging.getLogger("knm.carriers.http")

COMMON_SETTINGS: tuple[Setting, ...] = (
    Setting("base_url", str, description="API root; point it at a simulator to test offline"),
    Setting("timeout_ms", int, default=10000,
            description="per-request timeout (a search's deadline may shorten it)"),
    Setting("enable_provisioning", bool, default=True,
            description="false: buying and releasing are refused (or sandboxed)"),
    Setting("sandbox_provisioning", bool, default=False,
            description="with provisioning disabled, pretend buys/releases succeed"),
)
ORDER_SETTINGS: tuple[Setting, ...] = (
    Setting("order_poll_interval_ms", int, default=2000,
            description="how often a pending order is polled"),
    Setting("order_timeout_s", float, default=120,
            description="how long an order is polled before it is left pending"),
)

#: statuses worth retrying for an idempotent request: the request was not (fully) processed
RETRY_STATUSES = frozenset({502, 503, 504})
#: longest carrier message kept in an error (a whole HTML error page helps nobody)
MAX_MESSAGE = 500


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


def parse_xml_text(text: str | bytes) -> ET.Element:
    """Parse XML with no DTD, entity or external reference allowed (billion laughs, XXE).

    Raises `ValueError` for anything unparseable or forbidden; callers turn it into
    `MalformedResponse`.
    """
    try:
        return SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except (ET.ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
        raise ValueError(f"unreadable XML: {type(exc).__name__}: {exc}") from None


class HttpCarrier(Carrier):
    """Template-method base of every carrier that speaks HTTP. See the module docstring."""

    #: the carrier's real API root; `base_url` in config overrides it
    default_base_url: ClassVar[str] = ""
    #: orders complete later at this carrier: adds `order_poll_interval_ms`/`order_timeout_s`
    async_orders: ClassVar[bool] = False
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
                                         cls.default_base_url, base.description)
        cls.settings = tuple(merged.values())

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        if not self.config.get("base_url"):
            raise errors.CarrierMisconfigured(self.name, "base_url")
        self.log = logging.getLogger(f"knm.carriers.{short_name(self.name)}")
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        # what this instance may leak: its configured secrets, and every credential it sends
        # (the exact Basic/Bearer values, OAuth tokens it obtains); the log filter knows them
        # for as long as the instance lives
        self._sent_auth: set[str] = set()
        self._scrubber = Scrubber(super().secrets())
        self._secrets_owner = f"{self.name}#{id(self)}"
        install_log_filter()
        registry.register(self._secrets_owner, self._scrubber.secrets())

    # -- hooks a carrier may override -----------------------------------------------------------

    def request_headers(self) -> dict[str, str]:
        """Headers sent with every request (auth goes here). Called per request."""
        return {}

    def extract_error_message(self, response: httpx.Response) -> str | None:
        """The carrier's own error text from an error body. The default understands the
        common JSON shapes (`errors[].detail/title`, `message`, `error`) and XML
        `Description`/`ErrorMessage`; otherwise the first line of the body."""
        text = response.text.strip()
        if not text:
            return None
        if text[:1] in "{[":
            try:
                return _json_error_message(json.loads(text)) or text
            except ValueError:
                return text
        if text.startswith("<"):
            try:
                root = parse_xml_text(text)
            except ValueError:
                return text
            parts = [el.text.strip() for el in root.iter()
                     if _local(el.tag) in ("Description", "ErrorMessage", "message", "status")
                     and el.text and el.text.strip()]
            return "; ".join(parts) or text
        return text

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
                    self._client = httpx.Client(
                        base_url=str(self.config["base_url"]).rstrip("/"),
                        verify=True,
                        follow_redirects=False,
                        headers={"User-Agent": self.user_agent},
                        limits=httpx.Limits(max_connections=100,
                                            max_keepalive_connections=50),
                    )
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        registry.forget(self._secrets_owner)

    def timeout_for(self, deadline: float | None) -> float:
        """Seconds this request may take: `timeout_ms`, shortened to what is left of the
        deadline (a `time.monotonic()` value). Raises `CarrierTimeout` if nothing is left."""
        timeout = max(0.001, float(self.config.get("timeout_ms") or 10000) / 1000.0)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0.005:
                raise errors.CarrierTimeout(self.name, "search deadline reached before the call")
            timeout = min(timeout, left)
        return timeout

    def request(self, method: str, path: str, *, deadline: float | None = None,
                number: str | None = None, idempotent: bool | None = None,
                authenticate: bool = True, **kw: Any) -> httpx.Response:
        """Send one request and return its 2xx response; anything else raises a `KnmError`.

        `path` is relative to `base_url`. `deadline` (monotonic) bounds the call. `number`
        becomes the error's cause. `idempotent` defaults to True for GET/HEAD only; only
        idempotent requests are retried. `authenticate=False` leaves out `request_headers()`
        (for fetching a token). Extra keywords go to `httpx.Client.request`
        (`params`, `json`, `content`, `data`, `headers`).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        headers = {**(self.request_headers() if authenticate else {}),
                   **(kw.pop("headers", None) or {})}
        self._sending(headers)
        attempts = 1 + (self.max_retries if idempotent else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            timeout = self.timeout_for(deadline)
            started = time.monotonic()
            try:
                response = self.client.request(method, path, headers=headers,
                                               timeout=timeout, **kw)
            except httpx.TimeoutException as exc:
                self._log(method, path, f"timeout after {timeout:.3f}s", started)
                # a connect timeout never reached the carrier, but waiting again would
                # overrun the same budget; report it as the timeout it is
                text = f"no answer within {timeout:.3f}s ({type(exc).__name__})"
                raise errors.CarrierTimeout(self.name, text, number=number) from None
            except httpx.HTTPError as exc:
                self._log(method, path, f"transport error {type(exc).__name__}", started)
                if idempotent and not last and isinstance(exc, httpx.ConnectError):
                    self._backoff(attempt, deadline)
                    continue
                raise errors.CarrierUnavailable(
                    self.name, self.scrub(f"{type(exc).__name__}: {exc}"), number=number
                ) from None
            self._log(method, path, str(response.status_code), started)
            if response.is_success:
                return response
            if idempotent and not last and response.status_code in RETRY_STATUSES:
                self._backoff(attempt, deadline)
                continue
            raise self.error_from_response(response, number=number)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def error_from_response(self, response: httpx.Response, *, number: str | None = None
                            ) -> errors.CarrierFault:
        """Map a non-2xx response to the knm error the table (and the carrier) says."""
        status = response.status_code
        try:
            message = self.extract_error_message(response)
        except Exception:  # a broken error body must not hide the error itself
            message = None
        if message is None and not response.content:
            message = f"HTTP {status} with an empty body"
        message = self.scrub(_clip(message))
        cls = self.classify_error(response, message) or error_class_for_status(status)
        if cls is errors.RateLimited:
            return errors.RateLimited(self.name, message, retry_after=_retry_after(response),
                                      number=number, status=status)
        return cls(self.name, message, number=number, status=status)

    def fault(self, cls: type[errors.CarrierFault], message: str | None, *,
              number: str | None = None, status: int | None = None) -> errors.CarrierFault:
        """Build a carrier error with the message scrubbed (for faults found in a 2xx body)."""
        return cls(self.name, self.scrub(_clip(message)), number=number, status=status)

    # -- bodies ---------------------------------------------------------------------------------

    def parse_json(self, response: httpx.Response, *, number: str | None = None) -> Any:
        """The decoded JSON body, or `MalformedResponse`."""
        try:
            return response.json()
        except ValueError:
            raise self.fault(errors.MalformedResponse,
                             f"expected JSON, got: {response.text[:200]!r}",
                             number=number, status=response.status_code) from None

    def parse_xml(self, response: httpx.Response, *, number: str | None = None) -> ET.Element:
        """The XML root, parsed without DTDs/entities (an XML bomb is `MalformedResponse`)."""
        try:
            return parse_xml_text(response.content)
        except ValueError as exc:
            raise self.fault(errors.MalformedResponse, str(exc), number=number,
                             status=response.status_code) from None

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

    # -- asynchronous orders ------------------------------------------------------------------

    def poll_order(self, number: PhoneNumber, order_id: str,
                   fetch: Callable[[], OrderStatus], first: OrderStatus | None = None,
                   *, pending_keys: tuple[str, str] = ("order_id", "order_status")
                   ) -> OrderStatus:
        """Poll an order until it completes, fails, or `order_timeout_s` passes.

        Complete → returned. Failed → `CarrierFault` with the carrier's reason. Still pending
        at the end (or polls keep failing) → the order id and `order_status: "pending"` are
        written into `number.carrier_data` (so a bought number is never forgotten; the caller
        saves the record as `discovery`) and `CarrierTimeout` is raised with
        `error.pending = number`. `pending_keys` renames those two keys (a disconnect
        order uses its own).
        """
        interval = max(0.0, float(self.config.get("order_poll_interval_ms", 2000)) / 1000.0)
        budget = float(self.config.get("order_timeout_s", 120))
        ends = time.monotonic() + budget
        status = first
        while status is None or not status.done:
            left = ends - time.monotonic()
            if status is not None:
                if left <= 0:
                    break
                time.sleep(min(interval, left))
            try:
                status = fetch()
            except (errors.CarrierUnavailable, errors.CarrierTimeout,
                    errors.MalformedResponse, errors.RateLimited) as exc:
                self.log.warning("%s: polling order %s failed: %s", self.name, order_id,
                                 self.scrub(exc))
                status = status or OrderStatus("pending")
            if status.done or time.monotonic() >= ends:
                break
        if status is not None and status.state == "complete":
            return status
        if status is not None and status.state == "failed":
            raise self.fault(errors.CarrierFault,
                             status.message or f"order {order_id} {status.status or 'failed'}",
                             number=number.number)
        id_key, status_key = pending_keys
        number.set_carrier_data({**number.carrier_data, id_key: order_id,
                                 status_key: "pending"})
        error = errors.CarrierTimeout(
            self.name, f"order {order_id} still pending after {budget:g}s",
            number=number.number)
        error.pending = number
        raise error

    # -- internals ------------------------------------------------------------------------------

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


def _clip(message: str | None) -> str | None:
    if message is None:
        return None
    message = " ".join(str(message).split())
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + "…"


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _json_error_message(doc: Any) -> str | None:
    if isinstance(doc, dict):
        errs = doc.get("errors")
        if isinstance(errs, list) and errs:
            parts = []
            for e in errs:
                if isinstance(e, dict):
                    text = e.get("detail") or e.get("title") or e.get("message")
                    code = e.get("code")
                    parts.append(f"{code}: {text}" if code and text else str(text or code))
                else:
                    parts.append(str(e))
            return "; ".join(p for p in parts if p)
        for key in ("message", "error", "detail", "title", "error_message"):
            value = doc.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                inner = _json_error_message(value)
                if inner:
                    return inner
    return None


def _retry_after(response: httpx.Response) -> float | None:
    for header in ("Retry-After", "X-RateLimit-Reset"):
        value = response.headers.get(header)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None
