"""What both sides of the registry benchmark share: sizes, the model, timing, statistics.

Standard library only at import time, and no rigml: ``bench/registry_mlflow_side.py``
imports it under the interpreter of ``bench/.venv-mlflow``, rigml's side under rigml's.
scikit-learn is imported inside :func:`make_model`, where a side asks for it.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

REPEATS = 20  # timed calls of each measure
WARMUPS = 2  # calls before them, not timed
COLD_REPEATS = 5  # fresh processes for the cold load
MODEL_NAME = "bench-churn"
ALIAS = "production"
N_SAMPLES, N_FEATURES, SEED = 1000, 20, 0

# What bench/.venv-mlflow needs beyond bench/run_all.py's MLFLOW_PINS for a scikit-learn
# model: the same scikit-learn (and its stack) as rigml's side, so both load one model,
# and skops, MLflow 3's default format for scikit-learn models. mlflow-skinny leaves them
# out; the full ``mlflow`` package would bring them (and far more).
MLFLOW_REGISTRY_PINS = (
    "scikit-learn==1.9.1",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "pandas==3.1.1",
    "cloudpickle==3.1.3",
    "skops==0.16.0",
)

T = TypeVar("T")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def make_model() -> tuple[Any, Any, Any]:
    """``(model, X, y)``: a LogisticRegression fit on make_classification 1000x20, seed 0."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=N_SAMPLES, n_features=N_FEATURES, random_state=SEED)
    model = LogisticRegression(max_iter=1000, random_state=SEED).fit(X, y)
    return model, X, y


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear between the closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(times_ms: Sequence[float], **extra: Any) -> dict[str, Any]:
    """``n``, ``median_ms``, ``p95_ms``, ``min_ms`` of timings in milliseconds, and ``extra``."""
    return {
        "n": len(times_ms),
        "median_ms": statistics.median(times_ms),
        "p95_ms": percentile(times_ms, 95),
        "min_ms": min(times_ms),
        **extra,
    }


def measure(
    name: str,
    call: Callable[[int], T],
    *,
    repeats: int = REPEATS,
    warmups: int = WARMUPS,
) -> tuple[dict[str, Any], list[T]]:
    """Call ``call(i)`` ``warmups`` times, then ``repeats`` times timed; each call's result.

    ``i`` counts all calls from 0, warm-ups included, so a call can use the i-th of a
    list made before (a model logged, a version registered). The first call's time is
    kept as ``first_ms``: for a load, the cost of its first, import-paying call.
    """
    say(f"{name}: {warmups} warm-ups, {repeats} timed")
    results: list[T] = []
    times: list[float] = []
    first = math.nan
    for i in range(warmups + repeats):
        t0 = time.perf_counter_ns()
        results.append(call(i))
        ms = (time.perf_counter_ns() - t0) / 1e6
        if i == 0:
            first = ms
        if i >= warmups:
            times.append(ms)
    return summary(times, first_ms=first), results


def ensure_mlflow_registry_venv(venv: Path | None = None) -> Path:
    """An MLflow venv (``bench/.venv-mlflow`` unless ``venv``) with the scikit-learn pins.

    The default venv is made by bench/run_all.py's own helper, with its pins; another
    folder gets the same pins the same way. Returns the interpreter. Run this under any
    Python 3.11+ (rigml's is fine): ``run_all`` is imported only here, so the MLflow side
    can import this module without it.

    Note: once pandas, numpy and scipy are in a venv, ``import mlflow`` loads them (about
    0.3 s more), which the tracking benchmark's ``mlflow --help`` cold start then includes.
    """
    sys.path.insert(0, str(BENCH))
    import run_all

    if venv is None or Path(venv).resolve() == Path(run_all.MLFLOW_VENV).resolve():
        run_all.ensure_mlflow_venv()
        return ensure_venv(Path(run_all.MLFLOW_VENV), MLFLOW_REGISTRY_PINS)
    return ensure_venv(Path(venv), (*run_all.MLFLOW_PINS, *MLFLOW_REGISTRY_PINS))


def ensure_venv(venv: Path, pins: Sequence[str]) -> Path:
    """A venv at ``venv`` holding ``pins`` (made and installed on first use); its python.

    Shared by the registry and serving benchmarks' peer virtualenvs.
    """
    import shutil

    python = venv / "bin" / "python"
    if not python.exists():
        _run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)])
    probe = (
        "import importlib.metadata as m\n"
        "def ok(p):\n"
        "    try: return m.version(p.split('==')[0]) == p.split('==')[1]\n"
        "    except m.PackageNotFoundError: return False\n"
        f"print(all(ok(p) for p in {list(pins)!r}))"
    )
    found = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, cwd="/", check=False
    )
    if found.stdout.strip() != "True":
        say(f"installing {', '.join(pins)} into {venv}")
        _run([str(python), "-m", "pip", "install", "--quiet", *pins])
    return python


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
