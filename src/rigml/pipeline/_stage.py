"""Bring one stage up to date: skip it, restore its outs, or run it as a tracked run.

The stage's outs (and the stage itself) are locked in the lab while this happens, and its
status is computed again under the lock: another ``rig run`` may have just brought it up
to date. A run is a tracked run (experiment: the pipeline's name, run name: the stage's),
which records the params, the metrics files' values, the outs as artifacts (their objects
are stored once, for the cache and the run alike), the datasets read, and the output log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

    from rigml.gates import GateReport, Reference
    from rigml.lab import Lab
    from rigml.pipeline._executor import Executor
    from rigml.pipeline._spec import Pipeline, Stage
    from rigml.pipeline._status import Context
    from rigml.track.runs import Run

Action = Literal["ran", "restored", "up to date", "failed", "killed", "not run"]
TAIL_LINES = 20


@dataclass(frozen=True)
class StageResult:
    name: str
    action: Action
    reasons: tuple[str, ...] = ()
    run_id: str | None = None
    exit_code: int | None = None
    seconds: float = 0.0
    tail: tuple[str, ...] = ()
    gates: GateReport | None = None  # the stage's gates judged on its run (_gating)

    @property
    def gates_failed(self) -> bool:
        return self.gates is not None and not self.gates.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "reasons": list(self.reasons),
            "run_id": self.run_id,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "tail": list(self.tail),
            "gates": self.gates.to_dict() if self.gates is not None else None,
        }


@dataclass(frozen=True)
class Session:
    """What every stage of one ``rig run`` shares."""

    lab: Lab
    pipeline: Pipeline
    executor: Executor
    force: bool = False
    on_output: Callable[[str, str], None] | None = None  # (stage, line)
    extra_env: dict[str, str] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)  # set: start nothing more
    reference: Reference | None = None  # what the gates' regression rules compare against
    tags: dict[str, str] = field(default_factory=dict)  # more tags of each stage run (rig sweep)


def execute_stage(session: Session, stage: Stage) -> StageResult:
    """Bring ``stage`` up to date (its upstream stages are already)."""
    from rigml.pipeline._gating import judge_stage
    from rigml.pipeline._lockfile import Cancelled

    try:
        result = _execute(session, stage)
    except Cancelled:
        return StageResult(stage.name, "not run", ("the pipeline was stopped",))
    return judge_stage(session, stage, result)


def _execute(session: Session, stage: Stage) -> StageResult:
    from rigml.pipeline._digests import Hasher
    from rigml.pipeline._lockfile import Cancelled, file_lock, read_lock, stage_lock_keys
    from rigml.pipeline._status import Context, stage_status

    root = session.pipeline.root
    keys = [f"stage:{root}:{stage.name}", *stage_lock_keys(root, stage.outs)]
    t0 = time.perf_counter()
    with contextlib.ExitStack() as held:
        for key in keys:
            # as long as another `rig run` runs the stage: no timeout, but Ctrl-C ends the wait
            held.enter_context(file_lock(session.lab, key, timeout=None, cancel=session.cancel))
        if session.cancel.is_set():
            raise Cancelled(stage.name)
        hasher = held.enter_context(Hasher(session.lab, root))
        ctx = Context(session.lab, session.pipeline, hasher, read_lock(session.pipeline.lock_file))
        status = stage_status(ctx, stage, fresh=True)
        if session.force:
            return _run(session, ctx, stage, ("forced", *status.reasons), t0)
        if status.state == "up to date":
            return StageResult(stage.name, "up to date", status.reasons)
        if status.state == "restore":
            _restore(session, ctx, stage, status.restore)
            return StageResult(stage.name, "restored", status.reasons)
        return _run(session, ctx, stage, status.reasons, t0)


def _restore(session: Session, ctx: Context, stage: Stage, outs: tuple[str, ...]) -> None:
    from rigml.pipeline._outs import restore_out

    recorded = {o["path"]: o for o in ctx.lock[stage.name].get("outs") or []}
    for out in outs:
        restore_out(session.lab, session.pipeline.root, recorded[out])
        ctx.hasher.forget(out)


class _Log:
    """The stage's output: shown as it comes, kept whole for the log artifact, tail for errors."""

    def __init__(self, stage: str, sink: Callable[[str, str], None] | None) -> None:
        self.stage, self.sink = stage, sink
        self.lines: list[str] = []
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.tail.append(line)
        if self.sink is not None:
            self.sink(self.stage, line)

    def data(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode("utf-8", "replace")


def _run(
    session: Session, ctx: Context, stage: Stage, reasons: tuple[str, ...], t0: float
) -> StageResult:
    from rigml.pipeline._executor import Job
    from rigml.pipeline._params import flatten
    from rigml.pipeline._status import current_params
    from rigml.track.runs import start_run

    params = current_params(ctx, stage)
    deps = _dep_records(ctx, stage)
    data_env, versions = _datasets(ctx, stage)
    run = start_run(
        session.lab,
        experiment=session.pipeline.name,
        name=stage.name,
        params={k: v for values in params.values() for k, v in flatten(values).items()},
        tags={
            "rig.stage": stage.name,
            "rig.pipeline": session.pipeline.name,
            "rig.cmd": " && ".join(stage.cmd),
            **_upstream_tag(session, stage),
            **session.tags,
        },
    )
    log = _Log(stage.name, session.on_output)
    try:
        for ref in versions:
            run.use_dataset(ref)
        env = {**os.environ, **session.extra_env, **data_env}
        env.update(RIG_STAGE=stage.name, RIG_STAGE_RUN_ID=run.id, RIG_LAB=str(session.lab.path))
        job = Job(
            stage.name, stage.cmd, session.pipeline.root / stage.wdir, env, log, stage.resources
        )
        outcome = session.executor.run(job)
    except BaseException:
        _log_artifact(run, log)
        run.end("killed", error="interrupted")
        raise
    _log_artifact(run, log)
    if outcome.stopped:
        run.end("killed", error="interrupted: the pipeline was stopped")
        return _result(stage, "killed", reasons, run, outcome.exit_code, t0, log)
    if outcome.exit_code != 0:
        run.end("failed", error=f"exit code {outcome.exit_code}\n" + "\n".join(log.tail))
        return _result(stage, "failed", reasons, run, outcome.exit_code, t0, log)
    try:
        return _finish(session, ctx, stage, run, log, (reasons, params, deps, t0))
    except BaseException as exc:
        run.end("failed", error=f"recording the stage's outs failed: {exc}")
        raise


UPSTREAM_TAG = "rig.upstream"  # the runs of the stages whose outs this stage read


def _upstream_tag(session: Session, stage: Stage) -> dict[str, str]:
    """``rig.upstream``: the runs (from rig.lock) that made this stage's deps, for lineage."""
    from rigml.pipeline._graph import overlaps
    from rigml.pipeline._lockfile import read_lock

    feeding = [
        other.name
        for other in session.pipeline.stages.values()
        if other.name != stage.name
        and any(overlaps(dep, out) for dep in stage.deps for out in other.outs)
    ]
    if not feeding:
        return {}
    lock = read_lock(session.pipeline.lock_file)
    runs = [str(lock[n]["run"]) for n in feeding if (lock.get(n) or {}).get("run")]
    return {UPSTREAM_TAG: ",".join(runs)} if runs else {}


def _finish(
    session: Session,
    ctx: Context,
    stage: Stage,
    run: Run,
    log: _Log,
    inputs: tuple[tuple[str, ...], dict[str, Any], list[dict[str, Any]], float],
) -> StageResult:
    """After a successful command: store outs, log metrics, record the run and rig.lock."""
    from rigml.pipeline._env import env_digest
    from rigml.pipeline._lockfile import update_lock
    from rigml.pipeline._outs import store_out
    from rigml.track.artifacts import _record

    reasons, params, deps, t0 = inputs
    outs, artifacts = [], []
    for out in stage.outs:
        record, entries = store_out(session.lab, ctx.hasher, out)
        if not record:
            log(f"rig: the stage did not write its out {out}")
            run.end("failed", error=f"the stage did not write its out {out}")
            return _result(stage, "failed", reasons, run, 0, t0, log)
        outs.append(record)
        artifacts += entries
    if artifacts:
        _record(session.lab, run.id, artifacts)
    _log_metrics(run, session.pipeline.root, stage)
    entry = {"cmd": list(stage.cmd), "env": env_digest(), "deps": deps, "params": params}
    entry.update(outs=outs, run=run.id, ran_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    update_lock(session.lab, session.pipeline.lock_file, stage.name, entry)
    run.end("finished")
    return _result(stage, "ran", reasons, run, 0, t0, log)


def _result(
    stage: Stage,
    action: Action,
    reasons: tuple[str, ...],
    run: Run,
    code: int,
    t0: float,
    log: _Log,
) -> StageResult:
    tail = tuple(log.tail) if action != "ran" else ()
    return StageResult(stage.name, action, reasons, run.id, code, time.perf_counter() - t0, tail)


def _log_artifact(run: Run, log: _Log) -> None:
    from rigml.track.artifacts import log_bytes

    with contextlib.suppress(Exception):  # the log must never hide the stage's own outcome
        log_bytes(run.lab, run.id, log.data(), f"logs/{_safe(run.name)}.log")


def _safe(name: str) -> str:
    return re.sub(r"[^\w.@-]+", "_", name)


def _dep_records(ctx: Context, stage: Stage) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for dep in stage.deps:
        d = ctx.hasher.digest(dep, fresh=True)
        records.append({"path": dep, "kind": d.kind, "hash": d.hash, "size": d.size})
    for ref in stage.data:
        info = ctx.version(ref)
        records.append({"data": ref, "version": info.ref, "hash": info.fingerprint})
    return records


def data_env_name(name: str) -> str:
    """``RIG_DATA_<NAME>``: the dataset name upper-cased, other characters as ``_``."""
    return "RIG_DATA_" + re.sub(r"\W", "_", name).upper()


def _datasets(ctx: Context, stage: Stage) -> tuple[dict[str, str], list[str]]:
    """Check out each ``data:`` dep; the env vars pointing at them and the exact refs."""
    from rigml.pipeline._data import checkout_version

    env: dict[str, str] = {}
    refs: list[str] = []
    for ref in stage.data:
        info = ctx.version(ref)
        env[data_env_name(info.name)] = str(checkout_version(ctx.lab, info))
        refs.append(info.ref)
    return env, refs


def _log_metrics(run: Run, root: Path, stage: Stage) -> None:
    """The numbers of each metrics file (JSON, or YAML), flattened to ``a.b`` keys, at step 0."""
    from rigml.pipeline._params import flatten

    values: dict[str, float] = {}
    for rel in stage.metrics:
        try:
            data = _read_metrics(root / rel)
        except (OSError, ValueError):
            continue
        for key, value in flatten(data).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[key] = float(value)
    if values:
        run.log(values, step=0)


def _read_metrics(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)
