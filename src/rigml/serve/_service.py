"""The service behind the routes: its models, their arms, and one prediction end to end.

Kept apart from the HTTP wiring (``_app.py``) so the flow reads in one place: choose an arm,
take its current version once, validate against that version's signature, queue for a
batch, answer, observe, hand the record to the prediction hook, score the shadows.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rigml.serve._batcher import Batcher, Overloaded
from rigml.serve._inputs import BodyKind, RequestProblem, count_rows, decode, prepare
from rigml.serve._metrics import Metrics
from rigml.serve._rollout import JUDGE_EVERY, Arm, Guard, Router, rollback_counter
from rigml.serve._slot import Job, ModelSlot, Outcome, jsonable, run_jobs

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.serve._config import ServeConfig
    from rigml.serve._hook import DirectHook, HookQueue

log = logging.getLogger("rigml.serve")
_THREAD_PARSE = 256 * 1024  # bodies larger than this are parsed off the event loop


class ModelGroup:
    """A served model: its arms (primary or A/B arms, canaries, shadows) and their router."""

    def __init__(self, name: str, slots: list[ModelSlot]) -> None:
        self.name = name
        self.router = Router(slots)

    @property
    def primary(self) -> ModelSlot:
        return self.router.base[0].slot

    @property
    def shadows(self) -> list[Arm]:
        return self.router.shadows

    @property
    def slots(self) -> list[ModelSlot]:
        return [a.slot for a in self.router.arms]


class Service:
    """The models of one app and the state they share (metrics, batchers, the hook)."""

    def __init__(self, lab: Lab, config: ServeConfig, hook: HookQueue | DirectHook | None) -> None:
        self.lab, self.config, self.hook = lab, config, hook
        self.metrics = Metrics()
        self.rollbacks = rollback_counter(self.metrics.registry)
        self.guard = Guard(
            config.canary_max_error_delta, config.canary_max_p99_ratio, config.canary_min_requests
        )
        self.groups: dict[str, ModelGroup] = {}
        for name, arms in config.arms().items():
            slots = [
                ModelSlot(
                    lab,
                    spec,
                    trusted=config.trusted,
                    interval=config.watch_interval,
                    metrics=self.metrics,
                )
                for spec in arms
            ]
            self.groups[name] = ModelGroup(name, slots)
        for group in self.groups.values():
            for arm in group.router.arms:
                arm.slot.on_swap = arm.stats.restart_window  # judge each version afresh
        self.batchers: dict[int, Batcher] = {}
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def slots(self) -> list[ModelSlot]:
        return [s for g in self.groups.values() for s in g.slots]

    def start_loading(self) -> threading.Thread:
        """Load every arm in a background thread: /healthz answers meanwhile."""

        def load_all() -> None:
            for slot in self.slots:
                slot.load()

        thread = threading.Thread(target=load_all, name="rig-serve-load", daemon=True)
        thread.start()
        return thread

    def start_batchers(self) -> None:
        cfg = self.config
        for slot in self.slots:
            self.batchers[id(slot)] = Batcher(
                run_jobs,
                max_batch=cfg.max_batch,
                max_wait_ms=cfg.max_wait_ms,
                max_queue_rows=cfg.max_queue_rows,
                timeout_s=cfg.timeout_s,
                name=slot.name,
                on_batch=self._batch_observer(slot),
            )
            self.batchers[id(slot)].start()

    def _batch_observer(self, slot: ModelSlot) -> Callable[[int, int, float], None]:
        def observe(requests: int, rows: int, _seconds: float) -> None:
            cur = slot.current
            labels = (slot.name, str(cur.version.version) if cur else "", slot.arm)
            self.metrics.batch_rows.labels(*labels).observe(rows)
            self.metrics.batch_requests.labels(*labels).observe(requests)
            self.metrics.queue_depth.labels(slot.name, slot.arm).set(self.batchers[id(slot)].queued)

        return observe

    @property
    def ready(self) -> bool:
        return all(s.ready for s in self.slots)

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for group in self.groups.values():
            cur = group.primary.current
            out.append(
                {
                    "name": group.name,
                    "ref": group.primary.spec.ref,
                    "version": cur.version.version if cur else None,
                    "ready": all(s.ready for s in group.slots),
                    "arms": [s.describe() for s in group.slots],
                }
            )
        return out

    # -- one prediction ------------------------------------------------------------------

    async def predict(
        self,
        name: str,
        body: bytes,
        content_type: str,
        *,
        proba: bool = False,
        key: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """The response document for one request.

        Raises:
            RequestProblem: the status and detail to answer with instead.
        """
        started = time.monotonic()
        group = self.groups.get(name)
        if group is None:
            served = ", ".join(sorted(self.groups))
            raise RequestProblem(404, f"no model {name!r} is served here (serving: {served})")
        try:
            return await self._predict(group, body, content_type, proba, key, request_id, started)
        except RequestProblem as exc:
            self.metrics.errors.labels(name, str(exc.status)).inc()
            raise

    async def _predict(
        self,
        group: ModelGroup,
        body: bytes,
        content_type: str,
        proba: bool,
        key: str | None,
        request_id: str | None,
        started: float,
    ) -> dict[str, Any]:
        kind, raw = await self._decode(body, content_type)
        rows = count_rows(kind, raw)
        if rows > self.config.max_rows:
            raise RequestProblem(413, f"{rows} rows; this service takes {self.config.max_rows}")
        arm = group.router.choose(key)
        try:
            doc = await self._answer(group, arm.slot, kind, raw, rows, proba, request_id, started)
        except RequestProblem as exc:
            self._observe(group, arm, time.monotonic() - started, exc.status < 500)
            raise
        self._observe(group, arm, time.monotonic() - started, True)
        return doc

    async def _answer(
        self,
        group: ModelGroup,
        slot: ModelSlot,
        kind: BodyKind,
        raw: Any,
        rows: int,
        proba: bool,
        request_id: str | None,
        started: float,
    ) -> dict[str, Any]:
        served = slot.current
        if served is None:
            raise RequestProblem(
                503, f"{group.name} is still loading", headers={"Retry-After": "1"}
            )
        parsed = prepare(kind, raw, served.signature, rows)
        wants_proba = proba and hasattr(served.model, "predict_proba")
        job = Job(parsed, served, wants_proba)
        outcome = await self._submit(slot, job)
        latency = time.monotonic() - started
        version = served.version.version
        labels = (group.name, str(version), slot.arm)
        self.metrics.answered(labels, latency, outcome.predictions)
        rid = request_id or uuid.uuid4().hex
        doc: dict[str, Any] = {
            "request_id": rid,
            "model": group.name,
            "version": version,
            "arm": slot.arm,
            "predictions": jsonable(outcome.predictions),
        }
        if outcome.probabilities is not None:
            doc["probabilities"] = jsonable(outcome.probabilities)
        # JSON records go to the log as they came: one list of dicts is far cheaper to turn
        # into columns, in the log's thread, than a DataFrame per request
        logged = raw if kind == "records" else parsed.data
        self._record(rid, group.name, version, slot.arm, logged, outcome, latency)
        for shadow in group.shadows:
            self._shadow(shadow, kind, raw, rows, rid)
        return doc

    def _observe(self, group: ModelGroup, arm: Arm, latency: float, ok: bool) -> None:
        """Count one request on its arm; every few requests of a canary, judge it."""
        arm.stats.observe(latency, ok)
        if arm.role != "canary" or arm.stats.requests % JUDGE_EVERY:
            return
        if group.router.judge(arm, self.guard) is not None:
            self.rollbacks.labels(group.name, arm.name).inc()

    async def _decode(self, body: bytes, content_type: str) -> tuple[BodyKind, Any]:
        if len(body) < _THREAD_PARSE:
            return decode(body, content_type)
        return await asyncio.get_running_loop().run_in_executor(None, decode, body, content_type)

    async def _submit(self, slot: ModelSlot, job: Job) -> Outcome:
        batcher = self.batchers[id(slot)]
        try:
            async with asyncio.timeout(self.config.timeout_s):  # no task per request
                result = await batcher.submit(job, job.parsed.rows)
        except Overloaded as exc:
            raise RequestProblem(
                503,
                f"overloaded: {exc.reason}; retry in {exc.retry_after} s",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        except TimeoutError:
            raise RequestProblem(
                504, f"no answer within {self.config.timeout_s} s (the model is slow or busy)"
            ) from None
        self.metrics.queue_depth.labels(slot.name, slot.arm).set(batcher.queued)
        if isinstance(result, RequestProblem):
            raise result
        assert isinstance(result, Outcome)
        return result

    def _record(
        self,
        rid: str,
        model: str,
        version: int,
        arm: str,
        inputs: Any,
        outcome: Outcome,
        latency: float,
    ) -> None:
        if self.hook is None:
            return
        self.hook.put(
            {
                "request_id": rid,
                "time": time.time(),
                "model": model,
                "version": version,
                "arm": arm,
                "inputs": inputs,
                "outputs": outcome.predictions,
                "latency_ms": latency * 1000,
            }
        )

    def _shadow(self, arm: Arm, kind: BodyKind, raw: Any, rows: int, rid: str) -> None:
        """Score the request on a shadow arm too, in a task nobody waits for."""
        task = asyncio.get_running_loop().create_task(self._score_shadow(arm, kind, raw, rows, rid))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _score_shadow(self, arm: Arm, kind: BodyKind, raw: Any, rows: int, rid: str) -> None:
        slot = arm.slot
        served = slot.current
        if served is None:
            return
        started = time.monotonic()
        try:
            parsed = prepare(kind, raw, served.signature, rows)
            outcome = await self._submit(slot, Job(parsed, served))
        except RequestProblem as exc:
            arm.stats.observe(time.monotonic() - started, exc.status < 500)
            self.metrics.errors.labels(slot.name, f"shadow-{exc.status}").inc()
            return
        latency = time.monotonic() - started
        arm.stats.observe(latency, True)
        labels = (slot.name, str(served.version.version), slot.arm)
        self.metrics.requests.labels(*labels).inc()
        self.metrics.latency.labels(*labels).observe(latency)
        self._record(
            rid, slot.name, served.version.version, slot.arm, parsed.data, outcome, latency
        )

    async def aclose(self, callbacks: Sequence[Callable[[], object]]) -> None:
        """Finish shadows and batches, stop watching, flush the hook, run ``callbacks``."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for batcher in self.batchers.values():
            await batcher.aclose()
        for slot in self.slots:
            slot.close()
        if self.hook is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hook.close)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a shutdown callback failed")
