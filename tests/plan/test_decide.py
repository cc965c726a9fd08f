"""The decision rules on a recorded RTX 4090 desktop, with and without recorded findings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rigml.machine.diagnosis import Finding
from rigml.machine.findings import record_watch
from rigml.plan._assess import machine_facts
from rigml.plan.prices import load_prices
from rigml.plan.rules import RULES, decide
from rigml.plan.staged import make_plan
from rigml.plan.workloads import parse_flag


def _record(lab, tmp_path: Path, constraint: str, n: int) -> None:
    """``n`` watch sessions, each recording one finding on ``constraint``."""
    from rigml.machine.diagnosis import Context
    from rigml.machine.timeline import Timeline
    from rigml.machine.watch import WatchResult

    for i in range(n):
        f = Finding(
            f"{constraint}_rule",
            constraint,
            f"{constraint} ran out",  # type: ignore[arg-type]
            [f"{constraint} at 98% for 40 s"],
            {"peak": 98.0},
            "add more",
        )
        record_watch(
            lab,
            WatchResult(
                command=["python", "job.py"],
                pid=1,
                host="box",
                started=time.time() - 100 + i,
                ended=time.time(),
                exit_code=0,
                signal=None,
                interrupted=False,
                interval=1.0,
                timeline=Timeline(meta={}),
                context=Context(exit_code=0),
                findings=[f],
                summary={},
                output_dir=tmp_path,
            ),
        )


def test_rules_are_named_and_explained() -> None:
    assert [r.name for r in RULES] == [
        "fits_now",
        "first_bottleneck",
        "targeted_upgrade",
        "cloud_burst",
        "always_on_server",
        "bigger_machine",
    ]
    assert all(r.explanation and r.question for r in RULES)


def test_on_a_4090_qlora_is_kept_and_large_training_bursts(rtx4090) -> None:
    facts = machine_facts()
    plan = make_plan(
        [parse_flag("lora-finetune:weekly"), parse_flag("large-training")], facts=facts
    )
    lora, big = plan.workloads
    assert lora.decision == "keep" and lora.outcome.rule == "fits_now"
    assert any("RTX 4090" in h for h in lora.assessment.how)
    assert big.decision == "cloud-burst" and not big.assessment.doable
    assert big.assessment.first.constraint == "vram"
    assert big.assessment.first.source == "fit planner"
    assert [o.rule for o in big.trail][:2] == ["fits_now", "first_bottleneck"]
    assert plan.decision == "hybrid"
    md = plan.markdown()
    for text in (
        "# Placement plan",
        "## Staged plan",
        "### Now",
        "After a month of evidence",
        "At the first repeated bottleneck",
        "Measurement that changes it",
        "`fits_now`",
        "days old",
    ):
        assert text in md


def test_repeated_finding_moves_a_fitting_workload_to_an_upgrade(lab, tmp_path, rtx4090) -> None:
    w = parse_flag("notebook-data")
    assert make_plan([w], facts=machine_facts(lab)).workloads[0].decision == "keep"
    _record(lab, tmp_path, "ram", 2)
    facts = machine_facts(lab)
    assert facts.repeated() == {"ram": 2} and facts.sessions == 2
    p = make_plan([w], facts=facts).workloads[0]
    assert p.assessment.first.constraint == "ram" and p.assessment.first.repeated == 2
    assert p.assessment.first.source == "rig watch"
    assert p.decision == "targeted-upgrade" and "DDR5" in p.outcome.action
    assert "recorded ram 2 times" in " ".join(p.trail[0].evidence)


def test_one_finding_is_not_yet_repeated(lab, tmp_path, rtx4090) -> None:
    _record(lab, tmp_path, "ram", 1)
    p = make_plan([parse_flag("notebook-data")], facts=machine_facts(lab)).workloads[0]
    assert p.decision == "keep"


def _laptop_without_gpu():
    from dataclasses import replace

    from rigml.fit.planner import Target

    facts = machine_facts()
    ram = Target("system RAM", 32 * 2**30, kind="ram", source="ram")
    return replace(facts, profile=replace(facts.profile, archetype="laptop-first"), targets=[ram])


def test_a_laptop_service_user_gets_an_always_on_server(rtx4090) -> None:
    p = make_plan([parse_flag("coding-assistant:daily")], facts=_laptop_without_gpu())
    w = p.workloads[0]
    assert w.assessment.workload.hours_per_month >= 150
    assert w.decision == "always-on-server" and w.outcome.rule == "always_on_server"
    assert "small server with a" in w.outcome.action
    assert w.outcome.card == w.assessment.upgrade_gpu.name


def test_a_4090_laptop_that_runs_it_keeps_it(rtx4090) -> None:
    from dataclasses import replace

    facts = machine_facts()
    laptop = replace(facts, profile=replace(facts.profile, archetype="laptop-first"))
    p = make_plan([parse_flag("coding-assistant:daily")], facts=laptop).workloads[0]
    assert p.decision == "keep" and p.outcome.rule == "fits_now"


def test_decide_stops_at_the_first_rule_that_decides(rtx4090) -> None:
    from rigml.plan._assess import assess

    a = assess(parse_flag("large-training"), machine_facts(), load_prices())
    outcome, trail = decide(a)
    assert trail[-1] is outcome and all(o.decision is None for o in trail[:-1])
    assert outcome.decision == "cloud-burst" and a.offer is not None and a.offer.gpus >= 1


@pytest.mark.parametrize(
    ("family", "first", "second"),
    [
        ("api-first", "network", "cpu"),
        ("embeddings-rag", "ram", "storage"),
        ("quantised-llm", "storage", "vram"),
    ],
)
def test_every_family_decides(family: str, first: str, second: str, rtx4090) -> None:
    """On the recorded 4090 desktop with no findings each of these runs as it is."""
    p = make_plan([parse_flag(family)]).workloads[0]
    assert p.decision == "keep" and p.outcome.rule == "fits_now"
    assert (p.assessment.first.constraint, p.assessment.second.constraint) == (first, second)
