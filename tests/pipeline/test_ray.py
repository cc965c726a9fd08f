"""Choosing the executor, and what the Ray executor refuses before it connects (no Ray runs).

The Ray cluster itself is exercised in ``test_ray_cluster.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from rigml.errors import InvalidInput, LabNotShared, MissingExtra
from rigml.pipeline import LocalExecutor
from rigml.pipeline._executor import make_executor
from rigml.pipeline._ray import is_local_address, memory_bytes, task_options

from .conftest import PY, Project


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import ray`` fails, as where the extra is not installed; and it shows any attempt."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.mark.parametrize(
    "address",
    [None, "auto", "local", "127.0.0.1:6379", "ray://localhost:10001", "[::1]:6379", "127.8.0.1"],
)
def test_addresses_on_this_machine_are_local(address: str | None) -> None:
    assert is_local_address(address)


@pytest.mark.parametrize(
    "address", ["ray://10.9.9.9:10001", "10.9.9.9:6379", "head.example:6379", "ray://[fd00::1]:1"]
)
def test_other_hosts_are_remote(address: str) -> None:
    assert not is_local_address(address)


def test_a_remote_cluster_refuses_a_sqlite_lab_before_connecting(
    project: Project, no_ray: None
) -> None:
    # ray cannot even be imported: the refusal comes before any use of it
    with pytest.raises(LabNotShared, match="SQLite store") as caught:
        make_executor(project.lab, "ray", "ray://10.9.9.9:10001")
    assert "ray://10.9.9.9:10001" in caught.value.message
    assert caught.value.hint and "RIG_STORE_URL" in caught.value.hint


def test_a_remote_cluster_refuses_a_local_object_store(
    project: Project, no_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rigml.lab import Lab

    monkeypatch.setenv("RIG_STORE_URL", "postgresql+psycopg://rig@10.9.9.9/rig")  # not opened
    with pytest.raises(LabNotShared, match="object store") as caught:
        make_executor(Lab(project.lab.path), "ray", "10.9.9.9:6379")
    assert caught.value.hint and "s3://" in caught.value.hint


def test_ray_address_from_the_environment_is_checked_too(
    project: Project, no_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "ray://10.9.9.9:10001")
    with pytest.raises(LabNotShared):
        make_executor(project.lab, "ray")


def test_missing_ray_is_a_missing_extra(project: Project, no_ray: None) -> None:
    with pytest.raises(MissingExtra) as caught:
        make_executor(project.lab, "ray")  # a local Ray: the lab is fine, ray is absent
    assert caught.value.extra == "ray"
    assert caught.value.hint == "pip install 'rigml[ray]'"


def test_the_lab_config_chooses_the_executor(project: Project, no_ray: None) -> None:
    from rigml.lab import Lab

    assert isinstance(make_executor(project.lab), LocalExecutor)
    toml = project.lab.path / "rig.toml"
    text = toml.read_text().replace("# executor = ", "executor = ")
    toml.write_text(
        text.replace('# address = "ray://head:10001"', 'address = "ray://10.9.9.9:10001"')
    )
    lab = Lab(project.lab.path)
    with pytest.raises(LabNotShared, match=r"10\.9\.9\.9"):
        make_executor(lab)  # ray, at the configured address
    assert isinstance(make_executor(lab, "local"), LocalExecutor)  # the flag wins
    with pytest.raises(MissingExtra):
        make_executor(lab, None, "local")  # an address alone means ray
    lab.close()


def test_unknown_executor_and_an_address_for_local_are_refused(project: Project) -> None:
    with pytest.raises(InvalidInput, match="unknown executor 'rey'; did you mean ray"):
        make_executor(project.lab, "rey")
    with pytest.raises(InvalidInput, match="local executor"):
        make_executor(project.lab, "local", "127.0.0.1:6379")


def test_resources_become_ray_task_options() -> None:
    assert task_options(None) == {"num_cpus": 1}
    assert task_options({"cpus": 4, "gpus": 1, "memory": "16GiB"}) == {
        "num_cpus": 4,
        "num_gpus": 1,
        "memory": 16 * 2**30,
    }
    assert task_options({"cpus": 0.5, "memory": 1000}) == {"num_cpus": 0.5, "memory": 1000}


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512MB", 512 * 10**6),
        ("1.5 GiB", int(1.5 * 2**30)),
        ("64Mi", 64 * 2**20),
        ("2g", 2 * 2**30),
    ],
)
def test_memory_sizes(text: str, size: float) -> None:
    assert memory_bytes(text) == int(size)


@pytest.mark.parametrize("text", ["lots", "-1GB", "0", "16 GiBs"])
def test_a_bad_memory_size_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"resources\.memory"):
        memory_bytes(text)


def test_rig_run_refuses_a_remote_cluster_for_a_sqlite_lab(
    project: Project, rig: Any, no_ray: None
) -> None:
    project.pipeline(f"stages:\n  a: {{cmd: {PY} w.py a.txt, outs: [a.txt]}}\n")
    result = rig(
        "--lab", str(project.lab.path), "run", "-f", str(project.root / "rig.yaml"),
        "--executor", "ray", "--ray-address", "ray://10.9.9.9:10001",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "SQLite store" in result.err and "RIG_STORE_URL" in result.err
    assert "Traceback" not in result.err
    assert not (project.root / "a.txt").exists()


def test_rig_run_without_ray_names_the_extra(project: Project, rig: Any, no_ray: None) -> None:
    project.pipeline(f"stages:\n  a: {{cmd: {PY} w.py a.txt, outs: [a.txt]}}\n")
    result = rig(
        "--lab", str(project.lab.path), "run", "-f", str(project.root / "rig.yaml"),
        "--executor", "ray",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "pip install 'rigml[ray]'" in result.err
    assert not (project.root / "a.txt").exists()


def test_the_ray_module_imports_ray_only_when_an_executor_is_made(no_ray: None) -> None:
    import subprocess

    probe = "import rigml.pipeline._ray, sys; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    from rigml.pipeline import RayExecutor

    with pytest.raises(MissingExtra, match="'ray'"):
        RayExecutor()


def _drain(items: Any) -> tuple[list[str], int]:
    lines: list[str] = []
    code = -1
    for kind, value in items:
        if kind == "lines":
            lines += value
        else:
            code = value
    return lines, code


def test_the_worker_side_streams_lines_and_stops_at_the_first_failure(tmp_path: Any) -> None:
    from rigml.pipeline._ray_task import run_commands

    env = {"PATH": os.environ["PATH"], "GREETING": "hi"}
    cmds = ["echo $GREETING; echo two", "exit 3", "echo never"]
    lines, code = _drain(run_commands(cmds, str(tmp_path), env, False, 1.0))
    assert (lines, code) == (["$ echo $GREETING; echo two", "hi", "two", "$ exit 3"], 3)


def test_the_worker_side_keeps_the_devices_ray_assigned(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rigml.pipeline._ray_task import run_commands

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")  # as Ray sets it in the worker
    monkeypatch.setenv("WORKER_ONLY", "w")
    env = {"PATH": os.environ["PATH"], "CUDA_VISIBLE_DEVICES": "0,1"}  # the driver's
    cmd = ["echo $CUDA_VISIBLE_DEVICES ${WORKER_ONLY:-none}"]
    assert _drain(run_commands(cmd, str(tmp_path), env, False, 1.0))[0][1] == "2 none"
    # on a cluster node the stage's variables lie over the node's own environment
    assert _drain(run_commands(cmd, str(tmp_path), env, True, 1.0))[0][1] == "2 w"


def test_the_worker_side_names_a_project_folder_missing_on_the_node(tmp_path: Any) -> None:
    from rigml.pipeline._ray_task import run_commands

    lines, code = _drain(run_commands(["true"], str(tmp_path / "nope"), {}, True, 1.0))
    assert code == 127 and "shared filesystem" in lines[0] and str(tmp_path / "nope") in lines[0]


def test_a_cancelled_task_ends_its_command_process_group(tmp_path: Any) -> None:
    import time

    from rigml.pipeline._ray_task import run_commands

    cmd = "sleep 60 & echo $! > child.pid; echo started; wait"
    items = run_commands([cmd], str(tmp_path), {"PATH": os.environ["PATH"]}, False, 2.0)
    while "started" not in next(items)[1]:
        pass
    child = int((tmp_path / "child.pid").read_text())
    with pytest.raises(KeyboardInterrupt):  # what ray.cancel raises in the task
        items.throw(KeyboardInterrupt)
    for _ in range(100):  # the group got SIGTERM: the backgrounded sleep is gone too
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the command's child outlived the cancelled task")
