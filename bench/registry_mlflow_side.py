"""Registry benchmark, MLflow side: log, register, alias and load a scikit-learn model.

    bench/.venv-mlflow/bin/python bench/registry_mlflow_side.py [--repeats 20] [--warmups 2]

Runs under the interpreter of ``bench/.venv-mlflow`` (``_registry_common.
ensure_mlflow_registry_venv()`` makes it, with run_all.py's pinned MLflow and the
scikit-learn pins), never under rigml's, and prints one JSON document on stdout; progress
goes to stderr. MLflow is used through its public API as its documentation shows, on a
``sqlite:///`` tracking and registry URI with a local artifact folder, both in a temporary
folder, telemetry off. Each measure is ``repeats`` timed calls after ``warmups`` untimed
ones (per measure: n, median_ms, p95_ms, min_ms, first_ms):

- ``log_model``: ``mlflow.sklearn.log_model`` inside a run, as a user calls it (MLflow
  infers the pip requirements: it loads the model in a child process to see its imports);
  ``log_model_pinned``: the same with ``pip_requirements`` given, which skips that;
- ``register``: ``mlflow.register_model`` of one logged model -> a new version;
- ``alias``: ``MlflowClient.set_registered_model_alias(name, "production", version)``;
- ``load``: ``mlflow.pyfunc.load_model("models:/NAME@production")`` in this process, after
  the first; ``load_native``: ``mlflow.sklearn.load_model`` of the same URI;
- ``predict`` / ``predict_native``: one row through each loaded model, checked equal to
  the original model's prediction;
- ``flow``: start a run, log the model, register it, move the alias, load it back and
  predict one row: the whole round a user makes, end to end; ``flow_pinned`` with
  ``pip_requirements`` given;
- ``load_cold``: a fresh ``python`` that imports MLflow, loads the alias and predicts one
  row (median of 5; ``load_cold_in_process`` is the import and load timed inside it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import _registry_common as common  # stdlib only: no rigml here
from _registry_common import ALIAS, MODEL_NAME, say

COLD_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import mlflow.pyfunc
model = mlflow.pyfunc.load_model(sys.argv[1])
t1 = time.perf_counter()
import numpy as np
row = np.array(json.loads(sys.argv[2]), dtype=float)
print(json.dumps({"load_ms": (t1 - t0) * 1000, "prediction": model.predict(row).tolist()}))
"""


class Side:
    """One MLflow lab in a temporary folder, and the model the measures log and load."""

    def __init__(self, folder: Path) -> None:
        import mlflow
        import mlflow.sklearn
        from mlflow.models import infer_signature
        from mlflow.tracking import MlflowClient

        self.folder = folder
        self.uri = f"sqlite:///{folder / 'mlflow.db'}"
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        artifacts = (folder / "artifacts").as_uri()
        self.exp_id = self.client.create_experiment("bench-registry", artifact_location=artifacts)
        mlflow.set_experiment(experiment_id=self.exp_id)
        self.model, self.X, _ = common.make_model()
        self.row = self.X[:1]
        self.expected = self.model.predict(self.row).tolist()
        self.signature = infer_signature(self.X, self.model.predict(self.X))
        self.pins = mlflow.sklearn.get_default_pip_requirements(include_skops=True)

    def log_model(self, *, pinned: bool) -> Any:
        """``mlflow.sklearn.log_model`` inside a run; the run's start and end are not timed."""
        import mlflow
        import mlflow.sklearn

        extra = {"pip_requirements": self.pins} if pinned else {}
        with mlflow.start_run(experiment_id=self.exp_id):
            t0 = time.perf_counter_ns()
            info = mlflow.sklearn.log_model(
                self.model, name="model", signature=self.signature, **extra
            )
            ms = (time.perf_counter_ns() - t0) / 1e6
        return info, ms

    def round_trip(self, *, pinned: bool) -> list[float]:
        """Log, register, alias, load and predict once: the whole flow, end to end."""
        import mlflow
        import mlflow.pyfunc
        import mlflow.sklearn

        extra = {"pip_requirements": self.pins} if pinned else {}
        with mlflow.start_run(experiment_id=self.exp_id):
            info = mlflow.sklearn.log_model(
                self.model, name="model", signature=self.signature, **extra
            )
        version = mlflow.register_model(info.model_uri, MODEL_NAME).version
        self.client.set_registered_model_alias(MODEL_NAME, ALIAS, version)
        loaded = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{ALIAS}")
        return list(loaded.predict(self.row).tolist())


def timed_log_model(side: Side, args: argparse.Namespace, *, pinned: bool) -> tuple[Any, list]:
    """Time ``log_model`` alone (the run around it is made and ended outside the timing)."""
    say(f"log_model{'_pinned' if pinned else ''}: {args.warmups} warm-ups, {args.repeats} timed")
    infos, times, first = [], [], math.nan
    for i in range(args.warmups + args.repeats):
        info, ms = side.log_model(pinned=pinned)
        infos.append(info)
        if i == 0:
            first = ms
        if i >= args.warmups:
            times.append(ms)
    return common.summary(times, first_ms=first), infos


def registry_measures(side: Side, args: argparse.Namespace) -> dict[str, Any]:
    """log_model, register, alias, load and predict, each timed on its own."""
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    out: dict[str, Any] = {}
    out["log_model"], infos = timed_log_model(side, args, pinned=False)
    out["log_model_pinned"], _ = timed_log_model(side, args, pinned=True)
    kw = {"repeats": args.repeats, "warmups": args.warmups}
    out["register"], versions = common.measure(
        "register", lambda i: mlflow.register_model(infos[i].model_uri, MODEL_NAME).version, **kw
    )
    out["alias"], _ = common.measure(
        "alias",
        lambda i: side.client.set_registered_model_alias(MODEL_NAME, ALIAS, versions[i]),
        **kw,
    )
    at = side.client.get_model_version_by_alias(MODEL_NAME, ALIAS).version
    if at != versions[-1]:
        raise RuntimeError(f"{MODEL_NAME}@{ALIAS} is version {at}, expected {versions[-1]}")
    uri = f"models:/{MODEL_NAME}@{ALIAS}"
    out["load"], pyfuncs = common.measure("load", lambda i: mlflow.pyfunc.load_model(uri), **kw)
    out["load_native"], natives = common.measure(
        "load_native", lambda i: mlflow.sklearn.load_model(uri), **kw
    )
    out["predict"], got = common.measure(
        "predict", lambda i: pyfuncs[-1].predict(side.row).tolist(), **kw
    )
    out["predict_native"], got_native = common.measure(
        "predict_native", lambda i: natives[-1].predict(side.row).tolist(), **kw
    )
    for name, preds in (("pyfunc", got), ("sklearn", got_native)):
        if any(p != side.expected for p in preds):
            raise RuntimeError(f"the {name} model predicts {preds[-1]}, expected {side.expected}")
    for name, pinned in (("flow", False), ("flow_pinned", True)):
        out[name], flows = common.measure(name, lambda i, p=pinned: side.round_trip(pinned=p), **kw)
        if any(p != side.expected for p in flows):
            raise RuntimeError(f"{name} predicts {flows[-1]}, expected {side.expected}")
    out["versions"] = int(side.client.get_model_version_by_alias(MODEL_NAME, ALIAS).version)
    return out


def cold_loads(side: Side, repeats: int, warmups: int) -> dict[str, Any]:
    """A fresh interpreter per load: import MLflow, load the alias, predict one row."""
    say(f"load_cold: {warmups} warm-up, {repeats} fresh processes")
    env = {**os.environ, "MLFLOW_TRACKING_URI": side.uri, "MLFLOW_REGISTRY_URI": side.uri}
    env.pop("PYTHONPATH", None)
    cmd = [
        sys.executable,
        "-c",
        COLD_CHILD,
        f"models:/{MODEL_NAME}@{ALIAS}",
        json.dumps(side.row.tolist()),
    ]
    walls, inside = [], []
    for i in range(warmups + repeats):
        t0 = time.perf_counter_ns()
        proc = subprocess.run(
            cmd, cwd=side.folder, env=env, capture_output=True, text=True, check=False
        )
        wall = (time.perf_counter_ns() - t0) / 1e6
        if proc.returncode != 0:
            raise RuntimeError(f"the cold load failed:\n{proc.stderr[-3000:]}")
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        if child["prediction"] != side.expected:
            raise RuntimeError(f"the cold load predicts {child['prediction']}")
        if i >= warmups:
            walls.append(wall)
            inside.append(child["load_ms"])
    return {
        "load_cold": common.summary(walls, what="python start + import mlflow + load + predict"),
        "load_cold_in_process": common.summary(inside, what="import mlflow.pyfunc + load_model"),
    }


def on_disk(folder: Path) -> dict[str, int]:
    """Bytes of one logged model's files, and of the database, after the runs."""
    models = [p for p in (folder / "artifacts").rglob("MLmodel")]
    one = sum(f.stat().st_size for f in models[0].parent.rglob("*") if f.is_file())
    return {"model_bytes": one, "database_bytes": (folder / "mlflow.db").stat().st_size}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measure in a fresh temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="rigbench-mlflow-registry-"))
    try:
        os.chdir(folder)  # anything MLflow writes beside the database stays in the folder
        say(f"working in {folder}")
        side = Side(folder)
        measures = registry_measures(side, args)
        versions = measures.pop("versions")
        measures.update(cold_loads(side, args.cold_repeats, 1))
        return {"versions_registered": versions, **on_disk(folder), "measures": measures}
    finally:
        os.chdir(tempfile.gettempdir())
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=common.REPEATS)
    parser.add_argument("--warmups", type=int, default=common.WARMUPS)
    parser.add_argument("--cold-repeats", type=int, default=common.COLD_REPEATS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    load_before = os.getloadavg()
    t_all = time.perf_counter()
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import sklearn

    import_s = time.perf_counter() - t_all
    for name in ("mlflow", "alembic"):  # after the import, which sets MLflow's level to INFO
        logging.getLogger(name).setLevel(logging.ERROR)
    say(f"mlflow {mlflow.__version__}, scikit-learn {sklearn.__version__}")
    with contextlib.redirect_stdout(sys.stderr):  # stdout holds the JSON document alone
        result = run(args)
    out = {
        "tool": "mlflow",
        "version": mlflow.__version__,
        "sklearn": sklearn.__version__,
        "python": sys.version.split()[0],
        "backend": "sqlite (SqlAlchemyStore), local artifact folder",
        "serialization": "skops (MLflow 3's default for scikit-learn)",
        "sizes": vars(args),
        "import_s": import_s,
        **result,
        "seconds": time.perf_counter() - t_all,
        "cpus": os.cpu_count(),
        "loadavg_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],  # start, end
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
