"""One served arm: the version it answers with, loaded and warmed, swapped atomically.

A :class:`ModelSlot` holds a :class:`Served` (the version and its loaded model) in one
attribute. A request takes that reference once, is validated against its signature and
predicted by that same model, so a swap never mixes versions inside a request. When the
followed alias moves, the new version is loaded and warmed in the watch's thread and only
then assigned: a half-loaded model is never reachable, and the old one finishes whatever
it already holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rigml.serve._inputs import Parsed, RequestProblem

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.registry import AliasWatch, LoadedModel, ModelVersion
    from rigml.registry._aliases import AliasMove
    from rigml.registry._signature import Signature
    from rigml.serve._config import ArmSpec
    from rigml.serve._metrics import Metrics

log = logging.getLogger("rigml.serve")


@dataclass(frozen=True)
class Served:
    """A version and its model, loaded and warmed."""

    version: ModelVersion
    model: LoadedModel

    @property
    def signature(self) -> Signature | None:
        return self.model.info.signature


@dataclass(frozen=True)
class Job:
    """One request's rows for one model; ``proba`` asks for class probabilities too."""

    parsed: Parsed
    served: Served
    proba: bool = False


@dataclass(frozen=True)
class Outcome:
    predictions: Any  # an array (or list) with one entry per row
    probabilities: Any = None


class ModelSlot:
    """The arm ``spec`` of a service: loads its version, warms it, follows its alias."""

    def __init__(
        self,
        lab: Lab,
        spec: ArmSpec,
        *,
        trusted: bool = False,
        interval: float = 0.2,
        metrics: Metrics | None = None,
    ) -> None:
        self.lab, self.spec, self.trusted, self.interval = lab, spec, trusted, interval
        self.metrics = metrics
        self.current: Served | None = None
        self.error: str | None = None
        self.loaded = threading.Event()
        self._watch: AliasWatch | None = None
        self._swap_lock = threading.Lock()
        self.on_swap: Callable[[], None] | None = None  # called (watch thread) after a swap

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def arm(self) -> str:
        """The arm's name: ``primary``, ``canary``, ``shadow`` or an A/B arm's own."""
        return self.spec.arm

    @property
    def ready(self) -> bool:
        return self.current is not None

    def load(self) -> None:
        """Load and warm the version the ref names now, then follow its alias.

        Errors are kept in :attr:`error` (readyz stays 503) rather than raised: this runs
        in a background thread.
        """
        try:
            if self.spec.alias is not None:
                from rigml.registry import watch_alias

                self._watch = watch_alias(
                    self.lab, self.name, self.spec.alias, interval=self.interval
                )
            self.current = self._prepare(self.spec.ref)
            if self._watch is not None:
                self._watch.follow(self._moved)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("cannot serve %s: %s", self.spec.ref, self.error)
            if self.metrics is not None:
                self.metrics.load_failures.labels(self.name, self.arm).inc()
        finally:
            self.loaded.set()

    def _prepare(self, ref: str) -> Served:
        """The version ``ref`` names, loaded by its number (the alias may move meanwhile)."""
        from rigml.registry import get_version, load_model

        version = get_version(self.lab, ref)
        model = load_model(self.lab, version.ref, trusted=self.trusted)
        served = Served(version, model)
        warm(served)
        return served

    def _moved(self, move: AliasMove) -> None:
        if move.to_version is None:
            log.warning("%s@%s was removed; still serving the last version", self.name, move.alias)
            return
        self.swap(f"{self.name}@{move.to_version}")

    def swap(self, ref: str) -> Served | None:
        """Load and warm ``ref``, then serve it; on failure keep serving the current one."""
        with self._swap_lock:
            try:
                served = self._prepare(ref)
            except Exception as exc:
                self.error = f"cannot load {ref}: {type(exc).__name__}: {exc}"
                log.error("%s; still serving %s", self.error, self._current_ref())
                if self.metrics is not None:
                    self.metrics.load_failures.labels(self.name, self.arm).inc()
                return None
            self.current = served  # one reference assignment: the swap is atomic
            self.error = None
            if self.on_swap is not None:
                self.on_swap()
            if self.metrics is not None:
                self.metrics.swaps.labels(self.name, self.arm).inc()
            log.info("%s (%s) now serves version %d", self.name, self.arm, served.version.version)
            return served

    def _current_ref(self) -> str:
        return self.current.version.ref if self.current is not None else "nothing"

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()

    def describe(self) -> dict[str, Any]:
        cur = self.current
        return {
            "arm": self.arm,
            "role": self.spec.kind,
            "ref": self.spec.ref,
            "follows": self.spec.alias,
            "share": self.spec.share,
            "version": cur.version.version if cur else None,
            "fingerprint": cur.version.fingerprint if cur else None,
            "ready": cur is not None,
            "error": self.error,
        }


# -- warming and predicting ----------------------------------------------------------------


def warm_rows(signature: Signature | None) -> Any:
    """One row the signature accepts (None without a signature: nothing to warm with)."""
    if signature is None:
        return None
    import numpy as np

    if signature.tensor is not None:
        shape = tuple(1 if d == -1 else d for d in signature.tensor.shape)
        return np.zeros(shape or (1,), dtype=_numpy_dtype(signature.tensor.dtype))
    return {c.name: [_zero(c.dtype)] for c in signature.columns}


def _numpy_dtype(dtype: str) -> Any:
    import numpy as np

    try:
        return np.dtype(dtype)
    except TypeError:
        return np.float64


def _zero(dtype: str) -> Any:
    if dtype in ("str", "object", "category"):
        return ""
    if dtype.startswith("datetime"):
        return "1970-01-01"
    if dtype == "bool":
        return False
    return 0


def warm(served: Served) -> None:
    """One prediction before serving, so the first request pays no lazy initialisation.

    A model that refuses the made-up row is served anyway (its real inputs may differ).
    """
    rows = warm_rows(served.signature)
    if rows is None:
        return
    try:
        served.model.predict(rows)
        if served.model.info.has_proba and hasattr(served.model, "predict_proba"):
            served.model.predict_proba(rows)
    except Exception as exc:
        log.warning("warming %s failed (%s); serving it anyway", served.version.ref, exc)


def run_jobs(jobs: Sequence[Job]) -> list[Any]:
    """One result per job: the jobs that share a model and an input layout are predicted in
    one call and split back; a group whose call fails is retried job by job, so one bad
    request fails alone."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault((id(job.served), job.parsed.key), []).append(i)
    results: list[Any] = [None] * len(jobs)
    for members in groups.values():
        group = [jobs[i] for i in members]
        try:
            outcomes = _predict_group(group)
        except Exception:
            outcomes = [_predict_one(job) for job in group]
        for i, outcome in zip(members, outcomes, strict=True):
            results[i] = outcome
    return results


def _predict_one(job: Job) -> Any:
    try:
        return _predict_group([job])[0]
    except Exception as exc:
        return _model_failure(exc)


def _model_failure(exc: Exception) -> RequestProblem:
    from rigml.errors import SignatureMismatch

    if isinstance(exc, SignatureMismatch):
        return RequestProblem(422, [{"loc": ["body"], "msg": str(exc), "type": "value_error"}])
    log.exception("the model failed", exc_info=exc)
    return RequestProblem(500, f"the model failed: {type(exc).__name__}: {str(exc)[:300]}")


def _predict_group(group: Sequence[Job]) -> list[Outcome]:
    model = group[0].served.model
    data = join([j.parsed for j in group])
    predictions = _rows(model.predict(data))
    proba = None
    if any(j.proba for j in group) and hasattr(model, "predict_proba"):
        proba = _rows(model.predict_proba(data))
    outcomes, start = [], 0
    for job in group:
        stop = start + job.parsed.rows
        p = proba[start:stop] if proba is not None and job.proba else None
        outcomes.append(Outcome(predictions[start:stop], p))
        start = stop
    if start != len(predictions):
        raise ValueError(f"the model returned {len(predictions)} rows for {start}")
    return outcomes


def join(parts: Sequence[Parsed]) -> Any:
    """The rows of several requests with one key as one input."""
    if len(parts) == 1:
        return parts[0].data
    import numpy as np

    kind = parts[0].key[0]
    if kind == "array":
        return np.concatenate([p.data for p in parts])
    if kind == "frame":
        import pandas as pd

        return pd.concat([p.data for p in parts], ignore_index=True)
    out: dict[str, Any] = {}
    for name in parts[0].data:
        values = [p.data[name] for p in parts]
        if all(isinstance(v, np.ndarray) for v in values):
            out[name] = np.concatenate(values)
        else:
            import pandas as pd

            out[name] = pd.concat([pd.Series(v) for v in values], ignore_index=True)
    return out


def _rows(output: Any) -> Any:
    """A model's output as something sliced by row."""
    import numpy as np

    if hasattr(output, "to_numpy"):
        return output.to_numpy()
    if isinstance(output, dict):
        import pandas as pd

        return pd.DataFrame(output).to_dict("records")
    if isinstance(output, list):
        return output
    return np.asarray(output)


def jsonable(values: Any) -> Any:
    """Row values as JSON-ready lists: numpy scalars to Python, NaN and infinities to None."""
    import numpy as np

    if not isinstance(values, np.ndarray):
        return list(values)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        out = values.astype(object)
        out[~np.isfinite(values)] = None
        return out.tolist()
    return values.tolist()


def now() -> float:
    return time.time()
