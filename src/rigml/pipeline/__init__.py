"""Pipelines: ``rig.yaml`` stages, their DAG, the ``rig.lock`` cache and the executors.

Names load lazily (PEP 562): importing ``rigml.pipeline`` costs nothing until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml._lazy import attach as _attach

if TYPE_CHECKING:
    from rigml.pipeline._dag import Dag, DagNode, pipeline_dag
    from rigml.pipeline._executor import Executor, Job, LocalExecutor, Outcome, make_executor
    from rigml.pipeline._preflight import (
        PreflightCheck,
        PreflightOptions,
        PreflightReport,
        preflight,
    )
    from rigml.pipeline._ray import RayExecutor
    from rigml.pipeline._runner import RunReport, run_pipeline
    from rigml.pipeline._spec import Pipeline, Stage, find_pipeline, load_pipeline
    from rigml.pipeline._stage import StageResult
    from rigml.pipeline._status import StageStatus, pipeline_status
    from rigml.pipeline._sweep import SweepConfig, SweepReport, TrialResult, run_sweep

__all__ = [
    "Dag",
    "DagNode",
    "Executor",
    "Job",
    "LocalExecutor",
    "Outcome",
    "Pipeline",
    "PreflightCheck",
    "PreflightOptions",
    "PreflightReport",
    "RayExecutor",
    "RunReport",
    "Stage",
    "StageResult",
    "StageStatus",
    "SweepConfig",
    "SweepReport",
    "TrialResult",
    "find_pipeline",
    "load_pipeline",
    "make_executor",
    "pipeline_dag",
    "pipeline_status",
    "preflight",
    "run_pipeline",
    "run_sweep",
]

_LAZY = {
    "Dag": "_dag",
    "DagNode": "_dag",
    "pipeline_dag": "_dag",
    "Executor": "_executor",
    "Job": "_executor",
    "LocalExecutor": "_executor",
    "Outcome": "_executor",
    "PreflightCheck": "_preflight",
    "PreflightOptions": "_preflight",
    "PreflightReport": "_preflight",
    "preflight": "_preflight",
    "make_executor": "_executor",
    "RayExecutor": "_ray",
    "RunReport": "_runner",
    "run_pipeline": "_runner",
    "StageResult": "_stage",
    "StageStatus": "_status",
    "pipeline_status": "_status",
    "Pipeline": "_spec",
    "Stage": "_spec",
    "find_pipeline": "_spec",
    "load_pipeline": "_spec",
    "SweepConfig": "_sweep",
    "SweepReport": "_sweep",
    "TrialResult": "_sweep",
    "run_sweep": "_sweep",
}

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
