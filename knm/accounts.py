"""Just enough of an account tree for carriers and authorization.

An account knows its ancestors (`tree`, root first), so "is A above B" is one lookup, as in
Kazoo's `pvt_tree`. The reseller of an account is its nearest reseller ancestor (itself if it
is one), else the root. API keys and tokens are stored as hashes only.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from knm import errors, store
from knm.store.schema import accounts as t
from knm.store.schema import api_keys, auth_tokens
from knm.values import ACCOUNT_ID, is_account_id

__all__ = ["ACCOUNT_ID", "ADDITION_CREATION_STATES", "ADMIN_CREATION_STATES", "SYSTEM",
           "Account", "account_for_api_key", "account_for_token", "allows_additions",
           "create", "create_api_key", "create_token", "creation_states", "find", "get",
           "in_hierarchy", "is_account_id", "is_admin", "list", "reseller_id", "update"]

_list = list  # `list` is shadowed below by the SPEC's accounts.list()

#: who acts when no account does (the CLI, the library's defaults): allowed everything
SYSTEM = "system"
#: states numbers may be created in (reference/kazoo-core.md §7.4): by administrators, and
#: by accounts allowed number additions
ADMIN_CREATION_STATES = ("aging", "available", "in_service", "port_in", "reserved")
ADDITION_CREATION_STATES = ("in_service", "reserved")


def creation_states(*, is_admin: bool = False, allows_additions: bool = False) -> list[str]:
    """States an account may create numbers in: administrators all five, accounts allowed
    additions `in_service`/`reserved`, everyone else none (Kazoo's one rule, used by the
    operations and by the facade's `info`)."""
    if is_admin:
        return _list(ADMIN_CREATION_STATES)
    if allows_additions:
        return _list(ADDITION_CREATION_STATES)
    return []


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    parent_id: str | None = None
    tree: list[str] = field(default_factory=list)
    is_reseller: bool = False
    superduper_admin: bool = False
    allow_number_additions: bool = False
    dial_plan: dict[str, Any] | None = None
    created: int = 0  # microseconds since the epoch: orders accounts by creation

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "parent_id": self.parent_id, "tree": self.tree,
            "is_reseller": self.is_reseller, "superduper_admin": self.superduper_admin,
            "allow_number_additions": self.allow_number_additions,
        }


def _row_to_account(row: Any) -> Account:
    return Account(
        id=row.id, name=row.name, parent_id=row.parent_id, tree=_list(row.tree or []),
        is_reseller=bool(row.is_reseller), superduper_admin=bool(row.superduper_admin),
        allow_number_additions=bool(row.allow_number_additions), dial_plan=row.dial_plan,
        created=row.created,
    )


def create(name: str, *, account_id: str | None = None, parent_id: str | None = None,
           is_reseller: bool = False, superduper_admin: bool = False,
           allow_number_additions: bool = False) -> Account:
    """Create an account. The first account with no parent is the master account."""
    if not name or not str(name).strip():
        raise errors.Invalid("name", "an account needs a name")
    account_id = account_id or uuid.uuid4().hex
    if not is_account_id(account_id):
        raise errors.Invalid("account_id", f"account id {account_id!r} must be 32 characters "
                             "of lowercase letters, digits or '_'")
    tree: list[str] = []
    with store.write() as conn:
        if conn.execute(select(t.c.id).where(t.c.id == account_id)).first():
            raise errors.KnmError(f"account {account_id} already exists", code=409,
                                  error="account_exists", cause=account_id)
        if parent_id is not None:
            parent = conn.execute(select(t).where(t.c.id == parent_id)).first()
            if parent is None:
                raise errors.Invalid("parent_id", f"parent account {parent_id} not found")
            tree = _list(parent.tree or []) + [parent_id]
        conn.execute(t.insert().values(
            id=account_id, name=str(name), parent_id=parent_id, tree=tree,
            is_reseller=is_reseller, superduper_admin=superduper_admin,
            allow_number_additions=allow_number_additions, created=time.time_ns() // 1000,
        ))
    return get(account_id)


def get(account_id: str) -> Account:
    """The account, or `400 invalid` naming `account_id` when there is none."""
    found = find(account_id)
    if found is None:
        raise errors.Invalid("account_id", f"account {account_id} not found")
    return found


def find(account_id: str | None) -> Account | None:
    if not account_id:
        return None
    with store.read() as conn:
        row = conn.execute(select(t).where(t.c.id == account_id)).first()
    return _row_to_account(row) if row else None


def list() -> _list[Account]:  # noqa: A001 - the SPEC's name
    with store.read() as conn:
        rows = conn.execute(select(t).order_by(t.c.created, t.c.id)).all()
    return [_row_to_account(r) for r in rows]


def update(account_id: str, **fields: Any) -> Account:
    allowed = {"name", "is_reseller", "superduper_admin", "allow_number_additions", "dial_plan"}
    unknown = set(fields) - allowed
    if unknown:
        raise errors.Invalid(sorted(unknown)[0], "not an account field that can be changed")
    get(account_id)
    with store.write() as conn:
        conn.execute(t.update().where(t.c.id == account_id).values(**fields))
    return get(account_id)


def master() -> Account | None:
    """The master account (Kazoo's `master_account_id`): the first account created with no
    parent. Public API for applications ported from Kazoo; knm's own rights come from
    `superduper_admin`, not from being the master."""
    with store.read() as conn:
        row = conn.execute(select(t).where(t.c.parent_id.is_(None))
                           .order_by(t.c.created, t.c.id).limit(1)).first()
    return _row_to_account(row) if row else None


def reseller_id(account_id: str | None) -> str | None:
    """Nearest reseller ancestor (itself if a reseller), else the root of its tree."""
    account = find(account_id)
    if account is None:
        return None
    if account.is_reseller:
        return account.id
    with store.read() as conn:
        rows = {r.id: bool(r.is_reseller) for r in conn.execute(
            select(t.c.id, t.c.is_reseller).where(t.c.id.in_(account.tree or [""]))).all()}
    for ancestor in reversed(account.tree):
        if rows.get(ancestor):
            return ancestor
    return account.tree[0] if account.tree else account.id


def is_admin(who: str | None) -> bool:
    """`system` or a superduper-admin account."""
    if who == SYSTEM:
        return True
    account = find(who)
    return bool(account and account.superduper_admin)


def in_hierarchy(ancestor: str | None, descendant: str | None) -> bool:
    """True when `ancestor` is `descendant` or one of its ancestors."""
    if not ancestor or not descendant:
        return False
    if ancestor == descendant:
        return True
    account = find(descendant)
    return bool(account and ancestor in account.tree)


def allows_additions(who: str | None) -> bool:
    if who == SYSTEM:
        return True
    account = find(who)
    return bool(account and account.allow_number_additions)


# -- API keys and tokens -----------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(account_id: str) -> str:
    """A new API key for the account. Shown once; only its hash is kept."""
    get(account_id)
    key = secrets.token_hex(32)
    with store.write() as conn:
        conn.execute(api_keys.insert().values(key_hash=_hash(key), account_id=account_id,
                                              created=int(time.time())))
    return key


def account_for_api_key(key: str) -> str | None:
    with store.read() as conn:
        row = conn.execute(select(api_keys.c.account_id)
                           .where(api_keys.c.key_hash == _hash(key))).first()
    return row.account_id if row else None


#: live tokens one account may hold: minting one more revokes its oldest, so a client that
#: authenticates in a loop cannot fill the table
MAX_LIVE_TOKENS = 20


def create_token(account_id: str, ttl_s: float, *, keep: int = MAX_LIVE_TOKENS) -> str:
    """A new token for the account (only its hash is kept). Expired tokens are swept, and
    beyond `keep` live tokens of the account its oldest are revoked."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    with store.write() as conn:
        conn.execute(delete(auth_tokens).where(auth_tokens.c.expires_at < now))
        live = conn.execute(select(auth_tokens.c.token_hash)
                            .where(auth_tokens.c.account_id == account_id)
                            .order_by(auth_tokens.c.expires_at.desc())).scalars().all()
        stale = live[max(0, keep - 1):]
        if stale:
            conn.execute(delete(auth_tokens).where(auth_tokens.c.token_hash.in_(stale)))
        conn.execute(auth_tokens.insert().values(token_hash=_hash(token), account_id=account_id,
                                                 expires_at=now + ttl_s))
    return token


def token_lookup(token: str) -> tuple[str, float] | None:
    """The token's account and expiry time (epoch seconds), or None when the token is
    unknown or has expired (a token is good strictly before its `expires_at`)."""
    with store.read() as conn:
        row = conn.execute(select(auth_tokens.c.account_id, auth_tokens.c.expires_at).where(
            auth_tokens.c.token_hash == _hash(token))).first()
    if row is None or row.expires_at <= time.time():
        return None
    return row.account_id, float(row.expires_at)


def account_for_token(token: str) -> str | None:
    """The token's account, or None when the token is unknown or expired. Public API (for an
    application authenticating its own users); the HTTP API calls `token_lookup`, which adds
    the expiry it caches by, so both use one expiry rule."""
    found = token_lookup(token)
    return found[0] if found else None
