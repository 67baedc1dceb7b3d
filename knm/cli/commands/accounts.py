"""`knm accounts create|list|api-key`: the account tree."""

from __future__ import annotations

from typing import Any

import click

from knm import accounts
from knm.cli.options import common
from knm.cli.output import console, emit, state, table


@click.group("accounts")
def accounts_group() -> None:
    """The account tree: create, list, API keys."""


@accounts_group.command("create")
@click.argument("name")
@click.option("--id", "account_id", default=None, help="32-character id (default: random).")
@click.option("--parent", "parent_id", default=None, help="Parent account id.")
@click.option("--reseller", is_flag=True, help="The account is a reseller.")
@click.option("--admin", is_flag=True, help="Superduper admin.")
@click.option("--allow-additions", is_flag=True, help="May create numbers directly.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the new account's id (for scripts: ID=$(knm accounts create …)).")
@common
def accounts_create(name: str, account_id: str | None, parent_id: str | None, reseller: bool,
                    admin: bool, allow_additions: bool, quiet: bool) -> None:
    """Create an account (the first one with no parent is the master account)."""
    account = accounts.create(name, account_id=account_id, parent_id=parent_id,
                              is_reseller=reseller, superduper_admin=admin,
                              allow_number_additions=allow_additions)
    if quiet and not state.json:
        click.echo(account.id)
        return
    emit(account.to_json(),
         lambda: console().print(f"created account {account.id} ({account.name})"))


@accounts_group.command("list")
@common
def accounts_list() -> None:
    """Every account."""
    found = [a.to_json() for a in accounts.list()]
    emit(found, lambda: table(f"{len(found)} account(s)",
                              ["id", "name", "parent", "reseller", "admin", "additions"],
                              [(a["id"], a["name"], a["parent_id"], _yes(a["is_reseller"]),
                                _yes(a["superduper_admin"]),
                                _yes(a["allow_number_additions"])) for a in found]))


def _yes(flag: Any) -> str:
    return "yes" if flag else ""


@accounts_group.command("api-key")
@click.argument("account_id", metavar="ID")
@common
def accounts_api_key(account_id: str) -> None:
    """Create an API key for the account (shown once; only its hash is kept)."""
    key = accounts.create_api_key(account_id)
    emit({"account_id": account_id, "api_key": key}, lambda: click.echo(key))
