"""The reading layer: this machine's real CPU, memory and disks, GPUs from recordings, and
fake /proc, powercap and torch trees for what this machine does not have."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from rigml.machine import (
    RecordedSource,
    disk_usage,
    read_amd_gpus,
    read_cpu,
    read_disks,
    read_frameworks,
    read_gpu_power,
    read_gpus,
    read_memory,
    read_os,
    read_partitions,
    read_power,
    read_pressure,
    read_torch,
)
from rigml.machine.gpu import GpuInfo, GpuReading
from rigml.machine.readings import PSEUDO_FS, _cpu

RECORDED = Path(__file__).parent / "recorded"
LINUX = sys.platform.startswith("linux")


def recording(name: str) -> RecordedSource:
    return RecordedSource.from_file(RECORDED / name)


# --------------------------------------------------------------------------- cpu, memory


def test_cpu_is_read_and_its_fixed_part_is_cached() -> None:
    cpu = read_cpu()
    assert cpu.logical_cores and cpu.logical_cores >= 1 and cpu.arch
    if LINUX:
        assert cpu.flags is not None and cpu.model
    assert _cpu._static_cpu() is _cpu._static_cpu()  # /proc/cpuinfo parsed once


def test_cpuinfo_keeps_the_first_processor_and_counts_sockets(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    block = "processor\t: {n}\nmodel name\t: Test CPU {n}\nphysical id\t: {s}\nflags\t: avx2 fma\n"
    info.write_text("\n".join(block.format(n=n, s=n // 2) for n in range(4)))
    first, sockets = _cpu._cpuinfo(info) or ({}, None)
    assert first["model name"] == "Test CPU 0" and sockets == 2
    assert _cpu._cpuinfo(tmp_path / "missing") is None
    static = _cpu._static_cpu(info)
    assert static.model == "Test CPU 0" and static.flags == ("avx2", "fma")


def test_memory_is_read_with_pressure_only_when_asked(tmp_path: Path) -> None:
    mem = read_memory()
    assert mem.total_bytes >= mem.available_bytes > 0
    assert mem.used_bytes == mem.total_bytes - mem.available_bytes
    assert mem.psi_some_avg60 is None and mem.psi_full_avg60 is None
    psi = tmp_path / "memory"
    psi.write_text(
        "some avg10=0.00 avg60=1.50 avg300=0.10 total=1\n"
        "full avg10=0.00 avg60=0.25 avg300=0.00 total=1\n"
    )
    assert read_pressure(psi) == (1.5, 0.25)
    assert read_pressure(tmp_path / "absent") == (None, None)


# --------------------------------------------------------------------------- disks, os


def test_disks_usage_and_partitions_of_this_machine(tmp_path: Path) -> None:
    disks = read_disks()
    mounts = [d.mountpoint for d in disks.disks]
    assert mounts == sorted(mounts)
    assert all(d.total_bytes >= d.free_bytes >= 0 for d in disks.disks)
    usage = disk_usage(str(tmp_path))
    assert usage.total >= usage.free > 0 and usage.device == os.stat(tmp_path).st_dev
    assert all(p.fstype not in PSEUDO_FS for p in read_partitions())
    with pytest.raises(OSError):
        disk_usage(str(tmp_path / "missing"))


def test_os_is_read() -> None:
    host = read_os()
    assert host.hostname and host.system and host.arch


# --------------------------------------------------------------------------- gpus


def test_gpus_from_a_recording_with_one_live_reading() -> None:
    gpus = read_gpus(recording("rtx4090_idle.json"))
    assert gpus.available and gpus.reason is None
    assert [g.name for g in gpus.gpus] == ["NVIDIA GeForce RTX 4090"]
    r = gpus.reading(0)
    assert r is not None and r.memory_used is not None and gpus.reading(7) is None
    assert gpus.memory_total(gpus.gpus[0]) == 25757220864


def test_a_reading_that_is_not_live_leaves_the_replay_where_it_was() -> None:
    source = recording("a100_throttling.json")
    first = source.read()
    source.reset()
    assert read_gpus(source, live=False).readings == ()
    assert source.read() == first  # still at frame 0


def test_memory_total_falls_back_to_the_reading() -> None:
    source = RecordedSource([[{"index": 0, "memory_total": 8 * 2**30, "memory_used": 1}]])
    gpus = read_gpus(source)
    assert gpus.memory_total(GpuInfo(0, "x")) == 8 * 2**30
    assert gpus.memory_total(GpuInfo(3, "x")) is None


def test_no_gpu_a_bad_recording_and_a_broken_driver_are_reasons(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = read_gpus(RecordedSource([]))
    assert not empty.available and "has no frames" in (empty.reason or "")
    monkeypatch.setenv("RIG_GPU_RECORDING", str(tmp_path / "missing.json"))
    bad = read_gpus()
    assert not bad.available and "no GPU recording" in (bad.reason or "")

    class Broken:
        def available(self) -> bool:
            return True

        def why_unavailable(self) -> str | None:
            return None

        def inventory(self) -> list[GpuInfo]:
            raise RuntimeError("Xid 79: GPU has fallen off the bus")

        def read(self) -> list[GpuReading]:
            return []

        def close(self) -> None:
            pass

    broken = read_gpus(Broken())
    assert not broken.available and "fallen off the bus" in (broken.reason or "")


# --------------------------------------------------------------------------- power


def test_power_limits_and_draw_from_a_recording(tmp_path: Path) -> None:
    power = read_power(recording("a100_throttling.json"), powercap=tmp_path / "none")
    assert power.rapl is None and power.gpu_note is None
    [gpu] = power.gpus
    assert gpu.name == "NVIDIA A100-SXM4-40GB" and gpu.limit_w == 400.0
    assert gpu.draw_w == 398.2 and power.gpu_draw_w == 398.2
    limits = read_gpu_power(recording("a100_throttling.json"), live=False)
    assert limits.gpus[0].draw_w is None and limits.gpu_draw_w is None


def test_power_reads_rapl_through_the_layer(tmp_path: Path) -> None:
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("0\n")
    (zone / "name").write_text("package-0\n")

    def spend(seconds: float) -> None:  # 5 J over the interval
        (zone / "energy_uj").write_text("5000000\n")

    power = read_power(RecordedSource([]), powercap=tmp_path, interval_s=0.5, sleep=spend)
    assert power.rapl is not None and power.rapl.zones["package-0"] == pytest.approx(10, rel=0.1)
    assert power.gpus == () and "no frames" in (power.gpu_note or "")


# --------------------------------------------------------------------------- frameworks


def test_frameworks_are_read_without_importing_them() -> None:
    had_torch = "torch" in sys.modules
    fw = read_frameworks()
    assert "torch" in fw.packages and "numpy" in fw.packages
    assert fw.packages["numpy"]  # numpy is a dependency of the test setup
    assert ("torch" in sys.modules) == had_torch


def test_torch_build_is_read_from_its_version_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "torch" in sys.modules:
        pytest.skip("torch is imported in this process: find_spec answers from it")
    pkg = tmp_path / "torch"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "version.py").write_text("__version__ = '9.9.0+cu999'\ncuda = '99.9'\nhip = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    torch = read_torch()
    assert torch.importable and torch.installed and torch.location == str(pkg)
    assert torch.version == "9.9.0+cu999" and torch.cuda == "99.9" and torch.hip is None


def test_amd_gpus_without_rocm_smi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    amd = read_amd_gpus()
    assert amd.gpus == ()
