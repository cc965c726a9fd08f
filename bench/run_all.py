"""Tracking benchmark, rigml beside MLflow: the entry point of ``make bench``.

    .venv/bin/python bench/run_all.py [--quick] [--skip-mlflow] [--skip-pipeline] [--skip-dvc]
                             [--skip-registry]

Measures rigml (``bench/tracking.py``, in this process) on SQLite, and on PostgreSQL when
``RIG_BENCH_PG_URL`` names a server (a uniquely named database is created there and
dropped afterwards); then MLflow's tracking on its SQLite store (``bench/mlflow_side.py``,
run by the interpreter of ``bench/.venv-mlflow``, which is made here on first use with
pinned versions). Prints the machine and a Markdown table with both tools, the ratio, the
target and PASS/FAIL, and writes ``bench/results/tracking.json`` and ``tracking.md``.
Everything runs in temporary folders on 127.0.0.1.

Then the pipeline benchmark, ``bench/pipeline.py`` (``rig run`` / ``rig status`` beside
DVC's ``dvc repro`` / ``dvc status``, DVC in ``bench/.venv-dvc``), which writes
``bench/results/pipeline.json`` and prints its own table; then the registry benchmark,
``bench/registry.py`` (MLflow's registry in ``bench/.venv-mlflow-registry``), which writes
``bench/results/registry.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tracking

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
MLFLOW_VENV = BENCH / ".venv-mlflow"
MLFLOW_PY = MLFLOW_VENV / "bin" / "python"
MLFLOW_VERSION = "3.17.2"
# mlflow-skinny is the lighter distribution; its SQL tracking store needs SQLAlchemy and
# Alembic, which the full ``mlflow`` package would bring along with much more.
MLFLOW_PINS = (f"mlflow-skinny=={MLFLOW_VERSION}", "sqlalchemy==2.1.9", "alembic==1.20.1")
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

# MLflow sizes: its per-call and per-run costs are milliseconds, so fewer of them.
# Each MLflow phase stops at its time cap and reports the size it reached.
MLFLOW_FULL = {
    "per_call": 300,
    "batch_points": 1_000_000,
    "runs": "2000,10000",
    "repeats": 5,
    "cap_s": 180,
    "runs_cap_s": 240,
}
MLFLOW_QUICK = {
    "per_call": 100,
    "batch_points": 50_000,
    "runs": "200,1000",
    "repeats": 3,
    "cap_s": 60,
    "runs_cap_s": 60,
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- MLflow ----------------------------------------------------------------------------------


def mlflow_env() -> dict[str, str]:
    env = {**os.environ, **MLFLOW_ENV}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "PYTHONPATH"):
        env.pop(key, None)
    return env


def mlflow_installed() -> str | None:
    if not MLFLOW_PY.exists():
        return None
    proc = subprocess.run(
        [str(MLFLOW_PY), "-c", "import alembic, sqlalchemy, mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        env=mlflow_env(),
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_mlflow_venv() -> str:
    """Make ``bench/.venv-mlflow`` with the pinned MLflow unless it is there already."""
    version = mlflow_installed()
    if version == MLFLOW_VERSION:
        return version
    say(f"making {MLFLOW_VENV.relative_to(BENCH.parent)} with {', '.join(MLFLOW_PINS)} ...")
    if MLFLOW_VENV.exists():
        shutil.rmtree(MLFLOW_VENV)
    python3 = shutil.which("python3") or sys.executable
    for cmd in (
        [python3, "-m", "venv", str(MLFLOW_VENV)],
        [str(MLFLOW_PY), "-m", "pip", "install", "--quiet", *MLFLOW_PINS],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    version = mlflow_installed()
    if version != MLFLOW_VERSION:
        raise SystemExit(f"MLflow in {MLFLOW_VENV} reports version {version!r}")
    return version


def run_mlflow(sizes: dict[str, Any]) -> dict[str, Any]:
    cmd = [str(MLFLOW_PY), str(BENCH / "mlflow_side.py")]
    for key, value in sizes.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(
        cmd, cwd=BENCH, stdout=subprocess.PIPE, text=True, env=mlflow_env(), check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"the MLflow side failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- table -----------------------------------------------------------------------------------


def us(x: float) -> str:
    return f"{x:,.2f} µs"


def secs(x: float) -> str:
    return f"{x * 1000:,.1f} ms" if x < 10 else f"{x:,.1f} s"


def rate(x: float) -> str:
    return f"{x:,.0f} pts/s"


def times(x: float) -> str:
    return f"{x:,.0f}×" if x >= 10 else f"{x:,.1f}×"


def verdict(ok: list[bool]) -> str:
    return "PASS" if all(ok) else "FAIL"


def build(res: dict[str, Any]) -> tuple[list[list[str]], list[str], dict[str, str]]:
    """Rows of the results table, notes under it, and the verdict of each target."""
    rg, ml, cli = res["rigml"], res.get("mlflow"), res["cli"]
    sq, pg = rg["sqlite"], rg.get("postgresql")
    backends = [("SQLite", sq)] + ([("PostgreSQL", pg)] if pg else [])
    rows: list[list[str]] = []
    notes: list[str] = []
    verdicts: dict[str, str] = {}
    dash = "—"

    def pg_cell(fn: Any) -> str:
        return fn(pg) if pg else "not run"

    # 1. run.log call cost
    lc = sq["log_call"]
    mlc = ml["per_call"] if ml else None
    ok = lc["median_us"] < 5
    verdicts["log_call"] = verdict([ok])
    rows.append(
        [
            "1",
            "`run.log` one metric, median per call",
            "< 5 µs",
            us(lc["median_us"]),
            dash,
            f"{us(mlc['median_us'])} (`log_metric`)" if mlc else dash,
            times(mlc["median_us"] / lc["median_us"]) if mlc else dash,
            verdicts["log_call"],
        ]
    )
    rows.append(
        [
            "1",
            f"`run.log` p99 per call (batches of {lc['batch']})",
            "info",
            us(lc["p99_us"]),
            dash,
            f"{us(mlc['p99_us'])} (each call)" if mlc else dash,
            times(mlc["p99_us"] / lc["p99_us"]) if mlc else dash,
            "info",
        ]
    )
    rows.append(
        [
            "1",
            "`run.log` p99 / p99.9 per call, each call timed alone",
            "info",
            f"{us(lc['single_p99_us'])} / {us(lc['single_p999_us'])}",
            dash,
            dash,
            dash,
            "info",
        ]
    )
    notes.append(
        f"1: rigml: {lc['calls']:,} calls timed in batches of {lc['batch']} (mean "
        f"{us(lc['mean_us'])}), then {lc['single_calls']:,} timed alone (median "
        f"{us(lc['single_median_us'])}, max {us(lc['single_max_us'])}, including ~"
        f"{lc['timer_overhead_us'] * 1000:.0f} ns of timer); the bare loop costs "
        f"{lc['empty_loop_us'] * 1000:.0f} ns per iteration. The background writer flushes "
        "throughout."
        + (
            f" MLflow: {mlc['calls']} synchronous `mlflow.log_metric` calls, each timed."
            if mlc
            else ""
        )
    )

    # 2. ingest
    n = sq["ingest"]["points"]
    label = f"ingest {n:,} points of one metric, end to end"
    if ml:
        per, bat = ml["per_call"]["points_per_s"], ml["log_batch"]["points_per_s"]
        for what, base, target, key in (
            ("vs `log_metric` per call", per, 100, "ingest_vs_log_metric"),
            ("vs `log_batch` (1000 per batch)", bat, 10, "ingest_vs_log_batch"),
        ):
            ratios = {name: b["ingest"]["points_per_s"] / base for name, b in backends}
            verdicts[key] = verdict([r >= target for r in ratios.values()])
            ratio = times(ratios["SQLite"])
            if pg:
                ratio += f" (PG {times(ratios['PostgreSQL'])})"
            rows.append(
                [
                    "2",
                    f"{label}, {what}",
                    f"≥ {target}× MLflow",
                    rate(sq["ingest"]["points_per_s"]),
                    pg_cell(lambda b: rate(b["ingest"]["points_per_s"])),
                    rate(base),
                    ratio,
                    verdicts[key],
                ]
            )
        lb = ml["log_batch"]
        notes.append(
            f"2: MLflow `log_batch` ingested {lb['points']:,} points in {secs(lb['seconds'])}"
            + (f" (stopped by the {ml['sizes']['cap_s']:.0f} s cap)" if lb["capped"] else "")
            + f"; `log_metric` rate from {ml['per_call']['calls']} calls."
        )
    else:
        rows.append(
            [
                "2",
                label,
                "≥ 100× / ≥ 10× MLflow",
                rate(sq["ingest"]["points_per_s"]),
                pg_cell(lambda b: rate(b["ingest"]["points_per_s"])),
                "skipped",
                dash,
                "n/a",
            ]
        )
    notes.append(
        "2: rigml end to end = `start_run` + logging loop + end of run (final flush, status, "
        "compaction); "
        + "; ".join(
            f"{name}: loop {secs(b['ingest']['log_loop_s'])}, "
            f"end of run {secs(b['ingest']['end_of_run_s'])}"
            for name, b in backends
        )
        + "."
    )

    # 3. history
    hn = sq["history"]["points"]
    ok = [b["history"]["median_s"] < 0.5 for _, b in backends]
    verdicts["history"] = verdict(ok)
    mh = ml["history"] if ml else None
    ml_cell, ratio = dash, dash
    if mh:
        ml_cell = secs(mh["seconds"]) + (
            f" ({mh['points']:,} points)" if mh["points"] != hn else ""
        )
        per_point = (mh["seconds"] / mh["points"]) / (sq["history"]["median_s"] / hn)
        ratio = times(per_point) + (" per point" if mh["points"] != hn else "")
    rows.append(
        [
            "3",
            f"load full history, {hn:,} points",
            "< 0.5 s",
            secs(sq["history"]["median_s"]),
            pg_cell(lambda b: secs(b["history"]["median_s"])),
            ml_cell,
            ratio,
            verdicts["history"],
        ]
    )
    notes.append(
        "3: rigml `load_history`, median of "
        f"{sq['history']['repeats']} after a first call ("
        + ", ".join(f"{name} first {secs(b['history']['first_s'])}" for name, b in backends)
        + ")"
        + (f"; MLflow `get_metric_history`, one call, {mh['points']:,} points." if mh else ".")
    )

    # 4. listing
    ml_list = ml["list"] if ml else None
    largest = max(int(k) for k in sq["list"]["points"])
    for key in sorted(sq["list"]["points"], key=int):
        runs = int(key)
        point = sq["list"]["points"][key]
        is_target = runs == largest
        ml_cell, ratio = dash, dash
        ml_point = ml_list["points"].get(key) if ml_list else None
        if ml_point:
            ml_cell = secs(ml_point["median_s"])
            ratio = times(ml_point["median_s"] / point["median_s"])
        if is_target:
            verdicts["list"] = verdict(
                [b["list"]["points"][key]["median_s"] < 0.2 for _, b in backends]
            )
        rows.append(
            [
                "4",
                f"list runs with a filter, {runs:,} runs ({point['matches']} match)",
                "< 0.2 s" if is_target else "info",
                secs(point["median_s"]),
                pg_cell(lambda b, key=key: secs(b["list"]["points"][key]["median_s"])),
                ml_cell,
                ratio,
                verdicts["list"] if is_target else "info",
            ]
        )
    notes.append(
        f"4: rigml `list_runs(where={tracking.WHERE!r}, limit=None)` with details, median of "
        f"{rg['sizes']['repeats']}; runs created at "
        + ", ".join(f"{b['list']['create_runs_per_s']:,.0f}/s ({name})" for name, b in backends)
        + "."
    )
    if ml_list and ml:
        text = (
            f"4: MLflow `search_runs(filter_string={ml_list['where']!r}, max_results=50000)`, "
            f"median of {ml['sizes']['repeats']}; it created runs (create_run + log_batch + "
            f"set_terminated) at {ml_list['create_runs_per_s']:,.1f}/s"
        )
        if ml_list["capped"]:
            last = ml_list["points"][str(ml_list["runs"])]
            text += (
                f"; the {ml['sizes']['runs_cap_s']:.0f} s cap stopped it at "
                f"{ml_list['runs']:,} runs, where search_runs took {secs(last['median_s'])} "
                f"({last['matches']} match)"
            )
        notes.append(text + ".")

    # 5. cold start
    verdicts["cli"] = verdict([cli["rig"]["median_s"] < 0.3])
    mc = cli.get("mlflow")
    rows.append(
        [
            "5",
            f"`rig --help` cold start (median of {len(cli['rig']['samples_s'])} spawns)",
            "< 0.3 s",
            secs(cli["rig"]["median_s"]),
            dash,
            f"{secs(mc['median_s'])} (`mlflow --help`)" if mc else dash,
            times(mc["median_s"] / cli["rig"]["median_s"]) if mc else dash,
            verdicts["cli"],
        ]
    )
    return rows, notes, verdicts


def markdown(res: dict[str, Any], rows: list[list[str]], notes: list[str]) -> str:
    ml = res.get("mlflow")
    header = [
        "#",
        "measure",
        "target",
        "rigml SQLite",
        "rigml PostgreSQL",
        f"MLflow {ml['version']} SQLite" if ml else "MLflow",
        "rigml ahead by",
        "result",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(["---"] * len(header)) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    return "\n".join(
        [
            f"Machine: {tracking.machine_line(res['machine'])}",
            f"rigml {res['rigml']['version']}"
            + (f"; MLflow {ml['version']} ({', '.join(MLFLOW_PINS)})" if ml else "; MLflow skipped")
            + f"; {'quick' if res['quick'] else 'full'} sizes; {res['seconds']:.0f} s in all",
            "",
            *lines,
            "",
            *(f"- {n}" for n in notes),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    parser.add_argument("--skip-mlflow", action="store_true", help="measure rigml only")
    parser.add_argument("--skip-pipeline", action="store_true", help="no pipeline benchmark")
    parser.add_argument("--skip-registry", action="store_true", help="no registry benchmark")
    parser.add_argument("--skip-dvc", action="store_true", help="pipeline benchmark: rigml only")
    args = parser.parse_args()
    t0 = time.perf_counter()

    res: dict[str, Any] = {"quick": args.quick, "machine": tracking.machine()}
    say(f"machine: {tracking.machine_line(res['machine'])}")
    if not args.skip_mlflow:
        ensure_mlflow_venv()

    sizes = tracking.QUICK if args.quick else tracking.FULL
    ml_sizes = MLFLOW_QUICK if args.quick else MLFLOW_FULL
    if {int(n) for n in str(ml_sizes["runs"]).split(",")} != set(sizes.list_runs):
        raise SystemExit("MLflow's run counts must be rigml's listing checkpoints")
    pg_url = os.environ.get("RIG_BENCH_PG_URL") or None
    if not pg_url:
        say("RIG_BENCH_PG_URL is not set: no PostgreSQL column")
    res["rigml"] = tracking.run_rigml(sizes, pg_url)
    res["cli"] = {"rig": res["rigml"].pop("cli")}

    if not args.skip_mlflow:
        say("MLflow")
        res["mlflow"] = run_mlflow(ml_sizes)
        say("mlflow --help cold start")
        res["cli"]["mlflow"] = tracking.time_command(
            [str(MLFLOW_VENV / "bin" / "mlflow"), "--help"], sizes.cli_spawns, env=mlflow_env()
        )
    res["seconds"] = time.perf_counter() - t0

    rows, notes, verdicts = build(res)
    res["verdicts"] = verdicts
    text = markdown(res, rows, notes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tracking.json").write_text(json.dumps(res, indent=2) + "\n")
    (RESULTS / "tracking.md").write_text(text + "\n")
    print(text)
    if not args.skip_pipeline:
        run_pipeline_bench(quick=args.quick, skip_dvc=args.skip_dvc)
    if not args.skip_registry:
        run_registry_bench(skip_mlflow=args.skip_mlflow or args.quick)
    return 0


def run_pipeline_bench(*, quick: bool, skip_dvc: bool) -> None:
    """``bench/pipeline.py`` in its own process: it drives `rig` and `dvc` as commands."""
    say("pipeline: rig run / rig status beside dvc repro / dvc status")
    cmd = [sys.executable, str(BENCH / "pipeline.py")]
    cmd += ["--quick"] if quick else ["--skip-dvc"] if skip_dvc else []
    proc = subprocess.run(cmd, cwd=BENCH, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the pipeline benchmark failed (exit {proc.returncode})")


def run_registry_bench(*, skip_mlflow: bool) -> None:
    """``bench/registry.py`` in its own process: register, alias, load beside MLflow's."""
    say("registry: log_model, register, alias, load beside MLflow's registry")
    cmd = [sys.executable, str(BENCH / "registry.py")] + (["--skip-mlflow"] if skip_mlflow else [])
    proc = subprocess.run(cmd, cwd=BENCH, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the registry benchmark failed (exit {proc.returncode})")


if __name__ == "__main__":
    raise SystemExit(main())
