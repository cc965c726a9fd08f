"""Audit log benchmark: the rate of ``record`` and the time ``verify`` takes for N entries.

    .venv/bin/python bench/audit_verify.py [--entries 1000000] [--repeat 3] [--quick]

``record`` is timed one entry at a time, in transactions of 1,000 (what a busy registry
does). The rest of the log is then filled in bulk with correct leaves, and ``verify`` (every
leaf recomputed from its fields, the RFC 6962 root built) is timed on a SQLite lab, ``repeat``
times: the median is the figure. It is timed as a user gets it (the second half of a long log
in a child process where there is a second core) and once more in one process, to show what
the split adds. The load average before the runs is recorded: the cores may be shared.
Results are written to ``bench/results/audit.json``.
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
RESULTS = BENCH / "results" / "audit.json"
sys.path.insert(0, str(BENCH))

from tracking import machine  # noqa: E402


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def time_record(lab: Any, count: int) -> float:
    from rigml.audit import record

    t0 = time.perf_counter()
    done = 0
    while done < count:
        with lab.store.write() as conn:
            for _ in range(min(1000, count - done)):
                done += 1
                after = {"version": done, "files": 12}
                record(conn, action="dataset.version.add", subject=f"ds@{done}", after=after)
    return time.perf_counter() - t0


def fill(lab: Any, start: int, total: int) -> None:
    """Entries start..total with correct leaves, inserted in bulk (no per-entry SELECT)."""
    from sqlalchemy import insert

    from rigml.audit._entry import canonical_json, compute_leaf
    from rigml.store.schema import audit_log

    now = time.time()
    for lo in range(start, total + 1, 50_000):
        rows = []
        for seq in range(lo, min(lo + 50_000, total + 1)):
            after = canonical_json({"version": seq, "files": 12})
            fields = (seq, now + seq * 1e-3, "bench", "dataset.tag", f"ds@{seq}", None, after, None)
            keys = ("seq", "time", "actor", "action", "subject", "before", "after", "reason")
            rows.append(
                dict(zip(keys, fields, strict=True)) | {"leaf": compute_leaf(*fields).hex()}
            )
        with lab.store.write() as conn:
            conn.execute(insert(audit_log), rows)


def time_verify(lab: Any, n: int, repeat: int, *, one_process: bool = False) -> list[float]:
    """``verify`` timings; ``one_process`` keeps the whole scan in this process."""
    from rigml.audit import _split, verify

    saved = _split.MIN_ROWS
    if one_process:
        _split.MIN_ROWS = sys.maxsize
    times = []
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = verify(lab)
            times.append(time.perf_counter() - t0)
            assert report.ok and report.size == n, report
    finally:
        _split.MIN_ROWS = saved
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="verify runs; the median is reported")
    ap.add_argument("--quick", action="store_true", help="20,000 entries")
    args = ap.parse_args()
    n = 20_000 if args.quick else args.entries
    from rigml.lab import init_lab

    with tempfile.TemporaryDirectory() as tmp:
        lab, _ = init_lab(Path(tmp) / "lab")
        per_record = min(n, 20_000)
        rec_s = time_record(lab, per_record)
        say(f"record: {per_record / rec_s:,.0f} entries/s")
        fill(lab, per_record + 1, n)
        load = os.getloadavg()[0]
        runs = time_verify(lab, n, args.repeat)
        say(f"verify of {n:,} entries: {', '.join(f'{t:.2f}' for t in runs)} s (load {load:.2f})")
        single = time_verify(lab, n, args.repeat, one_process=True)
        say(f"  in one process: {', '.join(f'{t:.2f}' for t in single)} s")
        lab.close()
    result = {
        "entries": n,
        "record_per_s": round(per_record / rec_s),
        "verify_s": round(statistics.median(runs), 3),
        "verify_runs_s": [round(t, 3) for t in runs],
        "verify_one_process_s": round(statistics.median(single), 3),
        "load_average_1m": round(load, 2),
        "store": "sqlite",
        "machine": machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
