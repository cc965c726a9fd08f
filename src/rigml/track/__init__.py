"""Experiment tracking: runs, params, metrics, artifacts, and the queries over them.

Each operation takes the lab as its first argument (``get_run(lab, ref)``); the functions
of the top-level ``rigml`` package wrap the common ones for the nearest lab.

Names load lazily (PEP 562): importing ``rigml.track`` costs nothing until one is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml._lazy import attach as _attach

if TYPE_CHECKING:
    from rigml.track._segments import History
    from rigml.track.artifacts import Artifact, download_artifact, list_artifacts, log_artifact
    from rigml.track.compare import Comparison, compare_runs
    from rigml.track.delete import DeleteReport, delete_runs
    from rigml.track.export import export_runs
    from rigml.track.plot import plot_runs
    from rigml.track.queries import (
        RunInfo,
        get_run,
        list_runs,
        load_history,
        metric_keys,
        resolve_run_id,
    )
    from rigml.track.run_list import RunList
    from rigml.track.runs import (
        NoActiveRun,
        Run,
        RunEnded,
        active_run,
        log,
        set_tags,
        start_run,
    )

__all__ = [
    "Artifact",
    "Comparison",
    "DeleteReport",
    "History",
    "NoActiveRun",
    "Run",
    "RunEnded",
    "RunInfo",
    "RunList",
    "active_run",
    "compare_runs",
    "delete_runs",
    "download_artifact",
    "export_runs",
    "get_run",
    "list_artifacts",
    "list_runs",
    "load_history",
    "log",
    "log_artifact",
    "metric_keys",
    "plot_runs",
    "resolve_run_id",
    "set_tags",
    "start_run",
]

_LAZY = {
    "History": "_segments",
    "Artifact": "artifacts",
    "download_artifact": "artifacts",
    "list_artifacts": "artifacts",
    "log_artifact": "artifacts",
    "Comparison": "compare",
    "compare_runs": "compare",
    "DeleteReport": "delete",
    "delete_runs": "delete",
    "export_runs": "export",
    "plot_runs": "plot",
    "RunInfo": "queries",
    "get_run": "queries",
    "list_runs": "queries",
    "load_history": "queries",
    "metric_keys": "queries",
    "resolve_run_id": "queries",
    "RunList": "run_list",
    "NoActiveRun": "runs",
    "Run": "runs",
    "RunEnded": "runs",
    "active_run": "runs",
    "log": "runs",
    "set_tags": "runs",
    "start_run": "runs",
}

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
