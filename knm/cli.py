"""The `knm` command: an operator's tool over the same library the HTTP API uses.

Every command takes `--db` (a file path or a SQLAlchemy URL) and `--json`. With `--json` a
command prints exactly one JSON document on stdout, so scripts can parse it; an error is the
Kazoo error JSON (`KnmError.to_json()`) on stderr with a non-zero exit. Without `--json` the
output is tables for people and errors are one red line. No exception ever reaches the user as
a traceback: anything that is not a `KnmError` is reported as `500 internal_error`
(set `KNM_DEBUG=1` to get the traceback instead).

The CLI acts as `system` (the operator owns the database), so it sees every number and every
setting — secrets are still shown only as `***`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from knm import errors, secrets
from knm.record import PhoneNumber

#: exit codes: 1 = knm refused or failed the operation, 2 = the command line itself was wrong
EXIT_ERROR, EXIT_USAGE = 1, 2
BULK_CHUNK = 200  # numbers per library call in bulk operations, so progress can advance
IMPORT_CHUNK = 500

_NUMBER = re.compile(r"^\+?\d+$")
_JUNK = re.compile(r"[\s().\-]")


class _Run:
    """What the current invocation asked for (set from argv before click parses it)."""

    json: bool = False
    db: str | None = None  # `knm --db X COMMAND` (the command's own --db wins)


_run = _Run()


# -- output -----------------------------------------------------------------------------------


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def _emit(data: Any, human: Callable[[], None] | None = None) -> None:
    """One JSON document with `--json`; otherwise the human rendering (or pretty JSON)."""
    if _run.json or human is None:
        click.echo(_dump(data))
    else:
        human()


def _table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    _console().print(table)


def _report_error(err: errors.KnmError) -> None:
    if _run.json:
        click.echo(json.dumps(err.to_json()), err=True)
        return
    click.secho(f"error {err}", fg="red", err=True)


def _show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("KNM_NO_PROGRESS")


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr when it is a terminal; `advance(n)` moves it on."""
    if not _show_progress():
        yield lambda _n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


# -- error handling ---------------------------------------------------------------------------


def _scrub(text: str) -> str:
    """Remove passwords (in URLs and `password=` pairs) before an error's text is shown."""
    return secrets.redact_url(text)


def _internal(exc: BaseException) -> errors.KnmError:
    return errors.InternalError(
        "unexpected failure; run again with KNM_DEBUG=1 for the traceback",
        cause=_scrub(f"{type(exc).__name__}: {exc}")[:500],
    )


def _usage_error(exc: click.UsageError) -> errors.KnmError:
    """A command line click could not parse is `400 invalid`, the cause naming the field."""
    cause = "arguments"
    param = getattr(exc, "param", None)
    if param is not None and getattr(param, "name", None):
        cause = str(param.name)
    elif getattr(exc, "option_name", None):
        cause = str(exc.option_name)
    elif isinstance(exc, click.BadArgumentUsage | click.NoSuchOption):
        cause = "arguments"
    return errors.Invalid(cause, exc.format_message())


def _configure_logging() -> logging.Handler | None:
    """Warnings go to stderr for people; with `--json` stderr is kept for the error JSON.

    Returns the handler added (removed again when the command ends, so an in-process caller
    such as a test runner is left as it was), or None when logging was already set up."""
    root = logging.getLogger()
    if root.handlers:
        return None
    handler: logging.Handler
    if _run.json:
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler()  # stderr; rich's handler costs 0.3 s of start-up
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    return handler


def _wants_json(args: Sequence[str]) -> bool:
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


class KnmGroup(click.Group):
    """The top-level group: turns every failure into a KnmError report and an exit code."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        _run.json = _wants_json(argv)
        _run.db = None
        handler = _configure_logging()
        try:
            result = super().main(argv, prog_name or "knm", complete_var,
                                  standalone_mode=False, **extra)
        except errors.KnmError as err:
            _report_error(err)
            code = EXIT_ERROR
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `knm` or `knm numbers`
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            code = 0
        except click.UsageError as exc:
            _report_error(_usage_error(exc))
            if not _run.json and exc.ctx is not None:
                click.echo(exc.ctx.get_usage(), err=True)
            code = EXIT_USAGE
        except click.Abort:
            _report_error(errors.KnmError("aborted", code=499, error="aborted"))
            code = EXIT_ERROR
        except click.ClickException as exc:  # e.g. a FileError raised by click itself
            _report_error(errors.Invalid("arguments", exc.format_message()))
            code = EXIT_USAGE
        except _Exit as done:
            code = done.code
        except Exception as exc:  # noqa: BLE001 - the whole point: never a traceback
            if os.environ.get("KNM_DEBUG"):
                raise
            _report_error(_internal(exc))
            code = EXIT_ERROR
        else:
            code = result if isinstance(result, int) else 0
        finally:
            if handler is not None:
                logging.getLogger().removeHandler(handler)
        if standalone_mode:
            sys.exit(code)
        return code


class _Exit(Exception):
    """Finish with an exit code after the output was printed (partial bulk failures)."""

    def __init__(self, code: int) -> None:
        self.code = code


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--db` and `--json`, which every command takes."""

    @functools.wraps(func)
    def wrapper(*args: Any, db: str | None = None, as_json: bool = False, **kwargs: Any) -> Any:
        _run.json = _run.json or as_json
        _open_db(db or _run.db)
        return func(*args, **kwargs)

    wrapper = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document; errors as JSON on stderr.")(wrapper)
    wrapper = click.option("--db", "db", metavar="PATH|URL", default=None,
                           help="SQLite file or SQLAlchemy URL (default: $KNM_DATABASE_URL, "
                                "else a file in the user's data folder).")(wrapper)
    return wrapper


def _open_db(db: str | None) -> None:
    from knm import store

    if db:
        url = store.url_for_path(db)
        if url != store.current_url():  # same database: keep the engine (and search cache)
            store.use(url)


# -- input helpers ----------------------------------------------------------------------------


def _number(raw: str) -> str:
    """A number as the user typed it, in E.164; anything that is not digits is `invalid`."""
    from knm.phone import normalize

    text = _JUNK.sub("", str(raw))
    if not _NUMBER.match(text):
        raise errors.Invalid("number", f"{raw!r} is not a phone number")
    return normalize(text)


def _account(account_id: str | None) -> str | None:
    """Check an account exists (`400 invalid`, cause `account_id`, when it does not)."""
    if account_id is None:
        return None
    from knm import accounts

    return accounts.get(account_id).id


def _carrier_name(name: str) -> str:
    """`telnyx` or `knm_telnyx` → `knm_telnyx`; an unknown name is `400 invalid`."""
    from knm.carriers import registry
    from knm.carriers.base import full_name

    full = full_name(name.strip())
    if full not in registry.declared_names() and not registry.is_reachable(full):
        known = ", ".join(sorted(registry.declared_names()))
        raise errors.Invalid("carrier", f"unknown carrier {name!r} (known: {known})")
    if not registry.is_reachable(full):
        raise errors.KnmError(f"carrier {full} is declared but cannot be loaded", code=502,
                              error="carrier_unavailable", carrier=full)
    return full


def _max_search_quantity() -> int:
    from knm import config

    try:
        value = int(config.system("maximum_search_quantity"))
    except (TypeError, ValueError):
        return 500
    return value if value > 0 else 500


def _number_json(pn: PhoneNumber) -> dict[str, Any]:
    return pn.to_json()


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _bulk(label: str, numbers: Sequence[str],
          call: Callable[[list[str]], Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a list operation in chunks (so a progress bar moves); per-number results."""
    succeeded: dict[str, Any] = {}
    failed: dict[str, Any] = {}
    with _progress(label, len(numbers)) as advance:
        for chunk in _chunks(numbers, BULK_CHUNK):
            result = call(list(chunk))
            for pn in result.succeeded:
                succeeded[pn.number] = _number_json(pn)
            for key, err in result.failed.items():
                failed[key] = err.to_json() if isinstance(err, errors.KnmError) else {
                    "code": 500, "error": "internal_error", "message": str(err)}
            advance(len(chunk))
    return succeeded, failed


def _number_ops(numbers: Sequence[str], label: str, call: Callable[..., Any],
                render_one: Callable[[dict[str, Any]], None]) -> None:
    """One number: its document or the error. Several: `{"success", "error"}` maps, exit 1
    if any failed (the JSON still goes to stdout, so nothing that succeeded is hidden)."""
    parsed = [_number(n) for n in numbers]
    if len(parsed) == 1:
        doc = _number_json(call(parsed[0]))
        _emit(doc, lambda: render_one(doc))
        return
    succeeded, failed = _bulk(label, parsed, call)
    out = {"success": succeeded, "error": failed}

    def human() -> None:
        _table(f"{label}: {len(succeeded)} succeeded, {len(failed)} failed",
               ["number", "result"],
               [(n, doc.get("pvt_state", "ok")) for n, doc in succeeded.items()]
               + [(n, f"{e.get('code')} {e.get('error')}: {e.get('message', '')}")
                  for n, e in failed.items()])

    _emit(out, human)
    if failed:
        raise _Exit(EXIT_ERROR)


def _render_number(doc: dict[str, Any]) -> None:
    keys = [("number", "_id"), ("state", "pvt_state"), ("carrier", "pvt_module_name"),
            ("assigned to", "pvt_assigned_to"), ("used by", "pvt_used_by"),
            ("ported in", "pvt_ported_in")]
    _table(None, ["field", "value"], [(label, doc.get(key)) for label, key in keys])


# -- the commands -----------------------------------------------------------------------------


@click.group(cls=KnmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="PATH|URL", default=None,
              help="SQLite file or SQLAlchemy URL, for every command.")
@click.option("--json", "as_json", is_flag=True, help="JSON output, for every command.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """knm: search, buy, release and check phone numbers across carriers."""
    _run.db = db
    _run.json = _run.json or as_json
    if not os.environ.get("KNM_CACHE_URL") and ctx.invoked_subcommand not in ("serve", "demo"):
        # every `knm` run is its own process: keep search results in the database, so that
        # `knm search` then `knm buy` of a number it found works without Redis
        from knm import cache

        cache.use(cache.StoreCache())


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--db", "db", metavar="PATH|URL", default=None,
              help="SQLite file or SQLAlchemy URL.")
@click.option("--json", "as_json", is_flag=True, help="Errors as JSON on stderr.")
def serve(host: str, port: int, workers: int, db: str | None, as_json: bool) -> None:
    """Run the Kazoo-compatible HTTP API."""
    from knm import store

    _run.json = _run.json or as_json
    from knm.api import serve as serve_api

    db = db or _run.db
    serve_api(host, port, store.url_for_path(db) if db else None, workers)


@cli.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@common
def demo(port: int) -> None:
    """Start the carrier simulators and the API on a fresh database, and say what to try."""
    from knm import demo as demo_module

    demo_module.run(port=port)


@cli.command()
@click.argument("prefix")
@click.option("--quantity", "-n", default=10, show_default=True, type=int,
              help="How many numbers (1 to maximum_search_quantity).")
@click.option("--offset", default=0, show_default=True, type=int)
@click.option("--country", default="US", show_default=True, help="ISO 3166 alpha-2.")
@click.option("--dialcode", default=None, help="Dial code for a national prefix (e.g. +44).")
@click.option("--account", "account_id", default=None, help="Search as this account.")
@click.option("--carrier", "carriers", multiple=True,
              help="Only ask this carrier (repeatable).")
@click.option("--query-id", default=None, help="Page a previous search from the cache.")
@common
def search(prefix: str, quantity: int, offset: int, country: str, dialcode: str | None,
           account_id: str | None, carriers: tuple[str, ...], query_id: str | None) -> None:
    """Search carriers for numbers under PREFIX (415, 1415 or +1415)."""
    from knm import accounts
    from knm.carriers import search as knm_search

    if quantity < 1:
        raise errors.Invalid("quantity", "quantity must be at least 1")
    maximum = _max_search_quantity()
    if quantity > maximum:
        raise errors.Invalid("quantity", f"quantity {quantity} is above "
                             f"maximum_search_quantity ({maximum}); ask for at most {maximum}"
                             " and page with --offset")
    if offset < 0:
        raise errors.Invalid("offset", "offset must be 0 or more")
    account_id = _account(account_id)
    names = [_carrier_name(c) for c in carriers] if carriers else None
    outcome = knm_search.find_with_report(
        prefix, quantity, offset=offset, country=country, dialcode=dialcode,
        account_id=account_id, reseller_id=accounts.reseller_id(account_id),
        query_id=query_id, carriers=names,
    )
    report = {name: r.to_json() for name, r in sorted(outcome.carriers.items())}
    data = {"numbers": outcome.results, "query_id": outcome.query_id,
            "from_cache": outcome.from_cache, "carriers": report}

    def human() -> None:
        rows = []
        for r in outcome.results:
            loc = r.get("locality") or {}
            rows.append((r["number"], r.get("state"),
                         ", ".join(str(loc[k]) for k in ("city", "region") if loc.get(k))))
        _table(f"{len(rows)} number(s) — query id {outcome.query_id}",
               ["number", "state", "locality"], rows)
        if report:
            _table("carriers", ["carrier", "outcome", "numbers", "seconds", "error"],
                   [(n, r["outcome"], r["count"], r["seconds"],
                     (r.get("error") or {}).get("message", "")) for n, r in report.items()])
        elif outcome.from_cache:
            _console().print("(page served from the search cache)")

    _emit(data, human)


@cli.command()
@click.argument("numbers", nargs=-1, required=True)
@click.option("--account", "account_id", required=True, help="Account to buy into.")
@click.option("--dry-run", is_flag=True, help="Check the purchase without buying.")
@common
def buy(numbers: tuple[str, ...], account_id: str, dry_run: bool) -> None:
    """Buy NUMBER(s) into an account (a number found by `knm search` comes from its carrier)."""
    from knm import numbers as ops

    account_id = _account(account_id) or account_id
    _number_ops(numbers, "buying",
                lambda n: ops.move(n, account_id, dry_run=dry_run), _render_number)


@cli.command()
@click.argument("numbers", nargs=-1, required=True)
@common
def release(numbers: tuple[str, ...]) -> None:
    """Release NUMBER(s) from their account."""
    from knm import numbers as ops

    _number_ops(numbers, "releasing", ops.release, _render_number)


@cli.command()
@click.argument("numbers", nargs=-1, required=True)
@common
def check(numbers: tuple[str, ...]) -> None:
    """Ask the carriers for the status of NUMBER(s)."""
    from knm import carriers as facade

    parsed = [_number(n) for n in numbers]
    statuses = facade.check(parsed)
    _emit(statuses, lambda: _table(None, ["number", "status"], sorted(statuses.items())))


@cli.command("carriers")
@click.option("--account", "account_id", default=None,
              help="Show what this account may use.")
@common
def carriers_cmd(account_id: str | None) -> None:
    """List the carriers, whether they are in use, and their settings (secrets masked)."""
    from knm import accounts, config
    from knm import carriers as facade
    from knm.carriers import registry

    account_id = _account(account_id)
    reseller = accounts.reseller_id(account_id)
    in_use = list(facade.available_carriers(account_id, reseller))
    listing: list[dict[str, Any]] = []
    for name in dict.fromkeys([*facade.all_modules(), *in_use]):
        cls = registry.carrier_class(name)
        entry: dict[str, Any] = {"name": name, "reachable": cls is not None,
                                 "in_use": name in in_use}
        if cls is not None:
            entry.update(local=bool(cls.local), billable=bool(cls.billable),
                         maximal_prefix_length=cls.maximal_prefix_length,
                         settings=config.mask(config.carrier_config(name), cls.secret_keys()))
        listing.append(entry)
    info = facade.info(account_id or "system", account_id, reseller) if account_id else \
        facade.info("system", None, None)
    data = {"carriers": listing, "info": info}

    def human() -> None:
        _table("carriers", ["carrier", "in use", "local", "settings"],
               [(c["name"], "yes" if c["in_use"] else "",
                 ("yes" if c.get("local") else "no") if c["reachable"] else "unreachable",
                 ", ".join(f"{k}={v}" for k, v in (c.get("settings") or {}).items()
                           if v not in (None, "", [], {})))
                for c in listing])
        _console().print_json(_dump(info))

    _emit(data, human)


# -- knm numbers ------------------------------------------------------------------------------


@cli.group()
def numbers() -> None:
    """Numbers in the database: get, list, import, generate."""


@numbers.command("get")
@click.argument("numbers_", metavar="NUMBER...", nargs=-1, required=True)
@common
def numbers_get(numbers_: tuple[str, ...]) -> None:
    """Show NUMBER(s) as stored (Kazoo number documents)."""
    from knm import numbers as ops

    _number_ops(numbers_, "reading", ops.get, _render_number)


@numbers.command("list")
@click.option("--account", "account_id", required=True, help="Whose numbers.")
@common
def numbers_list(account_id: str) -> None:
    """List an account's numbers."""
    from knm import numbers as ops

    account_id = _account(account_id) or account_id
    found = ops.list_account(account_id)
    docs = [_number_json(pn) for pn in found]
    docs.sort(key=lambda d: d.get("_id", ""))
    _emit(docs, lambda: _table(f"{len(docs)} number(s) of {account_id}",
                               ["number", "state", "carrier", "used by"],
                               [(d.get("_id"), d.get("pvt_state"), d.get("pvt_module_name"),
                                 d.get("pvt_used_by")) for d in docs]))


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


@numbers.command("import")
@click.argument("csv_path", metavar="CSV")
@common
def numbers_import(csv_path: str) -> None:
    """Load knm_inventory numbers (available for sale) from a CSV file."""
    from knm.numbers import importers, stock

    path = importers.existing_file(csv_path, "csv")
    total = _count_lines(path) if _show_progress() else None
    with _progress("importing", total) as advance:
        report = stock.import_inventory_file(path, progress=_by_increments(advance))
    data = report.to_json()
    _emit(data, lambda: _console().print(_summary_line(data)))
    if report.failed:  # bad lines: reported above, and the run did not fully succeed
        raise _Exit(EXIT_ERROR)


def _by_increments(advance: Callable[[int], None]) -> Callable[[int], None]:
    """The library reports running totals; a progress bar wants increments."""
    seen = [0]

    def progress(done: int) -> None:
        advance(max(0, int(done) - seen[0]))
        seen[0] = max(seen[0], int(done))

    return progress


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


@numbers.command("import-kazoo")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True)
@common
def numbers_import_kazoo(paths: tuple[str, ...]) -> None:
    """Load Kazoo number documents (JSON files or folders of them), for moving off Kazoo."""
    from knm.numbers import importers

    docs = importers.kazoo_documents(paths)
    outcome = importers.KazooImport()
    with _progress("importing", len(docs)) as advance:
        for start in range(0, len(docs), IMPORT_CHUNK):
            chunk = docs[start:start + IMPORT_CHUNK]
            outcome.add(importers.import_kazoo(chunk))
            advance(len(chunk))
    data = outcome.to_json()
    _emit(data, lambda: _console().print(_summary_line(data)))
    if outcome.failed:
        raise _Exit(EXIT_ERROR)


@numbers.command("generate")
@click.argument("carrier")
@click.argument("account_id", metavar="ACCOUNT")
@click.argument("start")
@click.argument("count", type=int)
@common
def numbers_generate(carrier: str, account_id: str, start: str, count: int) -> None:
    """Add COUNT numbers START, START+1, … to ACCOUNT's knm_managed or knm_inum pool."""
    from knm.numbers import stock

    account_id = _account(account_id) or account_id
    with _progress("generating", max(count, 0)) as advance:
        made = stock.generate(carrier, account_id, start, count,
                              progress=_by_increments(advance))
    data = made.to_json()
    _emit(data, lambda: _console().print(
        f"{made.carrier}: added {made.added} of {count} number(s) to {account_id}"
        + (f" ({made.first} … {made.last})" if made.first else "")))


# -- knm accounts -----------------------------------------------------------------------------


@cli.group("accounts")
def accounts_group() -> None:
    """The account tree: create, list, API keys."""


@accounts_group.command("create")
@click.argument("name")
@click.option("--id", "account_id", default=None, help="32-character id (default: random).")
@click.option("--parent", "parent_id", default=None, help="Parent account id.")
@click.option("--reseller", is_flag=True, help="The account is a reseller.")
@click.option("--admin", is_flag=True, help="Superduper admin.")
@click.option("--allow-additions", is_flag=True, help="May create numbers directly.")
@common
def accounts_create(name: str, account_id: str | None, parent_id: str | None, reseller: bool,
                    admin: bool, allow_additions: bool) -> None:
    """Create an account (the first one with no parent is the master account)."""
    from knm import accounts

    account = accounts.create(name, account_id=account_id, parent_id=parent_id,
                              is_reseller=reseller, superduper_admin=admin,
                              allow_number_additions=allow_additions)
    data = account.to_json()
    _emit(data, lambda: _console().print(f"created account {account.id} ({account.name})"))


@accounts_group.command("list")
@common
def accounts_list() -> None:
    """Every account."""
    from knm import accounts

    found = [a.to_json() for a in accounts.list()]
    _emit(found, lambda: _table(f"{len(found)} account(s)",
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
    from knm import accounts

    key = accounts.create_api_key(account_id)
    _emit({"account_id": account_id, "api_key": key}, lambda: click.echo(key))


# -- knm config -------------------------------------------------------------------------------


@cli.group("config")
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
    from knm import config

    account_id = _account(account_id)
    if key is None:
        values = config.mask(config.get_category(category, account_id=account_id, node=node))
        _emit(values, lambda: _table(category, ["key", "value"],
                                     [(k, json.dumps(v)) for k, v in sorted(values.items())]))
        return
    value = _masked(key, config.get(category, key, account_id=account_id, node=node))
    _emit({"category": category, "key": key, "value": value},
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
    from knm import config

    parsed = parse_value(value)
    account_id = _account(account_id)
    config.set(category, key, parsed, account_id=account_id, node=node)
    shown = _masked(key, parsed)
    _emit({"category": category, "key": key, "value": shown, "account_id": account_id,
           "node": node},
          lambda: click.echo(f"{category} {key} = {json.dumps(shown)}"))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `knm` script."""
    cli.main(args=argv)
