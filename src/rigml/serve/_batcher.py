"""Adaptive micro-batching: concurrent requests grouped into one model call, off the loop.

One :class:`Batcher` per arm. Requests wait in a bounded queue; a batch leaves as soon as a
predict worker is free, taking what queued while the previous batch ran (up to
``max_batch`` rows), so batches grow with load and a lone request waits for nothing. Only
when traffic is concurrent (the last batch joined several requests) does a batch wait up to
``max_wait_ms`` to fill. The model runs in a worker thread, never on the event loop. When
the queue is full, or the queue ahead would take longer than the request timeout at the
recent batch latency, :meth:`Batcher.submit` refuses at once with :class:`Overloaded` and
the seconds after which to retry, rather than letting the request time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

_EWMA = 0.2  # weight of the newest batch in the latency estimate


class Overloaded(Exception):
    """The arm cannot take the request in time; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int, reason: str) -> None:
        super().__init__(reason)
        self.retry_after, self.reason = retry_after, reason


@dataclass
class _Job:
    payload: Any
    rows: int
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.monotonic)


RunBatch = Callable[[Sequence[Any]], Sequence[Any]]


class Batcher:
    """Groups payloads for ``run``, which maps a list of payloads to one result each (a
    result that is an exception is raised to that request alone).

    Args:
        run: called in a worker thread with the batch's payloads.
        on_batch: called on the loop after each batch with (requests, rows, seconds).
    """

    def __init__(
        self,
        run: RunBatch,
        *,
        max_batch: int,
        max_wait_ms: float,
        max_queue_rows: int,
        timeout_s: float,
        workers: int = 1,
        name: str = "model",
        on_batch: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self._run, self._on_batch = run, on_batch
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.max_queue_rows, self.timeout_s, self.workers = max_queue_rows, timeout_s, workers
        self._queue: deque[_Job] = deque()
        self.queued_rows = 0
        self.latency: float | None = None  # seconds per batch, smoothed
        self._last_requests = 1
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=f"rig-predict-{name}")
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    @property
    def queued(self) -> int:
        """Requests waiting (not yet in a batch)."""
        return len(self._queue)

    def start(self) -> None:
        """Start the batching task on the running loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def submit(self, payload: Any, rows: int) -> Any:
        """``payload``'s result once its batch ran.

        Raises:
            Overloaded: the queue is full, or would not drain within the timeout.
        """
        if self._wake is None:
            self.start()
        assert self._wake is not None
        self._admit(rows)
        job = _Job(payload, rows, asyncio.get_running_loop().create_future())
        self._queue.append(job)
        self.queued_rows += rows
        self._wake.set()
        return await job.future

    def _admit(self, rows: int) -> None:
        ahead = self.queued_rows + rows
        batches = math.ceil(ahead / self.max_batch) / self.workers
        expected = batches * (self.latency or 0.0)
        retry = max(1, math.ceil(expected))
        if self.queued_rows and ahead > self.max_queue_rows:
            raise Overloaded(retry, f"{self.queued_rows} rows are queued")
        if expected > self.timeout_s:
            raise Overloaded(retry, f"the queue ahead would take about {expected:.1f} s")

    async def _loop(self) -> None:
        assert self._wake is not None
        slots = asyncio.Semaphore(self.workers)
        while True:
            await slots.acquire()
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            await self._fill()
            batch = self._take()
            if not batch:
                slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._execute(batch, slots))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _fill(self) -> None:
        """Under concurrent traffic, wait (at most ``max_wait``) for a fuller batch."""
        assert self._wake is not None
        if self._last_requests <= 1 or self.max_wait <= 0:
            return
        deadline = self._queue[0].enqueued + self.max_wait
        while self.queued_rows < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except TimeoutError:
                return

    def _take(self) -> list[_Job]:
        batch: list[_Job] = []
        rows = 0
        while self._queue:
            job = self._queue[0]
            if job.future.done():  # timed out or cancelled while it waited
                self._queue.popleft()
                self.queued_rows -= job.rows
                continue
            if batch and rows + job.rows > self.max_batch:
                break
            self._queue.popleft()
            self.queued_rows -= job.rows
            batch.append(job)
            rows += job.rows
        return batch

    async def _execute(self, batch: list[_Job], slots: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        try:
            results = await loop.run_in_executor(
                self._executor, self._run, [j.payload for j in batch]
            )
        except Exception as exc:
            results = [exc] * len(batch)
        finally:
            slots.release()
        took = time.monotonic() - start
        self.latency = took if self.latency is None else (1 - _EWMA) * self.latency + _EWMA * took
        self._last_requests = len(batch)
        for job, result in zip(batch, results, strict=True):
            if job.future.done():
                continue
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)
        if self._on_batch is not None:
            self._on_batch(len(batch), sum(j.rows for j in batch), took)

    async def aclose(self) -> None:
        """Finish the batches running, fail what still queues, stop the worker threads."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(Overloaded(1, "the service is shutting down"))
        self.queued_rows = 0
        self._executor.shutdown(wait=True)
