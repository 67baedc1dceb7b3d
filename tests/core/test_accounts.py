"""`knm.accounts`: the account tree, resellers, admin rights, API keys and tokens."""

from __future__ import annotations

import pytest

from knm import accounts, errors


def test_account_tree_and_reseller(db: str) -> None:
    master = accounts.create("master", superduper_admin=True)
    reseller = accounts.create("reseller", parent_id=master.id, is_reseller=True)
    child = accounts.create("child", parent_id=reseller.id)
    grandchild = accounts.create("grandchild", parent_id=child.id)
    assert grandchild.tree == [master.id, reseller.id, child.id]
    assert accounts.reseller_id(grandchild.id) == reseller.id
    assert accounts.reseller_id(reseller.id) == reseller.id
    assert accounts.reseller_id(master.id) == master.id
    assert accounts.in_hierarchy(master.id, grandchild.id)
    assert not accounts.in_hierarchy(grandchild.id, master.id)
    assert accounts.is_admin("system") and accounts.is_admin(master.id)
    assert not accounts.is_admin(child.id)
    assert accounts.master() == master
    assert [a.id for a in accounts.list()] == [master.id, reseller.id, child.id, grandchild.id]


def test_bad_account_input_is_invalid(db: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        accounts.get("0" * 32)
    assert caught.value.cause == "account_id"
    with pytest.raises(errors.Invalid):
        accounts.create("x", account_id="not-an-id")
    with pytest.raises(errors.Invalid) as caught:
        accounts.create("x", parent_id="f" * 32)
    assert caught.value.cause == "parent_id"


def test_api_keys_and_tokens(db: str) -> None:
    account = accounts.create("acme")
    key = accounts.create_api_key(account.id)
    assert accounts.account_for_api_key(key) == account.id
    assert accounts.account_for_api_key(key + "x") is None
    token = accounts.create_token(account.id, ttl_s=60)
    assert accounts.account_for_token(token) == account.id
    expired = accounts.create_token(account.id, ttl_s=-1)
    assert accounts.account_for_token(expired) is None
