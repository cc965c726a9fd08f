"""Move aliases: promote through the gates, force with a reason, roll back, remove.

Every move happens in one write transaction under the registry lock: the gates are judged
against the holders of the moment, the alias row changes, an ``alias_moves`` row and an
audit entry are added, and all of it commits together. Concurrent promoters on SQLite or
PostgreSQL therefore leave a history in which each move starts where the previous one
ended. A failed gate report is kept (the evidence) and nothing moves.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import InvalidInput, NothingToRollBack, PromotionBlocked
from rigml.registry._models import lock_registry
from rigml.registry._refs import ModelVersion, check_alias, model_id, parse_ref, resolve_in

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import Connection, Row

    from rigml.gates import Gate, GateReport
    from rigml.lab import Lab
    from rigml.registry._approvals import Approval


@dataclass(frozen=True)
class AliasMove:
    """One change of an alias: ``from_version`` -> ``to_version`` (None: nobody)."""

    id: int
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    action: str  # promote | force | rollback | remove
    actor: str
    time: float
    reason: str | None
    gate_report_id: int | None
    undone_by: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did: the move (None when the version already held the alias), the
    gate report that let it through, and the approval it used."""

    version: ModelVersion
    alias: str
    move: AliasMove | None
    gates: GateReport | None
    approval: Approval | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.version.ref,
            "alias": self.alias,
            "moved": self.move is not None,
            "move": self.move.to_dict() if self.move else None,
            "gates": self.gates.to_dict() if self.gates else None,
            "approval": self.approval.to_dict() if self.approval else None,
        }


def promote(
    lab: Lab,
    name: str,
    version: int | str,
    *,
    to: str,
    reason: str | None = None,
    force: bool = False,
    gates: Sequence[Gate | str | Mapping[str, Any]] | None = None,
    actor: str | None = None,
) -> Promotion:
    """Point alias ``to`` of model ``name`` at ``version`` (a number, ``latest`` or an alias).

    The gates that apply are ``gates`` when given, else the rules of the newest gate report
    stored with the version's run (a pipeline stage's ``gates:``); they are judged against
    the current holders of the aliases they name. ``force`` moves the alias whatever the
    gates say; it needs a ``reason`` and is recorded as an override.

    Raises:
        PromotionBlocked: the gates failed (the report is stored; nothing moved).
        PromotionRefused: the alias needs another user's approval that is missing.
        GateMetricMissing: a rule names a metric the run or its reference lacks.
        ModelNotFound, InvalidModelRef, InvalidInput: bad name, version, alias or reason.
    """
    from rigml.audit._record import default_actor

    check_alias(to)
    why = (reason or "").strip() or None
    if force and why is None:
        raise InvalidInput(
            "--force needs a reason: an override is recorded with its why",
            hint='add --reason "..." (e.g. "hotfix for incident 42, gates rerun tomorrow")',
        )
    parse_ref(f"{name}@{version}")
    who = actor or default_actor()
    request = _Request(name, str(version), to, why, force, gates, who)
    outcome = lab.store.transact(lambda conn: _promote(conn, lab, request))
    if isinstance(outcome, Promotion):
        return outcome
    ref, report = outcome
    raise PromotionBlocked(ref, to, report.run_name, report.table(), report)


@dataclass(frozen=True)
class _Request:
    name: str
    selector: str
    alias: str
    reason: str | None
    force: bool
    gates: Sequence[Gate | str | Mapping[str, Any]] | None
    actor: str


def _promote(conn: Connection, lab: Lab, req: _Request) -> Promotion | tuple[str, GateReport]:
    """The transaction of :func:`promote`: a Promotion, or (ref, failed report) to raise."""
    from rigml.gates._results import insert_gate_report
    from rigml.registry._approvals import required_approval

    lock_registry(conn)
    target = resolve_in(conn, req.name, req.selector)
    mid = model_id(conn, req.name)
    before = holder(conn, mid, req.alias)
    if before == target.version:
        return Promotion(target, req.alias, None, None, None)
    approval = required_approval(conn, lab, target, req.alias, req.actor)
    report = _judge(conn, lab, target, req)
    if report is not None:
        insert_gate_report(conn, report)
        if not report.passed and not req.force:
            return target.ref, report
    action = "force" if req.force else "promote"
    gate_id = report.id if report is not None else None
    move = move_alias(
        conn, mid, req.name, req.alias, target.version, action, req, gate_id, before=before
    )
    return Promotion(target, req.alias, move, report, approval)


def _judge(conn: Connection, lab: Lab, target: ModelVersion, req: _Request) -> GateReport | None:
    """The gates that apply, judged; None when none apply (or, under force, none can)."""
    from rigml.errors import RigError
    from rigml.gates import evaluate_gates
    from rigml.registry._reference import RegistryReference

    rules: list[Gate | str | Mapping[str, Any]] | None = list(req.gates) if req.gates else None
    if target.run_id is None:
        if rules and not req.force:
            raise InvalidInput(
                f"{target.ref} has no run, so gates cannot judge it",
                hint="register versions from runs (`rig models register RUN ...`), or --force",
            )
        return None
    if rules is None:
        stored = _stored_rules(conn, target.run_id)
        rules = list(stored) if stored else None
    if not rules:
        return None
    reference = RegistryReference(lab, req.name)
    try:
        return evaluate_gates(lab, target.run_id, rules, reference=reference)
    except RigError:
        if req.force:  # an override goes through even when the gates cannot be evaluated
            return None
        raise


def _stored_rules(conn: Connection, run_id: str) -> list[str] | None:
    """The rules of the newest gate report stored with the run (its stage's ``gates:``)."""
    import json

    from sqlalchemy import select

    from rigml.store.schema import gate_reports as gr

    text = conn.execute(
        select(gr.c.rules)
        .where(gr.c.run_id == run_id)
        .order_by(gr.c.evaluated_at.desc(), gr.c.id.desc())
        .limit(1)
    ).scalar()
    return None if text is None else list(json.loads(text))


def holder(conn: Connection, mid: int, alias: str) -> int | None:
    """The version number that holds ``alias`` of model ``mid``, or None."""
    from sqlalchemy import select

    from rigml.store.schema import model_aliases as ma
    from rigml.store.schema import model_versions as mv

    query = (
        select(mv.c.version)
        .join(ma, ma.c.version_id == mv.c.id)
        .where(ma.c.model_id == mid, ma.c.alias == alias)
    )
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def move_alias(
    conn: Connection,
    mid: int,
    name: str,
    alias: str,
    to_version: int | None,
    action: str,
    req: _Request | _Who,
    gate_report_id: int | None = None,
    *,
    before: int | Literal["unread"] | None = "unread",
) -> AliasMove:
    """Move ``alias`` to ``to_version`` (None: remove it), with its history row and audit
    entry, in the caller's transaction (which holds the registry lock)."""
    from sqlalchemy import delete, insert, select

    from rigml.audit import record
    from rigml.store.schema import alias_moves, model_aliases
    from rigml.store.schema import model_versions as mv

    if before == "unread":  # the caller has not read the holder in this transaction
        before = holder(conn, mid, alias)
    now = time.time()
    values = {
        "model_id": mid,
        "alias": alias,
        "from_version": before,
        "to_version": to_version,
        "action": action,
        "actor": req.actor,
        "time": now,
        "reason": req.reason,
        "gate_report_id": gate_report_id,
    }
    move_id = int(conn.execute(insert(alias_moves).values(**values)).inserted_primary_key[0])  # type: ignore[index]
    where = (model_aliases.c.model_id == mid) & (model_aliases.c.alias == alias)
    conn.execute(delete(model_aliases).where(where))
    if to_version is not None:
        vid = conn.execute(
            select(mv.c.id).where(mv.c.model_id == mid, mv.c.version == to_version)
        ).scalar_one()
        row = {"model_id": mid, "alias": alias, "version_id": vid, "move_id": move_id}
        conn.execute(insert(model_aliases).values(**row, moved_at=now))
    record(
        conn,
        action=f"alias.{action}",
        subject=f"{name}@{alias}",
        before=None if before is None else {"version": before},
        after=None
        if to_version is None
        else {"version": to_version, "gate_report": gate_report_id},
        reason=req.reason,
        actor=req.actor,
    )
    return AliasMove(
        move_id,
        name,
        alias,
        before,
        to_version,
        action,
        req.actor,
        now,
        req.reason,
        gate_report_id,
        None,
    )


@dataclass(frozen=True)
class _Who:
    actor: str
    reason: str | None


def rollback(
    lab: Lab,
    name: str,
    alias: str = "production",
    *,
    reason: str | None = None,
    actor: str | None = None,
) -> AliasMove:
    """Give ``alias`` back to the version that held it before the current holder's move.

    Rollbacks stack: a second one goes one step further back. No gates are judged (a
    rollback restores what passed before); the move is audited like any other.

    Raises:
        NothingToRollBack: nobody holds the alias, or the holder was its first.
        ModelNotFound: no such model.
    """
    from rigml.audit._record import default_actor

    check_alias(alias)
    who = _Who(actor or default_actor(), (reason or "").strip() or None)
    return lab.store.transact(lambda conn: _rollback(conn, name, alias, who))


def _rollback(conn: Connection, name: str, alias: str, who: _Who) -> AliasMove:
    from sqlalchemy import select, update

    from rigml.store.schema import alias_moves as am

    lock_registry(conn)
    mid = model_id(conn, name)
    current = holder(conn, mid, alias)
    if current is None:
        raise NothingToRollBack(name, alias, "no version holds it")
    placed = conn.execute(
        select(am.c.id, am.c.from_version)
        .where(
            am.c.model_id == mid,
            am.c.alias == alias,
            am.c.to_version == current,
            am.c.action != "rollback",
            am.c.undone_by.is_(None),
        )
        .order_by(am.c.id.desc())
        .limit(1)
    ).first()
    if placed is None or placed.from_version is None:
        raise NothingToRollBack(name, alias, f"version {current} was the first to hold it")
    resolve_in(conn, name, str(placed.from_version))  # the earlier version still exists
    move = move_alias(conn, mid, name, alias, placed.from_version, "rollback", who)
    conn.execute(update(am).where(am.c.id == placed.id).values(undone_by=move.id))
    return move


def remove_alias(
    lab: Lab, name: str, alias: str, *, reason: str | None = None, actor: str | None = None
) -> AliasMove:
    """Take ``alias`` off whichever version holds it.

    Raises:
        ModelNotFound: no such model, or nobody holds the alias.
    """
    from rigml.audit._record import default_actor
    from rigml.errors import ModelNotFound

    check_alias(alias)
    who = _Who(actor or default_actor(), (reason or "").strip() or None)

    def write(conn: Connection) -> AliasMove:
        lock_registry(conn)
        mid = model_id(conn, name)
        if holder(conn, mid, alias) is None:
            raise ModelNotFound(f"{name}@{alias}", known="no version holds that alias")
        return move_alias(conn, mid, name, alias, None, "remove", who)

    return lab.store.transact(write)


def alias_history(lab: Lab, name: str, alias: str | None = None) -> list[AliasMove]:
    """Every move of ``name``'s aliases (or of one), oldest first.

    Raises:
        ModelNotFound: no such model.
    """
    from sqlalchemy import select

    from rigml.store.schema import alias_moves as am

    with lab.store.read() as conn:
        mid = model_id(conn, name)
        query = select(am).where(am.c.model_id == mid)
        if alias is not None:
            query = query.where(am.c.alias == alias)
        rows = conn.execute(query.order_by(am.c.id)).all()
    return [move_from_row(r, name) for r in rows]


def move_from_row(row: Row[Any], name: str) -> AliasMove:
    return AliasMove(
        row.id,
        name,
        row.alias,
        row.from_version,
        row.to_version,
        row.action,
        row.actor,
        row.time,
        row.reason,
        row.gate_report_id,
        row.undone_by,
    )
