"""Rollouts under load, and the prediction log's cost: two claims of the serving issue.

    .venv/bin/python bench/serving_rollout.py [--seconds 60] [--connections 32]

1. ``rig serve bench@production`` under ``wrk`` for ``--seconds``: a third of the way in,
   ``rig models promote`` moves production to version 2; two thirds in, ``rig models
   rollback`` gives it back. wrk counts every non-2xx answer and socket error: the target
   is zero. (That each answer comes from a fully loaded version is checked by
   tests/serve/test_bluegreen.py, which reads the bodies.)
2. The same load for 20 s on ``rig serve`` with and without ``--no-log``, twice each,
   interleaved: the prediction log's cost in throughput (target under 5%).

Writes ``bench/results/serving_rollout.json``. Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _serving_common as common
import serving
from _serving_common import say

RESULTS = Path(__file__).resolve().parent / "results"


def second_version(lab_path: Path) -> None:
    """``bench`` version 2: the same model logged again from a run (a new version)."""
    import _serving_model
    import pandas as pd

    from rigml.lab import Lab
    from rigml.track.runs import start_run

    X, y = _serving_model.data()
    frame = pd.DataFrame(X, columns=list(common.FEATURES))
    lab = Lab(lab_path)
    with start_run(lab, experiment="serving-bench", **serving.QUIET) as run:
        run.log_model(_serving_model.fit(frame, y), name=serving.MODEL, example=frame.iloc[:5])
    lab.close()


def rollout_under_load(tmp: Path, seconds: float, connections: int) -> dict[str, Any]:
    server = serving.rigml_server(tmp, "records")
    second_version(tmp / "lab")
    server.start(tmp / "rollout.log")
    moves: list[dict[str, Any]] = []
    env = {**os.environ, "RIG_LAB": str(tmp / "lab")}

    def move(at: float, *args: str) -> None:
        time.sleep(at)
        t0 = time.perf_counter()
        proc = subprocess.run([*serving.RIG, "models", *args], env=env, capture_output=True)
        moves.append({"at_s": at, "command": " ".join(args), "exit": proc.returncode,
                      "seconds": round(time.perf_counter() - t0, 3)})  # fmt: skip

    promote = ("promote", serving.MODEL, "2", "--to", serving.ALIAS, "--reason", "bench")
    rollback = ("rollback", serving.MODEL, "--alias", serving.ALIAS, "--reason", "bench")
    threads = [
        threading.Thread(target=move, args=(seconds / 3, *promote)),
        threading.Thread(target=move, args=(2 * seconds / 3, *rollback)),
    ]
    try:
        for t in threads:
            t.start()
        load = common.run_wrk(server.url, server.body, connections, seconds)
        for t in threads:
            t.join()
    finally:
        server.stop()
    return {"seconds": seconds, "connections": connections, "wrk": load, "moves": moves}


def log_overhead(tmp: Path, connections: int, seconds: float = 20.0) -> dict[str, Any]:
    """Throughput with the prediction log and without (``--no-log``), interleaved twice."""
    runs: dict[str, list[float]] = {"log": [], "no-log": []}
    for _ in range(2):
        for kind in ("log", "no-log"):
            server = serving.rigml_server(tmp, "records")
            if kind == "no-log":
                server.cmd.append("--no-log")
            server.start(tmp / f"{kind}.log")
            try:
                common.run_wrk(server.url, server.body, connections, 5)  # warm-up
                done = common.run_wrk(server.url, server.body, connections, seconds)
                runs[kind].append(done["requests"] / (done["duration_us"] / 1e6))
            finally:
                server.stop()
    best = {k: max(v) for k, v in runs.items()}
    cost = 1 - best["log"] / best["no-log"]
    return {"runs": runs, "best": best, "overhead": cost, "connections": connections}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rig-bench-rollout-") as tmp:
        say("rollout under load: promote at 1/3, rollback at 2/3")
        rollout = rollout_under_load(Path(tmp), args.seconds, args.connections)
        say("prediction log overhead: --no-log against the default")
        overhead = log_overhead(Path(tmp), args.connections)
    doc = {"machine": common.machine(), "rollout": rollout, "log_overhead": overhead}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving_rollout.json").write_text(json.dumps(doc, indent=2) + "\n")
    w = rollout["wrk"]
    failed = sum(w[k] for k in ("status_errors", "connect_errors", "read_errors",
                                "write_errors", "timeouts"))  # fmt: skip
    print(json.dumps({"requests": w["requests"], "failed": failed, "moves": rollout["moves"],
                      "log_overhead": round(overhead["overhead"], 4),
                      "rps": overhead["best"]}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
