"""The prediction log: appends from many threads, flush on close, a bounded buffer, several
workers, filters and feedback, against real SQLite (and PostgreSQL) labs."""
# ruff: noqa: F811 - fixtures come from _predlog_fixtures, imported by name

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from tests.serve._predlog_fixtures import (  # noqa: F401 - fixtures
    _predlog_audit_key,
    predlog,
    record,
    wait_for,
)

from rigml.errors import InvalidFeedback, InvalidPredictionQuery
from rigml.serve._feedback import record_feedback
from rigml.serve._predlog import PredictionLog
from rigml.serve._predlog_read import iter_predictions, parse_time, read_predictions

T0 = 1_700_000_000.0


def test_appends_from_many_threads_are_all_written(any_lab: Any) -> None:
    log = PredictionLog(any_lab, service="svc", flush_rows=500, flush_seconds=0.05)

    def client(k: int) -> None:
        for i in range(250):
            assert log.append(record(k * 1000 + i))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    table = read_predictions(any_lab)
    assert table.num_rows == 1000
    assert len(set(table["request_id"].to_pylist())) == 1000
    assert log.stats().dropped == 0 and log.stats().buffered_rows == 0
    assert table["time"].to_pylist() == sorted(table["time"].to_pylist())


def test_the_background_thread_writes_without_close(lab: Any, predlog: PredictionLog) -> None:
    for i in range(10):
        predlog.append(record(i))
    wait_for(lambda: predlog.stats().written_rows == 10)
    assert read_predictions(lab).num_rows == 10


def test_close_flushes_everything_and_is_idempotent(lab: Any) -> None:
    log = PredictionLog(lab, service="svc", flush_seconds=3600)  # the thread never wakes
    for i in range(300):
        log.append(record(i, rows=3))
    log.close()
    log.close()
    table = read_predictions(lab)
    assert table.num_rows == 900
    assert sorted(set(table["row"].to_pylist())) == [0, 1, 2]
    assert log.append(record(1)) is False  # closed: refused and counted
    assert log.dropped == 1


def test_a_full_buffer_drops_and_counts(lab: Any) -> None:
    log = PredictionLog(
        lab, service="svc", flush_rows=10**6, flush_seconds=3600, max_buffer_rows=50
    )
    accepted = sum(log.append(record(i, rows=10)) for i in range(8))
    assert accepted == 5
    assert log.dropped == 30
    log.close()
    assert read_predictions(lab).num_rows == 50


def test_append_never_raises_on_a_bad_record(lab: Any) -> None:
    log = PredictionLog(lab, service="svc", flush_seconds=3600)
    assert log.append({"outputs": 3}) is False  # no length
    bad = record(1) | {"inputs": np.ones((5, 4))}  # 5 input rows, 1 output
    assert log.append(bad) is True  # accepted cheaply, left out by the writer
    assert log.append(record(2)) is True
    log.close()
    assert log.rejected == 2
    assert read_predictions(lab)["request_id"].to_pylist() == ["req-2"]


def test_a_failing_object_store_keeps_rows_until_it_recovers(
    lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rigml.serve._predlog as predlog_mod

    monkeypatch.setattr(predlog_mod, "RETRY_DELAYS_S", (0.0,))
    log = PredictionLog(lab, service="svc", flush_seconds=3600)
    real_put = lab.objects.put_bytes
    monkeypatch.setattr(lab.objects, "put_bytes", lambda data: 1 / 0)
    log.append(record(1))
    assert log.flush() == 0  # never raises
    assert log.stats().buffered_rows == 1 and log.failures >= 2
    monkeypatch.setattr(lab.objects, "put_bytes", real_put)
    log.close()
    assert read_predictions(lab)["request_id"].to_pylist() == ["req-1"]


def test_two_workers_write_their_own_segments(any_lab: Any) -> None:
    from sqlalchemy import select

    from rigml.store.schema import prediction_segments

    a = PredictionLog(any_lab, service="svc")
    b = PredictionLog(any_lab, service="svc")
    b.worker = "4242@other-host"
    for i in range(40):
        (a if i % 2 else b).append(record(i))
    a.close()
    b.close()
    with any_lab.store.read() as conn:
        workers = {r.worker for r in conn.execute(select(prediction_segments))}
    assert len(workers) == 2 and "4242@other-host" in workers
    assert read_predictions(any_lab)["request_id"].to_pylist() == [f"req-{i}" for i in range(40)]


def _three_arms(lab: Any) -> None:
    log = PredictionLog(lab, service="svc")
    for i in range(30):
        arm = ("primary", "canary", "shadow")[i % 3]
        log.append(record(i, version=1 + (arm == "canary"), arm=arm))
    log.append(record(100, model="other"))
    log.close()


def test_filters_prune_segments_and_rows(lab: Any) -> None:
    _three_arms(lab)
    assert read_predictions(lab, arm="canary").num_rows == 10
    assert set(read_predictions(lab, version=2)["arm"].to_pylist()) == {"canary"}
    assert read_predictions(lab, model="other")["request_id"].to_pylist() == ["req-100"]
    window = read_predictions(lab, model="churn", since=T0 + 5, until=T0 + 10)
    assert window["request_id"].to_pylist() == [f"req-{i}" for i in range(5, 10)]
    assert read_predictions(lab, limit=3)["request_id"].to_pylist() == ["req-0", "req-1", "req-2"]
    latest = read_predictions(lab, limit=2, newest=True)
    assert latest["request_id"].to_pylist() == ["req-100", "req-29"]
    cols = read_predictions(lab, model="churn", columns=["request_id", "in.age", "out"])
    assert cols.column_names == ["request_id", "in.age", "out"]
    batches = list(iter_predictions(lab, arm="shadow", columns=["out"]))
    assert sum(b.num_rows for b in batches) == 10
    assert read_predictions(lab, model="nobody").num_rows == 0


def test_bad_filters_are_clear_errors(lab: Any) -> None:
    _three_arms(lab)
    with pytest.raises(InvalidPredictionQuery, match="neither a duration nor a date"):
        read_predictions(lab, since="yesterday-ish")
    with pytest.raises(InvalidPredictionQuery, match="no prediction column 'colour'"):
        read_predictions(lab, columns=["colour"])
    with pytest.raises(InvalidPredictionQuery, match=r"in\.height"):
        read_predictions(lab, columns=["in.height"])
    with pytest.raises(InvalidPredictionQuery, match="later than until"):
        read_predictions(lab, since=T0 + 10, until=T0)
    with pytest.raises(InvalidPredictionQuery, match="feedback"):
        read_predictions(lab, columns=["feedback"])


def test_parse_time_reads_durations_dates_and_numbers() -> None:
    import time

    assert parse_time(12.5) == 12.5
    assert abs(parse_time("1h") - (time.time() - 3600)) < 60
    assert parse_time("2026-01-31T00:00:00+00:00") == 1769817600.0
    with pytest.raises(InvalidPredictionQuery):
        parse_time(float("nan"))


def test_feedback_joins_the_latest_value(any_lab: Any) -> None:
    log = PredictionLog(any_lab, service="svc")
    for i in range(5):
        log.append(record(i))
    log.close()
    record_feedback(any_lab, "req-1", 1, time=T0 + 10)
    record_feedback(any_lab, "req-1", 0, time=T0 + 20)  # a correction
    record_feedback(any_lab, "req-3", {"label": "cat"})
    record_feedback(any_lab, "req-unknown", 1)  # may arrive before its prediction
    table = read_predictions(any_lab, with_feedback=True)
    got = dict(zip(table["request_id"].to_pylist(), table["feedback"].to_pylist(), strict=True))
    assert got == {
        "req-0": None,
        "req-1": "0",
        "req-2": None,
        "req-3": '{"label":"cat"}',
        "req-4": None,
    }
    assert table["feedback_time"].to_pylist()[1] == T0 + 20


def test_feedback_refuses_what_is_not_json(lab: Any) -> None:
    with pytest.raises(InvalidFeedback, match="not JSON"):
        record_feedback(lab, "req-1", float("nan"))
    with pytest.raises(InvalidFeedback, match="request id"):
        record_feedback(lab, "  ", 1)


def test_array_inputs_and_probabilities_get_named_columns(lab: Any) -> None:
    log = PredictionLog(lab, service="svc")
    log.append(
        {
            "request_id": "r",
            "time": T0,
            "model": "m",
            "version": 1,
            "arm": "primary",
            "inputs": np.arange(6.0).reshape(3, 2),
            "outputs": np.array(["a", "b", "a"]),
            "latency_ms": 2.0,
            "proba": np.full((3, 2), 0.5),
            "classes": ["a", "b"],
        }
    )
    log.close()
    table = read_predictions(lab)
    assert table.column_names[-5:] == ["in.0", "in.1", "out", "proba.a", "proba.b"]
    assert table["in.1"].to_pylist() == [1.0, 3.0, 5.0]
    assert table["out"].to_pylist() == ["a", "b", "a"]
