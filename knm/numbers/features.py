"""Which features a number may have (`features_available`), and the one feature write knm
refuses until its provider exists.

`available()` is Kazoo's `knm_providers:list_available_features`, ported rule for rule
(reference/e911-cnam.md §1.1, SPEC §13):

    allowed = the number's `pvt_features_allowed`             (non-empty: it replaces the rest)
            | its reseller's `number_manager.features.allow`, else the system's
            | the system's legacy `number_manager.providers`
            | every feature Kazoo knows
    denied  = the number's `pvt_features_denied`              (non-empty: it replaces the rest)
            | ( its reseller's `features.deny`, else the system's
                | for a local number (`knm_local`, `knm_mdn`, or the `local` feature) without
                  `local_feature_override`: the external features
                | for an unassigned number: the external features )
              + `failover` unless the number is used by trunkstore
    denied += `carrier_name` unless the caller is a superduper admin
    available = cleansed(allowed) - cleansed(denied), sorted; `sms` and `mms` only where a
                provider says the number may have them

`cleansed` strips `wnm_`/`knm_` and maps Kazoo's provider names to features
(`dash_e911` → `e911`, `cnam_notifier` → `cnam`, …). A feature whose provider module is
missing is not available (Kazoo's `no_module -> false`): knm has no SMS/MMS provider, so
`sms` and `mms` never are, and `e911` (`cnam`, `inbound_cnam`, `outbound_cnam`) only where
a carrier serves the number's emergency addresses (caller names) — the one its reseller's
`e911_provider` (`cnam_provider`) names, else the number's own carrier when it offers the
feature (its `capabilities`, SPEC §13; `serving`).

The reseller is knm's (SPEC §6): the nearest reseller ancestor of the number's account,
itself if it is one. Its config is its own `number_manager` values; keys it does not set fall
back to the system's, one key at a time (`features.allow` and `features.deny` separately).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from knm import accounts, carriers, config
from knm.carriers.base import full_name
from knm.record import LOCAL_MODULES, PhoneNumber

KAZOO_NUMBER_FEATURES = ("failover", "force_outbound", "prepend", "ringback")
EXTERNAL_NUMBER_FEATURES = ("cnam", "inbound_cnam", "outbound_cnam", "e911", "port", "sms",
                            "mms")
ADMIN_ONLY_FEATURES = ("carrier_name",)
ALL_FEATURES = KAZOO_NUMBER_FEATURES + EXTERNAL_NUMBER_FEATURES + ADMIN_ONLY_FEATURES
#: features a provider must also say yes to; knm has no such provider yet
PROVIDERS_WITH_AVAILABLE = ("sms", "mms")
#: providers knm has for them: none (no SMS/MMS provider)
PROVIDERS: frozenset[str] = frozenset()
#: features served by a carrier's number features, by the capability the carrier declares
CARRIER_FEATURES = {"e911": "e911", "cnam": "cnam", "inbound_cnam": "cnam",
                    "outbound_cnam": "cnam"}
#: a `cnam` carrier without a per-number inbound lookup (Flowroute) declares this too, so
#: `inbound_cnam` is not offered on its numbers (a write of it would only be a 501)
OUTBOUND_CNAM_ONLY = "outbound_cnam_only"
#: the settings naming the module that serves each capability (Kazoo's, per reseller)
PROVIDER_SETTINGS = {"e911": "e911_provider", "cnam": "cnam_provider"}
#: Kazoo's provider modules, read as knm's: a carrier, or None for "the number's own
#: carrier" (Dash and the CNAM notifier are not built; knm's default serves their numbers)
KAZOO_PROVIDERS = {
    "dash_e911": None, "telnyx_e911": "knm_telnyx", "vitelity_e911": "knm_vitelity",
    "cnam_notifier": None, "telnyx_cnam": "knm_telnyx", "vitelity_cnam": "knm_vitelity",
}
#: setting values meaning "the number's own carrier"
OWN_CARRIER = ("", "carrier", "default")
#: Kazoo's provider names, read as the feature they provide
LEGACY_NAMES = {
    "cnam_notifier": "cnam", "telnyx_cnam": "cnam", "vitelity_cnam": "cnam",
    "dash_e911": "e911", "telnyx_e911": "e911", "vitelity_e911": "e911",
    "port_notifier": "port",
}
TRUNKSTORE = "trunkstore"
CATEGORY = config.CATEGORY


@dataclass(frozen=True)
class Rules:
    """What every number of one account shares: its reseller's (else the system's) allow and
    deny lists, `local_feature_override`, and whether the caller is a superduper admin.
    Computed once per account and request (a listing of 10,000 numbers reads config once)."""

    account_id: str | None
    allowed: tuple[str, ...]
    denied: tuple[str, ...] | None  # None: neither the reseller nor the system set a list
    local_feature_override: bool
    is_admin: bool
    #: the reseller's (else the system's) `e911_provider` / `cnam_provider`, as carrier
    #: names; None: the number's own carrier
    providers: tuple[tuple[str, str | None], ...] = ()
    #: cleansed denial lists by kind of number (`_denied_cleansed`)
    denied_memo: dict[tuple[Any, ...], frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False)
    #: which carrier serves a capability for numbers of a carrier (`serving`)
    serving_memo: dict[tuple[str, str | None], str | None] = field(
        default_factory=dict, compare=False, repr=False)

    @cached_property
    def allowed_cleansed(self) -> list[str]:
        return cleansed(self.allowed)


def _names(value: Any) -> tuple[str, ...] | None:
    """A configured list of feature names, or None when it is not one."""
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _features_key(scope: Mapping[str, Any] | None, key: str) -> tuple[str, ...] | None:
    if isinstance(scope, Mapping):
        return _names(scope.get(key))
    return None


def _system_allowed() -> tuple[str, ...]:
    """`number_manager.features.allow`, else the legacy `providers`, else every feature
    (Kazoo reads both with `get_ne_binaries`: an empty list counts as unset)."""
    system = config.get(CATEGORY, "features")
    allow = _features_key(system, "allow")
    if allow:
        return allow
    providers = _names(config.get(CATEGORY, "providers"))
    if providers:
        return providers
    return ALL_FEATURES


def _from_reseller(reseller_id: str | None, key: str) -> tuple[str, ...] | None:
    """`kapps_account_config:get_from_reseller(A, number_manager, [features, key])`: the
    reseller's own value, else the system's, else None."""
    if reseller_id:
        own = _features_key(config.get_own(CATEGORY, "features", account_id=reseller_id), key)
        if own is not None:
            return own
    return _features_key(config.get(CATEGORY, "features"), key)


def provider_setting(value: Any) -> str | None:
    """A configured `e911_provider` / `cnam_provider` as a carrier name: Kazoo's provider
    modules read as knm's (`knm_telnyx_e911` → `knm_telnyx`), its default ones (Dash, the
    CNAM notifier) and `"carrier"` as None — the number's own carrier."""
    if not isinstance(value, str):
        return None
    name = value.strip()
    while name.startswith(("wnm_", "knm_")):
        name = name[4:]
    if name in KAZOO_PROVIDERS:
        return KAZOO_PROVIDERS[name]
    if name.lower() in OWN_CARRIER:
        return None
    return full_name(name)


def _providers(reseller_id: str | None) -> tuple[tuple[str, str | None], ...]:
    """`kapps_account_config:get_from_reseller(A, number_manager, e911_provider)` and the
    same for `cnam_provider`: the reseller's own value, else the system's."""
    return tuple((kind, provider_setting(config.get(CATEGORY, key, account_id=reseller_id)))
                 for kind, key in PROVIDER_SETTINGS.items())


def rules(account_id: str | None, *, is_admin: bool, reseller_id: str | None = None
          ) -> Rules:
    """The rules for numbers assigned to `account_id` (None: unassigned numbers);
    `reseller_id` saves looking up the account's reseller when the caller knows it."""
    override = config.get(CATEGORY, "local_feature_override") is True
    if account_id is None:
        return Rules(None, _system_allowed(), None, override, is_admin, _providers(None))
    reseller = reseller_id or accounts.reseller_id(account_id) or account_id
    allowed = _from_reseller(reseller, "allow") or _system_allowed()
    return Rules(account_id, allowed, _from_reseller(reseller, "deny"), override, is_admin,
                 _providers(reseller))


def serving(capability: str, module_name: str | None, rules_: Rules) -> str | None:
    """The carrier that serves `capability` (`e911`, `cnam`) for a number of carrier
    `module_name` under these rules: the configured provider when it offers the capability,
    else (no provider configured) the number's own carrier when it does; None when nobody
    does — the feature is then not available, and a write of it is refused."""
    key = (capability, module_name)
    if key in rules_.serving_memo:
        return rules_.serving_memo[key]
    configured = dict(rules_.providers).get(capability)
    candidate = configured if configured is not None else module_name
    found = candidate if candidate and carriers.offers(candidate, capability) else None
    rules_.serving_memo[key] = found
    return found


def cleansed(features: Iterable[str]) -> list[str]:
    """Kazoo's `cleanse_features`: provider names read as features, sorted, once each."""
    out = set()
    for name in features:
        while name.startswith(("wnm_", "knm_")):
            name = name[4:]
        out.add(LEGACY_NAMES.get(name, name))
    return sorted(out)


def is_local(module_name: str | None, features: Iterable[str]) -> bool:
    return module_name in LOCAL_MODULES or "local" in features


def _denied_cleansed(number_denied: list[str], assigned_to: str | None,
                     used_by: str | None, local: bool, r: Rules) -> frozenset[str]:
    """`cleansed(_denied(...))`, remembered per kind of number: a listing's numbers share
    a handful of denial lists."""
    key = (tuple(number_denied), assigned_to is None, used_by == TRUNKSTORE, local)
    found = r.denied_memo.get(key)
    if found is None:
        found = r.denied_memo[key] = frozenset(
            cleansed(_denied(number_denied, assigned_to, used_by, local, r)))
    return found


def _denied(number_denied: list[str], assigned_to: str | None, used_by: str | None,
            local: bool, r: Rules) -> list[str]:
    if number_denied:
        denied = list(number_denied)
    else:
        if assigned_to is None:
            denied = list(EXTERNAL_NUMBER_FEATURES)
        elif r.denied is not None:
            denied = list(r.denied)
        elif local and not r.local_feature_override:
            denied = list(EXTERNAL_NUMBER_FEATURES)
        else:
            denied = []
        if used_by != TRUNKSTORE:
            denied.append("failover")
    if not r.is_admin:
        denied.extend(ADMIN_ONLY_FEATURES)
    return denied


def _provider_says_available(feature: str) -> bool:
    """`knm_gen_provider:available/4`: a feature whose provider is missing is not
    available (`no_module -> false`)."""
    return feature in PROVIDERS


def available_for(*, assigned_to: str | None, used_by: str | None, module_name: str | None,
                  features: Iterable[str], features_allowed: list[str] | None,
                  features_denied: list[str] | None, rules: Rules) -> list[str]:
    """`features_available` from a number's fields (listings call this per row)."""
    features = list(features)
    allowed = cleansed(features_allowed) if features_allowed else rules.allowed_cleansed
    gone = _denied_cleansed(list(features_denied or []), assigned_to, used_by,
                            is_local(module_name, features), rules)
    out = []
    for feature in allowed:
        if feature in gone:
            continue
        if feature in PROVIDERS_WITH_AVAILABLE and not _provider_says_available(feature):
            continue
        if feature in CARRIER_FEATURES:
            provider = serving(CARRIER_FEATURES[feature], module_name, rules)
            if provider is None or (feature == "inbound_cnam"
                                    and carriers.offers(provider, OUTBOUND_CNAM_ONLY)):
                continue
        out.append(feature)
    return out


def available(pn: PhoneNumber, rules_: Rules | None = None, *, is_admin: bool = False
              ) -> list[str]:
    """The features `pn` may have, for a caller who is (`is_admin`) or is not a superduper
    admin. `rules_` (from `rules(pn.assigned_to, ...)`) saves the config reads."""
    if rules_ is None or rules_.account_id != pn.assigned_to:
        rules_ = rules(pn.assigned_to, is_admin=is_admin if rules_ is None else rules_.is_admin)
    return available_for(assigned_to=pn.assigned_to, used_by=pn.used_by,
                         module_name=pn.module_name, features=pn.features,
                         features_allowed=pn.features_allowed,
                         features_denied=pn.features_denied, rules=rules_)


class RulesCache:
    """`rules()` per account for one request or operation; `reseller_of` (an account's
    reseller, e.g. a cached lookup) saves reading the account tree."""

    def __init__(self, *, is_admin: bool,
                 reseller_of: Callable[[str], str | None] | None = None) -> None:
        self.is_admin = is_admin
        self._reseller_of = reseller_of
        self._memo: dict[str | None, Rules] = {}

    def for_account(self, account_id: str | None) -> Rules:
        if account_id not in self._memo:
            reseller = (self._reseller_of(account_id)
                        if self._reseller_of is not None and account_id else None)
            self._memo[account_id] = rules(account_id, is_admin=self.is_admin,
                                           reseller_id=reseller)
        return self._memo[account_id]

    def available(self, pn: PhoneNumber) -> list[str]:
        return available(pn, self.for_account(pn.assigned_to))


def public_json(pn: PhoneNumber, rules_: RulesCache) -> dict[str, Any]:
    """Crossbar's number JSON with the features the number may have: Kazoo 4.3+'s
    `_read_only.features.available` and 4.0's `_read_only.features_available`, and
    `_read_only.features.settings`: which carrier serves each carrier-served feature of the
    number (Kazoo's providers' `settings/1`)."""
    out = pn.to_public_json()
    rules = rules_.for_account(pn.assigned_to)
    found = available(pn, rules)
    settings = {}
    for capability in ("e911", "cnam"):
        provider = serving(capability, pn.module_name, rules)
        if provider is not None and capability in found:
            settings[capability] = {"provider": provider}
    read_only = out["_read_only"]
    read_only["features"] = {"available": found, "settings": settings}
    read_only["features_available"] = found
    return out
