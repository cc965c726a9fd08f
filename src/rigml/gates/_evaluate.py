"""Evaluate gate rules against a run: every rule gets a verdict, the report an overall flag.

A rule naming a metric the run (or its reference) does not have raises
:class:`~rigml.errors.GateMetricMissing`: a gate that cannot be evaluated never passes.
A regression rule whose alias no model holds yet (a first deployment) passes with the
verdict ``no-reference``, unless ``require_reference`` makes it fail.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rigml.errors import GateMetricMissing
from rigml.gates._results import GateReport, GateResult
from rigml.gates._rules import OVERALL, Gate, Op, parse_gates

if TYPE_CHECKING:
    from rigml.gates._reference import Reference, ReferenceValues
    from rigml.lab import Lab

SLICE_PREFIX = "slice/"  # slice metrics are logged as slice/SEGMENT/VALUE/KEY
MIB = 1024 * 1024


def evaluate_gates(
    lab: Lab,
    run_ref: str,
    rules: Sequence[Gate | str | Mapping[str, Any]],
    *,
    reference: Reference | None = None,
    require_reference: bool = False,
) -> GateReport:
    """Judge run ``run_ref`` (an id, unique prefix or name) by ``rules``.

    Args:
        rules: :class:`Gate` values, or specs :func:`parse_gates` reads.
        reference: resolves the aliases of regression rules; None: no model holds any.
        require_reference: a regression rule without a reference fails instead of passing.

    Returns:
        The report (not stored: see :func:`store_gate_report`).

    Raises:
        InvalidGate: a rule cannot be read.
        GateMetricMissing: a rule names a metric the run or its reference lacks.
        RunNotFound: no run answers to ``run_ref``.
    """
    from rigml.track.queries import get_run

    gates = parse_gates(rules)
    info = get_run(lab, run_ref)
    candidate = _Candidate(lab, info.id, info.name, dict(info.metrics))
    refs = _References(reference)
    results = [_judge(gate, candidate, refs, require_reference) for gate in gates]
    return GateReport(info.id, info.name, time.time(), results)


@dataclass
class _Candidate:
    """The run being judged: its latest metrics, and its artifact size when a rule asks."""

    lab: Lab
    id: str
    name: str
    metrics: dict[str, float]
    _artifact_mb: float | None = field(default=None, init=False)

    @property
    def owner(self) -> str:
        return f"run {self.name}"

    def metric(self, gate: Gate, key: str) -> float:
        if key not in self.metrics:
            raise GateMetricMissing(gate.text, key, self.owner, sorted(self.metrics))
        return self.metrics[key]

    def values(self, gate: Gate) -> list[tuple[str | None, float]]:
        """``(slice, value)`` pairs the rule tests; slice is None but for slice rules."""
        subject = gate.subject
        if subject.kind == "slices":
            return self._slices(gate)
        if subject.kind == "artifacts":
            return [(None, self._artifacts_mb(gate))]
        return [(None, self.metric(gate, subject.key))]

    def _slices(self, gate: Gate) -> list[tuple[str | None, float]]:
        key, by = gate.subject.key, gate.subject.by
        suffix = f"/{key}"
        found: list[tuple[str | None, float]] = []
        for name, value in sorted(self.metrics.items()):
            if not (name.startswith(SLICE_PREFIX) and name.endswith(suffix)):
                continue
            segment, _, which = name[len(SLICE_PREFIX) : -len(suffix)].partition("/")
            if segment and which and (by is None or segment == by):
                found.append((f"{segment}={which}", value))
        if not found:
            pattern = f"{SLICE_PREFIX}{by or 'SEGMENT'}/VALUE/{key}"
            raise GateMetricMissing(
                gate.text,
                pattern,
                self.owner,
                sorted(self.metrics),
                hint=f"log each slice's value as a metric named {pattern}, e.g. "
                f"{SLICE_PREFIX}{by or 'region'}/eu/{key}",
            )
        return found

    def _artifacts_mb(self, gate: Gate) -> float:
        if self._artifact_mb is None:
            from rigml.track.artifacts import list_artifacts

            artifacts = list_artifacts(self.lab, self.id)
            if not artifacts:
                raise GateMetricMissing(
                    gate.text,
                    gate.subject.key,
                    self.owner,
                    [],
                    hint="the run logged no artifacts; log the model with run.log_artifact(path)",
                )
            self._artifact_mb = sum(a.size for a in artifacts) / MIB
        return self._artifact_mb


class _References:
    """Each alias resolved once per evaluation, whatever the number of rules naming it."""

    def __init__(self, reference: Reference | None) -> None:
        self._reference = reference
        self._seen: dict[str, ReferenceValues | None] = {}

    def get(self, alias: str) -> ReferenceValues | None:
        if alias not in self._seen:
            self._seen[alias] = None if self._reference is None else self._reference(alias)
        return self._seen[alias]


def _judge(gate: Gate, cand: _Candidate, refs: _References, required: bool) -> GateResult:
    values = cand.values(gate)
    base: float | None = None
    ref_id: str | None = None
    alias = gate.alias
    if alias is not None:
        ref = refs.get(alias)
        if ref is None:
            return _no_reference(gate, alias, values, required)
        if gate.subject.key not in ref.metrics:
            known = sorted(ref.metrics)
            raise GateMetricMissing(gate.text, gate.subject.key, ref.owner, known)
        base, ref_id = ref.metrics[gate.subject.key], ref.id
    elif gate.bound.against == OVERALL:
        base = cand.metric(gate, gate.subject.key)
    threshold = gate.bound.threshold(base)
    where, value = _worst(values, gate.op, threshold)
    ok = _holds(value, gate.op, threshold)
    return GateResult(
        rule=gate.text,
        verdict="pass" if ok else "fail",
        reason=_reason(gate, where, value, threshold, base, ok),
        candidate=value,
        reference=base,
        threshold=threshold,
        name=gate.name,
        reference_id=ref_id,
        slice=where,
    )


def _no_reference(
    gate: Gate, alias: str, values: list[tuple[str | None, float]], required: bool
) -> GateResult:
    why = f"no model holds alias {alias!r}"
    return GateResult(
        rule=gate.text,
        verdict="fail" if required else "no-reference",
        reason=f"{why} and a reference is required" if required else f"{why}: not compared",
        candidate=values[0][1],
        name=gate.name,
    )


def _holds(value: float, op: Op, threshold: float) -> bool:
    """Whether ``value OP threshold``; NaN never holds, ``==`` allows a relative 1e-9."""
    if math.isnan(value):
        return False
    close = math.isclose(value, threshold, rel_tol=1e-9, abs_tol=1e-12)
    if op == "==":
        return close
    if op == "!=":
        return not close
    return {
        ">=": value >= threshold,
        ">": value > threshold,
        "<=": value <= threshold,
        "<": value < threshold,
    }[op]


def _worst(
    values: list[tuple[str | None, float]], op: Op, threshold: float
) -> tuple[str | None, float]:
    """The value that decides the rule: the first failing one, else the closest to failing."""
    failing = [v for v in values if not _holds(v[1], op, threshold)]
    nan = [v for v in failing if math.isnan(v[1])]
    if nan:
        return nan[0]
    pool = failing or values
    if op in (">=", ">"):
        return min(pool, key=lambda v: v[1])
    if op in ("<=", "<"):
        return max(pool, key=lambda v: v[1])
    return pool[0]


def _reason(
    gate: Gate, where: str | None, value: float, threshold: float, base: float | None, ok: bool
) -> str:
    said = f"{value:.6g} {'' if ok else 'not '}{gate.op} {threshold:.6g}"
    if where is not None:
        said = f"worst slice {where}: {said}"
    if base is not None and gate.bound.adjust is not None:
        said += f" ({gate.bound.against} {base:.6g} {gate.bound.adjust} {gate.bound.amount:g}"
        said += "%)" if gate.bound.percent else ")"
    elif base is not None:
        said += f" ({gate.bound.against})"
    return said
