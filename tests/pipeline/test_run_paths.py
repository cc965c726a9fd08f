"""The fast paths of ``rig run``: stages in parallel on a new lab, and nothing to do."""

from __future__ import annotations

from rigml.pipeline import load_pipeline, run_pipeline
from rigml.track.queries import list_runs

from .conftest import Project


def _independent(project: Project, n: int) -> None:
    project.write("in.txt", "x\n")
    stages = "\n".join(
        f"  s{i}:\n    cmd: cp in.txt o{i}.txt\n    deps: [in.txt]\n    outs: [o{i}.txt]"
        for i in range(n)
    )
    project.pipeline("stages:\n" + stages + "\n")


def test_many_parallel_stages_on_a_new_lab_share_its_stat_cache(project: Project) -> None:
    # each stage opens the lab's stat cache; threads creating it at once used to get
    # SQLite's "database is locked"
    _independent(project, 24)
    report = run_pipeline(project.lab, load_pipeline(), jobs=8)
    assert {s.action for s in report.stages} == {"ran"}


def test_a_run_with_nothing_to_do_reports_each_stage_and_starts_no_run(
    project: Project,
) -> None:
    _independent(project, 3)
    run_pipeline(project.lab, load_pipeline(), jobs=2)
    project.age("in.txt", "o0.txt", "o1.txt", "o2.txt")
    before = len(list_runs(project.lab))
    seen: list[str] = []
    report = run_pipeline(
        project.lab, load_pipeline(), jobs=2, on_result=lambda r: seen.append(r.name)
    )
    assert [(s.name, s.action) for s in report.stages] == [
        ("s0", "up to date"),
        ("s1", "up to date"),
        ("s2", "up to date"),
    ]
    assert sorted(seen) == ["s0", "s1", "s2"]
    assert len(list_runs(project.lab)) == before


def test_the_stage_runs_of_one_rig_run_share_one_capture(project: Project) -> None:
    _independent(project, 3)
    run_pipeline(project.lab, load_pipeline(), jobs=2)
    runs = list_runs(project.lab)
    envs = {r.env_object for r in runs}
    assert len(runs) == 3 and len(envs) == 1 and None not in envs
