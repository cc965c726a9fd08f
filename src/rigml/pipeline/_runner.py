"""``rig run``: bring the selected stages up to date, independent ones in parallel.

The scheduler walks the DAG in topological order and hands a stage to a worker thread once
every stage it needs is done; the worker runs it through the executor. A failed stage
stops its dependants ("not run") while independent branches go on; everything upstream
stays cached. With the local executor a stage also waits until this machine's budget
(cores, GPUs, available memory; see :mod:`rigml.pipeline._resources`) has room for its
``resources``, and a stage with ``gpus: N`` gets N devices of its own; a stage that needs
more than the machine has is refused before anything runs. Ctrl-C or SIGTERM stops the
executor's processes (terminate, wait, kill), records their runs as killed, and then
raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, StageFailed, StageGatesFailed
from rigml.pipeline._stage import Session, StageResult, execute_stage

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.pipeline._executor import Executor
    from rigml.pipeline._graph import Graph
    from rigml.pipeline._resources import Budget, Grant, Ledger
    from rigml.pipeline._spec import Pipeline

_BAD = ("failed", "killed", "not run")


@dataclass(frozen=True)
class RunReport:
    pipeline: str
    stages: tuple[StageResult, ...]

    @property
    def failed(self) -> StageResult | None:
        return next((s for s in self.stages if s.action == "failed"), None)

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "stages": [s.to_dict() for s in self.stages]}


def run_pipeline(
    lab: Lab,
    pipeline: Pipeline,
    *,
    targets: list[str] | None = None,
    force: bool = False,
    jobs: int = 1,
    executor: Executor | None = None,
    on_output: Callable[[str, str], None] | None = None,
    on_result: Callable[[StageResult], None] | None = None,
    gates_against: str | None = None,
    budget: Budget | None = None,
) -> RunReport:
    """Run what is stale among ``targets`` (default: all) and the stages they need.

    ``budget`` is what local stages may use at once (default: this machine's); a Ray
    executor leaves that to Ray.

    Raises:
        StageFailed: a stage exited non-zero; ``.report`` holds every stage's result.
        StageGatesFailed: a stage's run fails its ``gates:`` (``gates_against``: the run
            their regression rules compare against); ``.run_report`` holds every result.
        GateMetricMissing: a gate names a metric the stage's run does not have.
        UnknownStage: a target is not a stage.
        InvalidInput: a stage needs more cpus, GPUs or memory than the budget has.
        KeyboardInterrupt: Ctrl-C or SIGTERM; running stages were stopped, their runs killed.
    """
    from rigml.pipeline._executor import make_executor
    from rigml.pipeline._gating import gate_reference
    from rigml.pipeline._graph import build_graph
    from rigml.pipeline._status import select

    if jobs < 1:
        raise InvalidInput(f"--jobs must be at least 1, got {jobs}", hint="pass --jobs 4")
    graph = build_graph(pipeline.stages)
    order = graph.topological(select(pipeline, graph, targets))
    reference = gate_reference(lab, pipeline, gates_against)
    own = executor is None  # the lab's ([pipeline] in rig.toml): closed when done
    executor = executor or make_executor(lab)
    session = Session(lab, pipeline, executor, force, on_output, reference=reference)
    try:
        results = _schedule(session, graph, order, jobs, budget, on_result)
    finally:
        if own:
            _close(session.executor)
    report = RunReport(pipeline.name, tuple(results[n] for n in order))
    failed = report.failed
    if failed is not None:
        error = StageFailed(
            failed.name, failed.exit_code or 0, list(failed.tail), log=f"logs/{failed.name}.log"
        )
        error.report = report  # for the CLI's summary
        raise error
    _raise_failed_gates(report)
    return report


def _raise_failed_gates(report: RunReport) -> None:
    gated = next((s for s in report.stages if s.gates_failed), None)
    if gated is not None and gated.gates is not None:
        gates = gated.gates
        error = StageGatesFailed(gated.name, gates.run_id, gates.table(), gates)
        error.run_report = report
        raise error


def _ledger(
    pipeline: Pipeline, order: list[str], executor: Executor, budget: Budget | None
) -> Ledger | None:
    """The local budget's ledger, after refusing a stage it can never hold; None for Ray."""
    if executor.name != "local":
        return None
    from rigml.pipeline._resources import Ledger, check_feasible, machine_budget

    stages = [pipeline.stages[n] for n in order]
    if budget is None and not any(s.resources for s in stages):
        return None  # nothing to hold back: spare reading the machine (GPUs, memory)
    budget = budget or machine_budget()
    check_feasible(stages, budget)
    return Ledger(budget)


@dataclass(frozen=True)
class _Limits:
    """What caps the stages running at once: ``--jobs``, and the local budget's ledger."""

    jobs: int
    ledger: Ledger | None


def _close(executor: Executor) -> None:
    close = getattr(executor, "close", None)  # a Ray executor disconnects; local has nothing
    if close is not None:
        close()


def _schedule(
    session: Session,
    graph: Graph,
    order: list[str],
    jobs: int,
    budget: Budget | None,
    on_result: Callable[[StageResult], None] | None,
) -> dict[str, StageResult]:
    from rigml.track._capture import shared_capture

    report = on_result or (lambda _r: None)
    results = {} if session.force else _up_to_date(session, order, report)
    pending = [n for n in order if n not in results]
    # only what will run must fit: a cached GPU stage does not stop a run on a laptop
    limits = _Limits(jobs, _ledger(session.pipeline, pending, session.executor, budget))
    state = _State(session, graph, pending, limits, results, report)
    pool = ThreadPoolExecutor(jobs, thread_name_prefix="rig-stage")
    # git, environment and machine: captured once for all the stages' runs
    with pool, _stop_on_signal(), shared_capture():
        try:
            while state.pending or state.running:
                state.start_ready(pool)
                done, _ = wait(list(state.running), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    state.finish(future)
        except BaseException:
            session.cancel.set()
            session.executor.stop()
            wait(list(state.running))
            raise
    return results


def _up_to_date(
    session: Session, order: list[str], on_result: Callable[[StageResult], None]
) -> dict[str, StageResult]:
    """The stages up to date now, without taking their locks (planning reads only).

    A stage with ``gates``/``model``/``smoke`` still goes through :func:`execute_stage`.
    """
    from rigml.pipeline._status import pipeline_status

    done: dict[str, StageResult] = {}
    if not order:
        return done
    for status in pipeline_status(session.lab, session.pipeline, targets=order):
        if status.state == "up to date" and not session.pipeline.stages[status.name].later:
            done[status.name] = StageResult(status.name, "up to date", status.reasons)
            on_result(done[status.name])
    return done


@dataclass
class _State:
    """The scheduler's bookkeeping: what waits, what runs (and what it holds), what ended."""

    session: Session
    graph: Graph
    pending: list[str]
    limits: _Limits
    results: dict[str, StageResult]
    on_result: Callable[[StageResult], None]
    running: dict[Future[StageResult], tuple[str, Grant | None]] = field(default_factory=dict)

    def finish(self, future: Future[StageResult]) -> None:
        name, grant = self.running.pop(future)
        if grant is not None and self.limits.ledger is not None:
            self.limits.ledger.give(grant)
        result = future.result()
        self.results[name] = result
        self.on_result(result)

    def start_ready(self, pool: ThreadPoolExecutor) -> None:
        """Submit every pending stage whose upstream is done and that fits; mark those
        after a failure."""
        results = self.results
        for name in list(self.pending):
            ups = self.graph.upstream[name]  # all selected: the selection is closed upstream
            bad = [u for u in ups if u in results and _bad(results[u])]
            if bad:
                self.pending.remove(name)
                what = "failed its gates" if results[bad[0]].gates_failed else "did not run"
                results[name] = StageResult(name, "not run", (f"upstream stage {bad[0]} {what}",))
                self.on_result(results[name])
            elif all(u in results for u in ups) and len(self.running) < self.limits.jobs:
                self._start(pool, name)

    def _start(self, pool: ThreadPoolExecutor, name: str) -> None:
        stage = self.session.pipeline.stages[name]
        session, grant = self.session, None
        if self.limits.ledger is not None:
            from rigml.pipeline._resources import gpu_env, stage_need

            grant = self.limits.ledger.take(stage_need(stage))
            if grant is None:
                return  # waits for running stages to give back what it needs
            env = gpu_env(grant.devices)
            if env:
                session = replace(session, extra_env={**session.extra_env, **env})
        self.pending.remove(name)
        self.running[pool.submit(execute_stage, session, stage)] = (name, grant)


def _bad(result: StageResult) -> bool:
    """A stage whose dependants must not run: it failed, or its gates did."""
    return result.action in _BAD or result.gates_failed


@contextlib.contextmanager
def _stop_on_signal() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt`` in the main thread, as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
