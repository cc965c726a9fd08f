"""Data versions benchmark: `rig data add` next to `dvc add`, side by side on this machine.

    .venv/bin/python bench/data_versions.py [--quick] [--skip-dvc]

Measures, on a temporary folder of this machine's disk:

1. hashing one 1 GiB file: raw blake3 (memory-mapped, all cores) against rigml's hashing
   path, and `rig data add` against `dvc add` of the same file, both whole commands;
2. a folder of 20,000 small files: `rig data add` against `dvc add`, then re-adding it
   unchanged (stat cache) with each tool.

DVC runs from its own virtualenv, ``bench/.venv-dvc``, made here on first use, never in
rigml's. Every command is a fresh process, timed by wall clock, so start-up counts for both;
each first add runs ``--repeats`` times into a fresh lab / repository and the median is kept
(the machine may be shared). Results are merged into ``bench/results/data.json`` under
``versions``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DVC_VENV = BENCH / ".venv-dvc"
DVC_PY = DVC_VENV / "bin" / "python"
DVC_PIN = "dvc==3.*"
RESULTS = BENCH / "results" / "data.json"
sys.path.insert(0, str(BENCH))

from tracking import machine  # noqa: E402


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ensure_dvc() -> str:
    """``bench/.venv-dvc`` with DVC; returns its version."""
    if not DVC_PY.exists():
        say(f"making {DVC_VENV} with {DVC_PIN} ...")
        python3 = shutil.which("python3") or sys.executable
        subprocess.run([python3, "-m", "venv", str(DVC_VENV)], check=True)
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        subprocess.run([str(DVC_PY), "-m", "pip", "install", "--quiet", DVC_PIN], check=True)
    out = subprocess.run([str(dvc), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return took


def make_big(path: Path, size: int) -> None:
    chunk = os.urandom(1 << 24)
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            n = min(len(chunk), size - written)
            fh.write(chunk[:n] if written == 0 else os.urandom(n))
            written += n


def make_small(root: Path, n: int) -> int:
    total = 0
    for i in range(n):
        d = root / f"d{i % 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        data = os.urandom(512 + (i * 37) % 3584)
        (d / f"f{i:05d}.bin").write_bytes(data)
        total += len(data)
    old = time.time() - 30  # past the stat cache's 1 s racy window, as data usually is
    for p in root.rglob("*.bin"):
        os.utime(p, (old, old))
    return total


def raw_blake3(path: Path, repeats: int) -> float:
    from blake3 import blake3

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        h = blake3(max_threads=blake3.AUTO)
        h.update_mmap(str(path))
        h.hexdigest()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rig_hash(path: Path, repeats: int) -> float:
    from rigml.data._hashing import hash_path

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        hash_path(str(path))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rig_env(lab: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["RIG_LAB"] = str(lab)
    return env


def new_lab(where: Path) -> Path:
    from rigml.lab import init_lab

    lab, _ = init_lab(where)
    lab.close()
    return where


def dvc_repo(where: Path) -> Path:
    where.mkdir(parents=True)
    dvc = str(DVC_VENV / "bin" / "dvc")
    timed([dvc, "init", "--no-scm", "-q"], where)
    timed([dvc, "config", "core.analytics", "false"], where)
    return where


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="256 MiB and 5,000 files")
    ap.add_argument("--skip-dvc", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="first adds timed (median kept)")
    args = ap.parse_args(argv)
    big_size = (256 if args.quick else 1024) << 20
    n_small = 5_000 if args.quick else 20_000
    rig = str(Path(sys.executable).with_name("rig"))
    res: dict[str, Any] = {"machine": machine(), "quick": args.quick, "when": time.time()}
    dvc_version = None if args.skip_dvc else ensure_dvc()
    res["dvc"] = dvc_version
    with tempfile.TemporaryDirectory(prefix="rig-bench-data-", dir=os.environ.get("TMPDIR")) as t:
        tmp = Path(t)
        say(f"writing a {big_size >> 20} MiB file ...")
        big_dir = tmp / "big"
        big_dir.mkdir()
        big = big_dir / "big.bin"
        make_big(big, big_size)
        os.sync()  # neither tool should pay for flushing the freshly written input
        raw_blake3(big, 1)  # into the page cache
        raw = raw_blake3(big, 5)
        ours = rig_hash(big, 5)
        res["hash"] = {
            "bytes": big_size,
            "raw_blake3_s": raw,
            "rig_hash_s": ours,
            "raw_gib_s": big_size / raw / 2**30,
            "rig_gib_s": big_size / ours / 2**30,
            "share_of_raw": raw / ours,
        }
        say(f"hash: raw {res['hash']['raw_gib_s']:.2f} GiB/s, rig {res['hash']['rig_gib_s']:.2f}")
        adds, dvc_adds = [], []
        for i in range(args.repeats):
            lab = new_lab(tmp / f"lab-big-{i}")
            os.sync()
            adds.append(timed([rig, "data", "add", str(big), "--name", "big"], tmp, rig_env(lab)))
            say(f"rig data add {big_size >> 20} MiB: {adds[-1]:.2f}s")
            shutil.rmtree(lab)
            if dvc_version:
                repo = dvc_repo(tmp / f"dvc-big-{i}")
                os.link(big, repo / "big.bin")  # the same bytes, already in the page cache
                os.sync()  # rig's objects are on disk; start dvc from the same clean state
                dvc = str(DVC_VENV / "bin" / "dvc")
                dvc_adds.append(timed([dvc, "add", "-q", "big.bin"], repo))
                say(f"dvc add: {dvc_adds[-1]:.2f}s")
                shutil.rmtree(repo)
        res["hash"]["rig_add_s"] = statistics.median(adds)
        res["hash"]["rig_add_runs_s"] = adds
        if dvc_adds:
            res["hash"]["dvc_add_s"] = statistics.median(dvc_adds)
            res["hash"]["dvc_add_runs_s"] = dvc_adds
        shutil.rmtree(big_dir)

        say(f"writing {n_small:,} small files ...")
        small = tmp / "small"
        total = make_small(small, n_small)
        os.sync()
        firsts = []
        for i in range(args.repeats):
            lab = new_lab(tmp / f"lab-small-{i}")
            os.sync()
            env = rig_env(lab)
            firsts.append(timed([rig, "data", "add", str(small), "--name", "small"], tmp, env))
            say(f"rig data add {n_small} files: {firsts[-1]:.2f}s")
            if i < args.repeats - 1:
                shutil.rmtree(lab)
        first = statistics.median(firsts)
        again = [
            timed([rig, "data", "add", str(small), "--name", "small"], tmp, env) for _ in range(3)
        ]
        res["small"] = {
            "files": n_small,
            "bytes": total,
            "rig_add_s": first,
            "rig_add_runs_s": firsts,
            "rig_readd_s": statistics.median(again),
        }
        say(f"rig data add {n_small} files: {first:.2f}s, unchanged again: {min(again):.2f}s")
        if dvc_version:
            repo = dvc_repo(tmp / "dvc-small")
            shutil.copytree(small, repo / "small", copy_function=os.link)
            os.sync()
            dvc = str(DVC_VENV / "bin" / "dvc")
            dvc_firsts = []
            for i in range(args.repeats):
                if i:
                    shutil.rmtree(repo)
                    repo = dvc_repo(tmp / f"dvc-small-{i}")
                    shutil.copytree(small, repo / "small", copy_function=os.link)
                    os.sync()
                dvc_firsts.append(timed([dvc, "add", "-q", "small"], repo))
                say(f"dvc add {n_small} files: {dvc_firsts[-1]:.2f}s")
            res["small"]["dvc_add_s"] = statistics.median(dvc_firsts)
            res["small"]["dvc_add_runs_s"] = dvc_firsts
            res["small"]["dvc_readd_s"] = timed([dvc, "add", "-q", "small"], repo)
            sm = res["small"]
            say(f"dvc add: {sm['dvc_add_s']:.2f}s, again {sm['dvc_readd_s']:.2f}s")
    RESULTS.parent.mkdir(exist_ok=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["versions"] = res
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
