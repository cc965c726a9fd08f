"""Rebuilding a recorded environment: each format from real locks, and a real reinstall."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from rigml.errors import OutputNotWritable
from rigml.machine.env_export import (
    CUDA_IMAGES,
    FORMATS,
    NOISE,
    REQUIREMENTS_FILE,
    cuda_image,
    devcontainer_json,
    dockerfile,
    export_files,
    pinned_requirements,
    requirements_txt,
    torch_build,
    uv_pyproject,
    write_export,
)

SRC = Path(__file__).resolve().parents[2] / "src"


def lock(*packages: tuple[str, str, str], torch: dict[str, Any] | None = None) -> dict[str, Any]:
    """A lock as capture_environment writes it, with the given (name, version, source)."""
    return {
        "schema_version": 1,
        "python": {"version": "3.11.9", "implementation": "CPython"},
        "packages": [{"name": n, "version": v, "source": s} for n, v, s in packages],
        "frameworks": {"torch": torch, "numpy": None, "jax": None, "tensorflow": None},
    }


def cuda_lock(version: str = "2.4.0+cu124", cuda: str | None = "12.4") -> dict[str, Any]:
    return lock(
        ("torch", version, "index"),
        ("torchvision", "0.19.0+cu124", "index"),
        ("numpy", "1.26.4", "index"),
        ("pip", "24.0", "index"),
        torch={"version": version, "cuda": cuda, "hip": None},
    )


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


# --------------------------------------------------------------------------- requirements


def test_each_source_becomes_its_pin_and_noise_is_left_out(tmp_path: Path) -> None:
    env = lock(
        ("six", "1.16.0", "index"),
        ("mylib", "0.3", "vcs:https://github.com/me/mylib@0a1b2c3d"),
        ("hglib", "1.0", "vcs:hg+https://hg.example/lib@ff00"),
        ("tarball", "2.0", "url:https://example.org/tarball-2.0.tar.gz"),
        ("gone", "0.1", "editable:/no/such/checkout"),
        ("here", "0.2", f"editable:{tmp_path}"),
        ("wheelish", "0.4", f"file:{tmp_path}"),
        *((name, "1.0", "index") for name in sorted(NOISE)),
    )
    text = requirements_txt(env, origin="run abcd1234 (train)")
    assert "# from run abcd1234 (train)" in text
    assert lines(text) == [
        "six==1.16.0",
        "mylib @ git+https://github.com/me/mylib@0a1b2c3d",
        "hglib @ hg+https://hg.example/lib@ff00",
        "tarball @ https://example.org/tarball-2.0.tar.gz",
        f"-e {tmp_path}",
        f"wheelish @ file://{tmp_path}",
    ]
    assert "# gone==0.1 not pinned, an editable install from /no/such/checkout" in text
    for line in lines(text):
        if not line.startswith("-e "):
            Requirement(line)  # each is valid PEP 508, as pip and uv parse it
    assert "--extra-index-url" not in text  # no torch, no PyTorch index

    image = requirements_txt(env, local_paths=False)  # an image sees no host paths
    assert not any(ln.startswith("-e") or "file://" in ln for ln in lines(image))
    assert f"# here==0.2 not pinned, an editable install from {tmp_path}" in image


@pytest.mark.parametrize(
    ("version", "index"),
    [
        ("2.13.0+cpu", "https://download.pytorch.org/whl/cpu"),
        ("2.4.0+cu124", "https://download.pytorch.org/whl/cu124"),
        ("2.5.1+rocm6.2", "https://download.pytorch.org/whl/rocm6.2"),
        ("2.4.0", None),  # PyPI's own build
    ],
)
def test_torch_builds_off_pypi_bring_their_index(version: str, index: str | None) -> None:
    env = lock(("torch", version, "index"), torch={"version": version, "cuda": None, "hip": None})
    text = requirements_txt(env)
    assert f"torch=={version}" in lines(text)
    if index:
        assert f"--extra-index-url {index}" in lines(text)
        assert lines(text)[0].startswith("--extra-index-url")  # options before requirements
    else:
        assert "--extra-index-url" not in text


def test_torch_build_reads_cuda_from_the_lock_or_the_local_tag() -> None:
    recorded = torch_build(cuda_lock())
    assert recorded and recorded.cuda == "12.4" and recorded.tag == "cu124"
    from_tag = torch_build(lock(("torch", "2.6.0+cu118", "index")))  # frameworks not recorded
    assert from_tag and from_tag.cuda == "11.8" and from_tag.index_url.endswith("/cu118")
    built = torch_build(lock(("torch", "2.6.0+cu118", "file:/src/pytorch")))
    assert built and built.index_url is None  # a local build is on no index
    assert torch_build(lock(("six", "1.16.0", "index"))) is None


def test_this_environment_exports_as_valid_requirements() -> None:
    from rigml.machine.env import capture_environment

    env = capture_environment(include_env_vars=False)
    text = requirements_txt(env)
    for line in lines(text):
        if not line.startswith(("-e ", "--")):
            Requirement(line)
    project = tomllib.loads(uv_pyproject(env))
    for dep in project["project"]["dependencies"]:
        Requirement(dep)


def test_requirements_are_sorted_by_the_lock_and_kinds_are_named() -> None:
    reqs = pinned_requirements(cuda_lock())
    assert [(r.name, r.kind) for r in reqs] == [
        ("torch", "index"),
        ("torchvision", "index"),
        ("numpy", "index"),
    ]


# --------------------------------------------------------------------------- uv


def test_uv_project_pins_python_minor_and_routes_torch_to_its_index(tmp_path: Path) -> None:
    env = cuda_lock()
    env["packages"].append({"name": "here", "version": "0.2", "source": f"editable:{tmp_path}"})
    project = tomllib.loads(uv_pyproject(env))
    assert project["project"]["requires-python"] == "==3.11.*"
    assert project["project"]["dependencies"] == [
        "torch==2.4.0+cu124",
        "torchvision==0.19.0+cu124",
        "numpy==1.26.4",
        "here",
    ]
    uv = project["tool"]["uv"]
    assert uv["package"] is False
    assert uv["index"] == [
        {"name": "pytorch-cu124", "url": "https://download.pytorch.org/whl/cu124", "explicit": True}
    ]
    assert uv["sources"] == {
        "torch": {"index": "pytorch-cu124"},
        "torchvision": {"index": "pytorch-cu124"},
        "here": {"path": str(tmp_path), "editable": True},
    }


def test_uv_project_without_torch_has_no_index() -> None:
    project = tomllib.loads(uv_pyproject(lock(("six", "1.16.0", "index"))))
    assert project["project"]["dependencies"] == ["six==1.16.0"]
    assert "index" not in project["tool"]["uv"] and "sources" not in project["tool"]["uv"]


# --------------------------------------------------------------------------- images


def test_a_cuda_build_gets_the_matching_image_and_its_driver_floor() -> None:
    text = dockerfile(cuda_lock(), origin="run abcd1234 (train)")
    assert "FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04" in text
    # CUDA 12.x runs from 525.60.13 (minor-version compatibility); 12.4's own driver is 550.54.14
    assert "# Needs an NVIDIA driver >= 525.60.13 on the host (torch built for CUDA 12.4)" in text
    assert "550.54.14 or newer for all of CUDA 12.4's features" in text
    assert "uv venv --python 3.11 /opt/venv" in text
    assert f"COPY {REQUIREMENTS_FILE} /tmp/{REQUIREMENTS_FILE}" in text
    assert "docker run --gpus all" in text
    assert " git " not in text  # no VCS package, no git


def test_a_cpu_build_gets_python_slim() -> None:
    env = lock(("torch", "2.13.0+cpu", "index"), ("dep", "1", "vcs:https://g.example/dep@abc"))
    text = dockerfile(env)
    assert "FROM python:3.11-slim" in text and "nvidia" not in text.lower()
    assert "install -y --no-install-recommends git" in text  # VCS pins need git
    assert "--gpus" not in text


def test_a_rocm_build_maps_the_amd_devices() -> None:
    env = lock(
        ("torch", "2.5.1+rocm6.2", "index"),
        torch={"version": "2.5.1+rocm6.2", "cuda": None, "hip": "6.2"},
    )
    text = dockerfile(env)
    assert "FROM python:3.11-slim" in text
    assert "docker run --device=/dev/kfd --device=/dev/dri -it rig-run" in text
    assert "--extra-index-url https://download.pytorch.org/whl/rocm6.2" in requirements_txt(env)


def test_image_tags_cover_the_known_builds_and_fall_back_for_new_ones() -> None:
    assert cuda_image("11.8") == f"nvidia/cuda:{CUDA_IMAGES['11.8']}"
    assert cuda_image("12.4.1") == "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04"
    assert cuda_image("12.7") == "nvidia/cuda:12.7.0-runtime-ubuntu22.04"
    text = dockerfile(cuda_lock("2.9.0+cu999", None))  # a CUDA 99.9 the table does not know
    assert "no known NVIDIA driver minimum" in text


def test_devcontainer_builds_the_dockerfile_beside_it_with_gpus_for_cuda() -> None:
    gpu = json.loads(devcontainer_json(cuda_lock(), origin="run abcd1234 (train)"))
    assert gpu["build"] == {"dockerfile": "Dockerfile", "context": "."}
    assert gpu["runArgs"] == ["--gpus", "all"] and gpu["name"] == "run abcd1234 (train)"
    cpu = json.loads(devcontainer_json(lock(("six", "1.16.0", "index"))))
    assert "runArgs" not in cpu and "hostRequirements" not in cpu


def test_each_format_names_its_files() -> None:
    env = cuda_lock()
    assert {f: list(export_files(env, f)) for f in FORMATS} == {
        "requirements": ["requirements.txt"],
        "uv": ["pyproject.toml"],
        "dockerfile": ["Dockerfile", REQUIREMENTS_FILE],
        "devcontainer": ["devcontainer.json", "Dockerfile", REQUIREMENTS_FILE],
    }
    with pytest.raises(ValueError, match="unknown export format 'conda'"):
        export_files(env, "conda")  # type: ignore[arg-type]


def test_write_export_places_the_files(tmp_path: Path) -> None:
    env = cuda_lock()
    written = write_export(env, "dockerfile", tmp_path / "Dockerfile", origin=None)
    assert written == [tmp_path / "Dockerfile", tmp_path / REQUIREMENTS_FILE]
    assert "torch==2.4.0+cu124" in (tmp_path / REQUIREMENTS_FILE).read_text()

    folder = tmp_path / ".devcontainer"  # made: its parent exists
    written = write_export(env, "devcontainer", folder, origin=None)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written)
    assert len(written) == 3

    (tmp_path / "dc").mkdir()  # a .json name: the file itself, the others beside it
    named = write_export(env, "devcontainer", tmp_path / "dc" / "box.json", origin=None)
    assert [p.name for p in named] == ["box.json", "Dockerfile", REQUIREMENTS_FILE]
    assert {p.parent for p in named} == {tmp_path / "dc"}
    with pytest.raises(OutputNotWritable, match="does not exist"):
        write_export(env, "devcontainer", tmp_path / "no" / "dc", origin=None)
    with pytest.raises(OutputNotWritable, match="does not exist"):
        write_export(env, "requirements", tmp_path / "no" / "r.txt", origin=None)


# --------------------------------------------------------------------------- reinstall


def _fresh_venv(path: Path, *packages: str) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    python = path / "bin" / "python"
    if packages:
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, *packages], check=True, capture_output=True, timeout=300)
    return python


def _capture(python: Path) -> dict[str, Any]:
    """The lock capture_environment records inside another interpreter (rigml from src/)."""
    code = (
        "import json; from rigml.machine.env import capture_environment; "
        "print(json.dumps(capture_environment(include_env_vars=False)))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONNOUSERSITE": "1"}
    out = subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(out.stdout)


def _pins(env: dict[str, Any]) -> set[str]:
    return {f"{p['name']}=={p['version']}" for p in env["packages"] if p["name"] not in NOISE}


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="venv layout")
def test_exported_requirements_reinstall_the_recorded_packages(tmp_path: Path) -> None:
    recorded = _capture(_fresh_venv(tmp_path / "a", "six==1.16.0", "idna"))
    assert {p.split("==")[0] for p in _pins(recorded)} == {"six", "idna"}
    reqs = tmp_path / "requirements.txt"
    write_export(recorded, "requirements", reqs, origin="venv a")

    rebuilt = _fresh_venv(tmp_path / "b", "-r", str(reqs))
    assert _pins(_capture(rebuilt)) == _pins(recorded)
