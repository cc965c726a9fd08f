"""The placement decision, kept under its old name: the assessment lives in
:mod:`rigml.plan._assess`, the rules in :mod:`rigml.plan.rules`."""

from __future__ import annotations

from rigml.plan._assess import Assessment, Bottleneck, MachineFacts, assess, machine_facts
from rigml.plan.rules import DECISIONS, RULES, Decision, Outcome, Rule, decide

__all__ = [
    "DECISIONS",
    "RULES",
    "Assessment",
    "Bottleneck",
    "Decision",
    "MachineFacts",
    "Outcome",
    "Rule",
    "assess",
    "decide",
    "machine_facts",
]
