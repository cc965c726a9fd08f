"""Registry benchmark: rigml's register, alias and load beside MLflow's registry on SQLite.

    .venv/bin/python bench/registry.py [--repeats 20] [--skip-mlflow]

The rigml side runs here on a SQLite lab in a temporary folder; the MLflow side is
``bench/registry_mlflow_side.py`` under ``bench/.venv-mlflow`` (made by ``run_all.py``'s
helper on first use). Both fit the same LogisticRegression (make_classification 1000x20,
seed 0), time each operation ``repeats`` times after two warm-ups, and report median, p95
and min in milliseconds. Targets: rigml's warm ``load_model("NAME@production")`` under
50 ms; register, alias and load each at least 10x faster than MLflow's. Writes
``bench/results/registry.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summary(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "median_ms": statistics.median(ordered),
        "p95_ms": p95,
        "min_ms": ordered[0],
    }


def timed(fn: Callable[[int], Any], repeats: int, warmups: int = 2) -> dict[str, float]:
    for i in range(warmups):
        fn(-1 - i)
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1000)
    return summary(times)


def model_and_data() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=1000, n_features=20, random_state=0)
    return LogisticRegression(max_iter=500).fit(X, y), X


def rigml_side(repeats: int) -> dict[str, Any]:
    """log_model (package + artifacts + version), register (an artifact), alias, load."""
    import numpy as np

    from rigml.lab import init_lab
    from rigml.registry import load_model, promote, register_artifact
    from rigml.track.runs import start_run

    clf, X = model_and_data()
    with tempfile.TemporaryDirectory(prefix="rig-bench-registry-") as tmp:
        os.environ["RIG_AUDIT_KEY"] = str(Path(tmp) / "audit.key")
        lab, _ = init_lab(Path(tmp) / "lab")
        with start_run(lab, experiment="bench", **QUIET) as run:
            out: dict[str, Any] = {}
            out["log_model"] = timed(
                lambda _i: run.log_model(clf, name="bench", example=X[:5]), repeats
            )
            out["register"] = timed(
                lambda _i: register_artifact(lab, run.id, "models/bench", name="bench"), repeats
            )
        versions = iter(range(1, 10_000))
        out["alias"] = timed(
            lambda _i: promote(lab, "bench", next(versions), to="production"), repeats
        )
        model = load_model(lab, "bench@production")
        assert (model.predict(X[:1]) == clf.predict(X[:1])).all()
        out["load"] = timed(lambda _i: load_model(lab, "bench@production"), repeats)
        out["load_and_predict"] = timed(
            lambda _i: load_model(lab, "bench@production").predict(X[:1]), repeats
        )
        assert np.array_equal(load_model(lab, "bench@production").predict(X), clf.predict(X))
        out["load_cold"] = _cold(lab.path, X[:1].tolist())
        lab.close()
    return out


COLD = """
import sys, time, json
t0 = time.perf_counter()
import rigml
model = rigml.load_model("bench@production", lab=sys.argv[1])
model.predict(json.loads(sys.argv[2]))
print((time.perf_counter() - t0) * 1000)
"""


def _cold(lab_path: Path, row: list[list[float]], n: int = 5) -> dict[str, float]:
    """A fresh interpreter: import rigml, load, predict one row (imports included)."""
    times = []
    for _ in range(n + 1):
        proc = subprocess.run(
            [sys.executable, "-c", COLD, str(lab_path), json.dumps(row)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "RIG_AUDIT_KEY": os.environ.get("RIG_AUDIT_KEY", "")},
        )
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return summary(times[1:])


def mlflow_side(repeats: int) -> dict[str, Any] | None:
    sys.path.insert(0, str(BENCH))
    from run_all import MLFLOW_PY, ensure_mlflow_registry, mlflow_env

    if not ensure_mlflow_registry():
        return None
    proc = subprocess.run(
        [str(MLFLOW_PY), str(BENCH / "registry_mlflow_side.py"), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        env=mlflow_env(),
        cwd=BENCH,
    )
    if proc.returncode != 0:
        say(proc.stderr[-3000:])
        raise SystemExit("the MLflow side failed")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# (rigml measure, MLflow measure(s) summed, target ratio)
PAIRS = [
    ("log_model", ("log_model", "register"), 10.0),
    ("register", ("register",), 10.0),
    ("alias", ("alias",), 10.0),
    ("load", ("load",), 10.0),
    ("load_cold", ("load_cold",), None),
]


def table(ours: dict[str, Any], theirs: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for mine, other, target in PAIRS:
        a = ours[mine]["median_ms"]
        b = sum(theirs[k]["median_ms"] for k in other) if theirs else None
        ratio = b / a if b else None
        ok = None if target is None or ratio is None else ratio >= target
        rows.append({"measure": mine, "rigml_ms": a, "mlflow_ms": b, "mlflow_measures": other,
                     "ratio": ratio, "target": target, "pass": ok})  # fmt: skip
    load = ours["load"]["median_ms"]
    rows.append({"measure": "load under 50 ms", "rigml_ms": load, "mlflow_ms": None,
                 "ratio": None, "target": 50.0, "pass": load < 50.0})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    say("rigml: register, alias, load")
    ours = rigml_side(args.repeats)
    say("MLflow: the same on its SQLite registry")
    theirs = None if args.skip_mlflow else mlflow_side(args.repeats)
    rows = table(ours, theirs)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " + (
        f"Python {platform.python_version()}"
    )
    doc = {"machine": machine, "rigml": ours, "mlflow": theirs, "table": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "registry.json").write_text(json.dumps(doc, indent=2) + "\n")
    for r in rows:
        other = f"{r['mlflow_ms']:.1f}" if r["mlflow_ms"] else "-"
        ratio = f"{r['ratio']:.1f}x" if r["ratio"] else "-"
        verdict = {True: "PASS", False: "FAIL", None: ""}[r["pass"]]
        print(f"{r['measure']:<18} rigml {r['rigml_ms']:8.2f} ms  mlflow {other:>8} ms  "
              f"{ratio:>7}  {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
