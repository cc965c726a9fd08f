"""Serving benchmark: ``rig serve`` beside ``mlflow models serve`` and BentoML, in one run.

    .venv/bin/python bench/serving.py [--peers-from bench/results/serving_peers.json]
                                      [--seconds 20] [--repeats 2] [--quick] [--no-memory]
                                      [--body records|instances]

rigml's side: a temporary lab, ``run.log_model(clf, name="bench", example=X[:5])`` of the
LogisticRegression the peers serve (make_classification 2000x4, fit on columns f0..f3),
``rigml.registry.promote(lab, "bench", 1, to="production")``, then
``rig serve bench@production --host 127.0.0.1 --port P`` driven by the same wrk harness
(``bench/_serving_common.py``) with single-row ``POST /v1/models/bench/predict`` bodies
``{"records": [{"f0": ..}]}`` (or ``{"instances": [[..]]}``), ready at ``GET /readyz``.
Without ``rig serve`` (``rig serve --help`` fails) rigml's side is skipped with a message
and the peers still run. The peers run in this same run (``bench/serving_peers.py``,
each in its own venv) unless ``--peers-from`` names figures already measured.

Targets, at 32 connections: rigml at least 3x the better peer's requests per server
CPU-second and at least 2x its absolute throughput, with a lower p99; resident memory
after 200,000 requests within 10% of that after 20,000. Writes
``bench/results/serving.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _serving_common as common
import serving_peers
from _serving_common import RESULTS, Server, say

MODEL, ALIAS = "bench", "production"
# `rig` under this interpreter, so PYTHONPATH=src runs the worktree's rigml
RIG = [sys.executable, "-c", "import sys; from rigml.cli import entry; sys.argv[0]='rig'; entry()"]
QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}
CPU_RATIO, RPS_RATIO, RSS_GROWTH_PCT = 3.0, 2.0, 10.0


def rig_serve_missing() -> str | None:
    """Why ``rig serve`` cannot be benchmarked here, or None when ``rig serve --help`` works."""
    proc = subprocess.run([*RIG, "serve", "--help"], capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return None
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    return f"`rig serve --help` exited {proc.returncode} ({tail[0][:160]})"


def register(tmp: Path) -> Path:
    """A lab in ``tmp`` with ``bench`` version 1 logged from a run and promoted to production."""
    import _serving_model
    import pandas as pd

    from rigml.lab import init_lab
    from rigml.registry import promote
    from rigml.track.runs import start_run

    X, y = _serving_model.data()
    frame = pd.DataFrame(X, columns=list(common.FEATURES))
    clf = _serving_model.fit(frame, y)
    os.environ.setdefault("RIG_AUDIT_KEY", str(tmp / "audit.key"))  # not the user's key
    lab, _ = init_lab(tmp / "lab")
    with start_run(lab, experiment="serving-bench", **QUIET) as run:
        run.log_model(clf, name=MODEL, example=frame.iloc[:5])
    promote(lab, MODEL, 1, to=ALIAS)
    path = Path(lab.path)
    lab.close()
    return path


def rigml_server(tmp: Path, body_kind: str) -> Server:
    lab = tmp / "lab"
    if not lab.exists():  # registered once per benchmark run, served each round
        lab = register(tmp)
    port = common.free_port()
    row = serving_peers.ROW
    if body_kind == "records":
        body: dict[str, Any] = {"records": [dict(zip(common.FEATURES, row, strict=True))]}
    else:
        body = {"instances": [row]}
    env = {**os.environ, "RIG_LAB": str(lab)}  # RIG_AUDIT_KEY as register() set it
    return Server(
        tool="rigml",
        cmd=[*RIG, "serve", f"{MODEL}@{ALIAS}", "--host", "127.0.0.1", "--port", str(port)],
        url=f"http://127.0.0.1:{port}/v1/models/{MODEL}/predict",
        ready_url=f"http://127.0.0.1:{port}/readyz",
        body=json.dumps(body),
        env=env,
        cwd=tmp,
        settings={"input": body_kind, "options": "defaults"},
    )


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def verdicts(rig: dict[str, Any], peers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The targets at 32 connections against the better peer of each measure."""
    at = {t: r["32"] for t, r in peers.items() if "32" in r}
    r32 = rig.get("32")
    if not r32 or not at:
        return {}
    by_cpu = max(at, key=lambda t: at[t]["rps_per_server_cpu_s"] or 0)
    by_rps = max(at, key=lambda t: at[t]["rps"])
    cpu_x = ratio(r32["rps_per_server_cpu_s"], at[by_cpu]["rps_per_server_cpu_s"])
    rps_x = ratio(r32["rps"], at[by_rps]["rps"])
    out: dict[str, Any] = {
        "cpu_efficiency": {
            "peer": by_cpu,
            "ratio": cpu_x,
            "target": f">= {CPU_RATIO}x",
            "pass": bool(cpu_x and cpu_x >= CPU_RATIO),
        },
        "throughput": {
            "peer": by_rps,
            "ratio": rps_x,
            "target": f">= {RPS_RATIO}x",
            "pass": bool(rps_x and rps_x >= RPS_RATIO),
        },
        "p99": {
            "peer": by_rps,
            "rigml_ms": r32["p99_ms"],
            "peer_ms": at[by_rps]["p99_ms"],
            "pass": r32["p99_ms"] < at[by_rps]["p99_ms"],
        },
        "errors": {
            "count": r32["non_2xx"] + r32["socket_errors"],
            "pass": not (r32["non_2xx"] + r32["socket_errors"]),
        },
    }
    mem = rig.get("memory")
    if mem:
        out["memory"] = {
            "growth_pct": mem["growth_pct"],
            "target": f"<= {RSS_GROWTH_PCT}%",
            "pass": abs(mem["growth_pct"]) <= RSS_GROWTH_PCT,
        }
    return out


def verdict_lines(v: dict[str, Any]) -> list[str]:
    lines = []
    for name, d in v.items():
        mark = "PASS" if d["pass"] else "FAIL"
        shown = {k: x for k, x in d.items() if k != "pass"}
        lines.append(f"- {name}: {mark} {json.dumps(shown)}")
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peers-from", type=Path, help="peers' figures to reuse, not rerun")
    ap.add_argument("--body", choices=("records", "instances"), default="records")
    ap.add_argument("--no-memory", action="store_true", help="skip the 200,000-request run")
    ap.add_argument("--out", type=Path, default=RESULTS / "serving.json")
    args, rest = ap.parse_known_args(argv)
    peer_args = serving_peers.parse(rest)
    if args.no_memory:
        peer_args.memory_run = ""
    return argparse.Namespace(**{**vars(peer_args), **vars(args)})


def measure_all(args: argparse.Namespace, missing: str | None) -> dict[str, dict[str, Any]]:
    """rigml (unless ``missing``) and the peers (unless ``--peers-from``), in rounds."""
    with tempfile.TemporaryDirectory(prefix="rig-bench-serving-") as tmp:
        makers: serving_peers.Makers = {}
        if not missing:
            makers["rigml"] = lambda: rigml_server(Path(tmp), args.body)
            if args.memory_run:  # with any peer's memory run, rigml's too
                args.memory_run += ",rigml"
        if not args.peers_from:
            peers = serving_peers.peer_makers(Path(tmp))
            makers.update({t: peers[t] for t in args.tools.split(",")})
        return serving_peers.run_rounds(makers, args, Path(tmp)) if makers else {}


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    common.wrk_path()
    missing = rig_serve_missing()
    if missing:
        say(f"skipping rigml's side: {missing}; it runs once `rig serve` exists")
    tools = measure_all(args, missing)
    if args.peers_from:
        stored = json.loads(args.peers_from.read_text())
        tools.update(stored["tools"])
        versions = stored.get("versions", {})
    else:
        versions = serving_peers.versions()
    from rigml import __version__

    versions["rigml"] = __version__
    rig = tools.get("rigml", {})
    peers = {t: r for t, r in tools.items() if t != "rigml"}
    doc = {
        "machine": common.machine(),
        "versions": versions,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "peers_from": str(args.peers_from) if args.peers_from else "this run",
        "rigml": rig or {"skipped": missing},
        "tools": tools,
        "verdicts": verdicts(rig, peers) if rig else {},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(serving_peers.table(tools, args.connections))
    for line in serving_peers.memory_lines(tools):
        print(f"\n{line}")
    if doc["verdicts"]:
        print("\nTargets at 32 connections:\n" + "\n".join(verdict_lines(doc["verdicts"])))
    elif missing:
        print(f"\nrigml: skipped, {missing}")
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
