"""The tables knm keeps. SQLAlchemy Core, so bulk paths (imports, searches) stay close to SQL.

One `numbers` table replaces Kazoo's per-prefix number databases; the prefix database name is
still computed (`number_db`) so Kazoo documents round-trip. `pool_numbers` holds the private
pools of `knm_managed` and `knm_inum`, which Kazoo kept in their own databases.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

numbers = Table(
    "knm_numbers",
    metadata,
    Column("number", String(40), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("module_name", String(64), nullable=False),
    Column("assigned_to", String(64)),
    Column("prev_assigned_to", String(64)),
    Column("used_by", String(64)),
    Column("ported_in", Boolean, nullable=False, default=False),
    Column("carrier_data", JSON),
    Column("features", JSON),
    Column("features_allowed", JSON),
    Column("features_denied", JSON),
    Column("reserve_history", JSON),
    Column("region", String(64)),
    Column("auth_by", String(64)),
    Column("doc", JSON),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
    # optimistic concurrency: every write bumps `version`; `rev` is the Kazoo-style `_rev`
    Column("version", Integer, nullable=False, default=1),
    Column("rev", String(64)),
    # SPEC §5.1: `acquire` or `disconnect` while a purchase or release at the carrier is under
    # way or unsettled (NULL otherwise): what `knm orders` lists and the settler works through
    Column("pending_operation", String(16)),
)
# prefix-bounded searches of local/inventory numbers, and account listings
Index("ix_knm_numbers_state_module_number",
      numbers.c.state, numbers.c.module_name, numbers.c.number)
# an account's numbers in number order: listings page through it by key (`number > :last`),
# so a page costs the same in an account of 100 numbers as in one of 100,000. Partial: most
# rows of a large inventory are unassigned, and need not be in this index
Index("ix_knm_numbers_account_number", numbers.c.assigned_to, numbers.c.number,
      postgresql_where=numbers.c.assigned_to.isnot(None),
      sqlite_where=numbers.c.assigned_to.isnot(None))

# partial: only the few numbers with an order under way or unsettled
Index("ix_knm_numbers_pending", numbers.c.pending_operation,
      postgresql_where=numbers.c.pending_operation.isnot(None),
      sqlite_where=numbers.c.pending_operation.isnot(None))

# who is working on a number at its carrier right now: a lease its holder renews while the
# call runs. A claim whose lease ran out belongs to a process that died: it is settled, never
# simply taken over. Times are the database's clock, so hosts' clocks never disagree.
claims = Table(
    "knm_claims",
    metadata,
    Column("number", String(40), primary_key=True),
    Column("holder", String(128), nullable=False, index=True),
    Column("operation", String(16), nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("started", Float, nullable=False),
)

# SPEC §13: number features a carrier accepted and still works on (an E911 registration, a
# caller-name listing) — what the settler asks about, like unsettled orders. A row lives
# only while the carrier works: the table holds the few numbers with provisioning under way.
feature_orders = Table(
    "knm_feature_orders",
    metadata,
    Column("number", String(40), primary_key=True),
    Column("feature", String(16), primary_key=True),  # `e911` | `cnam`
    Column("provider", String(64), nullable=False),  # the carrier working on it
    # the carrier's ids of its pending work (orders), by which its webhooks name it
    Column("refs", JSON),
    Column("since", Float, nullable=False),
)

pool_numbers = Table(
    "knm_pool_numbers",
    metadata,
    Column("carrier", String(64), primary_key=True),
    Column("number", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("assigned_to", String(64)),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
)
Index(
    "ix_knm_pool_lookup",
    pool_numbers.c.carrier,
    pool_numbers.c.account_id,
    pool_numbers.c.state,
    pool_numbers.c.number,
)

accounts = Table(
    "knm_accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("parent_id", String(64)),
    Column("tree", JSON, nullable=False),  # ancestors, root first
    Column("is_reseller", Boolean, nullable=False, default=False),
    Column("superduper_admin", Boolean, nullable=False, default=False),
    Column("allow_number_additions", Boolean, nullable=False, default=False),
    Column("dial_plan", JSON),
    Column("created", BigInteger, nullable=False),
)

api_keys = Table(
    "knm_api_keys",
    metadata,
    # only a hash of the key is stored: a copy of the database does not leak keys
    Column("key_hash", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("created", BigInteger, nullable=False),
)

auth_tokens = Table(
    "knm_auth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)

config_entries = Table(
    "knm_config",
    metadata,
    # scope is "system" or an account id; section is "default" or a node name
    Column("scope", String(64), primary_key=True),
    Column("category", String(128), primary_key=True),
    Column("section", String(128), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", JSON),
)

port_requests = Table(
    "knm_port_requests",
    metadata,
    Column("number", String(40), primary_key=True),
    Column("account_id", String(64)),
    Column("state", String(32), nullable=False, default="submitted"),
)

# the search cache kept in the database (`KNM_CACHE_URL=store`; the CLI's default), so that a
# search in one process and the purchase in another agree without Redis
search_cache = Table(
    "knm_search_cache",
    metadata,
    Column("query_id", String(255), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Column("results", JSON, nullable=False),
    # expired entries are swept on every write: found by index, not by a scan
    Index("ix_knm_search_cache_expires", "expires_at"),
)

discovered_numbers = Table(
    "knm_discovered_numbers",
    metadata,
    Column("number", String(40), primary_key=True),
    Column("expires_at", Float, nullable=False),
    Column("result", JSON, nullable=False),
    Index("ix_knm_discovered_numbers_expires", "expires_at"),
)

schema_version = Table(
    "knm_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied", BigInteger, nullable=False),
    Column("description", Text),
)
