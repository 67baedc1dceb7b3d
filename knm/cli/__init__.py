"""The `knm` command: an operator's tool over the same library the HTTP API uses.

Every command takes `--db` (a file path or a SQLAlchemy URL) and `--json`. With `--json` a
command prints exactly one JSON document on stdout, so scripts can parse it; an error is the
Kazoo error JSON (`KnmError.to_json()`) on stderr with a non-zero exit. Without `--json` the
output is tables for people and errors are one red line. No exception ever reaches the user as
a traceback (`knm.cli.policy`).

The CLI acts as `system` (the operator owns the database), so it sees every number and every
setting — secrets are still shown only as `***`.

Layout: `policy` (exit codes and the error policy), `output` (JSON or tables), `options`
(`--db`/`--json` and the checks of what people type), `results` (per-number results), and
one module per command group in `commands/`. Input files are read by the library
(`knm.numbers.importers`), so the HTTP API could read them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

import knm
from knm.cli.commands.accounts import accounts_group
from knm.cli.commands.carriers import carriers_cmd
from knm.cli.commands.config import config_group, parse_value
from knm.cli.commands.numbers import buy, check, numbers_group, release
from knm.cli.commands.orders import orders_group
from knm.cli.commands.search import search
from knm.cli.commands.serve import demo, serve
from knm.cli.commands.simulate import simulate
from knm.cli.output import state
from knm.cli.policy import KnmGroup

__all__ = ["cli", "main", "parse_value"]


@click.group(cls=KnmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(knm.__version__, "--version", prog_name="knm",
                      message="%(prog)s %(version)s")
@click.option("--db", "db", metavar="PATH|URL", default=None,
              help="SQLite file or SQLAlchemy URL, for every command.")
@click.option("--json", "as_json", is_flag=True, help="JSON output, for every command.")
def cli(db: str | None, as_json: bool) -> None:
    """knm: search, buy, release and check phone numbers across carriers."""
    state.db = db
    state.json = state.json or as_json


for _command in (serve, demo, simulate, search, buy, release, check, carriers_cmd,
                 numbers_group, accounts_group, config_group, orders_group):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `knm` script."""
    cli.main(args=argv)
