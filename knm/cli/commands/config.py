"""`knm config get|set`: layered settings (system, node, account), secrets shown as `***`.

A setting that names carriers (`carrier_modules`, `available_module_name`, …) is checked by
the library (`knm.carriers.selection.check_setting`) before it is stored: a typo is refused
with the names knm knows, not stored and silently skipped by every search. A carrier's
category may be given by its short or full name (`number_manager.telnyx`,
`number_manager.knm_telnyx`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from knm import config, errors, sealing, secrets
from knm.carriers.selection import check_setting
from knm.cli.options import account, common
from knm.cli.output import emit, table


@click.group("config")
def config_group() -> None:
    """Layered settings: system, per node, per account."""


def _masked(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return secrets.masked(value)
    return secrets.masked({key: value})[key]


@config_group.command("get")
@click.argument("category")
@click.argument("key", required=False)
@click.option("--account", "account_id", default=None)
@click.option("--node", default=None)
@common
def config_get(category: str, key: str | None, account_id: str | None,
               node: str | None) -> None:
    """Show one key, or a whole CATEGORY (secrets as ***)."""
    account_id = account(account_id)
    category = config.canonical_category(category)
    if key is None:
        values = config.mask(config.get_category(category, account_id=account_id, node=node))
        emit(values, lambda: table(category, ["key", "value"],
                                   [(k, json.dumps(v)) for k, v in sorted(values.items())]))
        return
    value = _masked(key, config.get(category, key, account_id=account_id, node=node))
    emit({"category": category, "key": key, "value": value},
         lambda: click.echo(json.dumps(value)))


def parse_value(text: str) -> Any:
    """A config value from the command line: JSON, or a bare word taken as a string.

    Text that starts like JSON structure (`{`, `[`, `"`) but does not parse is refused rather
    than stored as a string — it is almost certainly a typo the user wants to hear about.
    """
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        if not stripped or stripped[0] in "{[\"":
            raise errors.Invalid("value", f"value is not valid JSON: {exc}") from None
    return text


@config_group.command("set")
@click.argument("category")
@click.argument("key")
@click.argument("value")
@click.option("--account", "account_id", default=None)
@click.option("--node", default=None)
@common
def config_set(category: str, key: str, value: str, account_id: str | None,
               node: str | None) -> None:
    """Set KEY of CATEGORY to VALUE (JSON; a bare word is a string; null removes the key)."""
    parsed = parse_value(value)
    account_id = account(account_id)
    category = config.canonical_category(category)
    parsed = check_setting(category, key, parsed)
    config.set(category, key, parsed, account_id=account_id, node=node)
    shown = _masked(key, parsed)
    emit({"category": category, "key": key, "value": shown, "account_id": account_id,
          "node": node},
         lambda: click.echo(f"{category} {key} = {json.dumps(shown)}"))


#: the key secrets are sealed with now, when `KNM_SECRET_KEY` holds the new one
OLD_KEY_ENV = "KNM_OLD_SECRET_KEY"


@config_group.command("rotate-key")
@click.option("--to-plaintext", is_flag=True,
              help="Store the secrets unsealed again (leaving encryption at rest).")
@common
def config_rotate_key(to_plaintext: bool) -> None:
    """Seal every stored carrier secret with KNM_SECRET_KEY (and re-seal those sealed with
    KNM_OLD_SECRET_KEY). Keys are read from the environment only, never from the command
    line, where other users could see them."""
    new_key = os.environ.get(sealing.ENV) or None
    old_key = os.environ.get(OLD_KEY_ENV) or None
    if to_plaintext:
        old_key, new_key = old_key or new_key, None
    elif new_key is None:
        raise errors.Invalid(sealing.ENV, f"set {sealing.ENV} to the key to seal with (and "
                             f"{OLD_KEY_ENV} to the one the secrets are sealed with now)")
    rewritten = config.rotate_key(new_key, old_key=old_key)
    stored = config.secrets_at_rest()
    data = {"rewritten": rewritten, **stored}
    emit(data, lambda: click.echo(
        f"rewrote {rewritten} secret setting(s): {stored['sealed']} sealed, "
        f"{stored['plaintext']} in plaintext"))
