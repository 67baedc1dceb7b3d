"""knm_sinch: Sinch Numbers API v1 — available numbers, rent with voice routing, release.

Everything is under `https://numbers.api.sinch.com/v1/projects/{project_id}`, JSON both ways,
numbers in E.164 with their `+` (in paths too). A search is `GET availableNumbers` with
`regionCode`, `type` (`LOCAL`, `MOBILE`, `TOLL_FREE`) and `numberPattern` (`START` with the
E.164 prefix); knm asks for voice-capable numbers only (it routes voice). A purchase rents one
chosen number, `POST availableNumbers/{number}:rent`, with the voice configuration that routes
it here: `{"type": "EST", "trunkId"}` (Elastic SIP Trunking, setting `trunk_id`) or
`{"type": "RTC", "appId"}` (a Voice application, setting `app_id`). Release is
`POST activeNumbers/{number}:release`; `check` and settling read `GET activeNumbers/{number}`.

When is a purchase done? When `:rent` answers: the number is the project's (and billed) from
then on, synchronously. Sinch applies the voice configuration *later* — the answer carries
`voiceConfiguration.scheduledVoiceProvisioning` (`WAITING`, `IN_PROGRESS`, then gone once
applied, or `FAILED`). knm does not hold the purchase open for it: it records
`routing_status` (`scheduled` | `applied` | `failed`) and the scheduled provisioning, and
`check` and `settle` report where it stands. Sinch takes no client reference on a rental;
a rental whose answer was lost is settled by whether the project holds the number.

Auth: OAuth2 client credentials (the default: a bearer token minted at
`https://auth.sinch.com/oauth2/token` with Basic `key_id:key_secret`), or Basic
`key_id:key_secret` on every request (`auth: basic`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import phonenumbers

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import OrderStatus, settling
from knm.carriers.tokens import AccessToken, TokenRefresh, token_answer
from knm.phone import is_us_tollfree
from knm.record import PhoneNumber

NAME = "knm_sinch"
BASE_URL = "https://numbers.api.sinch.com"
TOKEN_URL = "https://auth.sinch.com/oauth2/token"
AUTH_MODES = ("oauth2", "basic")
NUMBER_TYPES = ("LOCAL", "MOBILE", "TOLL_FREE")
#: knm's names for a number type (`SearchOptions.extra["number_type"]`) → Sinch's
TYPE_NAMES = {"local": "LOCAL", "mobile": "MOBILE", "tollfree": "TOLL_FREE",
              "toll_free": "TOLL_FREE", "toll-free": "TOLL_FREE"}
#: scheduled provisioning statuses → knm's `routing_status`
SCHEDULED = {"WAITING": "scheduled", "IN_PROGRESS": "scheduled",
             "PROVISIONING_STATUS_UNSPECIFIED": "scheduled", "FAILED": "failed"}
#: `check` words for a held number, by routing status
CHECK_STATUS = {"applied": "in_service", "scheduled": "voice_provisioning",
                "failed": "voice_provisioning_failed", "unrouted": "in_service"}


# -- pure request building ---------------------------------------------------------------------


def nanp_region(national: str, default: str) -> str:
    """The NANP country of an area code (`604` → `CA`); the search's country, else the US,
    when the area code does not say."""
    if len(national) >= 3:
        region = phonenumbers.region_code_for_number(
            phonenumbers.parse(f"+1{national[:3]}2345678"))
        if region:
            return region
    return default.upper() if phonenumbers.country_code_for_region(default) == 1 else "US"


def region_of(prefix: str, default: str = "US") -> str | None:
    """The ISO country of an E.164 prefix (`+4420` → `GB`); None when it names none."""
    digits = prefix.lstrip("+")
    if digits.startswith("1"):
        return nanp_region(digits[1:], default)
    for length in (1, 2, 3):
        if len(digits) < length:
            return None
        region = phonenumbers.region_code_for_country_code(int(digits[:length]))
        if region and region != "ZZ":
            return region
    return None


def number_types(prefix: str, options: SearchOptions) -> list[str]:
    """The Sinch types a search asks for: the one asked (`number_type`, `tollfree`,
    `mobile`), else a NANP prefix's own (toll-free area codes), else local and mobile."""
    asked = str(options.extra.get("number_type") or "").lower()
    if asked:
        kind = TYPE_NAMES.get(asked, asked.upper())
        return [kind] if kind in NUMBER_TYPES else []
    if options.extra.get("tollfree"):
        return ["TOLL_FREE"]
    if options.extra.get("mobile"):
        return ["MOBILE"]
    if prefix.startswith("+1"):
        return ["TOLL_FREE"] if is_us_tollfree(prefix[2:]) else ["LOCAL"]
    return ["LOCAL", "MOBILE"]


def search_params(prefix: str, region: str, kind: str, size: int, options: SearchOptions
                  ) -> dict[str, Any]:
    """`GET availableNumbers` parameters: numbers starting with the E.164 `prefix` (`START`
    takes the `+`), or containing the `contains` digits."""
    contains = "".join(ch for ch in str(options.extra.get("contains") or "") if ch.isdigit())
    pattern, how = (contains, "CONTAIN") if contains else (prefix, "START")
    return {"regionCode": region, "type": kind, "numberPattern.pattern": pattern,
            "numberPattern.searchPattern": how, "capabilities": "VOICE", "size": size}


def voice_configuration(config: Mapping[str, Any]) -> dict[str, str]:
    """The voice configuration routing a rented number here: an EST trunk or an RTC app."""
    if config.get("trunk_id"):
        return {"type": "EST", "trunkId": str(config["trunk_id"])}
    return {"type": "RTC", "appId": str(config["app_id"])}


def token_url(config: Mapping[str, Any]) -> str:
    """Where OAuth2 tokens come from: `token_url`, else Sinch's for the real API, else (a
    simulator or a proxy at `base_url`) `<base_url>/oauth2/token`."""
    if config.get("token_url"):
        return str(config["token_url"])
    base = str(config.get("base_url") or BASE_URL).rstrip("/")
    return TOKEN_URL if base == BASE_URL else base + "/oauth2/token"


# -- pure response parsing ---------------------------------------------------------------------


def _money(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and value.get("amount") is not None:
        return str(value.get("currencyCode") or ""), str(value["amount"])
    return None


def to_results(doc: Any, prefix: str, limit: int) -> list[SearchResult]:
    """Numbers under `prefix` from an `availableNumbers` answer, with their prices;
    `ValueError` for an answer without the list."""
    rows = doc.get("availableNumbers") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("search answer without availableNumbers")
    out: list[SearchResult] = []
    for row in rows:
        number = row.get("phoneNumber") if isinstance(row, dict) else None
        if not isinstance(number, str) or not number.startswith(prefix):
            continue
        monthly, setup = _money(row.get("monthlyPrice")), _money(row.get("setupPrice"))
        price = None
        if monthly:
            price = {"currency": monthly[0], "monthly": monthly[1],
                     "upfront": setup[1] if setup else "0"}
        data = {"region_code": row.get("regionCode"), "type": row.get("type"),
                "capability": row.get("capability"),
                "supporting_documentation_required": row.get(
                    "supportingDocumentationRequired")}
        out.append(SearchResult(
            number, NAME, carrier_data={k: v for k, v in data.items() if v is not None},
            locality={"country": row["regionCode"]} if row.get("regionCode") else None,
            price=price))
        if len(out) >= limit:
            break
    return out


def routing_of(active: Any) -> dict[str, Any]:
    """What an ActiveNumber says of its voice routing: `routing_status` (`applied`,
    `scheduled`, `failed`, or `unrouted` when no trunk or app is configured), the applied
    configuration and the scheduled one; `ValueError` for an answer that is no number."""
    if not isinstance(active, dict) or not isinstance(active.get("phoneNumber"), str):
        raise ValueError("answer without phoneNumber")
    voice = active.get("voiceConfiguration")
    voice = voice if isinstance(voice, dict) else {}
    scheduled = voice.get("scheduledVoiceProvisioning")
    applied = {k: voice[k] for k in ("type", "trunkId", "appId", "serviceId")
               if voice.get(k)}
    if isinstance(scheduled, dict) and scheduled:
        status = SCHEDULED.get(str(scheduled.get("status") or ""), "scheduled")
    else:
        scheduled = None
        status = "applied" if set(applied) - {"type"} else "unrouted"
    return {"routing_status": status, "voice_configuration": applied or None,
            "scheduled_voice_provisioning": scheduled}


# -- the carrier ---------------------------------------------------------------------------------


class Sinch(TokenRefresh, HttpCarrier):
    """Sinch (Numbers API v1). Numbers in E.164 on the wire."""

    name = NAME
    default_base_url = BASE_URL
    maximal_prefix_length = 15
    capabilities = frozenset({"search_local", "search_npanxx", "search_tollfree",
                              "search_mobile", "international", "buy", "release", "check",
                              "settle"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("project_id", required=True, description="Sinch project id"),
        Setting("key_id", required=True, description="access key id"),
        Setting("key_secret", required=True, secret=True, description="access key secret"),
        Setting("auth", default="oauth2",
                description="`oauth2` (bearer tokens minted with the key) or `basic` "
                            "(`key_id:key_secret` on every request)"),
        Setting("token_url", description=f"OAuth2 token endpoint (default: {TOKEN_URL})"),
        Setting("trunk_id", description="Elastic SIP trunk bought numbers are routed to (EST "
                                        "voice configuration; this or app_id is needed to "
                                        "buy)"),
        Setting("app_id", description="Voice application to route to instead (RTC voice "
                                      "configuration)"),
        Setting("max_search_quantity", int, default=100,
                description="cap on `size` per search request"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        out = super().validate_config(config)
        out["auth"] = str(out.get("auth") or "oauth2").lower()
        if out["auth"] not in AUTH_MODES:
            raise errors.CarrierMisconfigured(cls.name, "auth", "must be oauth2 or basic")
        if out.get("trunk_id") and out.get("app_id"):
            raise errors.CarrierMisconfigured(cls.name, "app_id",
                                              "cannot be set together with trunk_id")
        return out

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._token = AccessToken(self._mint_token) if self.config["auth"] == "oauth2" \
            else None

    # -- auth and errors ------------------------------------------------------------------------

    def access_token(self) -> AccessToken | None:
        return self._token

    def _basic(self) -> str:
        return self.basic_auth(str(self.config["key_id"]), str(self.config["key_secret"]))

    def request_headers(self) -> dict[str, str]:
        auth = f"Bearer {self._token.get()}" if self._token is not None else self._basic()
        return {"Authorization": auth, "Accept": "application/json"}

    def _mint_token(self) -> tuple[str, float]:
        response = self.post(token_url(self.config), authenticate=False, acts=False,
                             headers={"Authorization": self._basic(),
                                      "Accept": "application/json"},
                             data={"grant_type": "client_credentials"})
        token, life = self.parsed(token_answer, self.parse_json(response))
        self.add_secret(token)
        return token, life

    def extract_error_message(self, response: httpx.Response) -> str | None:
        """Sinch's `{"error": {"status", "message", "details"}}` as `STATUS: message`."""
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if isinstance(error, dict) and error.get("message"):
            status = error.get("status")
            return f"{status}: {error['message']}" if status else str(error["message"])
        return super().extract_error_message(response)

    @property
    def project(self) -> str:
        return f"/v1/projects/{self.config['project_id']}"

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        region = region_of(prefix, options.country or "US")
        if region is None:
            return []
        size = max(1, min(quantity, int(self.config["max_search_quantity"])))
        found: list[SearchResult] = []
        for kind in number_types(prefix, options):
            doc = self.call("GET", f"{self.project}/availableNumbers",
                            params=search_params(prefix, region, kind, size, options),
                            deadline=options.deadline)
            found += self.parsed(to_results, doc, prefix, quantity - len(found))
            if len(found) >= quantity:
                break
        return found

    # -- purchase and release -----------------------------------------------------------------

    def routing(self) -> dict[str, str]:
        """The voice configuration to rent with; `CarrierMisconfigured` naming `trunk_id`
        when neither it nor `app_id` is set — checked before anything is rented."""
        if not self.config.get("trunk_id") and not self.config.get("app_id"):
            raise errors.CarrierMisconfigured(
                self.name, "trunk_id", "is required to buy (or app_id): Sinch numbers are "
                                       "routed by their voice configuration")
        return voice_configuration(self.config)

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        """Rent the number with its voice configuration: done when Sinch answers (routing
        is applied later; see the module docstring)."""
        num = number.number
        body = {"voiceConfiguration": self.routing()}
        try:
            doc = self.call("POST", f"{self.project}/availableNumbers/{num}:rent", json=body,
                            number=num)
        except errors.CarrierNotFound as exc:  # Sinch's word for "not for rent (any more)"
            raise errors.NumberUnavailable(self.name, exc.carrier_message, number=num,
                                           status=exc.status, unsettled=False) from exc
        learnt = self.parsed(routing_of, doc, number=num)
        return self.learn(number, {**learnt, "requested_voice_configuration": body[
            "voiceConfiguration"], "project_id": str(self.config["project_id"])})

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        doc = self.call("POST", f"{self.project}/activeNumbers/{num}:release", number=num)
        released = {"released_at": doc.get("releaseDate"), "expire_at": doc.get("expireAt")} \
            if isinstance(doc, dict) else {}
        return self.learn(number, released)

    # -- check and settle -----------------------------------------------------------------------

    def active(self, number: str) -> dict[str, Any] | None:
        """The project's ActiveNumber for `number`, or None (404) when it holds none."""
        try:
            doc = self.call("GET", f"{self.project}/activeNumbers/{number}", number=number)
        except errors.CarrierNotFound:
            return None
        self.parsed(routing_of, doc, number=number)  # an answer that is no number: malformed
        return doc

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """For each number the project holds: `in_service`, `voice_provisioning` (its
        routing is still scheduled), `voice_provisioning_failed`, or `releasing` (released,
        the subscription running out at `expireAt`); numbers it does not hold are left
        out."""
        out: dict[str, str] = {}
        for num in numbers:
            doc = self.active(num)
            if doc is None:
                continue
            if doc.get("expireAt"):
                out[num] = "releasing"
            else:
                out[num] = CHECK_STATUS[routing_of(doc)["routing_status"]]
        return out

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Rentals and releases are synchronous: whether the project holds the number. A
        rental found is complete whatever its routing; `routing_status` says where that
        stands (`scheduled` until Sinch applied it). A released number still listed with an
        `expireAt` is released (its subscription runs out then)."""
        num = number.number
        doc = self.active(num)
        if settling(number) == "disconnect":
            if doc is None:
                return OrderStatus("complete", "released", {}, f"{num} is not held")
            if doc.get("expireAt"):
                return OrderStatus("complete", "expiring", {"expire_at": doc["expireAt"]},
                                   f"{num} is released; its subscription ends then")
            return OrderStatus("failed", "active", {}, f"{num} is still held")
        if doc is None:
            return OrderStatus("failed", "not held", {}, f"{num} is not held by the project")
        learnt = routing_of(doc)
        return OrderStatus("complete", learnt["routing_status"],
                           {**learnt, "project_id": str(self.config["project_id"])})
