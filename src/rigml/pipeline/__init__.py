"""Pipelines: ``rig.yaml`` stages, their DAG, the ``rig.lock`` cache and the executors.

Names load lazily (PEP 562): importing ``rigml.pipeline`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.pipeline._spec import Pipeline, Stage, find_pipeline, load_pipeline

__all__ = ["Pipeline", "Stage", "find_pipeline", "load_pipeline"]

_LAZY = {
    "Pipeline": "_spec",
    "Stage": "_spec",
    "find_pipeline": "_spec",
    "load_pipeline": "_spec",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rigml.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rigml.pipeline.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
