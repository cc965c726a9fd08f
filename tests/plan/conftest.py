"""Helpers for the placement tests: runs with power histories, recorded findings."""

from __future__ import annotations

from pathlib import Path

import pytest

RECORDED = Path(__file__).parents[1] / "machine" / "recorded"


def add_run(
    lab,
    *,
    start: float,
    seconds: float,
    power: list[tuple[float, float]] | None = None,
    gpus: int = 1,
    status: str = "finished",
) -> str:
    """A real run whose start/end and power samples lie at the given times.

    The run is made with ``start_run``; its power points go through the writer's own
    ``write_points`` with chosen timestamps, and its times are set as a run of that age.
    """
    from sqlalchemy import update

    from rigml.store.schema import runs
    from rigml.track._writer import write_points
    from rigml.track.runs import start_run

    run = start_run(
        lab,
        experiment="plan",
        capture_git=False,
        capture_environment=False,
        capture_machine=False,
        system_metrics=False,
    )
    run.end()
    if power:
        points = [
            (f"sys/gpu{g}/power_w", i, start + t, w)
            for g in range(gpus)
            for i, (t, w) in enumerate(power)
        ]
        lab.store.transact(lambda c: write_points(c, run.id, points, start + seconds))
    lab.store.transact(
        lambda c: c.execute(
            update(runs)
            .where(runs.c.id == run.id)
            .values(
                start_time=start, end_time=start + seconds, heartbeat=start + seconds, status=status
            )
        )
    )
    return run.id


@pytest.fixture
def rtx4090(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has the recorded idle RTX 4090 (NVML through a recording)."""
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))


@pytest.fixture
def make_run():
    return add_run
