"""Timeline: columns from samples, Parquet round trip, and the PNG plot."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from rigml.errors import InvalidInput, MissingExtra
from rigml.machine.gpu import RecordedSource
from rigml.machine.sampler import Sample, SystemSampler
from rigml.machine.timeline import Timeline

RECORDED = Path(__file__).parent / "recorded"
PNG = b"\x89PNG\r\n\x1a\n"


def test_late_and_missing_metrics_are_nan_filled() -> None:
    tl = Timeline(meta={"started": 100.0})
    tl.append(Sample(100.5, {"a": 1.0}))
    tl.append(Sample(101.5, {"a": 2.0, "b": 5.0}, {"gpu0/throttle_reasons": ("sw_thermal",)}))
    tl.append(Sample(102.5, {"b": 6.0}))
    assert len(tl) == 3 and tl.names == ["a", "b"] and "b" in tl
    np.testing.assert_array_equal(tl.times, [100.5, 101.5, 102.5])
    np.testing.assert_array_equal(tl.elapsed, [0.5, 1.5, 2.5])
    a, b = tl.column("a"), tl.column("b")
    assert a[:2].tolist() == [1.0, 2.0] and math.isnan(a[2])
    assert math.isnan(b[0]) and b[1:].tolist() == [5.0, 6.0]
    assert tl.labels("gpu0/throttle_reasons") == [None, "sw_thermal", None]
    assert tl.get("nope") is None
    with pytest.raises(KeyError):
        tl.column("nope")
    assert tl.duration == 2.5 and tl.gpu_indices() == [0]


def test_from_arrays_checks_lengths() -> None:
    with pytest.raises(InvalidInput, match="3 values for 2 times"):
        Timeline.from_arrays([1.0, 2.0], {"x": [1, 2, 3]})


def recorded_timeline(n: int = 8) -> Timeline:
    sampler = SystemSampler(
        gpu=RecordedSource.from_file(RECORDED / "a100_throttling.json"), per_core=True
    )
    tl = Timeline(meta={"interval": 1.0, "command": "python train.py", "cores": 2})
    for i in range(n):
        sample = sampler.sample()
        sample.time = 1_700_000_000.0 + i
        tl.append(sample)
    return tl


def test_parquet_round_trip_keeps_values_labels_and_meta(tmp_path: Path) -> None:
    tl = recorded_timeline()
    path = tl.save(tmp_path / "sub" / "timeline.parquet")
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["timeline.parquet"]  # no temp left
    back = Timeline.load(path)
    assert len(back) == len(tl) and back.names == tl.names
    for name in tl.names:
        np.testing.assert_array_equal(back.column(name), tl.column(name))
    np.testing.assert_array_equal(back.times, tl.times)
    assert back.labels("gpu0/throttle_reasons") == tl.labels("gpu0/throttle_reasons")
    assert "sw_thermal,hw_thermal" in back.labels("gpu0/throttle_reasons")
    assert back.meta == tl.meta
    assert back.column("gpu0/sm_clock_mhz")[-1] == 1005.0


def test_nan_survives_the_round_trip(tmp_path: Path) -> None:
    tl = Timeline.from_arrays([1.0, 2.0], {"x": [float("nan"), 3.0]})
    back = Timeline.load(tl.save(tmp_path / "t.parquet"))
    assert math.isnan(back.column("x")[0]) and back.column("x")[1] == 3.0


def test_loading_a_parquet_file_that_is_not_a_timeline(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "other.parquet")
    with pytest.raises(InvalidInput, match="no 'time' column"):
        Timeline.load(tmp_path / "other.parquet")


def test_plot_writes_a_png_with_and_without_gpus(tmp_path: Path) -> None:
    with_gpu = recorded_timeline().plot(
        tmp_path / "gpu.png",
        title="sh -c 'echo $$ > /x && exec python train.py'",
        events=[(1_700_000_005.0, "CUDA OOM")],
    )
    assert with_gpu.read_bytes()[:8] == PNG
    tl = Timeline(meta={"gpu_note": "NVML library not found"})
    sampler = SystemSampler(per_core=True, pids=[1])
    for i in range(3):
        sample = sampler.sample()
        sample.time = 10.0 + i
        tl.append(sample)
    plain = tl.plot(tmp_path / "plain.png")
    assert plain.read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu.png", "plain.png"]


def test_missing_extras_say_what_to_install(tmp_path: Path, monkeypatch) -> None:
    tl = Timeline.from_arrays([1.0], {"x": [1.0]})
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtra) as info:
        tl.save(tmp_path / "t.parquet")
    assert "rigml[parquet]" in (info.value.hint or "")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingExtra) as info:
        tl.plot(tmp_path / "t.png")
    assert "rigml[plot]" in (info.value.hint or "")


def test_files_go_through_the_output_rules(tmp_path: Path) -> None:
    from rigml.errors import OutputNotWritable

    tl = recorded_timeline()
    with pytest.raises(OutputNotWritable, match="does not exist"):
        tl.save(tmp_path / "missing" / "t.parquet", parents=False)
    with pytest.raises(OutputNotWritable, match="does not exist"):
        tl.plot(tmp_path / "missing" / "t.png", parents=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputNotWritable, match="is a file"):
        tl.save(tmp_path / "file" / "t.parquet", parents=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing left behind
