"""Diagnosis rules on synthetic timelines: each rule fires on its pattern, and near misses don't."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from rigml.machine.diagnosis import (
    THRESHOLDS,
    Context,
    Finding,
    Thresholds,
    diagnose,
    scan_output,
    summarise,
)
from rigml.machine.gpu import RecordedSource
from rigml.machine.sampler import SystemSampler
from rigml.machine.timeline import Timeline

RECORDED = Path(__file__).parent / "recorded"
T0 = 1_700_000_000.0


def make(
    n: int = 30,
    *,
    interval: float = 1.0,
    labels: dict[str, list[str | None]] | None = None,
    **columns: object,
) -> Timeline:
    """A timeline of ``n`` samples; a column is a scalar (constant) or a sequence.

    Names with a slash are written with ``__`` (``gpu0__util_percent``).
    """
    times = T0 + np.arange(n) * interval
    cols = {}
    for key, value in columns.items():
        arr = np.full(n, float(value)) if np.isscalar(value) else np.asarray(value, float)
        assert len(arr) == n, key
        cols[key.replace("__", "/")] = arr
    return Timeline.from_arrays(
        times, cols, labels=labels, meta={"interval": interval, "started": T0}
    )


def ids(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings]


def only(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.id == rule]
    assert len(matching) == 1, ids(findings)
    return matching[0]


def calm(n: int = 30, **extra: object) -> dict[str, object]:
    """Columns of a machine doing little: the base the rules' patterns are drawn on."""
    base: dict[str, object] = {
        "cpu_percent": 10.0,
        "cpu_max_core_percent": 15.0,
        "cpu0_percent": 15.0,
        "cpu1_percent": 8.0,
        "cpu2_percent": 7.0,
        "cpu3_percent": 10.0,
        "cpu_iowait_percent": 1.0,
        "ram_percent": 40.0,
        "ram_used_gb": 12.8,
        "swap_in_mb_s": 0.0,
        "swap_out_mb_s": 0.0,
        "disk_free_gb": 300.0,
        "disk_read_mb_s": 1.0,
        "disk_write_mb_s": 2.0,
    }
    base.update(extra)
    return base


def test_a_calm_machine_has_no_findings() -> None:
    assert diagnose(make(**calm()), Context(cores=4, disk_total_gb=500)) == []


# --------------------------------------------------------------------------- vram


def test_vram_exhausted_ties_the_peak_to_the_oom() -> None:
    mem = np.linspace(60, 97, 60)
    mem[42] = 98.1
    tl = make(60, **calm(60, gpu0__mem_percent=mem, gpu0__mem_used_gb=mem / 100 * 40))
    line = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0)"
    ctx = Context(cuda_oom_at=T0 + 43, cuda_oom_line=line, exit_code=1)
    f = only(diagnose(tl, ctx), "vram_exhausted")
    assert f.constraint == "vram" and f.severity == "critical"
    assert "98.1%" in f.evidence[0] and "t+42 s" in f.evidence[0] and "t+43 s" in f.evidence[0]
    assert "39.24 of 40.00 GiB" in f.evidence[0]
    assert f.numbers["mem_percent"] == pytest.approx(98.1)
    assert f.numbers["tried_to_allocate_gb"] == 2.0
    assert "batch" in f.first_fix


def test_an_oom_without_gpu_samples_still_reports_the_message() -> None:
    tl = make(3, **calm(3))
    ctx = Context(
        cuda_oom_at=T0 + 1,
        cuda_oom_line="RuntimeError: CUDA out of memory. Tried to allocate 512.00 MiB",
    )
    f = only(diagnose(tl, ctx), "vram_exhausted")
    assert f.numbers["tried_to_allocate_gb"] == 0.5 and "t+1.0 s" in f.evidence[0]


def test_vram_nearly_full_without_oom_warns_and_a_spike_does_not() -> None:
    full = make(**calm(gpu0__mem_percent=97.5, gpu0__mem_used_gb=23.4))
    f = only(diagnose(full), "vram_exhausted")
    assert f.severity == "warning" and "30 of 30 samples" in f.evidence[0]
    assert "97.5%" in f.evidence[1]

    spike = np.full(30, 70.0)
    spike[10:13] = 99.0
    assert "vram_exhausted" not in ids(diagnose(make(**calm(gpu0__mem_percent=spike))))
    assert "vram_exhausted" not in ids(diagnose(make(**calm(gpu0__mem_percent=94.0))))


def test_the_near_full_recording_warns_about_gpu0_only() -> None:
    source = RecordedSource.from_file(RECORDED / "rtx3090_near_full.json")
    sampler = SystemSampler(gpu=source)
    tl = Timeline(meta={"interval": 1.0})
    for i in range(9):
        sample = sampler.sample()
        sample.time = T0 + i
        tl.append(sample)
    found = diagnose(tl)
    vram = only(found, "vram_exhausted")
    assert vram.numbers["gpu"] == 0 and vram.numbers["mem_percent_peak"] == pytest.approx(
        98.0, abs=0.05
    )


# --------------------------------------------------------------------------- ram


def test_ram_pressure_from_a_full_machine() -> None:
    ram = np.full(30, 60.0)
    ram[10:25] = 96.5
    tl = make(**calm(ram_percent=ram, ram_used_gb=ram / 100 * 32))
    f = only(diagnose(tl), "ram_pressure")
    assert f.constraint == "ram" and f.severity == "warning"
    assert "96.5%" in f.evidence[0] and "30.88 of 32.00 GiB" in f.evidence[0]
    assert "15 samples" in f.evidence[0] and "t+10 s" in f.evidence[0]


def test_ram_near_misses() -> None:
    assert "ram_pressure" not in ids(diagnose(make(**calm(ram_percent=94.0))))
    short = np.full(30, 60.0)
    short[5:8] = 97.0  # three samples: fewer than min_samples
    assert "ram_pressure" not in ids(diagnose(make(**calm(ram_percent=short))))
    # killed by SIGKILL with plenty of memory: somebody's `kill -9`, not the OOM killer
    assert diagnose(make(**calm()), Context(exit_code=137, signal=9)) == []


def test_an_oom_kill_in_a_cgroup() -> None:
    cg = np.linspace(20, 97, 10)
    kills = np.zeros(10)
    kills[-1] = 1
    tl = make(
        10,
        interval=0.2,
        **calm(
            10,
            cgroup_mem_percent=cg,
            cgroup_mem_used_gb=cg / 100 * 0.125,
            cgroup_mem_limit_gb=0.125,
            cgroup_oom_kills=kills,
        ),
    )
    ctx = Context(exit_code=137, signal=9, ended_at=T0 + 2.0)
    f = only(diagnose(tl, ctx), "ram_pressure")
    assert f.severity == "critical" and "killed" in f.title
    text = " ".join(f.evidence)
    assert "97.0% of its 128.0 MiB memory limit" in text
    assert "oom_kill count went from 0 to 1" in text
    assert "exit code 137" in text and "t+2.0 s" in text
    assert f.numbers["oom_kills"] == 1 and f.numbers["cgroup_limit_gb"] == 0.125
    assert "128.0 MiB" in f.first_fix


def test_memory_error_is_reported_with_the_peak() -> None:
    tl = make(10, **calm(10, proc_rss_gb=np.linspace(1, 7.5, 10)))
    f = only(diagnose(tl, Context(memory_error_at=T0 + 9, exit_code=1)), "ram_pressure")
    assert "MemoryError" in f.evidence[-1] and "7.5 GiB" in f.evidence[-1]


# --------------------------------------------------------------------------- swap


def test_swap_thrashing_while_the_gpu_idles() -> None:
    sin = np.zeros(40)
    sin[10:30] = 34.0  # 2040 MiB/min = 1.99 GiB/min
    tl = make(40, **calm(40, swap_in_mb_s=sin, swap_used_gb=3.2, gpu0__util_percent=4.0))
    f = only(diagnose(tl), "swap_thrashing")
    assert f.constraint == "swap" and f.severity == "critical"
    assert "1.99 GiB/min" in f.evidence[0] and "for 20 s" in f.evidence[0]
    assert "t+10 s" in f.evidence[0] and "t+29 s" in f.evidence[0]
    assert any("gpu0 utilisation averaged 4%" in e and "idle" in e for e in f.evidence)
    assert f.numbers["swap_in_mib_per_min"] == pytest.approx(2040)


def test_swap_near_misses() -> None:
    slow = make(40, **calm(40, swap_in_mb_s=1.5))  # 90 MiB/min: under the threshold
    assert "swap_thrashing" not in ids(diagnose(slow))
    burst = np.zeros(40)
    burst[5:11] = 50.0  # fast, but 6 s
    assert "swap_thrashing" not in ids(diagnose(make(40, **calm(40, swap_in_mb_s=burst))))


# --------------------------------------------------------------------------- throttling


def gpu_cols(
    n: int,
    *,
    util: object = 98.0,
    clock: object = 1800.0,
    temp: object = 70.0,
    power: object = 300.0,
) -> dict[str, object]:
    return {
        "gpu0__util_percent": util,
        "gpu0__sm_clock_mhz": clock,
        "gpu0__temp_c": temp,
        "gpu0__power_w": power,
    }


def test_thermal_throttling_from_the_trend_alone() -> None:
    n = 30
    tl = make(
        n, **calm(n, **gpu_cols(n, clock=np.linspace(1800, 1500, n), temp=np.linspace(70, 86, n)))
    )
    found = diagnose(tl)
    f = only(found, "thermal_throttling")
    assert "1800 MHz" in f.evidence[0] and "1500 MHz" in f.evidence[0]
    assert "70 °C to 86 °C" in f.evidence[0] and "-16.7%" in f.evidence[0]
    assert "power_throttling" not in ids(found)


def test_thermal_and_power_reasons_from_the_a100_recording() -> None:
    source = RecordedSource.from_file(RECORDED / "a100_throttling.json")
    sampler = SystemSampler(gpu=source)
    tl = Timeline(meta={"interval": 1.0})
    for i in range(8):
        sample = sampler.sample()
        sample.time = T0 + i
        tl.append(sample)
    found = diagnose(tl, Context(gpu_power_limit_w={0: 400.0}))
    thermal = only(found, "thermal_throttling")
    assert thermal.severity == "critical"  # hw_thermal and hw_slowdown were reported
    text = " ".join(thermal.evidence)
    assert "1410 MHz" in text and "1005 MHz" in text and "71 °C to 89 °C" in text
    assert "sw_thermal in 4 of 8" in text and "hw_thermal in 2 of 8" in text
    power = only(found, "power_throttling")
    assert "sw_power_cap in 4 of 8" in " ".join(power.evidence)
    assert "401.7 W" in " ".join(power.evidence) and "400 W limit" in " ".join(power.evidence)
    assert power.severity == "info"


def test_power_throttling_by_trend_at_the_limit() -> None:
    n = 30
    cols = gpu_cols(n, clock=np.linspace(1900, 1600, n), temp=72.0, power=448.0)
    f = only(
        diagnose(make(n, **calm(n, **cols)), Context(gpu_power_limit_w={0: 450.0})),
        "power_throttling",
    )
    assert f.severity == "warning" and "448.0 W" in " ".join(f.evidence)


def test_throttling_near_misses() -> None:
    n = 30
    warm_but_steady = gpu_cols(n, clock=1800.0, temp=np.linspace(60, 80, n))
    assert diagnose(make(n, **calm(n, **warm_but_steady))) == []
    idle = gpu_cols(n, util=2.0, clock=np.linspace(1800, 300, n), temp=np.linspace(60, 70, n))
    idle_reasons = {"gpu0/throttle_reasons": ["gpu_idle"] * n}
    assert diagnose(make(n, labels=idle_reasons, **calm(n, **idle))) == []
    one_reason = [None] * n
    one_reason[7] = "sw_thermal"  # a single sample is not a pattern
    assert (
        diagnose(
            make(n, labels={"gpu0/throttle_reasons": one_reason}, **calm(n, **gpu_cols(n))),
            Context(),
        )
        == []
    )


# --------------------------------------------------------------------------- starved GPU


def test_starved_gpu_one_core_pegged_the_rest_idle() -> None:
    n = 30
    cols = calm(
        n,
        cpu0_percent=99.0,
        cpu1_percent=6.0,
        cpu2_percent=4.0,
        cpu3_percent=8.0,
        cpu_max_core_percent=99.0,
        cpu_percent=29.0,
        gpu0__util_percent=12.0,
    )
    f = only(diagnose(make(n, **cols), Context(cores=4)), "starved_gpu")
    assert f.constraint == "starved_gpu"
    assert "under 30% in 30 of 30 samples (mean 12%)" in f.evidence[0]
    assert (
        "busiest core averaged 99%" in f.evidence[1]
        and "other 3 core(s) averaged 6%" in f.evidence[1]
    )
    assert "num_workers" in f.first_fix


def test_starved_gpu_without_per_core_columns_uses_the_core_count() -> None:
    n = 30
    cols = {"cpu_max_core_percent": 97.0, "cpu_percent": 14.0, "gpu0__util_percent": 8.0}
    assert "starved_gpu" in ids(diagnose(make(n, **cols), Context(cores=8)))
    assert "starved_gpu" not in ids(diagnose(make(n, **cols), Context()))  # cores unknown


def test_starved_gpu_near_misses() -> None:
    n = 30
    busy_gpu = calm(n, cpu0_percent=99.0, cpu_max_core_percent=99.0, gpu0__util_percent=85.0)
    assert "starved_gpu" not in ids(diagnose(make(n, **busy_gpu)))
    all_busy = calm(
        n,
        **{f"cpu{i}_percent": 97.0 for i in range(4)},
        cpu_max_core_percent=97.0,
        cpu_percent=97.0,
        gpu0__util_percent=10.0,
    )
    found = ids(diagnose(make(n, **all_busy)))
    assert "starved_gpu" not in found and "cpu_bound" in found
    half = np.where(np.arange(n) < 15, 99.0, 20.0)  # pegged for half the run only
    some = calm(n, cpu0_percent=half, cpu_max_core_percent=half, gpu0__util_percent=10.0)
    assert "starved_gpu" not in ids(diagnose(make(n, **some)))


# --------------------------------------------------------------------------- disk


def test_disk_filling_with_minutes_to_full() -> None:
    n = 31  # ten minutes at 20 s
    free = np.linspace(100.0, 90.0, n)
    tl = make(n, interval=20.0, **calm(n, disk_free_gb=free))
    f = only(diagnose(tl, Context(disk_path="/data", disk_total_gb=500.0)), "disk_filling")
    assert f.constraint == "storage" and f.severity == "warning"
    assert "1.00 GiB/min" in f.evidence[0] and "/data (500.00 GiB in all)" in f.evidence[0]
    assert "full in 90.0 min" in f.evidence[1]
    assert f.numbers["minutes_to_full"] == pytest.approx(90.0, abs=0.1)
    assert f.numbers["rate_gb_per_min"] == pytest.approx(1.0, abs=0.01)


def test_a_disk_that_filled_up() -> None:
    n = 20
    free = np.maximum(0.0, 0.0625 - np.arange(n) * 0.005)  # a 64 MiB disk, 5 MiB per sample
    tl = make(n, interval=0.2, **calm(n, disk_free_gb=free))
    ctx = Context(
        disk_path="/mnt/small",
        disk_total_gb=0.0625,
        no_space_at=T0 + 2.6,
        no_space_line="OSError: [Errno 28] No space left on device",
    )
    f = only(diagnose(tl, ctx), "disk_filling")
    assert f.severity == "critical" and "filled up" in f.title
    assert "64.0 MiB" in f.evidence[0] and "0.0 MiB at" in f.evidence[0]
    assert f.numbers["minutes_to_full"] == 0
    assert "it took 2.6s to fill" in f.evidence[1]  # written as rigml._units writes durations
    assert any("No space left on device" in e and "t+2.6 s" in e for e in f.evidence)


def test_disk_near_misses() -> None:
    n = 31
    slow = make(n, interval=20.0, **calm(n, disk_free_gb=np.linspace(900, 890, n)))
    assert diagnose(slow, Context(disk_total_gb=2000)) == []  # 890 minutes to full
    rng = np.random.default_rng(0)
    noisy = make(n, interval=20.0, **calm(n, disk_free_gb=100 + rng.normal(0, 0.5, n)))
    assert diagnose(noisy, Context(disk_total_gb=500)) == []
    tiny = make(n, **calm(n, disk_free_gb=np.linspace(100, 99.99, n)))  # 10 MiB: too little
    assert diagnose(tiny, Context(disk_total_gb=500)) == []


# --------------------------------------------------------------------------- cpu / io


def test_cpu_bound_all_cores_busy() -> None:
    n = 20
    cols = calm(
        n,
        **{f"cpu{i}_percent": 96.0 for i in range(4)},
        cpu_percent=96.0,
        cpu_max_core_percent=97.0,
        proc_cpu_percent=380.0,
    )
    f = only(diagnose(make(n, **cols), Context(cores=4)), "cpu_bound")
    assert "all 4 cores ≥ 90% busy in 20 of 20 samples" in f.evidence[0]
    assert "averaged 96.0% CPU" in f.evidence[0]
    assert "3.80 cores" in f.evidence[1]
    assert "profile" in f.first_fix


def test_cpu_bound_by_other_processes_points_at_them() -> None:
    n = 20
    cols = calm(
        n, **{f"cpu{i}_percent": 96.0 for i in range(4)}, cpu_percent=96.0, proc_cpu_percent=30.0
    )
    f = only(diagnose(make(n, **cols)), "cpu_bound")
    assert "other processes" in " ".join(f.evidence) and "renice" in f.first_fix


def test_cpu_near_misses() -> None:
    n = 20
    assert diagnose(make(n, **calm(n, **{f"cpu{i}_percent": 85.0 for i in range(4)}))) == []
    part = np.where(np.arange(n) < 8, 99.0, 30.0)
    cols = calm(n, **{f"cpu{i}_percent": part for i in range(4)})
    assert diagnose(make(n, **cols)) == []


def test_io_bound() -> None:
    n = 20
    f = only(
        diagnose(make(n, **calm(n, cpu_iowait_percent=42.0, disk_read_mb_s=180.0))), "io_bound"
    )
    assert f.constraint == "storage" and "mean 42%" in f.evidence[0]
    assert "read 180.0 MiB/s" in f.evidence[1]
    assert diagnose(make(n, **calm(n, cpu_iowait_percent=12.0))) == []


# --------------------------------------------------------------------------- general


def test_too_few_samples_claim_nothing() -> None:
    n = 3
    bad = calm(
        n,
        **{f"cpu{i}_percent": 99.0 for i in range(4)},
        ram_percent=99.0,
        swap_in_mb_s=100.0,
        disk_free_gb=[10.0, 5.0, 1.0],
        cpu_iowait_percent=80.0,
        gpu0__mem_percent=99.0,
        gpu0__util_percent=1.0,
    )
    assert diagnose(make(n, **bad), Context(disk_total_gb=100)) == []


def test_thresholds_can_be_changed() -> None:
    tl = make(**calm(ram_percent=92.0))
    assert diagnose(tl) == []
    assert ids(diagnose(tl, thresholds=Thresholds(ram_full_percent=90.0))) == ["ram_pressure"]
    assert THRESHOLDS.min_samples == 5


def test_findings_are_sorted_by_severity_and_serialise() -> None:
    n = 20
    cols = calm(n, **{f"cpu{i}_percent": 96.0 for i in range(4)}, cpu_iowait_percent=1.0)
    tl = make(n, **cols)
    ctx = Context(cuda_oom_at=T0 + 5, cuda_oom_line="CUDA out of memory")
    found = diagnose(tl, ctx)
    assert ids(found) == ["vram_exhausted", "cpu_bound"]
    again = [Finding.from_dict(f.to_dict()) for f in found]
    assert again == found
    assert Context.from_dict(Context(gpu_names={0: "A100"}).to_dict()).gpu_names == {0: "A100"}


def test_summarise_gives_peaks_and_means() -> None:
    tl = make(5, cpu_percent=[10, 50, 90, 30, 20], ram_percent=[1, 2, 3, 4, float("nan")])
    s = summarise(tl)
    assert s["cpu_percent"].peak == 90 and s["cpu_percent"].peak_at_s == 2.0
    assert s["cpu_percent"].mean == pytest.approx(40.0) and s["cpu_percent"].last == 20
    assert s["ram_percent"].count == 4 and s["ram_percent"].last == 4


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB", "cuda_oom"),
        ("RuntimeError: CUDA error: out of memory", "cuda_oom"),
        ("Killed", "killed"),
        ("run.sh: line 3:  4242 Killed                  python train.py", "killed"),
        ("OSError: [Errno 28] No space left on device", "no_space"),
        ("MemoryError", "memory_error"),
        ("epoch 3 loss 0.12", None),
        ("skilled workers", None),
    ],
)
def test_scan_output(line: str, kind: str | None) -> None:
    assert scan_output(line) == kind


def test_evidence_times_are_clock_and_offset() -> None:
    tl = make(**calm(ram_percent=97.0))
    f = only(diagnose(tl), "ram_pressure")
    clock = time.strftime("%H:%M:%S", time.localtime(T0))
    assert f"{clock} (t+0.0 s)" in f.evidence[0]
