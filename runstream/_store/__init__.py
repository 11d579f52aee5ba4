"""The ClickHouse store: one SQL dialect behind two backends.

``chdb`` runs the ClickHouse engine inside this process (the embedded
default); ``clickhouse-connect`` talks to a ClickHouse server or cluster.
The consumer writes through it and the query layer reads through it; both
run the same SQL.
"""

from runstream._store.backends import Store, open_store

__all__ = ["Store", "open_store"]
