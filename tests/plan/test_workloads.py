"""Workloads from flags and files; malformed ones are refused with the entry named."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigml.errors import InvalidWorkload
from rigml.fit.catalogue import UnknownModel
from rigml.plan.workloads import FAMILIES, load_workloads, parse_flag, parse_frequency


def test_flags_take_family_defaults() -> None:
    w = parse_flag("lora-finetune")
    assert w.frequency == "weekly" and w.models == FAMILIES["lora-finetune"].models
    w = parse_flag("quantised-llm:3/week:llama-3.1-70b,qwen2.5-7b")
    assert [m for m, _ in w.models] == ["llama-3.1-70b", "qwen2.5-7b"]
    assert w.runs_per_month == pytest.approx(3 * 52 / 12)
    assert w.models[0][1]["quant"] == "Q4_K_M"  # the family's settings
    c = parse_flag("coding-assistant:continuous")
    assert c.hours_per_month == 730 and c.duty_cycle == 1.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("lora-finetun", "unknown family"),
        ("lora-finetune:-2/week", "above 0"),
        ("lora-finetune:-3", "above 0"),
        ("lora-finetune:often", "cannot read frequency"),
        ("a:b:c:d:e", "expected FAMILY"),
        ("lora-finetune:weekly::many", "hours per run must be a number"),
        ("large-training:5/day", "more than a month has"),
    ],
)
def test_bad_flags(text: str, match: str) -> None:
    with pytest.raises(InvalidWorkload, match=match):
        parse_flag(text)


def test_unknown_model_names_close_ones() -> None:
    with pytest.raises(UnknownModel) as e:
        parse_flag("quantised-llm:daily:llama-3.1-8bb")
    assert "llama-3.1-8b" in (e.value.hint or "")


def test_numbers_and_words() -> None:
    assert parse_frequency(4) == (4.0, "4/month")
    assert parse_frequency("continuous")[0] is None
    with pytest.raises(InvalidWorkload):
        parse_frequency(0)
    with pytest.raises(InvalidWorkload):
        parse_frequency(True)


def test_a_yaml_file(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    f = tmp_path / "work.yaml"
    f.write_text(
        "horizon_months: 4\n"
        "workloads:\n"
        "  - family: lora-finetune\n"
        "    frequency: weekly\n"
        "    hours: 6\n"
        "    models: [llama-3.1-8b, {model: qwen2.5-14b, task: qlora, context: 4096}]\n"
        "  - {family: notebook-data, frequency: daily, name: analysis}\n"
    )
    ws, horizon = load_workloads(f)
    assert horizon == 4 and [w.label for w in ws] == ["lora-finetune", "analysis"]
    assert ws[0].models[1] == ("qwen2.5-14b", {"task": "qlora", "context": 4096})
    assert ws[0].hours_per_month == pytest.approx(6 * 52 / 12)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("workloads:\n  - family: quantum-annealing\n", r"workloads\[0\].*unknown family"),
        ("workloads:\n  - {family: api-first, frequency: -1}\n", "above 0"),
        ("workloads:\n  - {family: api-first, hours: -4}\n", "hours per run"),
        ("workloads:\n  - {family: api-first, colour: red}\n", "unknown keys"),
        ("workloads: []\n", "lists no workloads"),
        ("workloads: {a: 1}\n", "expected a list"),
        ("workloads:\n  - {family: api-first}\nhorizon_months: 99\n", "horizon_months"),
        ("workloads: [\n", "not valid YAML"),
        (
            "workloads:\n  - {family: lora-finetune, "
            "models: [{model: llama-3.1-8b, tsak: qlora}]}\n",
            r"models\[0\]: unknown model settings \['tsak'\]",
        ),
    ],
)
def test_bad_files(tmp_path: Path, body: str, match: str) -> None:
    pytest.importorskip("yaml")
    f = tmp_path / "w.yaml"
    f.write_text(body)
    with pytest.raises(InvalidWorkload, match=match) as e:
        load_workloads(f)
    if "unknown family" not in match:  # a file's errors hint at the file format, not -w
        assert "-w " not in (e.value.hint or "")


def test_unknown_key_typo_suggests_the_key(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    f = tmp_path / "w.yaml"
    f.write_text("workloads:\n  - {family: api-first, frequncy: weekly}\n")
    with pytest.raises(InvalidWorkload, match="unknown keys") as e:
        load_workloads(f)
    assert e.value.hint == "did you mean frequncy -> frequency?"  # the rule rig.toml uses


def test_model_setting_typo_suggests_the_field(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    f = tmp_path / "w.yaml"
    f.write_text(
        "workloads:\n  - {family: quantised-llm, models: [{model: llama-3.1-8b, qaunt: Q4_K_M}]}\n"
    )
    with pytest.raises(InvalidWorkload) as e:
        load_workloads(f)
    assert "qaunt -> quant" in (e.value.hint or "")


def test_hours_from_a_flag_and_daily_is_one_a_day() -> None:
    w = parse_flag("lora-finetune:weekly::8")
    assert w.hours_per_run == 8 and w.models == parse_flag("lora-finetune").models
    assert parse_flag("lora-finetune:weekly:llama-3.1-8b:2.5h").hours_per_run == 2.5
    daily, one = parse_flag("quantised-llm:daily"), parse_flag("quantised-llm:1/day")
    assert daily.runs_per_month == one.runs_per_month == 21


def test_the_documented_example_is_a_valid_file(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    from rigml.plan.workloads import FILE_EXAMPLE, FILE_HINT

    f = tmp_path / "example.yaml"
    f.write_text(FILE_EXAMPLE)
    ws, horizon = load_workloads(f)
    assert horizon == 6 and [w.family.name for w in ws] == ["lora-finetune", "coding-assistant"]
    assert FILE_EXAMPLE in FILE_HINT


@pytest.mark.parametrize(
    ("body", "where", "problem"),
    [
        (
            {
                "workloads": [
                    {"family": "api-first"},
                    {"family": "api-first"},
                    {"family": "api-first", "frequency": "often"},
                ]
            },
            "workloads[2].frequency",
            "cannot read frequency 'often'",
        ),
        (
            {"workloads": [{"family": "api-first", "hours": "lots"}]},
            "workloads[0].hours",
            "got 'lots'",
        ),
        ({"workloads": ["api-first"]}, "workloads[0]", "expected an object with family"),
        ({"horizon_months": 6}, "workloads", "missing (required); found horizon_months"),
        (
            {"workloads": [{"family": "api-first"}], "horizon_months": "six"},
            "horizon_months",
            "got 'six'",
        ),
        (
            {"workloads": [{"family": "lora-finetune", "models": ["llama-3.1-8b", 7]}]},
            "workloads[0].models[1]",
            "expected a model name or {model: NAME, ...}, got 7",
        ),
    ],
)
def test_file_errors_name_the_file_and_the_field_path(
    tmp_path: Path, body: dict, where: str, problem: str
) -> None:
    import json

    from rigml.plan.workloads import FILE_EXAMPLE

    f = tmp_path / "w.json"
    f.write_text(json.dumps(body))
    with pytest.raises(InvalidWorkload) as e:
        load_workloads(f)
    assert e.value.where == f"{f} {where}" and problem in e.value.problem
    assert f"workload {f} {where}: " in e.value.message
    if "frequency" not in where:  # shape errors show a valid file
        assert FILE_EXAMPLE in (e.value.hint or "")
