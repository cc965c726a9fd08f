"""Reports stored with the run, on SQLite and PostgreSQL: round trip, newest first, the
registry's refusal, and deletion with the run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy import select

from rigml.errors import GatesFailed, RunNotFound
from rigml.gates import (
    RunReference,
    evaluate_gates,
    latest_gate_report,
    require_gates_passed,
    store_gate_report,
)
from rigml.store.schema import gate_reports
from rigml.track.delete import delete_runs

from .conftest import CANDIDATE, PRODUCTION, run_maker

RULES = [
    "metrics.auc >= 0.85",
    "metrics.auc >= production - 1%",
    "slices(metrics.auc, by=segment) >= overall - 0.05",
    "artifacts.size_mb <= 200",
]


@pytest.fixture
def runs(any_lab, tmp_path: Path) -> tuple[str, str]:
    make = run_maker(any_lab, tmp_path)
    return make("candidate", CANDIDATE, artifact_bytes=1024), make("prod", PRODUCTION)


def test_a_report_round_trips_through_the_store(any_lab, runs) -> None:
    candidate, production = runs
    report = evaluate_gates(any_lab, candidate, RULES, reference=RunReference(any_lab, production))
    assert report.id is None
    stored_id = store_gate_report(any_lab, report)
    assert report.id == stored_id
    back = latest_gate_report(any_lab, candidate)
    assert back is not None
    assert back.to_dict() == report.to_dict()
    assert back.results == report.results and back.passed
    with any_lab.store.read() as conn:
        row = conn.execute(select(gate_reports)).one()
    assert row.run_id == candidate and row.passed is True
    assert row.reference_id == production
    assert json.loads(row.rules) == RULES
    assert [r["verdict"] for r in json.loads(row.results)] == ["pass"] * 4


def test_the_newest_report_counts_and_the_registry_can_refuse(any_lab, runs) -> None:
    candidate, _ = runs
    with pytest.raises(GatesFailed) as info:
        require_gates_passed(any_lab, candidate)
    assert "has no stored gate report" in info.value.message and info.value.report is None

    failed = evaluate_gates(any_lab, candidate, ["metrics.auc >= 0.95", "metrics.loss < 0.3"])
    store_gate_report(any_lab, failed)
    with pytest.raises(GatesFailed) as info:
        require_gates_passed(any_lab, "candidate")
    message = info.value.message
    assert "run candidate fails its evaluation gates" in message
    assert "rule" in message and "verdict" in message  # the table's header
    assert "metrics.auc >= 0.95  0.9" in message and "fail" in message
    assert info.value.hint and "rig gates show candidate" in info.value.hint

    passed = evaluate_gates(any_lab, candidate, [{"rule": "metrics.auc >= 0.85", "name": "floor"}])
    assert passed.rows()[0][0] == "floor: metrics.auc >= 0.85"
    store_gate_report(any_lab, passed)
    assert require_gates_passed(any_lab, candidate).id == passed.id
    with pytest.raises(RunNotFound):
        latest_gate_report(any_lab, "nobody")


def test_no_reference_and_nan_survive_storage(any_lab, tmp_path: Path) -> None:
    run = run_maker(any_lab, tmp_path)("nan-run", {"loss": math.nan})
    report = evaluate_gates(any_lab, run, ["metrics.loss < 1", "metrics.loss <= production"])
    store_gate_report(any_lab, report)
    back = latest_gate_report(any_lab, run)
    assert back is not None and not back.passed
    first, second = back.results
    assert first.candidate is not None and math.isnan(first.candidate)
    assert second.verdict == "no-reference"


def test_deleting_a_run_deletes_its_reports(any_lab, runs) -> None:
    candidate, production = runs
    store_gate_report(any_lab, evaluate_gates(any_lab, candidate, ["metrics.auc >= 0.5"]))
    store_gate_report(any_lab, evaluate_gates(any_lab, production, ["metrics.auc >= 0.5"]))
    delete_runs(any_lab, [candidate])
    with any_lab.store.read() as conn:
        assert conn.execute(select(gate_reports.c.run_id)).scalars().all() == [production]
