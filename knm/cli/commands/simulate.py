"""`knm simulate CARRIER [--port P] [--host H]`: one carrier simulator on its own.

The simulator runs in the foreground until Ctrl-C, in a process of its own, so a test or a
user can stop the buyer — or the carrier — at any moment and see what knm makes of it. It
prints the `knm config set` lines that point knm at it.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from typing import Any

import click

from knm import errors, runtime
from knm.carriers import registry as carriers
from knm.carriers.base import short_name
from knm.carriers.selection import carrier_name
from knm.cli.commands.config import parse_value
from knm.cli.options import recorded
from knm.cli.output import emit, state

#: for carriers whose orders complete asynchronously: poll the simulator often, give up soon
FAST_ORDERS = {"order_poll_interval_ms": 200, "order_timeout_s": 10}
PHONEBOOK = "knm_other"


@click.command()
@click.argument("carrier")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True)
@recorded
def simulate(carrier: str, port: int, host: str) -> None:
    """Run CARRIER's simulator (telnyx, bandwidth2, …) until Ctrl-C, and print the settings
    that point knm at it."""
    import uvicorn  # the server, and the simulators' FastAPI, only when one really runs

    from knm.simulators import phonebook
    from knm.simulators import registry as simulators
    from knm.simulators.server import free_port

    name = carrier_name(carrier)
    available = [*simulators.names(), PHONEBOOK]
    if name not in available:
        raise errors.Invalid("carrier", f"no simulator for {name} (simulators: "
                             f"{', '.join(sorted(available))})")
    runtime.check_port(host, port)
    port = port or free_port()
    url = f"http://{host}:{port}"
    if name == PHONEBOOK:
        app, settings = phonebook.create_app(), {"phonebook_url": url}
        switches = f"curl -s -X POST {url}/_sim/control -d '{{\"fail_status\": 503}}'"
    else:
        sim = simulators.get(name).make_simulator()
        app, settings = sim.app, simulators.wire(name, url, sim)
        cls = carriers.carrier_class(name)
        if cls is not None and getattr(cls, "async_orders", False):
            settings.update(FAST_ORDERS)
        switches = (f"curl -s -X POST {url}/_sim/switches "
                    "-d '{\"fail_with\": {\"status\": 503}}'")
    commands = config_commands(name, settings)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=1))

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if not server.started:
            return
        data = {"carrier": name, "url": url, "settings": settings, "commands": commands,
                "switches": switches}
        emit(data, lambda: click.echo(_banner(name, url, commands, switches), nl=False))

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    if not server.started:
        raise errors.Invalid("port", f"the {name} simulator could not listen on {url}")
    click.echo(f"{name} simulator stopped.", err=state.json)


def config_commands(name: str, settings: dict[str, Any]) -> list[str]:
    """The `knm config set` lines that store `settings` as carrier `name`'s."""
    knm = runtime.knm_command()
    category = f"number_manager.{short_name(name)}"
    return [f"{knm} config set {category} {key} {_cli_value(value)}"
            for key, value in settings.items()]


def _cli_value(value: Any) -> str:
    """VALUE as `knm config set` reads it back to the same value (a bare word stays a
    string; anything else is JSON)."""
    if isinstance(value, str) and value and not value.startswith("-") \
            and parse_value(value) == value:
        return shlex.quote(value)
    return shlex.quote(json.dumps(value))


def _banner(name: str, url: str, commands: list[str], switches: str) -> str:
    short = short_name(name)
    knm = runtime.knm_command()
    lines = [
        f"{name} simulator listening on {url}   (Ctrl-C stops it)",
        "",
        "Point knm at it:",
        *[f"  {line}" for line in commands],
        "",
        "Then search and buy through it, for example:",
        f"  {knm} search 415 --carrier {short} --account ACCOUNT",
        f"  {knm} buy NUMBER --account ACCOUNT",
        "",
        "Make it fail (switches; POST /_sim/reset clears them):",
        f"  {switches}",
        "",
    ]
    return "\n".join(lines)
