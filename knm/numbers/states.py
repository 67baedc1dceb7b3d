"""Kazoo's number state machine (`knm_states:to_options_state`, reference/kazoo-core.md §7.2).

`transition(pn, target, ctx)` applies one number's guards and moves it in memory, and says
whether the carrier must now be asked to acquire it; it neither writes nor calls a carrier.
The purchase protocol (`knm.numbers.purchase`) makes the acquire and the save atomic, so a
number bought at a carrier is always recorded and never bought twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from knm import errors
from knm.numbers.policy import MDN, AuthCache, authorize, authorize_subaccount
from knm.record import PhoneNumber

#: targets that an MDN number may never be moved to (its numbers live at the mobile core)
MDN_FORBIDDEN_TARGETS = ("reserved", "available", "aging", "port_in")


@dataclass
class Context:
    """What one operation knows once, for every number it touches."""

    auth: AuthCache = field(default_factory=AuthCache)


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
            authorize_subaccount(pn, auth)
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
