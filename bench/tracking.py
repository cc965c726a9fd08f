"""Tracking benchmark, rigml side: logging cost, ingest rate, history load, filtered listing.

Every function takes an open lab, so the same code measures SQLite and PostgreSQL. Run it
alone for rigml's figures (``python bench/tracking.py [--quick] [--pg-url URL]``) or through
``bench/run_all.py``, which puts MLflow's figures beside them.

Everything happens in temporary folders (and, for PostgreSQL, in a uniquely named
database that is dropped afterwards) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}
WHERE = "metrics.acc > 0.9 and params.lr = 0.01"
LRS = (0.1, 0.01, 0.001)
SEED = 20240501


@dataclass(frozen=True)
class Sizes:
    log_calls: int  # run.log calls timed in batches
    log_batch: int  # calls per timed batch
    single_calls: int  # run.log calls timed one by one
    ingest_points: int  # points logged end to end (and then loaded back)
    list_runs: tuple[int, ...]  # run counts at which list_runs is timed
    repeats: int  # timed repeats of each query (median reported)
    cli_spawns: int


FULL = Sizes(
    log_calls=1_000_000,
    log_batch=100,
    single_calls=200_000,
    ingest_points=1_000_000,
    list_runs=(2_000, 10_000),
    repeats=5,
    cli_spawns=10,
)
QUICK = Sizes(
    log_calls=100_000,
    log_batch=100,
    single_calls=20_000,
    ingest_points=100_000,
    list_runs=(200, 1_000),
    repeats=3,
    cli_spawns=5,
)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(round(q / 100 * len(ordered), 6)) - 1))
    return ordered[k]


# -- labs ------------------------------------------------------------------------------------


@contextlib.contextmanager
def pg_database(base_url: str) -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database on the server of ``base_url``; dropped after.

    Yields the SQLAlchemy URL of the new database.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"rigbench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def temp_lab(store_url: str | None = None) -> Iterator[Any]:
    """A new lab in a temporary folder (SQLite, or ``store_url``); removed afterwards."""
    from rigml.lab import init_lab

    os.environ.pop("RIG_STORE_URL", None)  # it would override rig.toml
    os.environ.pop("RIG_OBJECTS_URL", None)
    folder = Path(tempfile.mkdtemp(prefix="rigbench-"))
    lab = None
    try:
        path = folder / "lab"
        if store_url is not None:
            path.mkdir()
            (path / "rig.toml").write_text(f"[store]\nurl = {json.dumps(store_url)}\n")
        lab, _ = init_lab(path)
        yield lab
    finally:
        try:
            if lab is not None:
                _stop_writer(lab)
                lab.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _stop_writer(lab: Any) -> None:
    """Stop the background writer thread of ``lab``'s store, so it holds no connection."""
    from rigml.track import _hooks

    writer = _hooks._writers.pop(lab.store_url, None)
    if writer is not None:  # every run here has ended, so it has nothing left to write
        writer.stop()
        writer.join(timeout=10)


# -- 1. cost of one run.log call ------------------------------------------------------------


def bench_log_call(lab: Any, sizes: Sizes) -> dict[str, Any]:
    """Cost of ``run.log({"loss": x}, step=i)`` inside a loop, as a training loop calls it.

    Two views: calls timed in batches of ``sizes.log_batch`` (per-call cost = batch time /
    batch size; the timer's own cost is amortised away), and calls timed one by one (shows
    the tail, e.g. a call that waits for the GIL while the background writer flushes).
    The background writer runs throughout, at the lab's flush interval.
    """
    from rigml.track.runs import start_run

    ns = time.perf_counter_ns
    batch = sizes.log_batch
    n_batches = sizes.log_calls // batch
    per_call: list[float] = []
    singles = [0] * sizes.single_calls
    with start_run(lab, experiment="bench-log-call", **QUIET) as run:
        log = run.log
        loss = 2.5
        step = 0
        for _ in range(1000):  # warm up
            log({"loss": loss}, step=step)
            step += 1
        t_wall = time.perf_counter()
        for _ in range(n_batches):
            t0 = ns()
            for _ in range(batch):
                log({"loss": loss}, step=step)
                step += 1
            per_call.append((ns() - t0) / batch)
            loss *= 0.999999
        wall = time.perf_counter() - t_wall
        for k in range(sizes.single_calls):
            t0 = ns()
            log({"loss": loss}, step=step)
            singles[k] = ns() - t0
            step += 1
        overhead = [0] * 10_000
        for k in range(len(overhead)):
            t0 = ns()
            overhead[k] = ns() - t0
        # the loop without the call, to show how much of the figure is the loop itself
        t0 = ns()
        for _ in range(batch * 1000):
            step += 1
        empty_loop = (ns() - t0) / (batch * 1000)
        run_id = run.id
    timer = statistics.median(overhead)
    per_call_us = [x / 1000 for x in per_call]
    singles_us = [x / 1000 for x in singles]
    return {
        "run_id": run_id,
        "calls": n_batches * batch,
        "batch": batch,
        "median_us": statistics.median(per_call_us),
        "p99_us": percentile(per_call_us, 99),
        "mean_us": wall / (n_batches * batch) * 1e6,
        "single_calls": sizes.single_calls,
        "single_median_us": statistics.median(singles_us),
        "single_p99_us": percentile(singles_us, 99),
        "single_p999_us": percentile(singles_us, 99.9),
        "single_max_us": max(singles_us),
        "timer_overhead_us": timer / 1000,
        "empty_loop_us": empty_loop / 1000,
    }


# -- 2. sustained ingest, end to end -------------------------------------------------------


def bench_ingest(lab: Any, n_points: int) -> dict[str, Any]:
    """Log ``n_points`` of one metric and end the run; the clock stops when all are stored.

    End to end: ``start_run``, the logging loop, and the end of the run (final flush,
    status, compaction of the run's segments). The stored count is checked afterwards.
    """
    from rigml.track.queries import load_history
    from rigml.track.runs import start_run

    t0 = time.perf_counter()
    with start_run(lab, experiment="bench-ingest", params={"n": n_points}, **QUIET) as run:
        log = run.log
        loss = 2.5
        for i in range(n_points):
            log({"loss": loss}, step=i)
            loss *= 0.999999
        t_logged = time.perf_counter()
    t_end = time.perf_counter()
    stored = len(load_history(lab, run.id, "loss"))
    if stored != n_points:
        raise RuntimeError(f"rigml stored {stored} of {n_points} points")
    total = t_end - t0
    return {
        "run_id": run.id,
        "points": n_points,
        "seconds": total,
        "points_per_s": n_points / total,
        "log_loop_s": t_logged - t0,
        "end_of_run_s": t_end - t_logged,
    }


# -- 3. loading a full history ---------------------------------------------------------------


def bench_history(lab: Any, run_id: str, key: str, repeats: int) -> dict[str, Any]:
    """Time ``load_history`` of one metric: first call and the median of ``repeats`` more."""
    from rigml.track.queries import load_history

    times = []
    n = 0
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        hist = load_history(lab, run_id, key)
        times.append(time.perf_counter() - t0)
        n = len(hist)
        del hist
    return {
        "points": n,
        "first_s": times[0],
        "median_s": statistics.median(times[1:]),
        "repeats": repeats,
    }


# -- 4. filtered listing over many runs ------------------------------------------------------


def run_specs(n: int) -> list[tuple[float, float, float]]:
    """(lr, acc, loss) of run 0..n-1, the same sequence for rigml and MLflow."""
    rng = random.Random(SEED)
    return [(rng.choice(LRS), rng.random(), rng.random() * 3) for _ in range(n)]


def expected_matches(specs: Sequence[tuple[float, float, float]]) -> int:
    return sum(1 for lr, acc, _ in specs if acc > 0.9 and lr == 0.01)


def bench_list(lab: Any, checkpoints: Sequence[int], repeats: int) -> dict[str, Any]:
    """Create runs (2 params, 2 metrics each) and time ``list_runs(where=...)``.

    Runs are created through the public API in this one process, reusing the lab, with
    capture switched off. At each checkpoint (number of runs in the lab) the filtered
    listing is timed ``repeats`` times (median) and its result count checked.
    """
    from rigml.track.queries import list_runs
    from rigml.track.runs import start_run

    specs = run_specs(max(checkpoints))
    created = 0
    create_s = 0.0
    out: dict[str, Any] = {"where": WHERE, "points": {}}
    for target in sorted(checkpoints):
        t0 = time.perf_counter()
        while created < target:
            lr, acc, loss = specs[created]
            with start_run(
                lab, experiment="bench-list", params={"lr": lr, "batch_size": 32}, **QUIET
            ) as run:
                run.log({"acc": acc, "loss": loss}, step=0)
            created += 1
        create_s += time.perf_counter() - t0
        want = expected_matches(specs[:target])
        times = []
        got = -1
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            got = len(list_runs(lab, where=WHERE, limit=None))
            times.append(time.perf_counter() - t0)
        if got != want:
            raise RuntimeError(f"list_runs found {got} runs, expected {want}")
        out["points"][str(target)] = {
            "runs": target,
            "matches": got,
            "first_s": times[0],
            "median_s": statistics.median(times[1:]),
        }
    out["create_runs_per_s"] = created / create_s
    return out


# -- 5. CLI cold start -----------------------------------------------------------------------


def time_command(argv: Sequence[str], n: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Median wall time of spawning ``argv`` ``n`` times (after one untimed warm-up spawn)."""
    workdir = tempfile.mkdtemp(prefix="rigbench-cli-")
    env = {**(env or os.environ)}
    env.pop("RIG_LAB", None)
    try:
        times = []
        for i in range(n + 1):
            t0 = time.perf_counter()
            proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, check=False)
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
            if i:
                times.append(elapsed)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"command": " ".join(argv), "median_s": statistics.median(times), "samples_s": times}


# -- everything, per backend -----------------------------------------------------------------


def bench_backend(store_url: str | None, sizes: Sizes, *, log_call: bool = True) -> dict[str, Any]:
    """Items 1-4 on one store (SQLite in a temp folder when ``store_url`` is None)."""
    out: dict[str, Any] = {}
    with temp_lab(store_url) as lab:
        out["dialect"] = lab.store.engine.dialect.name
        if log_call:
            say(f"  run.log cost ({sizes.log_calls:,} calls) ...")
            out["log_call"] = bench_log_call(lab, sizes)
        say(f"  ingest {sizes.ingest_points:,} points ...")
        out["ingest"] = bench_ingest(lab, sizes.ingest_points)
        say("  load history ...")
        out["history"] = bench_history(lab, out["ingest"]["run_id"], "loss", sizes.repeats)
    with temp_lab(store_url) as lab:  # a fresh lab, so listing sees only the listing runs
        say(f"  list runs (create {max(sizes.list_runs):,} runs) ...")
        out["list"] = bench_list(lab, sizes.list_runs, sizes.repeats)
    return out


def run_rigml(sizes: Sizes, pg_url: str | None) -> dict[str, Any]:
    from rigml import __version__

    out: dict[str, Any] = {"version": __version__, "sizes": sizes.__dict__}
    say("rigml on SQLite")
    out["sqlite"] = bench_backend(None, sizes)
    if pg_url:
        say("rigml on PostgreSQL")
        with pg_database(pg_url) as url:
            out["postgresql"] = bench_backend(url, sizes, log_call=False)
    else:
        out["postgresql"] = None
    say("rig --help cold start")
    rig = Path(sys.executable).with_name("rig")
    out["cli"] = time_command([str(rig), "--help"], sizes.cli_spawns)
    return out


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} (Linux {platform.release()})"
    return {
        "cpu": cpu,
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": os_name,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['cpu']}, {m['cores_physical']} cores / {m['cores_logical']} threads, "
        f"{m['ram_gib']} GiB RAM, {m['os']}, {m['python']}"
    )


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(res: dict[str, Any]) -> str:
    """rigml's figures alone, as Markdown."""
    pg = res.get("postgresql")
    rows = [("measure", "SQLite", "PostgreSQL"), ("---", "---", "---")]

    def both(fn: Any) -> tuple[str, str]:
        return fn(res["sqlite"]), (fn(pg) if pg else "-")

    lc = res["sqlite"]["log_call"]
    rows.append(
        ("run.log median / p99 per call", f"{lc['median_us']:.2f} / {lc['p99_us']:.2f} µs", "-")
    )
    rows.append(("ingest, points/s", *both(lambda b: f"{b['ingest']['points_per_s']:,.0f}")))
    rows.append(("load history", *both(lambda b: f"{b['history']['median_s'] * 1000:.1f} ms")))
    for n in res["sqlite"]["list"]["points"]:
        rows.append(
            (
                f"list_runs where, {int(n):,} runs",
                *both(lambda b, n=n: f"{b['list']['points'][n]['median_s'] * 1000:.1f} ms"),
            )
        )
    rows.append(("rig --help", f"{res['cli']['median_s'] * 1000:.0f} ms", ""))
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("RIG_BENCH_PG_URL"),
        help="PostgreSQL server to also measure (default: RIG_BENCH_PG_URL)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "tracking_rigml.json",
        help="where to write the JSON results",
    )
    args = parser.parse_args(argv)
    res = run_rigml(QUICK if args.quick else FULL, args.pg_url)
    res["machine"] = machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(machine_line(res["machine"]))
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
