"""Doctor checks: each with controlled facts (pass / warn / fail / skip), then once for real.

GPU checks run on recorded NVML readings (tests/machine/recorded/) and hand-made GpuInfo;
subprocess facts (torch probe, pip check) run real subprocesses against stand-ins.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from rigml.errors import InvalidInput
from rigml.machine.doctor import (
    STATUSES,
    CacheFacts,
    CheckResult,
    DoctorContext,
    FdLimits,
    FolderSize,
    GpuFacts,
    MemoryFacts,
    PipCheck,
    PythonFacts,
    Thresholds,
    TorchFacts,
    TorchProbe,
    UnknownCheck,
    all_checks,
    cache_locations,
    compat_table,
    driver_requirement,
    get_check,
    measure_folder,
    parse_pip_check,
    run_checks,
    select_checks,
)
from rigml.machine.gpu import GpuInfo, GpuReading, RecordedSource
from rigml.machine.readings import DiskUsage

RECORDED = Path(__file__).parent / "recorded"
GiB = 2**30
MiB = 2**20

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


def check(check_id: str, **facts: Any) -> CheckResult:
    """Run one check against a context holding exactly the given facts."""
    (result,) = run_checks(only=[check_id], context=DoctorContext(**facts)).results
    assert result.id == check_id
    return result


def recording(name: str) -> RecordedSource:
    return RecordedSource.from_file(RECORDED / name)


def gpus(*infos: GpuInfo, readings: list[dict[str, Any]] | None = None) -> RecordedSource:
    """A recording made by hand: the inventory given, one frame of readings."""
    frame = readings or [{"index": g.index, "utilization_percent": 0.0} for g in infos]
    doc = {"gpus": [g.__dict__ for g in infos], "frames": [{"readings": frame}]}
    return RecordedSource(doc)


def disk(path: str = "/", *, total_gib: float = 1000, used_percent: float = 40) -> DiskUsage:
    total = int(total_gib * GiB)
    used = int(total * used_percent / 100)
    return DiskUsage(path, total, used, total - used, used_percent, device=1)


TORCH_CU121 = TorchFacts(True, "2.3.1+cu121", "12.1", None, "/venv/torch")
TORCH_CU124 = TorchFacts(True, "2.5.1+cu124", "12.4", None, "/venv/torch")
TORCH_CU130 = TorchFacts(True, "2.9.0+cu130", "13.0", None, "/venv/torch")
TORCH_CPU = TorchFacts(True, "2.5.1+cpu", None, None, "/venv/torch")
NO_TORCH = TorchFacts(False)


# --------------------------------------------------------------------------- registry


def test_registry_has_the_stable_ids_each_with_title_and_explanation() -> None:
    assert [c.id for c in all_checks()] == IDS
    for c in all_checks():
        assert c.title
        doc = c.doc()  # thresholds filled in: no KeyError, no braces left
        assert "Why" in doc and "{" not in doc, c.id
        assert "Fix" in doc or "fix" in doc, c.id


def test_explanations_quote_the_thresholds_in_use() -> None:
    assert "60 °C" in get_check("gpu.idle_temperature").doc()
    custom = Thresholds(idle_warn_temp_c=55)
    assert "55 °C" in get_check("gpu.idle_temperature").doc(custom)


def test_select_checks_by_id_and_group_in_registry_order() -> None:
    assert [c.id for c in select_checks(["os.fd_limit", "memory"])] == [
        "memory.swap",
        "memory.pressure",
        "os.fd_limit",
    ]
    assert len(select_checks(None)) == len(select_checks([])) == len(IDS)


def test_unknown_check_suggests_close_matches() -> None:
    with pytest.raises(UnknownCheck) as info:
        select_checks(["memory.swp"])
    assert "memory.swap" in info.value.suggestions
    assert "did you mean" in (info.value.hint or "")
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, ValueError)
    with pytest.raises(UnknownCheck) as info:
        get_check("swap")
    assert info.value.suggestions == ["memory.swap"]
    with pytest.raises(UnknownCheck) as info:
        get_check("zzzz")
    assert info.value.suggestions == [] and "os.fd_limit" in (info.value.hint or "")


# --------------------------------------------------------------------------- runner


class CrashingMemory(DoctorContext):
    def get_memory(self) -> MemoryFacts:
        raise RuntimeError("boom")


def test_a_crashing_check_becomes_skip_and_the_others_still_run() -> None:
    ctx = CrashingMemory(
        fd_limits=FdLimits(65536, 65536),
        python=PythonFacts(sys.executable, "3.11", "/venv", "/usr"),
    )
    report = run_checks(
        only=["memory.swap", "memory.pressure", "os.fd_limit", "python.virtualenv"], context=ctx
    )
    by_id = {r.id: r for r in report.results}
    for crashed in ("memory.swap", "memory.pressure"):
        assert by_id[crashed].status == "skip"
        assert by_id[crashed].summary == "check crashed: RuntimeError: boom"
        assert by_id[crashed].fix and "bug" in by_id[crashed].fix
    assert by_id["os.fd_limit"].status == "pass"
    assert by_id["python.virtualenv"].status == "pass"
    assert [r.id for r in report.results] == [
        "memory.swap",
        "memory.pressure",
        "python.virtualenv",
        "os.fd_limit",
    ]
    assert not report.failed and report.exit_code == 0


def test_report_counts_exit_code_and_json() -> None:
    ctx = DoctorContext(fd_limits=FdLimits(100, 100), memory=MemoryFacts(16 * GiB, 8 * GiB, 0, 0))
    report = run_checks(only=["os.fd_limit", "memory.swap", "memory.pressure"], context=ctx)
    assert report.counts == {"pass": 1, "warn": 1, "fail": 1, "skip": 0}
    assert report.failed and report.exit_code == 1
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and len(data["checks"]) == 3
    assert set(data["checks"][0]) >= {"id", "title", "status", "summary", "evidence", "fix"}


def test_facts_are_gathered_once_and_only_when_asked() -> None:
    calls = []

    class Counting(DoctorContext):
        def get_memory(self) -> MemoryFacts:
            calls.append(1)
            return self._fact("memory", lambda _: MemoryFacts(16 * GiB, 8 * GiB, 4 * GiB, 0))

    ctx = Counting()
    run_checks(only=["memory.swap", "memory.pressure"], context=ctx)
    assert ctx.memory is not None and ctx.caches is None and ctx.pip_check is None
    assert ctx.torch_probe is None  # no check that needs it ran


# --------------------------------------------------------------------------- disk


def test_system_disk_pass_warn_fail() -> None:
    assert check("disk.system_full", disks=[disk(used_percent=40)]).status == "pass"
    warn = check("disk.system_full", disks=[disk(used_percent=88)])
    assert warn.status == "warn" and "88% used" in warn.summary and "du -xh" in (warn.fix or "")
    small = check("disk.system_full", disks=[disk(total_gib=50, used_percent=60)])
    assert small.status == "warn"  # 20 GiB free is under 30 GiB
    assert check("disk.system_full", disks=[disk(used_percent=96)]).status == "fail"
    # 93% of 60 GiB leaves 4.2 GiB: under 5 GiB free fails before the percentage does
    assert check("disk.system_full", disks=[disk(total_gib=60, used_percent=93)]).status == "fail"


def test_system_disk_reports_the_worst_of_root_and_home() -> None:
    result = check(
        "disk.system_full", disks=[disk("/", used_percent=30), disk("/home", used_percent=97)]
    )
    assert result.status == "fail"
    assert "/home" in (result.fix or "")
    assert [d["status"] for d in result.evidence["disks"]] == ["pass", "fail"]


def size(gib: float, *, complete: bool = True, files: int = 100) -> FolderSize:
    return FolderSize(int(gib * GiB), files, complete)


def cache(name: str, gib: float, *, on_system: bool = True, **kw: Any) -> CacheFacts:
    return CacheFacts(name, f"/root/.cache/{name}", "default", True, on_system, size(gib, **kw))


def test_caches_pass_when_none_or_small_or_elsewhere() -> None:
    root = [disk(used_percent=40)]
    assert check("disk.caches_on_system", disks=root, caches=[]).summary == "no ML caches found"
    small = check("disk.caches_on_system", disks=root, caches=[cache("pip", 2.0)])
    assert small.status == "pass" and "pip 2.0 GiB" in small.summary
    away = check(
        "disk.caches_on_system", disks=root, caches=[cache("huggingface", 400, on_system=False)]
    )
    assert away.status == "pass" and "no cache on the system disk" in away.summary


def test_caches_warn_when_big_on_the_system_disk_with_a_concrete_move() -> None:
    data = [DiskUsage("/data", 4000 * GiB, 1000 * GiB, 3000 * GiB, 25.0, device=2)]
    result = check(
        "disk.caches_on_system",
        disks=[disk(used_percent=40)],
        data_disks=data,
        caches=[cache("huggingface", 120.0), cache("pip", 3.0, complete=False, files=200_000)],
    )
    assert result.status == "warn"
    assert "123.0 GiB of caches on the system disk" in result.summary
    assert "pip ≥ 3.0 GiB (partial, stopped after 200000 files)" in result.summary
    assert "export HF_HOME=/data/huggingface" in (result.fix or "")
    assert "PIP_CACHE_DIR" in (result.fix or "") and "/data has 2.9 TiB free" in (result.fix or "")
    assert "huggingface-cli delete-cache" in (result.fix or "")
    assert result.evidence["bytes_on_system_disk"] == int(120 * GiB) + int(3 * GiB)


def test_caches_warn_when_small_but_the_system_disk_is_tight() -> None:
    result = check(
        "disk.caches_on_system",
        disks=[disk(used_percent=90)],
        data_disks=[],
        caches=[cache("torch", 2.0)],
    )
    assert result.status == "warn" and "90% full" in result.summary
    assert "if the machine has a data disk" in (result.fix or "")


def test_cache_locations_follow_each_tools_variables(tmp_path: Path) -> None:
    home = str(tmp_path)
    default = {name: path for name, path, _ in cache_locations({}, home)}
    assert default["huggingface"] == os.path.realpath(f"{home}/.cache/huggingface")
    assert default["torch"] == os.path.realpath(f"{home}/.cache/torch")
    assert default["pip"] == os.path.realpath(f"{home}/.cache/pip")
    env = {
        "XDG_CACHE_HOME": f"{home}/xdg",
        "HF_HOME": f"{home}/hf",
        "HF_HUB_CACHE": f"{home}/hf/hub",  # inside HF_HOME: not counted twice
        "HF_DATASETS_CACHE": f"{home}/datasets",
        "TORCH_HOME": f"{home}/th",
        "CONDA_PKGS_DIRS": f"{home}/pkgs1,{home}/pkgs2",
    }
    found = cache_locations(env, home)
    by_name = {name: (path, by) for name, path, by in found}
    assert by_name["huggingface"] == (os.path.realpath(f"{home}/hf"), "HF_HOME")
    assert "huggingface hub" not in by_name
    assert by_name["huggingface datasets"][1] == "HF_DATASETS_CACHE"
    assert by_name["torch"] == (os.path.realpath(f"{home}/th"), "TORCH_HOME")
    assert by_name["pip"] == (os.path.realpath(f"{home}/xdg/pip"), "XDG_CACHE_HOME")
    assert [n for n, _, by in found if by == "CONDA_PKGS_DIRS"] == ["conda pkgs", "conda pkgs 2"]


def make_files(folder: Path, count: int, size: int = 10) -> None:
    for i in range(count):
        sub = folder / f"d{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.bin").write_bytes(b"x" * size)


def test_measure_folder_counts_everything_within_budget(tmp_path: Path) -> None:
    make_files(tmp_path / "c", 1200, 10)
    (tmp_path / "c" / "link").symlink_to(tmp_path / "c" / "d0" / "f0.bin")
    full = measure_folder(str(tmp_path / "c"), budget_s=60, budget_entries=10**6)
    assert full.complete and full.files == 1200 and full.bytes == 12_000
    assert full.describe() == "0 MiB"
    assert FolderSize(3 * GiB, 10, True).describe() == "3.0 GiB"


def test_measure_folder_stops_at_the_entry_budget_with_a_lower_bound(tmp_path: Path) -> None:
    make_files(tmp_path / "c", 1200, 10)
    part = measure_folder(str(tmp_path / "c"), budget_s=60, budget_entries=300)
    assert not part.complete
    assert part.files < 1200 and part.bytes == part.files * 10
    assert part.describe() == f"≥ 0 MiB (partial, stopped after {part.files} files)"


def test_measure_folder_stops_when_time_runs_out(tmp_path: Path) -> None:
    make_files(tmp_path / "c", 800, 1)
    part = measure_folder(str(tmp_path / "c"), budget_s=-1, budget_entries=10**6)
    assert not part.complete and part.entries < 800


def test_caches_are_found_and_sized_for_real(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_files(home / ".cache" / "huggingface" / "hub", 50, 1000)
    make_files(tmp_path / "torchhome", 5, 100)
    ctx = DoctorContext(environ={"TORCH_HOME": str(tmp_path / "torchhome")}, home=str(home))
    facts = {c.name: c for c in ctx.get_caches()}
    assert set(facts) == {"huggingface", "torch"}
    hf = facts["huggingface"].size
    assert hf is not None and (hf.bytes, hf.files, hf.complete) == (50_000, 50, True)
    assert facts["torch"].set_by == "TORCH_HOME" and facts["torch"].size.bytes == 500
    root_dev = os.stat(os.path.abspath(os.sep)).st_dev
    assert facts["torch"].on_system_disk == (os.stat(tmp_path).st_dev == root_dev)
    result = run_checks(only=["disk.caches_on_system"], context=ctx).results[0]
    assert result.status == "pass"


def test_caches_budget_from_thresholds_reports_partial(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_files(home / ".cache" / "pip", 400, 10)
    ctx = DoctorContext(environ={}, home=str(home), thresholds=Thresholds(cache_budget_entries=100))
    result = run_checks(only=["disk.caches_on_system"], context=ctx).results[0]
    assert "(partial, stopped after" in result.summary
    (pip,) = [c for c in result.evidence["caches"] if c["name"] == "pip"]
    assert pip["complete"] is False and pip["files"] < 400


def test_a_cache_variable_pointing_nowhere_is_reported(tmp_path: Path) -> None:
    ctx = DoctorContext(environ={"HF_HOME": str(tmp_path / "missing")}, home=str(tmp_path))
    (hf,) = [c for c in ctx.get_caches() if c.name == "huggingface"]
    assert hf.exists is False and hf.set_by == "HF_HOME"


# --------------------------------------------------------------------------- memory


def test_swap_none_in_use_and_little() -> None:
    none = check("memory.swap", memory=MemoryFacts(32 * GiB, 20 * GiB, 0, 0))
    assert none.status == "warn" and "no swap" in none.summary and "swapon" in (none.fix or "")
    used = check("memory.swap", memory=MemoryFacts(32 * GiB, 2 * GiB, 8 * GiB, 3 * GiB))
    assert used.status == "warn" and used.summary == "3.0 GiB of 8.0 GiB swap in use (38%)"
    assert "VmSwap" in (used.fix or "")
    little = check("memory.swap", memory=MemoryFacts(32 * GiB, 20 * GiB, 8 * GiB, 100 * MiB))
    assert little.status == "pass" and little.fix is None


def test_memory_pressure_from_available_and_psi() -> None:
    def mem(avail_gib: float, some: float | None = None, full: float | None = None) -> Any:
        return MemoryFacts(100 * GiB, int(avail_gib * GiB), 0, 0, some, full)

    assert check("memory.pressure", memory=mem(50, 0.0, 0.0)).status == "pass"
    assert check("memory.pressure", memory=mem(50)).status == "pass"  # no PSI: not judged by it
    assert check("memory.pressure", memory=mem(10)).status == "warn"
    failing = check("memory.pressure", memory=mem(3))
    assert failing.status == "fail" and "3.0 GiB of 100.0 GiB RAM available (3%)" in failing.summary
    assert check("memory.pressure", memory=mem(50, some=20.0)).status == "warn"
    assert check("memory.pressure", memory=mem(50, some=30.0, full=8.0)).status == "fail"


# --------------------------------------------------------------------------- compat table


def test_compat_table_names_its_source_and_date() -> None:
    table = compat_table()
    about = table["about"]
    assert "Release Notes" in about["source"] and about["written"]
    assert table["minor_version_compatibility"] == {
        "11": "450.80.02",
        "12": "525.60.13",
        "13": "580",
    }
    # rows are in order: a newer CUDA never needs an older driver
    rows = sorted(table["toolkit_driver"].items(), key=lambda kv: tuple(map(int, kv[0].split("."))))
    drivers = [tuple(int(p) for p in v.split(".")) for _, v in rows]
    assert drivers == sorted(drivers)
    for cuda in ("11.8", "12.1", "12.4", "12.6", "12.8", "12.9", "13.0"):
        assert cuda in table["toolkit_driver"]


def test_driver_requirement_lookup() -> None:
    r = driver_requirement("12.4")
    assert r and (r.minimum, r.toolkit_driver, r.minor_compat_driver) == (
        "525.60.13",
        "550.54.14",
        "525.60.13",
    )
    # 11.0's own driver is older than the 11.x minor-version minimum: the lower one counts
    assert driver_requirement("11.0").minimum == "450.51.05"  # type: ignore[union-attr]
    assert driver_requirement("13.0").minimum == "580"  # type: ignore[union-attr]


def test_driver_requirement_for_unknown_versions() -> None:
    newer_minor = driver_requirement("12.7")  # no such toolkit row: minor-version figure only
    assert newer_minor and newer_minor.toolkit_driver is None
    assert newer_minor.minimum == "525.60.13"
    assert driver_requirement("13.2").minimum == "580"  # type: ignore[union-attr]
    assert driver_requirement("14.0") is None
    assert driver_requirement("10.2") is None
    assert driver_requirement("") is None and driver_requirement("garbage") is None


# --------------------------------------------------------------------------- GPU: driver


def a100(**changes: Any) -> GpuInfo:
    (info,) = recording("a100_throttling.json").inventory()
    return GpuInfo(**{**info.__dict__, **changes})


def test_driver_check_with_recorded_a100() -> None:
    a = recording("a100_throttling.json")  # driver 535.154.05, CUDA 12.2
    ok = check("gpu.driver_vs_torch_cuda", gpu_source=a, torch=TORCH_CU121)
    assert ok.status == "pass" and ok.evidence["driver_version"] == "535.154.05"
    assert ok.evidence["table_written"]
    minor = check(
        "gpu.driver_vs_torch_cuda", gpu_source=recording("a100_throttling.json"), torch=TORCH_CU124
    )
    assert minor.status == "warn" and "minor-version compatibility" in minor.summary
    assert "550.54.14" in (minor.fix or "")
    major = check(
        "gpu.driver_vs_torch_cuda", gpu_source=recording("a100_throttling.json"), torch=TORCH_CU130
    )
    assert major.status == "fail" and "only supports CUDA 12.2" in major.summary
    assert "download.pytorch.org" in (major.fix or "")


def test_driver_too_old_for_the_major() -> None:
    old = gpus(a100(driver_version="450.51.06", cuda_driver_version="11.0"))
    result = check(
        "gpu.driver_vs_torch_cuda", gpu_source=old, torch=TorchFacts(True, "2.1.0+cu118", "11.8")
    )
    assert result.status == "fail" and "needs driver ≥ 450.80.02" in result.summary
    ok = gpus(a100(driver_version="470.82.01", cuda_driver_version="11.4"))
    within = check(
        "gpu.driver_vs_torch_cuda", gpu_source=ok, torch=TorchFacts(True, "2.1.0+cu118", "11.8")
    )
    assert within.status == "warn"  # 470 < 11.8's own 520.61.05, above 450.80.02


def test_driver_fails_on_version_even_without_nvml_cuda_figure() -> None:
    src = gpus(a100(driver_version="520.61.05", cuda_driver_version=None))
    result = check("gpu.driver_vs_torch_cuda", gpu_source=src, torch=TORCH_CU121)
    assert result.status == "fail" and "525.60.13" in result.summary


def test_driver_check_with_a_cuda_newer_than_the_table() -> None:
    torch14 = TorchFacts(True, "3.0.0+cu140", "14.0")
    old = check(
        "gpu.driver_vs_torch_cuda", gpu_source=gpus(a100(cuda_driver_version="13.0")), torch=torch14
    )
    assert old.status == "fail"  # the driver's CUDA major is older than torch's
    new = check(
        "gpu.driver_vs_torch_cuda",
        gpu_source=gpus(a100(driver_version="610.1", cuda_driver_version="14.1")),
        torch=torch14,
    )
    assert new.status == "pass"
    unknown = check(
        "gpu.driver_vs_torch_cuda",
        gpu_source=gpus(a100(driver_version="610.1", cuda_driver_version=None)),
        torch=torch14,
    )
    assert unknown.status == "skip" and "not in the compatibility table" in unknown.summary


def test_driver_check_skips_with_the_plain_reason() -> None:
    no_gpu = GpuFacts(False, "NVML library not found: no NVIDIA driver installed")
    r = check("gpu.driver_vs_torch_cuda", gpu=no_gpu, torch=TORCH_CU124)
    assert r.status == "skip" and "NVML library not found" in r.summary
    a = recording("a100_throttling.json")
    assert (
        "not installed" in check("gpu.driver_vs_torch_cuda", gpu_source=a, torch=NO_TORCH).summary
    )
    cpu = check("gpu.driver_vs_torch_cuda", gpu_source=a, torch=TORCH_CPU)
    assert cpu.status == "skip" and "CPU-only" in cpu.summary
    rocm = check(
        "gpu.driver_vs_torch_cuda", gpu_source=a, torch=TorchFacts(True, "2.5", None, "6.2")
    )
    assert rocm.status == "skip" and "ROCm" in rocm.summary
    odd = check("gpu.driver_vs_torch_cuda", gpu_source=a, torch=TorchFacts(True, "2.5", "x.y"))
    assert odd.status == "skip" and "cannot read torch's CUDA version" in odd.summary


def test_gpu_checks_skip_when_the_source_has_nothing_or_the_recording_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = RecordedSource({"frames": []})
    r = check("gpu.pcie_link", gpu_source=empty)
    assert r.status == "skip" and "has no frames" in r.summary
    monkeypatch.setenv("RIG_GPU_RECORDING", "/nonexistent/rec.json")
    r = check("gpu.power_limit")
    assert r.status == "skip" and "no GPU recording at /nonexistent/rec.json" in r.summary


# --------------------------------------------------------------------------- GPU: torch probe


def test_visible_to_torch_pass_and_fewer_gpus() -> None:
    two = recording("rtx3090_near_full.json")
    ok = check(
        "gpu.visible_to_torch",
        gpu_source=two,
        torch=TORCH_CU124,
        torch_probe=TorchProbe(True, 2),
        environ={},
    )
    assert ok.status == "pass" and "sees 2 GPU(s)" in ok.summary
    fewer = check(
        "gpu.visible_to_torch",
        gpu_source=recording("rtx3090_near_full.json"),
        torch=TORCH_CU124,
        torch_probe=TorchProbe(True, 1),
        environ={},
    )
    assert fewer.status == "warn" and "1 of the 2" in fewer.summary
    chosen = check(
        "gpu.visible_to_torch",
        gpu_source=recording("rtx3090_near_full.json"),
        torch=TORCH_CU124,
        torch_probe=TorchProbe(True, 1),
        environ={"CUDA_VISIBLE_DEVICES": "1"},
    )
    assert chosen.status == "pass" and "CUDA_VISIBLE_DEVICES=1" in chosen.summary


def test_visible_to_torch_fails_with_the_reason() -> None:
    src = recording("rtx4090_idle.json")
    cpu = check(
        "gpu.visible_to_torch",
        gpu_source=src,
        torch=TORCH_CPU,
        torch_probe=TorchProbe(False, 0),
        environ={},
    )
    assert cpu.status == "fail" and "CPU-only build" in cpu.summary
    assert "whl/cu" in (cpu.fix or "")
    hidden = check(
        "gpu.visible_to_torch",
        gpu_source=recording("rtx4090_idle.json"),
        torch=TORCH_CU124,
        torch_probe=TorchProbe(False, 0),
        environ={"CUDA_VISIBLE_DEVICES": ""},
    )
    assert hidden.status == "fail" and "hides every GPU" in hidden.summary
    warning = "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old"
    old = check(
        "gpu.visible_to_torch",
        gpu_source=recording("rtx4090_idle.json"),
        torch=TORCH_CU124,
        torch_probe=TorchProbe(False, 0, stderr_tail=warning),
        environ={},
    )
    assert old.status == "fail" and "too old" in old.summary
    broken = check(
        "gpu.visible_to_torch",
        gpu_source=recording("rtx4090_idle.json"),
        torch=TORCH_CU124,
        torch_probe=TorchProbe(None, None, "import torch failed: ImportError: x"),
        environ={},
    )
    assert broken.status == "fail" and "import torch failed" in broken.summary
    slow = check(
        "gpu.visible_to_torch",
        gpu_source=recording("rtx4090_idle.json"),
        torch=TORCH_CU124,
        torch_probe=TorchProbe(None, None, "took long", True),
        environ={},
    )
    assert slow.status == "warn"


def test_visible_to_torch_skips_without_gpu_or_torch_and_never_probes() -> None:
    ctx = DoctorContext(gpu=GpuFacts(False, "NVML library not found"), torch=TORCH_CU124)
    r = run_checks(only=["gpu.visible_to_torch"], context=ctx).results[0]
    assert r.status == "skip" and "NVML library not found" in r.summary
    assert ctx.torch_probe is None
    ctx = DoctorContext(gpu_source=recording("rtx4090_idle.json"), torch=NO_TORCH)
    r = run_checks(only=["gpu.visible_to_torch"], context=ctx).results[0]
    assert r.status == "skip" and "not installed" in r.summary and ctx.torch_probe is None


def test_visible_to_torch_runs_when_only_the_device_node_exists() -> None:
    node_only = GpuFacts(False, "NVML could not start", device_node=True)
    r = check(
        "gpu.visible_to_torch",
        gpu=node_only,
        torch=TORCH_CU124,
        torch_probe=TorchProbe(True, 1),
        environ={},
    )
    assert r.status == "pass"


def fake_python(tmp_path: Path, script: str) -> str:
    path = tmp_path / "python"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.skipif(sys.platform == "win32", reason="shell stand-in for python")
def test_torch_probe_subprocess_outcomes(tmp_path: Path) -> None:
    def probe(script: str, timeout: float = 30) -> TorchProbe:
        ctx = DoctorContext(
            python_executable=fake_python(tmp_path, script),
            thresholds=Thresholds(torch_probe_timeout_s=timeout),
        )
        return ctx.get_torch_probe()

    assert probe("echo 'True 2'") == TorchProbe(True, 2)
    seen = probe("echo 'a warning' >&2; echo 'False 0'")
    assert seen.cuda_available is False and seen.stderr_tail == "a warning"
    failed = probe("echo \"ModuleNotFoundError: No module named 'torch'\" >&2; exit 1")
    assert failed.error == "import torch failed: ModuleNotFoundError: No module named 'torch'"
    slow = probe("sleep 5", timeout=0.2)
    assert slow.timed_out and "longer than 0.2 s" in (slow.error or "")


def test_torch_probe_for_real_without_torch() -> None:
    ctx = DoctorContext()
    if ctx.get_torch().installed:
        pytest.skip("torch is installed here")
    probe = ctx.get_torch_probe()
    assert probe.cuda_available is None and "No module named 'torch'" in (probe.error or "")


def test_torch_probe_for_real_with_torch() -> None:
    ctx = DoctorContext()
    if not ctx.get_torch().installed:
        pytest.skip("torch is not installed here")
    probe = ctx.get_torch_probe()
    assert probe.error is None and probe.cuda_available is not None


# --------------------------------------------------------------------------- GPU: PCIe


def test_pcie_from_recordings() -> None:
    r = check("gpu.pcie_link", gpu_source=recording("rtx3090_near_full.json"))
    assert r.status == "warn"
    assert "GPU 1 (NVIDIA GeForce RTX 3090): gen 4 x8 of gen 4 x16" in r.summary
    assert "GPU 0" not in r.summary and "x16 slot" in (r.fix or "")
    assert check("gpu.pcie_link", gpu_source=recording("a100_throttling.json")).status == "pass"
    idle = check("gpu.pcie_link", gpu_source=recording("rtx4090_idle.json"))
    assert idle.status == "pass" and "while idle" in idle.summary  # gen 1 of 4 idling is normal


def hand_made(**changes: Any) -> GpuInfo:
    base = {
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
    return GpuInfo(**{**base, **changes})


def test_pcie_hand_made_links() -> None:
    r = check("gpu.pcie_link", gpu_source=gpus(hand_made()))
    assert r.status == "warn" and "gen 3 x8 of gen 4 x16" in r.summary
    x4 = check("gpu.pcie_link", gpu_source=gpus(hand_made(pcie_width_current=4)))
    assert x4.status == "fail"
    busy = [{"index": 0, "utilization_percent": 95.0}]
    slow_gen = gpus(hand_made(pcie_width_current=16), readings=busy)
    r = check("gpu.pcie_link", gpu_source=slow_gen)
    assert r.status == "warn" and "while 95% busy" in r.summary
    unknown = gpus(GpuInfo(index=0, name="old GPU"))
    r = check("gpu.pcie_link", gpu_source=unknown)
    assert r.status == "skip" and "PCIe" in r.summary


# --------------------------------------------------------------------------- GPU: power


def test_power_limit() -> None:
    r = check("gpu.power_limit", gpu_source=gpus(hand_made()))
    assert r.status == "warn" and "250 W of default 350 W (71%)" in r.summary
    assert "`sudo nvidia-smi -i 0 -pl 350`" in (r.fix or "")
    for name in ("a100_throttling.json", "rtx3090_near_full.json", "rtx4090_idle.json"):
        assert check("gpu.power_limit", gpu_source=recording(name)).status == "pass"
    raised = check("gpu.power_limit", gpu_source=gpus(hand_made(power_limit_w=400.0)))
    assert raised.status == "pass"
    missing = gpus(hand_made(power_limit_w=None))
    assert check("gpu.power_limit", gpu_source=missing).status == "skip"


# --------------------------------------------------------------------------- GPU: idle temperature


def test_idle_temperature() -> None:
    def at(temp: float, util: float = 0.0) -> RecordedSource:
        frame = [{"index": 0, "utilization_percent": util, "temperature_c": temp}]
        return gpus(hand_made(), readings=frame)

    hot = check("gpu.idle_temperature", gpu_source=at(80))
    assert hot.status == "fail" and "80 °C at 0% utilisation" in hot.summary
    assert "fans" in (hot.fix or "")
    assert check("gpu.idle_temperature", gpu_source=at(65)).status == "warn"
    assert check("gpu.idle_temperature", gpu_source=recording("rtx4090_idle.json")).status == "pass"
    busy = check("gpu.idle_temperature", gpu_source=recording("a100_throttling.json"))
    assert busy.status == "skip" and "busy" in busy.summary
    assert busy.evidence["busy"]
    also_busy = check("gpu.idle_temperature", gpu_source=recording("rtx3090_near_full.json"))
    assert also_busy.status == "skip"
    mixed = gpus(
        hand_made(),
        hand_made(index=1),
        readings=[
            {"index": 0, "utilization_percent": 100.0, "temperature_c": 84.0},
            {"index": 1, "utilization_percent": 0.0, "temperature_c": 38.0},
        ],
    )
    r = check("gpu.idle_temperature", gpu_source=mixed)
    assert r.status == "pass" and "GPU 1" in r.summary


# --------------------------------------------------------------------------- Python


PIP_OUTPUT = """\
fakepkg 1.0 requires nonexistent-pkg-xyz, which is not installed.
transformers 4.40.0 has requirement tokenizers<0.20,>=0.19, but you have tokenizers 0.15.2.
tensorflow-io-gcs-filesystem 0.37.1 is not supported on this platform
something pip says that nobody parses
"""


def test_parse_pip_check() -> None:
    missing, conflict, plat, other = parse_pip_check(PIP_OUTPUT)
    assert missing["kind"] == "missing" and missing["package"] == "fakepkg"
    assert missing["requirement"] == "nonexistent-pkg-xyz"
    assert conflict["kind"] == "conflict" and conflict["installed"] == "tokenizers 0.15.2"
    assert conflict["requirement"] == "tokenizers<0.20,>=0.19"
    assert plat["kind"] == "platform" and plat["version"] == "0.37.1"
    assert other == {"kind": "other", "line": "something pip says that nobody parses"}
    assert parse_pip_check("No broken requirements found.\n") == []


def test_pip_check_verdicts() -> None:
    ok = check("python.pip_check", pip_check=PipCheck(0))
    assert ok.status == "pass"
    problems = tuple(parse_pip_check(PIP_OUTPUT))
    failing = check("python.pip_check", pip_check=PipCheck(1, problems))
    assert failing.status == "fail" and "1 missing requirement(s)" in failing.summary
    assert failing.fix == 'install what is missing: `pip install "nonexistent-pkg-xyz"`'
    assert len(failing.evidence["problems"]) == 4
    conflicts = check("python.pip_check", pip_check=PipCheck(1, problems[1:2]))
    assert conflicts.status == "warn" and "tokenizers 0.15.2" in conflicts.summary
    no_pip = check(
        "python.pip_check", pip_check=PipCheck(1, error="pip is not installed in this environment")
    )
    assert no_pip.status == "skip" and "uv pip check" in no_pip.summary


def test_pip_check_for_real_finds_a_broken_requirement(tmp_path: Path) -> None:
    dist = tmp_path / "site" / "fakepkg-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n"
        "Requires-Dist: nonexistent-pkg-xyz>=1\n"
    )
    environ = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = check("python.pip_check", environ=environ)
    assert result.status == "fail", result
    (problem,) = [p for p in result.evidence["problems"] if p.get("package") == "fakepkg"]
    assert problem["kind"] == "missing" and problem["requirement"].startswith("nonexistent-pkg-xyz")


def test_virtualenv_verdicts() -> None:
    venv = PythonFacts("/p/.venv/bin/python", "3.11", "/p/.venv", "/usr")
    assert check("python.virtualenv", python=venv).status == "pass"
    system = PythonFacts("/usr/bin/python3", "3.11", "/usr", "/usr")
    r = check("python.virtualenv", python=system)
    assert r.status == "warn" and "system Python" in r.summary and "venv" in (r.fix or "")
    base = PythonFacts(
        "/opt/conda/bin/python",
        "3.11",
        "/opt/conda",
        "/opt/conda",
        conda_prefix="/opt/conda",
        conda_env="base",
    )
    assert check("python.virtualenv", python=base).status == "warn"
    named = PythonFacts(
        "/opt/conda/envs/ml/bin/python",
        "3.11",
        "/opt/conda/envs/ml",
        "/opt/conda/envs/ml",
        conda_prefix="/opt/conda/envs/ml",
        conda_env="ml",
    )
    r = check("python.virtualenv", python=named)
    assert r.status == "pass" and "conda environment ml" in r.summary


# --------------------------------------------------------------------------- OS


def test_fd_limit_verdicts() -> None:
    assert check("os.fd_limit", fd_limits=FdLimits(65536, 65536)).status == "pass"
    assert check("os.fd_limit", fd_limits=FdLimits(None, None)).status == "pass"
    default = check("os.fd_limit", fd_limits=FdLimits(1024, 1048576))
    assert default.status == "warn" and default.fix == "`ulimit -n 65536` (add it to ~/.bashrc)"
    capped = check("os.fd_limit", fd_limits=FdLimits(2048, 2048))
    assert capped.status == "warn" and "limits.conf" in (capped.fix or "")
    mac = check("os.fd_limit", fd_limits=FdLimits(256, None))
    assert mac.status == "fail" and mac.summary == "soft limit 256, hard limit unlimited"


def test_fd_limit_skips_where_there_is_no_resource_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "resource", None)
    r = check("os.fd_limit", system="Windows")
    assert r.status == "skip" and "Windows has no POSIX open-files limit" in r.summary


# --------------------------------------------------------------------------- for real


def test_every_check_runs_for_real_on_this_machine() -> None:
    from rigml.machine.gpu import default_source

    report = run_checks()
    assert [r.id for r in report.results] == IDS
    for r in report.results:
        assert r.status in STATUSES
        assert not r.summary.startswith("check crashed"), r
        assert r.summary
        if r.status in ("warn", "fail"):
            assert r.fix, r.id
    json.dumps(report.to_dict())
    assert report.exit_code == (1 if any(r.status == "fail" for r in report.results) else 0)
    if not default_source().available():  # no GPU here: every GPU check says why
        reason = default_source().why_unavailable()
        for r in report.results:
            if r.id.startswith("gpu."):
                assert r.status == "skip" and reason in r.summary
    by_id = {r.id: r for r in report.results}
    assert by_id["python.virtualenv"].status in ("pass", "warn")
    assert by_id["disk.system_full"].evidence["disks"][0]["path"] == os.path.abspath(os.sep)


def test_real_facts_have_the_expected_shapes() -> None:
    ctx = DoctorContext()
    mem = ctx.get_memory()
    assert mem.total > 0 and 0 <= mem.available <= mem.total
    root = ctx.get_disks()[0]
    assert root.total >= root.free > 0
    py = ctx.get_python()
    assert py.executable == sys.executable
    if sys.platform != "win32":
        limits = ctx.get_fd_limits()
        assert limits.soft is None or limits.soft > 0
    assert isinstance(ctx.get_gpu(), GpuFacts)
    assert isinstance(ctx.get_torch(), TorchFacts)


def test_gpu_reading_shapes_used_by_the_checks() -> None:
    # the recordings carry what the checks read; a reading without temperature is skipped
    src = gpus(hand_made(), readings=[{"index": 0, "utilization_percent": 0.0}])
    assert src.read() == [GpuReading(index=0, utilization_percent=0.0)]
    assert check("gpu.idle_temperature", gpu_source=src).status == "skip"
