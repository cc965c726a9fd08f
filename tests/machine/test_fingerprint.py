"""Machine fingerprint: real readings of this machine, GPUs from a recording."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import pytest

from rigml.machine.fingerprint import CPU_FLAGS_OF_INTEREST, fingerprint_id, machine_fingerprint
from rigml.machine.gpu import NvmlSource, RecordedSource

RECORDED = Path(__file__).parent / "recorded"


def test_this_machine_is_described() -> None:
    fp = machine_fingerprint()
    assert fp["hostname"]
    assert fp["arch"]
    assert fp["os"]["system"]
    assert fp["kernel"]
    cpu = fp["cpu"]
    assert isinstance(cpu["model"], str) and cpu["model"].strip()
    assert cpu["logical_cores"] == os.cpu_count() and cpu["logical_cores"] > 0
    assert cpu["physical_cores"] is None or 0 < cpu["physical_cores"] <= cpu["logical_cores"]
    assert fp["memory"]["total_bytes"] > 0
    assert fp["memory"]["swap_total_bytes"] is None or fp["memory"]["swap_total_bytes"] >= 0
    if Path("/proc/cpuinfo").exists():
        assert isinstance(cpu["flags"], list)
        assert set(cpu["flags"]) <= set(CPU_FLAGS_OF_INTEREST)
    if Path("/etc/os-release").exists():
        assert fp["os"]["distro"]


def test_fingerprint_survives_a_json_round_trip() -> None:
    fp = machine_fingerprint(RecordedSource.from_file(RECORDED / "rtx3090_near_full.json"))
    assert json.loads(json.dumps(fp)) == fp


def test_fingerprint_is_fast_without_a_gpu() -> None:
    source = NvmlSource()
    machine_fingerprint(source)  # first call pays for imports and NVML's start
    best = min(_timed(source) for _ in range(3))
    assert best < 0.1


def _timed(source: NvmlSource) -> float:
    start = time.perf_counter()
    machine_fingerprint(source)
    return time.perf_counter() - start


def test_gpus_come_from_the_source() -> None:
    fp = machine_fingerprint(RecordedSource.from_file(RECORDED / "rtx3090_near_full.json"))
    assert [g["name"] for g in fp["gpus"]] == ["NVIDIA GeForce RTX 3090"] * 2
    assert fp["gpus"][0]["memory_total"] == 24576 * 2**20
    assert fp["driver_version"] == "550.107.02"
    assert fp["cuda_driver_version"] == "12.4"
    assert fp["gpu_note"] is None


def test_an_unavailable_source_leaves_a_note() -> None:
    fp = machine_fingerprint(RecordedSource({"frames": []}))
    assert fp["gpus"] == []
    assert fp["gpu_note"]
    assert fp["driver_version"] is None and fp["cuda_driver_version"] is None


def test_a_bad_recording_path_is_a_note_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", "/nonexistent/recording.json")
    fp = machine_fingerprint()
    assert fp["gpus"] == []
    assert "/nonexistent/recording.json" in fp["gpu_note"]


def test_fingerprint_id_is_stable_and_follows_the_hardware_only() -> None:
    source = RecordedSource.from_file(RECORDED / "rtx4090_idle.json")
    a, b = machine_fingerprint(source), machine_fingerprint(source)
    fid = fingerprint_id(a)
    assert fid == fingerprint_id(b) == fingerprint_id(json.loads(json.dumps(a)))
    assert len(fid) == 16 and int(fid, 16) >= 0

    renamed = copy.deepcopy(a)
    renamed["hostname"] = "elsewhere"
    renamed["os"]["distro"] = "Another OS"
    renamed["driver_version"] = "999.1"
    assert fingerprint_id(renamed) == fid

    more_ram = copy.deepcopy(a)
    more_ram["memory"]["total_bytes"] += 32 * 2**30
    assert fingerprint_id(more_ram) != fid

    other_gpu = copy.deepcopy(a)
    other_gpu["gpus"][0]["uuid"] = "GPU-ffffffff-0000-0000-0000-000000000000"
    assert fingerprint_id(other_gpu) != fid

    other_cpu = copy.deepcopy(a)
    other_cpu["cpu"]["logical_cores"] = (a["cpu"]["logical_cores"] or 0) + 8
    assert fingerprint_id(other_cpu) != fid


def test_fingerprint_id_tolerates_partial_dicts() -> None:
    assert len(fingerprint_id({})) == 16
