"""A stage's ``gates:``, judged against its run once the stage is up to date.

The rules are read with ``rig.yaml`` (a bad rule fails before anything runs). After a
stage ran, its run is judged and the report stored with it (``rig gates show RUN``). A
stage that is up to date, or whose outs were restored, is judged again on the run that
``rig.lock`` records: the cache entry stays valid (the stage ran fine), but a rerun with
nothing changed still reports a failed gate instead of passing silently; a new report is
stored only when its rules or verdicts differ from the newest stored one. The run is
tagged ``rig.gates=passed|failed``; the registry refuses to promote a run whose newest
report failed (``require_gates_passed``).

Regression rules (``metrics.auc >= production - 1%``) need the model at an alias. A stage
with ``registry: NAME`` compares with the registry: the version of NAME holding the alias
(:class:`~rigml.registry.RegistryReference`). A stage without one falls back on
:class:`TaggedRunReference`: the newest run tagged ``rig.alias=ALIAS`` holds ``ALIAS``.
Nobody holding it -> the verdict ``no-reference`` (a pass, labelled). ``rig run
--gates-against RUN`` compares every stage against one run instead.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigml.gates import GateReport, Reference, ReferenceValues
    from rigml.lab import Lab
    from rigml.pipeline._spec import Pipeline, Stage
    from rigml.pipeline._stage import Session, StageResult

ALIAS_TAG = "rig.alias"  # the stand-in for registry aliases: a run tagged rig.alias=production
RESULT_TAG = "rig.gates"  # passed / failed, on the judged run
_JUDGED = ("ran", "up to date", "restored")


class TaggedRunReference:
    """Resolves an alias to the newest run tagged ``rig.alias=ALIAS``, or None (no run is).

    A stand-in until the model registry supplies the model at each alias.
    """

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._seen: dict[str, ReferenceValues | None] = {}

    def __call__(self, alias: str) -> ReferenceValues | None:
        if alias not in self._seen:
            from rigml.gates import ReferenceValues
            from rigml.track.queries import list_runs

            quoted = alias.replace("'", "")
            found = list_runs(self.lab, where=f"tags.{ALIAS_TAG} = '{quoted}'", limit=1)
            self._seen[alias] = (
                ReferenceValues(
                    found[0].id, dict(found[0].metrics), f"run {found[0].name} ({ALIAS_TAG})"
                )
                if found
                else None
            )
        return self._seen[alias]


def gate_reference(lab: Lab, pipeline: Pipeline, against: str | None) -> Reference | None:
    """What regression rules compare against: ``against`` (a run) for every alias, else
    the tagged runs; None when no stage has gates.

    Raises:
        RunNotFound: ``against`` names no run (before any stage runs).
    """
    if not any(s.gates for s in pipeline.stages.values()):
        return None
    if against is not None:
        from rigml.gates import RunReference

        return RunReference(lab, against)
    return TaggedRunReference(lab)


def judge_stage(session: Session, stage: Stage, result: StageResult) -> StageResult:
    """``result`` with the stage's gate report, when it has gates and is up to date.

    Raises:
        GateMetricMissing: a rule names a metric the run (or its reference) lacks.
        RunNotFound: the run rig.lock records for an up-to-date stage was deleted.
    """
    if not stage.gates or result.action not in _JUDGED:
        return result
    run_id = result.run_id or _locked_run(session, stage)
    if run_id is None:
        return result
    from rigml.errors import RunNotFound
    from rigml.gates import evaluate_gates
    from rigml.track.runs import set_tags

    lab = session.lab
    reference = _stage_reference(session, stage)
    try:
        report = evaluate_gates(lab, run_id, list(stage.gates), reference=reference)
    except RunNotFound as exc:
        if exc.run_id == run_id:  # the stage's own run, not a reference
            exc.hint = (
                f"rig.lock records run {run_id[:12]} for stage {stage.name!r}, but the lab no "
                f"longer has it; `rig run {stage.name} --force` runs the stage again"
            )
        raise
    _store(lab, report, fresh=result.action == "ran")
    set_tags(lab, run_id, {RESULT_TAG: "passed" if report.passed else "failed"})
    return dataclasses.replace(result, gates=report)


def _stage_reference(session: Session, stage: Stage) -> Reference | None:
    """The registry model the stage names (``registry: NAME``), unless ``--gates-against``."""
    model = stage.later.get("registry")
    if isinstance(model, str) and isinstance(session.reference, TaggedRunReference):
        from rigml.registry import RegistryReference

        return RegistryReference(session.lab, model)
    return session.reference


def _locked_run(session: Session, stage: Stage) -> str | None:
    from rigml.pipeline._lockfile import read_lock

    run = (read_lock(session.pipeline.lock_file).get(stage.name) or {}).get("run")
    return str(run) if run else None


def _store(lab: Lab, report: GateReport, *, fresh: bool) -> None:
    """Store ``report``, unless the run's newest report already says the same."""
    from rigml.gates import latest_gate_report, store_gate_report

    if not fresh:
        newest = latest_gate_report(lab, report.run_id)
        if newest is not None and _same(newest, report):
            report.id = newest.id
            return
    store_gate_report(lab, report)


def _same(a: GateReport, b: GateReport) -> bool:
    def key(r: GateReport) -> list[tuple[object, ...]]:
        return [(x.rule, x.name, x.verdict, x.reference_id) for x in r.results]

    return key(a) == key(b)
