"""What the `knm` command prints: one JSON document with `--json`, tables for people.

`state.json` is the invocation's choice (`--json` anywhere on the command line); every
command prints through `emit`, so it never has to ask. Tables are never narrower than their
longest word: an account id or a number is shown whole at any terminal width (and when the
output is piped, where rich would otherwise assume 80 columns).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from knm import errors


class State:
    """What the current invocation asked for (set from argv before click parses it)."""

    json: bool = False
    db: str | None = None  # `knm --db X COMMAND` (the command's own --db wins)


state = State()


def console(stderr: bool = False, width: int | None = None) -> Any:
    from rich.console import Console  # rich costs 50 ms; only human output needs it

    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


def emit(data: Any, human: Callable[[], None] | None = None) -> None:
    """One JSON document with `--json`; otherwise the human rendering (or pretty JSON)."""
    if state.json or human is None:
        click.echo(dump(data))
    else:
        human()


def say(text: str) -> None:
    """A line for people (never in `--json` output)."""
    if not state.json:
        click.echo(text)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table that never cuts an id, a number or a word.

    rich fits a table to the console by wrapping cells and, when a column ends up narrower
    than a word, cutting the word. So a column of single words (ids, numbers, states) never
    wraps, and the console is made as wide as the table needs with every other column at
    its longest word — wider than the terminal if need be (the terminal then wraps lines,
    but an id stays whole, and so does one copied from piped output)."""
    from rich.table import Table

    cells = [["" if v is None else str(v) for v in row] for row in rows]
    single = [all(len(row[i].split()) <= 1 for row in cells) for i in range(len(columns))]
    grid = Table(title=title, show_lines=False)
    for i, column in enumerate(columns):
        grid.add_column(column, no_wrap=single[i])
    for row in cells:
        grid.add_row(*row)
    widths = [max([len(word) for row in cells for word in
                   ([row[i]] if single[i] else row[i].split())] + [len(columns[i])])
              for i in range(len(columns))]
    needed = sum(widths) + 3 * len(columns) + 1  # padding of 1 on each side, and borders
    out = console()
    if needed > out.width:
        out = console(width=needed)
    out.print(grid)


def report_error(err: errors.KnmError) -> None:
    if state.json:
        click.echo(json.dumps(err.to_json()), err=True)
        return
    click.secho(f"error {err}", fg="red", err=True)


def show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("KNM_NO_PROGRESS")


@contextmanager
def progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr when it is a terminal; `advance(n)` moves it on."""
    if not show_progress():
        yield lambda _n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
