"""Promotion through the gates, overrides, approvals, rollback, removal, and their audit."""

from __future__ import annotations

import pytest

from rigml.audit import entries, verify
from rigml.errors import (
    GateMetricMissing,
    InvalidInput,
    ModelNotFound,
    NothingToRollBack,
    PromotionBlocked,
    PromotionRefused,
)
from rigml.gates import evaluate_gates, latest_gate_report, store_gate_report
from rigml.registry import (
    alias_history,
    approvals,
    approve,
    get_version,
    promote,
    remove_alias,
    rollback,
)

REGRESSION = "metrics.auc >= production - 0.01"


def test_promote_without_gates_moves_the_alias_and_records_it(lab, make_version) -> None:
    make_version()
    done = promote(lab, "churn", 1, to="staging", reason="first candidate", actor="alice")
    assert done.move is not None and done.gates is None
    assert (done.move.from_version, done.move.to_version, done.move.action) == (None, 1, "promote")
    assert get_version(lab, "churn@staging").version == 1
    (entry,) = entries(lab, action="alias.")
    assert (entry.subject, entry.actor, entry.reason) == (
        "churn@staging",
        "alice",
        "first candidate",
    )
    assert entry.after == {"version": 1, "gate_report": None}


def test_promoting_the_holder_again_moves_nothing(lab, make_version) -> None:
    make_version()
    promote(lab, "churn", 1, to="staging")
    assert promote(lab, "churn", "latest", to="staging").move is None
    assert len(alias_history(lab, "churn")) == 1


def test_a_failing_gate_blocks_and_keeps_its_report(lab, make_version) -> None:
    make_version(0.9)
    promote(lab, "churn", 1, to="production")
    v2 = make_version(0.85)
    with pytest.raises(PromotionBlocked) as exc:
        promote(lab, "churn", 2, to="production", gates=[REGRESSION])
    assert "churn@2 cannot move to production" in exc.value.message
    assert "fail" in exc.value.message and "--force" in (exc.value.hint or "")
    assert get_version(lab, "churn@production").version == 1
    stored = latest_gate_report(lab, v2.run_id)
    assert stored is not None and not stored.passed
    assert stored.results[0].reference_id == "churn@1"


def test_a_better_candidate_passes_against_the_holder(lab, make_version) -> None:
    make_version(0.9)
    promote(lab, "churn", 1, to="production")
    make_version(0.95)
    done = promote(lab, "churn", 2, to="production", gates=[REGRESSION, "metrics.auc >= 0.9"])
    assert done.gates is not None and done.gates.passed
    assert done.move is not None and done.move.gate_report_id == done.gates.id
    assert done.move.from_version == 1


def test_the_stages_stored_rules_apply_when_none_are_given(lab, make_version) -> None:
    v1 = make_version(0.9)
    store_gate_report(lab, evaluate_gates(lab, v1.run_id, ["metrics.auc >= 0.95"]))
    with pytest.raises(PromotionBlocked):
        promote(lab, "churn", 1, to="staging")
    assert alias_history(lab, "churn") == []


def test_a_gate_naming_a_missing_metric_is_an_error_and_moves_nothing(lab, make_version) -> None:
    make_version()
    with pytest.raises(GateMetricMissing):
        promote(lab, "churn", 1, to="staging", gates=["metrics.f1 >= 0.5"])
    assert alias_history(lab, "churn") == []


def test_force_needs_a_reason_and_is_recorded_as_an_override(lab, make_version) -> None:
    make_version(0.5)
    with pytest.raises(InvalidInput, match="--force needs a reason"):
        promote(lab, "churn", 1, to="production", force=True, reason="  ")
    done = promote(lab, "churn", 1, to="production", force=True, reason="incident 42",
                   gates=["metrics.auc >= 0.9"])  # fmt: skip
    assert done.move is not None and done.move.action == "force"
    assert done.gates is not None and not done.gates.passed  # the evidence is kept
    (entry,) = entries(lab, action="alias.force")
    assert entry.reason == "incident 42"


def test_rollback_restores_the_previous_holder_and_stacks(lab, make_version) -> None:
    for auc in (0.8, 0.85, 0.9):
        make_version(auc)
    for v in (1, 2, 3):
        promote(lab, "churn", v, to="production")
    assert rollback(lab, "churn", "production", reason="bad latency").to_version == 2
    assert rollback(lab, "churn").to_version == 1
    with pytest.raises(NothingToRollBack, match="first to hold it"):
        rollback(lab, "churn")
    promote(lab, "churn", 3, to="production")
    move = rollback(lab, "churn")
    assert (move.from_version, move.to_version, move.action) == (3, 1, "rollback")
    assert get_version(lab, "churn@production").version == 1
    history = alias_history(lab, "churn", "production")
    assert [(m.from_version, m.to_version) for m in history] == [
        (None, 1), (1, 2), (2, 3), (3, 2), (2, 1), (1, 3), (3, 1)
    ]  # fmt: skip
    assert verify(lab).ok


def test_rollback_of_an_unheld_alias_is_refused(lab, make_version) -> None:
    make_version()
    with pytest.raises(NothingToRollBack, match="no version holds it"):
        rollback(lab, "churn", "production")


def test_remove_alias(lab, make_version) -> None:
    make_version()
    promote(lab, "churn", 1, to="champion")
    move = remove_alias(lab, "churn", "champion", reason="retired")
    assert (move.from_version, move.to_version, move.action) == (1, None, "remove")
    with pytest.raises(ModelNotFound, match="no version holds"):
        get_version(lab, "churn@champion")
    with pytest.raises(ModelNotFound):
        remove_alias(lab, "churn", "champion")


@pytest.mark.parametrize("alias", ["3", "v3", "latest", "has space", ""])
def test_aliases_that_read_as_versions_are_refused(lab, make_version, alias) -> None:
    make_version()
    with pytest.raises(InvalidInput):
        promote(lab, "churn", 1, to=alias)


def test_production_needs_another_users_approval_when_the_policy_says_so(
    tmp_path, classifier, dataset
) -> None:
    from conftest import make_lab

    from .conftest import version_maker

    first = make_lab(tmp_path / "policy")
    first.close()
    toml = first.path / "rig.toml"
    policy = toml.read_text().replace('# approval = ["production"]', 'approval = ["production"]')
    toml.write_text(policy)
    lab = type(first)(first.path)  # the policy is read with rig.toml
    try:
        version_maker(lab, classifier, dataset)()
        promote(lab, "churn", 1, to="staging", actor="alice")  # staging needs none
        with pytest.raises(PromotionRefused, match="needs another user's approval"):
            promote(lab, "churn", 1, to="production", actor="alice")
        approve(lab, "churn", 1, actor="alice")
        with pytest.raises(PromotionRefused, match="only by the promoter"):
            promote(lab, "churn", 1, to="production", actor="alice")
        approve(lab, "churn", 1, actor="bob", comment="looked at the slices")
        done = promote(lab, "churn", 1, to="production", actor="alice")
        assert done.approval is not None and done.approval.approver == "bob"
        assert [a.approver for a in approvals(lab, "churn@1")] == ["alice", "bob"]
        assert len(entries(lab, action="model.approve")) == 2
    finally:
        lab.close()
