"""`knm demo`: the whole system offline — every carrier simulator, the HTTP API, a demo account.

A newcomer gets a working knm in one command: simulated carriers on loopback, the API on a
fresh SQLite database, the carriers wired to the simulators, an account with an API key, and
curl commands that search, buy and release a real (simulated) number. Ctrl-C stops it all.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from knm import accounts, carriers, config, store
from knm.api import create_app
from knm.carriers.base import short_name
from knm.simulators import registry
from knm.simulators.server import BackgroundServer

DEMO_PREFIX = "415"


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

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers.clear()


def _start(app: Any) -> BackgroundServer:
    return BackgroundServer(app).start()


def setup(*, port: int = 8000, host: str = "127.0.0.1", db_url: str | None = None
          ) -> DemoSystem:
    """Start the simulators and wire knm to them (everything but the API server itself)."""
    if db_url is None:
        folder = tempfile.mkdtemp(prefix="knm-demo-")
        db_url = f"sqlite:///{os.path.join(folder, 'knm.sqlite')}"
    os.environ["KNM_DATABASE_URL"] = db_url
    store.use(db_url)
    demo = DemoSystem(db_url=db_url, api_url=f"http://{host}:{port}/v2")
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


def instructions(demo: DemoSystem) -> str:
    """The text `knm demo` prints: where things are and three curl commands to try."""
    api = demo.api_url
    acc = demo.account_id
    number = demo.sample_number or "+14158867900"
    encoded = number.replace("+", "%2B")
    auth = json_arg({"data": {"api_key": demo.api_key}})
    site = api.removesuffix("/v2")
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
    ]
    return "\n".join(lines)


def json_arg(value: Any) -> str:
    import json

    return shlex.quote(json.dumps(value))


def run(port: int = 8000, host: str = "127.0.0.1", *,
        echo: Callable[[str], None] | None = None) -> None:
    """Start everything, print the instructions, serve until interrupted, stop cleanly."""
    import uvicorn  # the server only when the demo really serves

    echo = echo or (lambda text: print(text, flush=True))
    demo = setup(port=port, host=host)
    try:
        app = create_app(demo.db_url)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                               access_log=False, timeout_graceful_shutdown=2))
        def announce_when_listening() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.02)
            if server.started:
                echo(instructions(demo))

        threading.Thread(target=announce_when_listening, daemon=True).start()
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
            pass
    finally:
        demo.stop()
        echo("knm demo stopped.")


if __name__ == "__main__":  # pragma: no cover - `python -m knm.demo`
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
