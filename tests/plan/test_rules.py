"""Each rule path on the recorded RTX 4090 desktop; plan and `rig cost` agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rigml.fit import FitRequest, catalogue
from rigml.plan._assess import assess, machine_facts
from rigml.plan._constants import system_power_w
from rigml.plan.prices import load_prices
from rigml.plan.rules import decide
from rigml.plan.staged import make_plan
from rigml.plan.tco import TcoInputs, tco_report
from rigml.plan.workloads import parse_flag, workload

from .test_decide import _record

NO_RAPL = Path("/nonexistent")


def test_plan_and_cost_agree_on_break_even(rtx4090, monkeypatch) -> None:
    """The plan's break-even for a card is `rig cost`'s for the same card, hours and offer:
    both count cloud storage and egress, both use the card's street price."""
    monkeypatch.setattr("rigml.plan.energy.POWERCAP", NO_RAPL)
    prices = load_prices()
    a = assess(parse_flag("lora-finetune:weekly"), machine_facts(), prices)
    g = catalogue.gpu("RTX 5090")
    hw = prices.hardware_for(g.name)
    assert hw is not None and hw.price == 2800  # street, not the $1,999 MSRP
    plan_be = a.break_even_months(hw.price, system_power_w(g))
    assert a.offer is not None
    r = tco_report(
        TcoInputs(
            model="llama-3.1-8b",
            request=FitRequest(task="qlora", gradient_checkpointing=True),
            gpu=g.name,
            hours_per_month=a.workload.hours_per_month,
            power_w=g.tdp_w,
            offer=a.offer.id,
        )
    )
    assert r.purchase_usd == hw.price
    assert r.cloud_storage_monthly_usd > 0 and r.cloud_egress_monthly_usd > 0
    assert plan_be == pytest.approx(r.break_even_month)
    assert a.cloud_monthly == pytest.approx(r.cloud_monthly_usd)


def test_lambda_and_runpod_charge_no_egress() -> None:
    prices = load_prices()
    assert prices.egress_for("RunPod").value == 0 and prices.egress_for("Lambda").value == 0
    assert prices.storage_for("RunPod").value == pytest.approx(0.07)
    assert prices.egress_for("AWS").value == pytest.approx(0.09)
    r = tco_report(TcoInputs(gpu="RTX 4090", offer="runpod-rtx-4090", hours_per_month=100))
    assert r.cloud_egress_monthly_usd == 0
    assert r.cloud_storage_monthly_usd == pytest.approx(200 * 0.07)


def test_upgrade_card_is_larger_than_the_installed_one(lab, tmp_path, rtx4090) -> None:
    """vram recorded twice on a 24 GB card: never suggest a 16 GB card."""
    _record(lab, tmp_path, "vram", 2)
    facts = machine_facts(lab)
    a = assess(parse_flag("quantised-llm"), facts, load_prices())
    pick = a.upgrade_for("vram")
    assert pick is not None and pick[0].vram_bytes > catalogue.gpu("RTX 4090").vram_bytes
    outcome, trail = decide(a)
    for o in trail:
        assert "4060" not in o.action and "4070" not in o.action
    # a workload the 4090 runs stays here: no card pays back, nothing sends it to the cloud
    assert outcome.decision == "keep" and outcome.rule == "bigger_machine"
    assert "tune" in outcome.action


def test_a_card_that_pays_back_is_larger_and_named(lab, tmp_path, rtx4090) -> None:
    """At continuous use a bigger card pays back: it is the RTX 5090, not a smaller one."""
    _record(lab, tmp_path, "vram", 2)
    w = workload("quantised-llm", "continuous")
    p = make_plan([w], facts=machine_facts(lab)).workloads[0]
    assert p.decision == "targeted-upgrade" and p.outcome.card is not None
    assert catalogue.gpu(p.outcome.card).vram_bytes > 24e9
    assert p.outcome.purchase_usd == load_prices().hardware_for(p.outcome.card).price


@pytest.mark.parametrize("constraint", ["thermal", "power"])
def test_thermal_and_power_are_tuned_not_bought(lab, tmp_path, rtx4090, constraint) -> None:
    _record(lab, tmp_path, constraint, 2)
    p = make_plan([parse_flag("quantised-llm")], facts=machine_facts(lab)).workloads[0]
    assert p.decision == "keep" and p.outcome.rule == "targeted_upgrade"
    assert "RTX" not in p.outcome.action and "tune" in p.outcome.action
    assert ("airflow" if constraint == "thermal" else "power limit") in p.outcome.action


@pytest.mark.parametrize("family", ["api-first", "notebook-data"])
def test_cpu_repeated_keeps_a_desktop_with_a_4090(lab, tmp_path, rtx4090, family) -> None:
    _record(lab, tmp_path, "cpu", 2)
    p = make_plan([parse_flag(family)], facts=machine_facts(lab)).workloads[0]
    assert p.decision == "keep" and "desktop" not in p.outcome.action
    assert "data-loader workers" in p.outcome.action


def test_nothing_fits_anywhere_names_no_machine(rtx4090) -> None:
    w = workload("large-training", models=[{"model": "llama-3.1-70b", "task": "full"}])
    p = make_plan([w]).workloads[0]
    assert p.assessment.upgrade_gpu is None and p.assessment.offer is None
    assert p.decision == "cloud-burst" and p.outcome.rule == "bigger_machine"
    assert "rig fit" in p.outcome.action and "$" not in p.outcome.action


def test_an_owned_capable_machine_is_not_sent_to_the_cloud(lab, tmp_path, rtx4090) -> None:
    """A repeated compute finding no card fixes at these hours: local costs electricity only."""
    _record(lab, tmp_path, "compute", 2)
    a = assess(parse_flag("lora-finetune:weekly"), machine_facts(lab), load_prices())
    assert a.doable
    outcome, trail = decide(a)
    burst = next(o for o in trail if o.rule == "cloud_burst")
    assert burst.decision is None and "only electricity" in " ".join(burst.evidence)
    assert outcome.decision == "keep"


def test_stage_two_speaks_only_for_purchases_the_decision_weighed(rtx4090) -> None:
    plan = make_plan(
        [
            parse_flag("lora-finetune:weekly"),
            parse_flag("quantised-llm"),
            parse_flag("large-training"),
        ]
    )
    month = next(s for s in plan.stages if s.name == "After a month of evidence").do
    lora, qllm, big = plan.workloads
    assert lora.decision == "keep" and qllm.decision == "keep"
    for p, line in zip(plan.workloads, month, strict=True):
        if p.decision == "keep":
            assert "buy" not in line and "keep the decision" in line
    assert big.decision == "cloud-burst" and big.to_dict()["break_even_hours"] is None


def test_stage_two_uses_card_plus_base_on_a_laptop(rtx4090) -> None:
    facts = machine_facts()
    from rigml.fit.planner import Target

    ram = Target("system RAM", 64 * 2**30, kind="ram", source="ram")
    cpu = replace(facts, profile=replace(facts.profile, archetype="laptop-first"), targets=[ram])
    w = workload("quantised-llm", "3/month")
    p = make_plan([w], facts=cpu).workloads[0]
    assert p.decision == "cloud-burst"
    base = load_prices().part("platform")
    assert p.outcome.purchase_usd == pytest.approx(p.assessment.upgrade_usd + base.usd)
    h = p.to_dict()["break_even_hours"]
    from rigml.plan.tco import break_even_hours

    expected = break_even_hours(
        p.assessment.offer,
        p.outcome.purchase_usd,
        system_power_w(p.assessment.upgrade_gpu),
        p.assessment.prices,
        36,
    )
    assert h == expected
    plan = make_plan([w], facts=cpu)
    month = next(s for s in plan.stages if s.name == "After a month of evidence").do
    line = month[0]
    if h is None:
        assert "keep the decision" in line
    else:
        assert "keep renting" in line and f"${p.outcome.purchase_usd:,.0f}" in line
