"""The Kazoo-compatible HTTP API (`knm serve`): `create_app()` and `serve()`."""

from __future__ import annotations

import os
import tempfile
from logging import getLogger  # not `import logging`: knm.api.logging is a submodule
from typing import Any

__all__ = ["create_app", "serve"]

log = getLogger("knm.api")


def create_app(db_url: str | None = None, **kw: Any) -> Any:
    """The FastAPI app (see `knm.api.app.create_app`; `routers=` adds routers)."""
    from knm.api.app import create_app as _create

    return _create(db_url, **kw)


def serve(host: str = "127.0.0.1", port: int = 8000, db: str | None = None,
          workers: int = 1, *, log_level: str = "info") -> None:
    """Run the API under uvicorn until interrupted.

    `db` is a SQLite path or a SQLAlchemy URL (else `KNM_DATABASE_URL`, else the default
    file); the search cache is `KNM_CACHE_URL`, else `local+store` (`knm.runtime`), so a
    client's `activate` may reach another worker — or a `knm buy` — than its search did. A
    busy port is refused before anything is opened. Migrations run once here, before any
    worker starts, so workers never race to create the schema; the workers learn the
    database and the cache from the environment, and merge their metrics through
    `PROMETHEUS_MULTIPROC_DIR`.
    """
    import uvicorn

    from knm import runtime
    from knm.api import logging as api_logging

    runtime.check_port(host, port)
    os.environ.setdefault("KNM_LOG_LEVEL", log_level.upper())
    api_logging.configure(log_level.upper())
    wired = runtime.configure(db=db, export=True)
    log.info("knm serve on http://%s:%s with %s", host, port, wired.describe())
    _warn_unless_sealed()
    _warn_about_carriers()
    workers = max(1, int(workers))
    common: dict[str, Any] = {"host": host, "port": port, "access_log": False,
                              "log_config": None, "log_level": log_level,
                              "timeout_graceful_shutdown": 5}
    if workers == 1:
        from knm.api.app import worker_app

        uvicorn.run(worker_app(), **common)
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="knm-metrics-")
    uvicorn.run("knm.api.app:worker_app", factory=True, workers=workers, **common)


def _warn_about_carriers() -> None:
    """Settings a carrier is retiring (Bandwidth's Basic auth, …): said once, at start-up,
    where an operator reads the log, rather than discovered the day they stop working."""
    from knm.carriers import health

    health.log_warnings(log)


def _warn_unless_sealed() -> None:
    """Carrier secrets in plaintext in the database are one backup away from a leak."""
    from knm import config, sealing

    if not os.environ.get(sealing.ENV):
        stored = config.secrets_at_rest()
        log.warning(
            "%s is not set: carrier secrets are stored in plaintext in the database "
            "(%d now); set it, then run `knm config rotate-key` (docs/security.md)",
            sealing.ENV, stored["plaintext"])
