"""Inside ``shared_capture`` the runs of one ``rig run`` compute their capture once."""

from __future__ import annotations

import threading

from rigml.track._capture import captured, shared_capture


def test_outside_every_call_computes() -> None:
    calls: list[int] = []
    for _ in range(3):
        captured("k", lambda: calls.append(1))
    assert len(calls) == 3


def test_inside_the_first_result_is_shared_by_every_thread() -> None:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return 42

    got: list[int] = []
    with shared_capture():
        threads = [
            threading.Thread(target=lambda: got.append(captured("k", compute))) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert captured("other", lambda: 7) == 7
    assert got == [42] * 8 and len(calls) == 1
    captured("k", compute)  # ended: computed again
    assert len(calls) == 2


def test_nested_blocks_share_the_outer_one() -> None:
    calls: list[int] = []
    with shared_capture():
        captured("k", lambda: calls.append(1))
        with shared_capture():
            captured("k", lambda: calls.append(1))
        captured("k", lambda: calls.append(1))
    assert len(calls) == 1
