"""The --where / --sort language, run against a real database (SQLite; PostgreSQL if set)."""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from rigml.errors import InvalidQuery, InvalidSortSpec
from rigml.store.schema import experiments, latest_metrics, metadata, params, runs, tags
from rigml.track._where import compile_sort, compile_where

PG_URL = os.environ.get("RIG_TEST_PG_URL")
NAN, INF = math.nan, math.inf

# id: (experiment, name, status, start, end, host, user, git_commit, git_branch)
RUNS: dict[str, tuple[Any, ...]] = {
    "r1": ("mnist", "brisk-otter-1", "finished", 1000, 1100, "gpu-a", "alice", "abc123", "main"),
    "r2": ("mnist", "calm-yak-2", "finished", 2000, 2300, "gpu-a", "bob", "abc124", "main"),
    "r3": ("mnist", "eager-seal-3", "failed", 3000, 3010, "gpu-b", "alice", "def456", "feature/x"),
    "r4": ("cifar", "glad-tern-4", "running", 4000, None, "gpu-b", None, None, None),
    "r5": ("cifar", "keen-lynx-5", "finished", 5000, 5600, "gpu-a", "carol", "7e57ab1", "main"),
    "r6": ("cifar", "lucid-orca-6", "killed", 6000, 6050, "gpu-b", "bob", "1234567", "main"),
    "r7": ("cifar", "merry-newt-7", "finished", 7000, 7200, "gpu-a", "alice", "fff000", "dev"),
    "r8": ("mnist", "quiet-ibis-8", "finished", 8000, 8900, "gpu-c", "dave", "abc999", "main"),
}
# latest value per run; NaN is stored as NULL, as the writer does
METRICS: dict[str, dict[str, float]] = {
    "acc": {"r1": 0.91, "r2": 0.95, "r3": NAN, "r4": 0.5, "r5": 0.97, "r6": 0.8, "r8": 0.99},
    "loss": {"r1": 0.3, "r2": 0.2, "r3": INF, "r4": -0.5, "r5": 0.1, "r6": 0.25, "r7": 1.0},
    "sys/cpu_percent": {"r1": 50, "r2": 80, "r5": 95},
    "val.loss": {"r1": 0.4, "r2": 0.35},
    "weird key": {"r3": 1.0, "r8": 2.0},
}
PARAMS: dict[str, dict[str, Any]] = {
    "lr": {"r1": 0.01, "r2": 0.001, "r3": 0.01, "r4": 0.1, "r5": 1e-4, "r6": "0.01", "r8": 0.01},
    "optimizer": {
        "r1": "adam",
        "r2": "sgd",
        "r3": "adam",
        "r4": "AdamW",
        "r5": "sgd",
        "r6": "adam",
        "r8": "rmsprop",
    },
    "use_amp": {"r1": True, "r2": False, "r5": True},
    "epochs": {"r1": 10, "r2": 20, "r3": 10, "r4": 5},
    "layers": {"r6": [64, 32]},
    "model/name": {"r1": "resnet-50", "r2": "resnet-101", "r5": "vit_b", "r6": "vitxb"},
    "pct": {"r3": "1000", "r7": "100%"},
    "score": {"r5": 0.5, "r8": NAN},
    "city": {"r4": "Zürich"},
}
TAGS: dict[str, dict[str, str]] = {
    "team": {"r1": "nlp", "r2": "vision", "r3": "nlp", "r5": "Vision", "r6": "nlp"},
    "release/candidate": {"r2": "yes"},
    "priority": {"r1": "2", "r2": "10"},
    "note": {"r4": 'it\'s "quoted"'},
}

ALL = set(RUNS)


def _ids(*numbers: int) -> set[str]:
    return {f"r{n}" for n in numbers}


WHERE_CASES: list[tuple[str, set[str]]] = [
    ("", ALL),
    ("   ", ALL),
    # metrics: NaN (NULL), inf, negative numbers, odd keys
    ("metrics.acc > 0.9", _ids(1, 2, 5, 8)),
    ("metrics.acc >= 0.95", _ids(2, 5, 8)),
    ("metrics.acc = nan", _ids(3)),
    ("metrics.acc != nan", _ids(1, 2, 4, 5, 6, 8)),
    ("metrics.acc != 0.95", _ids(1, 3, 4, 5, 6, 8)),
    ("metrics.acc in (0.91, nan)", _ids(1, 3)),
    ("metrics.acc not in (0.91, NaN)", _ids(2, 4, 5, 6, 8)),
    ("metrics.acc is null", _ids(7)),
    ("metrics.acc is not null", ALL - _ids(7)),
    ("metrics.loss = inf", _ids(3)),
    ("metrics.loss > 1e9", _ids(3)),
    ("metrics.loss < 0", _ids(4)),
    ("metrics.loss=-0.5", _ids(4)),
    ("metrics.loss > -inf", _ids(1, 2, 3, 4, 5, 6, 7)),
    ("metrics.sys/cpu_percent >= 80", _ids(2, 5)),
    ("metrics.val.loss < 0.38", _ids(2)),
    ("metrics.`weird key` > 1.5", _ids(8)),
    # boolean structure: and binds tighter than or; not; parentheses; keyword case
    ("metrics.acc > 0.9 and params.optimizer = 'sgd' or tags.team = 'nlp'", _ids(1, 2, 3, 5, 6)),
    ("metrics.acc > 0.9 and (params.optimizer = sgd or tags.team = nlp)", _ids(1, 2, 5)),
    ("metrics.acc > 0.9 or metrics.loss < 0 and tags.team = nlp", _ids(1, 2, 5, 8)),
    ("(metrics.acc > 0.9 or metrics.loss < 0) and tags.team = nlp", _ids(1)),
    ("not metrics.acc > 0.9", _ids(3, 4, 6, 7)),
    ("NOT (metrics.acc > 0.9 OR metrics.acc < 0.6)", _ids(3, 6, 7)),
    ("not not metrics.acc > 0.9", _ids(1, 2, 5, 8)),
    ("Metrics.acc > 0.9 AND Params.optimizer = adam", _ids(1)),
    # params: numbers through params.num, strings and booleans as JSON text
    ("params.lr = 0.01", _ids(1, 3, 8)),
    ("params.lr = '0.01'", _ids(6)),
    ("params.lr < 0.005", _ids(2, 5)),
    ("params.lr == 1e-4", _ids(5)),
    ("params.lr <> 0.01", _ids(2, 4, 5, 6)),
    ("params.lr is null", _ids(7)),
    ("params.optimizer = adam", _ids(1, 3, 6)),
    ('params.optimizer = "adam"', _ids(1, 3, 6)),
    ("params.optimizer in (adam, 'sgd')", _ids(1, 2, 3, 5, 6)),
    ("params.optimizer not in (adam, sgd)", _ids(4, 8)),
    ("params.optimizer like 'adam%'", _ids(1, 3, 4, 6)),
    ("params.optimizer NOT LIKE 'adam%'", _ids(2, 5, 8)),
    ("params.optimizer > 'r'", _ids(2, 5, 8)),
    ("params.use_amp = true", _ids(1, 5)),
    ("params.use_amp = FALSE", _ids(2)),
    ("params.use_amp != true", _ids(2)),
    ("params.epochs >= 10 and params.epochs <= 10", _ids(1, 3)),
    ("params.layers is not null", _ids(6)),
    ("params.model/name like resnet-%", _ids(1, 2)),
    ("params.`model/name` = 'vit_b'", _ids(5)),
    ("params.model/name like 'vit_b'", _ids(5, 6)),
    ("params.model/name like 'vit\\_b'", _ids(5)),
    ("params.pct like '100%'", _ids(3, 7)),
    ("params.pct like '100\\%'", _ids(7)),
    ("params.score > 0.1", _ids(5)),
    ("params.score = nan", _ids(8)),
    ("params.score != nan", _ids(5)),
    ("params.city = Zürich", _ids(4)),
    ("params.city like 'zü%'", _ids(4)),
    # tags: text
    ("tags.team = nlp", _ids(1, 3, 6)),
    ("tags.team != nlp", _ids(2, 5)),
    ("tags.team like 'VIS%'", _ids(2, 5)),
    ("tags.`release/candidate` = yes", _ids(2)),
    ("tags.release/candidate is not null", _ids(2)),
    ("tags.note = 'it\\'s \"quoted\"'", _ids(4)),
    ("tags.priority = 10", _ids(2)),
    ("tags.priority in (2, 10)", _ids(1, 2)),
    # run attributes
    ("duration > 200", _ids(2, 5, 8)),
    ("duration is null", _ids(4)),
    ("end_time > 6000", _ids(6, 7, 8)),
    ("start_time >= 5000 and start_time < 7000", _ids(5, 6)),
    ("experiment = cifar", _ids(4, 5, 6, 7)),
    ("experiment = mnist and status = finished", _ids(1, 2, 8)),
    ("status in (failed, killed)", _ids(3, 6)),
    ("user is null", _ids(4)),
    ("user != alice", _ids(2, 5, 6, 8)),
    ("git_branch = feature/x", _ids(3)),
    ("git_commit like 'abc%'", _ids(1, 2, 8)),
    ("git_commit = 1234567", _ids(6)),
    ("name = 'keen-lynx-5'", _ids(5)),
    ("id in (r1, r2)", _ids(1, 2)),
    ("host like gpu-_ and not host = gpu-a", _ids(3, 4, 6, 8)),
    # times: dates (local midnight), ISO datetimes quoted or not, with a zone or without
    ("start_time > 1970-01-02", set()),
    ("start_time > 1969-12-31", ALL),
    ("start_time >= 1970-01-01T01:23:20Z", _ids(5, 6, 7, 8)),
    ("start_time < '1970-01-01 02:00:00Z'", _ids(1, 2, 3, 4, 5, 6, 7)),
    ("start_time < 1970-01-01 02:00:00+00:00", _ids(1, 2, 3, 4, 5, 6, 7)),
    ("start_time >= 1970-01-01T01:23:20+00:00 and end_time < 1970-01-01T02:00Z", _ids(5, 6)),
    ("start_time in (1970-01-01T00:16:40Z, 2000)", _ids(1, 2)),
    ("start_time > '3000'", _ids(4, 5, 6, 7, 8)),
    ("end_time is null or end_time < 1970-01-01 00:30Z", _ids(1, 4)),
    # durations: a bare number is seconds
    ("duration > 4m", _ids(2, 5, 8)),
    ("duration >= 10m", _ids(5, 8)),
    ("duration < 1.5m", _ids(3, 6)),
    ("duration > 0.1h", _ids(5, 8)),
    ("duration <= 1m 40s", _ids(1, 3, 6)),
    ("duration <= '1m 40s'", _ids(1, 3, 6)),
    ("duration in (100s, 5m)", _ids(1, 2)),
    ("duration < 1d", ALL - _ids(4)),
    ("duration > 90s and duration < 250", _ids(1, 7)),
    ("duration >= 15M", _ids(8)),
]

ERROR_CASES: list[tuple[str, str]] = [
    ("metrics.acc >", "expected a value after '>' at column 14, but the filter ends there"),
    ("metrics.acc > and x", "expected a value after '>' at column 15, found 'and'"),
    ("metrics.acc > 'high'", "metric 'acc' is a number and cannot be compared with the string"),
    ("metrics.acc = true", "metric 'acc' is a number"),
    ("acc > 0.9", "unknown field 'acc' at column 1; use metrics.acc, params.acc or tags.acc"),
    ("foo.bar = 1", "unknown field 'foo.bar'"),
    ("(metrics.acc > 0.9", "unbalanced parentheses: '(' at column 1 is never closed"),
    ("metrics.acc > 0.9)", "unbalanced parentheses: ')' at column 18 has no '('"),
    ("(metrics.acc > 0.9 tags.x = 1", "expected ')' (for '(' at column 1)"),
    ("metrics. > 1", "empty key after 'metrics.' at column 1"),
    ("metrics.`` > 1", "empty key after 'metrics.'"),
    ("params > 1", "empty key after 'params.'"),
    ("params.x = 'abc", "unterminated string starting at column 12"),
    ("metrics.`abc > 1", "unterminated backquoted key starting at column 9"),
    ("`metrics.acc` > 1", "backquote only the key"),
    ("metrics.acc ! 0.9", "unexpected character '!' at column 13"),
    ("metrics.acc between 1", "expected an operator (=, !=, <, <=, >, >=, like, in, is null)"),
    ("metrics.acc > 0.9 and", "expected a comparison such as metrics.acc > 0.9 at column 22"),
    ("and metrics.acc > 1", "expected a comparison such as metrics.acc > 0.9 at column 1"),
    ("metrics.acc > 0.9 metrics.loss < 1", "expected 'and', 'or' or the end of the filter"),
    ("params.x in ()", "expected a value after '(' at column 14, found ')'"),
    ("params.x in (1, 2", "expected ',' or ')' in the list"),
    ("params.x in 1", "expected '(' after 'in'"),
    ("params.x not = 1", "expected 'like' or 'in' after 'not'"),
    ("params.x is 1", "expected 'null' after 'is'"),
    ("params.x = null", "write 'is null' or 'is not null'"),
    ("start_time > yesterday", "start_time is in epoch seconds"),
    ("metrics.acc like '0.9%'", "'like' matches text, but metrics.acc is a number"),
    ("params.use_amp > true", "cannot order params.use_amp by the boolean true"),
    ("tags.priority > 2", "tags.priority is text"),
    ("start_time > 2026-13-45", "start_time is in epoch seconds or a date/time, and the string"),
    ("end_time < true", "end_time is in epoch seconds or a date/time, and the boolean true"),
    ("start_time > 2026-11-01 noon", "expected 'and', 'or' or the end of the filter at column 25"),
    ("duration > soon", "duration is in seconds, and the string 'soon' at column 12 is not a"),
    ("duration > 10 minutes", "expected 'and', 'or' or the end of the filter at column 15"),
    ("duration like '1%'", "'like' matches text, but duration is a number"),
]

SORT_CASES: list[tuple[str, list[str]]] = [
    ("-metrics.acc", ["r8", "r5", "r2", "r1", "r6", "r4", "r3", "r7"]),
    ("metrics.acc desc", ["r8", "r5", "r2", "r1", "r6", "r4", "r3", "r7"]),
    ("metrics.acc", ["r4", "r6", "r1", "r2", "r5", "r8", "r3", "r7"]),
    ("metrics.acc ASC", ["r4", "r6", "r1", "r2", "r5", "r8", "r3", "r7"]),
    ("experiment, -metrics.acc", ["r5", "r6", "r4", "r7", "r8", "r2", "r1", "r3"]),
    ("params.lr", ["r5", "r2", "r1", "r3", "r8", "r4", "r6", "r7"]),
    ("-params.lr", ["r4", "r1", "r3", "r8", "r2", "r5", "r6", "r7"]),
    ("duration desc", ["r8", "r5", "r2", "r7", "r1", "r6", "r3", "r4"]),
    ("-start_time", ["r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1"]),
    ("tags.priority", ["r2", "r1", "r3", "r4", "r5", "r6", "r7", "r8"]),
    ("- metrics.`weird key`", ["r8", "r3", "r1", "r2", "r4", "r5", "r6", "r7"]),
    ("-metrics.`weird key`", ["r8", "r3", "r1", "r2", "r4", "r5", "r6", "r7"]),
    ("+params.model/name", ["r2", "r1", "r5", "r6", "r3", "r4", "r7", "r8"]),
    ("", ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]),
]

SORT_ERRORS: list[tuple[str, str]] = [
    ("metrics.acc sideways", "expected ',', 'asc' or 'desc' at column 13, found 'sideways'"),
    ("acc", "unknown sort key 'acc' at column 1; valid keys: id, name, status, experiment, "),
    ("bogus", "cannot sort by 'bogus': unknown sort key 'bogus'"),
    ("name, foo.bar", "unknown sort key 'foo.bar' at column 7; valid keys: "),
    ("metrics.acc ! 1", "unexpected character '!' at column 13"),
    ("metrics.acc,,name", "expected a field such as metrics.acc at column 13, found ','"),
    ("metrics.acc,", "expected a field such as metrics.acc at column 13, but the sort spec ends"),
    ("-metrics.acc asc", "'asc' at column 14 contradicts the sign before 'metrics.acc'"),
    ("+name desc", "'desc' at column 7 contradicts the sign before 'name'"),
]


def _param_row(run_id: str, key: str, value: Any) -> dict[str, Any]:
    encoded = json.dumps(value, sort_keys=True)  # as rigml.track.runs stores params
    number = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    )
    return {"run_id": run_id, "key": key, "value": encoded, "num": number}


def _populate(engine: Engine) -> None:
    metadata.create_all(engine)
    exp_ids = {"mnist": 1, "cifar": 2}
    with engine.begin() as conn:
        conn.execute(
            insert(experiments),
            [{"id": i, "name": n, "created_at": 0.0} for n, i in exp_ids.items()],
        )
        conn.execute(
            insert(runs),
            [
                {
                    "id": run_id,
                    "experiment_id": exp_ids[exp],
                    "name": name,
                    "status": status,
                    "start_time": start,
                    "end_time": end,
                    "heartbeat": start,
                    "host": host,
                    "pid": 1,
                    "pid_start": 0.0,
                    "user": user,
                    "git_commit": commit,
                    "git_branch": branch,
                }
                for run_id, (exp, name, status, start, end, host, user, commit, branch) in (
                    RUNS.items()
                )
            ],
        )
        conn.execute(
            insert(latest_metrics),
            [
                {
                    "run_id": run_id,
                    "key": key,
                    "step": 10,
                    "value": None if math.isnan(value) else value,
                    "time": 0.0,
                    "count": 11,
                }
                for key, values in METRICS.items()
                for run_id, value in values.items()
            ],
        )
        conn.execute(
            insert(params),
            [_param_row(r, k, v) for k, values in PARAMS.items() for r, v in values.items()],
        )
        conn.execute(
            insert(tags),
            [
                {"run_id": r, "key": k, "value": v}
                for k, values in TAGS.items()
                for r, v in values.items()
            ],
        )


def _postgres_engine() -> Iterator[Engine]:
    """A uniquely named PostgreSQL database for this module, dropped afterwards."""
    if not PG_URL:
        pytest.skip(
            "RIG_TEST_PG_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
        )
    name = f"rigtest_where_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(PG_URL).set(database=name))
    try:
        _populate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "postgres":
        yield from _postgres_engine()
        return
    eng = create_engine(f"sqlite:///{tmp_path_factory.mktemp('where') / 'store.db'}")
    _populate(eng)
    yield eng
    eng.dispose()


def _select(engine: Engine, *, where: str = "", sort: str = "") -> list[str]:
    stmt = (
        select(runs.c.id)
        .select_from(runs.join(experiments, runs.c.experiment_id == experiments.c.id))
        .where(compile_where(where))
        .order_by(*compile_sort(sort), runs.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


@pytest.mark.parametrize(("query", "expected"), WHERE_CASES, ids=[q for q, _ in WHERE_CASES])
def test_filter_selects_the_expected_runs(engine: Engine, query: str, expected: set[str]) -> None:
    assert set(_select(engine, where=query)) == expected


@pytest.mark.parametrize(("spec", "expected"), SORT_CASES, ids=[s for s, _ in SORT_CASES])
def test_sort_orders_runs_with_missing_values_last(
    engine: Engine, spec: str, expected: list[str]
) -> None:
    assert _select(engine, sort=spec) == expected


def test_filter_and_sort_combine(engine: Engine) -> None:
    got = _select(engine, where="experiment = mnist and metrics.acc != nan", sort="-metrics.acc")
    assert got == ["r8", "r2", "r1"]


@pytest.mark.parametrize(("query", "message"), ERROR_CASES, ids=[q for q, _ in ERROR_CASES])
def test_malformed_filters_say_what_and_where(query: str, message: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        compile_where(query)
    assert message in info.value.message
    assert info.value.query == query
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("spec", "message"), SORT_ERRORS, ids=[s for s, _ in SORT_ERRORS])
def test_malformed_sort_specs_say_what_and_where(spec: str, message: str) -> None:
    with pytest.raises(InvalidSortSpec) as info:
        compile_sort(spec)
    assert message in info.value.message
    assert "cannot read filter" not in info.value.message
    assert isinstance(info.value, InvalidQuery) and info.value.query == spec


def test_sort_keys_listed_as_valid_are_the_ones_that_sort() -> None:
    with pytest.raises(InvalidSortSpec) as info:
        compile_sort("bogus")
    listed = info.value.message.split("valid keys: ")[1].split(", ")
    for key in listed:
        compile_sort(key.replace("<key>", "k"))  # every listed key is accepted


def test_parse_gives_a_tree_of_frozen_nodes() -> None:
    import dataclasses

    from rigml.track._filter._syntax import And, Compare, Field, IsNull, Not, SortKey, Value
    from rigml.track._where import parse_sort, parse_where

    tree = parse_where("metrics.acc > 0.9 and not params.lr is null")
    assert tree == And(
        (
            Compare(Field("metric", "acc", "metrics.acc", 0), ">", Value("number", "0.9", 14, 0.9)),
            Not(IsNull(Field("param", "lr", "params.lr", 26))),
        )
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.operands = ()  # type: ignore[misc]
    assert parse_sort("-metrics.acc, name") == [
        SortKey(Field("metric", "acc", "metrics.acc", 1), descending=True),
        SortKey(Field("attr", "name", "name", 14)),
    ]


def test_keyed_comparisons_are_correlated_exists_on_the_primary_key() -> None:
    where = compile_where("metrics.acc > 0.9 and params.lr is null")
    sql = str(select(runs.c.id).select_from(runs.join(experiments)).where(where))
    assert "EXISTS (SELECT 1 \nFROM latest_metrics \nWHERE latest_metrics.run_id = runs.id" in sql
    assert "NOT (EXISTS (SELECT 1 \nFROM params \nWHERE params.run_id = runs.id" in sql
    assert "CAST" not in sql.upper()
