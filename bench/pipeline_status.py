"""Pipeline status benchmark: `rig status` of 200 up-to-date stages.

    .venv/bin/python bench/pipeline_status.py [--stages 200]

A chain-and-fan pipeline (20 stages read one input, each later one reads an earlier
stage's out; each has a param) is run once, its files dated back past the stat cache's
racy window, then timed with nothing changed: load + status in process (median of 5), and
`rig status` as a fresh process (wall clock, Python start-up included). Results are
written to ``bench/results/pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "pipeline.json"


def _project(root: Path, n: int) -> None:
    from rigml.lab import init_lab

    lab, _ = init_lab(root / ".rig")
    lab.close()
    (root / "params.yaml").write_text("train:\n  lr: 0.1\n")
    (root / "in.csv").write_text("x\n")
    lines = ["stages:"]
    for i in range(n):
        dep = "in.csv" if i < 20 else f"o{i - 20}.txt"
        lines.append(
            f"  s{i}:\n    cmd: cp {dep} o{i}.txt\n    deps: [{dep}]\n"
            f"    params: [train.lr]\n    outs: [o{i}.txt]"
        )
    (root / "rig.yaml").write_text("\n".join(lines) + "\n")


def _age(root: Path) -> None:
    old = time.time() - 60
    for path in root.iterdir():
        if path.is_file():
            os.utime(path, (old, old))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stages", type=int, default=200)
    args = parser.parse_args()
    from rigml.lab import Lab
    from rigml.pipeline import load_pipeline, pipeline_status, run_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)
        _project(root, args.stages)
        lab = Lab(root / ".rig")
        t0 = time.perf_counter()
        run_pipeline(lab, load_pipeline(), jobs=8)
        first_run = time.perf_counter() - t0
        _age(root)
        pipeline_status(lab, load_pipeline())  # fills the stat cache
        times = []
        for _ in range(5):
            t = time.perf_counter()
            states = {s.state for s in pipeline_status(lab, load_pipeline())}
            times.append(time.perf_counter() - t)
        assert states == {"up to date"}, states
        code = "import sys; from rigml.cli import main; sys.exit(main(sys.argv[1:]))"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, "status"], check=True, capture_output=True)
        cli = time.perf_counter() - t
        lab.close()
    result = {
        "stages": args.stages,
        "first_run_s": round(first_run, 2),
        "status_in_process_s": round(statistics.median(times), 4),
        "rig_status_process_s": round(cli, 3),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
