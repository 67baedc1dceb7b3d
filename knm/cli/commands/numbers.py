"""The commands on numbers: `knm buy`, `release`, `check` and the `knm numbers` group (get,
list, import, import-kazoo, generate)."""

from __future__ import annotations

from typing import Any

import click

from knm import errors
from knm import numbers as ops
from knm.carriers import check as check_numbers
from knm.carriers import get_carrier, registry
from knm.carriers.inventory import import_inventory
from knm.carriers.selection import carrier_name
from knm.cli.options import account, common
from knm.cli.output import console, emit, progress, show_progress, table
from knm.cli.policy import EXIT_ERROR, ExitCode
from knm.cli.readers import count_lines, csv_numbers, existing_file, kazoo_docs
from knm.cli.results import error_json, number_ops, render_number
from knm.phone import normalize, parse_number

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
    """Numbers in the database: get, list, import, generate."""


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
    path = existing_file(csv_path, "csv")
    total = count_lines(path) if show_progress() else None
    seen = {"n": 0}
    with progress("importing", total) as advance:

        def moved_on(done: int, *_: Any) -> None:
            # the importer reports a running total; the bar wants increments
            step = max(0, int(done) - seen["n"])
            seen["n"] = max(seen["n"], int(done))
            advance(step)

        added = import_inventory(csv_numbers(path), progress=moved_on)
    # entries that are not phone numbers are skipped (and logged), not failures
    data = {"imported": added, "failed": 0, "errors": {}, "read": seen["n"]}
    emit(data, lambda: console().print(_summary_line(data)))


def _summary_line(data: dict[str, Any]) -> str:
    line = f"imported {data.get('imported', 0)}, failed {data.get('failed', 0)}"
    for number, err in list((data.get("errors") or {}).items())[:20]:
        message = err.get("message", err) if isinstance(err, dict) else err
        line += f"\n  {number}: {message}"
    return line


@numbers_group.command("import-kazoo")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True)
@common
def numbers_import_kazoo(paths: tuple[str, ...]) -> None:
    """Load Kazoo number documents (JSON files or folders of them), for moving off Kazoo."""
    docs = kazoo_docs(paths)
    imported: list[str] = []
    failed: dict[str, Any] = {}
    with progress("importing", len(docs)) as advance:
        for start in range(0, len(docs), IMPORT_CHUNK):
            chunk = docs[start:start + IMPORT_CHUNK]
            result = ops.import_kazoo(chunk)
            imported.extend(pn.number for pn in result.succeeded)
            failed.update({k: error_json(e) for k, e in result.failed.items()})
            advance(len(chunk))
    data = {"imported": len(imported), "failed": len(failed), "numbers": imported,
            "errors": failed}
    emit(data, lambda: console().print(_summary_line(data)))
    if failed:
        raise ExitCode(EXIT_ERROR)


@numbers_group.command("generate")
@click.argument("carrier")
@click.argument("account_id", metavar="ACCOUNT")
@click.argument("start")
@click.argument("count", type=int)
@common
def numbers_generate(carrier: str, account_id: str, start: str, count: int) -> None:
    """Add COUNT numbers START, START+1, … to ACCOUNT's knm_managed or knm_inum pool."""
    name = carrier_name(carrier)
    cls = registry.carrier_class(name)
    if cls is None or "generate" not in cls.capabilities:
        able = [n for n in registry.declared_names()
                if (c := registry.carrier_class(n)) is not None and "generate" in c.capabilities]
        raise errors.Invalid("carrier", f"{name} cannot generate numbers; use "
                             f"{' or '.join(sorted(able))}")
    account_id = account(account_id) or account_id
    pool = get_carrier(name)
    with progress("generating", count) as advance:
        added = pool.generate_numbers(account_id, start, count)  # type: ignore[union-attr]
        advance(count)
    data: dict[str, Any] = {"carrier": name, "account_id": account_id, "requested": count,
                            "added": added}
    if count > 0:
        first = int(normalize(start.strip()).removeprefix("+"))  # as the pool read it
        data.update(first=f"+{first}", last=f"+{first + count - 1}")
    emit(data, lambda: console().print(
        f"{name}: added {added} of {count} number(s) to {account_id}"
        + (f" ({data['first']} … {data['last']})" if count > 0 else "")))
