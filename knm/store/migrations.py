"""Schema migrations, applied in order on start.

A short ordered list of functions with a version table is all knm needs: there is one schema
owner (knm itself), and each step is plain SQLAlchemy so it runs on SQLite and PostgreSQL
alike. A new step appends to `MIGRATIONS`; a step never changes once released.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, select

from knm.store import schema


def _v1_initial(conn: Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _v1_initial),
]


def upgrade(engine: Engine) -> int:
    """Bring the database to the newest version; return it. Safe to run concurrently."""
    with engine.connect() as conn:
        conn = conn.execution_options(knm_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                # one migrator at a time across processes
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(742001)")
            schema.schema_version.create(conn, checkfirst=True)
            done = set(conn.execute(select(schema.schema_version.c.version)).scalars())
            for version, description, step in MIGRATIONS:
                if version in done:
                    continue
                step(conn)
                conn.execute(schema.schema_version.insert().values(
                    version=version, applied=int(time.time()), description=description))
    return MIGRATIONS[-1][0]
