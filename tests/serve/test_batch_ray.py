"""``rig predict --executor ray``: chunks scored by Ray actors, the same bytes as local.

The worker side (:class:`ChunkScorer`) and the refusals run without Ray. One test starts
Ray twice inside a private network namespace with loopback only (and its own PID namespace,
so ``ray stop --force`` sees only this cluster), as ``tests/pipeline/test_ray_cluster.py``
does: a local Ray that ``rig predict`` starts itself, then a head started with ``ray start``
that several calls attach to. The test compares their outputs with the local executor's.
"""
# ruff: noqa: F811 - fixtures come from _predlog_fixtures, imported by name

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.serve._predlog_fixtures import (  # noqa: F401 - fixtures
    _predlog_audit_key,
    churn,
    frame_data,
)

from _netns import netns_unavailable
from rigml.errors import BadBatchInput, InvalidInput, MissingExtra
from rigml.registry._package import MANIFEST
from rigml.serve._batch_predict import predict_file, score_chunk
from rigml.serve._batch_ray import ChunkScorer, from_ipc, pack, package_files, unpack
from rigml.serve._predlog_read import read_predictions

PORT = 6391  # any port: nothing else listens in a fresh network namespace
ROWS, CHUNK = 1000, 100  # ten chunks over two actors, four in flight


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import ray`` fails, as where the extra is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def _package(lab: Any) -> dict[str, bytes]:
    from rigml.registry import get_version
    from rigml.registry._load import materialise

    return package_files(materialise(lab, get_version(lab, "churn")))


def _rows(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 4)), columns=["age", "income", "visits", "score"])


def test_a_worker_scores_a_chunk_as_the_local_path_does(lab: Any, churn: Any) -> None:
    from rigml.registry import load_model

    scorer = ChunkScorer(_package(lab), False)
    assert scorer.ready() == ("ok", True)
    frame = _rows(50)
    kind, done = scorer.score(pack(frame), 3, 200, True, "csv", "in.csv")
    here = score_chunk(
        load_model(lab, "churn"), frame, proba=True, fmt="csv", src=Path("in.csv"), n=3, before=200
    )
    assert kind == "ok" and from_ipc(done.data).equals(here.data)
    np.testing.assert_array_equal(done.preds, here.preds)
    assert done.classes == here.classes == ["0", "1"]
    kind, text = scorer.score(pack(frame[["age"]]), 2, 100, False, "jsonl", "in.jsonl")
    assert kind == "refused" and text.startswith("rows 101-150: ")
    scorer.close()


def test_a_worker_that_cannot_load_the_model_says_why(lab: Any, churn: Any) -> None:
    files = {k: v for k, v in _package(lab).items() if k != MANIFEST}
    kind, (message, _hint) = ChunkScorer(files, False).ready()
    assert kind == "error" and MANIFEST in message


def test_chunks_travel_as_arrow_ipc_and_come_back_the_same() -> None:
    frame = _rows(5).assign(name=list("abcde"), flag=[True, False, True, True, False])
    payload = pack(frame)
    assert isinstance(payload, bytes)
    pd.testing.assert_frame_equal(unpack(payload), frame)
    mixed = pd.DataFrame({"x": [1, "a"]})  # Arrow cannot hold it: the frame goes as it is
    assert pack(mixed) is mixed


def test_ray_missing_is_a_missing_extra_and_nothing_is_written(
    lab: Any, churn: Any, tmp_path: Path, no_ray: None
) -> None:
    src, dest = tmp_path / "in.csv", tmp_path / "out.csv"
    _rows(10).to_csv(src, index=False)
    with pytest.raises(MissingExtra) as caught:
        predict_file(lab, "churn", src, dest, executor="ray")
    assert caught.value.extra == "ray" and caught.value.hint == "pip install 'rigml[ray]'"
    assert not dest.exists() and not list(tmp_path.glob(".out*"))


def test_an_unknown_executor_and_an_address_for_local_are_refused(
    lab: Any, churn: Any, tmp_path: Path
) -> None:
    src = tmp_path / "in.csv"
    _rows(10).to_csv(src, index=False)
    with pytest.raises(InvalidInput, match="unknown executor 'rey'; did you mean ray"):
        predict_file(lab, "churn", src, tmp_path / "o.csv", executor="rey")
    with pytest.raises(InvalidInput, match="local executor"):
        predict_file(lab, "churn", src, tmp_path / "o.csv", executor="local", ray_address="a:1")


# -- on a real Ray ---------------------------------------------------------------------------

DRIVER = """
import json, sys, traceback
from rigml.errors import RigError
from rigml.lab import Lab
from rigml.serve._batch_predict import predict_file

lab_path, work, address = sys.argv[1], sys.argv[2], sys.argv[3]
lab, out = Lab(lab_path), {}
calls = {
    "csv": ("in.csv", "ray.csv", True),
    "parquet": ("in.parquet", "ray.jsonl", False),
    "bad": ("bad.jsonl", "ray-bad.jsonl", False),
}
for key, (src, dest, proba) in calls.items():
    try:
        result = predict_file(
            lab, "churn", f"{work}/{src}", f"{work}/{dest}", chunk_rows=%(chunk)d, proba=proba,
            executor="ray", ray_address=address, workers=2,
        )
        out[key] = result.to_dict()
    except RigError as exc:
        out[key] = {"error": type(exc).__name__, "message": exc.message,
                    "chunk": getattr(exc, "chunk", None)}
    except Exception:
        out[key] = {"error": traceback.format_exc()}
lab.close()
json.dump(out, open(f"{work}/driver.json", "w"))
"""
SCRIPT = """
set -u
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0
cd "$WORK"
RIG=("$PY" -c 'import sys; from rigml.cli import main; sys.exit(main(sys.argv[1:]))')
timeout 180 "$RAY" start --head --node-ip-address=127.0.0.1 --port={port} --num-cpus=2 \\
    --include-dashboard=false --disable-usage-stats --temp-dir="$RAY_TMP" > ray-start.log 2>&1
echo $? > start.rc
timeout 300 "$PY" driver.py "$LAB" "$WORK" 127.0.0.1:{port} > driver.out 2>&1
echo $? > driver.rc
timeout 120 "${{RIG[@]}}" --lab "$LAB" predict churn in.csv -o cli.csv --proba \\
    --chunk-rows {chunk} --ray-address 127.0.0.1:{port} --json > cli.json 2> cli.err
echo $? > cli.rc
timeout 60 "$RAY" stop --force > /dev/null 2>&1
# a Ray that rig predict starts itself, for this one call
timeout 240 "${{RIG[@]}}" --lab "$LAB" predict churn@1 in.csv -o local-ray.csv --proba \\
    --chunk-rows {chunk} --executor ray --json > local-ray.json 2> local-ray.err
echo $? > local-ray.rc
"""


def _inputs(work: Path, frame_data: Any) -> None:
    X, _ = frame_data
    _rows(ROWS).to_csv(work / "in.csv", index=False)
    _rows(ROWS, seed=2).to_parquet(work / "in.parquet", index=False)
    rows = [json.dumps(r) for r in X.to_dict(orient="records")]
    rows[150] = json.dumps({"age": 1.0})  # chunk 2 lacks three of the model's columns
    (work / "bad.jsonl").write_text("\n".join(rows) + "\n")
    (work / "driver.py").write_text(DRIVER % {"chunk": CHUNK})


def _run_in_netns(work: Path, lab: Any) -> None:
    ray_tmp = tempfile.mkdtemp(prefix="rigbr")  # short: Ray's socket paths have a length limit
    script = work / "ray.sh"
    script.write_text(textwrap.dedent(SCRIPT.format(port=PORT, chunk=CHUNK)))
    env = {
        **os.environ,
        "PY": sys.executable,
        "RAY": str(Path(sys.executable).with_name("ray")),
        "RAY_TMP": ray_tmp,
        "WORK": str(work),
        "LAB": str(lab.path),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "HOME": str(work / "home"),  # Ray keeps its auth token in ~/.ray: not the user's
    }
    (work / "home").mkdir()
    for name in ("RAY_ADDRESS", "CUDA_VISIBLE_DEVICES"):
        env.pop(name, None)
    command = ["unshare", "--net", "--pid", "--mount-proc", "--fork", "bash", str(script)]
    try:
        subprocess.run(command, env=env, timeout=840, check=False, capture_output=True)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _read(work: Path, name: str) -> str:
    return (work / name).read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ray_actors_write_the_same_bytes_as_the_local_executor(
    lab: Any, churn: Any, frame_data: Any, tmp_path: Path
) -> None:
    pytest.importorskip("ray")
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    work = tmp_path / "work"
    work.mkdir()
    _inputs(work, frame_data)
    _run_in_netns(work, lab)

    # a Ray that rig predict started itself
    assert _read(work, "local-ray.rc").strip() == "0", _read(work, "local-ray.err")
    assert json.loads(_read(work, "local-ray.json"))["chunks"] == ROWS // CHUNK
    # attached to a running head: two formats, then a chunk the model refuses
    assert _read(work, "start.rc").strip() == "0", _read(work, "ray-start.log")
    assert _read(work, "driver.rc").strip() == "0", _read(work, "driver.out")
    ran = json.loads(_read(work, "driver.json"))
    assert ran["csv"]["rows"] == ROWS and ran["csv"]["chunks"] == ROWS // CHUNK, ran["csv"]
    assert ran["parquet"]["rows"] == ROWS, ran["parquet"]
    assert ran["bad"]["error"] == "BadBatchInput" and ran["bad"]["chunk"] == 2, ran["bad"]
    assert "chunk 2: rows 101-200" in ran["bad"]["message"]
    assert not (work / "ray-bad.jsonl").exists() and not list(work.glob(".ray-bad*"))
    assert _read(work, "cli.rc").strip() == "0", _read(work, "cli.err")

    # every chunk of the three Ray runs that wrote was logged by the driver
    logged = read_predictions(lab, arm="batch")
    assert logged.num_rows == 4 * ROWS + CHUNK  # and the refused run's first chunk, as local
    assert len(set(logged["request_id"].to_pylist())) == 4 * ROWS // CHUNK + 1

    # the same bytes as the local executor, for the same input
    predict_file(lab, "churn", work / "in.csv", work / "here.csv", chunk_rows=CHUNK, proba=True)
    here = (work / "here.csv").read_bytes()
    for name in ("local-ray.csv", "ray.csv", "cli.csv"):
        assert (work / name).read_bytes() == here, name
    predict_file(lab, "churn", work / "in.parquet", work / "here.jsonl", chunk_rows=CHUNK)
    assert (work / "ray.jsonl").read_bytes() == (work / "here.jsonl").read_bytes()
    with pytest.raises(BadBatchInput, match="chunk 2: rows 101-200"):  # the same refusal
        predict_file(lab, "churn", work / "bad.jsonl", work / "b.jsonl", chunk_rows=CHUNK)
