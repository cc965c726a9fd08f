"""System sampler on this machine's real counters; GPUs from recordings; the sampling thread."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from rigml.machine.gpu import RecordedSource
from rigml.machine.sampler import GIB, Sample, SamplerThread, SystemSampler

RECORDED = Path(__file__).parent / "recorded"
MACHINE_KEYS = {
    "cpu_percent",
    "cpu_max_core_percent",
    "ram_used_gb",
    "ram_percent",
    "disk_free_gb",
}


def test_two_samples_of_this_machine_are_plausible(tmp_path: Path) -> None:
    sampler = SystemSampler(disk_path=str(tmp_path))
    first = sampler.sample()
    time.sleep(0.2)
    second = sampler.sample()
    assert second.time >= first.time > 0
    for sample in (first, second):
        v = sample.values
        assert 0 <= v.get("cpu_percent", 0) <= 100
        assert "ram_used_gb" in v and v["ram_used_gb"] > 0
        assert 0 < v["ram_percent"] <= 100
        assert v["disk_free_gb"] > 0
        assert v.get("swap_used_gb", 0) >= 0
        assert not any(k.startswith(("proc_", "gpu")) for k in v)
    v = second.values
    assert set(v) >= MACHINE_KEYS
    assert v["cpu_percent"] <= v["cpu_max_core_percent"] + 1e-9
    for rate in ("swap_in_mb_s", "swap_out_mb_s", "disk_read_mb_s", "disk_write_mb_s"):
        assert v.get(rate, 0.0) >= 0


def test_cpu_percent_sees_a_busy_thread() -> None:
    start = time.monotonic()
    sampler = SystemSampler(pids=[os.getpid()])
    spent = time.process_time()
    while time.process_time() - spent < 0.3:  # burn 0.3 s of CPU, however loaded the machine
        pass
    v = sampler.sample().values
    elapsed = time.monotonic() - start
    assert v["proc_cpu_percent"] / 100 * elapsed > 0.25
    # the machine as a whole was at least as busy as this process
    cores = len(psutil.cpu_times(percpu=True))
    assert v["cpu_percent"] * cores >= 0.8 * v["proc_cpu_percent"]
    assert v["cpu_max_core_percent"] > 0


@pytest.fixture
def allocating_child() -> Iterator[subprocess.Popen[str]]:
    """A real child process that allocates ~200 MiB of touched memory when told to."""
    code = (
        "import sys, time\n"
        "print('started', flush=True)\n"
        "sys.stdin.readline()\n"
        "block = b'\\x01' * (200 * 2**20)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        assert child.stdout.readline().strip() == "started"
        yield child
    finally:
        child.kill()
        child.wait(10)
        child.stdout.close()
        child.stdin.close()


def test_proc_rss_follows_the_process_tree(allocating_child: subprocess.Popen[str]) -> None:
    assert allocating_child.stdin is not None and allocating_child.stdout is not None
    sampler = SystemSampler(pids=[os.getpid()])
    before = sampler.sample().values["proc_rss_gb"]
    allocating_child.stdin.write("go\n")
    allocating_child.stdin.flush()
    assert allocating_child.stdout.readline().strip() == "ready"
    after = sampler.sample().values
    assert after["proc_rss_gb"] - before > 0.15  # 200 MiB = 0.195 GiB
    assert after["proc_cpu_percent"] >= 0

    only_child = SystemSampler(pids=[allocating_child.pid]).sample().values
    assert 0.18 < only_child["proc_rss_gb"] < after["proc_rss_gb"]


def test_dead_pids_are_skipped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    v = SystemSampler(pids=[child.pid]).sample().values
    assert v["proc_rss_gb"] == 0


def test_gpu_values_come_from_the_recording() -> None:
    sampler = SystemSampler(gpu=RecordedSource.from_file(RECORDED / "rtx3090_near_full.json"))
    v = sampler.sample().values
    assert v["gpu0/mem_used_gb"] == pytest.approx(24084 * 2**20 / GIB)
    assert v["gpu0/mem_percent"] == pytest.approx(98.0, abs=0.05)
    assert v["gpu0/util_percent"] == 97.0
    assert v["gpu0/temp_c"] == 74.0
    assert v["gpu0/power_w"] == 342.6
    assert v["gpu0/sm_clock_mhz"] == 1860.0
    assert v["gpu0/throttled"] == 1.0  # sw_power_cap
    assert v["gpu1/throttled"] == 0.0
    assert v["gpu1/mem_percent"] < 50
    assert v["gpu0/power_w"] != sampler.sample().values["gpu0/power_w"]  # next frame


def test_idle_gpu_is_not_throttled_and_a_hot_one_is() -> None:
    idle = SystemSampler(gpu=RecordedSource.from_file(RECORDED / "rtx4090_idle.json"))
    assert idle.sample().values["gpu0/throttled"] == 0.0
    hot = SystemSampler(gpu=RecordedSource.from_file(RECORDED / "a100_throttling.json"))
    flags = [hot.sample().values["gpu0/throttled"] for _ in range(8)]
    assert flags[0] == 0.0 and flags[-1] == 1.0


def test_only_reported_gpu_fields_are_emitted() -> None:
    source = RecordedSource([[{"index": 3, "temperature_c": 51}]])
    v = SystemSampler(gpu=source).sample().values
    assert {k for k in v if k.startswith("gpu")} == {"gpu3/temp_c"}


def test_sampler_cost_is_small() -> None:
    sampler = SystemSampler(
        pids=[os.getpid()], gpu=RecordedSource.from_file(RECORDED / "rtx3090_near_full.json")
    )
    start = time.process_time()
    for _ in range(20):
        sampler.sample()
    per_sample = (time.process_time() - start) / 20
    assert per_sample < 0.01  # 1% of a core at 1 Hz


# --------------------------------------------------------------------------- thread


def test_thread_collects_samples_and_stops_promptly() -> None:
    got: list[Sample] = []
    thread = SamplerThread(SystemSampler(), got.append, interval=0.05).start()
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    assert thread.stop(timeout=1.0)
    assert time.monotonic() - start < 1.0
    assert len(got) >= 3 and thread.samples >= 3
    assert thread.errors == 0 and not thread.running
    assert all(isinstance(s.values["ram_used_gb"], float) for s in got)


def test_stop_interrupts_a_long_interval() -> None:
    thread = SamplerThread(SystemSampler(), lambda s: None, interval=60).start()
    start = time.monotonic()
    assert thread.stop(timeout=1.0)
    assert time.monotonic() - start < 0.5


def test_a_raising_callback_is_counted_and_sampling_goes_on() -> None:
    calls = []

    def callback(sample: Sample) -> None:
        calls.append(sample)
        if len(calls) % 2:
            raise RuntimeError(f"boom {len(calls)}")

    with SamplerThread(SystemSampler(), callback, interval=0.02) as thread:
        deadline = time.monotonic() + 5
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert thread.running
    assert not thread.running
    assert len(calls) >= 4
    assert thread.errors >= 2
    assert isinstance(thread.last_error, RuntimeError)


def test_a_raising_sampler_is_counted() -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0
            self.event = threading.Event()

        def sample(self) -> Sample:
            self.calls += 1
            if self.calls >= 3:
                self.event.set()
            raise OSError("counter went away")

    broken = Broken()
    thread = SamplerThread(broken, lambda s: None, interval=0.01).start()
    assert broken.event.wait(5)
    assert thread.stop(1.0)
    assert thread.errors >= 3 and thread.samples == 0
    assert isinstance(thread.last_error, OSError)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval"):
        SamplerThread(SystemSampler(), lambda s: None, interval=0)


# --------------------------------------------------------------------------- cgroup reading


def test_mountinfo_and_proc_cgroup_are_parsed() -> None:
    from rigml.machine._cgroup import parse_mountinfo, parse_proc_cgroup

    mountinfo = (
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "36 31 0:33 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    assert parse_mountinfo(mountinfo) == {
        "v1": ("/sys/fs/cgroup/memory", "/docker/abc"),
        "v2": ("/sys/fs/cgroup/unified", "/"),
    }
    assert parse_proc_cgroup("4:memory:/docker/abc\n3:cpu:/\n0::/user.slice\n") == {
        1: "/docker/abc",
        2: "/user.slice",
    }


@pytest.mark.parametrize("version", [1, 2])
def test_a_cgroup_tree_gives_the_tightest_limit_less_page_cache(
    tmp_path: Path, version: int
) -> None:
    """A fake cgroup filesystem where our own group is: the parent's limit is the tighter one."""
    from rigml.machine._cgroup import CgroupMemory, parse_proc_cgroup

    path = parse_proc_cgroup(Path("/proc/self/cgroup").read_text()).get(version)
    if path is None:
        pytest.skip(f"this process has no cgroup v{version} memory group")
    group = tmp_path / "top" / "parent" / path.lstrip("/")
    group.mkdir(parents=True, exist_ok=True)
    mib = 2**20
    if version == 2:
        (group / "memory.current").write_text(f"{300 * mib}\n")
        (group / "memory.max").write_text("max\n")
        (group / "memory.stat").write_text(f"anon 1\ninactive_file {100 * mib}\n")
        (group / "memory.events").write_text("low 0\noom 2\noom_kill 1\n")
        (tmp_path / "top" / "parent" / "memory.max").write_text(f"{800 * mib}\n")
    else:
        (group / "memory.usage_in_bytes").write_text(f"{300 * mib}\n")
        (group / "memory.limit_in_bytes").write_text(f"{2**63 - 4096}\n")  # no limit
        (group / "memory.stat").write_text(f"total_inactive_file {100 * mib}\n")
        (group / "memory.oom_control").write_text("oom_kill_disable 0\noom_kill 1\n")
        (tmp_path / "top" / "parent" / "memory.limit_in_bytes").write_text(f"{800 * mib}\n")
    mount = (str(tmp_path / "top" / "parent"), "/")
    cgroup = CgroupMemory(os.getpid(), mounts={f"v{version}": mount})
    reading = cgroup.read()
    assert reading is not None and cgroup.version == version
    assert (reading.used, reading.limit, reading.oom_kills) == (200 * mib, 800 * mib, 1)

    (
        tmp_path / "top" / "parent" / ("memory.max" if version == 2 else "memory.limit_in_bytes")
    ).unlink()
    assert cgroup.read() is None  # no limit anywhere: nothing to report
