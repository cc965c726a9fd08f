"""``rig cost``: JSON for scripts, tables and a chart for people, clear errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rigml.cli import main


def rig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_tco_json_and_chart(capsys, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "cost.png"
    code, out, err = rig(
        capsys,
        "cost",
        "--model",
        "llama-3.1-8b",
        "-t",
        "qlora",
        "--gc",
        "--hours",
        "120",
        "--chart",
        str(png),
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["is_estimate"] and data["offer"]["usd_per_hour"] > 0
    assert data["break_even_month"] > 0 and "days old" in data["prices_line"]
    assert data["chart"] == str(png) and png.read_bytes()[:4] == b"\x89PNG"
    assert len(data["local_cumulative"]) == 37


def test_tco_table_says_its_assumptions(capsys) -> None:
    code, out, _ = rig(capsys, "cost", "--gpu", "RTX 4090", "-u", "0.4")
    assert code == 0
    for text in ("break-even", "assumptions", "catalogue board power", "prices as of"):
        assert text in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpu", "RTX 4099"], "did you mean RTX 4090"),
        (["--gpu", "RTX 4090", "-u", "0"], "utilisation must be above 0"),
        (["--gpu", "RTX 4090", "--electricity", "-0.2"], "electricity price"),
        (["--gpu", "RTX 4090", "--price", "-1"], "purchase price"),
        (["--offer", "aws-g5.xlarg"], "did you mean aws-g5.xlarge"),
    ],
)
def test_bad_input(capsys, args: list[str], message: str) -> None:
    code, _, err = rig(capsys, "cost", *args)
    assert code in (1, 2) and message in " ".join(err.split())
    assert "Traceback" not in err


def test_bad_price_file(capsys, tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(
        json.dumps(
            {
                "cloud": [
                    {
                        "id": "x",
                        "gpu": "L4",
                        "usd_per_hour": -2,
                        "source": "s",
                        "as_of": "2026-01-01",
                    }
                ]
            }
        )
    )
    code, _, err = rig(capsys, "cost", "prices", "--prices", str(f))
    assert code == 2 and "usd_per_hour must be above 0" in err


def test_prices_and_grid_listings(capsys) -> None:
    code, out, _ = rig(capsys, "cost", "prices", "--json")
    assert code == 0 and all(o["source"] and o["as_of"] for o in json.loads(out)["cloud"])
    code, out, _ = rig(capsys, "cost", "grid", "--json")
    assert code == 0 and any(g["code"] == "DEU" for g in json.loads(out))


def test_usage_json(capsys, tmp_path: Path, monkeypatch) -> None:
    from rigml.lab import init_lab
    from rigml.track.runs import start_run

    lab, _ = init_lab(tmp_path / "lab")
    run = start_run(
        lab,
        experiment="e",
        capture_git=False,
        capture_environment=False,
        capture_machine=False,
        system_metrics=False,
    )
    for i in range(5):
        run.log({"sys/gpu0/power_w": 300.0}, step=i)
        time.sleep(0.01)
    run.end()
    lab.close()
    monkeypatch.setenv("RIG_LAB", str(tmp_path / "lab"))
    code, out, err = rig(
        capsys, "cost", "usage", "--since", "1d", "--gpu", "RTX 4090", "--region", "DE", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["totals"]["runs"] == 1 and data["totals"]["measured_runs"] == 1
    assert data["runs"][0]["energy_source"] == "measured"
    assert data["grid"]["code"] == "DEU" and "days old" in data["prices"]
    code, out, _ = rig(capsys, "cost", "usage", "--since", "1d")
    assert code == 0 and "1 runs since" in out
    # an unknown region falls back to the world average, labelled, and names the known ones
    code, out, err = rig(capsys, "cost", "usage", "--region", "Atlantis")
    flat, warn = " ".join(out.split()), " ".join(err.split())
    assert code == 0 and "Traceback" not in err
    assert "no grid intensity for region 'Atlantis'" in warn and "world average" in warn
    assert "fallback: region 'Atlantis' is not known" in flat and "known regions: AUS, AUT" in flat
    code, out, _ = rig(capsys, "cost", "usage", "--region", "Atlantis", "--json")
    data = json.loads(out)
    assert data["region_fallback"] and data["grid"]["code"] == "WORLD"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpu", "H100 SXM"], "no purchase price for the H100 SXM"),
        (["--gpu", "RTX 4090", "--years", "1e5"], "years must be above 0 and at most 15"),
        (["--gpu", "RTX 4090", "--owned", "--price", "900"], "left out with --owned"),
        (["--gpu", "RTX 4090", "--chart", "/proc/x/cost.png"], "cannot write /proc/x/cost.png"),
        (["--gpu", "RTX 4090", "--chart", "/nonexistent-dir/cost.png"], "does not exist"),
    ],
)
def test_more_bad_input_is_explained(capsys, args: list[str], message: str) -> None:
    if "--chart" in args:
        pytest.importorskip("matplotlib")
    code, _, err = rig(capsys, "cost", *args)
    flat = " ".join(err.split())
    assert code in (1, 2) and message in flat, flat
    assert "Traceback" not in err and "unexpected" not in flat


def test_usage_refuses_bad_flags_and_hints_on_an_empty_lab(capsys, tmp_path, monkeypatch) -> None:
    from rigml.lab import init_lab

    lab, _ = init_lab(tmp_path / "lab")
    lab.close()
    monkeypatch.setenv("RIG_LAB", str(tmp_path / "lab"))
    code, _, err = rig(capsys, "cost", "usage", "--limit", "-1")
    assert code == 2 and "--limit must be 0 or more" in err
    code, _, err = rig(capsys, "cost", "usage", "--since", "2999-01-01")
    assert code == 2 and "in the future" in err
    code, out, err = rig(capsys, "cost", "usage", "--since", "30D", "--gpu", "RTX 4090")
    assert code == 0, err
    assert "no tracked runs" in " ".join(out.split())
