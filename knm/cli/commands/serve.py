"""`knm serve` (the HTTP API) and `knm demo` (the simulators and the API on a fresh
database). Both wire the process themselves (`knm.api.serve`, `knm.demo.run`, through
`knm.runtime`), so the commands only pass the options on."""

from __future__ import annotations

import click

from knm.cli.options import recorded
from knm.cli.output import state


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@recorded
def serve(host: str, port: int, workers: int) -> None:
    """Run the Kazoo-compatible HTTP API."""
    from knm.api import serve as serve_api  # FastAPI and uvicorn only when serving

    serve_api(host, port, state.db, workers)


@click.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@recorded
def demo(port: int, host: str) -> None:
    """Start the carrier simulators and the API on a fresh database, and say what to try."""
    from knm import demo as demo_module  # the simulators and the API: FastAPI, uvicorn

    demo_module.run(port=port, host=host, db=state.db, as_json=state.json)
