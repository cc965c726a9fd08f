"""The top-level ``rigml`` functions: read runs back and act on the active run, nearest lab."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import rigml
from rigml.errors import InvalidInput, MissingExtra, RunNotFound
from rigml.track import api
from rigml.track.runs import NoActiveRun


@pytest.fixture(autouse=True)
def _close_cached_labs() -> Iterator[None]:
    """Labs the nearest-lab lookup opened are closed, so no test keeps another's store."""
    yield
    for lab in api._labs.values():
        lab.close()
    api._labs.clear()


@pytest.fixture
def here(lab, monkeypatch: pytest.MonkeyPatch):
    """The test works inside ``lab``'s folder, so it is the nearest lab."""
    monkeypatch.chdir(lab.path)
    return lab


def _two_runs(quiet: dict[str, bool]) -> tuple[rigml.Run, rigml.Run]:
    with rigml.start_run("churn", params={"lr": 0.1, "opt": "adam"}, **quiet) as a:
        a.log({"loss": 0.5})
    with rigml.start_run("churn", params={"lr": 0.01, "opt": "sgd"}, **quiet) as b:
        b.log({"loss": 0.3})
    return a, b


def test_runs_written_in_the_nearest_lab_are_read_back_there(here, quiet_run_kwargs) -> None:
    a, b = _two_runs(quiet_run_kwargs)
    with rigml.start_run("other", **quiet_run_kwargs):
        pass
    assert rigml.get_run(a.id[:8]).params == {"lr": 0.1, "opt": "adam"}
    found = rigml.search_runs("metrics.loss < 0.4")
    assert isinstance(found, list) and [r.id for r in found] == [b.id]
    ranked = rigml.search_runs(experiment="churn", sort="metrics.loss", limit=1)
    assert [r.id for r in ranked] == [b.id]
    assert len(rigml.search_runs()) == 3
    with pytest.raises(RunNotFound):
        rigml.get_run("ffffffff")


def test_lab_can_be_named_by_path_or_object(lab, tmp_path: Path, quiet_run_kwargs) -> None:
    with rigml.start_run("e", lab=lab.path, **quiet_run_kwargs) as run:
        pass
    assert rigml.get_run(run.id, lab=lab).id == run.id
    assert [r.id for r in rigml.search_runs(lab=str(lab.path))] == [run.id]
    assert api.lab_for(lab.path) is api.lab_for(str(lab.path))  # one Lab per folder
    assert api.lab_for(lab) is lab
    with pytest.raises(rigml.RigError, match="no rig lab"):
        rigml.search_runs()  # the working directory is no lab


def test_search_results_become_a_dataframe(here, quiet_run_kwargs) -> None:
    a, b = _two_runs(quiet_run_kwargs)
    rigml.start_run("churn", **quiet_run_kwargs).set_tags({"team": "nlp"})  # still running
    df = rigml.search_runs(experiment="churn", sort="start_time").to_pandas()
    assert list(df["id"][:2]) == [a.id, b.id]
    assert list(df["params.lr"][:2]) == [0.1, 0.01]
    assert list(df["metrics.loss"][:2]) == [0.5, 0.3]
    assert list(df["status"]) == ["finished", "finished", "running"]
    assert {"params.opt", "tags.team", "duration"} <= set(df.columns)
    rigml.end_run()


def test_search_results_become_an_arrow_table(here, quiet_run_kwargs) -> None:
    _two_runs(quiet_run_kwargs)
    with rigml.start_run("churn", params={"lr": "auto"}, **quiet_run_kwargs):
        pass
    table = rigml.search_runs(sort="start_time").to_arrow()
    assert table.num_rows == 3
    assert table.column("params.lr").to_pylist() == ["0.1", "0.01", '"auto"']  # one type
    assert table.column("metrics.loss").to_pylist() == [0.5, 0.3, None]
    assert str(table.schema.field("start_time").type) == "timestamp[us, tz=UTC]"  # as export
    assert rigml.search_runs("status = running").to_arrow().num_rows == 0


@pytest.mark.parametrize(
    ("method", "module", "extra"),
    [("to_pandas", "pandas", "data"), ("to_arrow", "pyarrow", "parquet")],
)
def test_tables_without_their_library_name_the_extra(
    here, monkeypatch: pytest.MonkeyPatch, method: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` fail
    with pytest.raises(MissingExtra) as info:
        getattr(rigml.search_runs(), method)()
    assert info.value.extra == extra and f"rigml[{extra}]" in (info.value.hint or "")


def test_history_loads_from_an_id_a_runinfo_or_a_live_run(here, quiet_run_kwargs) -> None:
    with rigml.start_run(**quiet_run_kwargs) as run:
        for i in range(3):
            run.log({"loss": 1.0 / (i + 1)})
        live = rigml.load_history(run, "loss")  # flushed first: nothing logged is missed
        assert live.steps.tolist() == [0, 1, 2]
    by_info = rigml.load_history(rigml.get_run(run.id), "loss")
    by_ref = rigml.load_history(run.id[:6], "loss")
    assert by_info.values.tolist() == by_ref.values.tolist() == live.values.tolist()
    with pytest.raises(RunNotFound):
        rigml.load_history("abcdef12", "loss")
    with pytest.raises(InvalidInput):
        rigml.load_history(42, "loss")  # type: ignore[arg-type]


def test_compare_takes_runs_or_refs(here, quiet_run_kwargs) -> None:
    a, b = _two_runs(quiet_run_kwargs)
    cmp = rigml.compare_runs(a, b.id[:8])
    assert [r.id for r in cmp.runs] == [a.id, b.id]
    assert cmp.different_params == ["lr", "opt"]
    assert cmp.metrics == {"loss": [0.5, 0.3]}
    with pytest.raises(InvalidInput):
        rigml.compare_runs()


def test_module_level_calls_act_on_the_active_run(here, tmp_path: Path, quiet_run_kwargs) -> None:
    for call in (
        lambda: rigml.log_params({"lr": 1}),
        lambda: rigml.set_tags({"a": "b"}),
        lambda: rigml.log_artifact(tmp_path),
        rigml.end_run,
    ):
        with pytest.raises(NoActiveRun):
            call()
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    run = rigml.start_run("e", params={"batch": 32}, **quiet_run_kwargs)
    rigml.log_params({"lr": 0.01})
    rigml.set_tags({"stage": "dev"})
    assert rigml.log_artifact(model, name="weights.bin") == ["weights.bin"]
    rigml.log({"loss": 0.2})
    rigml.end_run("killed")
    assert rigml.active_run() is None
    info = rigml.get_run(run.id)
    assert info.status == "killed" and info.metrics == {"loss": 0.2}
    assert info.params == {"batch": 32, "lr": 0.01} and info.tags == {"stage": "dev"}


def test_start_run_capture_options_are_named_alike_in_both_places() -> None:
    from rigml.track.runs import start_run

    top = inspect.signature(rigml.start_run).parameters
    service = inspect.signature(start_run).parameters
    for params in (top, service):
        assert all(p.kind is not p.VAR_KEYWORD for p in params.values())
    options = {n for n in service if n.startswith(("capture_", "system_metrics"))}
    assert options == {
        "capture_git",
        "capture_environment",
        "capture_machine",
        "system_metrics",
        "system_metrics_interval",
    }
    assert options <= set(top)
    assert all(top[n].default is None and service[n].default is None for n in options)


def test_a_system_metrics_interval_given_to_start_run_is_used(here) -> None:
    quiet = {"capture_git": False, "capture_environment": False, "capture_machine": False}
    with rigml.start_run(system_metrics_interval=0.01, **quiet) as run:
        sampler = run._sampler
    assert sampler is not None and sampler.interval == 0.01
