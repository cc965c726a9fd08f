"""Serving benchmark, the peers: ``mlflow models serve`` and BentoML 1.4, each in its venv.

    python bench/serving_peers.py [--tools mlflow,bentoml-batched,bentoml] [--seconds 20]
                                  [--repeats 2] [--memory-run bentoml-batched] [--memory-only]
                                  [--quick]

Any Python 3.11+ runs this (standard library only here); each peer gets its own virtualenv
under bench/ with pinned versions, made on first use: ``bench/.venv-serve-mlflow`` and
``bench/.venv-serve-bentoml``. Each serves the same scikit-learn LogisticRegression (4
features) on 127.0.0.1 with one worker; ``wrk`` drives single-row POSTs at 1, 8 and 32
connections after a warm-up, each phase twice (the better kept, the spread beside it).
Writes ``bench/results/serving_peers.json`` and prints a Markdown table. ``bench/serving.py``
runs rigml's ``rig serve`` through the same harness and compares.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _serving_common as common
from _registry_common import ensure_venv
from _serving_common import BENCH, RESULTS, Server, say

MLFLOW_VENV = BENCH / ".venv-serve-mlflow"
BENTOML_VENV = BENCH / ".venv-serve-bentoml"
SKLEARN_PINS = ("scikit-learn==1.9.1", "numpy==2.4.6", "scipy==1.17.1")
# mlflow-skinny and what `mlflow models serve` needs for a scikit-learn model: its scoring
# server is FastAPI on uvicorn; pandas for the pyfunc input; skops and cloudpickle for the
# model format MLflow 3 writes.
MLFLOW_PINS = (
    "mlflow-skinny==3.17.2",
    "fastapi==0.165.0",
    "uvicorn==0.55.0",
    "pandas==3.1.1",
    "cloudpickle==3.1.3",
    "skops==0.16.0",
    *SKLEARN_PINS,
)
BENTOML_PINS = ("bentoml==1.4.40", *SKLEARN_PINS)
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ALLOW_FILE_STORE": "true",  # the brief's local file store; MLflow 3 asks to opt in
    "DO_NOT_TRACK": "true",
    "BENTOML_DO_NOT_TRACK": "True",
}
PEERS = ("mlflow", "bentoml-batched", "bentoml")
ROW = [0.5, -1.2, 0.3, 1.7]  # one request's features, f0..f3


def _run(cmd: list[str], **kw: Any) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def peer_env(venv: Path | None = None) -> dict[str, str]:
    """Our environment for a peer: no PYTHONPATH or lab of ours, telemetry off, ``venv``
    first on PATH (``mlflow models serve`` runs ``uvicorn`` by name)."""
    env = {**os.environ, **QUIET_ENV}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    for key in ("PYTHONPATH", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "RIG_LAB"):
        env.pop(key, None)
    return env


def make_model(python: Path, kind: str, where: Path) -> dict[str, Any]:
    out = _run([str(python), str(BENCH / "_serving_model.py"), kind, str(where)], env=peer_env())
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def mlflow_server(tmp: Path) -> Server:
    """``mlflow models serve`` (uvicorn, one worker) on a model logged into a file store."""
    python = ensure_venv(MLFLOW_VENV, MLFLOW_PINS)
    made = tmp / "mlflow-model.json"  # logged once per benchmark run, served each round
    if not made.exists():
        made.write_text(json.dumps(make_model(python, "mlflow", tmp / "mlruns")))
    model = json.loads(made.read_text())
    port = common.free_port()
    body = {"dataframe_split": {"columns": list(common.FEATURES), "data": [ROW]}}
    return Server(
        tool="mlflow",
        cmd=[
            str(MLFLOW_VENV / "bin" / "mlflow"),
            "models",
            "serve",
            "-m",
            model["path"],
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        url=f"http://127.0.0.1:{port}/invocations",
        ready_url=f"http://127.0.0.1:{port}/ping",
        body=json.dumps(body),
        env={**peer_env(MLFLOW_VENV), "MLFLOW_TRACKING_URI": f"file:{tmp / 'mlruns'}"},
        cwd=tmp,
        settings={"server": "uvicorn (mlflow's scoring server)", "input": "dataframe_split"},
    )


def bentoml_server(tmp: Path, batched: bool) -> Server:
    """``bentoml serve`` of bench/_serving_bentoml_service.py, with or without batching."""
    python = ensure_venv(BENTOML_VENV, BENTOML_PINS)
    path = tmp / "model.joblib"
    if not path.exists():
        make_model(python, "joblib", path)
    port = common.free_port()
    service = "Batched" if batched else "Plain"
    return Server(
        tool="bentoml-batched" if batched else "bentoml",
        cmd=[
            str(BENTOML_VENV / "bin" / "bentoml"),
            "serve",
            f"_serving_bentoml_service:{service}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--working-dir",
            str(BENCH),
        ],
        url=f"http://127.0.0.1:{port}/predict",
        ready_url=f"http://127.0.0.1:{port}/readyz",
        body=json.dumps({"rows": [ROW]}),
        env={**peer_env(BENTOML_VENV), "SERVE_MODEL_PATH": str(path)},
        cwd=tmp,
        settings={
            "service": service,
            "batchable": batched,
            "batching": "BentoML defaults (max_batch_size 100, max_latency_ms 60000)"
            if batched
            else None,
            "input": "ndarray",
        },
    )


def versions() -> dict[str, str]:
    """Versions in the peers' venvs, as installed."""
    out = {}
    for venv, names in (
        (MLFLOW_VENV, ("mlflow-skinny", "fastapi", "uvicorn", "scikit-learn")),
        (BENTOML_VENV, ("bentoml", "scikit-learn")),
    ):
        python = venv / "bin" / "python"
        if not python.exists():
            continue
        code = (
            "import importlib.metadata as m, json\n"
            f"print(json.dumps({{n: m.version(n) for n in {list(names)!r}}}))"
        )
        got = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        if got.returncode == 0:
            label = "mlflow" if venv == MLFLOW_VENV else "bentoml"
            for name, version in json.loads(got.stdout).items():
                out[f"{name} ({label} venv)" if name == "scikit-learn" else name] = version
    return out


def run_tool(
    server: Server, tmp: Path, args: argparse.Namespace, memory: bool = False, label: str = ""
) -> dict[str, Any]:
    """Start ``server``, measure one round at each connection count, stop it.

    With ``memory``, the memory run instead: RSS at request marks from the server's start.
    """
    log = tmp / f"{server.tool}.log"
    t0 = time.monotonic()
    server.start(log)
    try:
        _, answer = server.predict_once()
        result: dict[str, Any] = {
            "workers": server.workers,
            "settings": server.settings,
            "endpoint": server.url.split("/", 3)[-1],
            "body": json.loads(server.body),
            "answer": answer.strip()[:200],
            "startup_s": round(time.monotonic() - t0, 1),
        }
        if memory:
            result = common.memory_run(server)
        else:
            result.update(
                common.measure(server, args.connections, args.seconds, args.warmup, label)
            )
    finally:
        server.stop()
    return result


def table(tools: dict[str, dict[str, Any]], connections: list[int]) -> str:
    """The Markdown table of every tool at every connection count."""
    head = (
        "| tool | conns | req/s (best; spread) | p50 | p99 | non-2xx | server CPU ms/req "
        "| req per server CPU-s | RSS after | load 1m |\n|" + " --- |" * 10
    )
    rows = [head]
    for tool, res in tools.items():
        for c in connections:
            r = res.get(str(c))
            if not r:
                continue
            rows.append(
                f"| {tool} | {c} | {r['rps']:,.0f} ({r['rps_spread_pct']}%) | "
                f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
                f"{r['non_2xx'] + r['socket_errors']} | "
                f"{r['server_cpu_ms_per_request']:.2f} | {r['rps_per_server_cpu_s']:,.0f} | "
                f"{r['rss_after_mib']:.0f} MiB | {r['load_avg_1m']} |"
            )
    return "\n".join(rows)


def memory_lines(tools: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for tool, res in tools.items():
        m = res.get("memory")
        if m:
            curve = ", ".join(
                f"{v['rss_total_mib']:.0f} MiB after {v['requests_done']:,}"
                for v in m["marks"].values()
            )
            lines.append(
                f"{tool}: RSS {m['rss_start_mib']:.0f} MiB at start, {curve} requests; "
                f"20k to 200k: {m['growth_pct']:+}% ({m['kib_per_request']} KiB/request; "
                f"{m['rps']:,.0f} req/s at {m['connections']} connections, load {m['load_avg_1m']})"
            )
    return lines


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tools", default=",".join(PEERS))
    ap.add_argument("--seconds", type=float, default=common.DURATION_S)
    ap.add_argument("--repeats", type=int, default=common.REPEATS)
    ap.add_argument("--warmup", type=float, default=common.WARMUP_S)
    ap.add_argument("--connections", default=",".join(map(str, common.CONNECTIONS)))
    ap.add_argument("--memory-run", default="bentoml-batched", help="tools, comma-separated")
    ap.add_argument("--memory-only", action="store_true", help="add memory runs to --out")
    ap.add_argument("--quick", action="store_true", help="5 s phases, one repeat, no memory run")
    ap.add_argument("--out", type=Path, default=RESULTS / "serving_peers.json")
    args = ap.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",")]
    if args.quick:
        args.seconds, args.repeats, args.warmup, args.memory_run = 5.0, 1, 2.0, ""
    return args


Makers = dict[str, Callable[[], Server]]


def peer_makers(tmp: Path) -> Makers:
    return {
        "mlflow": lambda: mlflow_server(tmp),
        "bentoml-batched": lambda: bentoml_server(tmp, batched=True),
        "bentoml": lambda: bentoml_server(tmp, batched=False),
    }


def run_rounds(makers: Makers, args: argparse.Namespace, tmp: Path) -> dict[str, dict[str, Any]]:
    """``args.repeats`` rounds, each starting every tool afresh in turn; best round kept.

    Rounds, not back-to-back repeats, so that a burst of load from elsewhere on the shared
    machine falls on every tool alike rather than on one. Then the memory runs, each on a
    server of its own, freshly started.
    """
    rounds: dict[str, list[dict[str, Any]]] = {tool: [] for tool in makers}
    for i in range(args.repeats):
        for tool, make in makers.items():
            label = f" (round {i + 1}/{args.repeats})"
            rounds[tool].append(run_tool(make(), tmp, args, label=label))
    out = {}
    for tool, runs in rounds.items():
        merged = {k: v for k, v in runs[-1].items() if not k.isdigit()}
        merged["startup_s_all"] = [r["startup_s"] for r in runs]
        for c in args.connections:
            merged[str(c)] = common.best_of([r[str(c)] for r in runs])
        out[tool] = merged
    for tool in (t for t in args.memory_run.split(",") if t in makers):
        out[tool]["memory"] = run_tool(makers[tool](), tmp, args, memory=True)
    return out


def run_peers(args: argparse.Namespace, tmp: Path) -> dict[str, dict[str, Any]]:
    makers = peer_makers(tmp)
    return run_rounds({t: makers[t] for t in args.tools.split(",")}, args, tmp)


def memory_only(args: argparse.Namespace) -> None:
    """Run the memory runs alone and add them to the figures already in ``args.out``."""
    doc = json.loads(args.out.read_text())
    with tempfile.TemporaryDirectory(prefix="rig-bench-serving-") as tmp:
        makers = peer_makers(Path(tmp))
        for tool in (t for t in args.memory_run.split(",") if t):
            doc["tools"].setdefault(tool, {})["memory"] = run_tool(
                makers[tool](), Path(tmp), args, memory=True
            )
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    for line in memory_lines(doc["tools"]):
        print(line)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    common.wrk_path()
    if args.memory_only:
        return memory_only(args)
    with tempfile.TemporaryDirectory(prefix="rig-bench-serving-") as tmp:
        tools = run_peers(args, Path(tmp))
    doc = {
        "machine": common.machine(),
        "versions": versions(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load": {
            "generator": "wrk -t2 -cN -dSs --latency -s bench/serving_wrk.lua",
            "seconds": args.seconds,
            "repeats": args.repeats,
            "warmup_s": args.warmup,
            "row": ROW,
            "note": "client and server share the machine's CPUs; load_avg_1m read after each phase",
        },
        "tools": tools,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(tools, args.connections))
    for line in memory_lines(tools):
        print(f"\n{line}")
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
