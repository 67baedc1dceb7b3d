"""Kazoo's number state machine (`knm_states:to_options_state`, reference/kazoo-core.md §7.2).

`transition(pn, target, ctx)` applies one number's guards and moves it in memory, and says
whether the carrier must now be asked to acquire it; it never writes. The operations layer
(`knm.numbers`) decides how to make the acquire and the save atomic, so a number bought at a
carrier is always recorded and never bought twice.

Authorization predicates (§5.4) live here too, evaluated through an `AuthCache` so a bulk
operation over 10,000 numbers asks the account table once per account, not once per number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knm import accounts, carriers, errors
from knm.record import PhoneNumber

MDN = "knm_mdn"
#: targets that an MDN number may never be moved to (its numbers live at the mobile core)
MDN_FORBIDDEN_TARGETS = ("reserved", "available", "aging", "port_in")
#: targets nothing transitions to through `to_options_state`
NO_TRANSITION_TARGETS = ("released", "port_out", "deleted", "discovery")


class AuthCache:
    """`accounts.is_admin` / `in_hierarchy` / `allows_additions`, memoized for one operation."""

    def __init__(self) -> None:
        self._memo: dict[tuple[Any, ...], bool] = {}

    def _ask(self, fn: Callable[..., bool], *args: Any) -> bool:
        key = (fn.__name__, *args)
        if key not in self._memo:
            self._memo[key] = bool(fn(*args))
        return self._memo[key]

    def is_admin(self, who: str | None) -> bool:
        if who is None:
            return False
        return self._ask(accounts.is_admin, who)

    def in_hierarchy(self, ancestor: str | None, descendant: str | None) -> bool:
        if not ancestor or not descendant:
            return False
        if ancestor == descendant:
            return True
        return self._ask(accounts.in_hierarchy, ancestor, descendant)

    def allows_additions(self, who: str | None) -> bool:
        return self._ask(accounts.allows_additions, who)

    def exists(self, account_id: str | None) -> bool:
        return self._ask(lambda a: accounts.find(a) is not None, account_id) \
            if account_id else False


@dataclass
class Context:
    """What one operation knows once, for every number it touches."""

    auth: AuthCache = field(default_factory=AuthCache)


# -- authorization (§5.4) ----------------------------------------------------------------------


def is_authorized(pn: PhoneNumber, auth: AuthCache) -> bool:
    """May `pn.auth_by` act on this number (given its owner and the target `assign_to`)?"""
    who = pn.auth_by
    if who == "system":
        return True
    if who is None:
        return False
    if pn.assigned_to is None and pn.assign_to is None:
        return auth.is_admin(who)
    if pn.assigned_to is None:
        return auth.is_admin(who) or auth.in_hierarchy(who, pn.assign_to)
    return auth.is_admin(who) or auth.in_hierarchy(who, pn.assigned_to)


def is_reserved_from_parent(pn: PhoneNumber, auth: AuthCache) -> bool:
    """Reserved to `auth_by` itself or to one of its ancestors (Kazoo tests is_admin on the
    *owner*, so a number reserved to a superduper admin may be taken by anyone: kept)."""
    owner = pn.assigned_to
    if pn.state != "reserved" or not accounts.is_account_id(owner):
        return False
    return auth.is_admin(owner) or auth.in_hierarchy(owner, pn.auth_by)


def may_read(pn: PhoneNumber, auth: AuthCache) -> bool:
    """Kazoo's fetch check: available numbers are public; others need authorization."""
    return (pn.state == "available" or is_authorized(pn, auth)
            or is_reserved_from_parent(pn, auth))


def authorize(pn: PhoneNumber, auth: AuthCache) -> None:
    if not is_authorized(pn, auth):
        raise errors.Forbidden()


def _authorize_subaccount(pn: PhoneNumber, auth: AuthCache) -> None:
    if not (is_authorized(pn, auth) or is_reserved_from_parent(pn, auth)):
        raise errors.Forbidden()


# -- the steps ---------------------------------------------------------------------------------


def _fail_if_mdn(pn: PhoneNumber, target: str) -> None:
    if pn.module_name == MDN:
        raise errors.InvalidStateTransition("'MDN'", target)


def _mdn_check_in_service(pn: PhoneNumber) -> None:
    # Kazoo passes the arguments reversed here, so the cause reads "from in_service to <state>"
    if pn.module_name == MDN:
        raise errors.InvalidStateTransition("in_service", pn.state)


def _not_assigning_to_self(pn: PhoneNumber) -> None:
    if pn.assign_to is None:
        raise errors.Forbidden("can not assign to self")
    if pn.assign_to == pn.assigned_to:
        raise errors.NoChangeRequired()


def move_to_state(pn: PhoneNumber, target: str) -> None:
    """Kazoo's move_number_to_state: (re)assign to `assign_to`, then set the state."""
    if target != "available":
        if pn.assigned_to is None or pn.assigned_to != pn.assign_to:
            pn.set_assigned_to(pn.assign_to)
    pn.set_state(target)


def transition(pn: PhoneNumber, target: str, ctx: Context) -> bool:
    """Move `pn` (in memory) to `target` per Kazoo's table; True when the carrier must then
    acquire it (from `discovery`, and reserved→reserved as Kazoo does). Raises `KnmError`."""
    auth = ctx.auth
    current = pn.state
    if target in MDN_FORBIDDEN_TARGETS:
        _fail_if_mdn(pn, target)
    if target == "reserved":
        if current not in ("reserved", "discovery", "available", "in_service"):
            raise errors.InvalidStateTransition(current, target)
        if current == "reserved":
            _not_assigning_to_self(pn)
        authorize(pn, auth)
        pn.add_reserve_history(pn.assign_to)
        move_to_state(pn, target)
        return current in ("reserved", "discovery")
    if target == "in_service":
        if current == "in_service":
            if pn.assigned_to == pn.assign_to:
                return False
            authorize(pn, auth)
            move_to_state(pn, target)
            return False
        if current not in ("discovery", "port_in", "available", "aging", "reserved"):
            raise errors.InvalidStateTransition(current, target)
        _mdn_check_in_service(pn)
        if current in ("discovery", "port_in"):
            authorize(pn, auth)
        elif current == "reserved":
            _authorize_subaccount(pn, auth)
        # available and aging: anyone may buy them
        move_to_state(pn, target)
        return current == "discovery"
    if target == "available":
        if current != "available":
            raise errors.InvalidStateTransition(current, target)
        authorize(pn, auth)
        move_to_state(pn, target)
        return False
    if target == "aging":
        if current not in ("aging", "released", "available"):
            raise errors.InvalidStateTransition(current, target)
        move_to_state(pn, target)
        return False
    if target == "port_in":
        if current != "port_in":
            raise errors.InvalidStateTransition(current, target)
        move_to_state(pn, target)
        return False
    # released, port_out, deleted, discovery or an unknown name: Kazoo's cause-less error
    raise errors.InvalidStateTransition()


# -- carriers ----------------------------------------------------------------------------------


def acquire(pn: PhoneNumber) -> PhoneNumber:
    """Ask the number's carrier to buy it (the facade skips dry runs and unknown carriers)."""
    result = carriers.acquire(pn)
    if not isinstance(result, PhoneNumber):
        raise errors.InternalError(cause="invalid_return_type")
    return result


def disconnect(pn: PhoneNumber) -> PhoneNumber:
    """Release the number at its carrier (unknown carriers are allowed to let go)."""
    result = carriers.disconnect(pn)
    if not isinstance(result, PhoneNumber):
        raise errors.InternalError(cause="invalid_return_type")
    return result


def to_options_state(pn: PhoneNumber, target: str, ctx: Context | None = None) -> PhoneNumber:
    """Transition and, where Kazoo does, acquire — for callers that need no atomic save."""
    if transition(pn, target, ctx or Context()):
        return acquire(pn)
    return pn
