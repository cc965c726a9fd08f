"""The machine as a planner sees it: an archetype and a band for RAM, VRAM and storage.

:func:`classify` turns an :class:`~rigml.machine.inventory.Inventory` into a
:class:`MachineProfile`. Every decision carries the figure it was made on, the thresholds
it was compared with and a one-line reason, so a user can see why their machine landed
where it did and a planner can quote it.

All thresholds live in :data:`BANDS` and the constants below it. Sizes are GiB (2**30
bytes) as the kernel and NVML report them, which is a few percent under the size printed
on the box (a "64 GB" kit reports about 62.5 GiB, a "1 TB" drive about 931 GiB, an 80 GB
GPU about 79.2 GiB), so each threshold sits just below the nominal size it stands for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from rigml.machine.inventory import Inventory

__all__ = [
    "ACCELERATOR_MIN_VRAM_GIB",
    "BANDS",
    "SERVER_MIN_GPUS",
    "Band",
    "BandRule",
    "MachineProfile",
    "classify",
]

GIB = float(2**30)

Archetype = Literal[
    "laptop-first",
    "cpu-only-desktop",
    "single-gpu-desktop",
    "multi-gpu-workstation",
    "server",
]
BandName = Literal["none", "entry", "comfortable", "heavy"]


@dataclass(frozen=True)
class BandRule:
    """Where one resource turns comfortable and heavy (GiB), and what each band buys."""

    label: str
    comfortable_gib: float
    heavy_gib: float
    entry: str
    comfortable: str
    heavy: str


BANDS: dict[str, BandRule] = {
    # RAM: loading a checkpoint takes about twice its size in RAM at peak, and data-loader
    # workers each hold a copy of their shard. 7B fp16 is ~14 GB, 13B ~26 GB, 70B ~140 GB.
    "ram": BandRule(
        label="RAM",
        comfortable_gib=45,  # nominal 48 GB and up
        heavy_gib=180,  # nominal 192 GB and up
        entry="enough for 7B checkpoints and datasets that fit in memory; bigger ones need "
        "streaming or mmap loading",
        comfortable="enough for 7-13B fine-tuning data pipelines and checkpoint loading",
        heavy="holds 70B-class fp16 weights (~140 GB) for CPU offload, quantisation or large "
        "in-memory datasets",
    ),
    # VRAM: the sum over GPUs that count as accelerators (see ACCELERATOR_MIN_VRAM_GIB).
    "vram": BandRule(
        label="VRAM",
        comfortable_gib=20,  # a 24 GB card (RTX 3090/4090, A5000)
        heavy_gib=70,  # an 80 GB card (A100/H100), or several 24-48 GB cards
        entry="7B inference in 4-8 bit and training of small models; fine-tuning 7B needs "
        "QLoRA and short sequences",
        comfortable="QLoRA fine-tuning of 7-13B and fp16 inference of 7B models",
        heavy="full fine-tuning of 7B, QLoRA of 70B and fp16 inference of 30B-class models",
    ),
    # Storage: the total of the local filesystems. Checkpoints of a 7B run are ~15 GB each,
    # a tokenised web-scale subset a few hundred GB.
    "storage": BandRule(
        label="storage",
        comfortable_gib=850,  # a nominal 1 TB drive, after the filesystem's own share
        heavy_gib=3500,  # nominal 4 TB and up
        entry="room for a few models and datasets; prune checkpoints and caches often",
        comfortable="room for several model families, datasets and a checkpoint history",
        heavy="room for large datasets, many checkpoints and a local model zoo",
    ),
}
"""Band thresholds per resource: below ``comfortable_gib`` is entry, at or above
``heavy_gib`` is heavy, in between is comfortable."""

ACCELERATOR_MIN_VRAM_GIB = 4.0
"""GPUs with less VRAM (integrated graphics, small display cards) are not counted as
accelerators: they neither change the archetype nor add to the VRAM band."""

SERVER_MIN_GPUS = 8
"""A box with this many accelerators and no chassis type to say otherwise is a server."""


@dataclass(frozen=True)
class Band:
    """Where one resource falls, the figure and thresholds used, and what it means."""

    resource: str
    value_gib: float | None
    band: BandName
    comfortable_gib: float
    heavy_gib: float
    reason: str


@dataclass(frozen=True)
class MachineProfile:
    """The archetype and resource bands a planner reasons with, each with its reason."""

    archetype: Archetype
    reason: str
    accelerators: int
    ram: Band
    vram: Band
    storage: Band

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _gib(n: float) -> str:
    return f"{n:,.0f} GiB" if n >= 10 else f"{n:.1f} GiB"


def _band(resource: str, value_gib: float, what: str, extra: str = "") -> Band:
    """Band ``value_gib`` by :data:`BANDS`; the reason reads "<value> <what> ≥ <t>: <band>"."""
    rule = BANDS[resource]
    band: BandName
    if value_gib >= rule.heavy_gib:
        band, cmp, text = "heavy", f"≥ {rule.heavy_gib:g} GiB", rule.heavy
    elif value_gib >= rule.comfortable_gib:
        band, cmp, text = "comfortable", f"≥ {rule.comfortable_gib:g} GiB", rule.comfortable
    else:
        band, cmp, text = "entry", f"< {rule.comfortable_gib:g} GiB", rule.entry
    return Band(
        resource=resource,
        value_gib=round(value_gib, 1),
        band=band,
        comfortable_gib=rule.comfortable_gib,
        heavy_gib=rule.heavy_gib,
        reason=f"{_gib(value_gib)} {what} {cmp}: {band}, {text}{extra}",
    )


def _accelerators(inv: Inventory) -> list[tuple[str, float]]:
    """Name and VRAM (GiB) of every GPU big enough to count, NVIDIA then AMD."""
    out = []
    for nv in inv.gpus.nvidia:
        out.append((nv.name, (nv.memory_total_bytes or 0) / GIB))
    for amd in inv.gpus.amd:
        out.append((amd.name or amd.card, (amd.memory_total_bytes or 0) / GIB))
    return [(name, vram) for name, vram in out if vram >= ACCELERATOR_MIN_VRAM_GIB]


def _vram_band(inv: Inventory, accel: list[tuple[str, float]]) -> Band:
    rule = BANDS["vram"]
    if not accel:
        note = inv.gpus.nvidia_note or inv.gpus.amd_note
        ignored = len(inv.gpus.nvidia) + len(inv.gpus.amd)
        if ignored:
            why = f"no GPU with {ACCELERATOR_MIN_VRAM_GIB:g} GiB of VRAM or more"
        else:
            why = f"no GPU visible{f' ({note})' if note else ''}"
        return Band("vram", None, "none", rule.comfortable_gib, rule.heavy_gib, why + ": CPU only")
    total = sum(v for _, v in accel)
    if len(accel) == 1:
        return _band("vram", total, "VRAM")
    largest = max(v for _, v in accel)
    what = f"VRAM over {len(accel)} GPUs (largest {_gib(largest)})"
    return _band("vram", total, what, "; beyond one GPU a model must be sharded")


def _storage_band(inv: Inventory) -> Band:
    rule = BANDS["storage"]
    disks = [d for d in inv.disks if not d.removable]
    if not disks:
        return Band(
            "storage",
            None,
            "none",
            rule.comfortable_gib,
            rule.heavy_gib,
            "no local filesystem could be read",
        )
    total = sum(d.total_bytes for d in disks) / GIB
    free = sum(d.free_bytes for d in disks) / GIB
    kinds = {d.kind for d in disks}
    what = f"on {len(disks)} filesystem{'s' if len(disks) != 1 else ''} ({_gib(free)} free)"
    extra = ""
    if "hdd" in kinds and not kinds & {"nvme", "ssd"}:
        extra = "; spinning disks only, so data loading may be disk-bound"
    return _band("storage", total, what, extra)


def _archetype(inv: Inventory, accel: list[tuple[str, float]]) -> tuple[Archetype, str]:
    chassis = inv.chassis
    n = len(accel)
    gpus = "no GPU" if n == 0 else (f"1 GPU ({accel[0][0]})" if n == 1 else f"{n} GPUs")
    if chassis.kind == "laptop":
        return "laptop-first", f"laptop: {chassis.reason}; {gpus}"
    if chassis.kind == "server":
        return "server", f"server chassis: {chassis.reason}; {gpus}"
    if chassis.kind == "unknown":
        if chassis.virtual_machine:
            return "server", f"a virtual machine without a chassis type (cloud or lab); {gpus}"
        if n >= SERVER_MIN_GPUS:
            return "server", f"{gpus} (≥ {SERVER_MIN_GPUS}) and no chassis type"
    where = (
        f"desktop: {chassis.reason}"
        if chassis.kind == "desktop"
        else f"assumed a desktop: {chassis.reason}"
    )
    if n >= 2:
        return "multi-gpu-workstation", f"{where}; {gpus}"
    if n == 1:
        return "single-gpu-desktop", f"{where}; {gpus}"
    return "cpu-only-desktop", f"{where}; {gpus}"


def classify(inv: Inventory) -> MachineProfile:
    """The archetype and the RAM / VRAM / storage bands of ``inv``, each with its reason.

    Archetypes: ``laptop-first`` (a laptop chassis or a system battery), ``server`` (a
    server chassis; or no chassis type and a virtual machine or at least
    :data:`SERVER_MIN_GPUS` GPUs), otherwise by accelerator count ``cpu-only-desktop``,
    ``single-gpu-desktop`` or ``multi-gpu-workstation``. Bands use :data:`BANDS`; VRAM is
    ``none`` without an accelerator.
    """
    accel = _accelerators(inv)
    archetype, reason = _archetype(inv, accel)
    return MachineProfile(
        archetype=archetype,
        reason=reason,
        accelerators=len(accel),
        ram=_band("ram", inv.memory.total_bytes / GIB, "RAM"),
        vram=_vram_band(inv, accel),
        storage=_storage_band(inv),
    )
