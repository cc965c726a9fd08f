"""Energy from logged NVML power, RAPL counters, and catalogue fallbacks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rigml.fit import catalogue
from rigml.plan.energy import MAX_GAP_S, power_draw, rapl_power, run_energies
from rigml.track.queries import list_runs


def _zone(root: Path, name: str, energy: int, wrap: int = 2**32) -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "energy_uj").write_text(f"{energy}\n")
    (z / "max_energy_range_uj").write_text(f"{wrap}\n")
    (z / "name").write_text("package-0\n" if name.endswith(":0") else "package-1\n")
    return z


def test_rapl_reads_two_counters_and_handles_a_wrap(tmp_path: Path) -> None:
    a = _zone(tmp_path, "intel-rapl:0", 1_000_000)
    b = _zone(tmp_path, "intel-rapl:1", 2**32 - 500_000)
    sub = _zone(tmp_path, "intel-rapl:0:0", 0)  # a sub-zone: part of package 0, not summed

    def advance(seconds: float) -> None:  # the CPU spends 10 J and 5 J meanwhile
        (a / "energy_uj").write_text(f"{1_000_000 + int(10e6 * seconds / 0.5)}\n")
        (b / "energy_uj").write_text(f"{int(5e6 * seconds / 0.5) - 500_000}\n")
        (sub / "energy_uj").write_text("999999999\n")

    r = rapl_power(root=tmp_path, interval_s=0.5, sleep=advance)
    assert r is not None and set(r.zones) == {"package-0", "package-1"}
    assert r.zones["package-0"] == pytest.approx(20.0, rel=0.05)  # 10 J over ~0.5 s
    assert r.zones["package-1"] == pytest.approx(10.0, rel=0.05)


def test_rapl_absent_or_unreadable_is_none(tmp_path: Path) -> None:
    assert rapl_power(root=tmp_path / "nothing", sleep=lambda s: None) is None
    z = tmp_path / "intel-rapl:0"
    z.mkdir()
    (z / "energy_uj").write_text("permission denied?")
    assert rapl_power(root=tmp_path, sleep=lambda s: None) is None


def test_logged_power_is_integrated(lab, make_run) -> None:
    t0 = time.time() - 3600
    # 300 W for 100 s, then 100 W for 100 s: (300*100 + 200*... ) trapezoids
    power = [(float(t), 300.0 if t <= 100 else 100.0) for t in range(0, 201, 5)]
    rid = make_run(lab, start=t0, seconds=200, power=power, gpus=2)
    e = run_energies(lab, list_runs(lab))[rid]
    joules_one = sum((power[i][1] + power[i + 1][1]) / 2 * 5 for i in range(len(power) - 1))
    assert e.source == "measured" and e.coverage == pytest.approx(1.0)
    assert e.gpu_kwh == pytest.approx(2 * joules_one / 3.6e6)
    assert e.points == 2 * len(power)
    assert e.rest_kwh == pytest.approx(100.0 * 200 / 3.6e6)


def test_gaps_are_not_bridged_and_uncovered_time_uses_the_mean(lab, make_run) -> None:
    t0 = time.time() - 7200
    power = [(0.0, 200.0), (10.0, 200.0), (10.0 + MAX_GAP_S + 50, 200.0), (130.0, 200.0)]
    rid = make_run(lab, start=t0, seconds=1000, power=power)
    e = run_energies(lab, list_runs(lab))[rid]
    assert e.coverage == pytest.approx(20 / 1000)
    assert e.mean_gpu_w == pytest.approx(200.0)
    assert e.gpu_kwh == pytest.approx(200.0 * 1000 / 3.6e6)  # the rest filled at the mean
    assert "the rest at each GPU's measured mean" in e.note


def test_runs_without_power_fall_back_and_say_so(lab, make_run) -> None:
    rid = make_run(lab, start=time.time() - 4000, seconds=3600)
    g = catalogue.gpu("RTX 4090")
    e = run_energies(lab, list_runs(lab), fallback_gpu=g)[rid]
    assert e.source == "catalogue" and e.gpu_kwh == pytest.approx(0.45)
    assert "no power samples" in e.note and "catalogue" in e.note
    cpu = run_energies(lab, list_runs(lab))[rid]
    assert cpu.source == "assumed" and cpu.gpu_kwh == 0 and cpu.rest_kwh > 0


def test_power_draw_prefers_measured_then_nvml_then_catalogue(lab, make_run, rtx4090) -> None:
    g = catalogue.gpu("RTX 4090")
    p = power_draw(g, powercap=Path("/nonexistent"))
    assert p.gpu_source == "nvml-limit" and p.gpu_w == 450.0 and p.rest_source == "assumed"
    make_run(
        lab,
        start=time.time() - 500,
        seconds=100,
        power=[(float(t), 320.0) for t in range(0, 101, 5)],
    )
    p = power_draw(g, lab=lab, powercap=Path("/nonexistent"))
    assert p.gpu_source == "measured" and p.gpu_w == pytest.approx(320.0)
    other = power_draw(catalogue.gpu("RTX 5090"), lab=lab, powercap=Path("/nonexistent"))
    assert other.gpu_source == "catalogue" and other.gpu_w == 575.0
    assert any("not measured here" in n for n in other.notes)


def test_samples_every_61_seconds_are_integrated(lab, make_run) -> None:
    power = [(float(t), 250.0) for t in range(0, 610, 61)]
    rid = make_run(lab, start=time.time() - 5000, seconds=610, power=power)
    e = run_energies(lab, list_runs(lab))[rid]
    assert e.coverage == pytest.approx(549 / 610) and e.gpu_kwh == pytest.approx(
        250.0 * 610 / 3.6e6
    )


def test_a_single_sample_counts_its_value_over_the_run(lab, make_run) -> None:
    rid = make_run(lab, start=time.time() - 5000, seconds=3600, power=[(10.0, 300.0)])
    e = run_energies(lab, list_runs(lab))[rid]
    assert e.source == "measured" and e.points == 1
    assert e.gpu_kwh == pytest.approx(0.3)  # 300 W for an hour, not 0
    assert "too sparse" in e.note and "mean of their samples" in e.note


def test_several_gpus_fill_their_own_uncovered_time(lab) -> None:
    """GPU 0 sampled the whole run at 300 W, GPU 1 only its first 10 % at 100 W."""
    from .conftest import add_run

    t0 = time.time() - 9000
    rid = add_run(lab, start=t0, seconds=1000, power=[(float(t), 300.0) for t in range(0, 1001, 5)])
    from rigml.track._writer import write_points

    pts = [("sys/gpu1/power_w", i, t0 + t, 100.0) for i, t in enumerate(range(0, 101, 5))]
    lab.store.transact(lambda c: write_points(c, rid, pts, t0 + 1000))
    e = run_energies(lab, list_runs(lab))[rid]
    # each GPU at its own mean over the whole run: 300 W + 100 W for 1000 s
    assert e.gpu_kwh == pytest.approx((300.0 + 100.0) * 1000 / 3.6e6)
    assert e.coverage == pytest.approx((1000 + 100) / 2000)


def test_power_draw_reads_rapl_and_labels_it_idle(tmp_path: Path) -> None:
    """A fake powercap tree: two packages and a psys zone that already contains them."""
    zones = {"intel-rapl:0": "package-0", "intel-rapl:1": "package-1", "intel-rapl:2": "psys"}
    for z, name in zones.items():
        (tmp_path / z).mkdir()
        (tmp_path / z / "energy_uj").write_text("0\n")
        (tmp_path / z / "name").write_text(name + "\n")
    p = power_draw(catalogue.gpu("RTX 4090"), powercap=tmp_path)
    assert p.rest_source == "measured-idle"
    assert any("idle, measured now" in n and "psys" in n for n in p.notes)
    from rigml.plan.energy import RaplReading

    assert RaplReading({"package-0": 20.0, "psys": 35.0}, 0.25).total_w == 35.0
    assert RaplReading({"package-0": 20.0, "package-1": 10.0}, 0.25).total_w == 30.0
