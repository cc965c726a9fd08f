"""The micro-batcher on its own (asyncio, no HTTP): grouping, shedding, errors, threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from rigml.serve import Batcher, Overloaded


class Gate:
    """A run function that blocks its first batch until released, recording every batch."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.threads: set[int] = set()
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, payloads: Sequence[Any]) -> list[Any]:
        self.threads.add(threading.get_ident())
        self.batches.append(list(payloads))
        self.entered.set()
        assert self.release.wait(10)
        return [ValueError(p) if p == "bad" else p * 2 for p in payloads]


async def _until(cond: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def test_requests_queued_during_a_batch_join_the_next() -> None:
    gate = Gate()

    async def main() -> list[Any]:
        b = Batcher(gate, max_batch=8, max_wait_ms=0, max_queue_rows=100, timeout_s=10)
        first = asyncio.ensure_future(b.submit(1, 1))
        await _until(gate.entered.is_set)
        rest = [asyncio.ensure_future(b.submit(i, 1)) for i in range(2, 7)]
        await _until(lambda: b.queued == 5)
        gate.release.set()
        out = await asyncio.gather(first, *rest)
        await b.aclose()
        return out

    assert asyncio.run(main()) == [2, 4, 6, 8, 10, 12]
    assert [len(batch) for batch in gate.batches] == [1, 5]
    assert threading.main_thread().ident not in gate.threads


def test_max_batch_splits_rows() -> None:
    gate = Gate()
    gate.release.set()

    async def main() -> None:
        b = Batcher(gate, max_batch=4, max_wait_ms=0, max_queue_rows=100, timeout_s=10)
        gate.release.clear()
        first = asyncio.ensure_future(b.submit(0, 1))
        await _until(gate.entered.is_set)
        rest = [asyncio.ensure_future(b.submit(i, 2)) for i in range(1, 5)]
        await _until(lambda: b.queued == 4)
        gate.release.set()
        await asyncio.gather(first, *rest)
        await b.aclose()

    asyncio.run(main())
    assert [len(batch) for batch in gate.batches] == [1, 2, 2]


def test_a_full_queue_sheds_with_retry_after_and_errors_stay_with_their_request() -> None:
    gate = Gate()

    async def main() -> None:
        b = Batcher(gate, max_batch=2, max_wait_ms=0, max_queue_rows=2, timeout_s=10)
        first = asyncio.ensure_future(b.submit("bad", 1))
        await _until(gate.entered.is_set)
        queued = [asyncio.ensure_future(b.submit(i, 1)) for i in (1, 2)]
        await _until(lambda: b.queued == 2)
        with pytest.raises(Overloaded) as caught:
            await b.submit(3, 1)
        assert caught.value.retry_after >= 1
        gate.release.set()
        with pytest.raises(ValueError):
            await first
        assert await asyncio.gather(*queued) == [2, 4]
        await b.aclose()

    asyncio.run(main())


def test_expected_wait_beyond_the_timeout_sheds() -> None:
    async def main() -> None:
        b = Batcher(
            lambda p: list(p), max_batch=1, max_wait_ms=0, max_queue_rows=100, timeout_s=0.5
        )
        b.latency = 0.4  # as measured from recent batches
        b.queued_rows = 3
        with pytest.raises(Overloaded) as caught:
            await b.submit(1, 1)
        assert caught.value.retry_after == 2
        b.queued_rows = 0
        await b.aclose()

    asyncio.run(main())


def test_a_request_that_timed_out_is_not_predicted() -> None:
    gate = Gate()

    async def main() -> None:
        b = Batcher(gate, max_batch=8, max_wait_ms=0, max_queue_rows=100, timeout_s=10)
        first = asyncio.ensure_future(b.submit(1, 1))
        await _until(gate.entered.is_set)
        late = asyncio.ensure_future(b.submit(99, 1))
        await _until(lambda: b.queued == 1)
        late.cancel()
        kept = asyncio.ensure_future(b.submit(5, 1))
        await _until(lambda: b.queued == 2)
        gate.release.set()
        assert await first == 2 and await kept == 10
        await b.aclose()

    asyncio.run(main())
    assert [99] not in gate.batches and all(99 not in batch for batch in gate.batches)
