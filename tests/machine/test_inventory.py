"""Machine inventory: real readings of this machine, GPUs from recordings, fake sysfs trees
and fake tools on PATH for the parts this machine does not have."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

import rigml.machine
from rigml.machine.gpu import NvmlSource, RecordedSource
from rigml.machine.inventory import (
    CONTAINER_RUNTIMES,
    INSTRUCTION_SETS,
    ML_PACKAGES,
    SCHEMA_VERSION,
    Inventory,
    _chassis,
    chassis_kind,
    inventory,
    parse_rocm_smi,
)
from rigml.machine.readings import _amd, _disks

RECORDED = Path(__file__).parent / "recorded"
LINUX = sys.platform.startswith("linux")
SLEEP = shutil.which("sleep") or "/bin/sleep"


def recording(name: str) -> RecordedSource:
    return RecordedSource.from_file(RECORDED / name)


def no_gpu() -> RecordedSource:
    return RecordedSource({"frames": []}, where="empty.json")


def tool(folder: Path, name: str, script: str) -> Path:
    """An executable shell script called ``name`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


# --------------------------------------------------------------------------- this machine


def test_this_machine_is_read_for_real() -> None:
    inv = inventory(gpu=no_gpu())
    assert isinstance(inv, Inventory) and inv.schema_version == SCHEMA_VERSION == 1
    assert inv.system.hostname and inv.system.os and inv.system.arch
    assert inv.system.python == ".".join(map(str, sys.version_info[:3]))
    assert inv.chassis.kind in {"laptop", "desktop", "server", "unknown"}
    assert inv.chassis.reason
    assert inv.cpu.logical_cores == psutil.cpu_count()
    assert inv.cpu.physical_cores is None or 0 < inv.cpu.physical_cores <= inv.cpu.logical_cores
    assert set(inv.cpu.instruction_sets) <= set(INSTRUCTION_SETS.values())
    assert inv.memory.total_bytes == psutil.virtual_memory().total
    assert 0 < inv.memory.available_bytes <= inv.memory.total_bytes
    if LINUX:
        assert inv.system.kernel
        assert isinstance(inv.cpu.flags, list)
        assert [INSTRUCTION_SETS[f] for f in inv.cpu.flags] == inv.cpu.instruction_sets
        assert inv.disks, "a Linux machine has at least one local filesystem"
    for d in inv.disks:
        assert 0 <= d.free_bytes <= d.total_bytes
        assert d.kind in {"nvme", "ssd", "hdd", "virtual", "unknown"}
        assert d.fstype not in {"tmpfs", "overlay", "squashfs", "proc"}
    mounts = [d.mountpoint for d in inv.disks]
    assert mounts == sorted(mounts) and len(set(mounts)) == len(mounts)


def test_the_root_filesystem_is_listed_with_its_disk() -> None:
    if not LINUX:
        pytest.skip("Linux only")
    root = next((p for p in psutil.disk_partitions() if p.mountpoint == "/"), None)
    if root is None or root.fstype in {"overlay", "tmpfs"}:
        pytest.skip("/ is not a block device here")
    disk = next(d for d in inventory(gpu=no_gpu()).disks if d.device == root.device)
    assert disk.total_bytes == psutil.disk_usage("/").total
    assert disk.parent is None or Path("/sys/class/block", disk.parent).exists()


def test_software_is_read_without_importing_frameworks() -> None:
    before = set(sys.modules)
    sw = inventory(gpu=no_gpu()).software
    assert "torch" not in set(sys.modules) - before
    assert list(sw.ml_packages) == list(ML_PACKAGES)
    assert sw.ml_packages["numpy"] == version("numpy")
    assert all(
        r.name in CONTAINER_RUNTIMES and Path(r.path).exists() for r in sw.container_runtimes
    )


def test_to_dict_is_json_with_the_schema_version_first() -> None:
    data = inventory(gpu=recording("rtx4090_idle.json")).to_dict()
    assert next(iter(data)) == "schema_version" and data["schema_version"] == 1
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {
        "schema_version",
        "captured_at",
        "system",
        "chassis",
        "cpu",
        "memory",
        "disks",
        "gpus",
        "software",
        "notes",
    }


def test_every_field_is_in_the_schema_document() -> None:
    doc = (Path(rigml.machine.__file__).parent / "schema.md").read_text()
    data = inventory(gpu=recording("rtx4090_idle.json")).to_dict()
    amd = parse_rocm_smi((RECORDED / "rocm_smi_rx7900xt.txt").read_text())[0]
    keys = set(data) | set(amd.__dict__)
    for section in ("system", "chassis", "cpu", "memory", "gpus", "software"):
        keys |= set(data[section])
    keys |= set(data["gpus"]["nvidia"][0])
    if data["disks"]:
        keys |= set(data["disks"][0])
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"fields not documented in schema.md: {missing}"


# --------------------------------------------------------------------------- NVIDIA


def test_nvidia_gpus_come_from_the_source() -> None:
    src = recording("rtx4090_idle.json")
    first = src.read()[0]
    src.reset()
    (gpu,) = inventory(gpu=src).gpus.nvidia
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.memory_total_bytes == 25757220864
    assert gpu.memory_used_bytes == first.memory_used
    assert gpu.memory_free_bytes == gpu.memory_total_bytes - first.memory_used
    assert (gpu.driver_version, gpu.cuda_driver_version) == ("550.54.14", "12.4")
    assert gpu.compute_capability == "8.9"
    assert (gpu.pcie_gen_current, gpu.pcie_gen_max) == (1, 4)
    assert (gpu.pcie_width_current, gpu.pcie_width_max) == (16, 16)
    assert (gpu.power_limit_w, gpu.power_default_limit_w) == (450.0, 450.0)
    assert gpu.temperature_c == first.temperature_c
    assert inventory(gpu=src).gpus.nvidia_note is None


def test_rig_gpu_recording_replaces_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx3090_near_full.json"))
    gpus = inventory().gpus.nvidia
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 3090"] * 2
    assert gpus[1].pcie_width_current == 8


def test_a_missing_recording_is_a_note_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", "/nowhere/gpu.json")
    gpus = inventory().gpus
    assert gpus.nvidia == [] and "no GPU recording at /nowhere/gpu.json" in gpus.nvidia_note


class _NvmlError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


def test_without_a_driver_the_gpu_section_says_why() -> None:
    def init() -> None:
        raise _NvmlError(12)  # NVML_ERROR_LIBRARY_NOT_FOUND

    nvml = SimpleNamespace(NVMLError=_NvmlError, nvmlInit=init, NVML_ERROR_LIBRARY_NOT_FOUND=12)
    gpus = inventory(gpu=NvmlSource(nvml=nvml)).gpus
    assert gpus.nvidia == []
    assert gpus.nvidia_note.startswith("NVML library not found")


def test_a_source_that_breaks_is_reported_not_raised() -> None:
    class Broken:
        def available(self) -> bool:
            return True

        def why_unavailable(self) -> None:
            return None

        def inventory(self) -> list:
            raise RuntimeError("driver fell over")

        def read(self) -> list:
            return []

        def close(self) -> None:
            pass

    gpus = inventory(gpu=Broken()).gpus
    assert gpus.nvidia == []
    assert gpus.nvidia_note == "reading the NVIDIA GPUs failed: RuntimeError: driver fell over"


def test_this_machine_reads_nvml_or_says_why() -> None:
    gpus = inventory().gpus
    assert gpus.nvidia or gpus.nvidia_note


# --------------------------------------------------------------------------- AMD


def test_rocm_smi_output_is_parsed_past_its_warnings() -> None:
    gpus = parse_rocm_smi((RECORDED / "rocm_smi_rx7900xt.txt").read_text())
    assert [g.card for g in gpus] == ["card0", "card1"]
    big, igpu = gpus
    assert big.name == "Radeon RX 7900 XT" and big.gfx_version == "gfx1100"
    assert big.vendor == "Advanced Micro Devices, Inc. [AMD/ATI]"
    assert big.memory_total_bytes == 21458059264
    assert big.memory_free_bytes == 21458059264 - 27856896
    assert igpu.name == "Raphael" and igpu.memory_total_bytes == 64 * 2**20


def test_older_rocm_smi_keys_and_missing_values() -> None:
    gpus = parse_rocm_smi((RECORDED / "rocm_smi_mi100_old.txt").read_text())
    assert [g.index for g in gpus] == [0, 1]  # "system" is not a card
    assert gpus[0].name == "Arcturus GL-XL [AMD Instinct MI100]"
    assert gpus[0].memory_used_bytes is None and gpus[0].memory_free_bytes is None
    assert gpus[1].memory_used_bytes == 7593984
    assert gpus[0].gfx_version is None


@pytest.mark.parametrize("text", ["", "ERROR: no GPUs found", "{not json", "[1, 2]"])
def test_rocm_smi_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rocm_smi(text)


def test_rocm_smi_cards_with_odd_shapes_are_skipped() -> None:
    text = json.dumps({"card0": "N/A", "cardX": {}, "card2": {"Device Name": "Phoenix3"}})
    (gpu,) = parse_rocm_smi(text)
    assert (gpu.index, gpu.name, gpu.memory_total_bytes) == (2, "Phoenix3", None)


def test_rocm_smi_on_path_is_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = RECORDED / "rocm_smi_rx7900xt.txt"
    tool(tmp_path / "bin", "rocm-smi", f'cat "{sample}"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    gpus = inventory(gpu=no_gpu()).gpus
    assert [g.name for g in gpus.amd] == ["Radeon RX 7900 XT", "Raphael"]
    assert gpus.amd_note is None


def test_a_failing_rocm_smi_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool(tmp_path / "bin", "rocm-smi", 'echo "ERROR: driver not initialized" >&2; exit 2')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    gpus = inventory(gpu=no_gpu()).gpus
    assert gpus.amd == []
    assert "exit 2" in gpus.amd_note and "driver not initialized" in gpus.amd_note


def test_a_hanging_rocm_smi_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool(tmp_path / "bin", "rocm-smi", f"exec {SLEEP} 30")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    gpus = inventory(gpu=no_gpu()).gpus
    assert gpus.amd == [] and "did not answer" in gpus.amd_note


def test_an_amd_gpu_without_rocm_smi_is_mentioned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = tmp_path / "drm" / "card0" / "device"
    card.mkdir(parents=True)
    (card / "vendor").write_text("0x1002\n")
    monkeypatch.setattr(_amd, "_SYS_DRM", tmp_path / "drm")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    note = inventory(gpu=no_gpu()).gpus.amd_note
    assert note and "rocm-smi is not installed" in note


# --------------------------------------------------------------------------- software


def test_container_runtimes_are_found_with_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_ = tmp_path / "bin"
    tool(bin_, "podman", 'echo "podman version 4.9.3"')
    tool(bin_, "nvidia-ctk", 'echo "NVIDIA Container Toolkit CLI version 1.14.6"; echo "commit: x"')
    tool(bin_, "apptainer", f"exec {SLEEP} 30")  # present but hangs: listed without a version
    monkeypatch.setenv("PATH", str(bin_))
    runtimes = {r.name: r for r in inventory(gpu=no_gpu()).software.container_runtimes}
    assert set(runtimes) == {"podman", "nvidia-ctk", "apptainer"}
    assert runtimes["podman"].version == "4.9.3"
    assert runtimes["nvidia-ctk"].version == "1.14.6"
    assert runtimes["apptainer"].version is None
    assert runtimes["podman"].path == str(bin_ / "podman")


def test_torch_and_its_cuda_build_are_read_from_its_version_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "site" / "torch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('torch must not be imported')\n")
    (pkg / "version.py").write_text(
        "from typing import Optional\n__version__ = '2.3.1+cu121'\n"
        "cuda: Optional[str] = '12.1'\nhip: Optional[str] = None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)  # an earlier test imported the real one
    sw = inventory(gpu=no_gpu()).software
    assert sw.torch == {"version": "2.3.1+cu121", "cuda": "12.1", "hip": None}
    assert "torch" not in sys.modules


def test_the_cuda_toolkit_is_found_from_cuda_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "cuda-12.4"
    (home / "nvvm").mkdir(parents=True)
    (home / "version.json").write_text(json.dumps({"cuda": {"version": "12.4.1"}}))
    monkeypatch.setenv("CUDA_HOME", str(home))
    toolkit = inventory(gpu=no_gpu()).software.cuda_toolkit
    assert toolkit is not None
    assert toolkit["version"] == "12.4.1" and toolkit["path"] == str(home)


def test_the_cuda_toolkit_version_falls_back_to_nvcc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool(
        tmp_path / "bin",
        "nvcc",
        'echo "Cuda compilation tools, release 12.2, V12.2.140"',
    )
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    toolkit = inventory(gpu=no_gpu()).software.cuda_toolkit
    assert toolkit is not None and toolkit["nvcc"] == str(tmp_path / "bin" / "nvcc")
    if toolkit["path"] is None:  # no /usr/local/cuda on this machine to read the version from
        assert toolkit["version"] == "12.2.140"


# --------------------------------------------------------------------------- chassis


@pytest.mark.parametrize(
    ("code", "battery", "kind"),
    [
        (10, None, "laptop"),
        (9, False, "laptop"),
        (31, None, "laptop"),
        (3, True, "desktop"),  # DMI says desktop: a UPS battery does not make it a laptop
        (7, False, "desktop"),
        (35, None, "desktop"),
        (23, None, "server"),
        (17, False, "server"),
        (28, None, "server"),
        (2, True, "laptop"),
        (1, False, "unknown"),
        (None, True, "laptop"),
        (None, None, "unknown"),
        (99, None, "unknown"),
    ],
)
def test_chassis_kind(code: int | None, battery: bool | None, kind: str) -> None:
    got, reason = chassis_kind(code, battery)
    assert got == kind and reason
    if code in (10, 23):
        assert f"DMI chassis type {code}" in reason


def test_a_peripheral_battery_does_not_make_a_laptop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    power = tmp_path / "power_supply"
    for name, kind, scope in [("AC", "Mains", None), ("hidpp_battery_0", "Battery", "Device")]:
        (power / name).mkdir(parents=True)
        (power / name / "type").write_text(kind + "\n")
        if scope:
            (power / name / "scope").write_text(scope + "\n")
    monkeypatch.setattr(_chassis, "_SYS_POWER", power)
    assert inventory(gpu=no_gpu()).chassis.battery is False
    (power / "BAT0").mkdir()
    (power / "BAT0" / "type").write_text("Battery\n")
    assert inventory(gpu=no_gpu()).chassis.battery is True


def test_dmi_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    (dmi / "chassis_type").write_text("10\n")
    (dmi / "sys_vendor").write_text("LENOVO\n")
    (dmi / "product_name").write_text("21CB\n")
    monkeypatch.setattr(_chassis, "_SYS_DMI", dmi)
    chassis = inventory(gpu=no_gpu()).chassis
    assert (chassis.kind, chassis.dmi_type, chassis.dmi_type_name) == ("laptop", 10, "Notebook")
    assert (chassis.vendor, chassis.product) == ("LENOVO", "21CB")


# --------------------------------------------------------------------------- disks


def _fake_sysfs(root: Path) -> Path:
    """A /sys/class/block tree: NVMe with partitions, a SATA HDD, a SATA SSD, LUKS on NVMe."""
    devices = root / "devices"
    block = root / "class" / "block"
    block.mkdir(parents=True)

    def disk(name: str, rotational: str, model: str, parts: list[str]) -> None:
        d = devices / name
        (d / "queue").mkdir(parents=True)
        (d / "queue" / "rotational").write_text(rotational + "\n")
        (d / "removable").write_text("0\n")
        (d / "device").mkdir()
        (d / "device" / "model").write_text(model + "   \n")
        (block / name).symlink_to(d)
        for p in parts:
            (d / p).mkdir()
            (d / p / "partition").write_text("1\n")
            (block / p).symlink_to(d / p)

    disk("nvme0n1", "0", "Samsung SSD 990 PRO 2TB", ["nvme0n1p1", "nvme0n1p2", "nvme0n1p3"])
    disk("sda", "1", "ST8000DM004-2U91", ["sda1"])
    disk("sdb", "0", "CT2000MX500SSD1", ["sdb1"])
    dm = devices / "virtual" / "dm-0"
    (dm / "slaves").mkdir(parents=True)
    (dm / "slaves" / "nvme0n1p3").symlink_to(devices / "nvme0n1" / "nvme0n1p3")
    (block / "dm-0").symlink_to(dm)
    return block


@pytest.mark.parametrize(
    ("name", "parent", "kind"),
    [
        ("nvme0n1p2", "nvme0n1", "nvme"),
        ("nvme0n1", "nvme0n1", "nvme"),
        ("sda1", "sda", "hdd"),
        ("sdb1", "sdb", "ssd"),
        ("dm-0", "nvme0n1", "nvme"),
    ],
)
def test_partitions_resolve_to_their_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, parent: str, kind: str
) -> None:
    monkeypatch.setattr(_disks, "_SYS_BLOCK", _fake_sysfs(tmp_path / "sys"))
    assert _disks._parent_device(name) == parent
    assert _disks._disk_kind(parent) == kind


def test_virtual_disks_are_not_called_hdd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = tmp_path / "block"
    (block / "vda" / "queue").mkdir(parents=True)
    (block / "vda" / "queue" / "rotational").write_text("1\n")
    monkeypatch.setattr(_disks, "_SYS_BLOCK", block)
    assert _disks._disk_kind("vda") == "virtual"
    assert _disks._disk_kind("sdz") == "unknown"  # no sysfs entry: say so, do not guess
