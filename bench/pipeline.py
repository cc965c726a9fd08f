"""Pipeline benchmark: `rig run` / `rig status` beside `dvc repro` / `dvc status`.

    .venv/bin/python bench/pipeline.py [--quick] [--skip-dvc]

One project of CHAINS chains of LENGTH stages (each stage runs ``cksum`` of the previous
stage's out; the first of a chain reads a deterministic 1 MiB input) is written twice, as
``rig.yaml`` and as ``dvc.yaml`` with identical stages, each in its own git repository.
DVC 3.67.1 runs under the interpreter of ``bench/.venv-dvc`` (made here on first use).
Measured side by side, as fresh processes (wall clock, interpreter start-up included):

- first full run (``rig run --jobs 2`` / ``dvc repro``);
- status with nothing changed (median of 5), ``rig run --dry``, and a run with nothing to do;
- one input changed: its chain's LENGTH stages rerun;
- per-stage overhead: a forced run of NOOP ``true`` stages, minus a run with nothing to do,
  divided by NOOP;
- planning in process: rig's ``load_pipeline`` + ``pipeline_status`` vs DVC's
  ``Repo(root).status()`` (median of 5 after a warm-up, imports excluded).

Writes ``bench/results/pipeline.json`` and prints a Markdown table. ``--quick``: 2 chains
of 10 stages, rigml only (a smoke test of the benchmark itself).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
RESULTS = BENCH / "results"
DVC_VENV = BENCH / ".venv-dvc"
DVC_PY = DVC_VENV / "bin" / "python"
DVC_VERSION = "3.67.1"
MIB = 1 << 20

RIG_MAIN = "import sys; from rigml.cli import entry; sys.exit(entry())"
DVC_MAIN = "import sys; from dvc.cli import main; sys.exit(main(sys.argv[1:]))"
RIG_PLAN = """
import json, statistics, sys, time
t = time.perf_counter()
from rigml.lab import open_lab
from rigml.pipeline import load_pipeline, pipeline_status
imports = time.perf_counter() - t
lab = open_lab()
times = []
for _ in range(6):
    t = time.perf_counter()
    states = {s.state for s in pipeline_status(lab, load_pipeline())}
    times.append(time.perf_counter() - t)
assert states == {"up to date"}, states
print(json.dumps({"imports_s": imports, "first_s": times[0],
                  "median_s": statistics.median(times[1:])}))
"""
DVC_PLAN = """
import json, statistics, time
t = time.perf_counter()
from dvc.repo import Repo
imports = time.perf_counter() - t
times = []
for _ in range(6):
    t = time.perf_counter()
    with Repo(".") as repo:
        changed = repo.status()
    times.append(time.perf_counter() - t)
assert not changed, changed
print(json.dumps({"imports_s": imports, "first_s": times[0],
                  "median_s": statistics.median(times[1:])}))
"""


@dataclass(frozen=True)
class Sizes:
    chains: int
    length: int
    noop: int
    repeats: int
    input_bytes: int


FULL = Sizes(chains=10, length=20, noop=20, repeats=5, input_bytes=MIB)
QUICK = Sizes(chains=2, length=10, noop=5, repeats=3, input_bytes=MIB)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the projects ---------------------------------------------------------------------------


def stages_yaml(sizes: Sizes) -> str:
    """The stages, in the syntax `rig.yaml` and `dvc.yaml` share."""
    lines = ["stages:"]
    for c in range(sizes.chains):
        for s in range(sizes.length):
            dep = f"in/c{c}.bin" if s == 0 else f"out/c{c}s{s - 1}.txt"
            out = f"out/c{c}s{s}.txt"
            lines += [
                f"  c{c}s{s}:",
                f"    cmd: cksum {dep} > {out}",
                f"    deps: [{dep}]",
                f"    outs: [{out}]",
            ]
    return "\n".join(lines) + "\n"


def noop_yaml(n: int) -> str:
    lines = ["stages:"]
    for i in range(n):
        lines += [f"  noop{i}:", "    cmd: 'true'", "    deps: [in/noop.txt]"]
    return "\n".join(lines) + "\n"


def write_input(path: Path, seed: int, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost"}
    env.update(GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def make_project(root: Path, sizes: Sizes, yaml_name: str, noop: bool = False) -> None:
    """A git repository with the inputs and the pipeline file (``rig.yaml`` or ``dvc.yaml``)."""
    root.mkdir(parents=True)
    if noop:
        (root / "in").mkdir()
        (root / "in" / "noop.txt").write_text("noop\n")
        (root / yaml_name).write_text(noop_yaml(sizes.noop))
    else:
        for c in range(sizes.chains):
            write_input(root / "in" / f"c{c}.bin", c, sizes.input_bytes)
        (root / "out").mkdir()
        (root / yaml_name).write_text(stages_yaml(sizes))
    (root / ".gitignore").write_text("/out\n/.rig\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench project")


def rig_project(root: Path, sizes: Sizes, noop: bool = False) -> None:
    make_project(root, sizes, "rig.yaml", noop)
    subprocess.run(rig_cmd("init"), cwd=root, check=True, env=rig_env(), capture_output=True)


def dvc_project(root: Path, sizes: Sizes, noop: bool = False) -> None:
    make_project(root, sizes, "dvc.yaml", noop)
    for args in (("init", "-q"), ("config", "core.analytics", "false")):
        subprocess.run(dvc_cmd(*args), cwd=root, check=True, env=dvc_env(), capture_output=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "dvc init")


def change_input(root: Path, sizes: Sizes) -> None:
    write_input(root / "in" / "c0.bin", 1_000_003, sizes.input_bytes)


# -- commands -------------------------------------------------------------------------------


PYCACHE = Path(tempfile.gettempdir()) / "rigbench-pycache"


def rig_env() -> dict[str, str]:
    """rigml from this checkout, with its bytecode cached (as an installed package has it)
    in a folder of its own rather than beside the sources."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    for key in ("RIG_LAB", "PYTHONDONTWRITEBYTECODE"):
        env.pop(key, None)
    return env


def dvc_env() -> dict[str, str]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env.pop("PYTHONPATH", None)
    return env


def rig_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", RIG_MAIN, *args]


def dvc_cmd(*args: str) -> list[str]:
    return [str(DVC_PY), "-c", DVC_MAIN, *args]


def timed(cmd: list[str], root: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:])} in {root} failed:\n{proc.stdout}{proc.stderr}")
    return seconds


def median_of(cmd: list[str], root: Path, env: dict[str, str], n: int) -> float:
    return statistics.median(timed(cmd, root, env) for _ in range(n))


def plan_in_process(python: str, code: str, root: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [python, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"in-process status failed in {root}:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- the two sides --------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """How one tool is driven: its commands and its environment."""

    name: str
    make: Any
    cmd: Any
    env: dict[str, str]
    python: str
    plan_code: str
    full_run: tuple[str, ...]
    nothing: tuple[str, ...]
    status: tuple[str, ...]
    force: tuple[str, ...]
    dry: tuple[str, ...] | None = None


RIG = Side(
    "rig",
    rig_project,
    rig_cmd,
    rig_env(),
    sys.executable,
    RIG_PLAN,
    full_run=("run", "--jobs", "2"),
    nothing=("run", "--jobs", "2"),
    status=("status",),
    force=("run", "--force"),
    dry=("run", "--dry"),
)
DVC = Side(
    "dvc",
    dvc_project,
    dvc_cmd,
    dvc_env(),
    str(DVC_PY),
    DVC_PLAN,
    full_run=("repro",),
    nothing=("repro",),
    status=("status",),
    force=("repro", "--force"),
)


def measure(side: Side, sizes: Sizes, tmp: Path) -> dict[str, Any]:
    """Every measure of one tool, on its own copy of the project."""
    root = tmp / side.name
    side.make(root, sizes)
    env, cmd = side.env, side.cmd
    out: dict[str, Any] = {}
    say(f"{side.name}: first full run of {sizes.chains * sizes.length} stages")
    out["first_run_s"] = timed(cmd(*side.full_run), root, env)
    say(f"{side.name}: status, nothing changed (median of {sizes.repeats})")
    timed(cmd(*side.status), root, env)  # warm the OS caches and the tool's own caches
    out["status_s"] = median_of(cmd(*side.status), root, env, sizes.repeats)
    if side.dry is not None:
        out["dry_s"] = median_of(cmd(*side.dry), root, env, sizes.repeats)
    out["nothing_s"] = median_of(cmd(*side.nothing), root, env, sizes.repeats)
    out["plan"] = plan_in_process(side.python, side.plan_code, root, env)
    say(f"{side.name}: one input changed ({sizes.length} stages rerun)")
    change_input(root, sizes)
    out["one_changed_s"] = timed(cmd(*side.full_run), root, env)
    out["per_stage"] = per_stage(side, sizes, tmp / f"{side.name}-noop")
    return out


def per_stage(side: Side, sizes: Sizes, root: Path) -> dict[str, Any]:
    """The cost of one no-op stage: a forced run of ``noop`` of them, less a run of none."""
    say(f"{side.name}: per-stage overhead ({sizes.noop} `true` stages, forced)")
    side.make(root, sizes, noop=True)
    timed(side.cmd(*side.full_run), root, side.env)
    nothing = median_of(side.cmd(*side.nothing), root, side.env, sizes.repeats)
    forced = median_of(side.cmd(*side.force), root, side.env, min(sizes.repeats, 3))
    return {
        "stages": sizes.noop,
        "forced_s": forced,
        "nothing_s": nothing,
        "per_stage_ms": max(0.0, forced - nothing) / sizes.noop * 1000,
    }


# -- DVC's virtualenv -----------------------------------------------------------------------


def dvc_installed() -> str | None:
    if not DVC_PY.exists():
        return None
    proc = subprocess.run(
        [str(DVC_PY), "-c", "import dvc.version; print(dvc.version.__version__)"],
        capture_output=True,
        text=True,
        env=dvc_env(),
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_dvc_venv() -> str:
    """Make ``bench/.venv-dvc`` with DVC ``DVC_VERSION`` unless it is there already."""
    version = dvc_installed()
    if version == DVC_VERSION:
        return version
    say(f"making {DVC_VENV.relative_to(BENCH.parent)} with dvc=={DVC_VERSION} ...")
    if DVC_VENV.exists():
        shutil.rmtree(DVC_VENV)
    python3 = shutil.which("python3") or sys.executable
    for cmd in (
        [python3, "-m", "venv", str(DVC_VENV)],
        [str(DVC_PY), "-m", "pip", "install", "--quiet", f"dvc=={DVC_VERSION}"],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    version = dvc_installed()
    if version != DVC_VERSION:
        raise SystemExit(f"DVC in {DVC_VENV} reports version {version!r}")
    return version


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    rig: float | None
    dvc: float | None
    unit: str  # "s" or "ms"
    target: str
    ok: bool | None


def rows(res: dict[str, Any]) -> list[Row]:
    r, d = res["rig"], res.get("dvc")

    def ratio_ok(rv: float, key: str, factor: float) -> bool | None:
        return None if d is None else d[key] / rv >= factor if rv else True

    plan_r, plan_d = r["plan"]["median_s"], d["plan"]["median_s"] if d else None
    dvc_status = d["status_s"] if d else None
    return [
        Row("first full run", r["first_run_s"], d and d["first_run_s"], "s", ">= 4x faster",
            ratio_ok(r["first_run_s"], "first_run_s", 4)),
        Row("status, nothing changed", r["status_s"], dvc_status, "s", "< 0.3 s, >= 3x",
            r["status_s"] < 0.3 and ratio_ok(r["status_s"], "status_s", 3) is not False),
        Row("run --dry, nothing changed", r["dry_s"], dvc_status, "s", "< 0.3 s",
            r["dry_s"] < 0.3),
        Row("run, nothing to do", r["nothing_s"], d and d["nothing_s"], "s", "", None),
        Row("planning in process", plan_r, plan_d, "s", ">= 10x",
            None if plan_d is None else plan_d / plan_r >= 10),
        Row(f"one input changed ({res['sizes']['length']} rerun)", r["one_changed_s"],
            d and d["one_changed_s"], "s", ">= 4x faster",
            ratio_ok(r["one_changed_s"], "one_changed_s", 4)),
        Row("per-stage overhead, no-op stage", r["per_stage"]["per_stage_ms"],
            d and d["per_stage"]["per_stage_ms"], "ms", "< 50 ms",
            r["per_stage"]["per_stage_ms"] < 50),
    ]  # fmt: skip


def cell(x: float | None, unit: str) -> str:
    if x is None:
        return "—"
    return f"{x:.1f} ms" if unit == "ms" else f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def table(res: dict[str, Any]) -> str:
    lines = [
        f"{res['stages']} stages ({res['sizes']['chains']} chains of {res['sizes']['length']}), "
        f"{res['machine']}; DVC {res.get('dvc_version') or 'not run'}",
        "",
        "| measure | rig | dvc | dvc / rig | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows(res):
        ratio = f"{row.dvc / row.rig:.1f}x" if row.rig and row.dvc else "—"
        verdict = "—" if row.ok is None else "PASS" if row.ok else "FAIL"
        rig, dvc = cell(row.rig, row.unit), cell(row.dvc, row.unit)
        lines.append(f"| {row.label} | {rig} | {dvc} | {ratio} | {row.target} | {verdict} |")
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2 chains of 10, rigml only")
    parser.add_argument("--skip-dvc", action="store_true", help="measure rigml only")
    parser.add_argument("--output", type=Path, default=RESULTS / "pipeline.json")
    parser.add_argument(
        "--dvc-from", type=Path, help="take DVC's side from an earlier results file, not rerun"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    with_dvc = not (args.quick or args.skip_dvc or args.dvc_from)
    res: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine(),
        "stages": sizes.chains * sizes.length,
        "sizes": vars(sizes),
    }
    if with_dvc:
        res["dvc_version"] = ensure_dvc_venv()
    with tempfile.TemporaryDirectory(prefix="rigbench-pipe-") as tmp:
        res["rig"] = measure(RIG, sizes, Path(tmp))
        if with_dvc:
            res["dvc"] = measure(DVC, sizes, Path(tmp))
    if args.dvc_from:
        earlier = json.loads(args.dvc_from.read_text())
        res["dvc"], res["dvc_version"] = earlier["dvc"], earlier["dvc_version"]
        res["dvc_measured"] = earlier.get("measured_at")
    res["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res["verdicts"] = {row.label: row.ok for row in rows(res)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(res, indent=2) + "\n")
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
