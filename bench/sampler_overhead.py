"""What the telemetry sampler costs: CPU of a SamplerThread at 1 Hz, target < 1% of one core.

    .venv/bin/python bench/sampler_overhead.py [--seconds 30] [--interval 1.0]

Each configuration runs in its own process (started together, so the whole takes about
``--seconds``): the process imports rigml, builds the sampler, takes one warm-up sample,
then runs a :class:`~rigml.machine.sampler.SamplerThread` for ``--seconds`` while its main
thread sleeps. The figure is the process's CPU time (user + system, ``getrusage``) over
that window divided by the window: the sampler's whole cost, Python's idle wake-ups
included. The sampling thread's own CPU per sample (``time.thread_time``) is reported
beside it, and a tight loop of back-to-back samples gives the bare cost of one sample.

Configurations:

- ``machine``: ``SystemSampler()``: CPU, memory, swap, disk.
- ``run tracking``: ``SystemSampler(pids=[own pid], disk_path=cwd)``, as ``start_run`` uses.
- ``rig watch, recorded GPU``: what ``rig watch`` samples (per-core CPU, process tree,
  memory cgroup) with a :class:`~rigml.machine.gpu.RecordedSource` replaying the A100
  recording, each sample appended to a Timeline.
- ``rig watch, NVML``: the same with the real GPUs, when NVML can read any.

Prints the machine and a Markdown table; writes ``bench/results/sampler.json``. Standalone:
``bench/run_all.py`` does not run it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
RECORDING = BENCH.parent / "tests" / "machine" / "recorded" / "a100_throttling.json"
TARGET_PERCENT = 1.0
CONFIGS = ("machine", "run tracking", "rig watch, recorded GPU", "rig watch, NVML")


def _sampler(config: str) -> tuple[Any, Any]:
    """The sampler for one configuration and the callback its samples go to."""
    from rigml.machine.sampler import SystemSampler
    from rigml.machine.timeline import Timeline

    pid = os.getpid()
    if config == "machine":
        return SystemSampler(), lambda s: None
    if config == "run tracking":
        return SystemSampler(pids=[pid], disk_path=os.getcwd()), lambda s: None
    if config == "rig watch, recorded GPU":
        from rigml.machine.gpu import RecordedSource

        gpu: Any = RecordedSource.from_file(RECORDING)
    else:
        from rigml.machine.gpu import NvmlSource

        gpu = NvmlSource()
        if not gpu.available():
            raise SystemExit(f"skip: {gpu.why_unavailable()}")
    timeline = Timeline()
    sampler = SystemSampler(gpu=gpu, pids=[pid], per_core=True, cgroup_pid=pid)
    return sampler, timeline.append


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(config: str, seconds: float, interval: float) -> dict[str, Any]:
    """Measure one configuration in this process."""
    from rigml.machine.sampler import SamplerThread

    sampler, callback = _sampler(config)
    time.sleep(0.05)
    sampler.sample()  # warm-up: first reads, lazy imports
    costs: list[float] = []
    last: list[Any] = []

    class Timed:
        def sample(self) -> Any:
            t0 = time.thread_time()
            s = sampler.sample()
            costs.append(time.thread_time() - t0)
            last[:] = [s]
            return s

    cpu0, wall0 = _cpu_seconds(), time.monotonic()
    thread = SamplerThread(Timed(), callback, interval=interval).start()
    time.sleep(seconds)
    thread.stop()
    cpu1, wall1 = _cpu_seconds(), time.monotonic()
    window = wall1 - wall0

    loop = 100  # bare cost: back-to-back samples (rates over a few ms, same reads)
    t0 = time.process_time()
    for _ in range(loop):
        sampler.sample()
    bare = (time.process_time() - t0) / loop
    metrics = len(last[0].values) if last else 0
    return {
        "config": config,
        "samples": thread.samples,
        "errors": thread.errors,
        "metrics_per_sample": metrics,
        "window_s": round(window, 3),
        "process_cpu_s": round(cpu1 - cpu0, 4),
        "percent_of_one_core": round(100.0 * (cpu1 - cpu0) / window, 4),
        "thread_cpu_ms_per_sample": round(1000.0 * sum(costs) / max(1, len(costs)), 3),
        "bare_ms_per_sample": round(1000.0 * bare, 3),
    }


def machine() -> dict[str, Any]:
    import psutil

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores_logical": psutil.cpu_count(logical=True),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def table(results: list[dict[str, Any]], skipped: dict[str, str], interval: float) -> str:
    rows = [
        "| configuration | samples | metrics | CPU over the window | % of one core "
        "| thread CPU per sample | bare sample | target | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        ok = r["percent_of_one_core"] < TARGET_PERCENT and not r["errors"]
        rows.append(
            f"| {r['config']} | {r['samples']} | {r['metrics_per_sample']} "
            f"| {r['process_cpu_s'] * 1000:.0f} ms / {r['window_s']:.1f} s "
            f"| {r['percent_of_one_core']:.3f}% | {r['thread_cpu_ms_per_sample']:.2f} ms "
            f"| {r['bare_ms_per_sample']:.2f} ms | < {TARGET_PERCENT:g}% at {1 / interval:g} Hz "
            f"| {'PASS' if ok else 'FAIL'} |"
        )
    for config, why in skipped.items():
        rows.append(f"| {config} | - | - | - | - | - | - | - | skipped: {why} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="window per config")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.seconds, args.interval)))
        return 0

    m = machine()
    print(
        f"Machine: {m['cpu']}, {m['cores_logical']} threads, {m['ram_gib']} GiB RAM, "
        f"{m['os']}, {m['python']}",
        flush=True,
    )
    print(
        f"Sampling every {args.interval:g} s for {args.seconds:g} s per configuration…",
        file=sys.stderr,
        flush=True,
    )
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent / "src")}
    procs = {
        config: subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                config,
                "--seconds",
                str(args.seconds),
                "--interval",
                str(args.interval),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for config in CONFIGS
    }
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for config, proc in procs.items():
        out, err = proc.communicate()
        if proc.returncode == 0:
            results.append(json.loads(out.strip().splitlines()[-1]))
        else:
            last = (err.strip().splitlines() or ["failed"])[-1]
            skipped[config] = last.removeprefix("skip: ")
    md = table(results, skipped, args.interval)
    print(md)
    RESULTS.mkdir(exist_ok=True)
    doc = {
        "benchmark": "sampler_overhead",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": m,
        "interval_s": args.interval,
        "seconds": args.seconds,
        "target_percent_of_one_core": TARGET_PERCENT,
        "results": results,
        "skipped": skipped,
        "pass": bool(results)
        and all(r["percent_of_one_core"] < TARGET_PERCENT and not r["errors"] for r in results),
    }
    tmp = RESULTS / ".sampler.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, RESULTS / "sampler.json")
    return 0 if doc["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
