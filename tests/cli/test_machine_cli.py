"""``rig machine``: JSON in the documented schema, tables, and plain words without a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigml.cli import main

RECORDED = Path(__file__).parents[1] / "machine" / "recorded"


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_schema_version_and_a_profile(capsys) -> None:
    code, out, err = rig(capsys, "machine", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schema_version"] == 1
    assert {"system", "chassis", "cpu", "memory", "disks", "gpus", "software", "notes"} <= set(data)
    assert data["profile"]["archetype"]
    assert data["profile"]["ram"]["band"] in {"entry", "comfortable", "heavy"}
    assert data["gpus"]["nvidia"] or data["gpus"]["nvidia_note"]
    assert data["memory"]["total_bytes"] > 0


def test_json_reads_gpus_from_a_recording(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    code, out, _ = rig(capsys, "machine", "--json")
    assert code == 0
    data = json.loads(out)
    (gpu,) = data["gpus"]["nvidia"]
    assert gpu["name"] == "NVIDIA GeForce RTX 4090" and gpu["compute_capability"] == "8.9"
    assert data["profile"]["accelerators"] == 1
    assert data["profile"]["vram"]["band"] == "comfortable"


def test_tables_show_every_section(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    code, out, _ = rig(capsys, "machine")
    assert code == 0
    for title in ("system", "CPU", "memory", "NVIDIA GPUs", "software", "bands"):
        assert title in out
    assert "NVIDIA GeForce RTX 4090" in out
    assert "gen 1/4 x16/x16" in out  # PCIe link now / max: idle GPUs drop to gen 1
    assert "450 W" in out and "550.54.14 / CUDA 12.4" in out
    assert "profile:" in out


def test_without_a_gpu_the_section_says_why(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"format": "rigml-gpu-recording/1", "frames": []}))
    monkeypatch.setenv("RIG_GPU_RECORDING", str(empty))
    code, out, _ = rig(capsys, "machine")
    assert code == 0
    assert f"no NVIDIA GPU visible: the GPU recording {empty} has no frames" in out
    assert "NVIDIA GPUs" not in out
    code, out, _ = rig(capsys, "machine", "--json")
    data = json.loads(out)
    assert data["gpus"]["nvidia"] == [] and "has no frames" in data["gpus"]["nvidia_note"]
    assert data["profile"]["vram"]["band"] == "none"


def test_a_bad_recording_does_not_crash_the_command(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    monkeypatch.setenv("RIG_GPU_RECORDING", str(bad))
    code, out, err = rig(capsys, "machine")
    assert code == 0, err
    assert "no NVIDIA GPU visible: cannot read GPU recording" in out


def test_sizes_use_the_shared_binary_units() -> None:
    from rigml.cli.machine import _size

    assert _size(None) is None
    assert _size(3 * 2**40) == "3.0 TiB"
    assert _size(int(23.5 * 2**30)) == "23.5 GiB"
    assert _size(512 * 2**20) == "512.0 MiB"
