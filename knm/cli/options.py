"""The options every command takes (`--db`, `--json`) and the checks of what people type.

The checks are the library's (`knm.phone.parse_number`, `knm.accounts.get`,
`knm.carriers.selection.carrier_name`): the CLI refuses exactly what the library and the
HTTP API refuse, with the same error.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import click

from knm import accounts, runtime
from knm.cli.output import state

log = logging.getLogger("knm.cli")


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--db` and `--json`, which every command takes; the process is wired (`knm.runtime`)
    before the command runs, and hands its searches over when it is done."""

    @functools.wraps(func)
    def wrapper(*args: Any, db: str | None = None, as_json: bool = False, **kwargs: Any) -> Any:
        state.json = state.json or as_json
        state.db = db or state.db  # a group's --db holds for its subcommand too
        runtime.configure(db=state.db)
        try:
            return func(*args, **kwargs)
        finally:
            _hand_over()

    return _with_options(wrapper)


def recorded(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--db` and `--json` for a command that wires the process itself (`serve`, `demo`,
    `simulate`): the choices are recorded in `state`, nothing is opened."""

    @functools.wraps(func)
    def wrapper(*args: Any, db: str | None = None, as_json: bool = False, **kwargs: Any) -> Any:
        state.json = state.json or as_json
        state.db = db or state.db
        return func(*args, **kwargs)

    return _with_options(wrapper)


def _with_options(wrapper: Callable[..., Any]) -> Callable[..., Any]:
    wrapper = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document; errors as JSON on stderr.")(wrapper)
    wrapper = click.option("--db", "db", metavar="PATH|URL", default=None,
                           help="SQLite file or SQLAlchemy URL (default: $KNM_DATABASE_URL, "
                                "else a file in the user's data folder).")(wrapper)
    return wrapper


def _hand_over() -> None:
    try:
        runtime.hand_over()
    except Exception as exc:  # noqa: BLE001 - the command's own outcome stands
        log.debug("search cache not handed over: %s", type(exc).__name__)


def account(account_id: str | None) -> str | None:
    """Check an account exists (`400 invalid`, cause `account_id`, when it does not)."""
    if account_id is None:
        return None
    return accounts.get(account_id).id
