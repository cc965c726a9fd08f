"""The planner against published, measured peak memory (tests/fit/published.json).

Each row names its source and quotes the number; the README reports the same median and
worst errors (bench/fit_accuracy.py prints them).
"""

from __future__ import annotations

import pytest

from ._published import ROWS, compare, comparisons, skip_reason, summary

USED = [r for r in ROWS if skip_reason(r) is None]


def test_the_table_is_cited_and_large_enough() -> None:
    assert len(USED) >= 15
    assert sum(r["task"] != "infer" for r in USED) >= 8
    for row in ROWS:
        assert row["source"].startswith("http"), row["id"]
        assert row["quote"], row["id"]
        assert row["measured_gb"] > 0


def test_median_error_within_target() -> None:
    items = comparisons()
    infer = summary([c for c in items if c.row["task"] == "infer"])
    train = summary([c for c in items if c.row["task"] != "infer"])
    assert infer["median"] <= 0.10, infer
    assert train["median"] <= 0.15, train


@pytest.mark.parametrize("row", USED, ids=[r["id"] for r in USED])
def test_every_row_within_forty_five_percent(row: dict) -> None:
    c = compare(row)
    assert abs(c.error) <= 0.45, f"{row['id']}: {c.error:+.1%} ({row['source']})"
