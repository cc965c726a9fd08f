"""rigml: one AI workstation as a complete, private ML lab.

Tracking in three lines::

    import rigml
    with rigml.start_run(experiment="churn", params={"lr": 0.01}) as run:
        run.log({"loss": 0.31}, step=1)

Names load lazily (PEP 562) so that ``import rigml`` and ``rig --help`` stay fast.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rigml._version import __version__

if TYPE_CHECKING:
    from rigml.errors import RigError
    from rigml.lab import Lab, init_lab, open_lab
    from rigml.track.runs import Run, active_run, log

__all__ = [
    "Lab",
    "RigError",
    "Run",
    "__version__",
    "active_run",
    "init_lab",
    "log",
    "open_lab",
    "start_run",
]

_LAZY = {
    "Lab": "rigml.lab",
    "init_lab": "rigml.lab",
    "open_lab": "rigml.lab",
    "RigError": "rigml.errors",
    "Run": "rigml.track.runs",
    "active_run": "rigml.track.runs",
    "log": "rigml.track.runs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rigml' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)


def start_run(
    experiment: str = "default",
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    name: str | None = None,
    lab: Lab | str | os.PathLike[str] | None = None,
    **capture: bool,
) -> Run:
    """Start a tracked run in the nearest lab (or ``lab``); see ``rigml.track.runs.start_run``.

    ``capture`` takes ``capture_git``, ``capture_environment``, ``capture_machine`` and
    ``system_metrics`` to switch automatic capture off for this run.
    """
    from rigml.lab import Lab
    from rigml.track.runs import start_run as _start

    if not isinstance(lab, Lab):
        lab = _lab_for(lab)
    return _start(lab, experiment=experiment, name=name, params=params, tags=tags, **capture)


_labs: dict[str, Lab] = {}


def _lab_for(path: str | os.PathLike[str] | None) -> Lab:
    """One Lab object per lab folder and process, so runs share the store and writer."""
    from rigml.lab import Lab, find_lab

    where = str(find_lab(path))
    if where not in _labs:
        _labs[where] = Lab(where)
    return _labs[where]
