"""``rig watch`` end to end: JSON output, the workload's exit code, recording in the lab."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rigml.cli import main

RECORDED = Path(__file__).parents[1] / "machine" / "recorded"


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_and_the_exit_code_of_the_workload(capsys, tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    code, out, err = rig(
        capsys,
        "watch",
        "--json",
        "--interval",
        "0.2",
        "--output",
        "runs/first",
        "--",
        sys.executable,
        "-c",
        "import sys, time; print('to stdout'); time.sleep(0.5); sys.exit(3)",
    )
    assert code == 3
    data = json.loads(out)  # the workload's own output went to stderr
    assert "to stdout" in err
    assert data["exit_code"] == 3 and data["signal"] is None and data["samples"] >= 1
    assert data["command"].startswith(sys.executable) and "sys.exit(3)" in data["command"]
    assert data["lab"] is None and data["session_id"] is None
    assert isinstance(data["findings"], list) and "cpu_percent" in data["summary"]
    files = data["files"]
    out_dir = Path(data["output_dir"])
    assert out_dir.resolve() == tmp_path / "runs" / "first"  # made, as its parent was there
    for name in ("timeline", "plot", "findings"):
        assert Path(files[name]).is_file() and Path(files[name]).parent == out_dir


def test_records_into_the_lab_unless_told_not_to(capsys, tmp_path: Path) -> None:
    assert rig(capsys, "init")[0] == 0
    command = ["--", sys.executable, "-c", "import time; time.sleep(0.4)"]
    code, out, _ = rig(capsys, "watch", "--json", "-i", "0.2", *command)
    assert code == 0
    data = json.loads(out)
    assert data["session_id"] and Path(data["lab"]) == tmp_path / ".rig"
    assert Path(data["output_dir"]).parent == tmp_path / ".rig" / "watch"

    from rigml.lab import open_lab
    from rigml.machine.findings import list_watch_sessions

    lab = open_lab()
    try:
        (session,) = list_watch_sessions(lab)
        assert session.id == data["session_id"] and session.timeline_object
    finally:
        lab.close()

    code, out, _ = rig(capsys, "watch", "--json", "--no-record", "-i", "0.2", *command)
    data = json.loads(out)
    assert code == 0 and data["session_id"] is None and data["lab"] is None
    # not recorded, but its files still go to the lab, never into the working folder
    assert Path(data["output_dir"]).parent == tmp_path / ".rig" / "watch"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".rig"]


def test_without_a_lab_the_output_folder_must_be_given(capsys, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    command = ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    code, _, err = rig(capsys, "watch", "-i", "0.2", *command)
    assert code == 2 and "keeps its files in a lab" in err and "--output" in err
    assert "Traceback" not in err
    assert not marker.exists() and list(tmp_path.iterdir()) == []  # nothing ran, nothing made


def test_a_given_output_folder_follows_the_output_rules(capsys, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    command = ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    code, _, err = rig(capsys, "watch", "-o", str(tmp_path / "no" / "such"), *command)
    assert code == 1 and "cannot write" in err and "does not exist" in err
    code, _, err = rig(capsys, "watch", "-o", "/proc/rig-watch", *command)
    assert code == 1 and "cannot write /proc/rig-watch" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "no").exists()


def test_output_folder_and_a_recorded_gpu_in_the_table(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "a100_throttling.json"))
    code, out, _ = rig(
        capsys,
        "watch",
        "-i",
        "0.2",
        "--output",
        str(tmp_path / "here"),
        "--",
        sys.executable,
        "-c",
        "import time; time.sleep(3.6)",
    )
    assert code == 0
    # table cells wrap where the width falls: look at whole words only
    words = set(out.split())
    assert {"findings", "thermal", "critical", "power", "info"} <= words
    assert (tmp_path / "here" / "timeline.parquet").is_file()
    assert "not recorded: no lab here" in out


def test_no_bottleneck_prints_the_peaks(capsys, monkeypatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    code, out, _ = rig(capsys, "watch", "-i", "0.2", "-o", "w", "--", sys.executable, "-c", "pass")
    assert code == 0
    assert "no bottleneck found" in out and "RAM used" in out and "gpu0 temperature" in out


def test_options_after_the_command_belong_to_it(capsys) -> None:
    code, out, err = rig(
        capsys,
        "watch",
        "--json",
        "-o",
        "w",
        sys.executable,
        "-c",
        "import sys; print(sys.argv[1:], file=sys.stderr)",
        "--interval",
        "9",
    )
    assert code == 0 and "['--interval', '9']" in err
    assert json.loads(out)["interval_s"] == 1.0


def test_usage_errors(capsys) -> None:
    code, _, err = rig(capsys, "watch", "--json")
    assert code == 2 and "either a command" in err and "hint:" in err
    code, _, err = rig(capsys, "watch", "-o", "w", "--", "no-such-command-for-rig")
    assert code == 127 and "cannot start 'no-such-command-for-rig'" in err
    code, _, err = rig(capsys, "watch", "-o", "w", "--pid", "999999999")
    assert code == 1 and "no running process with pid 999999999" in err


def _render(renderable: object) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=140, color_system=None).print(renderable)
    return buf.getvalue()


def test_the_live_view_shows_cores_memory_disk_and_gpus() -> None:
    import time

    from rigml.cli.watch import _live_view
    from rigml.machine.gpu import RecordedSource
    from rigml.machine.sampler import SystemSampler
    from rigml.machine.timeline import Timeline
    from rigml.machine.watch import WatchState

    source = RecordedSource.from_file(RECORDED / "a100_throttling.json")
    sampler = SystemSampler(gpu=source, per_core=True)
    for _ in range(5):
        time.sleep(0.02)
        sample = sampler.sample()
    state = WatchState(
        started=time.time() - 5,
        pid=1234,
        command=["python", "train.py"],
        interval=1.0,
        timeline=Timeline(),
        cores=len([k for k in sample.values if k.startswith("cpu") and k[3].isdigit()]),
        ram_total_gb=32.0,
        disk_path="/data",
        disk_total_gb=500.0,
        gpu_names={0: "A100"},
        samples=5,
    )
    text = _render(_live_view(sample, state))
    assert "watching python train.py" in text and "pid 1234" in text
    assert "cpu0" in text and "RAM" in text and "of 32.0 GiB" in text
    assert "500.0 GiB on /data" in text
    assert "gpu0 A100" in text and "1260 MHz" in text and "sw_power_cap, sw_thermal" in text

    sampler = SystemSampler(per_core=True)
    time.sleep(0.02)
    state.gpu_note = "NVML library not found: no NVIDIA driver installed"
    text = _render(_live_view(sampler.sample(), state))
    assert "no NVIDIA GPU visible: NVML library not found" in text
