"""Judging real runs: thresholds, regressions against a reference, slices, sizes, and the
errors a gate that cannot be evaluated raises."""

from __future__ import annotations

import math

import pytest

from rigml.errors import GateMetricMissing, NotFound, RunNotFound
from rigml.gates import GateReport, ReferenceValues, RunReference, evaluate_gates


def _one(report: GateReport) -> tuple[str, float | None, float | None, float | None]:
    (result,) = report.results
    return result.verdict, result.candidate, result.reference, result.threshold


@pytest.mark.parametrize(
    ("rule", "verdict", "value"),
    [
        ("metrics.auc >= 0.85", "pass", 0.90),
        ("metrics.auc >= 0.95", "fail", 0.90),
        ("metrics.auc > 0.9", "fail", 0.90),
        ("metrics.loss < 0.3", "pass", 0.25),
        ("metrics.loss <= 0.2", "fail", 0.25),
        ("metrics.auc == 0.9", "pass", 0.90),
        ("metrics.auc != 0.9", "fail", 0.90),
        ("latency_ms.p95 <= 50", "pass", 42.0),
        ("size_mb <= 100", "fail", 120.0),
        ("artifacts.size_mb <= 200", "pass", 3.0),
        ("artifacts.size_mb < 2", "fail", 3.0),
    ],
)
def test_absolute_thresholds(lab, candidate, rule, verdict, value) -> None:
    report = evaluate_gates(lab, "candidate", [rule])
    got_verdict, got_value, reference, _ = _one(report)
    assert (got_verdict, reference) == (verdict, None)
    assert got_value == pytest.approx(value)
    assert report.passed is (verdict == "pass")
    assert report.run_id == candidate and report.run_name == "candidate"


def test_the_candidate_value_is_the_latest(lab, candidate) -> None:
    assert _one(evaluate_gates(lab, candidate, ["metrics.auc >= 0.85"]))[1] == 0.90


@pytest.mark.parametrize(
    ("rule", "verdict", "threshold"),
    [
        ("metrics.auc >= production - 0.01", "pass", 0.895),
        ("metrics.auc >= production", "fail", 0.905),
        ("metrics.auc >= production * 0.99", "pass", 0.905 * 0.99),
        ("metrics.auc >= production * 0.999", "fail", 0.905 * 0.999),
        ("metrics.auc >= production - 1%", "pass", 0.905 - 0.00905),
        ("metrics.auc >= production - 0.1%", "fail", 0.905 - 0.000905),
        ("metrics.loss <= production", "pass", 0.30),
        ("latency_ms.p95 <= production + 10%", "pass", 49.5),
    ],
)
def test_regression_against_a_reference_run(lab, candidate, production, rule, verdict, threshold):
    report = evaluate_gates(lab, "candidate", [rule], reference=RunReference(lab, production))
    (result,) = report.results
    assert result.verdict == verdict, result.reason
    assert result.threshold == pytest.approx(threshold)
    assert result.reference_id == production and report.reference_id == production
    assert result.reference is not None and "production" in result.reason


def test_no_reference_passes_clearly_labelled(lab, candidate) -> None:
    rules = ["metrics.auc >= production - 0.01", "metrics.auc >= 0.85"]
    report = evaluate_gates(lab, candidate, rules)
    first = report.results[0]
    assert report.passed and first.verdict == "no-reference"
    assert "no model holds alias 'production'" in first.reason
    assert first.candidate == 0.90 and first.reference is None and first.threshold is None
    assert report.reference_id is None

    strict = evaluate_gates(lab, candidate, rules, require_reference=True)
    assert not strict.passed and strict.results[0].verdict == "fail"
    assert "a reference is required" in strict.results[0].reason


def test_a_reference_is_any_callable_and_each_alias_is_resolved_once(lab, candidate) -> None:
    asked: list[str] = []

    def registry(alias: str) -> ReferenceValues | None:
        asked.append(alias)
        if alias == "production":
            return ReferenceValues("churn-v3", {"auc": 0.95}, "churn v3")
        return None

    rules = [
        "metrics.auc >= production - 0.01",
        "metrics.auc >= production * 0.9",
        "metrics.auc >= staging",
    ]
    report = evaluate_gates(lab, candidate, rules, reference=registry)
    assert asked == ["production", "staging"]
    assert [r.verdict for r in report.results] == ["fail", "pass", "no-reference"]
    assert report.reference_id == "churn-v3" and not report.passed


def test_run_reference_limited_to_some_aliases(lab, candidate, production) -> None:
    ref = RunReference(lab, "production-model", aliases={"staging"})
    report = evaluate_gates(lab, candidate, ["metrics.auc >= production"], reference=ref)
    assert report.results[0].verdict == "no-reference"
    with pytest.raises(RunNotFound):
        RunReference(lab, "no-such-run")


def test_slices_against_overall(lab, candidate) -> None:
    by_segment = evaluate_gates(
        lab, candidate, ["slices(metrics.auc, by=segment) >= overall - 0.05"]
    ).results[0]
    assert by_segment.verdict == "pass"
    assert by_segment.slice == "segment=new" and by_segment.candidate == 0.87  # the worst
    assert by_segment.reference == 0.90 and by_segment.threshold == pytest.approx(0.85)
    assert "worst slice segment=new" in by_segment.reason

    every = evaluate_gates(lab, candidate, ["slices(metrics.auc) >= overall - 0.05"]).results[0]
    assert every.verdict == "fail" and every.slice == "region=eu" and every.candidate == 0.80

    fixed = evaluate_gates(lab, candidate, ["slices(metrics.auc, by=segment) < 0.9"]).results[0]
    assert fixed.verdict == "fail" and fixed.slice == "segment=old"  # the one that fails


def test_a_missing_metric_is_an_error_with_close_matches(lab, candidate) -> None:
    with pytest.raises(GateMetricMissing) as info:
        evaluate_gates(lab, candidate, ["metrics.auc >= 0.8", "metrics.acu >= 0.8"])
    err = info.value
    assert isinstance(err, NotFound) and err.exit_code == 2
    assert err.metric == "acu" and "auc" in err.close
    assert "run candidate has no metric 'acu'" in err.message
    assert err.hint and err.hint.startswith("did you mean auc") and "latency_ms.p95" in err.hint


def test_missing_slices_overall_artifacts_and_reference_metrics_are_errors(
    lab, candidate, production, make_run
) -> None:
    with pytest.raises(GateMetricMissing) as info:
        evaluate_gates(lab, candidate, ["slices(metrics.loss, by=segment) <= 1"])
    assert "slice/segment/VALUE/loss" in info.value.message
    assert info.value.hint and "slice/segment/eu/loss" in info.value.hint
    bare = make_run("bare", {"slice/segment/a/f1": 0.5})
    with pytest.raises(GateMetricMissing, match="no metric 'f1'"):
        evaluate_gates(lab, bare, ["slices(metrics.f1) >= overall - 0.1"])
    with pytest.raises(GateMetricMissing) as info:
        evaluate_gates(lab, bare, ["artifacts.size_mb <= 10"])
    assert info.value.hint and "logged no artifacts" in info.value.hint
    with pytest.raises(GateMetricMissing) as info:
        evaluate_gates(
            lab, candidate, ["size_mb <= production"], reference=RunReference(lab, production)
        )
    assert "reference run production-model has no metric 'size_mb'" in info.value.message


def test_nan_never_passes(lab, make_run) -> None:
    run = make_run("diverged", {"loss": math.nan, "slice/s/a/loss": math.nan, "slice/s/b/loss": 1})
    for rule in ("metrics.loss < 1", "metrics.loss != 1", "slices(metrics.loss) <= 2"):
        result = evaluate_gates(lab, run, [rule]).results[0]
        assert result.verdict == "fail" and math.isnan(result.candidate or 0.0), rule
