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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _registry_common as common
from _registry_common import say

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
MLFLOW_VENV = BENCH / ".venv-mlflow-registry"  # apart: scikit-learn there slows `import mlflow`
QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


def rigml_side(repeats: int, warmups: int) -> dict[str, Any]:
    """log_model (package, artifacts, version), register (a run's artifact), alias (promote,
    no gates), load (warm), the whole flow, and a cold process."""
    from rigml.lab import init_lab
    from rigml.registry import load_model, promote, register_artifact
    from rigml.track.runs import start_run

    clf, X, _ = common.make_model()
    row, expected = X[:1], clf.predict(X[:1]).tolist()
    kw = {"repeats": repeats, "warmups": warmups}
    name = common.MODEL_NAME
    with tempfile.TemporaryDirectory(prefix="rig-bench-registry-") as tmp:
        os.environ["RIG_AUDIT_KEY"] = str(Path(tmp) / "audit.key")
        lab, _ = init_lab(Path(tmp) / "lab")
        out: dict[str, Any] = {}
        with start_run(lab, experiment="bench", **QUIET) as run:
            out["log_model"], _ = common.measure(
                "log_model", lambda i: run.log_model(clf, name=name, example=X[:5]), **kw
            )
            out["register"], versions = common.measure(
                "register",
                lambda i: register_artifact(lab, run.id, f"models/{name}", name=name).version,
                **kw,
            )
        out["alias"], _ = common.measure(
            "alias", lambda i: promote(lab, name, versions[i], to=common.ALIAS), **kw
        )
        ref = f"{name}@{common.ALIAS}"
        out["load"], models = common.measure("load", lambda i: load_model(lab, ref), **kw)
        out["predict"], got = common.measure(
            "predict", lambda i: models[-1].predict(row).tolist(), **kw
        )
        assert all(g == expected for g in got), (got[-1], expected)
        out["flow"], flows = common.measure("flow", lambda i: _flow(lab, clf, X, row), **kw)
        assert all(f == expected for f in flows), (flows[-1], expected)
        out["load_cold"] = _cold(lab.path, row.tolist(), expected)
        lab.close()
    return out


def _flow(lab: Any, clf: Any, X: Any, row: Any) -> list[int]:
    """What a user does: log the model from a run, move production to it, load, predict."""
    from rigml.registry import load_model, promote
    from rigml.track.runs import start_run

    with start_run(lab, experiment="bench-flow", **QUIET) as run:
        version = run.log_model(clf, name="bench-flow", example=X[:5])
    promote(lab, "bench-flow", version.version, to=common.ALIAS)
    return load_model(lab, f"bench-flow@{common.ALIAS}").predict(row).tolist()  # type: ignore[no-any-return]


COLD = """
import sys, json
import rigml
model = rigml.load_model(sys.argv[2], lab=sys.argv[1])
print(json.dumps(model.predict(json.loads(sys.argv[3])).tolist()))
"""


def _cold(lab_path: Path, row: list[list[float]], expected: list[int]) -> dict[str, Any]:
    """A fresh interpreter per load: start, import rigml, load the alias, predict one row."""
    ref = f"{common.MODEL_NAME}@{common.ALIAS}"
    walls = []
    for i in range(common.COLD_REPEATS + 1):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", COLD, str(lab_path), ref, json.dumps(row)],
            capture_output=True,
            text=True,
            check=True,
        )
        if i:  # the first warms the page cache
            walls.append((time.perf_counter() - t0) * 1000)
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected
    return common.summary(walls, what="python start + import rigml + load + predict")


def mlflow_side(repeats: int, warmups: int) -> dict[str, Any]:
    """MLflow in its own venv (bench/.venv-mlflow-registry, pinned), in a child process."""
    from run_all import mlflow_env

    python = common.ensure_mlflow_registry_venv(MLFLOW_VENV)
    args = ["--repeats", str(repeats), "--warmups", str(warmups)]
    proc = subprocess.run(
        [str(python), str(BENCH / "registry_mlflow_side.py"), *args],
        capture_output=True,
        text=True,
        env=mlflow_env(),
        cwd=BENCH,
    )
    if proc.returncode != 0:
        say(proc.stderr[-3000:])
        raise SystemExit("the MLflow side failed")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result["measures"]  # type: ignore[no-any-return]


# (rigml measure, MLflow measure(s) summed, target ratio). rigml's log_model registers
# too; MLflow's default log_model infers pip requirements in a child process, the
# "_pinned" one is given them.
PAIRS = [
    ("flow", ("flow",), 10.0),
    ("flow", ("flow_pinned",), None),
    ("log_model", ("log_model", "register"), 10.0),
    ("log_model", ("log_model_pinned", "register"), None),
    ("register", ("register",), None),
    ("alias", ("alias",), None),
    ("load", ("load",), None),
    ("load_cold", ("load_cold",), None),  # both bounded by importing skops and scikit-learn
]


def table(ours: dict[str, Any], theirs: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for mine, other, target in PAIRS:
        a = ours[mine]["median_ms"]
        b = sum(theirs[k]["median_ms"] for k in other) if theirs else None
        ratio = b / a if b else None
        ok = None if target is None or ratio is None else ratio >= target
        rows.append({"measure": mine, "rigml_ms": a, "mlflow_ms": b, "mlflow": "+".join(other),
                     "ratio": ratio, "target": target, "pass": ok})  # fmt: skip
    load = ours["load"]["median_ms"]
    rows.append({"measure": "load under 50 ms", "rigml_ms": load, "mlflow_ms": None,
                 "ratio": None, "target": 50.0, "pass": load < 50.0})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=common.REPEATS)
    parser.add_argument("--warmups", type=int, default=common.WARMUPS)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    say("rigml: register, alias, load")
    ours = rigml_side(args.repeats, args.warmups)
    say("MLflow: the same on its SQLite registry")
    theirs = None if args.skip_mlflow else mlflow_side(args.repeats, args.warmups)
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
        print(
            f"{r['measure']:<16} vs {r.get('mlflow', ''):<24} rigml {r['rigml_ms']:8.2f} ms  "
            f"mlflow {other:>8} ms  {ratio:>7}  {verdict}"
        )


if __name__ == "__main__":
    main()
