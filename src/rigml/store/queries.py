"""SQL shared by every service: a dialect-aware upsert, and which objects rows still name.

Tracking, data and (later) the registry all write "insert or update" rows and all need to
know whether an object is still referenced before it is deleted; both live here, next to
the tables, so no service reaches into another's private module for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, select

from rigml.store.schema import OBJECT_REFERENCES

_CHUNK = 900  # below SQLite's default limit of host parameters per statement


def upsert(conn: Connection) -> Callable[..., Any]:
    """The ``insert`` of this connection's dialect, which has ``on_conflict_do_update``."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def referenced(conn: Connection, digests: Iterable[str] | None = None) -> set[str]:
    """The digests some row of the store names (see ``OBJECT_REFERENCES``): every one, or
    the subset of ``digests``."""
    used: set[str] = set()
    wanted = None if digests is None else list(digests)
    for table, column in OBJECT_REFERENCES:
        col = table.c[column]
        if wanted is None:
            query = select(col).where(col.is_not(None)).distinct()
            used.update(conn.execute(query).scalars())
            continue
        for i in range(0, len(wanted), _CHUNK):
            query = select(col).where(col.in_(wanted[i : i + _CHUNK])).distinct()
            used.update(conn.execute(query).scalars())
    return used
