"""The service over HTTP: predictions from every body kind, 422s, 404, health, metrics."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np

from rigml.serve import ServeConfig, create_app


def test_predicts_instances_like_the_model(lab: Any, churn: Any, server: Any, dataset: Any) -> None:
    from rigml.registry import load_model

    X, _ = dataset
    running = server(create_app(lab, ServeConfig(("churn@production",))))
    r = httpx.post(
        f"{running.url}/v1/models/churn/predict",
        json={"instances": X[:7].tolist()},
        headers={"X-Request-Id": "abc"},
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["request_id"] == "abc"
    assert (doc["model"], doc["version"], doc["arm"]) == ("churn", 1, "primary")
    expected = load_model(lab, "churn@1").predict(X[:7]).tolist()
    assert doc["predictions"] == expected
    r = httpx.post(
        f"{running.url}/v1/models/churn/predict?proba=true", json={"instances": X[:2].tolist()}
    )
    probs = r.json()["probabilities"]
    assert len(probs) == 2 and abs(sum(probs[0]) - 1) < 1e-9
    assert len(r.json()["request_id"]) == 32


def test_records_columns_arrow_and_parquet_agree(lab: Any, table_model: Any, server: Any) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    running = server(create_app(lab, ServeConfig(("homes@production",))))
    url = f"{running.url}/v1/models/homes/predict"
    frame = pd.DataFrame({"age": [1, 2, 3], "size": [50.0, 60.5, 70.0], "city": ["a", "b", "z"]})
    by_records = httpx.post(url, json={"records": frame.to_dict("records")}).json()
    by_columns = httpx.post(url, json={"columns": frame.to_dict("list")}).json()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    by_arrow = httpx.post(
        url,
        content=sink.getvalue(),
        headers={"Content-Type": "application/vnd.apache.arrow.stream"},
    ).json()
    buf = io.BytesIO()
    pq.write_table(table, buf)
    by_parquet = httpx.post(
        url, content=buf.getvalue(), headers={"Content-Type": "application/x-parquet"}
    ).json()
    preds = by_records["predictions"]
    assert len(preds) == 3
    assert by_columns["predictions"] == preds
    assert np.allclose(by_arrow["predictions"], preds)
    assert np.allclose(by_parquet["predictions"], preds)


BAD_BODIES: list[tuple[Any, list[Any]]] = [
    (
        {"records": [{"age": 1, "size": 2.0, "city": "a"}] * 3 + [{"size": 1.0, "city": "a"}]},
        ["records", 3, "age"],
    ),
    ({"records": [{"age": 1, "size": "big", "city": "a"}]}, ["records", 0, "size"]),
    ({"records": [{"age": 1.5, "size": 2.0, "city": "a"}]}, ["records", 0, "age"]),
    (
        {"columns": {"age": [1, 2], "size": [1.0, "x"], "city": ["a", "b"]}},
        ["columns", "size", 1],
    ),
    ({"columns": {"age": [1, 2], "size": [1.0]}}, ["columns", "city"]),
    ({"records": [1, 2]}, ["records", 0]),
    ({"rows": []}, ["body"]),
    ({"records": []}, ["records"]),
]


def test_bad_input_is_a_422_naming_the_field(lab: Any, table_model: Any, server: Any) -> None:
    running = server(create_app(lab, ServeConfig(("homes@production",))))
    for body, loc in BAD_BODIES:
        r = httpx.post(f"{running.url}/v1/models/homes/predict", json=body)
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail[0]["loc"] == loc, body
        assert detail[0]["msg"]


def test_malformed_bodies_and_unknown_models(lab: Any, churn: Any, server: Any) -> None:
    running = server(create_app(lab, ServeConfig(("churn@production",))))
    url = f"{running.url}/v1/models/churn/predict"
    assert httpx.post(url, content=b"{not json").status_code == 422
    r = httpx.post(url, json={"instances": [[1, 2, 3]]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["instances", 0]
    r = httpx.post(url, json={"instances": [[1, 2, "x", 4]]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["instances", 0, 2]
    r = httpx.post(url, json={"records": [{"a": 1}]})
    assert r.status_code == 422
    r = httpx.post(
        url, content=b"garbage", headers={"Content-Type": "application/vnd.apache.arrow.stream"}
    )
    assert r.status_code == 422
    assert httpx.post(url, content=b"x", headers={"Content-Type": "text/csv"}).status_code == 415
    r = httpx.post(f"{running.url}/v1/models/nope/predict", json={"instances": [[1, 2, 3, 4]]})
    assert r.status_code == 404


def test_health_models_metrics_and_docs(
    lab: Any, churn: Any, table_model: Any, server: Any
) -> None:
    running = server(create_app(lab, ServeConfig(("churn@production", "homes@production"))))
    assert httpx.get(f"{running.url}/healthz").json() == {"status": "ok"}
    models = httpx.get(f"{running.url}/v1/models").json()["models"]
    assert [(m["name"], m["version"], m["ref"]) for m in models] == [
        ("churn", 1, "churn@production"),
        ("homes", 1, "homes@production"),
    ]
    assert models[0]["arms"][0]["follows"] == "production"
    for _ in range(3):
        httpx.post(f"{running.url}/v1/models/churn/predict", json={"instances": [[0, 1, 2, 3]]})
    httpx.post(f"{running.url}/v1/models/churn/predict", json={"instances": [[0]]})
    text = httpx.get(f"{running.url}/metrics").text
    assert 'rig_serve_requests_total{arm="primary",model="churn",version="1"} 3.0' in text
    assert 'rig_serve_errors_total{model="churn",status="422"} 1.0' in text
    assert "rig_serve_batch_rows_bucket" in text
    assert "rig_serve_prediction_value_count" in text
    assert httpx.get(f"{running.url}/docs").status_code == 200
    spec = httpx.get(f"{running.url}/openapi.json").json()
    assert "/v1/models/{name}/predict" in spec["paths"]


def test_readyz_is_503_until_loaded(lab: Any, server: Any) -> None:
    running = server(create_app(lab, ServeConfig(("ghost@production",))), ready=False)
    import time

    deadline = time.monotonic() + 10
    while not running.app.state.service.slots[0].loaded.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    r = httpx.get(f"{running.url}/readyz")
    assert r.status_code == 503
    assert "ghost" in r.json()["waiting"][0]["error"]
    assert httpx.get(f"{running.url}/healthz").status_code == 200


def test_prediction_hook_gets_each_record(lab: Any, churn: Any, server: Any) -> None:
    import queue

    got: queue.Queue[dict[str, Any]] = queue.Queue()

    def hook(record: dict[str, Any]) -> None:
        got.put(record)
        raise RuntimeError("a failing hook never fails a request")

    running = server(create_app(lab, ServeConfig(("churn@production",)), on_prediction=hook))
    url = f"{running.url}/v1/models/churn/predict"
    for _ in range(2):
        assert httpx.post(url, json={"instances": [[0, 1, 2, 3]]}).status_code == 200
    first = got.get(timeout=10)
    got.get(timeout=10)
    assert set(first) == {
        "request_id",
        "time",
        "model",
        "version",
        "arm",
        "inputs",
        "outputs",
        "latency_ms",
    }
    assert first["version"] == 1 and first["inputs"].shape == (1, 4)


def test_canary_and_shadow_arms(lab: Any, churn: Any, server: Any, dataset: Any) -> None:
    import queue

    from sklearn.linear_model import LogisticRegression
    from tests.serve.conftest import log_version

    from rigml.registry import promote

    X, y = dataset
    v2 = log_version(lab, LogisticRegression().fit(X, 1 - y), X[:5])
    promote(lab, "churn", v2.version, to="staging", force=True, reason="test")
    records: queue.Queue[dict[str, Any]] = queue.Queue()
    config = ServeConfig(("churn@production",), canary=("churn@staging:100",), shadow=("churn@1",))
    running = server(create_app(lab, config, on_prediction=records.put))
    r = httpx.post(
        f"{running.url}/v1/models/churn/predict",
        json={"instances": X[:3].tolist()},
        headers={"X-Request-Key": "user-7"},
    )
    doc = r.json()
    assert (doc["arm"], doc["version"]) == ("canary", 2)
    got = {records.get(timeout=10)["arm"] for _ in range(2)}
    assert got == {"canary", "shadow"}
    arms = httpx.get(f"{running.url}/v1/models").json()["models"][0]["arms"]
    assert [(a["arm"], a["version"], a["share"]) for a in arms] == [
        ("primary", 1, 100.0),
        ("canary", 2, 100.0),
        ("shadow", 1, 0.0),
    ]
