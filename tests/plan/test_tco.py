"""Local against cloud: break-even, the smallest instance that fits, bad assumptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigml.errors import InvalidAssumption
from rigml.fit import FitRequest, catalogue
from rigml.fit.catalogue import UnknownGpu
from rigml.fit.sources import load_model
from rigml.plan.prices import load_prices
from rigml.plan.tco import HOURS_PER_MONTH, TcoInputs, fits_on, tco_report

NO_RAPL = Path("/nonexistent")


def test_break_even_is_purchase_over_monthly_saving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rigml.plan.energy.POWERCAP", NO_RAPL)
    r = tco_report(
        TcoInputs(
            gpu="RTX 4090",
            utilisation=0.5,
            electricity_usd_per_kwh=0.2,
            storage_gb=0,
            egress_gb_month=0,
        )
    )
    hours = 0.5 * HOURS_PER_MONTH
    assert r.hours_per_month == pytest.approx(hours)
    assert r.purchase_usd == 2200 and r.local_gpu == "RTX 4090"
    assert "street price $2,200 (an estimate)" in r.purchase_source
    assert "MSRP $1,599" in r.purchase_source
    energy = (450 + 100) / 1000 * hours * 0.2
    assert r.local_energy_monthly_usd == pytest.approx(energy)
    assert r.offer is not None and catalogue.gpu(r.offer.gpu).vram_bytes >= 24e9
    cloud = r.offer.usd_per_hour * hours
    assert r.break_even_month == pytest.approx(2200 / (cloud - energy))
    assert r.local_cumulative[0] == 2200 and r.cloud_cumulative[0] == 0
    assert len(r.months) == 37 and "pays off" in r.conclusion
    assert any("catalogue board power" in a for a in r.assumptions)
    assert "days old" in r.prices_line


def test_the_cloud_offer_is_the_cheapest_that_fits() -> None:
    r = tco_report(
        TcoInputs(model="llama-3.1-70b", request=FitRequest(quant="awq-4bit"), hours_per_month=50)
    )
    spec = load_model("llama-3.1-70b")
    req = FitRequest(quant="awq-4bit")
    fitting = [o for o in load_prices().cloud if fits_on(spec, req, catalogue.gpu(o.gpu), o.gpus)]
    assert r.offer == min(fitting, key=lambda o: o.usd_per_hour)
    assert r.local_gpu is not None and fits_on(spec, req, catalogue.gpu(r.local_gpu))


def test_rare_use_never_pays_back() -> None:
    r = tco_report(
        TcoInputs(gpu="RTX 6000 Ada", hours_per_month=2, storage_gb=0, egress_gb_month=0)
    )
    assert r.break_even_month is None or r.break_even_month > 36
    assert "cloud" in r.conclusion


def test_owned_gpu_costs_only_electricity() -> None:
    r = tco_report(TcoInputs(gpu="RTX 4090", owned=True, hours_per_month=100))
    assert r.purchase_usd == 0 and r.break_even_month == pytest.approx(0.0)


def test_this_machines_gpu_is_the_default(rtx4090) -> None:
    r = tco_report(TcoInputs(hours_per_month=100))
    assert r.local_gpu == "RTX 4090" and r.purchase_source.startswith("already owned")
    assert r.power is not None and r.power.gpu_source == "nvml-limit"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"utilisation": 0}, "utilisation"),
        ({"utilisation": 1.5}, "utilisation"),
        ({"hours_per_month": -3}, "hours per month"),
        ({"purchase_usd": -100}, "purchase price"),
        ({"electricity_usd_per_kwh": -0.1}, "electricity price"),
        ({"years": 0}, "years"),
        ({"storage_gb": float("nan")}, "storage"),
    ],
)
def test_impossible_values_are_refused(kwargs: dict, name: str) -> None:
    with pytest.raises(InvalidAssumption) as e:
        tco_report(TcoInputs(gpu="RTX 4090", **kwargs))
    assert e.value.name == name and e.value.hint


def test_unknown_gpu_names_close_matches() -> None:
    with pytest.raises(UnknownGpu) as e:
        tco_report(TcoInputs(gpu="RTX 4099"))
    assert "RTX 4090" in (e.value.hint or "")


def test_chart_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from rigml.plan.chart import cost_chart

    out = cost_chart(tco_report(TcoInputs(gpu="RTX 4090", utilisation=0.3)), tmp_path / "cost.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["cost.png"]  # no temporary left


def test_chart_into_a_missing_folder_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from rigml.errors import OutputNotWritable
    from rigml.plan.chart import cost_chart

    report = tco_report(TcoInputs(gpu="RTX 4090", utilisation=0.3))
    with pytest.raises(OutputNotWritable, match="does not exist"):
        cost_chart(report, tmp_path / "sub" / "cost.png")
    assert not (tmp_path / "sub").exists()
