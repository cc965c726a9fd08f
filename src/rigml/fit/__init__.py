"""The fit planner: will a model fit on this machine for a task, and what to change if not.

``plan_fit("llama-3.1-8b", FitRequest(task="qlora"))`` reads the model (catalogue name,
config, safetensors or GGUF), estimates GPU memory part by part, judges it against this
machine's GPUs (or a GPU from the table), ranks mitigations and estimates throughput.

Names load lazily (PEP 562): importing ``rigml.fit`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.fit.architecture import InvalidModelConfig, ModelSpec, spec_from_config
    from rigml.fit.catalogue import UnknownGpu, UnknownModel
    from rigml.fit.measure import Measurement, measure
    from rigml.fit.memory import MemoryEstimate, estimate
    from rigml.fit.planner import FitReport, Target, plan_fit, solve_batch, solve_context
    from rigml.fit.request import FitRequest
    from rigml.fit.sources import load_model

__all__ = [
    "FitReport",
    "FitRequest",
    "InvalidModelConfig",
    "Measurement",
    "MemoryEstimate",
    "ModelSpec",
    "Target",
    "UnknownGpu",
    "UnknownModel",
    "estimate",
    "load_model",
    "measure",
    "plan_fit",
    "solve_batch",
    "solve_context",
    "spec_from_config",
]

_LAZY = {
    "InvalidModelConfig": "architecture",
    "ModelSpec": "architecture",
    "spec_from_config": "architecture",
    "UnknownGpu": "catalogue",
    "UnknownModel": "catalogue",
    "Measurement": "measure",
    "measure": "measure",
    "MemoryEstimate": "memory",
    "estimate": "memory",
    "FitReport": "planner",
    "Target": "planner",
    "plan_fit": "planner",
    "solve_batch": "planner",
    "solve_context": "planner",
    "FitRequest": "request",
    "load_model": "sources",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rigml.fit' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rigml.fit.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
