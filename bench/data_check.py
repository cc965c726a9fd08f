"""Contract check benchmark: `rig data check` of 1,000,000 rows x 20 columns, 40 checks.

    .venv/bin/python bench/data_check.py [--quick]

The table is one Parquet file (10 integer, 6 float, 3 text and 1 timestamp columns) added
as a dataset version; the contract holds 40 checks: types, not-null, ranges and categories
(row level, pandera per chunk), and rows, null rates, means, a median, unseen share and
freshness (dataset level). The whole command runs in a fresh process, timed by wall clock.
A second contract with one failing range shows the cost of collecting failures.
Results are merged into ``bench/results/data.json`` under ``check``.
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

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "data.json"
sys.path.insert(0, str(BENCH))

from tracking import machine  # noqa: E402


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def make_table(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    cols: dict[str, Any] = {}
    for i in range(10):
        cols[f"i{i}"] = rng.integers(0, 1000, rows)
    for i in range(6):
        vals = rng.normal(50, 10, rows)
        if i == 0:
            vals[rng.random(rows) < 0.01] = np.nan  # 1% nulls
        cols[f"f{i}"] = pa.array(vals, from_pandas=True)
    for i in range(3):
        cols[f"s{i}"] = pa.array(
            rng.choice(["red", "green", "blue", "black"], rows)
        ).dictionary_encode()
    now = np.datetime64("now", "s")
    cols["ts"] = now - rng.integers(0, 86400, rows).astype("timedelta64[s]")
    pq.write_table(pa.table(cols), path, row_group_size=250_000)


def contract(rows: int, *, failing: bool) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for i in range(10):  # 28 checks: type, range, and not null for eight of them
        columns[f"i{i}"] = {"type": "int", "nullable": i >= 8, "min": 0}
        columns[f"i{i}"]["max"] = 999
    columns["i0"]["max"] = 900 if failing else 999  # about 10% of rows fail
    columns["f0"] = {"type": "float", "max_null_rate": 0.02, "mean": {"min": 49, "max": 51}}
    columns["f1"] = {"type": "float", "quantiles": {0.5: {"min": 45, "max": 55}}}  # 2 more
    columns["s0"] = {"type": "string", "categories": ["red", "green", "blue", "black"]}
    columns["s1"] = {
        "type": "string",
        "categories": ["red", "green", "blue"],
        "max_unseen_share": 0.3,
    }
    columns["ts"] = {"type": "timestamp", "max_age": "7d"}
    return {"version": 1, "rows": {"min": rows // 2, "max": rows * 2}, "columns": columns}


def run(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    return time.perf_counter() - t0, proc.returncode, proc.stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100,000 rows")
    args = ap.parse_args(argv)
    rows = 100_000 if args.quick else 1_000_000
    import yaml

    from rigml.data import contract_from_dict
    from rigml.lab import init_lab

    rig = str(Path(sys.executable).with_name("rig"))
    res: dict[str, Any] = {"machine": machine(), "rows": rows, "columns": 20, "when": time.time()}
    with tempfile.TemporaryDirectory(prefix="rig-bench-check-") as t:
        tmp = Path(t)
        (tmp / "d").mkdir()
        say(f"writing {rows:,} rows x 20 columns ...")
        make_table(tmp / "d" / "table.parquet", rows)
        lab, _ = init_lab(tmp / "lab")
        lab.close()
        env = dict(os.environ, RIG_LAB=str(tmp / "lab"))
        took, code, _ = run([rig, "data", "add", str(tmp / "d"), "--name", "table"], env)
        res["add_s"] = took
        for failing in (False, True):
            spec = contract(rows, failing=failing)
            n_checks = contract_from_dict(spec).count_checks()
            path = tmp / f"contract-{failing}.yaml"
            path.write_text(yaml.safe_dump(spec))
            times = []
            for _ in range(3):
                took, code, out = run(
                    [rig, "data", "check", "table@1", "--contract", str(path), "--json"], env
                )
                times.append(took)
            report = json.loads(out)
            key = "failing" if failing else "passing"
            res[key] = {
                "checks": n_checks,
                "seconds": sorted(times)[1],
                "exit_code": code,
                "failed": report["failed"],
                "failing_rows": [f["failing_rows"] for f in report["failures"]],
            }
            say(f"{key}: {n_checks} checks in {sorted(times)[1]:.2f}s (exit {code})")
    RESULTS.parent.mkdir(exist_ok=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged["check"] = res
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
