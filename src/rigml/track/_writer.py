"""The background writer: moves logged points from memory to the store in batches.

``Run.log`` only appends to a deque (thread-safe, no lock, no I/O). One daemon thread per
store and process wakes every ``flush_interval`` seconds, drains each run's deque, groups
the points by key, and writes one segment per key plus the latest values and a heartbeat
in a single transaction. A flush that meets a locked database retries (``Store.transact``,
the one rule in ``store/_retry.py``); points stay in memory until they are written, so none
is dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from operator import itemgetter
from typing import TYPE_CHECKING

from rigml.track._segments import pack

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.store import Store

Point = tuple[str, int, float, float]  # key, step, time, value

HEARTBEAT_EVERY_S = 15.0
BIG_BACKLOG = 200_000  # points; above this the writer flushes again without waiting


class RunBuffer:
    """Points of one run waiting to be written."""

    __slots__ = ("points", "run_id")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.points: deque[Point] = deque()

    def drain(self) -> list[Point]:
        pts = self.points
        n = len(pts)
        popleft = pts.popleft
        return [popleft() for _ in range(n)]


def write_points(conn: Connection, run_id: str, points: list[Point], now: float) -> None:
    """Write drained points of one run: one segment per key, latest values, heartbeat."""
    from sqlalchemy import case, insert, update

    from rigml.store.queries import upsert
    from rigml.store.schema import latest_metrics, metric_segments, runs

    by_key = _group(points)
    if by_key:
        conn.execute(
            insert(metric_segments),
            [{"run_id": run_id, "key": k, **pack(*cols)} for k, cols in by_key.items()],
        )
        latest = []
        for key, (steps, times, values) in by_key.items():
            # the point at the highest step; among equal steps, the last one logged
            i = len(steps) - 1 - steps[::-1].index(max(steps))
            v = values[i]
            latest.append(
                {
                    "run_id": run_id,
                    "key": key,
                    "step": steps[i],
                    "value": None if v != v else v,  # NaN as NULL: SQLite cannot hold NaN
                    "time": times[i],
                    "count": len(steps),
                }
            )
        stmt = upsert(conn)(latest_metrics).values(latest)
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "count": latest_metrics.c.count + ex["count"],
                "value": case(
                    (ex["step"] >= latest_metrics.c.step, ex["value"]),
                    else_=latest_metrics.c.value,
                ),
                "time": case(
                    (ex["step"] >= latest_metrics.c.step, ex["time"]), else_=latest_metrics.c.time
                ),
                "step": case(
                    (ex["step"] >= latest_metrics.c.step, ex["step"]), else_=latest_metrics.c.step
                ),
            },
        )
        conn.execute(stmt)
    conn.execute(
        update(runs).where(runs.c.id == run_id, runs.c.status == "running").values(heartbeat=now)
    )


def _group(points: list[Point]) -> dict[str, tuple[list[int], list[float], list[float]]]:
    """Columns per key. Column-wise ``map(itemgetter)`` keeps the one-key case at C speed."""
    if not points:
        return {}
    keys, steps, times, values = (list(map(itemgetter(i), points)) for i in range(4))
    first = keys[0]
    if keys.count(first) == len(keys):
        return {first: (steps, times, values)}
    by_key: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for key, step, t, value in points:
        cols = by_key.get(key)
        if cols is None:
            cols = by_key[key] = ([], [], [])
        cols[0].append(step)
        cols[1].append(t)
        cols[2].append(value)
    return by_key


class Writer(threading.Thread):
    """Flushes every registered run's buffer to ``store`` in the background."""

    def __init__(self, store: Store, *, interval: float) -> None:
        super().__init__(name="rigml-writer", daemon=True)
        self.store = store
        self.interval = interval
        self._buffers: dict[str, RunBuffer] = {}
        self._last_beat: dict[str, float] = {}
        self._lock = threading.Lock()  # one flush at a time
        self._stop_event = threading.Event()
        self.errors = 0
        self.last_error: BaseException | None = None

    def register(self, buffer: RunBuffer) -> None:
        self._buffers[buffer.run_id] = buffer
        self._last_beat[buffer.run_id] = time.time()

    def unregister(self, run_id: str) -> None:
        self._buffers.pop(run_id, None)
        self._last_beat.pop(run_id, None)

    def run(self) -> None:
        while not self._stop_event.is_set():
            backlog = self.flush_all()
            if backlog < BIG_BACKLOG:
                self._stop_event.wait(self.interval)

    def flush_all(self) -> int:
        """Flush every run once; return how many points were written."""
        written = 0
        for buffer in list(self._buffers.values()):
            try:
                written += self.flush(buffer)
            except Exception as exc:  # keep the thread alive: the points are still queued
                self.errors += 1
                self.last_error = exc
        return written

    def flush(self, buffer: RunBuffer, *, beat: bool = False) -> int:
        """Write what ``buffer`` holds now; on failure put the points back and re-raise."""
        with self._lock:
            points = buffer.drain()
            now = time.time()
            due = now - self._last_beat.get(buffer.run_id, 0.0) > HEARTBEAT_EVERY_S
            if not points and not due and not beat:
                return 0
            try:
                self.store.transact(lambda conn: write_points(conn, buffer.run_id, points, now))
            except BaseException:
                buffer.points.extendleft(reversed(points))
                raise
            self._last_beat[buffer.run_id] = now
            return len(points)

    def stop(self) -> None:
        self._stop_event.set()
