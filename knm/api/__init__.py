"""The Kazoo-compatible HTTP API (`knm serve`): `create_app()` and `serve()`."""

from __future__ import annotations

import os
import tempfile
from typing import Any

__all__ = ["create_app", "serve"]


def create_app(db_url: str | None = None) -> Any:
    """The FastAPI app (see `knm.api.app.create_app`)."""
    from knm.api.app import create_app as _create

    return _create(db_url)


def serve(host: str = "127.0.0.1", port: int = 8000, db: str | None = None,
          workers: int = 1, *, log_level: str = "info") -> None:
    """Run the API under uvicorn until interrupted.

    `db` is a SQLite path or a SQLAlchemy URL (else `KNM_DATABASE_URL`, else the default
    file). Migrations run once here, before any worker starts, so workers never race to
    create the schema. With several workers the database URL reaches them through
    `KNM_DATABASE_URL` and metrics are merged through `PROMETHEUS_MULTIPROC_DIR`.
    """
    import uvicorn

    from knm import store
    from knm.api import logging as api_logging

    url = store.url_for_path(db) if db else (os.environ.get("KNM_DATABASE_URL")
                                             or store.default_url())
    os.environ["KNM_DATABASE_URL"] = url
    # a client's `activate` may reach another worker (or a `knm buy`) than its search did
    os.environ.setdefault("KNM_CACHE_URL", "local+store")
    from knm import cache

    cache.use(None)  # chosen again from KNM_CACHE_URL on first use
    os.environ.setdefault("KNM_LOG_LEVEL", log_level.upper())
    api_logging.configure(log_level.upper())
    store.use(url)
    _warn_unless_sealed()
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


def _warn_unless_sealed() -> None:
    """Carrier secrets in plaintext in the database are one backup away from a leak."""
    import logging

    from knm import config, sealing

    if not os.environ.get(sealing.ENV):
        stored = config.secrets_at_rest()
        logging.getLogger("knm.api").warning(
            "%s is not set: carrier secrets are stored in plaintext in the database "
            "(%d now); set it, then run `knm config rotate-key` (docs/security.md)",
            sealing.ENV, stored["plaintext"])
