"""``rig plan``: workloads from flags and files, --explain, Markdown, JSON, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigml.cli import main

RECORDED = Path(__file__).parents[1] / "machine" / "recorded"


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_json_and_markdown(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    md = tmp_path / "plan.md"
    code, out, err = rig(
        capsys,
        "plan",
        "-w",
        "lora-finetune:weekly",
        "-w",
        "large-training:monthly",
        "-o",
        str(md),
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["decision"] == "hybrid" and data["is_estimate"]
    lora, big = data["workloads"]
    assert lora["decision"] == "keep" and lora["rule"] == "fits_now"
    assert big["decision"] == "cloud-burst" and big["first_bottleneck"]["constraint"] == "vram"
    assert [s["name"] for s in data["stages"]] == [
        "Now",
        "After a month of evidence",
        "At the first repeated bottleneck",
    ]
    text = md.read_text()
    assert text.startswith("# Placement plan") and "## Staged plan" in text


def test_plan_table_from_a_file(capsys, tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    f = tmp_path / "work.yaml"
    f.write_text(
        "workloads:\n  - {family: coding-assistant, frequency: daily}\n"
        "  - {family: notebook-data}\n"
    )
    code, out, err = rig(capsys, "plan", "-f", str(f))
    assert code == 0, err
    for text in (
        "coding-assistant",
        "notebook-data",
        "first bottleneck",
        "Decision:",
        "After a month of evidence",
        "days old",
    ):
        assert text in out


def test_explain_and_families(capsys) -> None:
    code, out, _ = rig(capsys, "plan", "--explain", "--json")
    rules = json.loads(out)["rules"]
    assert code == 0 and rules[0]["name"] == "fits_now" and rules[-1]["name"] == "bigger_machine"
    code, out, _ = rig(capsys, "plan", "--explain")
    assert "targeted_upgrade" in out and "cloud_burst" in out
    code, out, _ = rig(capsys, "plan", "--families")
    assert code == 0 and "lora-finetune" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "none given"),
        (["-w", "lora-finetun"], "did you mean lora-finetune"),
        (["-w", "lora-finetune:-1/week"], "above 0"),
        (["-w", "quantised-llm:daily:llama-9"], "no model"),
    ],
)
def test_bad_workloads(capsys, args: list[str], message: str) -> None:
    code, _, err = rig(capsys, "plan", *args)
    assert code in (1, 2) and message in " ".join(err.split()) and "Traceback" not in err


def test_interactive_answers(capsys, monkeypatch) -> None:
    from typer.testing import CliRunner

    from rigml.cli._app import app

    # api-first skipped; coding-assistant daily, 6 h, default models; three skipped;
    # lora-finetune: a bad frequency, then weekly, default hours, another model; one skipped
    answers = ["", "daily", "6", "", "", "", "", "often", "weekly", "", "qwen2.5-7b", ""]
    answers = "\n".join(answers) + "\n"
    result = CliRunner().invoke(app, ["plan", "-i", "--json"], input=answers)
    assert result.exit_code == 0, result.output
    payload = result.output[result.output.index("{") :]
    loads = [w["workload"] for w in json.loads(payload)["workloads"]]
    assert [w["family"] for w in loads] == ["coding-assistant", "lora-finetune"]
    assert loads[0]["hours_per_run"] == 6 and loads[1]["hours_per_run"] == 6
    assert [m["model"] for m in loads[1]["models"]] == ["qwen2.5-7b"]
    assert "cannot read frequency" in result.output


def test_plan_output_that_cannot_be_written_is_explained(capsys, monkeypatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    code, _, err = rig(capsys, "plan", "-w", "api-first", "-o", "/proc/x/plan.md")
    flat = " ".join(err.split())
    # OutputNotWritable, the shared error of every output file (exit 1, like other RigErrors)
    assert code == 1 and "cannot write /proc/x/plan.md" in flat and "Traceback" not in err


def test_plan_output_into_a_missing_folder_is_refused(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    dest = tmp_path / "nope" / "plan.md"
    code, _, err = rig(capsys, "plan", "-w", "api-first", "-o", str(dest))
    flat = " ".join(err.split())
    assert code == 1 and "does not exist" in flat and "Traceback" not in err
    assert not dest.parent.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--months", "-3"], "months must be a whole number from 1 to 36"),
        (["--years", "1e5"], "years must be above 0 and at most 15"),
        (["--electricity", "-1"], "electricity price must be at least 0"),
    ],
)
def test_plan_refuses_impossible_settings(capsys, monkeypatch, args, message) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    code, _, err = rig(capsys, "plan", "-w", "api-first", *args)
    assert code == 2 and message in " ".join(err.split())


def test_months_flag_wins_over_the_file_and_electricity_is_used(
    capsys, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("RIG_GPU_RECORDING", str(RECORDED / "rtx4090_idle.json"))
    f = tmp_path / "w.json"
    f.write_text(json.dumps({"horizon_months": 12, "workloads": [{"family": "api-first"}]}))
    code, out, err = rig(
        capsys, "plan", "-f", str(f), "--months", "3", "--electricity", "0.31", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["horizon_months"] == 3
    assert any("$0.31/kWh" in a for a in data["assumptions"])
    code, out, _ = rig(capsys, "plan", "-f", str(f), "--json")
    assert json.loads(out)["horizon_months"] == 12


def test_a_malformed_file_is_a_located_error_with_an_example(capsys, tmp_path: Path) -> None:
    f = tmp_path / "work.json"
    f.write_text(json.dumps({"workloads": [{"family": "api-first", "hours": -2, "colour": 1}]}))
    code, out, err = rig(capsys, "plan", "-f", str(f))
    flat = " ".join(err.split())
    assert code == 2 and "Traceback" not in err and not out
    assert f"workload {f} workloads[0].hours: hours per run must be" in flat and "got -2" in flat
    assert "(and 1 more problem)" in flat
    assert "hint: a valid workloads file" in flat and "{family: lora-finetune" in flat
