"""Machine profile: archetypes and bands from hand-built inventories, edges included."""

from __future__ import annotations

import json

import pytest

from rigml.machine.inventory import (
    AmdGpu,
    Chassis,
    Cpu,
    Disk,
    Gpus,
    Inventory,
    Memory,
    NvidiaGpu,
    Software,
    SystemInfo,
    chassis_kind,
    inventory,
)
from rigml.machine.profile import (
    ACCELERATOR_MIN_VRAM_GIB,
    BANDS,
    SERVER_MIN_GPUS,
    classify,
)

GIB = 2**30


def nvidia(i: int, vram_gib: float, name: str = "NVIDIA GeForce RTX 4090") -> NvidiaGpu:
    total = int(vram_gib * GIB)
    return NvidiaGpu(
        index=i,
        name=name,
        uuid=None,
        memory_total_bytes=total,
        memory_used_bytes=0,
        memory_free_bytes=total,
        driver_version="550.54.14",
        cuda_driver_version="12.4",
        compute_capability="8.9",
        pcie_gen_current=4,
        pcie_gen_max=4,
        pcie_width_current=16,
        pcie_width_max=16,
        power_limit_w=450.0,
        power_default_limit_w=450.0,
        power_w=30.0,
        temperature_c=40.0,
        utilization_percent=0.0,
    )


def amd(i: int, vram_gib: float, name: str) -> AmdGpu:
    total = int(vram_gib * GIB)
    return AmdGpu(i, f"card{i}", name, "AMD", "gfx1100", total, 0, total)


def disk(size_gib: float, kind: str = "nvme", *, removable: bool = False, mount: str = "/") -> Disk:
    size = int(size_gib * GIB)
    return Disk(f"/dev/{mount}", mount, "ext4", size, size // 2, kind, removable=removable)  # type: ignore[arg-type]


def machine(
    *,
    ram_gib: float = 64,
    gpus: list[NvidiaGpu] | None = None,
    amd_gpus: list[AmdGpu] | None = None,
    dmi: int | None = 3,
    battery: bool | None = False,
    vm: bool = False,
    disks: list[Disk] | None = None,
    note: str | None = None,
) -> Inventory:
    kind, reason = chassis_kind(dmi, battery)
    return Inventory(
        captured_at=0.0,
        system=SystemInfo(
            "host",
            "Linux",
            "Ubuntu 24.04",
            "6.8.0",
            "x86_64",
            "3.11.9",
            "CPython",
            "/usr/bin/python3",
            False,
        ),
        chassis=Chassis(
            kind=kind, reason=reason, dmi_type=dmi, battery=battery, virtual_machine=vm
        ),
        cpu=Cpu(
            "AMD Ryzen 9 7950X",
            "AuthenticAMD",
            "x86_64",
            1,
            16,
            32,
            4500.0,
            545.0,
            5881.0,
            ["AVX2", "AVX-512"],
            ["avx2", "avx512f"],
        ),
        memory=Memory(int(ram_gib * GIB), int(ram_gib * GIB) // 2, 8 * GIB, 0),
        disks=[disk(1863)] if disks is None else disks,
        gpus=Gpus(
            nvidia=gpus or [],
            nvidia_note=None if gpus else (note or "NVML library not found: no NVIDIA driver"),
            amd=amd_gpus or [],
            amd_note=None,
        ),
        software=Software(None, None, [], {}),
    )


# --------------------------------------------------------------------------- archetypes


@pytest.mark.parametrize(
    ("kwargs", "archetype", "words"),
    [
        ({"dmi": 10, "gpus": [nvidia(0, 8, "RTX 4070 Laptop GPU")]}, "laptop-first", "Notebook"),
        ({"dmi": None, "battery": True}, "laptop-first", "battery"),
        ({"dmi": 9, "gpus": [nvidia(0, 24), nvidia(1, 24)]}, "laptop-first", "2 GPUs"),
        ({"dmi": 7}, "cpu-only-desktop", "no GPU"),
        ({"dmi": 3, "gpus": [nvidia(0, 24)]}, "single-gpu-desktop", "RTX 4090"),
        ({"dmi": 7, "gpus": [nvidia(0, 24), nvidia(1, 24)]}, "multi-gpu-workstation", "2 GPUs"),
        ({"dmi": 23, "gpus": [nvidia(0, 80, "H100")]}, "server", "Rack Mount"),
        ({"dmi": 17}, "server", "Main Server"),
        ({"dmi": None, "vm": True, "gpus": [nvidia(0, 80)]}, "server", "virtual machine"),
        ({"dmi": 1, "vm": True}, "server", "virtual machine"),
        (
            {"dmi": None, "gpus": [nvidia(i, 80) for i in range(SERVER_MIN_GPUS)]},
            "server",
            f"{SERVER_MIN_GPUS} GPUs",
        ),
        (
            {"dmi": None, "gpus": [nvidia(i, 24) for i in range(SERVER_MIN_GPUS - 1)]},
            "multi-gpu-workstation",
            "assumed a desktop",
        ),
        ({"dmi": None, "gpus": [nvidia(0, 24)]}, "single-gpu-desktop", "assumed a desktop"),
        ({"dmi": 3, "vm": True}, "cpu-only-desktop", "desktop"),  # DMI wins over the VM flag
    ],
)
def test_archetypes(kwargs: dict, archetype: str, words: str) -> None:
    profile = classify(machine(**kwargs))
    assert profile.archetype == archetype
    assert words in profile.reason


def test_integrated_and_tiny_gpus_are_not_accelerators() -> None:
    inv = machine(
        gpus=[nvidia(0, 24), nvidia(1, 2, "NVIDIA T400")],
        amd_gpus=[amd(0, 0.0625, "Raphael")],
    )
    profile = classify(inv)
    assert profile.archetype == "single-gpu-desktop" and profile.accelerators == 1
    assert profile.vram.value_gib == 24.0


def test_amd_gpus_count() -> None:
    profile = classify(machine(amd_gpus=[amd(0, 24, "Radeon RX 7900 XTX"), amd(1, 24, "XTX")]))
    assert profile.archetype == "multi-gpu-workstation" and profile.vram.value_gib == 48.0


def test_the_accelerator_threshold_is_inclusive() -> None:
    assert classify(machine(gpus=[nvidia(0, ACCELERATOR_MIN_VRAM_GIB)])).accelerators == 1


# --------------------------------------------------------------------------- bands


def test_the_thresholds_table_is_complete_and_ordered() -> None:
    assert set(BANDS) == {"ram", "vram", "storage"}
    for rule in BANDS.values():
        assert 0 < rule.comfortable_gib < rule.heavy_gib
        assert rule.entry and rule.comfortable and rule.heavy


@pytest.mark.parametrize(
    ("ram", "band"),
    [
        (8, "entry"),
        (31.3, "entry"),
        (44.9, "entry"),
        (45, "comfortable"),
        (62.5, "comfortable"),
        (179.9, "comfortable"),
        (180, "heavy"),
        (1007, "heavy"),
    ],
)
def test_ram_bands(ram: float, band: str) -> None:
    b = classify(machine(ram_gib=ram)).ram
    assert b.band == band
    assert (b.comfortable_gib, b.heavy_gib) == (45, 180)
    assert b.value_gib == round(ram, 1)
    cmp = {"entry": "< 45 GiB", "comfortable": "≥ 45 GiB", "heavy": "≥ 180 GiB"}[band]
    assert f"RAM {cmp}: {band}" in b.reason


def test_the_ram_reason_reads_as_one_line() -> None:
    reason = classify(machine(ram_gib=64)).ram.reason
    assert reason == (
        "64 GiB RAM ≥ 45 GiB: comfortable, enough for 7-13B fine-tuning data pipelines and "
        "checkpoint loading"
    )


@pytest.mark.parametrize(
    ("vrams", "band"),
    [
        ([8], "entry"),
        ([19.9], "entry"),
        ([20], "comfortable"),
        ([23.99], "comfortable"),
        ([69.9], "comfortable"),
        ([70], "heavy"),
        ([79.2], "heavy"),
        ([24, 24, 24], "heavy"),
    ],
)
def test_vram_bands(vrams: list[float], band: str) -> None:
    b = classify(machine(gpus=[nvidia(i, v) for i, v in enumerate(vrams)])).vram
    assert b.band == band
    assert (b.comfortable_gib, b.heavy_gib) == (20, 70)
    if len(vrams) > 1:
        assert f"over {len(vrams)} GPUs (largest 24 GiB)" in b.reason
        assert "sharded" in b.reason


def test_no_gpu_is_vram_band_none_with_the_reason() -> None:
    b = classify(machine(note="NVIDIA driver not loaded")).vram
    assert (b.band, b.value_gib) == ("none", None)
    assert "NVIDIA driver not loaded" in b.reason and "CPU only" in b.reason


@pytest.mark.parametrize(
    ("sizes", "band"),
    [
        ([256], "entry"),
        ([849.9], "entry"),
        ([850], "comfortable"),
        ([931, 1863], "comfortable"),
        ([3499], "comfortable"),
        ([3500], "heavy"),
        ([1863, 7452], "heavy"),
    ],
)
def test_storage_bands(sizes: list[float], band: str) -> None:
    disks = [disk(s, mount=f"/d{i}") for i, s in enumerate(sizes)]
    b = classify(machine(disks=disks)).storage
    assert b.band == band
    assert (b.comfortable_gib, b.heavy_gib) == (850, 3500)
    assert f"on {len(sizes)} filesystem" in b.reason


def test_removable_disks_do_not_count_and_hdd_only_is_called_out() -> None:
    disks = [disk(7452, "hdd"), disk(3726, "ssd", removable=True, mount="/media/usb")]
    b = classify(machine(disks=disks)).storage
    assert b.value_gib == 7452.0 and b.band == "heavy"
    assert "spinning disks only" in b.reason
    b = classify(machine(disks=[disk(7452, "hdd"), disk(931, "nvme", mount="/fast")])).storage
    assert "spinning" not in b.reason


def test_no_readable_disk_is_storage_band_none() -> None:
    b = classify(machine(disks=[])).storage
    assert (b.band, b.value_gib) == ("none", None)


def test_profile_is_json_ready() -> None:
    data = classify(machine(gpus=[nvidia(0, 24)])).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"archetype", "reason", "accelerators", "ram", "vram", "storage"}
    assert set(data["ram"]) == {
        "resource",
        "value_gib",
        "band",
        "comfortable_gib",
        "heavy_gib",
        "reason",
    }


def test_this_machine_is_classified() -> None:
    profile = classify(inventory())
    assert profile.archetype in {
        "laptop-first",
        "cpu-only-desktop",
        "single-gpu-desktop",
        "multi-gpu-workstation",
        "server",
    }
    assert profile.ram.band in {"entry", "comfortable", "heavy"}
