"""`knm search PREFIX`: every carrier asked at once, with a report per carrier.

A search that found nothing because carriers failed exits 1 (the library's
`SearchOutcome.failure()`, the same rule as the HTTP API's 502/504); one that found nothing
because nobody holds such numbers says why, and what to try.
"""

from __future__ import annotations

from typing import Any

import click

from knm import accounts, errors
from knm.carriers import registry
from knm.carriers import search as knm_search
from knm.cli.options import account, common
from knm.cli.output import console, emit, say, state, table


@click.command()
@click.argument("prefix")
@click.option("--quantity", "-n", default=10, show_default=True, type=int,
              help="How many numbers (1 to maximum_search_quantity).")
@click.option("--offset", default=0, show_default=True, type=int)
@click.option("--country", default="US", show_default=True, help="ISO 3166 alpha-2.")
@click.option("--dialcode", default=None, help="Dial code for a national prefix (e.g. +44).")
@click.option("--account", "account_id", default=None, help="Search as this account.")
@click.option("--carrier", "carriers", multiple=True,
              help="Only ask this carrier (repeatable; telnyx or knm_telnyx).")
@click.option("--query-id", default=None, help="Page a previous search from the cache.")
@common
def search(prefix: str, quantity: int, offset: int, country: str, dialcode: str | None,
           account_id: str | None, carriers: tuple[str, ...], query_id: str | None) -> None:
    """Search carriers for numbers under PREFIX (415, 1415 or +1415)."""
    account_id = account(account_id)
    outcome = knm_search.find_with_report(
        prefix, quantity, offset=offset, country=country, dialcode=dialcode,
        account_id=account_id, reseller_id=accounts.reseller_id(account_id),
        query_id=query_id, carriers=list(carriers) or None, cap_quantity=False,
    )
    report = {name: r.to_json() for name, r in sorted(outcome.carriers.items())}
    if outcome.failure() is not None:  # the library's rule, as the HTTP API's 502/504
        if not state.json:
            _carrier_table(report)
        raise errors.SearchFailed(report)  # the CLI names carriers in full, as everywhere
    data: dict[str, Any] = {"numbers": outcome.results, "query_id": outcome.query_id,
                            "from_cache": outcome.from_cache, "carriers": report}
    why = outcome.why_empty()
    if why is not None:
        data["empty_because"] = why
        data["hints"] = _hints(outcome, account_id)

    def human() -> None:
        rows = []
        for r in outcome.results:
            loc = r.get("locality") or {}
            rows.append((r["number"], r.get("state"),
                         ", ".join(str(loc[k]) for k in ("city", "region") if loc.get(k))))
        table(f"{len(rows)} number(s) — query id {outcome.query_id}",
              ["number", "state", "locality"], rows)
        if report:
            _carrier_table(report)
        elif outcome.from_cache:
            console().print("(page served from the search cache)")
        if why is not None:
            say(f"Nothing found: {why}.")
            for hint in data["hints"]:
                say(f"  - {hint}")

    emit(data, human)


def _carrier_table(report: dict[str, dict[str, Any]]) -> None:
    table("carriers", ["carrier", "outcome", "numbers", "seconds", "error"],
          [(n, r["outcome"], r["count"], r["seconds"],
            (r.get("error") or {}).get("message", "")) for n, r in report.items()])


def _hints(outcome: knm_search.SearchOutcome, account_id: str | None) -> list[str]:
    """What to try after an empty search: the usual reasons, in the order people hit them."""
    if outcome.from_cache:
        return ["start again without --query-id and --offset for a fresh search"]
    hints: list[str] = []
    asked = list(outcome.carriers)
    store_backed = [n for n in asked if (cls := registry.carrier_class(n)) is not None
                    and cls.answers_from_store]
    if account_id is None and store_backed:
        hints.append(f"{', '.join(store_backed)} answer only a search made as an account: "
                     "add --account ACCOUNT")
    if all(n in store_backed for n in asked):
        hints.append("only carriers answering from knm's own database were asked: add "
                     "numbers (knm numbers generate managed ACCOUNT START COUNT, knm numbers "
                     "import CSV) or configure carriers that sell numbers (knm config set "
                     "number_manager carrier_modules '[\"knm_local\", \"knm_telnyx\"]' and "
                     "their settings, see knm carriers)")
    else:
        hints.append("the carriers asked sell no numbers under this prefix: try another "
                     "prefix, or --carrier NAME to ask one carrier")
    return hints
