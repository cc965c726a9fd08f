"""`rig cost usage`: tracked runs' real durations and measured energy, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from rigml.errors import InvalidInput
from rigml.plan.usage import UsageInputs, parse_since, usage_report


def test_measured_and_fallback_runs(any_lab, make_run) -> None:
    now = time.time()
    measured = make_run(
        any_lab,
        start=now - 7200,
        seconds=3600,
        power=[(float(t), 400.0) for t in range(0, 3601, 10)],
    )
    bare = make_run(any_lab, start=now - 3 * 86400, seconds=1800)
    make_run(any_lab, start=now - 60 * 86400, seconds=1800)  # outside --since 30d
    r = usage_report(
        any_lab,
        UsageInputs(since="30d", gpu="RTX 4090", region="FR", electricity_usd_per_kwh=0.25),
        now=now,
    )
    by_id = {c.run_id: c for c in r.runs}
    assert set(by_id) == {measured, bare}
    m, b = by_id[measured], by_id[bare]
    assert m.energy.source == "measured" and m.energy.gpu_kwh == pytest.approx(0.4)
    assert m.energy.kwh == pytest.approx(0.5)  # + 100 W rest of system for an hour
    assert b.energy.source == "catalogue" and b.energy.gpu_kwh == pytest.approx(0.225)
    assert r.measured_runs == 1 and r.fallback_runs == 1
    assert any("logged no GPU power" in n and "catalogue" in n for n in r.notes)
    # depreciation over the 30-day window (street price), spread by hours: 1 h of 1.5 h
    window = 2200 / 36 * (30 * 24 / 730)
    assert r.depreciation_usd == pytest.approx(window) and not r.owned
    assert m.local_usd == pytest.approx(0.5 * 0.25 + window / 1.5)
    assert r.local_usd == pytest.approx(sum(c.energy.kwh for c in r.runs) * 0.25 + window)
    assert r.offer is not None and m.cloud_usd == pytest.approx(r.offer.usd_per_hour)
    assert m.co2e_g == pytest.approx(0.5 * 56)
    assert r.co2e_g == pytest.approx(sum(c.co2e_g for c in r.runs))
    assert r.hours == pytest.approx(1.5) and "days old" in r.prices_line


def test_no_gpu_anywhere_means_no_cloud_figure(lab, make_run) -> None:
    make_run(lab, start=time.time() - 100, seconds=60)
    r = usage_report(lab)
    assert r.cloud_usd is None and r.runs[0].energy.source == "assumed"
    assert any("no cloud comparison" in n for n in r.notes)


def test_since_forms() -> None:
    assert parse_since("2d", now=1_000_000.0) == 1_000_000.0 - 2 * 86400
    assert parse_since("30D", now=1_000_000.0) == parse_since("30d", now=1_000_000.0)
    assert parse_since("2025-06-01") > 0
    with pytest.raises(InvalidInput, match="--since"):
        parse_since("last tuesday")
    with pytest.raises(InvalidInput, match="in the future"):
        parse_since("2999-01-01")


def test_since_spans_are_the_shared_durations() -> None:
    """Spans read as everywhere else in rig (``rigml._units.parse_duration``)."""
    now = 1_000_000.0
    assert parse_since("1w 2d", now=now) == now - 9 * 86400
    assert parse_since("1.5h", now=now) == now - 5400
    assert parse_since("2025-06-01T12:00", now=2e9) > 0
    with pytest.raises(InvalidInput, match="no unit") as e:
        parse_since("30", now=now)
    assert "30d" in (e.value.hint or "")


def test_an_unknown_region_falls_back_to_the_world_average(lab, make_run) -> None:
    make_run(lab, start=time.time() - 100, seconds=60)
    r = usage_report(lab, UsageInputs(gpu="RTX 4090", region="Germny"))
    assert r.region_fallback and r.region_asked == "Germny" and r.grid.code == "WORLD"
    note = next(n for n in r.notes if "no grid intensity for region 'Germny'" in n)
    assert "did you mean DEU" in note and "world average" in note and "FRA" in note
    assert r.runs[0].co2e_g == pytest.approx(r.runs[0].energy.kwh * r.grid.g_per_kwh)
    d = r.to_dict()
    assert d["region_fallback"] and d["grid"]["code"] == "WORLD"
    known = usage_report(lab, UsageInputs(gpu="RTX 4090", region="DE"))
    assert not known.region_fallback and known.grid.code == "DEU"


def test_depreciation_is_charged_over_the_window_not_the_run_hours(lab, make_run) -> None:
    """One 6-minute run in 30 days still owes a month of a bought GPU's depreciation."""
    now = time.time()
    make_run(lab, start=now - 3600, seconds=360)
    r = usage_report(
        lab, UsageInputs(since="30d", gpu="RTX 4090", purchase_usd=3600, years=3), now=now
    )
    month = 3600 / 36
    assert r.depreciation_usd == pytest.approx(month * 720 / 730)
    assert r.runs[0].local_usd == pytest.approx(
        r.runs[0].energy.kwh * r.electricity_usd_per_kwh + month * 720 / 730
    )


def test_this_machines_gpu_is_owned_as_in_tco(lab, make_run, rtx4090) -> None:
    make_run(lab, start=time.time() - 3600, seconds=360)
    r = usage_report(lab, UsageInputs(since="30d"))
    assert r.owned and r.local_gpu == "RTX 4090" and r.depreciation_usd == 0
    assert r.local_usd == pytest.approx(r.kwh * r.electricity_usd_per_kwh)
    assert any("already owned" in n for n in r.notes)


def test_thousands_of_runs_with_big_power_histories(any_lab) -> None:
    """2,000 runs, 500 of them with 2,000 power points each, read in a few queries."""
    import uuid

    from sqlalchemy import insert

    from rigml.store.schema import experiments, metric_segments, runs
    from rigml.track._segments import pack

    now = time.time()
    rows, segs = [], []

    def write(conn) -> None:
        exp = conn.execute(
            insert(experiments).values(name="bulk", created_at=now)
        ).inserted_primary_key[0]
        for i in range(2000):
            rid = uuid.uuid4().hex
            start = now - 86400 + i * 10
            rows.append(
                {
                    "id": rid,
                    "experiment_id": exp,
                    "name": f"r{i}",
                    "status": "finished",
                    "start_time": start,
                    "end_time": start + 2000,
                    "heartbeat": start,
                    "host": "h",
                    "pid": 1,
                    "pid_start": 0.0,
                }
            )
            if i % 4 == 0:
                steps = list(range(2000))
                segs.append(
                    {
                        "run_id": rid,
                        "key": "sys/gpu0/power_w",
                        **pack(steps, [start + s for s in steps], [250.0] * 2000),
                    }
                )
        conn.execute(insert(runs), rows)
        conn.execute(insert(metric_segments), segs)

    any_lab.store.transact(write)
    r = usage_report(any_lab, UsageInputs(since="2d", gpu="RTX 4090"), now=now + 3000)
    assert len(r.runs) == 2000 and r.measured_runs == 500 and r.fallback_runs == 1500
    measured = [c for c in r.runs if c.energy.source == "measured"]
    assert all(c.energy.gpu_kwh == pytest.approx(250 * 2000 / 3.6e6, rel=1e-3) for c in measured)


def test_usage_while_runs_are_logging(lab, make_run) -> None:
    """Reading usage while another thread logs power points sees a consistent lab."""
    from rigml.track.runs import start_run

    make_run(
        lab,
        start=time.time() - 500,
        seconds=100,
        power=[(float(t), 100.0) for t in range(0, 101, 5)],
    )
    run = start_run(
        lab,
        experiment="live",
        capture_git=False,
        capture_environment=False,
        capture_machine=False,
        system_metrics=False,
    )
    stop = threading.Event()

    def log() -> None:
        i = 0
        while not stop.is_set():
            run.log({"sys/gpu0/power_w": 200.0 + i % 7}, step=i)
            i += 1
            time.sleep(0.001)

    t = threading.Thread(target=log)
    t.start()
    try:
        reports = [usage_report(lab, UsageInputs(gpu="RTX 4090")) for _ in range(5)]
    finally:
        stop.set()
        t.join()
        run.end()
    assert all(len(r.runs) == 2 for r in reports)
    for r in reports:
        done = next(c for c in r.runs if c.status == "finished")
        assert done.energy.gpu_kwh == pytest.approx(100.0 * 100 / 3.6e6)
        live = next(c for c in r.runs if c.run_id == run.id)
        assert live.energy.gpu_kwh > 0  # measured once its points land, else board power
