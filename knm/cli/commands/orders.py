"""`knm orders [--account A]` and `knm orders settle [NUMBER…]` (SPEC §5.1, §9).

A purchase or release whose outcome at the carrier knm does not know yet — an order still
pending, an answer lost to a timeout, a process that died mid-call — is kept, never lost:
these commands list such numbers and ask their carriers what happened.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from knm import numbers as ops
from knm.cli.options import account, common
from knm.cli.output import emit, say, table
from knm.cli.policy import EXIT_ERROR, ExitCode
from knm.cli.results import bulk, describe_error
from knm.phone import parse_number
from knm.record import PhoneNumber
from knm.values import GREGORIAN_OFFSET

COLUMNS = ["number", "carrier", "operation", "status", "order id", "reference", "account",
           "since"]


@click.group("orders", invoke_without_command=True)
@click.option("--account", "account_id", default=None,
              help="Only this account's orders (and its descendants').")
@common
@click.pass_context
def orders_group(ctx: click.Context, account_id: str | None) -> None:
    """Unsettled purchases and releases at carriers; `settle` asks the carriers."""
    if ctx.invoked_subcommand is not None:
        return
    account_id = account(account_id)
    rows = [order_row(pn) for pn in ops.unsettled(account_id=account_id)]
    rows += [feature_row(summary) for summary in ops.pending_features(account_id=account_id)]

    def human() -> None:
        if not rows:
            say("No unsettled orders: every purchase and release is settled, and no E911 "
                "or caller-name change is pending at a carrier.")
            return
        table(f"{len(rows)} unsettled order(s) — `knm orders settle` asks the carriers",
              COLUMNS, [[row[key] for key in _KEYS] for row in rows])

    emit(rows, human)


_KEYS = ["number", "carrier", "operation", "status", "order_id", "reference", "account",
         "since"]


def order_row(pn: PhoneNumber) -> dict[str, Any]:
    """One unsettled number as `knm orders` shows it."""
    data = pn.carrier_data or {}
    releasing = pn.pending_operation == "disconnect"
    return {
        "number": pn.number,
        "carrier": pn.module_name,
        "operation": pn.pending_operation or "acquire",
        "status": data.get("disconnect_status" if releasing else "order_status") or "unknown",
        "order_id": data.get("disconnect_order_id" if releasing else "order_id"),
        "reference": data.get("order_reference"),
        "account": data.get("order_account") or pn.assigned_to,
        "since": _iso(pn.modified),
    }


def feature_row(summary: dict[str, Any]) -> dict[str, Any]:
    """A number feature a carrier still provisions (SPEC §13), as `knm orders` shows it."""
    return {
        "number": summary["number"], "carrier": summary["carrier"],
        "operation": summary["operation"], "status": summary["status"],
        "order_id": summary.get("order_id"), "reference": None,
        "account": summary.get("account_id"), "since": _iso(summary.get("since")),
    }


def _iso(gregorian: int | None) -> str | None:
    if not gregorian:
        return None
    stamp = datetime.fromtimestamp(gregorian - GREGORIAN_OFFSET, tz=UTC)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


@orders_group.command("settle")
@click.argument("numbers", metavar="[NUMBER]...", nargs=-1)
@common
def orders_settle(numbers: tuple[str, ...]) -> None:
    """Ask the carriers what became of NUMBER(s) (default: every unsettled one), and finish
    each purchase or release accordingly."""
    wanted = [parse_number(n) for n in numbers]
    before = {pn.number: pn.pending_operation or "acquire" for pn in ops.unsettled()}
    for summary in ops.pending_features():
        before.setdefault(summary["number"], summary["operation"])
    todo = wanted or list(before)
    if not todo:
        emit({"success": {}, "error": {}, "outcomes": {}},
             lambda: say("Nothing to settle: there are no unsettled orders."))
        return
    succeeded, failed = bulk("settling", todo, ops.settle)
    outcomes = {n: _outcome(before.get(n), doc) for n, doc in succeeded.items()}

    def human() -> None:
        table(f"settled {len(succeeded)}, not settled {len(failed)}", ["number", "result"],
              [(n, _OUTCOME_TEXT[outcomes[n]].format(**_fields(doc, before.get(n))))
               for n, doc in succeeded.items()]
              + [(n, f"not settled — {describe_error(e)}") for n, e in failed.items()])

    emit({"success": succeeded, "error": failed, "outcomes": outcomes}, human)
    if failed:
        raise ExitCode(EXIT_ERROR)


_OUTCOME_TEXT = {
    "bought": "bought: in service for {account}",
    "not_bought": "not bought (the carrier has no such order): removed",
    "released": "released at the carrier: knm no longer holds it",
    "not_released": "not released at the carrier: still {state}",
    "unchanged": "nothing to settle ({state})",
    "provisioned": "{feature} provisioned at the carrier",
    "feature_failed": "{feature} failed at the carrier: {message}",
    "feature_unchanged": "{feature} unchanged: the carrier holds nothing an interrupted save "
                         "of it did",
}


def _outcome(operation: str | None, doc: dict[str, Any]) -> str:
    state = doc.get("pvt_state")
    if operation is None:
        return "unchanged"
    if operation in ("e911", "cnam"):
        shown = (doc.get(operation) or {}).get("status")
        if shown == "ERROR":
            return "feature_failed"
        return "provisioned" if shown == "PROVISIONED" else "feature_unchanged"
    if operation == "disconnect":
        return "released" if state == "deleted" else "not_released"
    return "not_bought" if state == "deleted" else "bought"


def _fields(doc: dict[str, Any], operation: str | None = None) -> dict[str, Any]:
    feature = operation if operation in ("e911", "cnam") else next(
        (k for k in ("e911", "cnam") if isinstance(doc.get(k), dict) and doc[k].get("status")),
        "feature")
    return {"account": doc.get("pvt_assigned_to") or "?", "state": doc.get("pvt_state"),
            "feature": feature, "message": (doc.get(feature) or {}).get("message", "")
            if feature != "feature" else ""}
