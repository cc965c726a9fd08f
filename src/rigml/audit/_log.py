"""Read the log back, newest first, filtered the way `rig audit log` asks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml.audit._entry import AuditEntry
from rigml.audit._record import entry_from_row

if TYPE_CHECKING:
    from rigml.lab import Lab


def entries(
    lab: Lab,
    *,
    since: float | None = None,
    action: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    model: str | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Entries newest first; ``action`` is a prefix (``dataset.`` matches ``dataset.tag``);
    ``model``: the registry's entries about that model (its versions, aliases, approvals)."""
    from sqlalchemy import select

    from rigml.store.schema import audit_log as t

    q = select(t).order_by(t.c.seq.desc())
    if since is not None:
        q = q.where(t.c.time >= since)
    if action:
        q = q.where(t.c.action.startswith(action, autoescape=True))
    if subject:
        q = q.where(t.c.subject == subject)
    if actor:
        q = q.where(t.c.actor == actor)
    if model:
        registry = t.c.action.startswith("model.") | t.c.action.startswith("alias.")
        about = (t.c.subject == model) | t.c.subject.startswith(model + "@", autoescape=True)
        q = q.where(registry & about)
    if limit is not None:
        q = q.limit(limit)
    with lab.store.read() as conn:
        return [entry_from_row(r) for r in conn.execute(q)]
