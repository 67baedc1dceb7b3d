"""Per-number results of the commands that act on numbers (buy, release, get, settle).

One number prints its Kazoo document, or fails as a whole; several print
`{"success": {N: document}, "error": {N: error json}}` and exit 1 when any failed — the JSON
still goes to stdout, so nothing that succeeded is hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from knm import errors
from knm.cli.output import emit, progress, table
from knm.cli.policy import EXIT_ERROR, ExitCode
from knm.phone import parse_number
from knm.record import PhoneNumber

BULK_CHUNK = 200  # numbers per library call in bulk operations, so progress can advance


def error_json(err: Any) -> dict[str, Any]:
    if isinstance(err, errors.KnmError):
        return err.to_json()
    return {"code": 500, "error": "internal_error", "message": str(err)}


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def bulk(label: str, numbers: Sequence[str], call: Callable[[list[str]], Any]
         ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a list operation in chunks (so a progress bar moves); per-number results."""
    succeeded: dict[str, Any] = {}
    failed: dict[str, Any] = {}
    with progress(label, len(numbers)) as advance:
        for chunk in _chunks(numbers, BULK_CHUNK):
            result = call(list(chunk))
            for pn in result.succeeded:
                succeeded[pn.number] = pn.to_json()
            for key, err in result.failed.items():
                failed[key] = error_json(err)
            advance(len(chunk))
    return succeeded, failed


def number_ops(numbers: Sequence[str], label: str, call: Callable[..., Any],
               render_one: Callable[[dict[str, Any]], None], *,
               extra: dict[str, Any] | None = None,
               summary: Callable[[int, int], str] | None = None) -> None:
    """`call` on one number (its document, or the error) or on several (both maps).

    `extra` keys are added to the JSON (`"dry_run": true`); `summary(ok, failed)` titles the
    table of several numbers."""
    parsed = [parse_number(n) for n in numbers]
    if len(parsed) == 1:
        pn: PhoneNumber = call(parsed[0])
        doc = pn.to_json()
        emit({**doc, **(extra or {})}, lambda: render_one(doc))
        return
    succeeded, failed = bulk(label, parsed, call)
    out = {"success": succeeded, "error": failed, **(extra or {})}

    def human() -> None:
        title = summary(len(succeeded), len(failed)) if summary else \
            f"{label}: {len(succeeded)} succeeded, {len(failed)} failed"
        table(title, ["number", "result"],
              [(n, doc.get("pvt_state", "ok")) for n, doc in succeeded.items()]
              + [(n, describe_error(e)) for n, e in failed.items()])

    emit(out, human)
    if failed:
        raise ExitCode(EXIT_ERROR)


def describe_error(err: dict[str, Any]) -> str:
    return f"{err.get('code')} {err.get('error')}: {err.get('message', '')}"


NUMBER_FIELDS = [("number", "_id"), ("state", "pvt_state"), ("carrier", "pvt_module_name"),
                 ("assigned to", "pvt_assigned_to"), ("used by", "pvt_used_by"),
                 ("ported in", "pvt_ported_in")]


def render_number(doc: dict[str, Any], title: str | None = None) -> None:
    table(title, ["field", "value"], [(label, doc.get(key)) for label, key in NUMBER_FIELDS])
