"""Prediction-log benchmark: what ``append`` costs a request, and what the writer sustains.

    .venv/bin/python bench/predlog_overhead.py [--records 100000] [--repeat 3]

``append`` is timed on the caller's side with the writer thread parked (a flush interval
of an hour, a buffer big enough), for single-row records of a 4-feature DataFrame, the
serving case: the figure is the median cost per call. The writer is then timed from the
first append to the last segment indexed (``close``) on a SQLite lab: records/s of the
whole path (Arrow conversion, zstd Parquet, object store, store index). Records are built
before the clock starts. Results go to ``bench/results/predlog.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "predlog.json"
sys.path.insert(0, str(BENCH))

from tracking import machine, say  # noqa: E402


def records(n: int) -> list[dict[str, Any]]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    values = rng.normal(size=(n, 4))
    cols = ["a", "b", "c", "d"]
    t0 = time.time()
    return [
        {
            "request_id": f"req-{i}",
            "time": t0 + i * 1e-4,
            "model": "bench",
            "version": 1,
            "arm": "primary",
            "inputs": pd.DataFrame(values[i : i + 1], columns=cols),
            "outputs": [int(values[i, 0] > 0)],
            "latency_ms": 1.0,
        }
        for i in range(n)
    ]


def time_append(lab: Any, recs: list[dict[str, Any]]) -> float:
    """Seconds per append, the writer parked."""
    from rigml.serve._predlog import PredictionLog

    log = PredictionLog(
        lab, service="bench", flush_seconds=3600, flush_rows=10**9, max_buffer_rows=10**9
    )
    t0 = time.perf_counter()
    for r in recs:
        log.append(r)
    spent = time.perf_counter() - t0
    log.close()
    return spent / len(recs)


def time_writer(lab: Any, recs: list[dict[str, Any]]) -> float:
    """Records/s from the first append to the last segment stored (defaults of the log)."""
    from rigml.serve._predlog import PredictionLog

    log = PredictionLog(lab, service="bench", max_buffer_rows=len(recs))
    t0 = time.perf_counter()
    for r in recs:
        log.append(r)
    log.close()
    spent = time.perf_counter() - t0
    assert log.written_rows == len(recs), log.stats()
    return len(recs) / spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from rigml.lab import init_lab

    os.environ.setdefault("RIG_AUDIT_KEY", str(Path(tempfile.mkdtemp()) / "audit.key"))
    recs = records(args.records)
    appends, rates = [], []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            lab, _ = init_lab(Path(tmp) / "lab")
            appends.append(time_append(lab, recs))
            rates.append(time_writer(lab, recs))
            lab.close()
        say(f"run {i + 1}: append {appends[-1] * 1e6:.2f} µs, writer {rates[-1]:,.0f} records/s")
    result = {
        "records": args.records,
        "repeat": args.repeat,
        "append_us_median": round(statistics.median(appends) * 1e6, 3),
        "append_us_all": [round(a * 1e6, 3) for a in appends],
        "writer_records_per_s_median": round(statistics.median(rates)),
        "writer_records_per_s_all": [round(r) for r in rates],
        "store": "sqlite",
        "record": "1 row, 4 float64 features as a pandas DataFrame, 1 int output",
        "load_average_before": list(os.getloadavg()),
        "machine": machine(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
