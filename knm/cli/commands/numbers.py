"""The commands on numbers: `knm buy`, `release`, `check` and the `knm numbers` group (get,
list, import, import-kazoo, generate, e911, cnam)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from knm import numbers as ops
from knm.carriers import check as check_numbers
from knm.cli.options import account, common
from knm.cli.output import console, emit, progress, show_progress, table
from knm.cli.policy import EXIT_ERROR, ExitCode
from knm.cli.results import number_ops, render_number
from knm.numbers import importers, stock
from knm.phone import parse_number

IMPORT_CHUNK = 500


@click.command()
@click.argument("numbers", nargs=-1, required=True)
@click.option("--account", "account_id", required=True, help="Account to buy into.")
@click.option("--dry-run", is_flag=True, help="Check the purchase without buying.")
@common
def buy(numbers: tuple[str, ...], account_id: str, dry_run: bool) -> None:
    """Buy NUMBER(s) into an account (a number found by `knm search` comes from its carrier)."""
    account_id = account(account_id) or account_id
    if not dry_run:
        number_ops(numbers, "buying", lambda n: ops.move(n, account_id), render_number)
        return
    nothing = "DRY RUN: nothing was bought or saved"
    number_ops(numbers, "checking", lambda n: ops.move(n, account_id, dry_run=True),
               lambda doc: render_number(doc, f"{nothing}; buying would give this number"),
               extra={"dry_run": True},
               summary=lambda ok, bad: f"{nothing}: {ok} could be bought, {bad} could not")


@click.command()
@click.argument("numbers", nargs=-1, required=True)
@common
def release(numbers: tuple[str, ...]) -> None:
    """Release NUMBER(s) from their account."""
    number_ops(numbers, "releasing", ops.release, render_number)


@click.command()
@click.argument("numbers", nargs=-1, required=True)
@common
def check(numbers: tuple[str, ...]) -> None:
    """Ask the carriers for the status of NUMBER(s)."""
    statuses = check_numbers([parse_number(n) for n in numbers])
    emit(statuses, lambda: table(None, ["number", "status"], sorted(statuses.items())))


# -- knm numbers ------------------------------------------------------------------------------


@click.group("numbers")
def numbers_group() -> None:
    """Numbers in the database: get, list, import, generate; their E911 address and caller
    name."""


@numbers_group.command("get")
@click.argument("numbers_", metavar="NUMBER...", nargs=-1, required=True)
@common
def numbers_get(numbers_: tuple[str, ...]) -> None:
    """Show NUMBER(s) as stored (Kazoo number documents)."""
    number_ops(numbers_, "reading", ops.get, render_number)


@numbers_group.command("list")
@click.option("--account", "account_id", required=True, help="Whose numbers.")
@common
def numbers_list(account_id: str) -> None:
    """List an account's numbers."""
    account_id = account(account_id) or account_id
    docs = sorted((pn.to_json() for pn in ops.list_account(account_id)),
                  key=lambda d: d.get("_id", ""))
    emit(docs, lambda: table(f"{len(docs)} number(s) of {account_id}",
                             ["number", "state", "carrier", "used by"],
                             [(d.get("_id"), d.get("pvt_state"), d.get("pvt_module_name"),
                               d.get("pvt_used_by")) for d in docs]))


@numbers_group.command("import")
@click.argument("csv_path", metavar="CSV")
@common
def numbers_import(csv_path: str) -> None:
    """Load knm_inventory numbers (available for sale) from a CSV file."""
    path = importers.existing_file(csv_path, "csv")
    total = _count_lines(path) if show_progress() else None
    with progress("importing", total) as advance:
        report = stock.import_inventory_file(path, progress=_by_increments(advance))
    data = report.to_json()
    emit(data, lambda: console().print(_summary_line(data)))
    if report.failed:  # bad lines: reported above, and the run did not fully succeed
        raise ExitCode(EXIT_ERROR)


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def _by_increments(advance: Callable[[int], None]) -> Callable[[int], None]:
    """The library reports running totals; a progress bar wants increments."""
    seen = [0]

    def moved_on(done: int) -> None:
        advance(max(0, int(done) - seen[0]))
        seen[0] = max(seen[0], int(done))

    return moved_on


def _summary_line(data: dict[str, Any]) -> str:
    line = f"imported {data.get('imported', 0)}"
    if data.get("already_present"):
        line += f", already present {data['already_present']}"
    line += f", failed {data.get('failed', 0)}"
    for key, err in list((data.get("errors") or {}).items())[:20]:
        message = err.get("message", err) if isinstance(err, dict) else err
        where = f"line {key}" if isinstance(err, dict) and "line" in err else key
        line += f"\n  {where}: {message}"
    for number in list(data.get("present") or [])[:20]:
        line += f"\n  {number}: already present"
    return line


@numbers_group.command("import-kazoo")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True)
@common
def numbers_import_kazoo(paths: tuple[str, ...]) -> None:
    """Load Kazoo number documents (JSON files or folders of them), for moving off Kazoo."""
    docs = importers.kazoo_documents(paths)
    outcome = importers.KazooImport()
    with progress("importing", len(docs)) as advance:
        for start in range(0, len(docs), IMPORT_CHUNK):
            chunk = docs[start:start + IMPORT_CHUNK]
            outcome.add(importers.import_kazoo(chunk))
            advance(len(chunk))
    data = outcome.to_json()
    emit(data, lambda: console().print(_summary_line(data)))
    if outcome.failed:
        raise ExitCode(EXIT_ERROR)


@numbers_group.command("generate")
@click.argument("carrier")
@click.argument("account_id", metavar="ACCOUNT")
@click.argument("start")
@click.argument("count", type=int)
@common
def numbers_generate(carrier: str, account_id: str, start: str, count: int) -> None:
    """Add COUNT numbers START, START+1, … to ACCOUNT's knm_managed or knm_inum pool."""
    account_id = account(account_id) or account_id
    with progress("generating", max(count, 0)) as advance:
        made = stock.generate(carrier, account_id, start, count,
                              progress=_by_increments(advance))
    data = made.to_json()
    emit(data, lambda: console().print(
        f"{made.carrier}: added {made.added} of {count} number(s) to {account_id}"
        + (f" ({made.first} … {made.last})" if made.first else "")))


# -- number features (SPEC §13) ---------------------------------------------------------------


def _with(number: str, key: str, value: Any) -> Any:
    """NUMBER's public fields with `key` replaced by `value` (None: removed), saved through
    the feature providers (`knm.numbers.update`)."""
    current = ops.get(number)
    public = dict(current.doc)
    if value is None:
        public.pop(key, None)
    else:
        public[key] = value
    return ops.update(number, public_fields=public)


def _render_feature(doc: dict[str, Any], key: str, title: str) -> None:
    shown = doc.get(key) or {}
    rows = [("number", doc.get("_id")), ("carrier", doc.get("pvt_module_name"))]
    rows += [(k, ", ".join(v) if isinstance(v, list) else v) for k, v in shown.items()
             if v not in (None, "", [])]
    if not shown:
        rows.append((key, "none"))
    table(title, ["field", "value"], rows)


@numbers_group.command("e911")
@click.argument("number")
@click.option("--street", help="Street address (house number and street).")
@click.option("--suite", help="Floor, suite or room: part of a dispatchable location.")
@click.option("--city", help="City (Kazoo's `locality`).")
@click.option("--state", "region", help="State: its 2-letter code (Kazoo's `region`).")
@click.option("--postal-code", help="ZIP or postal code.")
@click.option("--country", default="US", show_default=True, help="ISO country code.")
@click.option("--caller-name", help="Name the emergency operator sees (default: the "
                                    "account's name).")
@click.option("--remove", is_flag=True, help="Remove the number's emergency address.")
@common
def numbers_e911(number: str, street: str | None, suite: str | None, city: str | None,
                 region: str | None, postal_code: str | None, country: str,
                 caller_name: str | None, remove: bool) -> None:
    """Set NUMBER's emergency (E911) address: the carrier that serves it validates it
    (rejected: error; corrected: error listing its suggestion) and registers it, PENDING
    until it confirms; --remove removes it there."""
    num = parse_number(number)
    if remove:
        given = [name for name, value in (("--street", street), ("--suite", suite),
                                          ("--city", city), ("--state", region),
                                          ("--postal-code", postal_code),
                                          ("--caller-name", caller_name)) if value]
        if given:
            raise click.UsageError(f"--remove takes no address ({', '.join(given)})")
        pn = _with(num, "e911", None)
    else:
        address = {"street_address": street, "extended_address": suite or "",
                   "locality": city, "region": region, "postal_code": postal_code,
                   "country": country}
        if caller_name:
            address["caller_name"] = caller_name
        pn = _with(num, "e911", address)
    doc = pn.to_json()
    emit(doc, lambda: _render_feature(doc, "e911", f"E911 of {pn.number}"))


@numbers_group.command("cnam")
@click.argument("number")
@click.argument("name", required=False)
@click.option("--inbound/--no-inbound", default=None,
              help="Turn the caller-name lookup of inbound calls on or off (default: as "
                   "it is).")
@click.option("--remove", is_flag=True, help="Withdraw the outbound listing.")
@common
def numbers_cnam(number: str, name: str | None, inbound: bool | None, remove: bool) -> None:
    """List NAME (at most 15 characters) as NUMBER's outbound caller name at the carrier
    that serves it; --inbound turns on the lookup of callers' names."""
    num = parse_number(number)
    if remove and name:
        raise click.UsageError("--remove takes no NAME")
    if name is None and not remove and inbound is None:
        raise click.UsageError("give a NAME, --remove, or --inbound/--no-inbound")
    current = ops.get(num).doc.get("cnam")
    cnam = {k: v for k, v in (current or {}).items()
            if k in ("display_name", "inbound_lookup")} if isinstance(current, dict) else {}
    if name is not None:
        cnam["display_name"] = name
    if remove:
        cnam.pop("display_name", None)
    if inbound is not None:
        cnam["inbound_lookup"] = inbound
    pn = _with(num, "cnam", cnam if cnam.get("display_name") or cnam.get("inbound_lookup")
               else None)
    doc = pn.to_json()
    emit(doc, lambda: _render_feature(doc, "cnam", f"caller name of {pn.number}"))
