"""The top-level tracking functions of ``rigml``: the nearest lab unless ``lab=`` says which.

The services in :mod:`rigml.track` take the lab as their first argument; these take it as
the keyword ``lab`` (a :class:`~rigml.lab.Lab`, a path, or ``None`` for the nearest lab:
``RIG_LAB``, else the working directory upward). One ``Lab`` object serves each lab folder
per process, so runs share its store connection and background writer.

Writing::

    with rigml.start_run("churn", params={"lr": 0.01}) as run:
        rigml.log({"loss": 0.31})

and reading back::

    best = rigml.search_runs("metrics.loss < 0.4", sort="metrics.loss", limit=5)
    best.to_pandas()
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from rigml.errors import InvalidInput

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.track._hooks import EndStatus
    from rigml.track._segments import History
    from rigml.track.compare import Comparison
    from rigml.track.queries import RunInfo
    from rigml.track.run_list import RunList
    from rigml.track.runs import Run

LabLike: TypeAlias = "Lab | str | os.PathLike[str] | None"
RunRef: TypeAlias = "str | RunInfo | Run"

_labs: dict[str, Lab] = {}


def lab_for(lab: LabLike) -> Lab:
    """``lab`` itself when it is a Lab; else the one Lab object of that folder (or the nearest).

    Raises:
        LabNotFound: no lab there or in any parent folder.
    """
    from rigml.lab import Lab, find_lab

    if isinstance(lab, Lab):
        return lab
    where = str(find_lab(lab))
    if where not in _labs:
        _labs[where] = Lab(where)
    return _labs[where]


def start_run(
    experiment: str = "default",
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    name: str | None = None,
    lab: LabLike = None,
    capture_git: bool | None = None,
    capture_environment: bool | None = None,
    capture_machine: bool | None = None,
    system_metrics: bool | None = None,
    system_metrics_interval: float | None = None,
) -> Run:
    """Start a tracked run; see :func:`rigml.track.runs.start_run`.

    Each ``capture_*`` / ``system_metrics*`` option left as ``None`` takes the lab's
    ``[tracking]`` value from ``rig.toml``; ``False`` switches that capture off for this run.

    Inside a pipeline stage (``RIG_STAGE_RUN_ID`` set by ``rig run`` / ``rig sweep``) with no
    run active and no ``lab`` given, this attaches to the stage's run instead of starting a
    second one, as ``mlflow.start_run()`` does under ``MLFLOW_RUN_ID``: ``params`` and
    ``tags`` are logged on it, ``experiment`` and ``name`` are the stage's, and leaving the
    ``with`` block only flushes (``rig`` records the stage's status).
    """
    from rigml.track.runs import active_run, stage_run
    from rigml.track.runs import start_run as start

    if lab is None and active_run() is None:
        attached = stage_run()
        if attached is not None:
            if params:
                attached.log_params(params)
            if tags:
                attached.set_tags(tags)
            return attached

    return start(
        lab_for(lab),
        experiment=experiment,
        name=name,
        params=params,
        tags=tags,
        capture_git=capture_git,
        capture_environment=capture_environment,
        capture_machine=capture_machine,
        system_metrics=system_metrics,
        system_metrics_interval=system_metrics_interval,
    )


# -- the active run ------------------------------------------------------------------------


def _active() -> Run:
    from rigml.track.runs import NoActiveRun, active_run

    run = active_run()
    if run is None:
        raise NoActiveRun()
    return run


def log_params(params: Mapping[str, Any]) -> None:
    """Record hyperparameters of the active run; see :meth:`Run.log_params`.

    Raises:
        NoActiveRun: no run is active.
        ParamConflict: a key was already logged with a different value.
    """
    _active().log_params(params)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set or replace tags of the active run.

    Raises:
        NoActiveRun: no run is active.
    """
    _active().set_tags(tags)


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> list[str]:
    """Store a file or folder as artifacts of the active run; see :meth:`Run.log_artifact`.

    Raises:
        NoActiveRun: no run is active.
    """
    return _active().log_artifact(path, name=name)


def end_run(status: EndStatus = "finished") -> None:
    """End the active run (flushing everything logged) with ``status``.

    Raises:
        NoActiveRun: no run is active.
    """
    _active().end(status)


# -- reading back ---------------------------------------------------------------------------


def get_run(ref: str, *, lab: LabLike = None) -> RunInfo:
    """One run by id or unique id prefix (at least 4 characters).

    Raises:
        RunNotFound: no run matches, or the prefix is ambiguous.
    """
    from rigml.track.queries import get_run as get

    return get(lab_for(lab), ref)


def search_runs(
    where: str | None = None,
    *,
    experiment: str | None = None,
    sort: str | None = None,
    limit: int | None = None,
    lab: LabLike = None,
) -> RunList:
    """Runs matching the filter ``where``, newest first unless ``sort`` says otherwise.

    ``where`` and ``sort`` are written as for ``rig runs ls``: ``"metrics.loss < 0.3 and
    params.lr = 0.01"``, ``sort="metrics.loss"`` or ``"-start_time"``.

    Raises:
        InvalidQuery: ``where`` or ``sort`` cannot be parsed.
    """
    from rigml.track.queries import list_runs
    from rigml.track.run_list import RunList

    found = list_runs(lab_for(lab), where=where, sort=sort, limit=limit, experiment=experiment)
    return RunList(found)


def _lab_and_id(run: RunRef, lab: LabLike) -> tuple[Lab, str]:
    """The lab and full id of ``run``; a live Run is flushed first so reads see it all."""
    from rigml.track.queries import RunInfo, resolve_run_id
    from rigml.track.runs import Run

    if isinstance(run, Run):
        run.flush()
        return (run.lab if lab is None else lab_for(lab)), run.id
    if isinstance(run, RunInfo):
        return lab_for(lab), run.id
    if isinstance(run, str):
        found = lab_for(lab)
        return found, resolve_run_id(found, run)
    raise InvalidInput(
        f"a run is an id, a RunInfo or a Run, got {type(run).__name__}",
        hint="pass run.id, or the value rigml.get_run or rigml.start_run returned",
    )


def load_history(run: RunRef, key: str, *, lab: LabLike = None) -> History:
    """Every stored point of metric ``key`` of ``run`` (an id, a RunInfo or a Run).

    Raises:
        RunNotFound: no run matches.
    """
    from rigml.track.queries import load_history as load

    found, run_id = _lab_and_id(run, lab)
    return load(found, run_id, key)


def compare_runs(*runs: RunRef, lab: LabLike = None, system_metrics: bool = False) -> Comparison:
    """Line up runs side by side: params, latest metrics, attributes, environment changes.

    Environments are compared with the first run. ``sys/`` metrics are left out unless
    ``system_metrics``.

    Raises:
        InvalidInput: no run was given.
        RunNotFound: a run matches nothing.
    """
    from rigml.track.compare import compare_runs as compare

    if not runs:
        raise InvalidInput(
            "compare_runs needs at least one run", hint="rigml.compare_runs(run_a, run_b)"
        )
    pairs = [_lab_and_id(r, lab) for r in runs]
    return compare(pairs[0][0], [run_id for _, run_id in pairs], system_metrics=system_metrics)
