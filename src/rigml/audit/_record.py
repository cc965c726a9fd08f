"""Append entries inside the caller's write transaction: a change and its entry commit together."""

from __future__ import annotations

import getpass
import json
import os
import time as _time
from typing import TYPE_CHECKING, Any

from rigml.audit._entry import AuditEntry, canonical_json, compute_leaf

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row

    from rigml.lab import Lab


def default_actor() -> str:
    """The OS user, or the uid where no name is known (a container without passwd)."""
    try:
        return getpass.getuser()
    except Exception:
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def record(
    conn: Connection,
    *,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """Append one entry in ``conn``'s open write transaction and return it.

    The next seq is max + 1 under the writer's lock (SQLite's immediate transaction, a
    table lock on PostgreSQL), so a rolled-back change leaves no gap a verifier would flag.
    """
    from sqlalchemy import func, insert, select, text

    from rigml.store.schema import audit_log

    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))
    seq = int(conn.execute(select(func.coalesce(func.max(audit_log.c.seq), 0))).scalar_one()) + 1
    who = actor or default_actor()
    when = _time.time()
    b, a = canonical_json(before), canonical_json(after)
    leaf = compute_leaf(seq, when, who, action, subject, b, a, reason).hex()
    conn.execute(
        insert(audit_log).values(
            seq=seq,
            time=when,
            actor=who,
            action=action,
            subject=subject,
            before=b,
            after=a,
            reason=reason,
            leaf=leaf,
        )
    )
    return AuditEntry(seq, when, who, action, subject, before, after, reason, leaf)


def record_now(
    lab: Lab,
    *,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """:func:`record` in a transaction of its own, for a change with no transaction."""
    return lab.store.transact(
        lambda conn: record(
            conn,
            action=action,
            subject=subject,
            before=before,
            after=after,
            reason=reason,
            actor=actor,
        )
    )


def entry_from_row(row: Row[Any]) -> AuditEntry:
    def load(text: str | None) -> Any:
        return None if text is None else json.loads(text)

    return AuditEntry(
        row.seq,
        row.time,
        row.actor,
        row.action,
        row.subject,
        load(row.before),
        load(row.after),
        row.reason,
        row.leaf,
    )
