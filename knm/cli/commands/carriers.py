"""`knm carriers [--account A] [--all]`: the carriers knm has, which ones searches ask, and
whether each can work as configured (ready / missing settings, by name / misconfigured /
unreachable), with its settings (secrets masked) and its warnings (`warnings`: settings that
work today but not for long, such as Bandwidth's Basic auth, retired on 2026-12-02).

Kazoo's list of carrier names includes a dozen carriers knm never had; they are shown only
with `--all` (or when the configuration names one: then as unreachable, which it is).
"""

from __future__ import annotations

from typing import Any

import click

from knm import accounts, config
from knm import carriers as facade
from knm.carriers import health, registry, selection
from knm.carriers.base import full_name
from knm.cli.options import account, common
from knm.cli.output import emit, say, table


@click.command("carriers")
@click.option("--account", "account_id", default=None,
              help="Show what this account may use.")
@click.option("--all", "show_all", is_flag=True,
              help="Also list Kazoo's carrier names that knm does not have.")
@common
def carriers_cmd(account_id: str | None, show_all: bool) -> None:
    """List the carriers, whether they are in use and ready, and their settings."""
    account_id = account(account_id)
    reseller = accounts.reseller_id(account_id)
    in_use = list(facade.available_carriers(account_id, reseller))
    configured = [full_name(n) for n in (selection.account_modules(reseller) if reseller
                                         else selection.system_modules())]
    known = set(registry.declared_names())
    listing: list[dict[str, Any]] = []
    states: dict[str, health.CarrierHealth] = {}
    for name in dict.fromkeys([*facade.all_modules(), *in_use, *configured]):
        cls = registry.carrier_class(name)
        if cls is None and name not in known and name not in configured and not show_all:
            continue  # one of Kazoo's carriers that knm never had
        state = states[name] = health.check(name)
        entry: dict[str, Any] = {"name": name, "reachable": cls is not None,
                                 "in_use": name in in_use, "configured": name in configured,
                                 **state.to_json()}
        if cls is not None:
            entry.update(local=bool(cls.local), billable=bool(cls.billable),
                         maximal_prefix_length=cls.maximal_prefix_length,
                         settings=config.mask(config.carrier_config(name), cls.secret_keys()))
        entry["describe"] = state.describe()
        listing.append(entry)
    shown = {c["name"] for c in listing}
    info = facade.info(account_id or "system", account_id, reseller)
    data = {"carriers": listing, "info": info}

    def human() -> None:
        table("carriers", ["carrier", "in use", "state", "local", "settings"],
              [(c["name"], "yes" if c["in_use"] else "",
                states[c["name"]].describe(warnings=False) + (
                    " (see warnings below)" if c.get("warnings") else ""),
                ("yes" if c.get("local") else "no") if c["reachable"] else "",
                ", ".join(f"{k}={v}" for k, v in (c.get("settings") or {}).items()
                          if v not in (None, "", [], {})))
               for c in listing])
        for c in listing:
            for text in c.get("warnings", ()):
                say(f"warning: {c['name']}: {text}")
        say(f"maximal prefix length {info['maximal_prefix_length']}; numbers may be created "
            f"in: {', '.join(info['usable_creation_states']) or '(none)'}")
        hidden = [n for n in facade.all_modules() if n not in shown]
        if hidden:
            say(f"({len(hidden)} of Kazoo's carrier names that knm does not have are hidden; "
                "--all lists them)")

    emit(data, human)
