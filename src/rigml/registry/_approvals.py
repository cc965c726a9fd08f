"""Approvals: aliases that ``[registry] approval`` lists move only once another user agreed.

``approve`` records who agreed to which version holding which alias (audited);
``promote`` then looks for an approval by someone other than the promoter.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rigml.errors import PromotionRefused
from rigml.registry._models import lock_registry
from rigml.registry._refs import ModelVersion, check_alias, parse_ref, resolve_in

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab


@dataclass(frozen=True)
class Approval:
    id: int
    ref: str  # NAME@VERSION
    alias: str
    approver: str
    time: float
    comment: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def approve(
    lab: Lab,
    name: str,
    version: int | str,
    *,
    alias: str = "production",
    comment: str | None = None,
    actor: str | None = None,
) -> Approval:
    """Record that ``actor`` (default: the OS user) approves ``version`` for ``alias``.

    Raises:
        ModelNotFound, InvalidModelRef, InvalidInput: bad name, version or alias.
    """
    from rigml.audit._record import default_actor

    check_alias(alias)
    parse_ref(f"{name}@{version}")
    who = actor or default_actor()
    note = (comment or "").strip() or None

    def write(conn: Connection) -> Approval:
        from sqlalchemy import insert

        from rigml.audit import record
        from rigml.store.schema import model_approvals

        lock_registry(conn)
        target = resolve_in(conn, name, str(version))
        now = time.time()
        row = {"version_id": target.id, "alias": alias, "approver": who, "time": now}
        key = conn.execute(insert(model_approvals).values(**row, comment=note))
        record(
            conn,
            action="model.approve",
            subject=target.ref,
            after={"alias": alias, "approver": who},
            reason=note,
            actor=who,
        )
        return Approval(int(key.inserted_primary_key[0]), target.ref, alias, who, now, note)  # type: ignore[index]

    return lab.store.transact(write)


def approvals(lab: Lab, ref: str) -> list[Approval]:
    """The approvals given to the version ``ref`` names, oldest first."""
    name, sel = parse_ref(ref)
    with lab.store.read() as conn:
        target = resolve_in(conn, name, sel)
        return _approvals_of(conn, target)


def _approvals_of(conn: Connection, target: ModelVersion) -> list[Approval]:
    from sqlalchemy import select

    from rigml.store.schema import model_approvals as ap

    rows = conn.execute(select(ap).where(ap.c.version_id == target.id).order_by(ap.c.id)).all()
    return [Approval(r.id, target.ref, r.alias, r.approver, r.time, r.comment) for r in rows]


def required_approval(
    conn: Connection, lab: Lab, target: ModelVersion, alias: str, promoter: str
) -> Approval | None:
    """The approval a move of ``alias`` to ``target`` needs, or None when the policy needs none.

    Raises:
        PromotionRefused: the policy needs one and no user other than ``promoter`` gave it.
    """
    if alias not in lab.config.registry.approval:
        return None
    given = [a for a in _approvals_of(conn, target) if a.alias == alias]
    for found in reversed(given):
        if found.approver != promoter:
            return found
    others = " (only by the promoter, which does not count)" if given else ""
    raise PromotionRefused(
        f"{target.ref} needs another user's approval to become {alias}{others}; nothing moved",
        hint=f"a different user runs `rig models approve {target.name} {target.version} "
        f"--alias {alias}` (rig.toml [registry] approval lists {alias})",
    )
