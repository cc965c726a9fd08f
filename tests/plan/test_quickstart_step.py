"""The quickstart's placement step: two workloads planned, a GPU priced, offline."""

from __future__ import annotations


def test_placement_step(lab, rtx4090) -> None:
    from rigml.quickstart import _placement_step

    step = _placement_step(lab)
    assert [w.assessment.workload.label for w in step.plan.workloads] == [
        "coding-assistant",
        "lora-finetune",
    ]
    assert step.tco.local_gpu == "RTX 4090" and step.tco.offer is not None
    assert "days old" in step.tco.prices_line
