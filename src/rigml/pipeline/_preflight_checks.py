"""Preflight checks that read files, the lab and the machine: deps, contracts, disk, memory.

Each returns rows (:class:`~rigml.pipeline._preflight.PreflightCheck`); none raises for
what it finds: a problem is a row with ``fail`` or ``warn``, its evidence and a fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml._units import format_bytes
from rigml.pipeline._preflight import PreflightCheck, Status

if TYPE_CHECKING:
    from rigml.pipeline._preflight import Context

MAX_WALK = 100_000  # entries of a folder dep looked at before trusting the rest
DISK_WARN = 0.8  # warn when the outs would take this share of the free space
MEMORY_WARN = 0.9  # warn when a stage asks for this share of the available memory


# ---------------------------------------------------------------------------- deps


def dep_checks(ctx: Context, name: str) -> list[PreflightCheck]:
    """A failed row per missing or unreadable dep or unresolved dataset; else one pass row."""
    stage = ctx.pipeline.stages[name]
    entry = ctx.lock.get(name) or {}
    kinds = {d["path"]: d.get("kind") for d in entry.get("deps") or [] if "path" in d}
    rows: list[PreflightCheck] = []
    upstream = resolved = 0
    for dep in stage.deps:
        path = ctx.pipeline.root / dep
        producer = ctx.graph.producers.get((name, dep))
        if producer is not None and not os.path.lexists(path):
            upstream += 1  # written by an upstream stage before this one runs
            continue
        problem = unreadable(path, kinds.get(dep))
        if problem is not None:
            rows.append(PreflightCheck("deps", name, "fail", f"{dep} {problem}", _dep_fix(dep)))
    for ref in stage.data:
        found = ctx.version(ref)
        if isinstance(found, Exception):
            hint = getattr(found, "hint", None) or "`rig data list` shows the datasets"
            rows.append(PreflightCheck("deps", name, "fail", f"data:{ref}: {found}", hint))
        else:
            resolved += 1
    if rows or not (stage.deps or stage.data):
        return rows
    parts = []
    if len(stage.deps) > upstream:
        parts.append(f"{len(stage.deps) - upstream} present and readable")
    if upstream:
        parts.append(f"{upstream} written by upstream stages")
    if resolved:
        shown = ", ".join(_version_ref(ctx, r) for r in stage.data)
        parts.append(f"datasets {shown}")
    return [PreflightCheck("deps", name, "pass", "; ".join(parts))]


def _version_ref(ctx: Context, ref: str) -> str:
    found = ctx.version(ref)
    return ref if isinstance(found, Exception) else f"{ref} = {found.ref}"


def _dep_fix(dep: str) -> str:
    return (
        f"create or repair {dep}, fix the path in rig.yaml, or add it to the outs of the "
        "stage that writes it"
    )


def unreadable(path: Path, kind: str | None = None) -> str | None:
    """What stops a stage reading ``path`` (``kind``: what ``rig.lock`` last saw), or None."""
    if os.path.islink(path) and not os.path.exists(path):
        return f"is a broken symlink (to {os.readlink(path)})"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "does not exist and no stage has it in its outs"
    except OSError as exc:
        return f"cannot be looked at: {exc.strerror or exc}"
    if stat.S_ISDIR(st.st_mode):
        if kind == "file":
            return "is a folder, but it was a file when the stage last ran"
        return _folder_problem(path)
    if not stat.S_ISREG(st.st_mode):
        return "is neither a file nor a folder"
    if kind == "folder":
        return "is a file, but it was a folder when the stage last ran"
    return _read_problem(path)


def _read_problem(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    return None


def _folder_problem(path: Path) -> str | None:
    """The first entry of folder ``path`` that cannot be read (a broken link, no access)."""
    errors: list[OSError] = []
    seen = 0
    for folder, _dirs, files in os.walk(path, onerror=errors.append):
        if errors:
            break
        for file in files:
            full = os.path.join(folder, file)
            if os.path.islink(full) and not os.path.exists(full):
                rel = os.path.relpath(full, path)
                return f"holds a broken symlink: {rel} (to {os.readlink(full)})"
            if not os.access(full, os.R_OK):
                return f"holds a file that cannot be read: {os.path.relpath(full, path)}"
        seen += len(files) + 1
        if seen >= MAX_WALK:
            break
    if errors:
        exc = errors[0]
        return f"cannot be read: {exc.filename}: {exc.strerror or exc}"
    return None


# ---------------------------------------------------------------------------- contracts


def contract_checks(ctx: Context, name: str) -> list[PreflightCheck]:
    """Each dataset version's newest stored contract check: pass, fail, or none (warn)."""
    from rigml.data._contracts import latest_check

    rows: list[PreflightCheck] = []
    for ref in ctx.pipeline.stages[name].data:
        info = ctx.version(ref)
        if isinstance(info, Exception):
            continue  # told by the deps row
        report = latest_check(ctx.lab, info.ref)
        fix_check = f"`rig data check {info.ref} --contract CONTRACT.yaml`"
        if report is None:
            what = f"{info.ref} has no stored contract check"
            rows.append(PreflightCheck("contract", name, "warn", what, f"{fix_check} stores one"))
        elif report.passed:
            what = f"{info.ref}: {report.checks} of {report.checks} checks passed"
            rows.append(PreflightCheck("contract", name, "pass", what, figures=_figures(report)))
        else:
            failing = ", ".join(f.check for f in report.failures[:3])
            more = ", ..." if len(report.failures) > 3 else ""
            what = f"{info.ref}: {report.failed} of {report.checks} checks failed ({failing}{more})"
            fix = f"fix the data and add it as a new version, or the contract; {fix_check} shows "
            fix += "the failing rows"
            rows.append(PreflightCheck("contract", name, "fail", what, fix, _figures(report)))
    return rows


def _figures(report: Any) -> dict[str, Any]:
    return {
        "check_id": report.id,
        "checks": report.checks,
        "failed": report.failed,
        "failures": [f.check for f in report.failures],
    }


# ---------------------------------------------------------------------------- disk


def disk_checks(ctx: Context) -> list[PreflightCheck]:
    """Space for each stage's outs, estimated from the sizes its last run recorded.

    A rerun writes about what the last one did: the outs in place (less what they hold
    now, which is overwritten) and, when the lab's objects are local, a copy of each in the
    object store. Needs add up, in run order, per filesystem.
    """
    needs: dict[Any, int] = {}  # device -> bytes the stages so far will write there
    rows: list[PreflightCheck] = []
    for name in ctx.order:
        stage = ctx.pipeline.stages[name]
        if not stage.outs:
            continue
        recorded = {o.get("path"): o for o in (ctx.lock.get(name) or {}).get("outs") or []}
        sizes = [recorded.get(out, {}).get("size") for out in stage.outs]
        if not any(isinstance(s, int) for s in sizes):
            rows.append(PreflightCheck("disk", name, "pass", "no previous size: never run"))
            continue
        wants = _stage_wants(ctx, stage.outs, sizes)
        rows.append(_disk_row(ctx, name, wants, needs, sum(s for s in sizes if s)))
    return rows


def _stage_wants(ctx: Context, outs: tuple[str, ...], sizes: list[Any]) -> dict[str, int]:
    """``{place to measure free space at: bytes}`` for one stage's outs."""
    wants: dict[str, int] = {}
    objects = ctx.lab.objects
    store = str(_existing(Path(objects.root))) if objects.is_local else None
    for out, size in zip(outs, sizes, strict=True):
        if not isinstance(size, int):
            continue
        path = ctx.pipeline.root / out
        place = str(_existing(path))
        wants[place] = wants.get(place, 0) + max(0, size - _size_now(path))
        if store is not None:
            wants[store] = wants.get(store, 0) + size
    return wants


def _disk_row(
    ctx: Context, name: str, wants: dict[str, int], needs: dict[Any, int], last: int
) -> PreflightCheck:
    free_of = ctx.options.free_bytes or _free_bytes
    worst: tuple[float, str, int, int, int] | None = None  # share of free, place, need, own, free
    own: dict[Any, int] = {}
    for place, want in wants.items():
        device = _device(place)
        needs[device] = needs.get(device, 0) + want
        own[device] = own.get(device, 0) + want
        try:
            free = free_of(place)
        except OSError as exc:
            what = f"cannot read the free space at {place}: {exc.strerror or exc}"
            return PreflightCheck("disk", name, "warn", what, "check that the disk is mounted")
        share = needs[device] / free if free > 0 else float("inf")
        if worst is None or share > worst[0]:
            worst = (share, place, needs[device], own[device], free)
    assert worst is not None
    share, place, need, mine, free = worst
    status: Status = "fail" if need > free else "warn" if share > DISK_WARN else "pass"
    where = _shown(ctx, place)
    copy = ", and their copy in the lab's objects" if ctx.lab.objects.is_local else ""
    before = f" (with the stages before it: {format_bytes(need)})" if need > mine else ""
    evidence = (
        f"needs about {format_bytes(mine)} on the disk of {where}{before}; "
        f"{format_bytes(free)} free (an estimate: the last run's outs, {format_bytes(last)}"
        f"{copy})"
    )
    fix = None
    if status != "pass":
        fix = (
            f"free at least {format_bytes(need / DISK_WARN - free)} on the disk of {where}: "
            "delete old checkpoints or outs; `rig data gc` drops objects nothing keeps"
        )
    figures = {"need_bytes": need, "free_bytes": free, "place": place, "last_outs_bytes": last}
    return PreflightCheck("disk", name, status, evidence, fix, figures)


def _free_bytes(place: str) -> int:
    from rigml.machine.readings import disk_usage

    return disk_usage(place).free


def _existing(path: Path) -> Path:
    """``path`` or its nearest folder above that exists (where its bytes will land)."""
    here = path.absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def _device(place: str) -> Any:
    try:
        return os.stat(place).st_dev
    except OSError:
        return place


def _size_now(path: Path) -> int:
    try:
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        pass
    return 0


def _shown(ctx: Context, place: str) -> str:
    try:
        rel = Path(place).relative_to(ctx.pipeline.root.absolute())
    except ValueError:
        return place
    return str(rel) if str(rel) != "." else "the project"


# ---------------------------------------------------------------------------- memory


def memory_checks(ctx: Context) -> list[PreflightCheck]:
    """Each stage's ``resources.memory`` against the memory available to it now."""
    asked = [(n, ctx.specs[n].memory) for n in ctx.order if ctx.specs[n].memory is not None]
    if not asked:
        return []
    try:
        available, seen = _available(ctx)
    except OSError as exc:
        what = f"cannot read this machine's memory: {exc.strerror or exc}"
        return [PreflightCheck("memory", n, "warn", what) for n, _need in asked]
    rows: list[PreflightCheck] = []
    for name, need in asked:
        assert need is not None
        status: Status = (
            "fail" if need > available else "warn" if need > MEMORY_WARN * available else "pass"
        )
        evidence = f"resources.memory {format_bytes(need)}; {format_bytes(available)} {seen}"
        fix = None
        if status != "pass":
            fix = (
                "close what holds memory (`rig watch` shows it), or make the stage need less "
                "(smaller batches, streaming) and lower resources.memory"
            )
        figures = {"need_bytes": need, "available_bytes": available}
        rows.append(PreflightCheck("memory", name, status, evidence, fix, figures))
    return rows


def _available(ctx: Context) -> tuple[int, str]:
    """Bytes available to a new process, and how that was read."""
    if ctx.options.available_memory is not None:
        return ctx.options.available_memory, "available (as given)"
    from rigml.machine._cgroup import CgroupMemory
    from rigml.machine.readings import read_memory

    mem = read_memory()
    available = mem.available_bytes
    seen = f"available now (of {format_bytes(mem.total_bytes)} RAM)"
    cgroup = CgroupMemory(os.getpid()).read()
    if cgroup is not None and cgroup.limit - cgroup.used < available:
        available = int(max(0.0, cgroup.limit - cgroup.used))
        seen = f"left under this cgroup's limit of {format_bytes(cgroup.limit)}"
    return available, seen


# ---------------------------------------------------------------------------- gpus


def gpu_checks(ctx: Context) -> list[PreflightCheck]:
    """Each stage's ``resources.gpus`` against the NVIDIA GPUs this process can use."""
    asked = [(n, int((ctx.pipeline.stages[n].resources or {}).get("gpus") or 0)) for n in ctx.order]
    asked = [(n, g) for n, g in asked if g > 0]
    if not asked:
        return []
    count, seen = _gpus(ctx)
    rows: list[PreflightCheck] = []
    for name, need in asked:
        status: Status = "fail" if need > count else "pass"
        fix = None
        if status == "fail":
            fix = (
                "run it where the GPUs are, check the driver (`rig doctor -c gpu`) and "
                "CUDA_VISIBLE_DEVICES, or lower resources.gpus"
            )
        figures = {"need": need, "visible": count}
        rows.append(
            PreflightCheck("gpus", name, status, f"resources.gpus {need}; {seen}", fix, figures)
        )
    return rows


def _gpus(ctx: Context) -> tuple[int, str]:
    """How many GPUs a stage can use here, and what was seen."""
    if ctx.options.gpu_count is not None:
        return ctx.options.gpu_count, f"{ctx.options.gpu_count} visible (as given)"
    from rigml.machine.readings import read_gpus

    reading = read_gpus(live=False)
    names = [g.name for g in reading.gpus]
    count = len(names)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    limit = ""
    if visible is not None:
        allowed = len([v for v in visible.split(",") if v.strip() and v.strip() != "-1"])
        if allowed < count:
            count, limit = allowed, f", {allowed} allowed by CUDA_VISIBLE_DEVICES={visible!r}"
    if not names:
        return 0, f"no NVIDIA GPU found ({reading.reason or 'NVML lists none'})"
    return count, f"{len(names)} NVIDIA GPU(s): {', '.join(names)}{limit}"
