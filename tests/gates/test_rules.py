"""Reading rules: every supported form, the mapping form, and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigml.errors import InvalidGate, InvalidInput
from rigml.gates import Bound, Gate, Subject, load_gates_file, parse_gate, parse_gates


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("metrics.auc >= 0.85", "metrics.auc >= 0.85"),
        ("metrics.loss<0.3", "metrics.loss < 0.3"),
        ("metrics.acc > 0.5", "metrics.acc > 0.5"),
        ("metrics.loss <= 1e-3", "metrics.loss <= 0.001"),
        ("metrics.epochs == 10", "metrics.epochs == 10"),
        ("metrics.nans != 0", "metrics.nans != 0"),
        ("latency_ms.p95 <= 50", "metrics.latency_ms.p95 <= 50"),
        ("size_mb <= 200", "metrics.size_mb <= 200"),
        ("metrics.val/auc >= -0.5", "metrics.val/auc >= -0.5"),
        ("artifacts.size_mb <= 200", "artifacts.size_mb <= 200"),
        ("metrics.auc >= production", "metrics.auc >= production"),
        ("metrics.auc >= production - 0.01", "metrics.auc >= production - 0.01"),
        ("metrics.auc>=production-0.01", "metrics.auc >= production - 0.01"),
        ("metrics.auc >= production * 0.99", "metrics.auc >= production * 0.99"),
        ("metrics.auc >= production - 1%", "metrics.auc >= production - 1%"),
        ("metrics.loss <= staging + 5 %", "metrics.loss <= staging + 5%"),
        ("metrics.auc >= prod-eu - 0.01", "metrics.auc >= prod-eu - 0.01"),
        (
            "slices(metrics.auc, by=segment) >= overall - 0.05",
            "slices(metrics.auc, by=segment) >= overall - 0.05",
        ),
        ("slices( auc ) > 0.7", "slices(metrics.auc) > 0.7"),
        ("slices_seen >= 3", "metrics.slices_seen >= 3"),
    ],
)
def test_every_form_reads_and_spells_back_canonically(text: str, canonical: str) -> None:
    gate = parse_gate(text)
    assert gate.text == canonical
    assert parse_gate(gate.text) == gate  # the canonical text reads back the same


def test_the_parts_of_a_regression_and_a_slice_rule() -> None:
    gate = parse_gate("metrics.auc >= production - 1%")
    assert gate == Gate(
        Subject("metric", "auc"),
        ">=",
        Bound(against="production", adjust="-", amount=1.0, percent=True),
    )
    assert gate.alias == "production"
    assert gate.bound.threshold(0.9) == pytest.approx(0.891)
    assert parse_gate("metrics.auc >= production * 0.99").bound.threshold(0.9) == 0.891
    assert parse_gate("metrics.loss <= production + 10%").bound.threshold(-2.0) == -1.8
    sliced = parse_gate("slices(metrics.auc, by=segment) >= overall - 0.05")
    assert sliced.subject == Subject("slices", "auc", "segment")
    assert sliced.alias is None and sliced.bound.against == "overall"


def test_mappings_read_like_text() -> None:
    gates = parse_gates(
        [
            {"rule": "metrics.auc >= 0.85", "name": "auc floor"},
            {"metric": "auc", "op": ">=", "value": 0.85},
            {"metric": "metrics.auc", "op": ">=", "value": "production - 1%"},
            {"metric": "auc", "op": ">=", "value": "overall - 0.05", "slices": "segment"},
            {"metric": "auc", "op": ">", "value": 0.7, "slices": True},
            {"metric": "artifacts.size_mb", "op": "<=", "value": 200},
        ]
    )
    assert [g.text for g in gates] == [
        "metrics.auc >= 0.85",
        "metrics.auc >= 0.85",
        "metrics.auc >= production - 1%",
        "slices(metrics.auc, by=segment) >= overall - 0.05",
        "slices(metrics.auc) > 0.7",
        "artifacts.size_mb <= 200",
    ]
    assert gates[0].name == "auc floor" and gates[1].name is None


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("metrics.auc", "has no comparison"),
        ("metrics.auc >=", "nothing after the comparison"),
        ("metrics.auc >= high", None),  # an alias: fine
        ("metrics.auc >= production - x", "cannot read the bound"),
        ("metrics.auc >= production * 2%", "a factor takes no %"),
        ("metrics.auc >= overall - 0.05", "only meaningful in a slices"),
        ("slices(metrics.auc) >= production", "compares with a number or with overall"),
        ("slices(metrics.auc, segment) >= 0.5", "cannot read"),
        ("slices(metrics.auc >= 0.5", "never closed"),
        ("artifacts.files <= 3", "unknown artifact figure"),
        ("artifacts.size_mb <= production", "compares with a number"),
        ("metrics. >= 1", "is not a metric"),
        ("metrics.auc >= 1e999", "not a finite number"),
        ("", "expected a rule"),
    ],
)
def test_bad_rules_are_located_errors(spec: str, needle: str | None) -> None:
    specs = ["metrics.ok >= 1", "metrics.ok >= 1", spec]
    if needle is None:
        assert parse_gates(specs)[2].alias == "high"
        return
    with pytest.raises(InvalidGate) as info:
        parse_gates(specs)
    assert info.value.message.startswith("gates[2]: "), info.value.message
    assert needle in info.value.message
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, ValueError)
    assert info.value.hint and "metrics.auc >= 0.85" in info.value.hint


@pytest.mark.parametrize(
    ("spec", "where", "needle"),
    [
        ({"metric": "auc", "op": ">=", "value": 0.8, "bogus": 1}, "gates[1].bogus", "unknown"),
        ({"metric": "auc", "op": "=>", "value": 0.8}, "gates[1].op", "'>='"),
        ({"metric": "auc", "value": 0.8}, "gates[1].op", "missing"),
        ({"rule": "metrics.auc >= 0.8", "op": ">"}, "gates[1].op", "unknown"),
        ({"rule": "metrics.auc >= "}, "gates[1]", "nothing after"),
        ({"metric": "auc", "op": ">", "value": [1]}, "gates[1].value", "a number or a bound"),
        ({"metric": "auc", "op": ">", "value": 1, "slices": 3.5}, "gates[1].slices", "segment"),
        (42, "gates[1]", "a rule string or a mapping"),
    ],
)
def test_bad_mappings_name_the_field(spec: object, where: str, needle: str) -> None:
    with pytest.raises(InvalidGate) as info:
        parse_gates(["metrics.auc >= 0.8", spec])  # type: ignore[list-item]
    assert info.value.where == where, info.value.message
    assert needle in info.value.message


def test_a_gates_value_that_is_not_a_list() -> None:
    with pytest.raises(InvalidGate, match="gates: expected a list of rules"):
        parse_gates("metrics.auc >= 0.8")  # type: ignore[arg-type]


def test_a_yaml_file_is_a_list_or_has_a_gates_key(tmp_path: Path) -> None:
    plain = tmp_path / "rules.yaml"
    plain.write_text("- metrics.auc >= 0.85\n- {metric: loss, op: '<', value: 0.3}\n")
    assert [g.text for g in load_gates_file(plain)] == [
        "metrics.auc >= 0.85",
        "metrics.loss < 0.3",
    ]
    rig_yaml = tmp_path / "rig.yaml"
    rig_yaml.write_text("stages: {}\ngates:\n  - metrics.auc >= 0.85\n  - metrics.auc >>= 1\n")
    with pytest.raises(InvalidGate) as info:
        load_gates_file(rig_yaml)
    assert info.value.where == f"{rig_yaml}: gates[1]"
    (tmp_path / "none.yaml").write_text("stages: {}\n")
    with pytest.raises(InvalidGate, match="has no gates: list"):
        load_gates_file(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("gates: [unclosed\n")
    with pytest.raises(InvalidGate, match="not valid YAML"):
        load_gates_file(tmp_path / "bad.yaml")
    with pytest.raises(InvalidGate, match="cannot read it"):
        load_gates_file(tmp_path / "missing.yaml")
