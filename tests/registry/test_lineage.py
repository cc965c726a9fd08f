"""Lineage: the run, its code, data, environment, machine and gates; the moves; the diagram."""

from __future__ import annotations

import json

import pytest

from rigml.errors import ModelNotFound
from rigml.registry import approve, lineage, promote, to_mermaid
from rigml.track.runs import start_run


@pytest.fixture
def traced(lab, classifier, dataset, tmp_path):
    """churn@1 from a run that read a dataset version, captured everything, passed gates."""
    import rigml.data
    from rigml.gates import evaluate_gates, store_gate_report

    X, _y = dataset
    csv = tmp_path / "churn.csv"
    csv.write_text("a,b\n" + "\n".join(f"{i},{i % 2}" for i in range(20)) + "\n")
    rigml.data.add(lab, csv, name="churn-data")
    with start_run(lab, experiment="registry", system_metrics=False) as run:
        run.use_dataset("churn-data")
        run.log({"auc": 0.91})
        version = run.log_model(classifier, name="churn", example=X[:5])
    store_gate_report(lab, evaluate_gates(lab, run.id, ["metrics.auc >= 0.9"]))
    promote(lab, "churn", 1, to="staging", reason="passes", actor="alice")
    approve(lab, "churn", 1, actor="bob")
    promote(lab, "churn", 1, to="production", actor="alice")
    return version


def test_lineage_answers_where_a_version_came_from(lab, traced) -> None:
    lin = lineage(lab, "churn@production")
    assert lin.version.ref == "churn@1" and set(lin.version.aliases) == {"staging", "production"}
    assert lin.run is not None and lin.run["id"] == traced.run_id
    assert [d["ref"] for d in lin.datasets] == ["churn-data@1"]
    assert lin.environment is not None and lin.environment["packages"] > 10
    assert lin.machine is not None and lin.machine["cores"] >= 1
    assert [g["passed"] for g in lin.gates] == [True, True, True]  # stored, then each promotion
    assert [(p["alias"], p["action"], p["actor"]) for p in lin.promotions] == [
        ("staging", "promote", "alice"),
        ("production", "promote", "alice"),
    ]
    assert [a["approver"] for a in lin.approvals] == ["bob"]
    json.dumps(lin.to_dict())  # JSON-ready throughout


def test_the_diagram_holds_every_part_of_the_lineage(lab, traced) -> None:
    graph = lineage(lab, "churn@1").graph()
    kinds = {n.kind for n in graph.nodes}
    assert {"dataset", "run", "environment", "machine", "gate", "version", "alias"} <= kinds
    ids = {n.id for n in graph.nodes}
    assert all(e.src in ids and e.dst in ids for e in graph.edges)
    text = to_mermaid(graph)
    assert text.startswith("flowchart LR") and "churn v1" in text and "churn-data@1" in text


def test_lineage_of_an_unknown_alias_is_an_error(lab, traced) -> None:
    with pytest.raises(ModelNotFound):
        lineage(lab, "churn@archived")
