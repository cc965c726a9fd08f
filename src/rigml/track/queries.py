"""Read runs back: one run, filtered lists, metric histories; detect crashed runs.

A run still marked ``running`` whose process is gone is ``crashed``: on this host that is
decided from the process table (pid and its start time, so a reused pid does not count as
alive); on another host, from a heartbeat older than ``heartbeat_timeout``. The first
reader that notices writes the status, with the last heartbeat as the end time. Every
point flushed before the crash stays readable.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rigml.errors import RunNotFound

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.lab import Lab
    from rigml.track._segments import History

_CHUNK = 900  # ids per IN (...) clause; well under SQLite's variable limit
_SHOWN_CANDIDATES = 5  # runs an ambiguous reference lists


@dataclass
class RunInfo:
    """A run as stored, with its params, tags and latest metric values."""

    id: str
    name: str
    experiment: str
    status: str
    start_time: float
    end_time: float | None
    host: str
    pid: int
    user: str | None
    command: str | None
    python: str | None
    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    env_object: str | None
    machine_object: str | None
    error: str | None
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_steps: dict[str, int] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN/inf metrics become the strings "nan", "inf", "-inf"."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["duration"] = self.duration
        out["metrics"] = {k: _json_float(v) for k, v in self.metrics.items()}
        return out


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


def _runs_select() -> Any:
    from sqlalchemy import select

    from rigml.store.schema import experiments, runs

    cols = [c for c in runs.c if c.name not in ("experiment_id", "heartbeat", "pid_start")]
    return select(*cols, experiments.c.name.label("experiment")).join(
        experiments, runs.c.experiment_id == experiments.c.id
    )


def reconcile_crashed(lab: Lab) -> list[str]:
    """Mark runs whose process died without ending them as ``crashed``; return their ids."""
    import psutil
    from sqlalchemy import select, update

    from rigml.store.schema import runs

    with lab.store.read() as conn:
        running = conn.execute(
            select(runs.c.id, runs.c.host, runs.c.pid, runs.c.pid_start, runs.c.heartbeat).where(
                runs.c.status == "running"
            )
        ).all()
    if not running:
        return []
    host = socket.gethostname()
    timeout = lab.config.tracking.heartbeat_timeout
    now = time.time()
    dead: list[tuple[str, float]] = []
    for run_id, run_host, pid, pid_start, heartbeat in running:
        if run_host == host:
            try:
                alive = abs(psutil.Process(pid).create_time() - pid_start) < 1.0
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                alive = False
        else:
            alive = now - heartbeat < timeout
        if not alive:
            dead.append((run_id, heartbeat))
    if dead:

        def write(conn: Connection) -> None:
            for run_id, heartbeat in dead:
                conn.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.status == "running")
                    .values(
                        status="crashed",
                        end_time=heartbeat,
                        error="the process ended without ending the run (killed or lost power)",
                    )
                )

        lab.store.transact(write)
    return [d[0] for d in dead]


def resolve_run_id(lab: Lab, ref: str) -> str:
    """A full run id from an id, a unique prefix of one (any length), or a run name.

    A reference that is both a prefix of some ids and the name of some runs stands for
    all of them, so it must be unique across both to resolve.

    Raises:
        RunNotFound: no run matches, or several do (the error lists them: id, name, start).
    """
    from sqlalchemy import func, or_, select

    from rigml.store.schema import runs

    text = ref.strip()
    prefix = text.lower()
    if not text:
        raise RunNotFound(ref)
    matches = [runs.c.name == text]
    if all(c in "0123456789abcdef" for c in prefix):
        matches.append(runs.c.id == prefix if len(prefix) == 32 else runs.c.id.startswith(prefix))
    condition = or_(*matches)
    with lab.store.read() as conn:
        found = conn.execute(
            select(runs.c.id, runs.c.name, runs.c.start_time)
            .where(condition)
            .order_by(runs.c.start_time.desc(), runs.c.id)
            .limit(_SHOWN_CANDIDATES + 1)
        ).all()
        total = len(found)
        if total > _SHOWN_CANDIDATES:
            total = conn.execute(
                select(func.count()).select_from(runs).where(condition)
            ).scalar_one()
    if not found:
        raise RunNotFound(text)
    if total > 1:
        shown = [_describe_candidate(*row) for row in found[:_SHOWN_CANDIDATES]]
        raise RunNotFound(text, ambiguous=shown, total=total)
    return str(found[0].id)


def _describe_candidate(run_id: str, name: str, start_time: float) -> str:
    started = datetime.fromtimestamp(start_time).strftime("%Y-%m-%d %H:%M")
    return f"{run_id[:12]} {name} (started {started})"


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _attach_details(conn: Connection, infos: dict[str, RunInfo]) -> None:
    from sqlalchemy import select

    from rigml.store.schema import latest_metrics, params, tags

    ids = list(infos)
    for chunk in _chunks(ids):
        for run_id, key, value in conn.execute(
            select(params.c.run_id, params.c.key, params.c.value).where(params.c.run_id.in_(chunk))
        ):
            infos[run_id].params[key] = json.loads(value)
        for run_id, key, value in conn.execute(
            select(tags.c.run_id, tags.c.key, tags.c.value).where(tags.c.run_id.in_(chunk))
        ):
            infos[run_id].tags[key] = value
        for run_id, key, value, step in conn.execute(
            select(
                latest_metrics.c.run_id,
                latest_metrics.c.key,
                latest_metrics.c.value,
                latest_metrics.c.step,
            ).where(latest_metrics.c.run_id.in_(chunk))
        ):
            infos[run_id].metrics[key] = math.nan if value is None else float(value)
            infos[run_id].metric_steps[key] = int(step)


def _to_info(row: Any) -> RunInfo:
    return RunInfo(**{k: v for k, v in row._mapping.items()})


def get_run(lab: Lab, ref: str) -> RunInfo:
    """One run by id, unique id prefix, or name (see :func:`resolve_run_id`).

    Raises:
        RunNotFound: no such run, or the reference is ambiguous.
    """
    from rigml.store.schema import runs

    run_id = resolve_run_id(lab, ref)
    reconcile_crashed(lab)
    with lab.store.read() as conn:
        row = conn.execute(_runs_select().where(runs.c.id == run_id)).one()
        info = _to_info(row)
        _attach_details(conn, {run_id: info})
    return info


def list_runs(
    lab: Lab,
    *,
    where: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    experiment: str | None = None,
    details: bool = True,
) -> list[RunInfo]:
    """Runs matching ``where`` (see :mod:`rigml.track._where`), newest first by default.

    ``sort`` is checked before anything is read, so a typo such as ``sort="bogus"``
    fails the same way from Python as from ``rig runs list --sort``.

    Raises:
        InvalidQuery: ``where`` cannot be parsed.
        InvalidSortSpec: ``sort`` is malformed or names an unknown key; the message lists
            the valid keys.
    """
    from rigml.store.schema import experiments, runs
    from rigml.track._where import compile_sort, compile_where, parse_sort

    keys = parse_sort(sort) if sort else []
    stmt = _runs_select()
    if where:
        stmt = stmt.where(compile_where(where))
    if experiment:
        stmt = stmt.where(experiments.c.name == experiment)
    stmt = stmt.order_by(*compile_sort(keys), runs.c.start_time.desc(), runs.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    reconcile_crashed(lab)
    with lab.store.read() as conn:
        infos = {row.id: _to_info(row) for row in conn.execute(stmt)}
        if details and infos:
            _attach_details(conn, infos)
    return list(infos.values())


def metric_keys(lab: Lab, run_id: str) -> list[str]:
    from sqlalchemy import select

    from rigml.store.schema import latest_metrics

    with lab.store.read() as conn:
        return list(
            conn.execute(
                select(latest_metrics.c.key)
                .where(latest_metrics.c.run_id == run_id)
                .order_by(latest_metrics.c.key)
            ).scalars()
        )


def load_history(lab: Lab, run_id: str, key: str) -> History:
    """Every stored point of metric ``key`` of ``run_id``, sorted by step."""
    from sqlalchemy import select

    from rigml.store.schema import metric_segments as ms
    from rigml.track._segments import unpack

    with lab.store.read() as conn:
        if conn.dialect.name == "postgresql":
            # bytea in psycopg's binary format: 4x faster than hex text for big segments
            raw = conn.connection.driver_connection
            with raw.cursor(binary=True) as cur:  # type: ignore[union-attr]
                cur.execute(
                    'SELECT steps, times, "values" FROM metric_segments '
                    "WHERE run_id = %s AND key = %s ORDER BY id",
                    (run_id, key),
                )
                rows = cur.fetchall()
        else:
            rows = conn.execute(
                select(ms.c.steps, ms.c.times, ms.c["values"])
                .where(ms.c.run_id == run_id, ms.c.key == key)
                .order_by(ms.c.id)
            ).all()
    return unpack(key, rows)


def compact_segments(lab: Lab, run_id: str, *, min_segments: int = 8) -> int:
    """Merge the many small segments of an ended run into one per key; return keys merged.

    Reading a long run then costs one blob per metric instead of one per flush.
    """
    from sqlalchemy import delete, func, insert, select

    from rigml.store.schema import metric_segments as ms
    from rigml.track._segments import pack_arrays

    with lab.store.read() as conn:
        keys = list(
            conn.execute(
                select(ms.c.key)
                .where(ms.c.run_id == run_id)
                .group_by(ms.c.key)
                .having(func.count() >= min_segments)
            ).scalars()
        )
    for key in keys:
        hist = load_history(lab, run_id, key)

        def write(conn: Connection, key: str = key, hist: History = hist) -> None:
            conn.execute(delete(ms).where(ms.c.run_id == run_id, ms.c.key == key))
            conn.execute(insert(ms).values(run_id=run_id, key=key, **pack_arrays(hist)))

        lab.store.transact(write)
    return len(keys)
