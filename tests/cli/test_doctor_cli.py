"""``rig doctor`` for real on this machine, and on recorded GPUs: JSON, exit codes, --explain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigml.cli import main

IDS = [
    "disk.system_full",
    "disk.caches_on_system",
    "memory.swap",
    "memory.pressure",
    "gpu.driver_vs_torch_cuda",
    "gpu.visible_to_torch",
    "gpu.pcie_link",
    "gpu.power_limit",
    "gpu.idle_temperature",
    "python.pip_check",
    "python.virtualenv",
    "os.fd_limit",
]


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def hot_idle_gpu(tmp_path: Path) -> Path:
    """A recording of an idle GPU at 85 °C on a lowered power limit and a narrow link."""
    doc = {
        "format": "rigml-gpu-recording/1",
        "description": "hand-made: idle RTX 3090 at 85 °C, 250 W of 350 W, gen 3 x8 of gen 4 x16",
        "gpus": [
            {
                "index": 0,
                "name": "NVIDIA GeForce RTX 3090",
                "driver_version": "550.107.02",
                "cuda_driver_version": "12.4",
                "pcie_gen_current": 3,
                "pcie_gen_max": 4,
                "pcie_width_current": 8,
                "pcie_width_max": 16,
                "power_limit_w": 250.0,
                "power_default_limit_w": 350.0,
            }
        ],
        "frames": [{"readings": [{"index": 0, "utilization_percent": 0.0, "temperature_c": 85.0}]}],
    }
    path = tmp_path / "hot.json"
    path.write_text(json.dumps(doc))
    return path


def test_doctor_json_runs_for_real_and_exit_code_follows_failures(capsys) -> None:
    code, out, err = rig(capsys, "doctor", "--json")
    data = json.loads(out)
    assert [c["id"] for c in data["checks"]] == IDS
    failed = any(c["status"] == "fail" for c in data["checks"])
    assert code == (1 if failed else 0), err
    assert data["ok"] is (not failed)
    assert sum(data["counts"].values()) == len(IDS)
    for c in data["checks"]:
        assert c["status"] in ("pass", "warn", "fail", "skip")
        assert not c["summary"].startswith("check crashed"), c


def test_doctor_table_and_summary_line(capsys) -> None:
    code, out, _ = rig(capsys, "doctor")
    assert code in (0, 1)
    for check_id in IDS:
        assert check_id in out
    assert "12 checks in" in out


def test_doctor_fails_on_a_hot_idle_gpu(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(hot_idle_gpu(tmp_path)))
    code, out, _ = rig(capsys, "doctor", "--json", "--check", "gpu")
    data = json.loads(out)
    status = {c["id"]: c["status"] for c in data["checks"]}
    assert status["gpu.idle_temperature"] == "fail"
    assert status["gpu.pcie_link"] == "warn" and status["gpu.power_limit"] == "warn"
    assert code == 1 and data["ok"] is False
    code, out, _ = rig(capsys, "doctor", "--check", "gpu.power_limit")
    assert code == 0 and "nvidia-smi -i 0 -pl 350" in out


def test_check_selects_ids_and_groups(capsys) -> None:
    _, out, _ = rig(capsys, "doctor", "--json", "--check", "memory", "-c", "os.fd_limit")
    assert [c["id"] for c in json.loads(out)["checks"]] == [
        "memory.swap",
        "memory.pressure",
        "os.fd_limit",
    ]


def test_explain_prints_the_doc_and_the_current_result(capsys) -> None:
    code, out, _ = rig(capsys, "doctor", "--explain", "memory.swap")
    assert code == 0  # swap never fails
    assert "memory.swap" in out and "Why:" in out and "1 GiB" in out
    assert "On this machine now" in out and "Evidence" in out
    code, out, _ = rig(capsys, "doctor", "--explain", "memory.swap", "--json")
    data = json.loads(out)
    assert data["id"] == "memory.swap" and "OOM killer" in data["doc"]
    assert data["result"]["status"] in ("pass", "warn")


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["--explain", "memory.swp"], "memory.swap"),
        (["--check", "gpu.pcie"], "gpu.pcie_link"),
        (["--check", "swap"], "memory.swap"),
    ],
)
def test_unknown_check_suggests_close_matches(capsys, args, suggestion) -> None:
    code, out, err = rig(capsys, "doctor", *args)
    assert code == 2 and out == ""
    assert "no doctor check named" in err and suggestion in err
    assert "Traceback" not in err
