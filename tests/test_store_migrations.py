"""Migrations bring a database written by an older knm up to date, on both backends."""

from __future__ import annotations

from sqlalchemy import delete, inspect, select

from knm import store
from knm.store import migrations, schema


def _indexes(table: str) -> set[str]:
    with store.engine().connect() as conn:
        return {i["name"] for i in inspect(conn).get_indexes(table)}


def test_a_version_3_database_gets_the_search_cache_expiry_indexes(db: str) -> None:
    engine = store.engine()
    # what knm as of version 3 left behind: the cache tables without their expiry indexes
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_knm_search_cache_expires")
        conn.exec_driver_sql("DROP INDEX ix_knm_discovered_numbers_expires")
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version == 4))
    assert "ix_knm_search_cache_expires" not in _indexes("knm_search_cache")

    assert migrations.upgrade(engine) == migrations.MIGRATIONS[-1][0]

    assert "ix_knm_search_cache_expires" in _indexes("knm_search_cache")
    assert "ix_knm_discovered_numbers_expires" in _indexes("knm_discovered_numbers")
    with engine.connect() as conn:
        versions = set(conn.execute(select(schema.schema_version.c.version)).scalars())
    assert versions == {version for version, _, _ in migrations.MIGRATIONS}
    assert migrations.upgrade(engine) == migrations.MIGRATIONS[-1][0]  # a second run: no-op
