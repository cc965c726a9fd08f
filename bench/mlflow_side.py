"""Tracking benchmark, MLflow side: the same measures on MLflow's SQLite tracking store.

Runs under the interpreter of ``bench/.venv-mlflow`` (made by ``bench/run_all.py``), never
under rigml's, and prints one JSON document on stdout; progress goes to stderr. Each phase
has a time cap: when it is reached, the phase stops and reports the size it got to.

MLflow is used through its public client API with a ``sqlite:///`` tracking URI in a
temporary folder, synchronous logging (its default) and telemetry off.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from tracking import expected_matches, percentile, run_specs  # stdlib only: no rigml here

MLFLOW_WHERE = "metrics.acc > 0.9 and params.lr = '0.01'"
MAX_BATCH = 1000  # MLflow's limit of metrics per log_batch call


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def per_call(client: Any, exp_id: str, n: int, cap_s: float) -> dict[str, Any]:
    """``mlflow.log_metric`` of one metric, each call timed alone; it is synchronous."""
    import mlflow

    ns = time.perf_counter_ns
    times: list[float] = []
    with mlflow.start_run(experiment_id=exp_id) as run:
        for i in range(5):  # warm up
            mlflow.log_metric("loss", 2.5, step=i)
        deadline = time.monotonic() + cap_s
        loss = 2.5
        t_wall = time.perf_counter()
        for i in range(n):
            t0 = ns()
            mlflow.log_metric("loss", loss, step=5 + i)
            times.append((ns() - t0) / 1000)
            loss *= 0.999
            if time.monotonic() > deadline:
                break
        wall = time.perf_counter() - t_wall
        run_id = run.info.run_id
    stored = len(client.get_metric_history(run_id, "loss"))
    if stored != len(times) + 5:
        raise RuntimeError(f"MLflow stored {stored} of {len(times) + 5} points")
    return {
        "calls": len(times),
        "capped": len(times) < n,
        "median_us": statistics.median(times),
        "p99_us": percentile(times, 99),
        "points_per_s": len(times) / wall,
    }


def log_batch(client: Any, exp_id: str, n_points: int, cap_s: float) -> dict[str, Any]:
    """``MlflowClient.log_batch`` of one metric in batches of 1000 until stored, end to end."""
    from mlflow.entities import Metric

    t0 = time.perf_counter()
    run = client.create_run(exp_id)
    run_id = run.info.run_id
    deadline = time.monotonic() + cap_s
    done = 0
    loss = 2.5
    while done < n_points and time.monotonic() < deadline:
        ts = int(time.time() * 1000)
        size = min(MAX_BATCH, n_points - done)
        metrics = []
        for step in range(done, done + size):
            metrics.append(Metric("loss", loss, ts, step))
            loss *= 0.999999
        client.log_batch(run_id, metrics=metrics)
        done += size
    client.set_terminated(run_id)
    total = time.perf_counter() - t0
    return {
        "run_id": run_id,
        "points": done,
        "capped": done < n_points,
        "seconds": total,
        "points_per_s": done / total,
    }


def history(client: Any, run_id: str) -> dict[str, Any]:
    """``MlflowClient.get_metric_history`` of every point logged by :func:`log_batch`."""
    t0 = time.perf_counter()
    points = client.get_metric_history(run_id, "loss")
    seconds = time.perf_counter() - t0
    return {"points": len(points), "seconds": seconds}


def time_search(client: Any, exp_id: str, want: int, repeats: int) -> dict[str, Any]:
    times = []
    got = -1
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        got = len(
            client.search_runs(
                experiment_ids=[exp_id], filter_string=MLFLOW_WHERE, max_results=50_000
            )
        )
        times.append(time.perf_counter() - t0)
    if got != want:
        raise RuntimeError(f"search_runs found {got} runs, expected {want}")
    return {"matches": got, "first_s": times[0], "median_s": statistics.median(times[1:])}


def listing(client: Any, checkpoints: list[int], cap_s: float, repeats: int) -> dict[str, Any]:
    """Create runs with 2 params and 2 metrics (one log_batch each); time search_runs.

    ``search_runs`` is timed at each checkpoint (number of runs created); when the time cap
    stops the creation early, it is also timed at the number reached.
    """
    from mlflow.entities import Metric, Param

    exp_id = client.create_experiment("bench-list")
    targets = sorted(checkpoints)
    specs = run_specs(targets[-1])
    deadline = time.monotonic() + cap_s
    out: dict[str, Any] = {"where": MLFLOW_WHERE, "points": {}, "capped": False}
    create_s = 0.0
    created = 0
    for target in targets:
        t0 = time.perf_counter()
        while created < target and not out["capped"]:
            lr, acc, loss = specs[created]
            run_id = client.create_run(exp_id).info.run_id
            ts = int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[Metric("acc", acc, ts, 0), Metric("loss", loss, ts, 0)],
                params=[Param("lr", str(lr)), Param("batch_size", "32")],
            )
            client.set_terminated(run_id)
            created += 1
            out["capped"] = time.monotonic() > deadline and created < targets[-1]
        create_s += time.perf_counter() - t0
        say(f"mlflow: search_runs over {created:,} runs")
        point = time_search(client, exp_id, expected_matches(specs[:created]), repeats)
        out["points"][str(created)] = {"runs": created, **point}
        if out["capped"]:
            break
    out["runs"] = created
    out["create_runs_per_s"] = created / create_s
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--per-call", type=int, default=300, help="log_metric calls timed")
    parser.add_argument("--batch-points", type=int, default=1_000_000)
    parser.add_argument(
        "--runs",
        default="2000,10000",
        help="comma-separated run counts at which search_runs is timed",
    )
    parser.add_argument("--runs-cap-s", type=float, default=240.0)
    parser.add_argument("--cap-s", type=float, default=180.0, help="time cap of each phase")
    parser.add_argument("--per-call-cap-s", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import mlflow
    from mlflow.tracking import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="rigbench-mlflow-"))
    try:
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        os.chdir(folder)  # anything MLflow writes beside the database stays in the temp folder
        say("mlflow: create the database")
        t0 = time.perf_counter()
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(tracking_uri=uri)
        exp_id = client.create_experiment("bench")
        init_s = time.perf_counter() - t0
        out: dict[str, Any] = {
            "version": mlflow.__version__,
            "backend": "sqlite (SqlAlchemyStore)",
            "init_s": init_s,
            "sizes": vars(args),
        }
        say(f"mlflow: log_metric per call ({args.per_call} calls)")
        out["per_call"] = per_call(client, exp_id, args.per_call, args.per_call_cap_s)
        say(f"mlflow: log_batch {args.batch_points:,} points (cap {args.cap_s:.0f} s)")
        out["log_batch"] = log_batch(client, exp_id, args.batch_points, args.cap_s)
        say(f"mlflow: get_metric_history of {out['log_batch']['points']:,} points")
        out["history"] = history(client, out["log_batch"]["run_id"])
        checkpoints = [int(n) for n in args.runs.split(",")]
        say(f"mlflow: create {max(checkpoints):,} runs (cap {args.runs_cap_s:.0f} s)")
        out["list"] = listing(client, checkpoints, args.runs_cap_s, args.repeats)
    finally:
        os.chdir(tempfile.gettempdir())
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
