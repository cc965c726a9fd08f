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

    answers = "\n".join(["", "daily", "", "", "", "often", "weekly", ""]) + "\n"
    result = CliRunner().invoke(app, ["plan", "-i", "--json"], input=answers)
    assert result.exit_code == 0, result.output
    payload = result.output[result.output.index("{") :]
    names = [w["workload"]["family"] for w in json.loads(payload)["workloads"]]
    assert names == ["coding-assistant", "lora-finetune"]
    assert "cannot read frequency" in result.output
