"""Reading the prediction log back: segments pruned by their index, then rows filtered.

The store knows each segment's model, version, arm and time span, so a filter first picks
the segments that can hold matching rows (one indexed query) and reads only those Parquet
files; the time filter is then applied to their rows. Segments of several workers overlap
in time: :func:`read_predictions` sorts the rows it returns by time, and with ``limit`` stops
reading once no further segment can hold a row earlier (or, ``newest``, later) than those
it has.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidPredictionQuery
from rigml.serve._predlog_arrow import BASE_COLUMNS, INPUT_PREFIX, OUTPUT, PROBA_PREFIX, concat

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Row

    from rigml.lab import Lab

TimeLike = float | int | str | datetime
FEEDBACK_COLUMNS = ("feedback", "feedback_time")
_TIME_HINT = "give epoch seconds, a duration back from now (30m, 1h, 7d) or a date (2026-01-31)"


def parse_time(value: TimeLike, what: str = "time") -> float:
    """Epoch seconds from a number, a datetime, a duration ago (``"1h"``) or an ISO date.

    Raises:
        InvalidPredictionQuery: none of those.
    """

    from rigml._units import parse_when

    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidPredictionQuery(what, f"{value!r} is not a time", hint=_TIME_HINT)
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidPredictionQuery(what, f"{value!r} is not a time", hint=_TIME_HINT)
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_when(text)
    except ValueError:
        raise InvalidPredictionQuery(
            what, f"{value!r} is neither a duration nor a date", hint=_TIME_HINT
        ) from None


@dataclass(frozen=True)
class Filters:
    """Checked filters of a read; times are epoch seconds, ``until`` exclusive."""

    model: str | None = None
    version: int | None = None
    arm: str | None = None
    since: float | None = None
    until: float | None = None
    columns: tuple[str, ...] | None = None
    with_feedback: bool = False


def check_filters(
    *,
    model: str | None = None,
    version: int | None = None,
    arm: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    columns: Sequence[str] | None = None,
    with_feedback: bool = False,
) -> Filters:
    """Validate a read's filters once, at the public entry.

    Raises:
        InvalidPredictionQuery: a malformed time, a version below 1, a column no prediction
            can have, or ``since`` after ``until``.
    """
    start = parse_time(since, "since") if since is not None else None
    end = parse_time(until, "until") if until is not None else None
    if start is not None and end is not None and start > end:
        raise InvalidPredictionQuery(
            "since/until", "since is later than until", hint="swap them, or leave one out"
        )
    if version is not None and (isinstance(version, bool) or int(version) < 1):
        raise InvalidPredictionQuery(
            "version", f"{version!r} is not a version number", hint="versions count from 1"
        )
    cols = None if columns is None else tuple(_check_column(c, with_feedback) for c in columns)
    return Filters(model, version, arm, start, end, cols, with_feedback)


def _check_column(name: str, with_feedback: bool) -> str:
    known = (*BASE_COLUMNS, OUTPUT, *(FEEDBACK_COLUMNS if with_feedback else ()))
    if name in known or name.startswith((INPUT_PREFIX, PROBA_PREFIX)):
        return name
    extra = (
        " (feedback columns need with_feedback / --feedback)" if name in FEEDBACK_COLUMNS else ""
    )
    raise InvalidPredictionQuery(
        "columns",
        f"no prediction column {name!r}{extra}",
        hint=f"columns are {', '.join(known)}, in.<feature> and proba.<class>",
    )


def _segments(lab: Lab, f: Filters, *, newest: bool = False) -> list[Row[Any]]:
    from sqlalchemy import select

    from rigml.store.schema import prediction_segments as ps

    q = select(ps.c.id, ps.c.object, ps.c.first_time, ps.c.last_time, ps.c.rows)
    if f.model is not None:
        q = q.where(ps.c.model == f.model)
    if f.version is not None:
        q = q.where(ps.c.version == int(f.version))
    if f.arm is not None:
        q = q.where(ps.c.arm == f.arm)
    if f.since is not None:
        q = q.where(ps.c.last_time >= f.since)
    if f.until is not None:
        q = q.where(ps.c.first_time < f.until)
    if newest:
        q = q.order_by(ps.c.last_time.desc(), ps.c.id.desc())
    else:
        q = q.order_by(ps.c.first_time, ps.c.id)
    with lab.store.read() as conn:
        return list(conn.execute(q))


def _read_segment(lab: Lab, digest: str, f: Filters) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(lab.objects.get_bytes(digest)))
    mask = None
    if f.since is not None:
        mask = pc.greater_equal(table["time"], f.since)
    if f.until is not None:
        below = pc.less(table["time"], f.until)
        mask = below if mask is None else pc.and_(mask, below)
    return table if mask is None else table.filter(mask)


def _select(table: pa.Table, columns: tuple[str, ...] | None) -> pa.Table:
    """Only ``columns``, in that order; one a segment lacks is nulls (another model's)."""
    import pyarrow as pa

    if columns is None:
        return table
    have = set(table.column_names)
    return pa.table({c: table[c] if c in have else pa.nulls(table.num_rows) for c in columns})


def _scan(lab: Lab, f: Filters, *, newest: bool = False) -> Iterator[tuple[Row[Any], pa.Table]]:
    for seg in _segments(lab, f, newest=newest):
        table = _read_segment(lab, seg.object, f)
        if table.num_rows:
            yield seg, table


def _finish(lab: Lab, table: pa.Table, f: Filters) -> pa.Table:
    """Feedback joined, columns chosen."""
    if f.with_feedback:
        from rigml.serve._feedback import join_feedback

        table = join_feedback(lab, table)
    return _select(table, f.columns)


def _check_seen(f: Filters, seen: set[str]) -> None:
    """A requested column that no segment read had is a mistake, not a column of nulls."""
    if f.columns is None or not seen:
        return
    never = [
        c
        for c in f.columns
        if c not in seen and c not in BASE_COLUMNS and c not in FEEDBACK_COLUMNS
    ]
    if never:
        raise InvalidPredictionQuery(
            "columns",
            f"no logged prediction has {', '.join(map(repr, never))}",
            hint=f"these predictions have {', '.join(sorted(seen))}",
        )


def iter_predictions(
    lab: Lab,
    *,
    model: str | None = None,
    version: int | None = None,
    arm: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    columns: Sequence[str] | None = None,
    with_feedback: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Logged predictions as record batches, one segment at a time (oldest segments first).

    For exports bigger than memory; rows inside a batch keep their segment's order. The
    ``feedback`` column (``with_feedback``) holds each request's latest value as JSON text.

    Raises:
        InvalidPredictionQuery: a malformed filter or an unknown column.
    """
    f = check_filters(
        model=model,
        version=version,
        arm=arm,
        since=since,
        until=until,
        columns=columns,
        with_feedback=with_feedback,
    )
    seen: set[str] = set()
    for _, table in _scan(lab, f):
        seen.update(table.column_names)
        yield from _finish(lab, table, f).to_batches()
    _check_seen(f, seen)  # at the end: an export is then abandoned, nothing written


def read_predictions(
    lab: Lab,
    *,
    model: str | None = None,
    version: int | None = None,
    arm: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    limit: int | None = None,
    columns: Sequence[str] | None = None,
    with_feedback: bool = False,
    newest: bool = False,
) -> pa.Table:
    """Logged predictions matching the filters, as one table sorted by time.

    Args:
        model, version, arm: only these (exact match).
        since, until: ``since <= time < until``; epoch seconds, a datetime, a duration back
            from now (``"1h"``) or an ISO date.
        limit: at most this many rows: the oldest ones, or the latest with ``newest``
            (then sorted latest first).
        columns: only these columns (``in.<feature>``, ``out``, ``proba.<class>``, ...).
        with_feedback: add ``feedback`` (the latest value recorded for the request, as JSON
            text) and ``feedback_time``.

    Raises:
        InvalidPredictionQuery: a malformed filter, an unknown column, a limit below 0.
    """
    if limit is not None and (isinstance(limit, bool) or limit < 0):
        raise InvalidPredictionQuery("limit", f"{limit!r} is below 0", hint="give 0 or more rows")
    f = check_filters(
        model=model,
        version=version,
        arm=arm,
        since=since,
        until=until,
        columns=columns,
        with_feedback=with_feedback,
    )
    tables: list[pa.Table] = []
    seen: set[str] = set()
    held = 0
    for seg, table in _scan(lab, f, newest=newest):
        if limit is not None and held >= limit and _beyond(tables, seg, limit, newest=newest):
            break
        tables.append(table)
        seen.update(table.column_names)
        held += table.num_rows
    _check_seen(f, seen)
    table = _sorted(concat(tables), newest=newest) if tables else _no_rows()
    if limit is not None:
        table = table.slice(0, limit)
    return _finish(lab, table, f)


def _beyond(tables: list[pa.Table], seg: Row[Any], limit: int, *, newest: bool) -> bool:
    """Whether no row of ``seg`` can come before the ``limit`` rows already held."""
    import numpy as np

    if not tables:  # limit 0
        return True
    times = np.concatenate([t["time"].to_numpy() for t in tables])
    if newest:
        kth = float(np.partition(times, len(times) - limit)[len(times) - limit])
        return bool(seg.last_time < kth)
    kth = float(np.partition(times, limit - 1)[limit - 1]) if limit else -math.inf
    return bool(seg.first_time > kth)


def _sorted(table: pa.Table, *, newest: bool) -> pa.Table:
    order = "descending" if newest else "ascending"
    return table.sort_by([("time", order), ("request_id", order), ("row", order)])


def _no_rows() -> pa.Table:
    import pyarrow as pa

    types = {
        "request_id": pa.string(),
        "row": pa.int32(),
        "time": pa.float64(),
        "model": pa.string(),
        "version": pa.int32(),
        "arm": pa.string(),
        "latency_ms": pa.float64(),
    }
    return pa.table({c: pa.array([], type=t) for c, t in types.items()})
