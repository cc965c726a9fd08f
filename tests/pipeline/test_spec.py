"""rig.yaml: stages as written, foreach/matrix, and a located error for each mistake."""

from __future__ import annotations

import pytest

from rigml.errors import InvalidPipeline, PipelineNotFound
from rigml.pipeline import load_pipeline

from .conftest import Project


def _error(project: Project, text: str) -> InvalidPipeline:
    project.pipeline(text)
    with pytest.raises(InvalidPipeline) as info:
        load_pipeline()
    return info.value


def test_a_stage_reads_as_written_with_paths_relative_to_the_project(project: Project) -> None:
    project.write("src/params.yaml", "train:\n  lr: 0.1\n")
    project.write("src/in.csv", "x\n")
    project.pipeline(
        """
        name: churn
        stages:
          train:
            cmd: [python a.py, python b.py]
            wdir: src
            deps: [in.csv, "data:iris"]
            params: [train.lr]
            outs: [../model.pkl]
            metrics: [m.json]
            resources: {cpus: 2, gpus: 1, memory: 8GiB}
            desc: fit the model
            gates: [{metric: acc, op: ">=", value: 0.9}]
        """
    )
    p = load_pipeline()
    stage = p.stages["train"]
    assert p.name == "churn"
    assert stage.cmd == ("python a.py", "python b.py")
    assert stage.deps == ("src/in.csv",)
    assert stage.data == ("iris@latest",)
    assert stage.params == {"src/params.yaml": ("train.lr",)}
    assert stage.outs == ("model.pkl", "src/m.json")
    assert stage.metrics == ("src/m.json",)
    assert stage.resources == {"cpus": 2.0, "gpus": 1, "memory": "8GiB"}
    assert stage.later == {"gates": [{"metric": "acc", "op": ">=", "value": 0.9}]}
    assert [g.text for g in stage.gates] == ["metrics.acc >= 0.9"]


def test_foreach_list_mapping_and_matrix_stamp_out_stages(project: Project) -> None:
    project.pipeline(
        """
        stages:
          fit:
            foreach: [cnn, xgb]
            do:
              cmd: python fit.py ${item}
              outs: ["model-${item}.pkl"]
          score:
            foreach:
              small: {rows: 10}
              big: {rows: 1000}
            do:
              cmd: python score.py --rows ${item.rows} --name ${key}
              outs: ["score-${key}.json"]
          sweep:
            matrix:
              lr: [0.1, 0.01]
              depth: [2, 4]
            cmd: python sweep.py ${item.lr} ${item.depth}
            outs: ["sweep/${item.lr}-${item.depth}"]
        """
    )
    stages = load_pipeline().stages
    assert list(stages) == [
        "fit@cnn",
        "fit@xgb",
        "score@small",
        "score@big",
        "sweep@0.1-2",
        "sweep@0.1-4",
        "sweep@0.01-2",
        "sweep@0.01-4",
    ]
    assert stages["fit@xgb"].outs == ("model-xgb.pkl",)
    assert stages["score@big"].cmd == ("python score.py --rows 1000 --name big",)
    assert stages["sweep@0.01-4"].outs == ("sweep/0.01-4",)


def test_unknown_key_is_located_with_a_did_you_mean(project: Project) -> None:
    err = _error(project, "stages:\n  train:\n    cmd: x\n    out: [m]\n")
    assert err.line == 4
    assert "stages.train.out" in err.message
    assert "did you mean 'outs'" in err.message


def test_a_missing_cmd_and_a_wrong_type_are_located(project: Project) -> None:
    assert (
        "stages.train.cmd: missing" in _error(project, "stages:\n  train:\n    outs: [m]\n").message
    )
    err = _error(project, "stages:\n  train:\n    cmd: x\n    outs: 3\n")
    assert "stages.train.outs" in err.message and err.line == 4


def test_a_cycle_is_named(project: Project) -> None:
    err = _error(
        project,
        """
        stages:
          a: {cmd: x, deps: [c.txt], outs: [a.txt]}
          b: {cmd: x, deps: [a.txt], outs: [b.txt]}
          c: {cmd: x, deps: [b.txt], outs: [c.txt]}
        """,
    )
    assert "cycle: a -> b -> c -> a" in err.message


def test_two_stages_writing_one_output(project: Project) -> None:
    err = _error(
        project,
        """
        stages:
          a: {cmd: x, outs: [data]}
          b: {cmd: x, outs: [data/part.csv]}
        """,
    )
    assert "'data/part.csv' is an output of 'b'" in err.message
    assert "stage 'a' writes 'data'" in err.message
    assert err.line == 4


def test_a_dep_nobody_produces_must_exist(project: Project) -> None:
    err = _error(project, "stages:\n  a:\n    cmd: x\n    deps: [nowhere.csv]\n")
    assert "dep 'nowhere.csv' does not exist and no stage has it in its outs" in err.message
    assert err.line == 4


def test_a_param_key_must_be_in_the_params_file(project: Project) -> None:
    project.write("params.yaml", "train:\n  lr: 0.1\n")
    err = _error(project, "stages:\n  a:\n    cmd: x\n    params: [train.epochs]\n")
    assert "param 'train.epochs' is not in params.yaml" in err.message
    err = _error(project, "stages:\n  a:\n    cmd: x\n    params: [{other.yaml: [k]}]\n")
    assert "params file 'other.yaml' does not exist" in err.message


def test_bad_foreach_variable_path_and_yaml(project: Project) -> None:
    err = _error(project, "stages:\n  a:\n    foreach: [1]\n    do:\n      cmd: echo ${itm}\n")
    assert "unknown variable ${itm}" in err.message
    assert "leaves the project" in _error(project, "stages:\n  a: {cmd: x, outs: [../o]}\n").message
    err = _error(project, "stages:\n  a: {cmd: x\n")
    assert "is not valid YAML" in err.message and err.line is not None
    assert "expected a mapping" in _error(project, "- just a list\n").message


def test_no_rig_yaml(project: Project) -> None:
    with pytest.raises(PipelineNotFound, match=r"no rig\.yaml"):
        load_pipeline()


def test_unknown_keys_at_the_top_and_in_resources(project: Project) -> None:
    err = _error(project, "stage:\n  a: {cmd: x}\n")
    assert "unknown key 'stage'; did you mean 'stages'?" in err.message and err.line == 1
    err = _error(project, "stages:\n  a:\n    cmd: x\n    resources: {gpu: 1}\n")
    assert "stages.a.resources.gpu: unknown key 'gpu'; did you mean 'gpus'?" in err.message
