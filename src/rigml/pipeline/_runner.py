"""``rig run``: bring the selected stages up to date, independent ones in parallel.

The scheduler walks the DAG in topological order and hands a stage to a worker thread once
every stage it needs is done; the worker runs it through the executor. A failed stage
stops its dependants ("not run") while independent branches go on; everything upstream
stays cached. Ctrl-C or SIGTERM stops the executor's processes (terminate, wait, kill),
records their runs as killed, and then raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, StageFailed
from rigml.pipeline._stage import Session, StageResult, execute_stage

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.pipeline._executor import Executor
    from rigml.pipeline._graph import Graph
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
) -> RunReport:
    """Run what is stale among ``targets`` (default: all) and the stages they need.

    Raises:
        StageFailed: a stage exited non-zero; ``.report`` holds every stage's result.
        UnknownStage: a target is not a stage.
        KeyboardInterrupt: Ctrl-C or SIGTERM; running stages were stopped, their runs killed.
    """
    from rigml.pipeline._executor import LocalExecutor
    from rigml.pipeline._graph import build_graph
    from rigml.pipeline._status import select

    if jobs < 1:
        raise InvalidInput(f"--jobs must be at least 1, got {jobs}", hint="pass --jobs 4")
    graph = build_graph(pipeline.stages)
    order = graph.topological(select(pipeline, graph, targets))
    session = Session(lab, pipeline, executor or LocalExecutor(), force, on_output)
    results = _schedule(session, graph, order, jobs, on_result or (lambda _r: None))
    report = RunReport(pipeline.name, tuple(results[n] for n in order))
    failed = report.failed
    if failed is not None:
        error = StageFailed(
            failed.name, failed.exit_code or 0, list(failed.tail), log=f"logs/{failed.name}.log"
        )
        error.report = report  # for the CLI's summary
        raise error
    return report


def _schedule(
    session: Session,
    graph: Graph,
    order: list[str],
    jobs: int,
    on_result: Callable[[StageResult], None],
) -> dict[str, StageResult]:
    from rigml.track._capture import shared_capture

    results = {} if session.force else _up_to_date(session, order, on_result)
    pending = [n for n in order if n not in results]
    running: dict[Future[StageResult], str] = {}
    pool = ThreadPoolExecutor(jobs, thread_name_prefix="rig-stage")
    # git, environment and machine: captured once for all the stages' runs
    with pool, _stop_on_signal(), shared_capture():
        try:
            while pending or running:
                _start_ready(session, graph, pending, running, results, pool, jobs, on_result)
                done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    results[running.pop(future)] = result
                    on_result(result)
        except BaseException:
            session.cancel.set()
            session.executor.stop()
            wait(list(running))
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


def _start_ready(
    session: Session,
    graph: Graph,
    pending: list[str],
    running: dict[Future[StageResult], str],
    results: dict[str, StageResult],
    pool: ThreadPoolExecutor,
    jobs: int,
    on_result: Callable[[StageResult], None],
) -> None:
    """Submit every pending stage whose upstream is done; mark those after a failure."""
    for name in list(pending):
        ups = graph.upstream[name]  # all selected: the selection is closed upstream
        bad = [u for u in ups if u in results and results[u].action in _BAD]
        if bad:
            pending.remove(name)
            results[name] = StageResult(name, "not run", (f"upstream stage {bad[0]} did not run",))
            on_result(results[name])
        elif all(u in results for u in ups) and len(running) < jobs:
            pending.remove(name)
            running[pool.submit(execute_stage, session, session.pipeline.stages[name])] = name


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
