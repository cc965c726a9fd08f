"""The fit planner: will a model fit on this machine for a task, and what to change if not.

``plan_fit("llama-3.1-8b", FitRequest(task="qlora"))`` reads the model (catalogue name,
config, safetensors or GGUF), estimates GPU memory part by part, judges it against this
machine's GPUs (or a GPU from the table), ranks mitigations and estimates throughput.
"""

from __future__ import annotations

from rigml.fit.architecture import InvalidModelConfig, ModelSpec, spec_from_config
from rigml.fit.catalogue import UnknownGpu, UnknownModel
from rigml.fit.memory import MemoryEstimate, estimate
from rigml.fit.planner import FitReport, Target, plan_fit, solve_batch, solve_context
from rigml.fit.request import FitRequest
from rigml.fit.sources import load_model

__all__ = [
    "FitReport",
    "FitRequest",
    "InvalidModelConfig",
    "MemoryEstimate",
    "ModelSpec",
    "Target",
    "UnknownGpu",
    "UnknownModel",
    "estimate",
    "load_model",
    "plan_fit",
    "solve_batch",
    "solve_context",
    "spec_from_config",
]
