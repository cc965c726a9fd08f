"""Contracts: inferred from data, validated with pandera in chunks, stored with the version."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from rigml.data import (
    TableProfiler,
    add,
    check,
    checks_of,
    contract_from_dict,
    contract_to_yaml,
    infer_contract,
    latest_check,
    load_contract,
    profile,
    require_passing_check,
    resolve,
)
from rigml.data._profile_report import render_html, sparkline
from rigml.errors import ContractFailed, InvalidContract, NotFittedError, NotFound

from .conftest import write

N = 3000


def make_frame(n: int = N, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 90, n),
            "score": rng.normal(0.5, 0.1, n).round(6),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "seen": now - pd.to_timedelta(rng.integers(3600, 7200, n), unit="s"),
        }
    )


@pytest.fixture
def table_lab(any_lab, tmp_path: Path):
    df = make_frame()
    (tmp_path / "d").mkdir()
    df.to_csv(tmp_path / "d" / "users.csv", index=False)
    add(any_lab, tmp_path / "d", name="users")
    return any_lab, df, tmp_path


def test_an_inferred_contract_round_trips_and_passes(table_lab) -> None:
    lab, _df, tmp_path = table_lab
    contract = infer_contract(lab, "users@1")
    cols = {c.name: c for c in contract.columns}
    assert cols["id"].unique and cols["id"].type == "int" and not cols["id"].nullable
    assert cols["plan"].categories == ["basic", "pro", "team"]
    assert (cols["age"].min, cols["age"].max) == (18, 89)
    assert cols["seen"].type == "timestamp" and cols["seen"].max_age is not None
    assert contract.rows.min == 2400 and contract.rows.max == 3600
    path = tmp_path / "contract.yaml"
    path.write_text(contract_to_yaml(contract))
    loaded = load_contract(path)
    assert loaded.check_ids() == contract.check_ids()
    report = check(lab, "users@1", loaded)
    assert report.passed, report.failures
    assert report.rows == N and report.checks == contract.count_checks() > 15


def test_failures_count_rows_and_show_examples_with_file_and_row(table_lab) -> None:
    lab, df, tmp_path = table_lab
    contract = infer_contract(lab, "users@1")
    bad = df.copy()
    bad.loc[[10, 2500], "age"] = 200
    bad.loc[7, "plan"] = "gold"
    bad.loc[[3, 4, 5], "score"] = None
    bad.loc[20, "id"] = 21  # a duplicate id
    bad.to_csv(tmp_path / "d" / "users.csv", index=False)
    add(lab, tmp_path / "d", name="users")
    report = check(lab, "users@2", contract, chunk_rows=1000)  # three chunks
    failed = {f.check: f for f in report.failures}
    assert not report.passed and set(failed) >= {
        "age: range",
        "plan: categories",
        "score: not null",
        "id: unique",
    }
    assert failed["age: range"].failing_rows == 2
    assert [(e["value"], e["row"]) for e in failed["age: range"].examples] == [
        (200, 11),
        (200, 2501),
    ]
    assert failed["age: range"].examples[0]["file"] == "users.csv"
    assert failed["plan: categories"].examples[0]["value"] == "gold"
    assert failed["score: not null"].failing_rows == 3
    assert failed["id: unique"].failing_rows == 2
    assert report.failed == len(report.failures)


def test_dataset_level_expectations(table_lab) -> None:
    lab, df, _tmp = table_lab
    contract = contract_from_dict(
        {
            "rows": {"min": 10, "max": 100},
            "columns": {
                "score": {"type": "float", "mean": {"min": 0.9}, "quantiles": {0.5: {"max": 0.1}}},
                "plan": {"categories": ["basic"], "max_unseen_share": 0.5},
                "seen": {"type": "timestamp", "max_age": "30m"},
                "age": {"type": "int", "max_null_rate": 0.0},
                "missing": {"type": "int"},
            },
        }
    )
    report = check(lab, "users@1", contract)
    failed = {f.check: f for f in report.failures}
    assert set(failed) == {
        "rows",
        "score: mean",
        "score: q0.5",
        "plan: unseen share",
        "seen: freshness",
        "missing: type int",
    }
    assert (
        "observed 3000" in failed["rows"].detail and "between 10 and 100" in failed["rows"].detail
    )
    unseen = failed["plan: unseen share"]
    assert unseen.failing_rows == int((df["plan"] != "basic").sum())
    assert unseen.examples and unseen.examples[0]["value"] in ("pro", "team")
    assert report.observed["score: mean"] == pytest.approx(df["score"].mean())
    assert report.observed["age: null rate"] == 0.0
    assert failed["missing: type int"].detail.startswith(
        "the column 'missing' is missing; the table has "
    )
    assert 3600 <= report.observed["seen: freshness"] < 3700


def test_types_are_checked(lab, tmp_path: Path) -> None:
    write(tmp_path / "d" / "t.csv", "a,b\n1.5,x\n2.5,y\n")
    add(lab, tmp_path / "d", name="t")
    contract = contract_from_dict({"columns": {"a": {"type": "int"}, "b": {"type": "string"}}})
    report = check(lab, "t", contract)
    (f,) = report.failures
    assert f.check == "a: type int" and "found float64" in f.detail and f.failing_rows == 2
    strict = contract_from_dict({"strict": True, "columns": {"a": {"type": "float"}}})
    (f,) = check(lab, "t", strict).failures
    assert f.check == "no other columns" and "b" in f.detail


def test_results_are_stored_and_a_pipeline_can_require_a_pass(table_lab) -> None:
    lab, _df, _tmp = table_lab
    with pytest.raises(ContractFailed, match="no stored contract check"):
        require_passing_check(lab, "users@1")
    good = infer_contract(lab, "users@1")
    bad = contract_from_dict({"rows": {"max": 5}, "columns": {"id": {"type": "int"}}})
    check(lab, "users@1", good)
    assert require_passing_check(lab, "users@1").passed
    report = check(lab, "users@1", bad)
    assert report.id is not None
    with pytest.raises(ContractFailed) as info:
        require_passing_check(lab, "users@1")
    assert info.value.failed == 1 and info.value.total == 2
    assert require_passing_check(lab, "users@1", contract=good).passed
    stored = checks_of(lab, resolve(lab, "users@1"))
    assert [c.passed for c in stored] == [False, True]
    again = latest_check(lab, "users@1")
    assert again.failures[0].check == "rows" and again.id == report.id
    assert lab.objects.get_bytes(stored[0].contract_object).decode() == contract_to_yaml(bad)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"columns": {"a": {"type": "integer"}}}, "columns.a.type"),
        ({"columns": {"a": {"min": "zero"}}}, "columns.a.min"),
        ({"columns": {"a": {"min": 5, "max": 1}}}, "min 5 is above max 1"),
        ({"columns": {"a": {"max_null_rate": 2}}}, "columns.a.max_null_rate"),
        ({"columns": {"a": {"max_unseen_share": 0.1}}}, "needs 'categories'"),
        ({"columns": {"a": {"type": "timestamp", "max_age": "soon"}}}, "columns.a.max_age"),
        ({"columns": {"a": {"colour": "red"}}}, "columns.a.colour: unknown key"),
        ({"columns": {"a": {"min": "zero"}}}, "columns.a.min: expected a number, found 'zero'"),
        ({"columns": {"a": {"nullable": "yes"}}}, "columns.a.nullable: expected a valid boolean"),
        ({"columns": {"a": {"quantiles": {2: {"max": 1}}}}}, "columns.a.quantiles.2"),
        ({"columns": {"a": {"type": "date", "min": "June"}}}, "expected an ISO date"),
        ({"columns": {"a": {"mean": {}}}}, "columns.a.mean: expected {min: N, max: N}"),
        ({"version": 2, "columns": {"a": {}}}, "version: expected 1, found 2"),
        (["a"], "must be a mapping with a 'columns' key"),
        (
            {"rows": {"minimum": 3}, "columns": {"a": {}}},
            "rows.minimum: unknown key; did you mean min?",  # as rig.toml's keys
        ),
        (
            {"rows": {"colour": 3}, "columns": {"a": {}}},
            "rows.colour: unknown key; known: max, min",
        ),
        ({"columns": {}}, "'columns' must map"),
        ({"rows": {"min": "many"}, "columns": {"a": {}}}, "rows"),
    ],
)
def test_invalid_contracts_name_the_key(body: dict, where: str) -> None:
    with pytest.raises(InvalidContract) as info:
        contract_from_dict(body, where="c.yaml")
    assert where in info.value.message


def test_a_contract_file_that_is_not_yaml(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("columns: [a, b\n")
    with pytest.raises(InvalidContract, match="not valid YAML at line"):
        load_contract(tmp_path / "c.yaml")
    with pytest.raises(InvalidContract, match="does not exist"):
        load_contract(tmp_path / "none.yaml")


def test_no_tables_to_check(lab, tmp_path: Path) -> None:
    write(tmp_path / "d" / "x.txt", "not a table")
    add(lab, tmp_path / "d", name="text")
    with pytest.raises(NotFound, match="holds no tabular file"):
        infer_contract(lab, "text")


# -- profiles ----------------------------------------------------------------------------------


def test_profile_is_exact_on_small_tables_and_renders_html(table_lab) -> None:
    lab, df, _tmp = table_lab
    prof = profile(lab, "users@1")
    assert prof.rows == N and prof.files == ["users.csv"]
    age = prof.column("age")
    assert age.mean == pytest.approx(df["age"].mean())
    assert age.std == pytest.approx(df["age"].std(ddof=0))
    assert age.distinct == df["age"].nunique() and not age.approximate
    assert sum(age.histogram) == N and len(age.bin_edges) == len(age.histogram) + 1
    assert age.quantiles["0.5"] == pytest.approx(df["age"].quantile(0.5))
    plan = prof.column("plan")
    assert plan.top == df["plan"].value_counts().to_dict() and plan.histogram == []
    page = render_html(prof)
    assert page.count("<svg") == 5 and "users@1" in page
    assert len(sparkline(age.histogram)) == len(age.histogram)


def test_profile_samples_large_columns_uniformly() -> None:
    import pyarrow as pa

    values = np.arange(100_000, dtype=np.float64)
    batches = [pa.record_batch({"v": values[i : i + 10_000]}) for i in range(0, 100_000, 10_000)]
    (col,) = TableProfiler(sample_size=5_000).fit(batches).result()[1]
    assert col.approximate and col.count == 100_000
    assert col.mean == pytest.approx(values.mean())  # exact, not sampled
    assert col.quantiles["0.5"] == pytest.approx(50_000, rel=0.05)
    assert abs(sum(col.histogram) - 100_000) < 100


def test_an_unfitted_profiler_says_what_to_call() -> None:
    with pytest.raises(NotFittedError, match=r"call TableProfiler\.fit"):
        TableProfiler().result()


def test_timestamps_in_contracts_accept_iso_text(lab, tmp_path: Path) -> None:
    write(tmp_path / "d" / "t.csv", "when\n2024-01-01T00:00:00\n2024-06-01T00:00:00\n")
    add(lab, tmp_path / "d", name="t")
    ok = contract_from_dict({"columns": {"when": {"type": "timestamp", "min": "2023-12-31"}}})
    assert check(lab, "t", ok).passed
    late = contract_from_dict(
        {"columns": {"when": {"type": "timestamp", "min": dt.date(2024, 3, 1).isoformat()}}}
    )
    (f,) = check(lab, "t", late).failures
    assert f.check == "when: range" and f.failing_rows == 1 and f.examples[0]["row"] == 1


def test_unique_ignores_nulls_and_a_missing_column_still_counts_rows(lab, tmp_path: Path) -> None:
    write(tmp_path / "src" / "t.csv", "id,v\n1,a\n,b\n,c\n2,d\n")
    add(lab, tmp_path / "src", name="u")
    spec = contract_from_dict({"columns": {"id": {"unique": True}}})
    report = check(lab, "u", spec, store=False)
    assert report.passed, report.failures
    spec = contract_from_dict({"rows": {"min": 4}, "columns": {"nope": {"nullable": True}}})
    report = check(lab, "u", spec, store=False)
    assert report.rows == 4
    assert [f.check for f in report.failures] == ["nope: present"]


def test_nanosecond_timestamps_are_checked(lab, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "src"
    src.mkdir()
    ts = pa.array([1_700_000_000_123_456_789, 1_700_000_001_000_000_001], pa.timestamp("ns"))
    pq.write_table(pa.table({"t": ts}), src / "t.parquet")
    add(lab, src, name="ns")
    spec = contract_from_dict({"columns": {"t": {"type": "timestamp", "min": "2023-01-01"}}})
    assert check(lab, "ns", spec, store=False).passed
