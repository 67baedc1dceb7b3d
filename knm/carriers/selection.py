"""Which carriers serve a search: Kazoo's carrier list, the system's and a reseller's
`carrier_modules`, and the carriers an account sees first.

The facade (`knm.carriers`) and the search (`knm.carriers.search`) both need these rules;
they live here, below both, so neither imports the other for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from knm import config, errors
from knm.carriers.base import full_name
from knm.carriers.registry import declared_names, is_reachable

CATEGORY = config.CATEGORY

#: Kazoo's fixed list, in Kazoo's order (reference/kazoo-core.md §2.1)
ALL_MODULES: tuple[str, ...] = (
    "knm_bandwidth2", "knm_bandwidth", "knm_inum", "knm_local", "knm_inventory", "knm_managed",
    "knm_mdn", "knm_other", "knm_reserved", "knm_reserved_reseller", "knm_simwood",
    "knm_telnyx", "knm_vitelity", "knm_voip_innovations", "knm_voxbone", "knm_didww",
    "knm_flowroute", "knm_inteliquent", "knm_it_vocal", "knm_level3", "knm_o1", "knm_peerless",
    "knm_thinq", "knm_verizon", "knm_windstream", "knm_ziron",
)
#: carriers searched first for an account (its reserved numbers, then local ones)
ACCOUNT_FIRST: tuple[str, ...] = ("knm_reserved", "knm_reserved_reseller", "knm_local")


def all_modules() -> list[str]:
    """Kazoo's list of carrier names, then any other declared or registered carrier."""
    extra = [n for n in declared_names() if n not in ALL_MODULES]
    return list(ALL_MODULES) + extra


def keep_only_reachable(names: Iterable[Any]) -> list[str]:
    """Names whose carrier can be loaded, in order (Kazoo does not de-duplicate either)."""
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or name in ("", "undefined"):
            continue
        if is_reachable(name):
            out.append(full_name(name))
    return out


def default_carrier() -> str:
    """The carrier new numbers get (`available_module_name`); not checked for reachability."""
    value = config.get(CATEGORY, "available_module_name")
    return value if isinstance(value, str) and value else "knm_local"


def default_carriers() -> list[str]:
    """Kazoo's `knm_carriers:default_carriers/0`: the default carrier, if reachable. Public API
    kept for Kazoo parity (knm itself reads `system_modules`)."""
    return keep_only_reachable([default_carrier()])


def _is_name_list(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(v, str) and v for v in value))


def system_modules() -> list[str]:
    """The system's `carrier_modules` (the default carrier when unset or unusable)."""
    value = config.get(CATEGORY, "carrier_modules")
    if _is_name_list(value):
        return list(value)
    return [default_carrier()]


def account_modules(account_id: str) -> list[str]:
    """An account's own `carrier_modules` (a reseller's override), else the system's."""
    value = config.get_own(CATEGORY, "carrier_modules", account_id=account_id)
    return list(value) if _is_name_list(value) else system_modules()


def available_carriers(account_id: str | None = None, reseller_id: str | None = None
                       ) -> list[str]:
    """Carriers a search asks, in order.

    With both ids: the account's reserved numbers, its reseller's, local ones, then the
    reseller's own `carrier_modules` (or the system's). Otherwise the system's list.
    """
    if not account_id or not reseller_id:
        return keep_only_reachable(system_modules())
    rest = [full_name(n) for n in account_modules(reseller_id)]
    for first in ACCOUNT_FIRST:  # list subtraction: one occurrence each
        if first in rest:
            rest.remove(first)
    return keep_only_reachable([*ACCOUNT_FIRST, *rest])


def carrier_names(carriers: Iterable[str] | None, account_id: str | None,
                  reseller_id: str | None) -> list[str]:
    """The carriers one search asks: those named (once each; a name knm does not know is
    `400 invalid`, see `carrier_name`), else the account's (`available_carriers`)."""
    if carriers is not None:
        if isinstance(carriers, str):
            carriers = [carriers]
        return list(dict.fromkeys(carrier_name(str(c)) for c in carriers if c))
    return list(dict.fromkeys(available_carriers(account_id, reseller_id)))


# -- names an operator types -------------------------------------------------------------------


def known_names() -> list[str]:
    """Every carrier name knm can be told to use: built in, installed or registered."""
    return sorted(n for n in declared_names() if n not in ("", "undefined"))


def carrier_name(name: str, field: str = "carrier") -> str:
    """The full name of a carrier someone typed (`telnyx` or `knm_telnyx` → `knm_telnyx`).

    SPEC §1 accepts both forms anywhere a name is; a name knm does not know — a typo, or one
    of Kazoo's carriers knm does not have — is `400 invalid` naming `field` and listing the
    names it knows, instead of a carrier silently skipped. A carrier that is installed but
    cannot be loaded is accepted: the search reports it as failed."""
    text = str(name).strip()
    full = full_name(text) if text else text
    if full and (full in declared_names() or is_reachable(full)):
        return full
    raise errors.Invalid(field, f"{_unknown(full or repr(text))} (known: "
                         f"{', '.join(known_names())})")


def _unknown(name: str) -> str:
    if name in ALL_MODULES:
        return f"{name} is one of Kazoo's carriers that knm does not have"
    return f"unknown carrier {name}"


#: `number_manager` settings whose value names carriers (a list, or one name)
NAME_LIST_SETTINGS = ("carrier_modules",)
NAME_SETTINGS = ("available_module_name", "port_in_module_name")


def check_setting(category: str, key: str, value: Any) -> Any:
    """`value` as `knm.config.set(category, key, value)` should store it, for settings that
    name carriers: every name known, in its full form. `config.set` itself stays permissive
    (Kazoo skips names it cannot load, and documents carried over from Kazoo may hold them);
    whatever takes settings from a person — the CLI, the HTTP API — calls this first."""
    if category != CATEGORY or value is None:
        return value
    if key in NAME_LIST_SETTINGS:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(
                isinstance(v, str) and v.strip() for v in value):
            raise errors.Invalid(key, f"{key} must be a non-empty list of carrier names "
                                 f"(known: {', '.join(known_names())})")
        names = [full_name(v.strip()) for v in value]
        unknown = [n for n in names if n not in declared_names() and not is_reachable(n)]
        if unknown:
            raise errors.Invalid(key, f"{'; '.join(_unknown(n) for n in unknown)} (known: "
                                 f"{', '.join(known_names())})")
        return names
    if key in NAME_SETTINGS:
        if not isinstance(value, str):
            raise errors.Invalid(key, f"{key} must be a carrier name")
        return carrier_name(value, key)
    return value
