"""Serving: registered models behind an HTTP service, with micro-batching, limits, tokens,
blue-green swaps when an alias moves, and canary and shadow arms.

``create_app(lab, ServeConfig(("churn@production",)))`` is the ASGI app; ``serve(...)`` runs
it with uvicorn (``rig serve``). Names load lazily (PEP 562): importing this costs nothing.
"""

# No ``from __future__ import annotations`` and no public import here: every public
# attribute of this package is in ``__all__`` (tests/serve/test_exports.py checks it).
import typing as _typing

from rigml._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from rigml.serve._app import create_app
    from rigml.serve._batch_predict import BatchResult, predict_file
    from rigml.serve._batcher import Batcher, Overloaded
    from rigml.serve._config import ArmSpec, ServeConfig, check_host
    from rigml.serve._export import FrozenArm, ServiceExport, export_service
    from rigml.serve._feedback import Feedback, record_feedback
    from rigml.serve._predlog import LogStats, PredictionLog
    from rigml.serve._predlog_export import ExportResult, export_predictions
    from rigml.serve._predlog_read import iter_predictions, read_predictions
    from rigml.serve._run import app_from_env, serve
    from rigml.serve._slot import ModelSlot, Served

# public name -> the private module that defines it
_LAZY = {
    "create_app": "_app",
    "Batcher": "_batcher",
    "Overloaded": "_batcher",
    "ArmSpec": "_config",
    "ServeConfig": "_config",
    "check_host": "_config",
    "app_from_env": "_run",
    "serve": "_run",
    "ModelSlot": "_slot",
    "Served": "_slot",
    "PredictionLog": "_predlog",
    "LogStats": "_predlog",
    "read_predictions": "_predlog_read",
    "iter_predictions": "_predlog_read",
    "export_predictions": "_predlog_export",
    "ExportResult": "_predlog_export",
    "record_feedback": "_feedback",
    "Feedback": "_feedback",
    "predict_file": "_batch_predict",
    "export_service": "_export",
    "ServiceExport": "_export",
    "FrozenArm": "_export",
    "BatchResult": "_batch_predict",
}

__all__ = [
    "ArmSpec",
    "BatchResult",
    "Batcher",
    "ExportResult",
    "Feedback",
    "FrozenArm",
    "LogStats",
    "ModelSlot",
    "Overloaded",
    "PredictionLog",
    "ServeConfig",
    "Served",
    "ServiceExport",
    "app_from_env",
    "check_host",
    "create_app",
    "export_predictions",
    "export_service",
    "iter_predictions",
    "predict_file",
    "read_predictions",
    "record_feedback",
    "serve",
]

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
