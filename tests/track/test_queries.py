"""Reading runs back: references by id prefix or name, sort validation, time filters."""

from __future__ import annotations

import time
import types
from collections.abc import Iterator

import pytest

from rigml.errors import InvalidQuery, InvalidSortSpec, RunNotFound
from rigml.track.queries import get_run, list_runs, resolve_run_id
from rigml.track.runs import start_run

QUIET = {
    "capture_git": False,
    "capture_environment": False,
    "capture_machine": False,
    "system_metrics": False,
}


def _fixed_ids(monkeypatch: pytest.MonkeyPatch, *ids: str) -> None:
    """The next runs get these ids (32 hex characters, padded), in order."""
    it: Iterator[str] = iter(i.ljust(32, "0") for i in ids)
    fake = types.SimpleNamespace(uuid4=lambda: types.SimpleNamespace(hex=next(it)))
    monkeypatch.setattr("rigml.track.runs.uuid", fake)


@pytest.fixture
def lab(any_lab):
    """The tests below run on SQLite and, when RIG_TEST_PG_URL is set, PostgreSQL."""
    return any_lab


@pytest.fixture
def named(lab, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Runs with known ids: name -> id."""
    _fixed_ids(monkeypatch, "abc1", "abd2", "f3", "c4", "c5")
    out = {}
    for name in ("alpha", "beta", "gamma", "twin", "twin"):
        with start_run(lab, name=name, **QUIET) as run:
            pass
        out.setdefault(name, run.id)
    return out


def test_short_unique_prefixes_resolve(lab, named: dict[str, str]) -> None:
    assert resolve_run_id(lab, "f") == named["gamma"]
    assert resolve_run_id(lab, "abc") == named["alpha"]
    assert resolve_run_id(lab, " ABD ") == named["beta"]
    assert resolve_run_id(lab, named["beta"]) == named["beta"]
    assert get_run(lab, "f").name == "gamma"


def test_names_resolve(lab, named: dict[str, str]) -> None:
    assert resolve_run_id(lab, "beta") == named["beta"]
    assert get_run(lab, "alpha").id == named["alpha"]


def test_an_ambiguous_prefix_lists_the_candidates(lab, named: dict[str, str]) -> None:
    with pytest.raises(RunNotFound) as info:
        resolve_run_id(lab, "ab")
    message = info.value.message
    assert message.startswith("run 'ab' matches 2 runs: ")
    day = time.strftime("%Y-%m-%d")
    assert f"abd200000000 beta (started {day}" in message
    assert f"abc100000000 alpha (started {day}" in message
    assert "more characters" in (info.value.hint or "")
    assert len(info.value.candidates) == 2


def test_a_name_several_runs_share_is_ambiguous(lab, named: dict[str, str]) -> None:
    with pytest.raises(RunNotFound, match=r"run 'twin' matches 2 runs: ") as info:
        resolve_run_id(lab, "twin")
    assert "c50000000000 twin (started" in info.value.message
    assert "c40000000000 twin (started" in info.value.message


def test_many_candidates_are_counted(lab, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed_ids(monkeypatch, *(f"e{i}" for i in range(7)))
    for _ in range(7):
        with start_run(lab, **QUIET):
            pass
    with pytest.raises(RunNotFound) as info:
        resolve_run_id(lab, "e")
    assert "matches 7 runs" in info.value.message and "; and 2 more" in info.value.message
    assert len(info.value.candidates) == 5


def test_unknown_references(lab, named: dict[str, str]) -> None:
    with pytest.raises(RunNotFound, match="no run with id 'deadbeef'"):
        resolve_run_id(lab, "deadbeef")
    with pytest.raises(RunNotFound, match="no run named 'delta'") as info:
        resolve_run_id(lab, "delta")
    assert "run name" in (info.value.hint or "")
    with pytest.raises(RunNotFound):
        resolve_run_id(lab, "   ")


def test_a_bad_sort_key_fails_in_the_service(lab, named: dict[str, str]) -> None:
    with pytest.raises(InvalidSortSpec) as info:
        list_runs(lab, sort="bogus")
    assert "unknown sort key 'bogus'" in info.value.message
    assert "valid keys: id, name, status" in info.value.message
    assert isinstance(info.value, InvalidQuery) and isinstance(info.value, ValueError)
    assert [r.name for r in list_runs(lab, sort="name", limit=2)] == ["alpha", "beta"]


def test_time_and_duration_filters_on_a_lab(lab) -> None:
    with start_run(lab, name="old", **QUIET) as run:
        pass
    today = time.strftime("%Y-%m-%d")
    assert [r.id for r in list_runs(lab, where=f"start_time >= {today}")] == [run.id]
    assert list_runs(lab, where="start_time < 2000-01-01T00:00") == []
    assert [r.id for r in list_runs(lab, where="duration < 10m")] == [run.id]
    assert list_runs(lab, where="duration > 1d") == []
