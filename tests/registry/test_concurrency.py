"""Alias moves from many processes at once, and the watch that serving follows."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from rigml.audit import entries, verify
from rigml.registry import alias_history, get_version, promote, remove_alias, watch_alias

from .conftest import version_maker

PROMOTER = textwrap.dedent(
    """
    import sys
    from rigml.lab import Lab
    from rigml.registry import promote
    lab = Lab(sys.argv[1])
    worker, rounds = int(sys.argv[2]), int(sys.argv[3])
    for i in range(rounds):
        version = 1 + (worker + i) % 3
        promote(lab, "churn", version, to="production", actor=f"w{worker}", reason=f"r{i}")
    lab.close()
    """
)


@pytest.mark.slow
def test_eight_concurrent_promoters_leave_a_consistent_history(any_lab, classifier, dataset):
    lab = any_lab
    make = version_maker(lab, classifier, dataset)
    for auc in (0.8, 0.85, 0.9):
        make(auc)
    rounds = 6
    procs = [
        subprocess.Popen([sys.executable, "-c", PROMOTER, str(lab.path), str(w), str(rounds)],
                         stderr=subprocess.PIPE, text=True)
        for w in range(8)
    ]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    moves = alias_history(lab, "churn", "production")
    assert moves, "some promotion must have moved the alias"
    assert moves[0].from_version is None
    for before, after in itertools.pairwise(moves):
        assert after.from_version == before.to_version  # each move starts where one ended
        assert after.from_version != after.to_version
    assert get_version(lab, "churn@production").version == moves[-1].to_version
    assert len(entries(lab, action="alias.promote")) == len(moves)
    report = verify(lab)
    assert report.ok, report.detail


def test_a_watch_learns_of_a_move_made_by_another_process(lab, make_version) -> None:
    make_version(), make_version()
    promote(lab, "churn", 1, to="production")
    script = (
        "import sys; from rigml.lab import Lab; from rigml.registry import promote; "
        "lab = Lab(sys.argv[1]); promote(lab, 'churn', 2, to='production'); lab.close()"
    )
    with watch_alias(lab, "churn", "production", interval=0.05) as watch:
        assert watch.current == 1
        assert watch.wait(timeout=0.1) is None
        subprocess.run([sys.executable, "-c", script, str(lab.path)], check=True)
        move = watch.wait(timeout=10)
        assert move is not None and (move.from_version, move.to_version) == (1, 2)
        assert watch.current == 2


def test_follow_calls_back_on_every_move_and_on_removal(lab, make_version) -> None:
    make_version(), make_version()
    seen: list[tuple[int | None, int | None]] = []
    got = threading.Event()

    def on_move(move) -> None:
        seen.append((move.from_version, move.to_version))
        if move.to_version is None:
            got.set()

    watch = watch_alias(lab, "churn", "staging", interval=0.02)
    try:
        assert watch.current is None
        watch.follow(on_move)
        promote(lab, "churn", 1, to="staging")
        _until(lambda: len(seen) >= 1)
        promote(lab, "churn", 2, to="staging")
        _until(lambda: len(seen) >= 2)
        remove_alias(lab, "churn", "staging")
        assert got.wait(10)
    finally:
        watch.close()
    assert seen == [(None, 1), (1, 2), (2, None)]


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the watch did not see the move in time"
        time.sleep(0.01)
