"""``watch`` on real workloads of this machine; GPUs from recordings.

Each workload causes the bottleneck it is named after: a CPU-bound loop on every core, a
writer filling a small tmpfs, a process allocating memory in a memory-limited cgroup.
Assertions are on findings and content, never on durations.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rigml.errors import InvalidInput
from rigml.machine.gpu import GpuInfo, GpuReading, NvmlSource, RecordedSource
from rigml.machine.sampler import Sample, SystemSampler
from rigml.machine.timeline import Timeline
from rigml.machine.watch import (
    CommandNotFound,
    ProcessNotFound,
    WatchResult,
    WatchState,
    watch,
)

RECORDED = Path(__file__).parent / "recorded"
PY = sys.executable


class NoGpu:
    """A GPU source with nothing to read, as on a machine without NVIDIA GPUs."""

    def available(self) -> bool:
        return False

    def why_unavailable(self) -> str:
        return "no NVIDIA GPU in this test"

    def inventory(self) -> list[GpuInfo]:
        return []

    def read(self) -> list[GpuReading]:
        return []

    def close(self) -> None:
        pass


def py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def run(
    tmp_path: Path, command: list[str] | None = None, **kwargs: Any
) -> tuple[WatchResult, list[tuple[str, str]]]:
    out: list[tuple[str, str]] = []
    kwargs.setdefault("gpu", NoGpu())
    kwargs.setdefault("interval", 0.2)
    result = watch(
        command,
        output_dir=tmp_path / "watch",
        echo=lambda stream, text: out.append((stream, text)),
        **kwargs,
    )
    return result, out


def ids(result: WatchResult) -> list[str]:
    return [f.id for f in result.findings]


def finding(result: WatchResult, rule: str) -> Any:
    found = [f for f in result.findings if f.id == rule]
    assert found, f"no {rule} among {ids(result)}; notes {result.notes}"
    return found[0]


# --------------------------------------------------------------------------- workloads


def test_a_cpu_bound_loop_on_every_core_is_cpu_bound(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path,
        py(
            """
            import os, time
            kids = []
            for _ in range((os.cpu_count() or 1) - 1):
                pid = os.fork()
                if pid == 0:
                    kids = None
                    break
                kids.append(pid)
            end = time.time() + 4
            while time.time() < end:
                pass
            for k in kids or []:
                os.waitpid(k, 0)
            """
        ),
    )
    assert result.exit_code == 0
    f = finding(result, "cpu_bound")
    cores = os.cpu_count()
    assert f.constraint == "cpu" and f"all {cores} cores ≥ 90% busy" in f.evidence[0]
    assert "cores on average" in f.evidence[1]
    assert f.numbers["workload_cores_mean"] > 0
    assert len(result.timeline.core_names()) == cores


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs, mounted for the test (needs root)."""
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


WRITER = """
import os, sys, time
path = os.path.join(sys.argv[1], "fill.bin")
chunk = b"\\x01" * (2 << 20)
with open(path, "wb") as fh:
    for _ in range(int(sys.argv[2])):
        fh.write(chunk)
        fh.flush()
        time.sleep(float(sys.argv[3]))
time.sleep(0.6)
"""


def test_a_writer_filling_a_small_disk_gets_minutes_to_full(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    result, _ = run(tmp_path, [*py(WRITER), str(small_tmpfs), "24", "0.14"], disk_path=small_tmpfs)
    assert result.exit_code == 0
    f = finding(result, "disk_filling")
    assert f.constraint == "storage" and str(small_tmpfs) in f.title
    assert "64.0 MiB in all" in f.evidence[0] and "by a linear fit" in f.evidence[0]
    assert "at that rate it is full in" in f.evidence[1]
    assert 0 < f.numbers["minutes_to_full"] < 5
    assert 0.1 < f.numbers["rate_gb_per_min"] < 10
    assert f.numbers["total_gb"] == pytest.approx(0.0625)


def test_a_writer_that_fills_the_disk_is_told_so(tmp_path: Path, small_tmpfs: Path) -> None:
    result, out = run(
        tmp_path, [*py(WRITER), str(small_tmpfs), "100", "0.1"], disk_path=small_tmpfs
    )
    assert result.exit_code == 1  # the OSError traceback
    assert "No space left on device" in "".join(text for stream, text in out if stream == "stderr")
    f = finding(result, "disk_filling")
    assert f.severity == "critical" and "filled up" in f.title
    assert f.numbers["minutes_to_full"] == 0
    assert any("No space left on device" in e for e in f.evidence)
    assert result.context.no_space_at is not None


@pytest.fixture
def memory_cgroup() -> Iterator[tuple[Path, int]]:
    """A memory cgroup limited to 128 MiB (v2, else v1); yields its cgroup.procs and limit."""
    limit = 128 << 20
    name = f"rigml-test-{uuid.uuid4().hex[:8]}"
    root_v2 = Path("/sys/fs/cgroup")
    try:
        if (root_v2 / "cgroup.controllers").is_file():
            control = root_v2 / "cgroup.subtree_control"
            if "memory" not in control.read_text().split():
                control.write_text("+memory")
            group = root_v2 / name
            group.mkdir()
            (group / "memory.max").write_text(str(limit))
            with contextlib.suppress(OSError):
                (group / "memory.swap.max").write_text("0")
        elif Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").is_file():
            group = Path("/sys/fs/cgroup/memory") / name
            group.mkdir()
            (group / "memory.limit_in_bytes").write_text(str(limit))
            with contextlib.suppress(OSError):
                (group / "memory.memsw.limit_in_bytes").write_text(str(limit))
        else:
            pytest.skip("no memory cgroup controller mounted at /sys/fs/cgroup")
    except OSError as exc:
        pytest.skip(f"cannot create a memory cgroup here: {exc}")
    try:
        yield group / "cgroup.procs", limit
    finally:
        for _ in range(50):
            with contextlib.suppress(OSError, ValueError):
                for pid in (group / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


HOG = """
import time
held = []
for _ in range(100):
    held.append(b"\\x01" * (8 << 20))
    time.sleep(0.1)
print("survived", flush=True)
"""


def test_a_process_over_its_cgroup_limit_is_found_oom_killed(
    tmp_path: Path, memory_cgroup: tuple[Path, int]
) -> None:
    procs, limit = memory_cgroup
    command = ["sh", "-c", f'echo $$ > {procs} && exec "$0" "$@"', *py(HOG)]
    result, out = run(tmp_path, command)
    assert "survived" not in "".join(text for _, text in out)
    assert result.exit_code == 137 and result.signal == signal.SIGKILL
    f = finding(result, "ram_pressure")
    assert f.constraint == "ram" and f.severity == "critical"
    assert f.numbers["oom_kills"] >= 1
    assert f.numbers["cgroup_limit_gb"] == pytest.approx(limit / 2**30)
    text = " ".join(f.evidence)
    assert "oom_kill count went from 0 to" in text and "exit code 137" in text
    assert "128.0 MiB" in f.first_fix
    assert result.summary["cgroup_mem_percent"].peak > 50


# --------------------------------------------------------------------------- modes


def test_attach_to_a_running_process(tmp_path: Path) -> None:
    child = subprocess.Popen(py("import time; held = b'1' * (64 << 20); time.sleep(1.5)"))
    try:
        result, out = run(tmp_path, pid=child.pid)
    finally:
        child.wait(10)
    assert out == [] and result.command is None
    assert result.exit_code is None and result.pid == child.pid
    assert len(result.timeline) >= 3
    assert result.summary["proc_rss_gb"].peak > 0.05
    assert Path(result.files["timeline"]).is_file()


def test_a_crashing_workload_keeps_its_timeline(tmp_path: Path) -> None:
    result, out = run(
        tmp_path,
        py(
            """
            import time
            print("step 1", flush=True)
            time.sleep(0.7)
            raise RuntimeError("diverged")
            """
        ),
    )
    assert result.exit_code == 1
    assert "".join(t for s, t in out if s == "stdout") == "step 1\n"
    assert "RuntimeError: diverged" in "".join(t for s, t in out if s == "stderr")
    saved = Timeline.load(tmp_path / "watch" / "timeline.parquet")
    assert len(saved) >= 2 and "cpu_percent" in saved.names
    assert "RuntimeError" in saved.meta["command"] and saved.meta["pid"] == result.pid
    doc = json.loads((tmp_path / "watch" / "findings.json").read_text())
    assert doc["exit_code"] == 1 and doc["samples"] == len(saved)
    assert (tmp_path / "watch" / "timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_a_workload_killed_by_a_signal(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path, py("import os, signal, time; time.sleep(0.5); os.kill(os.getpid(), 9)")
    )
    assert result.exit_code == 137 and result.signal == 9
    assert Timeline.load(result.files["timeline"]).names


def test_sigterm_is_forwarded_to_the_workload(tmp_path: Path) -> None:
    def on_sample(sample: Sample, state: WatchState) -> None:
        if state.samples == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    result, _ = run(tmp_path, py("import time; time.sleep(30)"), on_sample=on_sample)
    assert result.interrupted and result.signal == signal.SIGTERM and result.exit_code == 143


def test_ctrl_c_ends_an_attached_watch_and_leaves_the_process_alone(tmp_path: Path) -> None:
    child = subprocess.Popen(py("import time; time.sleep(30)"))

    def on_sample(sample: Sample, state: WatchState) -> None:
        if state.samples == 2:
            os.kill(os.getpid(), signal.SIGINT)

    try:
        result, _ = run(tmp_path, pid=child.pid, on_sample=on_sample)
        assert result.interrupted and result.exit_code is None
        assert child.poll() is None  # attach mode never signals the process it watches
        assert len(result.timeline) >= 2
    finally:
        child.kill()
        child.wait(10)


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="either a command"):
        watch(output_dir=tmp_path)
    with pytest.raises(InvalidInput, match="either a command"):
        watch(["true"], pid=1, output_dir=tmp_path)
    with pytest.raises(InvalidInput, match="positive"):
        watch(["true"], interval=0, output_dir=tmp_path)
    with pytest.raises(InvalidInput, match="no such folder"):
        watch(["true"], disk_path=tmp_path / "nowhere", output_dir=tmp_path, gpu=NoGpu())
    with pytest.raises(CommandNotFound) as info:
        watch(["no-such-command-rig"], output_dir=tmp_path, gpu=NoGpu())
    assert info.value.exit_code == 127
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(ProcessNotFound):
        watch(pid=gone.pid, output_dir=tmp_path, gpu=NoGpu())


def test_the_output_folder_follows_the_output_rules(tmp_path: Path) -> None:
    """A missing parent, a file in the way or an unwritable place stop the watch before the
    workload starts; the parents of a folder rigml chose are made."""
    from rigml.errors import OutputNotWritable

    marker = tmp_path / "ran"
    touch = py(f"open({str(marker)!r}, 'w').close()")
    with pytest.raises(OutputNotWritable, match="does not exist") as info:
        watch(touch, output_dir=tmp_path / "missing" / "out", gpu=NoGpu())
    assert info.value.hint and "create" in info.value.hint
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputNotWritable, match="it is a file"):
        watch(touch, output_dir=tmp_path / "file", gpu=NoGpu())
    with pytest.raises(OutputNotWritable, match="is a file"):
        watch(touch, output_dir=tmp_path / "file" / "out", gpu=NoGpu())
    with pytest.raises(OutputNotWritable, match="/proc"):
        watch(touch, output_dir="/proc/rig-watch-test", gpu=NoGpu())
    assert not marker.exists() and not (tmp_path / "missing").exists()

    result = watch(
        touch,
        output_dir=tmp_path / "lab" / "watch" / "one",
        parents=True,
        gpu=NoGpu(),
        interval=0.2,
    )
    assert marker.exists() and result.output_dir == tmp_path / "lab" / "watch" / "one"
    assert (result.output_dir / "findings.json").is_file()
    assert not [p for p in result.output_dir.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- GPUs


def test_a_recorded_throttling_gpu_is_diagnosed(tmp_path: Path) -> None:
    source = RecordedSource.from_file(RECORDED / "a100_throttling.json")
    result, _ = run(tmp_path, py("import time; time.sleep(3.6)"), gpu=source)
    assert result.gpu_note is None
    assert result.context.gpu_names == {0: "NVIDIA A100-SXM4-40GB"}
    f = finding(result, "thermal_throttling")
    assert "1410 MHz" in f.evidence[0] and "sw_thermal" in f.evidence[1]
    assert "power_throttling" in ids(result)
    assert "gpu0/throttle_reasons" in result.timeline.label_names
    doc = json.loads(Path(result.files["findings"]).read_text())
    assert doc["gpu"]["names"] == {"0": "NVIDIA A100-SXM4-40GB"}
    assert {f["id"] for f in doc["findings"]} >= {"thermal_throttling", "power_throttling"}


def test_a_cuda_oom_in_the_output_is_tied_to_near_full_memory(tmp_path: Path) -> None:
    source = RecordedSource.from_file(RECORDED / "rtx3090_near_full.json")
    code = """
        import sys, time
        time.sleep(0.8)
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.50 GiB. "
              "GPU 0 has a total capacity of 23.69 GiB", file=sys.stderr)
        sys.exit(1)
        """
    result, _ = run(tmp_path, py(code), gpu=source)
    f = finding(result, "vram_exhausted")
    assert f.severity == "critical" and f.numbers["tried_to_allocate_gb"] == 1.5
    assert "gpu0 (NVIDIA GeForce RTX 3090) memory 98.0%" in f.evidence[0]
    assert "CUDA out-of-memory error at" in f.evidence[0]


class _Nvml:
    """A stand-in NVML binding whose start fails as it does without a driver."""

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(f"NVML error {value}")
            self.value = value

    NVML_ERROR_LIBRARY_NOT_FOUND = 12

    def nvmlInit(self) -> None:
        raise self.NVMLError(12)


class _Exploding(NoGpu):
    def available(self) -> bool:
        return True

    def why_unavailable(self) -> None:
        return None

    def read(self) -> list[GpuReading]:
        raise RuntimeError("GPU fell off the bus")


def test_no_nvml_or_a_failing_gpu_is_said_plainly(tmp_path: Path) -> None:
    result, _ = run(tmp_path, py("import time; time.sleep(0.5)"), gpu=NvmlSource(nvml=_Nvml()))
    assert result.gpu_note is not None and "NVML library not found" in result.gpu_note
    assert result.timeline.gpu_indices() == []
    doc = json.loads(Path(result.files["findings"]).read_text())
    assert doc["gpu"] == {"available": False, "reason": result.gpu_note, "names": {}}

    result, _ = run(tmp_path, py("import time; time.sleep(0.5)"), gpu=_Exploding())
    assert result.exit_code == 0 and len(result.timeline) >= 2
    assert any("GPU fell off the bus" in n for n in result.notes)
    assert "cpu_percent" in result.timeline.names


# --------------------------------------------------------------------------- sampler


def test_sampler_extensions_per_core_and_gpu_extras() -> None:
    source = RecordedSource.from_file(RECORDED / "a100_throttling.json")
    sampler = SystemSampler(gpu=source, per_core=True)
    samples = []
    for _ in range(5):
        time.sleep(0.05)  # rates need time to pass between samples
        samples.append(sampler.sample())
    v = samples[-1].values
    cores = os.cpu_count() or 1
    assert all(f"cpu{i}_percent" in v for i in range(cores))
    assert max(v[f"cpu{i}_percent"] for i in range(cores)) == v["cpu_max_core_percent"]
    assert 0 <= v["cpu_iowait_percent"] <= 100
    assert v["gpu0/mem_clock_mhz"] == 1215.0
    assert samples[0].extra["gpu0/throttle_reasons"] == ()
    assert samples[4].extra["gpu0/throttle_reasons"] == ("sw_power_cap", "sw_thermal")
    plain = SystemSampler().sample()  # the defaults tracking uses stay as they were
    assert not any(k.startswith(("cpu0_", "cgroup_")) for k in plain.values)
    assert plain.extra == {}


def test_sampler_reports_a_limited_cgroup(memory_cgroup: tuple[Path, int]) -> None:
    procs, limit = memory_cgroup
    child = subprocess.Popen(
        ["sh", "-c", f"echo $$ > {procs} && exec {PY} -c 'import time; time.sleep(30)'"]
    )
    try:
        deadline = time.monotonic() + 10
        while str(child.pid) not in procs.read_text().split():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        v = SystemSampler(cgroup_pid=child.pid).sample().values
    finally:
        child.kill()
        child.wait(10)
    assert v["cgroup_mem_limit_gb"] == pytest.approx(limit / 2**30)
    assert 0 < v["cgroup_mem_percent"] < 100 and v["cgroup_oom_kills"] == 0
