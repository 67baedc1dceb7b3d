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


def test_a_version_5_database_gets_the_account_listing_index(db: str) -> None:
    engine = store.engine()
    # what knm as of version 5 left behind: `assigned_to` alone, no `(assigned_to, number)`
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_knm_numbers_account_number")
        conn.exec_driver_sql("CREATE INDEX ix_knm_numbers_assigned ON knm_numbers "
                             "(assigned_to) WHERE assigned_to IS NOT NULL")
        conn.execute(delete(schema.schema_version).where(schema.schema_version.c.version == 6))

    assert migrations.upgrade(engine) == migrations.MIGRATIONS[-1][0]

    found = _indexes("knm_numbers")
    assert "ix_knm_numbers_account_number" in found and "ix_knm_numbers_assigned" not in found
    # a page of an account's listing is a range scan of that index, not a sort
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT * FROM knm_numbers WHERE assigned_to = 'a' "
                "AND number >= '+1' ORDER BY number LIMIT 51"))
            assert "ix_knm_numbers_account_number" in plan and "TEMP B-TREE" not in plan
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql(
                "EXPLAIN SELECT * FROM knm_numbers WHERE assigned_to = 'a' "
                "AND number >= '+1' ORDER BY number LIMIT 51"))
            assert "ix_knm_numbers_account_number" in plan and "Sort" not in plan
