"""Schema migrations, applied in order on start.

A short ordered list of functions with a version table is all knm needs: there is one schema
owner (knm itself), and each step is plain SQLAlchemy so it runs on SQLite and PostgreSQL
alike. A new step appends to `MIGRATIONS`; a step never changes once released.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select

from knm.store import schema


def _v1_initial(conn: Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)


def _v2_partial_assigned_index(conn: Connection) -> None:
    """Unassigned numbers (most of an inventory) leave the `assigned_to` index: imports
    maintain one index less per row. (Step 6 replaces this index; it is spelled out here so
    this step stays what it was.)"""
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_knm_numbers_assigned_to")
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_knm_numbers_assigned ON "
                         f"{schema.numbers.name} (assigned_to) WHERE assigned_to IS NOT NULL")


def _v3_search_cache_tables(conn: Connection) -> None:
    schema.search_cache.create(conn, checkfirst=True)
    schema.discovered_numbers.create(conn, checkfirst=True)


def _v4_search_cache_expiry_indexes(conn: Connection) -> None:
    for table in (schema.search_cache, schema.discovered_numbers):
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _v5_orders_never_lost(conn: Connection) -> None:
    """SPEC §5.1: the numbers' pending operation (with its partial index) and the claims'
    leases. A database created by step 1 of this release already has the column."""
    columns = {c["name"] for c in inspect(conn).get_columns(schema.numbers.name)}
    if "pending_operation" not in columns:
        conn.exec_driver_sql(
            f"ALTER TABLE {schema.numbers.name} ADD COLUMN pending_operation VARCHAR(16)")
    index = next(i for i in schema.numbers.indexes if i.name == "ix_knm_numbers_pending")
    index.create(conn, checkfirst=True)
    schema.claims.create(conn, checkfirst=True)


def _v6_account_listing_index(conn: Connection) -> None:
    """Listings page by key through an account's numbers in number order (Kazoo's
    `start_key`/`next_start_key`): `(assigned_to, number)` makes a page an index range scan
    of its own length, whatever the account's size. It serves every query the `assigned_to`
    index of step 2 served, which is dropped so writes maintain one index, not two."""
    index = next(i for i in schema.numbers.indexes
                 if i.name == "ix_knm_numbers_account_number")
    index.create(conn, checkfirst=True)
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_knm_numbers_assigned")


def _v7_feature_orders(conn: Connection) -> None:
    """SPEC §13: number-feature provisioning a carrier still works on, for the settler."""
    schema.feature_orders.create(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _v1_initial),
    (2, "partial index on assigned_to", _v2_partial_assigned_index),
    (3, "search cache in the database", _v3_search_cache_tables),
    (4, "search cache expiry indexes", _v4_search_cache_expiry_indexes),
    (5, "pending operations and claim leases", _v5_orders_never_lost),
    (6, "account listing index (assigned_to, number)", _v6_account_listing_index),
    (7, "number features under way at carriers", _v7_feature_orders),
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
