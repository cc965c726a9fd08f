"""rig run's local scheduler honours resources: a fake budget of 4 cores and 2 GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from rigml.errors import InvalidInput
from rigml.pipeline import load_pipeline, run_pipeline
from rigml.pipeline._resources import Budget, Ledger, Need, check_feasible

from .conftest import PY, Project

# `python s.py NAME [PEER]`: NAME.start, then (with PEER) wait until PEER has started too,
# then NAME.end; each holds a time_ns() and the CUDA_VISIBLE_DEVICES it was given
STAMP = """
import os, pathlib, sys, time
name = sys.argv[1]
seen = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
pathlib.Path(name + ".start").write_text(f"{time.time_ns()} {seen}")
if len(sys.argv) > 2:
    peer = pathlib.Path(sys.argv[2] + ".start")
    for _ in range(600):
        if peer.exists():
            break
        time.sleep(0.05)
    else:
        sys.exit(f"{sys.argv[2]} never started beside {name}")
pathlib.Path(name + ".end").write_text(str(time.time_ns()))
"""
BUDGET = Budget(cpus=4.0, gpus=(0, 1), memory=None)


def _stamp(root: Path, name: str, which: str) -> tuple[int, str]:
    stamp, _, seen = (root / f"{name}.{which}").read_text().partition(" ")
    return int(stamp), seen


def _stages(project: Project, body: str) -> None:
    project.write("s.py", STAMP)
    project.pipeline("stages:\n" + body)


def test_two_one_gpu_stages_run_at_once_on_their_own_devices_and_a_third_waits(
    project: Project,
) -> None:
    _stages(
        project,
        f"""
          a: {{cmd: {PY} s.py a b, resources: {{gpus: 1}}}}
          b: {{cmd: {PY} s.py b a, resources: {{gpus: 1}}}}
          c: {{cmd: {PY} s.py c, resources: {{gpus: 1}}}}
        """,
    )
    report = run_pipeline(project.lab, load_pipeline(), jobs=3, budget=BUDGET)
    assert {s.name: s.action for s in report.stages} == {"a": "ran", "b": "ran", "c": "ran"}
    root = project.root
    devices = {_stamp(root, "a", "start")[1], _stamp(root, "b", "start")[1]}
    assert devices == {"0", "1"}  # a and b overlapped (each waited for the other)
    c_start, c_seen = _stamp(root, "c", "start")
    assert c_seen in ("0", "1")
    first_end = min(int((root / f"{n}.end").read_text()) for n in "ab")
    assert c_start >= first_end  # c started only when a GPU was given back


def test_cpus_3_and_cpus_2_on_4_cores_run_one_after_the_other(project: Project) -> None:
    _stages(
        project,
        f"""
          big: {{cmd: {PY} s.py big, resources: {{cpus: 3}}}}
          mid: {{cmd: {PY} s.py mid, resources: {{cpus: 2}}}}
        """,
    )
    run_pipeline(project.lab, load_pipeline(), jobs=2, budget=BUDGET)
    root = project.root
    spans = sorted(
        (_stamp(root, n, "start")[0], int((root / f"{n}.end").read_text())) for n in ("big", "mid")
    )
    assert spans[1][0] >= spans[0][1]


def test_without_gpus_the_devices_are_left_as_they_are_and_gpus_0_hides_them(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    _stages(
        project,
        f"""
          plain: {{cmd: {PY} s.py plain}}
          none: {{cmd: {PY} s.py none, resources: {{gpus: 0}}}}
        """,
    )
    run_pipeline(project.lab, load_pipeline(), jobs=2, budget=BUDGET)
    assert _stamp(project.root, "plain", "start")[1] == "<unset>"
    assert _stamp(project.root, "none", "start")[1] == ""


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ("{gpus: 3}", "stage 'big' needs gpus 3; this machine has cpus 4, gpus 2"),
        ("{cpus: 8}", "stage 'big' needs cpus 8; this machine has cpus 4, gpus 2"),
    ],
)
def test_a_stage_larger_than_the_machine_fails_before_anything_runs(
    project: Project, resources: str, message: str
) -> None:
    _stages(
        project,
        f"""
          small: {{cmd: {PY} s.py small, outs: [small.end]}}
          big: {{cmd: {PY} s.py big, deps: [small.end], resources: {resources}}}
        """,
    )
    with pytest.raises(InvalidInput) as caught:
        run_pipeline(project.lab, load_pipeline(), budget=BUDGET)
    assert message in caught.value.message
    assert not (project.root / "small.start").exists()


def test_a_cached_stage_need_not_fit_the_machine(project: Project) -> None:
    """Only what will run must fit: a GPU stage cached elsewhere does not stop a laptop."""
    _stages(project, f"  gpu: {{cmd: {PY} s.py gpu, outs: [gpu.end], resources: {{gpus: 1}}}}\n")
    run_pipeline(project.lab, load_pipeline(), budget=BUDGET)
    laptop = Budget(cpus=4.0, gpus=(), memory=None)
    report = run_pipeline(project.lab, load_pipeline(), budget=laptop)
    assert [s.action for s in report.stages] == ["up to date"]
    with pytest.raises(InvalidInput, match="needs gpus 1"):
        run_pipeline(project.lab, load_pipeline(), budget=laptop, force=True)


def test_memory_counts_against_the_budget() -> None:
    ledger = Ledger(Budget(cpus=4.0, memory=10 * 2**30))
    first = ledger.take(Need(memory=6 * 2**30))
    assert first is not None
    assert ledger.take(Need(memory=6 * 2**30)) is None
    ledger.give(first)
    assert ledger.take(Need(memory=6 * 2**30)) is not None


def test_gpus_are_given_back_and_handed_out_again() -> None:
    ledger = Ledger(BUDGET)
    a, b = ledger.take(Need(gpus=1)), ledger.take(Need(gpus=1))
    assert a is not None and b is not None and (a.devices, b.devices) == ((0,), (1,))
    assert ledger.take(Need(gpus=1)) is None
    ledger.give(b)
    again = ledger.take(Need(gpus=1))
    assert again is not None and again.devices == (1,)


def test_the_memory_of_a_stage_is_checked_too(project: Project) -> None:
    _stages(project, f"  big: {{cmd: {PY} s.py big, resources: {{memory: 64GiB}}}}\n")
    pipeline = load_pipeline()
    with pytest.raises(InvalidInput, match=r"memory 64\.0 GiB; this machine has .*memory 8\.0"):
        check_feasible(list(pipeline.stages.values()), Budget(4.0, (), 8 * 2**30))


@pytest.mark.parametrize(
    ("visible", "devices"),
    [(None, (0, 1, 2)), ("2,0", (2, 0)), ("", ()), ("GPU-b,7,0", (1,)), ("-1", ())],
)
def test_the_machines_gpus_are_those_cuda_visible_devices_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, visible: str | None, devices: tuple[int, ...]
) -> None:
    import json

    from rigml.pipeline._resources import machine_gpus

    recorded = Path(__file__).parents[1] / "machine" / "recorded" / "a100_throttling.json"
    data = json.loads(recorded.read_text())
    gpu = data["gpus"][0]
    data["gpus"] = [{**gpu, "index": i, "uuid": f"GPU-{c}"} for i, c in enumerate("abc")]
    reading = data["frames"][0]["readings"][0]
    data["frames"] = [{"t": 0.0, "readings": [{**reading, "index": i} for i in range(3)]}]
    (tmp_path / "three.json").write_text(json.dumps(data))
    monkeypatch.setenv("RIG_GPU_RECORDING", str(tmp_path / "three.json"))
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert machine_gpus() == devices
