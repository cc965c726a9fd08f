"""Grid intensity by region, with its source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rigml.errors import InvalidPrices, UnknownRegion
from rigml.plan.carbon import emissions_g, intensity, known_regions


@pytest.mark.parametrize("name", ["DE", "deu", "Germany", " germany "])
def test_codes_names_and_aliases(name: str) -> None:
    g = intensity(name)
    assert g.code == "DEU" and g.g_per_kwh == 381 and g.year == 2023
    assert "Ember" in g.source


def test_emissions_are_energy_times_intensity() -> None:
    fr = intensity("FR")
    assert emissions_g(2.0, fr) == pytest.approx(2.0 * fr.g_per_kwh)
    assert all(r.source for r in known_regions())


def test_unknown_region_suggests(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "codecarbon", None)  # our table only
    monkeypatch.setitem(sys.modules, "codecarbon.input", None)
    with pytest.raises(UnknownRegion) as e:
        intensity("Germani")
    assert "DEU" in (e.value.hint or "")
    with pytest.raises(UnknownRegion):
        intensity("XYZ")


def test_codecarbon_fills_regions_we_do_not_ship() -> None:
    pytest.importorskip("codecarbon")
    g = intensity("PRT")  # Portugal: not in the shipped table
    assert g.code == "PRT" and 0 < g.g_per_kwh < 1000 and "CodeCarbon" in g.source


@pytest.mark.parametrize("name", ["PT", "pt", "Portugal", "portugal"])
def test_codecarbon_takes_two_letter_codes_and_names(name: str) -> None:
    pytest.importorskip("codecarbon")
    assert intensity(name).code == "PRT"


def test_a_user_grid_file(tmp_path: Path) -> None:
    f = tmp_path / "grid.json"
    f.write_text(
        json.dumps(
            {
                "regions": [
                    {
                        "code": "HOME",
                        "name": "my solar roof",
                        "g_per_kwh": 20,
                        "source": "my meter",
                        "as_of": "2026-06-01",
                    }
                ]
            }
        )
    )
    assert intensity("home", path=f).g_per_kwh == 20
    f.write_text(
        json.dumps(
            {"regions": [{"code": "BAD", "g_per_kwh": -3, "source": "x", "as_of": "2026-06-01"}]}
        )
    )
    with pytest.raises(InvalidPrices, match="g_per_kwh"):
        intensity("BAD", path=f)


def test_grid_errors_name_the_field_path_and_the_region(tmp_path: Path) -> None:
    f = tmp_path / "grid.json"
    ok = {"code": "HOME", "g_per_kwh": 20, "source": "meter", "as_of": "2026-06-01"}
    f.write_text(json.dumps({"regions": [ok, {**ok, "code": "SHED", "as_of": "June"}]}))
    with pytest.raises(InvalidPrices) as e:
        intensity("HOME", path=f)
    assert e.value.where == f"{f} regions[1].as_of (id 'SHED')" and "got 'June'" in e.value.problem
    f.write_text(json.dumps({"zones": []}))
    with pytest.raises(InvalidPrices, match="regions: missing"):
        intensity("HOME", path=f)
