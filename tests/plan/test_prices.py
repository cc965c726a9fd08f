"""The dated price catalogue: shipped figures, user overrides, and refused bad figures."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from rigml.errors import InvalidPrices, UnknownOffer
from rigml.plan.prices import load_prices


def test_every_shipped_figure_names_its_source_and_date() -> None:
    cat = load_prices()
    assert len(cat.cloud) >= 20 and len(cat.hardware) >= 8
    for item in [*cat.cloud, *cat.hardware, *cat.parts]:
        assert item.source.strip() and isinstance(item.as_of, dt.date)
    providers = {o.provider for o in cat.cloud}
    assert {"AWS", "GCP", "Azure", "Lambda", "RunPod"} <= providers
    assert [o.usd_per_hour for o in cat.cloud] == sorted(o.usd_per_hour for o in cat.cloud)
    line = cat.age_line(dt.date(2025, 2, 14))
    assert "prices as of 2025-01-15, 30 days old" in line and "--prices FILE" in line


def test_a_user_file_replaces_by_id_and_adds(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(
        json.dumps(
            {
                "cloud": [
                    {
                        "id": "aws-g5.xlarge",
                        "gpu": "A10G",
                        "gpus": 1,
                        "usd_per_hour": 0.5,
                        "source": "my quote",
                        "as_of": "2026-11-01",
                    },
                    {
                        "id": "mine-4090",
                        "provider": "Me",
                        "gpu": "NVIDIA GeForce RTX 4090",
                        "usd_per_hour": 0.3,
                        "source": "my quote",
                        "as_of": "2026-11-01",
                    },
                ],
                "electricity": {"usd_per_kwh": 0.32, "source": "my bill", "as_of": "2026-10-31"},
            }
        )
    )
    cat = load_prices(f)
    assert cat.offer("aws-g5.xlarge").usd_per_hour == 0.5
    assert cat.offer("mine-4090").gpu == "RTX 4090"  # the NVML name resolves
    assert cat.electricity.value == 0.32 and cat.files == [str(f)]
    assert cat.age_days(dt.date(2026, 11, 11)) == 10
    assert len(cat.cloud) == len(load_prices().cloud) + 1


def test_a_yaml_price_file(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    f = tmp_path / "p.yaml"
    f.write_text(
        "hardware:\n  - {id: rtx-4090, gpu: RTX 4090, usd: 1800, kind: street,"
        " source: shop, as_of: 2026-01-02}\n"
    )
    assert load_prices(f).hardware_for("RTX 4090").usd == 1800


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"usd_per_hour": -1.0}, "usd_per_hour must be above 0"),
        ({"usd_per_hour": 0}, "usd_per_hour must be above 0"),
        ({"usd_per_hour": "cheap"}, "must be a number"),
        ({"source": ""}, "needs a source"),
        ({"as_of": "last week"}, "as_of must be a date"),
        ({"gpu": "RTX 9999"}, "not in the GPU table"),
        ({"gpus": 0}, "gpus must be a whole number"),
    ],
)
def test_bad_figures_are_refused(tmp_path: Path, entry: dict, problem: str) -> None:
    good = {
        "id": "x",
        "gpu": "L4",
        "gpus": 1,
        "usd_per_hour": 1.0,
        "source": "s",
        "as_of": "2026-01-01",
    }
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"cloud": [{**good, **entry}]}))
    with pytest.raises(InvalidPrices, match=problem) as e:
        load_prices(f)
    assert "'x'" in e.value.message and e.value.hint


def test_negative_hardware_price_and_broken_files(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text(
        json.dumps(
            {
                "hardware": [
                    {"id": "h", "gpu": "RTX 4090", "usd": -5, "source": "s", "as_of": "2026-01-01"}
                ]
            }
        )
    )
    with pytest.raises(InvalidPrices, match="usd must be at least 0"):
        load_prices(f)
    f.write_text("{not json")
    with pytest.raises(InvalidPrices, match="not valid JSON"):
        load_prices(f)
    with pytest.raises(InvalidPrices, match="cannot read"):
        load_prices(tmp_path / "missing.json")


def test_unknown_offer_suggests_close_ids() -> None:
    with pytest.raises(UnknownOffer) as e:
        load_prices().offer("aws-g5.xlarg")
    assert "aws-g5.xlarge" in (e.value.hint or "")


def test_price_errors_name_the_file_the_field_path_and_the_entry(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    entry = {"id": "x", "gpu": "L4", "usd_per_hour": -1, "source": "", "as_of": "2026-01-01"}
    f.write_text(
        json.dumps({"cloud": [{**entry, "id": "ok", "usd_per_hour": 1.0, "source": "s"}, entry]})
    )
    with pytest.raises(InvalidPrices) as e:
        load_prices(f)
    assert e.value.where == f"{f} cloud[1].source (id 'x')"
    assert (
        e.value.problem
        == "every figure needs a source (a URL or a document name) (and 1 more problem)"
    )
    f.write_text(json.dumps({"parts": {"id": "ram"}}))
    with pytest.raises(InvalidPrices, match=r"parts: expected a list, got \{'id': 'ram'\}"):
        load_prices(f)
    f.write_text(
        json.dumps({"electricity": {"usd_per_kwh": "cheap", "source": "s", "as_of": "2026-01-01"}})
    )
    with pytest.raises(
        InvalidPrices, match=r"electricity\.usd_per_kwh: usd_per_kwh must be a number, got 'cheap'"
    ):
        load_prices(f)
