"""Watch sessions and findings recorded in a lab, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rigml.machine.diagnosis import Context, diagnose, summarise
from rigml.machine.findings import list_findings, list_watch_sessions, record_watch
from rigml.machine.gpu import RecordedSource
from rigml.machine.sampler import SystemSampler
from rigml.machine.timeline import Timeline
from rigml.machine.watch import WatchResult
from rigml.store.schema import OBJECT_REFERENCES, watch_sessions

RECORDED = Path(__file__).parent / "recorded"


def a_result(tmp_path: Path, *, started: float, recording: str = "a100_throttling") -> WatchResult:
    """A finished watch over a recorded GPU, its timeline saved as a real Parquet file."""
    sampler = SystemSampler(gpu=RecordedSource.from_file(RECORDED / f"{recording}.json"))
    tl = Timeline(meta={"interval": 1.0, "started": started})
    for i in range(8):
        sample = sampler.sample()
        sample.time = started + i + 1
        tl.append(sample)
    ctx = Context(exit_code=0, gpu_power_limit_w={0: 400.0})
    out = tmp_path / f"watch-{started:.0f}"
    path = tl.save(out / "timeline.parquet")
    return WatchResult(
        command=["python", "train.py", "--lr", "0.1"],
        pid=4242,
        host="box",
        started=started,
        ended=started + 9,
        exit_code=0,
        signal=None,
        interrupted=False,
        interval=1.0,
        timeline=tl,
        context=ctx,
        findings=diagnose(tl, ctx),
        summary=summarise(tl),
        output_dir=out,
        files={"timeline": str(path)},
    )


def test_record_and_list_findings(any_lab, tmp_path: Path) -> None:
    result = a_result(tmp_path, started=time.time() - 60)
    assert {f.id for f in result.findings} == {"thermal_throttling", "power_throttling"}
    session = record_watch(any_lab, result)
    assert result.session_id == session and len(session) == 32

    found = list_findings(any_lab)
    assert {f.rule for f in found} == {"thermal_throttling", "power_throttling"}
    thermal = next(f for f in found if f.rule == "thermal_throttling")
    original = next(f for f in result.findings if f.id == "thermal_throttling")
    assert thermal.session_id == session and thermal.constraint == "thermal"
    assert thermal.evidence == original.evidence and thermal.numbers == original.numbers
    assert thermal.first_fix == original.first_fix and thermal.severity == "critical"
    assert thermal.command == "python train.py --lr 0.1" and thermal.host == "box"
    assert thermal.to_dict()["numbers"]["clock_low_mhz"] == 1005.0

    sessions = list_watch_sessions(any_lab)
    assert len(sessions) == 1 and sessions[0].findings == 2
    s = sessions[0]
    assert s.exit_code == 0 and s.pid == 4242
    assert s.summary["gpu0/temp_c"]["peak"] == 89.0
    back = Path(tmp_path / "back.parquet")
    any_lab.objects.get_file(s.timeline_object, back)
    assert Timeline.load(back).column("gpu0/sm_clock_mhz")[-1] == 1005.0


def test_since_and_constraint_filters(any_lab, tmp_path: Path) -> None:
    record_watch(any_lab, a_result(tmp_path, started=1000.0))
    middle = time.time()
    time.sleep(0.01)
    second = a_result(tmp_path, started=2000.0, recording="rtx3090_near_full")
    record_watch(any_lab, second)
    assert {f.rule for f in list_findings(any_lab, since=middle)} == {f.id for f in second.findings}
    assert [f.rule for f in list_findings(any_lab, constraint="vram")] == ["vram_exhausted"]
    assert len(list_findings(any_lab, limit=1)) == 1
    assert len(list_findings(any_lab)) == 2 + len(second.findings)
    assert [s.started for s in list_watch_sessions(any_lab)] == [2000.0, 1000.0]


def test_a_watch_without_findings_or_parquet_is_still_recorded(lab, tmp_path: Path) -> None:
    result = a_result(tmp_path, started=10.0, recording="rtx4090_idle")
    result.files = {}
    assert result.findings == []
    record_watch(lab, result)
    (session,) = list_watch_sessions(lab)
    assert session.timeline_object is None and session.findings == 0
    assert list_findings(lab) == []


def test_deleting_a_session_deletes_its_findings(lab, tmp_path: Path) -> None:
    from sqlalchemy import delete

    session = record_watch(lab, a_result(tmp_path, started=10.0))
    with lab.store.write() as conn:
        conn.execute(delete(watch_sessions).where(watch_sessions.c.id == session))
    assert list_findings(lab) == []


def test_timelines_are_object_references() -> None:
    assert (watch_sessions, "timeline_object") in OBJECT_REFERENCES


@pytest.mark.parametrize("rule", ["thermal_throttling"])
def test_findings_survive_reopening_the_lab(lab, tmp_path: Path, rule: str) -> None:
    from rigml.lab import Lab

    record_watch(lab, a_result(tmp_path, started=10.0))
    lab.close()
    again = Lab(lab.path)
    try:
        assert rule in {f.rule for f in list_findings(again)}
    finally:
        again.close()
