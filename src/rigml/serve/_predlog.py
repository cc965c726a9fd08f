"""The prediction log: every answered request, written off the request path in segments.

``append`` is what the service calls per request: it counts the rows, puts the record on a
deque and returns; it takes no I/O, never waits for the writer and never raises. The buffer
is bounded in rows (``max_buffer_rows``, counting rows built but not yet stored): when it is
full a record is refused and its rows are added to ``dropped``, so a slow or failing store
costs predictions in the log, never requests.

A daemon thread wakes every ``flush_seconds`` (sooner once ``flush_rows`` are waiting),
turns what is buffered into one Arrow table per (model, version, arm), writes each as a
zstd Parquet segment into the object store and indexes it in ``prediction_segments`` in one
transaction. Each process (worker) has its own log and writes its own segments, named by
``pid@host``; readers merge them (:mod:`rigml.serve._predlog_read`). A failing object store
or database is retried a few times; the segment then stays in memory (inside the bound) and
is tried again at the next flush, with one logged warning per outage. ``close`` stops the
thread and writes everything accepted.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rigml.serve._predlog_arrow import Converted, convert, row_count

if TYPE_CHECKING:
    from rigml.lab import Lab

log = logging.getLogger("rigml.serve.predlog")

STORE_PATIENCE_S = 5.0  # how long one transaction waits for a locked SQLite database
RETRY_DELAYS_S = (0.05, 0.25, 1.0)  # between attempts at storing one segment


@dataclass(frozen=True)
class PendingSegment:
    """A segment built (Parquet bytes) but not yet stored and indexed."""

    model: str
    version: int
    arm: str
    first_time: float
    last_time: float
    rows: int
    data: bytes


@dataclass(frozen=True)
class LogStats:
    """Counters of one log, for ``/metrics`` and for tests."""

    buffered_rows: int  # accepted, not yet stored (in the deque or in pending segments)
    written_rows: int
    segments: int
    dropped: int  # rows refused because the buffer was full (or the log closed)
    rejected: int  # records that could not be read (no outputs, bad values)
    failures: int  # attempts at storing a segment that failed

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class PredictionLog:
    """An append-only log of predictions for one service in this process.

    Args:
        lab: the lab whose object store and metadata store receive the segments.
        service: the service's name (``rig serve``'s, or ``"batch"``), stored per segment.
        flush_rows: write as soon as this many rows are waiting.
        flush_seconds: otherwise write at least this often.
        max_buffer_rows: rows held in memory at most; beyond it records are dropped.
    """

    def __init__(
        self,
        lab: Lab,
        *,
        service: str,
        flush_rows: int = 10_000,
        flush_seconds: float = 2.0,
        max_buffer_rows: int = 200_000,
    ) -> None:
        from rigml.errors import InvalidInput

        if flush_rows < 1 or max_buffer_rows < 1 or not flush_seconds > 0:
            raise InvalidInput(
                "a prediction log needs flush_rows >= 1, max_buffer_rows >= 1 and "
                f"flush_seconds > 0 (got {flush_rows}, {max_buffer_rows}, {flush_seconds})",
                hint="the defaults (10,000 rows, 2 s, 200,000 rows) suit a busy service",
            )
        self.lab = lab
        self.service = service
        self.worker = f"{os.getpid()}@{socket.gethostname()}"
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.max_buffer_rows = max_buffer_rows
        self.dropped = 0
        self.rejected = 0
        self.failures = 0
        self.written_rows = 0
        self.segments = 0
        self._buffer: deque[tuple[int, Mapping[str, Any]]] = deque()
        self._pending: deque[PendingSegment] = deque()
        self._rows = 0  # accepted and not yet stored: the deque plus pending segments
        self._count_lock = threading.Lock()  # held for a few additions, never across I/O
        self._write_lock = threading.Lock()  # one flush at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._warned = False
        self._thread = threading.Thread(target=self._loop, name="rigml-predlog", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def __repr__(self) -> str:
        return f"<PredictionLog {self.service} {self.worker} buffered={self._rows}>"

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the request path ------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> bool:
        """Queue one request's predictions; False when refused (full, closed, unreadable).

        ``record`` holds request_id, time, model, version, arm, inputs (a DataFrame or an
        array of the request's rows), outputs (one per row), latency_ms; optionally proba
        (rows x classes), classes and input_names (for array inputs).
        """
        try:
            rows = row_count(record)
        except Exception:
            with self._count_lock:
                self.rejected += 1
            return False
        with self._count_lock:  # a few additions: close() cannot slip in between
            if self._closed or self._rows + rows > self.max_buffer_rows:
                self.dropped += rows
                return False
            self._rows += rows
            self._buffer.append((rows, record))
            due = self._rows >= self.flush_rows
        if due:
            self._wake.set()
        return True

    on_prediction = append  # the service's hook

    def stats(self) -> LogStats:
        return LogStats(
            buffered_rows=self._rows,
            written_rows=self.written_rows,
            segments=self.segments,
            dropped=self.dropped,
            rejected=self.rejected,
            failures=self.failures,
        )

    # -- writing -------------------------------------------------------------------------

    def flush(self) -> int:
        """Write everything buffered now, in the caller's thread; return the rows stored.

        Never raises: rows that cannot be stored stay in memory for the next flush.
        """
        with self._write_lock:
            try:
                self._build(self._drain())
            except Exception as exc:
                self.failures += 1
                log.warning("prediction log: could not build segments: %s", exc)
            return self._store_pending()

    def close(self) -> None:
        """Stop the writer thread and write everything accepted. Idempotent."""
        with self._count_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        if self._rows:
            log.warning(
                "prediction log %s: %d accepted rows could not be stored and are lost "
                "(the object store or database kept failing)",
                self.service,
                self._rows,
            )

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.flush()

    def _drain(self) -> list[Mapping[str, Any]]:
        buf = self._buffer
        items = [buf.popleft() for _ in range(len(buf))]
        return [rec for _, rec in items]

    def _build(self, records: list[Mapping[str, Any]]) -> None:
        """Records to Parquet segments in ``_pending``; unreadable ones leave the count."""
        if not records:
            return
        unbuilt = sum(_rows_of(r) for r in records)
        built = 0
        for part in convert(records):
            if part.rejected:
                self.rejected += part.rejected
            if part.table.num_rows:
                self._pending.append(_segment(part))
                built += part.table.num_rows
        if unbuilt > built:  # rows of rejected records: no longer held
            with self._count_lock:
                self._rows -= unbuilt - built

    def _store_pending(self) -> int:
        stored = 0
        while self._pending:
            seg = self._pending[0]
            if not self._store_with_retries(seg):
                break
            self._pending.popleft()
            with self._count_lock:
                self._rows -= seg.rows
            self.written_rows += seg.rows
            self.segments += 1
            stored += seg.rows
        return stored

    def _store_with_retries(self, seg: PendingSegment) -> bool:
        for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
            try:
                self._store(seg)
            except Exception as exc:
                self.failures += 1
                if delay is None or (self._stop.is_set() and attempt >= 1):
                    self._warn(exc)
                    return False
                time.sleep(delay)
            else:
                if self._warned:
                    log.warning("prediction log %s: storing segments again", self.service)
                    self._warned = False
                return True
        return False

    def _warn(self, exc: BaseException) -> None:
        if not self._warned:
            log.warning(
                "prediction log %s: cannot store a segment (%s); %d rows kept in memory, "
                "retried at the next flush",
                self.service,
                exc,
                self._rows,
            )
            self._warned = True

    def _store(self, seg: PendingSegment) -> None:
        from sqlalchemy import insert

        from rigml.store.schema import prediction_segments

        digest = self.lab.objects.put_bytes(seg.data)
        row = {
            "service": self.service,
            "worker": self.worker,
            "model": seg.model,
            "version": seg.version,
            "arm": seg.arm,
            "first_time": seg.first_time,
            "last_time": seg.last_time,
            "rows": seg.rows,
            "object": digest,
            "bytes": len(seg.data),
            "created_at": time.time(),
        }
        self.lab.store.transact(
            lambda conn: conn.execute(insert(prediction_segments), [row]),
            patience=STORE_PATIENCE_S,
        )


def _rows_of(record: Mapping[str, Any]) -> int:
    try:
        return row_count(record)
    except Exception:
        return 0


def _segment(part: Converted) -> PendingSegment:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = part.table
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    bounds = pc.min_max(table["time"])
    model, version, arm = part.key
    return PendingSegment(
        model=model,
        version=version,
        arm=arm,
        first_time=float(bounds["min"].as_py()),
        last_time=float(bounds["max"].as_py()),
        rows=table.num_rows,
        data=sink.getvalue().to_pybytes(),
    )
