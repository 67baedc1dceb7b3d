"""`knm demo`: the whole system offline — every carrier simulator, the HTTP API, a demo account.

A newcomer gets a working knm in one command: simulated carriers on loopback, the API on a
fresh SQLite database, the carriers wired to the simulators, an account with an API key, and
curl commands that search, buy and release a real (simulated) number. Ctrl-C stops it all.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knm import accounts, carriers, config, errors, runtime, store
from knm.api import create_app
from knm.carriers.base import short_name
from knm.secrets import redact_url
from knm.simulators import registry
from knm.simulators.server import BackgroundServer, free_port

DEMO_PREFIX = "415"
PHONEBOOK = "knm_other"


@dataclass
class DemoSystem:
    """What the demo started: simulators (name → URL), the database, the account and key."""

    db_url: str
    api_url: str
    account_id: str = ""
    api_key: str = ""
    simulators: dict[str, str] = field(default_factory=dict)
    servers: list[BackgroundServer] = field(default_factory=list)
    sample_number: str | None = None
    #: the temporary folder holding the database, when the demo made one (removed by stop)
    folder: str | None = None

    def stop(self) -> None:
        """Stop the simulators, and remove the demo's temporary folder if it made one."""
        for server in self.servers:
            server.stop()
        self.servers.clear()
        if self.folder is not None:
            if store.current_url() == runtime.database_url(self.db_url):
                store.engine().dispose()
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _start(app: Any) -> BackgroundServer:
    return BackgroundServer(app).start()


def setup(*, port: int = 8000, host: str = "127.0.0.1", db_url: str | None = None
          ) -> DemoSystem:
    """Start the simulators and wire knm to them (everything but the API server itself).

    Without `db_url` the database is a fresh file in a temporary folder, removed by
    `DemoSystem.stop()`. The search cache is the default every entry point uses
    (`knm.runtime`), so a `knm buy` of a number the demo's API found works."""
    folder = None
    if db_url is None:
        folder = tempfile.mkdtemp(prefix="knm-demo-")
        db_url = f"sqlite:///{folder}/knm.sqlite"
    runtime.configure(db=db_url)
    demo = DemoSystem(db_url=db_url, api_url=f"http://{host}:{port}/v2", folder=folder)
    try:
        modules = ["knm_local"]
        for name in registry.names():
            spec = registry.get(name)
            sim = spec.make_simulator()
            server = _start(sim.app)
            demo.servers.append(server)
            demo.simulators[name] = server.url
            category = f"number_manager.{short_name(name)}"
            settings = {**registry.wire(name, server.url, sim),
                        "order_poll_interval_ms": 200, "order_timeout_s": 10}
            for key, value in settings.items():
                config.set(category, key, value)
            modules.append(name)
        config.set("number_manager", "carrier_modules", modules)
        config.set("number_manager", "number_search_timeout_ms", 3000)

        account = accounts.create("Demo", superduper_admin=True, is_reseller=True,
                                  allow_number_additions=True)
        demo.account_id = account.id
        demo.api_key = accounts.create_api_key(account.id)
        found = carriers.find(DEMO_PREFIX, quantity=1, account_id=account.id,
                              reseller_id=account.id)
        demo.sample_number = found[0]["number"] if found else None
    except BaseException:
        demo.stop()
        raise
    return demo


def cli_line(demo: DemoSystem, *args: str) -> str:
    """A `knm` command line that works on the demo's database, to paste in another shell."""
    return " ".join([f"KNM_DATABASE_URL={shlex.quote(demo.db_url)}", runtime.knm_command(),
                     *args])


def switches_example(demo: DemoSystem) -> tuple[str, str]:
    """(carrier, curl command) making one simulator fail: its `/_sim/switches`."""
    name = next((n for n in sorted(demo.simulators) if n != PHONEBOOK), PHONEBOOK)
    url = demo.simulators.get(name, "")
    if name == PHONEBOOK:
        return name, f"curl -s -X POST {url}/_sim/control -d '{{\"fail_status\": 503}}'"
    return name, (f"curl -s -X POST {url}/_sim/switches "
                  "-d '{\"fail_with\": {\"status\": 503}}'")


def describe(demo: DemoSystem) -> dict[str, Any]:
    """What `knm demo --json` prints: everything the text says, as one document."""
    site = demo.api_url.removesuffix("/v2")
    number = demo.sample_number or "+14158867900"
    failing, curl = switches_example(demo)
    return {
        "console": f"{site}/console", "api": demo.api_url, "docs": f"{site}/docs",
        "database": demo.db_url, "account_id": demo.account_id, "api_key": demo.api_key,
        "simulators": dict(sorted(demo.simulators.items())), "sample_number": number,
        "cli": cli_line(demo, "search", DEMO_PREFIX, "--account", demo.account_id),
        "switches": {"carrier": failing, "fail": curl,
                     "reset": f"curl -s -X POST {demo.simulators.get(failing, '')}/_sim/reset"},
    }


def instructions(demo: DemoSystem) -> str:
    """The text `knm demo` prints: where things are, and what to try with curl, the CLI and
    the simulators' switches."""
    api = demo.api_url
    acc = demo.account_id
    number = demo.sample_number or "+14158867900"
    encoded = number.replace("+", "%2B")
    auth = json_arg({"data": {"api_key": demo.api_key}})
    site = api.removesuffix("/v2")
    failing, curl = switches_example(demo)
    lines = [
        f"Open the console: {site}/console   (log in with API key {demo.api_key})",
        "",
        "knm demo is running. Ctrl-C stops everything.",
        "",
        f"  HTTP API     {api}   (docs: {site}/docs)",
        f"  database     {demo.db_url}",
        f"  account      {acc}",
        f"  API key      {demo.api_key}",
        "",
        "  carrier simulators:",
        *[f"    {name:<22} {url}" for name, url in sorted(demo.simulators.items())],
        "",
        "Get a token first:",
        f"  TOKEN=$(curl -s -X PUT {api}/api_auth -d {auth} \\",
        "          | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"auth_token\"])')",
        "",
        "1. Search every carrier for numbers in area code 415:",
        f"  curl -s -H \"X-Auth-Token: $TOKEN\" "
        f"'{api}/accounts/{acc}/phone_numbers?prefix={DEMO_PREFIX}&quantity=5'",
        "",
        f"2. Buy {number} (it is acquired from its simulated carrier):",
        f"  curl -s -X PUT -H \"X-Auth-Token: $TOKEN\" "
        f"{api}/accounts/{acc}/phone_numbers/{encoded}/activate -d '{{\"data\": {{}}}}'",
        "",
        "3. Release it:",
        f"  curl -s -X DELETE -H \"X-Auth-Token: $TOKEN\" "
        f"{api}/accounts/{acc}/phone_numbers/{encoded}",
        "",
        "The same with the knm command, in another shell (it shares the demo's database and",
        "its searches, so it can buy what the API or the console found):",
        f"  {cli_line(demo, 'search', DEMO_PREFIX, '--account', acc)}",
        f"  {cli_line(demo, 'buy', number, '--account', acc)}",
        f"  {cli_line(demo, 'orders')}",
        "",
        f"Make a carrier fail — here {failing}, through its simulator's switches — then search",
        "again and see it reported (POST /_sim/reset clears the switches):",
        f"  {curl}",
        f"  curl -s -X POST {demo.simulators.get(failing, '')}/_sim/reset",
    ]
    return "\n".join(lines)


def json_arg(value: Any) -> str:
    return shlex.quote(json.dumps(value))


def _require_empty(db_url: str) -> None:
    """The demo writes carrier settings pointing at simulators that vanish when it stops:
    never into a database that holds anything."""
    runtime.configure(db=db_url)
    if accounts.list() or config.get_category("number_manager", with_builtin=False):
        raise errors.Invalid("db", f"database {redact_url(db_url)} is not empty: the demo "
                             "would overwrite its carrier settings; give a new file, or no "
                             "--db for a temporary one")


def run(port: int = 8000, host: str = "127.0.0.1", *, db: str | None = None,
        as_json: bool = False, echo: Callable[[str], None] | None = None) -> None:
    """Start everything, print the instructions, serve until interrupted, stop cleanly.

    The port is checked first (a busy one is `400 invalid`, cause `port`, before anything is
    started or written). `db` keeps the demo's database there (it must be new or empty);
    `as_json` prints one JSON document (`describe`) instead of the text."""
    import uvicorn  # the server only when the demo really serves

    echo = echo or (lambda text: print(text, flush=True))
    runtime.check_port(host, port)
    port = port or free_port()
    db_url = runtime.database_url(db) if db else None
    if db_url is not None:
        _require_empty(db_url)
    demo = setup(port=port, host=host, db_url=db_url)
    try:
        app = create_app(demo.db_url)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                               access_log=False, timeout_graceful_shutdown=2))

        def announce_when_listening() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.02)
            if server.started:
                echo(json.dumps(describe(demo), indent=2) if as_json else instructions(demo))

        threading.Thread(target=announce_when_listening, daemon=True).start()
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
            pass
    finally:
        demo.stop()
        if as_json:
            print("knm demo stopped.", file=sys.stderr, flush=True)
        else:
            echo("knm demo stopped.")


if __name__ == "__main__":  # pragma: no cover - `python -m knm.demo`
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
