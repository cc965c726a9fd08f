"""Start, log to, and end runs: the Python tracking API.

``start_run(lab, ...)`` inserts the run, starts background capture (git, environment,
machine) and system-metric sampling, and returns a :class:`Run`. ``Run.log`` costs a few
microseconds: it validates and appends to a deque that the background writer flushes.
The run ends as ``finished`` on a normal exit, ``failed`` with the traceback on an
exception, and ``killed`` on Ctrl-C or SIGTERM (see :mod:`rigml.track._hooks`); everything
logged is flushed first. A run whose process vanished without ending it (SIGKILL, power
loss) is later shown as ``crashed`` by the queries in :mod:`rigml.track.queries`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import platform
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, InvalidMetric, NotFound, ParamConflict, RigError
from rigml.track import _hooks
from rigml.track._hooks import EndStatus
from rigml.track._writer import RunBuffer, Writer

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from rigml.config import TrackingConfig
    from rigml.lab import Lab
    from rigml.track._segments import History


class NoActiveRun(NotFound):
    def __init__(self) -> None:
        super().__init__(
            "no run is active in this process",
            hint='start one: `with rigml.start_run(experiment="...") as run:`',
        )


def _encode_param(value: Any) -> str:
    def default(o: Any) -> Any:
        if hasattr(o, "item"):  # numpy / torch scalars
            return o.item()
        return str(o)

    return json.dumps(value, sort_keys=True, default=default)


def _param_number(encoded: str) -> float | None:
    value = json.loads(encoded)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _check_key(kind: str, key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 255:
        raise InvalidInput(
            f"{kind} names must be non-empty strings of at most 255 characters, got {key!r}",
            hint="use names like 'loss', 'val/acc' or 'lr'",
        )
    return key


def _as_step(step: Any) -> int:
    """Slow path for steps: numpy/torch integers are fine, 1.5 and "3" are not."""
    import operator

    if isinstance(step, bool):
        raise InvalidInput(f"step must be an integer, got {step!r}", hint="pass step=epoch")
    try:
        return operator.index(step)
    except TypeError as exc:
        raise InvalidInput(
            f"step must be an integer, got {type(step).__name__} {step!r:.40}",
            hint="pass a whole number such as the epoch or batch index",
        ) from exc


class RunEnded(RigError):
    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(
            f"run {run_id[:8]} has already ended ({status}); nothing more can be logged to it",
            hint="start a new run for new results",
        )


def _as_float(key: str, value: Any) -> float:
    """Slow path of ``Run.log``: accept anything with ``__float__`` (numpy, torch, bool)."""
    if isinstance(value, str | bytes) or not hasattr(type(value), "__float__"):
        raise InvalidMetric(key, value)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidMetric(key, value) from exc


class Run:
    """A tracked execution. Use it as a context manager, or call :meth:`end`."""

    def __init__(
        self,
        lab: Lab,
        run_id: str,
        name: str,
        experiment: str,
        writer: Writer,
        *,
        params: dict[str, str],
    ) -> None:
        self.lab = lab
        self.id = run_id
        self.name = name
        self.experiment = experiment
        self.status: str = "running"
        self._writer = writer
        self._buffer = RunBuffer(run_id)
        self._append = self._buffer.points.append
        self._extend = self._buffer.points.extend
        self._next_step = 0
        self._keys: set[str] = set()
        self._params = params  # key -> JSON text, as stored
        self._end_lock = threading.Lock()
        self._sampler: Any = None
        self._capture: threading.Thread | None = None
        self._attached = False  # another process started this run and will end it
        writer.register(self._buffer)

    def __repr__(self) -> str:
        return f"<Run {self.id[:8]} {self.name!r} {self.status}>"

    # -- logging -------------------------------------------------------------------------

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log metric values at ``step`` (default: one more than the last step logged).

        Costs microseconds: the values are checked and queued; a background thread writes
        them. NaN and infinities are stored as they are.

        Raises:
            InvalidMetric: a value is not a number.
        """
        if step is None:
            step = self._next_step
            self._next_step += 1
        else:
            if type(step) is not int:
                step = _as_step(step)
            if step >= self._next_step:
                self._next_step = step + 1
        t = time.time()
        keys = self._keys
        points = []
        for key, value in metrics.items():
            if key not in keys:
                _check_key("metric", key)
                keys.add(key)
            if type(value) is not float and type(value) is not int:
                value = _as_float(key, value)
            points.append((key, step, t, value))
        self._extend(points)  # all or nothing: one bad value logs none of the call

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record hyperparameters. A param is fixed once logged.

        Raises:
            ParamConflict: a key was already logged with a different value.
        """
        encoded = {_check_key("param", k): _encode_param(v) for k, v in params.items()}
        for key, value in encoded.items():
            old = self._params.get(key)
            if old is not None and old != value:
                raise ParamConflict(key, json.loads(old), json.loads(value))
        new = {k: v for k, v in encoded.items() if k not in self._params}
        if new:
            self.lab.store.transact(lambda conn: _insert_params(conn, self.id, new))
            self._params.update(new)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set or replace tags: free-form labels that may change during and after a run."""
        set_tags(self.lab, self.id, tags)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> list[str]:
        """Store a file or a folder in the object store as artifacts of this run.

        Returns the artifact paths recorded (one per file; a folder keeps its layout under
        ``name``). Content already in the lab is not copied again.
        """
        from rigml.track.artifacts import log_artifact

        return log_artifact(self.lab, self.id, path, name=name)

    def log_model(
        self,
        model: Any,
        *,
        name: str,
        example: Any = None,
        flavor: str | None = None,
        **options: Any,
    ) -> Any:
        """Package ``model`` (scikit-learn, ONNX, PyTorch, XGBoost, LightGBM, or any object
        with ``predict``), keep it with this run, and register it as the next version of
        model ``name``. ``example`` (a few input rows) gives the signature.

        Returns:
            The :class:`~rigml.registry.ModelVersion` created.
        """
        from rigml.registry._register import log_model

        return log_model(
            self.lab, self.id, model, name=name, example=example, flavor=flavor, **options
        )

    def use_dataset(self, ref: str) -> Any:
        """Record that this run reads dataset version ``ref`` (``"churn@3"``, ``"churn@golden"``).

        ``NAME`` or ``NAME@latest`` is resolved now, so the run keeps the exact version.
        Returns that version (``rigml.data.VersionInfo``); ``rig data show`` lists
        the runs that used it.

        Raises:
            DatasetNotFound: no such dataset or version.
        """
        from rigml.data import use_dataset

        return use_dataset(self.lab, self.id, ref)

    def _closed_append(self, _points: Any) -> None:
        raise RunEnded(self.id, self.status)

    def flush(self) -> None:
        """Write everything logged so far now, instead of at the next background flush."""
        self._writer.flush(self._buffer, beat=True)

    def history(self, key: str) -> History:
        """Every flushed point of metric ``key``."""
        from rigml.track.queries import load_history

        self.flush()
        return load_history(self.lab, self.id, key)

    # -- ending ----------------------------------------------------------------------------

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end("finished")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("killed", error="interrupted (KeyboardInterrupt)")
        elif issubclass(exc_type, SystemExit) and _hooks.terminated():
            self.end("killed", error="terminated by SIGTERM")
        elif isinstance(exc, SystemExit) and exc.code in (0, None):
            self.end("finished")
        else:
            self.end("failed", error="".join(traceback.format_exception(exc_type, exc, tb)))

    def end(self, status: EndStatus = "finished", *, error: str | None = None) -> None:
        """Flush everything, then record the final status. Calling it twice is harmless."""
        with self._end_lock:
            if self.status != "running":
                return
            if self._sampler is not None:
                self._sampler.stop()
            if self._capture is not None:
                self._capture.join(timeout=60)
            self._writer.flush(self._buffer, beat=True)
            if not self._attached:  # an attached run's status is its owner's to record
                now = time.time()
                self.lab.store.transact(lambda conn: _finish(conn, self.id, status, now, error))
            self.status = status
            self._writer.unregister(self.id)
            self._append = self._extend = self._closed_append
            _hooks.unregister(self)
        if self._attached:
            return
        from rigml.track.queries import compact_segments

        with contextlib.suppress(RigError):  # compaction only speeds reads; points are safe
            compact_segments(self.lab, self.id)

    # -- background capture ---------------------------------------------------------------

    def _start_capture(self, *, git: bool, environment: bool, machine: bool) -> None:
        if not (git or environment or machine):
            return

        def capture() -> None:
            try:
                _capture_into(self, git=git, environment=environment, machine=machine)
            except Exception as exc:  # capture must never break the user's training
                self.set_tags({"rig.capture_error": f"{type(exc).__name__}: {exc}"[:500]})

        self._capture = threading.Thread(target=capture, name="rigml-capture", daemon=True)
        self._capture.start()

    def _start_sampler(self, interval: float) -> None:
        from rigml.machine.sampler import SamplerThread, SystemSampler

        cwd = str(Path.cwd())
        sampler = _Primed(lambda: SystemSampler(pids=[os.getpid()], disk_path=cwd))
        step = iter(range(1 << 62))
        append = self._append

        def on_sample(sample: Any) -> None:
            i = next(step)
            for key, value in sample.values.items():
                append((f"sys/{key}", i, sample.time, float(value)))

        self._sampler = SamplerThread(sampler, interval=interval, callback=on_sample)
        self._sampler.start()


class _Primed:
    """A sampler made (its first counters read: a scan of ``/proc``) on a thread of its own.

    The run's start does not wait for it, which a pipeline stage of a few milliseconds
    would notice; the first sample, an interval later, waits for it if it must.
    """

    def __init__(self, make: Any) -> None:
        self._ready = threading.Event()
        self._sampler: Any = None
        self._error: BaseException | None = None

        def prime() -> None:
            try:
                self._sampler = make()
            except BaseException as exc:  # surfaces in the first sample, as SamplerThread counts
                self._error = exc
            finally:
                self._ready.set()

        threading.Thread(target=prime, name="rigml-sampler-start", daemon=True).start()

    def sample(self) -> Any:
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self._sampler.sample()


def _insert_params(conn: Connection, run_id: str, encoded: dict[str, str]) -> None:
    from sqlalchemy import insert, select

    from rigml.store.schema import params

    existing = dict(
        conn.execute(
            select(params.c.key, params.c.value).where(
                params.c.run_id == run_id, params.c.key.in_(list(encoded))
            )
        ).all()
    )
    for key, old in existing.items():
        if old != encoded[key]:
            raise ParamConflict(key, json.loads(old), json.loads(encoded[key]))
    rows = [
        {"run_id": run_id, "key": k, "value": v, "num": _param_number(v)}
        for k, v in encoded.items()
        if k not in existing
    ]
    if rows:
        conn.execute(insert(params), rows)


def set_tags(lab: Lab, run_id: str, tags: Mapping[str, Any]) -> None:
    """Set or replace tags of a run (running or ended)."""
    from rigml.store.queries import upsert
    from rigml.store.schema import tags as tags_table

    rows = [
        {"run_id": run_id, "key": _check_key("tag", k), "value": str(v)} for k, v in tags.items()
    ]
    if not rows:
        return

    def write(conn: Connection) -> None:
        stmt = upsert(conn)(tags_table).values(rows)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
            )
        )

    lab.store.transact(write)


def _finish(conn: Connection, run_id: str, status: str, now: float, error: str | None) -> None:
    from sqlalchemy import update

    from rigml.store.schema import runs

    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(status=status, end_time=now, heartbeat=now, error=error)
    )


def _capture_into(run: Run, *, git: bool, environment: bool, machine: bool) -> None:
    """Record git state, environment lock and machine fingerprint of ``run``."""
    from sqlalchemy import update

    from rigml.store.schema import runs
    from rigml.track._capture import captured

    key = (str(run.lab.path), os.getcwd(), git, environment, machine)
    found, diff = captured(key, lambda: _capture_values(run.lab, git, environment, machine))
    values = dict(found)
    if diff:
        from rigml.track.artifacts import log_bytes

        log_bytes(run.lab, run.id, diff, "rig/git.diff")
    if values:
        run.lab.store.transact(
            lambda conn: conn.execute(update(runs).where(runs.c.id == run.id).values(**values))
        )


def _capture_values(
    lab: Lab, git: bool, environment: bool, machine: bool
) -> tuple[dict[str, Any], bytes]:
    """The run columns the capture sets (objects stored in ``lab``), and the git diff."""
    values: dict[str, Any] = {}
    diff = b""
    if git:
        from rigml.track._capture import git_state

        state = git_state()
        if state is not None:
            values.update(git_commit=state.commit, git_branch=state.branch, git_dirty=state.dirty)
            diff = state.diff
    if environment:
        from rigml.machine.env import capture_environment

        env = capture_environment(include_env_vars=True)
        values["env_object"] = lab.objects.put_bytes(_canonical_json(env))
    if machine:
        from rigml.machine.fingerprint import machine_fingerprint

        values["machine_object"] = lab.objects.put_bytes(_canonical_json(machine_fingerprint()))
    return values, diff


def _canonical_json(obj: Any) -> bytes:
    """Stable bytes for a JSON document, so equal documents share one object."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def _experiment_id(conn: Connection, name: str) -> int:
    from sqlalchemy import select

    from rigml.store.queries import upsert
    from rigml.store.schema import experiments

    stmt = upsert(conn)(experiments).values(name=name, created_at=time.time())
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    return int(
        conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar_one()
    )


@dataclass(frozen=True)
class _Capture:
    """What a run records in the background, resolved against ``[tracking]``."""

    git: bool
    environment: bool
    machine: bool
    system_metrics: bool
    interval: float


def _resolve_capture(
    cfg: TrackingConfig,
    git: bool | None,
    environment: bool | None,
    machine: bool | None,
    system_metrics: bool | None,
    interval: float | None,
) -> _Capture:
    """Each switch left as ``None`` takes the lab's configured value."""
    every = cfg.system_metrics_interval if interval is None else interval
    if isinstance(every, bool) or not isinstance(every, int | float) or not every > 0:
        raise InvalidInput(
            f"system_metrics_interval must be a positive number of seconds, got {every!r}",
            hint="pass e.g. system_metrics_interval=5.0, or leave it to rig.toml's [tracking]",
        )
    return _Capture(
        git=cfg.capture_git if git is None else git,
        environment=cfg.capture_environment if environment is None else environment,
        machine=cfg.capture_machine if machine is None else machine,
        system_metrics=cfg.system_metrics if system_metrics is None else system_metrics,
        interval=float(every),
    )


def _process_row(run_id: str, name: str) -> dict[str, Any]:
    """The ``runs`` row of a new run: who, where and what started it."""
    import psutil

    from rigml.track._capture import command_line

    now = time.time()
    try:
        user: str | None = getpass.getuser()
    except Exception:
        user = None
    return {
        "id": run_id,
        "name": name,
        "status": "running",
        "start_time": now,
        "heartbeat": now,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_start": psutil.Process().create_time(),
        "user": user,
        "command": command_line(),
        "python": platform.python_version(),
    }


def _insert_run(
    lab: Lab,
    experiment: str,
    row: dict[str, Any],
    params: dict[str, str],
    tags: Mapping[str, Any],
) -> None:
    """Write the run, its experiment (created on first use), params and tags at once."""
    from sqlalchemy import insert

    from rigml.store.schema import runs
    from rigml.store.schema import tags as tags_table

    tag_rows = [
        {"run_id": row["id"], "key": _check_key("tag", k), "value": str(v)} for k, v in tags.items()
    ]

    def write(conn: Connection) -> None:
        conn.execute(insert(runs).values(experiment_id=_experiment_id(conn, experiment), **row))
        if params:
            _insert_params(conn, row["id"], params)
        if tag_rows:
            conn.execute(insert(tags_table), tag_rows)

    lab.store.transact(write)


def start_run(
    lab: Lab,
    *,
    experiment: str = "default",
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    capture_git: bool | None = None,
    capture_environment: bool | None = None,
    capture_machine: bool | None = None,
    system_metrics: bool | None = None,
    system_metrics_interval: float | None = None,
) -> Run:
    """Start a tracked run in ``lab``.

    Each ``capture_*`` / ``system_metrics*`` option left as ``None`` takes the lab's
    ``[tracking]`` configuration. Capture and sampling happen in background threads.

    Raises:
        InvalidInput: a name, param or tag key, or the sampling interval is malformed.
        StoreUnavailable: the store cannot be written.
    """
    from rigml.track._names import run_name

    capture = _resolve_capture(
        lab.config.tracking,
        capture_git,
        capture_environment,
        capture_machine,
        system_metrics,
        system_metrics_interval,
    )
    _check_key("experiment", experiment)
    encoded = {_check_key("param", k): _encode_param(v) for k, v in (params or {}).items()}
    row = _process_row(uuid.uuid4().hex, name or run_name())
    _insert_run(lab, experiment, row, encoded, tags or {})
    run = Run(lab, row["id"], row["name"], experiment, _hooks.writer_for(lab), params=encoded)
    _hooks.register(run)
    run._start_capture(git=capture.git, environment=capture.environment, machine=capture.machine)
    if capture.system_metrics:
        run._start_sampler(capture.interval)
    return run


def active_run() -> Run | None:
    """The innermost run started in this process and not yet ended."""
    return _hooks.innermost()


def attach_run(lab: Lab, run_id: str) -> Run:
    """The running run ``run_id``, started by another process, to log metrics into.

    A pipeline stage's script logs this way into the run ``rig run`` (or ``rig sweep``)
    started for it. Ending it only flushes: its status stays for its owner to record.

    Raises:
        RunNotFound: no such run.
        RunEnded: the run is not running.
    """
    from rigml.track.queries import get_run

    info = get_run(lab, run_id)
    if info.status != "running":
        raise RunEnded(info.id, info.status)
    run = Run(lab, info.id, info.name, info.experiment, _hooks.writer_for(lab), params={})
    run._attached = True
    _hooks.register(run)
    return run


def stage_run() -> Run | None:
    """The run of the pipeline stage this process runs in (``RIG_STAGE_RUN_ID``), attached."""
    run_id = os.environ.get("RIG_STAGE_RUN_ID")
    if not run_id:
        return None
    from rigml.track.api import lab_for

    return attach_run(lab_for(None), run_id)


def log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log to the active run; see :meth:`Run.log`.

    Inside a pipeline stage with no run of its own, the stage's run (``RIG_STAGE_RUN_ID``)
    is attached on first use, so ``rigml.log`` from a stage script lands in its stage run.

    Raises:
        NoActiveRun: no run is active.
    """
    run = active_run() or stage_run()
    if run is None:
        raise NoActiveRun()
    run.log(metrics, step=step)
