"""rigml: one AI workstation as a complete, private ML lab.

Tracking in three lines, and reading back in one::

    import rigml
    with rigml.start_run(experiment="churn", params={"lr": 0.01}) as run:
        run.log({"loss": 0.31}, step=1)
    rigml.search_runs("params.lr = 0.01").to_pandas()

The functions here act on the nearest lab (``RIG_LAB``, else the working directory
upward) unless ``lab=`` names one; the services in :mod:`rigml.track`, :mod:`rigml.data`
and :mod:`rigml.fit` take the lab as their first argument.

Names load lazily (PEP 562) so that ``import rigml`` and ``rig --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rigml._lazy import attach as _attach
from rigml._version import __version__

if TYPE_CHECKING:
    from rigml.errors import RigError
    from rigml.lab import Lab, init_lab, open_lab
    from rigml.registry._api import load_model
    from rigml.track.api import (
        compare_runs,
        end_run,
        get_run,
        load_history,
        log_artifact,
        log_params,
        search_runs,
        set_tags,
        start_run,
    )
    from rigml.track.runs import Run, active_run, log

__all__ = [
    "Lab",
    "RigError",
    "Run",
    "__version__",
    "active_run",
    "compare_runs",
    "end_run",
    "get_run",
    "init_lab",
    "load_history",
    "load_model",
    "log",
    "log_artifact",
    "log_params",
    "open_lab",
    "search_runs",
    "set_tags",
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
    "compare_runs": "rigml.track.api",
    "end_run": "rigml.track.api",
    "get_run": "rigml.track.api",
    "load_history": "rigml.track.api",
    "load_model": "rigml.registry._api",
    "log_artifact": "rigml.track.api",
    "log_params": "rigml.track.api",
    "search_runs": "rigml.track.api",
    "set_tags": "rigml.track.api",
    "start_run": "rigml.track.api",
}

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
