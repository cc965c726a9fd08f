"""``rig preflight``: catch what would waste a long (or rented) job before it starts.

For the selected stages and everything upstream of them: deps present and readable
(``data:`` deps resolve), the dataset versions' stored contract checks, disk space for the
outs (estimated from the last run's sizes in ``rig.lock``), ``resources.memory`` against
the memory available now, ``resources.gpus`` against the GPUs visible, the fit planner's
verdict for a stage's ``model:``, ``rig doctor``'s findings, and each stage's ``smoke:``
command. Nothing here runs a stage, records a run or touches ``rig.lock``: a smoke
command is a plain process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rigml.data._refs import VersionInfo
    from rigml.fit.planner import Target
    from rigml.lab import Lab
    from rigml.machine.doctor import DoctorContext
    from rigml.pipeline._graph import Graph
    from rigml.pipeline._preflight_spec import ModelSpec, Smoke
    from rigml.pipeline._spec import Pipeline

Status = Literal["pass", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("fail", "warn", "pass")
CHECKS = ("deps", "contract", "disk", "memory", "gpus", "fit", "doctor", "smoke")


@dataclass(frozen=True)
class PreflightCheck:
    """One row of the report: what was checked, for which stage (None: the machine)."""

    check: str  # one of CHECKS
    stage: str | None
    status: Status
    evidence: str
    fix: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)  # the numbers behind it (--json)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PreflightReport:
    """Every check's verdict; ``rig preflight`` exits 1 when any failed."""

    pipeline: str
    stages: tuple[str, ...]
    checks: tuple[PreflightCheck, ...]
    elapsed_s: float

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for c in self.checks:
            counts[c.status] += 1
        return counts

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "pipeline": self.pipeline,
            "stages": list(self.stages),
            "counts": self.counts,
            "elapsed_s": round(self.elapsed_s, 3),
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class PreflightOptions:
    """What to check and, for tests or other machines, the facts to judge against.

    Args:
        smoke: Run the stages' ``smoke:`` commands.
        doctor: Run ``rig doctor``'s checks.
        doctor_checks: Doctor check ids or groups; None: all but the slow ones
            (:data:`SLOW_DOCTOR_CHECKS`).
        doctor_context: The facts the doctor reads (default: this machine).
        gpu: Plan ``model:`` for this GPU of the table instead of this machine's.
        vram_gb: Plan ``model:`` for a GPU with this much memory (GiB).
        fit_targets: Explicit planner targets (overrides ``gpu`` and ``vram_gb``).
        free_bytes: Free bytes on the filesystem holding a path (default: measured).
        available_memory: Bytes of memory available to a stage (default: measured).
        gpu_count: GPUs a stage can use (default: NVIDIA GPUs NVML lists, less what
            ``CUDA_VISIBLE_DEVICES`` hides).
    """

    smoke: bool = True
    doctor: bool = True
    doctor_checks: tuple[str, ...] | None = None
    doctor_context: DoctorContext | None = None
    gpu: str | None = None
    vram_gb: float | None = None
    fit_targets: tuple[Target, ...] | None = None
    free_bytes: Callable[[str], int] | None = None
    available_memory: int | None = None
    gpu_count: int | None = None


@dataclass(frozen=True)
class StageSpecs:
    """A stage's preflight keys, validated before anything is checked."""

    model: ModelSpec | None
    smoke: Smoke | None
    memory: int | None


@dataclass
class Context:
    """What the checks of one preflight share."""

    lab: Lab
    pipeline: Pipeline
    graph: Graph
    order: list[str]
    lock: dict[str, dict[str, Any]]
    options: PreflightOptions
    specs: dict[str, StageSpecs]
    versions: dict[str, VersionInfo | Exception] = field(default_factory=dict)

    def version(self, ref: str) -> VersionInfo | Exception:
        """Dataset version ``ref`` resolved once, or the error that resolving raised."""
        from rigml.errors import RigError

        if ref not in self.versions:
            from rigml.data._refs import resolve

            try:
                self.versions[ref] = resolve(self.lab, ref)
            except RigError as exc:
                self.versions[ref] = exc
        return self.versions[ref]


def preflight(
    lab: Lab,
    pipeline: Pipeline,
    targets: Iterable[str] | None = None,
    *,
    options: PreflightOptions | None = None,
) -> PreflightReport:
    """Check ``targets`` (default: every stage) and their upstream before running them.

    Load the pipeline with ``load_pipeline(deps_on_disk=False)`` so that a missing dep is
    a failed check here instead of an error there.

    Raises:
        UnknownStage: a target is not a stage.
        InvalidPipeline: a stage's ``model``, ``smoke`` or ``resources.memory`` is malformed.
        InvalidInput, UnknownGpu: ``vram_gb`` or ``gpu`` cannot be planned for.
    """
    from rigml.pipeline import _preflight_checks as checks
    from rigml.pipeline import _preflight_run as run
    from rigml.pipeline._graph import build_graph
    from rigml.pipeline._lockfile import read_lock
    from rigml.pipeline._status import select

    start = time.perf_counter()
    opts = options or PreflightOptions()
    graph = build_graph(pipeline.stages)
    order = graph.topological(select(pipeline, graph, list(targets or []) or None))
    specs = {name: _specs(pipeline, name) for name in order}
    ctx = Context(lab, pipeline, graph, order, read_lock(pipeline.lock_file), opts, specs)
    rows: list[PreflightCheck] = []
    for name in order:
        rows += checks.dep_checks(ctx, name)
    for name in order:
        rows += checks.contract_checks(ctx, name)
    rows += checks.disk_checks(ctx)
    rows += checks.memory_checks(ctx)
    rows += checks.gpu_checks(ctx)
    rows += run.fit_checks(ctx)
    if opts.doctor:
        rows += run.doctor_checks(ctx)
    if opts.smoke:
        rows += run.smoke_checks(ctx)
    return PreflightReport(pipeline.name, tuple(order), tuple(rows), time.perf_counter() - start)


def _specs(pipeline: Pipeline, name: str) -> StageSpecs:
    from rigml.pipeline._preflight_spec import memory_bytes, model_spec, smoke_spec

    stage = pipeline.stages[name]
    return StageSpecs(
        model_spec(pipeline, stage), smoke_spec(pipeline, stage), memory_bytes(pipeline, stage)
    )
