"""``disk.*`` checks: free space on the system disk, and ML caches filling it."""

from __future__ import annotations

from typing import Any

from rigml._units import format_bytes
from rigml.machine.doctor._context import DoctorContext
from rigml.machine.doctor._facts import GIB, CacheFacts
from rigml.machine.doctor._registry import _check
from rigml.machine.doctor._results import Outcome, Status, _worst
from rigml.machine.doctor._thresholds import Thresholds
from rigml.machine.readings import DiskUsage


def _judge_disk(disk: DiskUsage, t: Thresholds) -> Status:
    free_gib = disk.free / GIB
    if disk.percent >= t.disk_fail_used_percent or free_gib < t.disk_fail_free_gib:
        return "fail"
    if disk.percent >= t.disk_warn_used_percent or free_gib < t.disk_warn_free_gib:
        return "warn"
    return "pass"


@_check("disk.system_full", "System disk space")
def check_system_disk(ctx: DoctorContext) -> Outcome:
    """Free space on the system disk ("/"), and on the home folder's disk when that is another.

    Why: checkpoints, datasets and model downloads fill disks fast. A full system disk
    stops far more than training: package installs, logs, /tmp, the desktop session, and
    a training run that dies mid-checkpoint can leave a corrupt file.

    Thresholds: warn at {disk_warn_used_percent:g}% used or under {disk_warn_free_gib:g} GiB
    free; fail at {disk_fail_used_percent:g}% used or under {disk_fail_free_gib:g} GiB free.

    Fix: find what is big (`du -xh --max-depth=2 / 2>/dev/null | sort -h | tail -20`), prune
    caches (`huggingface-cli delete-cache`, `pip cache purge`, `conda clean --all`,
    `docker system prune`), delete old checkpoints and runs (`rig runs delete`), and keep
    models and datasets on a data disk (see `disk.caches_on_system`).
    """
    t = ctx.thresholds
    disks = ctx.get_disks()
    verdicts = [(d, _judge_disk(d, t)) for d in disks]
    status = _worst(s for _, s in verdicts)
    parts = [
        f"{d.path}: {format_bytes(d.free)} free of {format_bytes(d.total)} ({d.percent:.0f}% used)"
        for d, _ in verdicts
    ]
    evidence = {
        "disks": [
            {
                "path": d.path,
                "total": d.total,
                "used": d.used,
                "free": d.free,
                "percent_used": d.percent,
                "status": s,
            }
            for d, s in verdicts
        ]
    }
    fix = None
    if status != "pass":
        worst = next(d for d, s in verdicts if s == status)
        fix = (
            f"free space on {worst.path}: `du -xh --max-depth=2 {worst.path} 2>/dev/null | "
            "sort -h | tail -20` finds the big folders; prune caches (`huggingface-cli "
            "delete-cache`, `pip cache purge`, `conda clean --all`) and old checkpoints"
        )
    return Outcome(status, "; ".join(parts), evidence, fix)


_CACHE_ENV = {
    "huggingface": "HF_HOME",
    "huggingface hub": "HF_HUB_CACHE",
    "huggingface datasets": "HF_DATASETS_CACHE",
    "transformers": "HF_HOME",
    "torch": "TORCH_HOME",
    "pip": "PIP_CACHE_DIR",
    "uv": "UV_CACHE_DIR",
    "conda pkgs": "CONDA_PKGS_DIRS",
}
_CACHE_PRUNE = {
    "huggingface": "huggingface-cli delete-cache",
    "pip": "pip cache purge",
    "uv": "uv cache prune",
    "conda pkgs": "conda clean --all",
}


@_check("disk.caches_on_system", "ML caches on the system disk")
def check_caches(ctx: DoctorContext) -> Outcome:
    """Model, dataset and package caches (Hugging Face, torch, pip, uv, conda) on the system disk.

    Looks where each tool puts its cache, following HF_HOME, HF_HUB_CACHE, HF_DATASETS_CACHE,
    TORCH_HOME, PIP_CACHE_DIR, UV_CACHE_DIR, CONDA_PKGS_DIRS and XDG_CACHE_HOME, and sizes
    each with a budget of {cache_budget_s:g} s and {cache_budget_entries} entries: past it
    the size is a lower bound ("≥ X GiB (partial, stopped after N files)"), so a huge cache
    keeps doctor fast.

    Why: these caches grow silently to hundreds of GB (one 70B model is 140 GB) and land in
    ~/.cache on the system disk by default, where they fill the disk the OS needs.

    Thresholds: warn when the caches on the system disk hold {caches_warn_gib:g} GiB or more
    together, or at least 1 GiB while that disk is {disk_warn_used_percent:g}% full or more.
    Never fails (a full disk fails `disk.system_full`).

    Fix: point the variables at a data disk (e.g. `export HF_HOME=/data/hf` in ~/.bashrc)
    and move the folder there, or prune (`huggingface-cli delete-cache`, `pip cache purge`,
    `conda clean --all`).
    """
    t = ctx.thresholds
    root = ctx.get_disks()[0]
    caches = ctx.get_caches()
    present = [c for c in caches if c.exists and c.size is not None]
    evidence: dict[str, Any] = {
        "system_disk": root.path,
        "caches": [
            {
                "name": c.name,
                "path": c.path,
                "set_by": c.set_by,
                "exists": c.exists,
                "on_system_disk": c.on_system_disk,
                "bytes": c.size.bytes if c.size else None,
                "files": c.size.files if c.size else None,
                "complete": c.size.complete if c.size else None,
            }
            for c in caches
        ],
    }
    if not present:
        return Outcome("pass", "no ML caches found", evidence)
    on_system = [c for c in present if c.on_system_disk]
    total = sum(c.size.bytes for c in on_system if c.size)
    evidence["bytes_on_system_disk"] = total

    def described(c: CacheFacts) -> str:
        return f"{c.name} {c.size.describe() if c.size else '?'}"

    if not on_system:
        where = ", ".join(f"{described(c)} at {c.path}" for c in present)
        return Outcome("pass", f"no cache on the system disk ({where})", evidence)
    listed = ", ".join(described(c) for c in sorted(on_system, key=lambda c: -_size_of(c)))
    big = total >= t.caches_warn_gib * GIB
    tight = total >= GIB and root.percent >= t.disk_warn_used_percent
    if not (big or tight):
        return Outcome("pass", f"on the system disk: {listed}", evidence)
    data = ctx.get_data_disks()
    evidence["data_disks"] = [{"path": d.path, "free": d.free} for d in data]
    target = data[0].path.rstrip("/") if data else "/data"
    moves = []
    for c in sorted(on_system, key=lambda c: -_size_of(c)):
        var = _CACHE_ENV.get(c.name, "")
        if var and c.size and c.size.bytes >= GIB / 4:
            slug = c.name.replace(" ", "-")
            moves.append(f"`export {var}={target}/{slug}` (then `mv {c.path} {target}/{slug}`)")
    where = "if the machine has a data disk"
    if data:
        where = f"{target} has {format_bytes(data[0].free)} free"
    prune = sorted({_CACHE_PRUNE[c.name] for c in on_system if c.name in _CACHE_PRUNE})
    fix = f"move them off the system disk ({where}): " + "; ".join(moves or ["see --explain"])
    if prune:
        fix += "; or prune: " + ", ".join(f"`{p}`" for p in prune)
    why = "together" if big else f"while {root.path} is {root.percent:.0f}% full"
    return Outcome(
        "warn", f"{format_bytes(total)} of caches on the system disk {why}: {listed}", evidence, fix
    )


def _size_of(c: CacheFacts) -> int:
    return c.size.bytes if c.size else 0
