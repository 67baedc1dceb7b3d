"""Who may do what to a number (reference/kazoo-core.md §5.4, §7.4): reading, changing,
creating in which state, and the MDN guard.

Evaluated through an `AuthCache`, so a bulk operation over 10,000 numbers asks the account
table once per account, not once per number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from knm import accounts, errors
from knm.accounts import SYSTEM
from knm.record import STATES, PhoneNumber

MDN = "knm_mdn"


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
        return self._ask(_account_exists, account_id) if account_id else False


def _account_exists(account_id: str) -> bool:
    return accounts.find(account_id) is not None


# -- reading and changing a number -------------------------------------------------------------


def is_authorized(pn: PhoneNumber, auth: AuthCache) -> bool:
    """May `pn.auth_by` act on this number (given its owner and the target `assign_to`)?"""
    who = pn.auth_by
    if who == SYSTEM:
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


def authorize_subaccount(pn: PhoneNumber, auth: AuthCache) -> None:
    if not (is_authorized(pn, auth) or is_reserved_from_parent(pn, auth)):
        raise errors.Forbidden()


def mdn_guard(pn: PhoneNumber) -> None:
    """Only MDN runs may change MDN numbers, and MDN runs only MDN numbers (system: any)."""
    if pn.auth_by == SYSTEM:
        return
    if bool(pn.mdn_run) != (pn.module_name == MDN):
        raise errors.Forbidden()


# -- creating numbers (reference/kazoo-core.md §7.4) -------------------------------------------


def allowed_creation_states(auth_by: str | None, auth: AuthCache | None = None) -> list[str]:
    """States `auth_by` may create numbers in: admins all five, accounts allowed additions
    `in_service`/`reserved`, everyone else none."""
    auth = auth or AuthCache()
    if not auth_by:
        return []
    return accounts.creation_states(is_admin=auth.is_admin(auth_by),
                                    allows_additions=auth.allows_additions(auth_by))


def check_assign_to(assign_to: str | None, auth: AuthCache) -> errors.KnmError | None:
    """Kazoo needs a 32-character account id; knm also needs the account to exist."""
    if not accounts.is_account_id(assign_to):
        return errors.AssignFailure()
    if not auth.exists(assign_to):
        return errors.Invalid("assign_to", f"account {assign_to} not found")
    return None


def _state_for_create(state: str | None, ported_in: bool, module_name: str | None,
                      auth_by: str | None, auth: AuthCache) -> str:
    if state is not None and state not in STATES:
        raise errors.Invalid("state", f"unknown state {state!r}; one of {', '.join(STATES)}")
    if state == "port_in":
        return "port_in"
    if ported_in or module_name == MDN:
        return "in_service"
    wanted = state or "in_service"
    if wanted not in allowed_creation_states(auth_by, auth):
        raise errors.Forbidden(f"creating number in state '{wanted}' is not allowed")
    return wanted


def ensure_can_create(*, assign_to: str | None, auth_by: str | None, state: str | None,
                      ported_in: bool, module_name: str | None, auth: AuthCache) -> str:
    """The state `auth_by` creates numbers in for `assign_to`, or the reason it may not."""
    target = _state_for_create(state, ported_in, module_name, auth_by, auth)
    problem = check_assign_to(assign_to, auth)
    if problem is not None:
        raise problem
    if auth_by == SYSTEM:
        return target
    if accounts.is_account_id(auth_by):
        if (ported_in or target == "port_in" or auth.allows_additions(auth_by)
                or auth.is_admin(auth_by)):
            return target
        raise errors.Forbidden(f"account '{auth_by}' is not allowed to create number")
    raise errors.Forbidden(
        "cannot determined account is allowed to create number, account id is undefined")
