"""The Kazoo-compatible HTTP API: Crossbar's `phone_numbers` endpoints on top of `knm.numbers`.

Clients written for Kazoo point at `http://HOST:PORT/v2` and work unchanged: same paths, same
envelope, same field names, same status codes. The routes live in `knm.api.routes`, one
module per job; this module builds the application from them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI

import knm
from knm import cache as search_cache
from knm import runtime, store
from knm.api import auth, console, docs, metrics, openapi
from knm.api import errors as api_errors
from knm.api import logging as api_logging
from knm.api.middleware import RequestMiddleware
from knm.api.routes import collection, numbers, orders, ports, search, service, session
from knm.numbers import settler

#: the routers, in matching order. `numbers.router` takes any word as a number
#: (`…/phone_numbers/{number}`), so it is last; a router with a more specific
#: `…/phone_numbers/<word>` path goes before it (or is passed to `create_app(routers=…)`).
ROUTERS: list[APIRouter] = [session.router, search.router, collection.router, orders.router,
                            ports.router, service.router, docs.router, console.router]
CATCH_ALL: list[APIRouter] = [numbers.router]

_started_lock = threading.Lock()


def create_app(db_url: str | None = None, *, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The ASGI app. `db_url` switches this process's store (migrations run either way);
    `routers` are included after knm's own and before the catch-all number routes.

    Importable by string (`knm.api.app:create_app`, factory) so uvicorn can start it in
    several worker processes; each then opens the database named by `KNM_DATABASE_URL`.
    """
    with _started_lock:
        if db_url:  # this database, the search cache as it is
            runtime.configure(db=db_url, cache=search_cache.get_cache())
        else:
            store.engine()  # opens (and migrates) the configured database
        auth.clear_caches()
        metrics.install_carrier_observers()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Handlers are synchronous and mostly CPU (Python + SQLite). Forty threads per worker
        # only fight over the GIL; a few keep the CPU busy while one waits on the database.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = _api_threads()
        # SPEC §5.1: every worker runs a settler; a lock lets one of them work at a time
        background = settler.BackgroundSettler()
        background.start()
        try:
            yield
        finally:
            background.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="knm",
        version=_version(),
        description="Kazoo-compatible phone-number API (Crossbar `phone_numbers`).",
        docs_url=None, redoc_url=None,
    )
    api_errors.install(app)
    for router in [*ROUTERS, *routers, *CATCH_ALL]:
        app.include_router(router)
    openapi.install(app)
    app.add_middleware(RequestMiddleware)
    return app


def _api_threads() -> int:
    """Threads per worker for request handlers (`KNM_API_THREADS`, default 8)."""
    try:
        return max(1, int(os.environ.get("KNM_API_THREADS", "8")))
    except ValueError:
        return 8


def worker_app() -> FastAPI:
    """The app as `knm serve` runs it in each worker: logging configured, then `create_app`."""
    if not api_logging.is_configured():
        api_logging.configure(os.environ.get("KNM_LOG_LEVEL", "INFO"))
    runtime.configure()  # what `knm serve` exported: KNM_DATABASE_URL, KNM_CACHE_URL
    return create_app()


def _version() -> str:
    return knm.__version__
