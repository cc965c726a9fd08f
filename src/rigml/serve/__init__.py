"""Serving: registered models behind an HTTP service, with micro-batching, limits, tokens,
blue-green swaps when an alias moves, and canary and shadow arms.

``create_app(lab, ServeConfig(("churn@production",)))`` is the ASGI app; ``serve(...)`` runs
it with uvicorn (``rig serve``). Names load lazily (PEP 562): importing this costs nothing.
"""

# No ``from __future__ import annotations`` and no public import here: every public
# attribute of this package is in ``__all__`` (tests/serve/test_exports.py checks it).
import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from rigml.serve._app import create_app
    from rigml.serve._batcher import Batcher, Overloaded
    from rigml.serve._config import ArmSpec, ServeConfig, check_host
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
}

__all__ = [
    "ArmSpec",
    "Batcher",
    "ModelSlot",
    "Overloaded",
    "ServeConfig",
    "Served",
    "app_from_env",
    "check_host",
    "create_app",
    "serve",
]


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rigml.serve' has no attribute {name!r}")
    return getattr(_importlib.import_module(f"rigml.serve.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
