"""The fit planner: will a model fit on this machine for a task, and what to change if not.

``plan_fit("llama-3.1-8b", FitRequest(task="qlora"))`` reads the model (catalogue name,
config, safetensors or GGUF), estimates GPU memory part by part, judges it against this
machine's GPUs (or a GPU from the table), ranks mitigations and estimates throughput.
``run_fit`` is ``rig fit`` as one call: the plan, and a measurement when asked for.

Names load lazily (PEP 562): importing ``rigml.fit`` costs nothing until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml._lazy import attach as _attach

if TYPE_CHECKING:
    from rigml.fit.architecture import InvalidModelConfig, ModelSpec, spec_from_config
    from rigml.fit.catalogue import Gpu, UnknownGpu, UnknownModel
    from rigml.fit.measure import MeasureFailed, Measurement
    from rigml.fit.memory import MemoryEstimate, estimate
    from rigml.fit.planner import (
        FitReport,
        Mitigation,
        Target,
        TargetResult,
        Verdict,
        plan_fit,
        solve_batch,
        solve_context,
    )
    from rigml.fit.request import FitRequest
    from rigml.fit.service import FitOptions, FitOutcome, run_fit
    from rigml.fit.sources import load_model
    from rigml.fit.throughput import Throughput

# Each public name and the module that defines it; ``__all__`` is these names, sorted. No
# name may be a submodule's too: once ``rigml.fit.measure`` (the module) is imported, the
# package attribute ``measure`` is that module, so the function is ``run_fit`` with
# ``FitOptions(measure=True)``, or ``rigml.fit.measure.measure``.
_LAZY = {
    "InvalidModelConfig": "architecture",
    "ModelSpec": "architecture",
    "spec_from_config": "architecture",
    "Gpu": "catalogue",
    "UnknownGpu": "catalogue",
    "UnknownModel": "catalogue",
    "MeasureFailed": "measure",
    "Measurement": "measure",
    "MemoryEstimate": "memory",
    "estimate": "memory",
    "FitReport": "planner",
    "Mitigation": "planner",
    "Target": "planner",
    "TargetResult": "planner",
    "Verdict": "planner",
    "plan_fit": "planner",
    "solve_batch": "planner",
    "solve_context": "planner",
    "FitRequest": "request",
    "FitOptions": "service",
    "FitOutcome": "service",
    "run_fit": "service",
    "load_model": "sources",
    "Throughput": "throughput",
}

__all__ = [
    "FitOptions",
    "FitOutcome",
    "FitReport",
    "FitRequest",
    "Gpu",
    "InvalidModelConfig",
    "MeasureFailed",
    "Measurement",
    "MemoryEstimate",
    "Mitigation",
    "ModelSpec",
    "Target",
    "TargetResult",
    "Throughput",
    "UnknownGpu",
    "UnknownModel",
    "Verdict",
    "estimate",
    "load_model",
    "plan_fit",
    "run_fit",
    "solve_batch",
    "solve_context",
    "spec_from_config",
]

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
