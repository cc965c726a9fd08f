"""``rig serve --export``: the folder's layout, service.json, frozen versions, the folder's
own lab serving the same predictions, refusals, and the texts (Dockerfile, start.sh)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serve.conftest import log_version
from typer.testing import CliRunner

from rigml.cli.serve import app
from rigml.errors import ExportTargetExists, InvalidServeConfig, ServiceExportFailed
from rigml.serve import ServeConfig, create_app
from rigml.serve._export import export_service
from rigml.serve._standalone import read_service, standalone_config


@pytest.fixture(scope="session")
def rigml_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rigml's wheel, built once for these tests (test_export_venv.py builds its own)."""
    from rigml.serve._export import build_wheel, project_root

    root = project_root()
    assert root is not None, "the tests run rigml from its source tree"
    return build_wheel(root, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(autouse=True)
def _one_wheel_build(monkeypatch: pytest.MonkeyPatch, rigml_wheel: Path) -> None:
    import shutil

    from rigml.serve import _export

    def copy(root: Path, wheels: Path) -> Path:
        wheels.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(rigml_wheel, wheels / rigml_wheel.name))

    monkeypatch.setattr(_export, "build_wheel", copy)


@pytest.fixture
def two_versions(lab: Any, churn: Any, classifier: Any, dataset: Any) -> Any:
    """churn v1 at production, v2 at staging."""
    from rigml.registry import promote

    v2 = log_version(lab, classifier, dataset[0][:5])
    promote(lab, "churn", v2.version, to="staging", force=True, reason="test")
    return churn, v2


def test_folder_layout_and_service_json(lab: Any, two_versions: Any, tmp_path: Path) -> None:
    v1, v2 = two_versions
    config = ServeConfig(("churn@production",), canary=("churn@staging:10",), max_batch=8)
    result = export_service(lab, config, tmp_path / "svc")
    root = tmp_path / "svc"
    assert result.dest == root
    assert set(result.files) >= {
        ".rig", "Dockerfile", "README.md", "models", "requirements.txt", "service.json",
        "start.sh", "wheels",
    }  # fmt: skip
    for v in (v1, v2):
        assert (root / f"models/churn/{v.version}/rigmodel.json").is_file()
    assert [p.name for p in (root / "wheels").glob("rigml-*.whl")]
    assert (root / "start.sh").stat().st_mode & 0o111
    doc = read_service(root)
    assert (doc["refs"], doc["canary"]) == (["churn@production"], ["churn@staging:10"])
    arms = {a["kind"]: a for a in doc["arms"]}
    assert arms["primary"]["version"] == v1.version
    assert arms["primary"]["fingerprint"] == v1.fingerprint
    assert arms["canary"]["version"] == v2.version
    assert arms["canary"]["fingerprint"] == v2.fingerprint
    assert doc["config"]["max_batch"] == 8 and doc["config"]["token_file"] is None
    assert not list(tmp_path.glob(".svc.export-*")), "the staging folder was left behind"


def test_aliases_are_frozen_at_export(lab: Any, two_versions: Any, tmp_path: Path) -> None:
    from rigml.lab import open_lab
    from rigml.registry import get_version, promote

    v1, v2 = two_versions
    export_service(lab, ServeConfig(("churn@production",)), tmp_path / "svc")
    promote(lab, "churn", v2.version, to="production", force=True, reason="after the export")
    inner = open_lab(tmp_path / "svc" / ".rig")
    try:
        frozen = get_version(inner, "churn@production")
    finally:
        inner.close()
    assert frozen.fingerprint == v1.fingerprint != v2.fingerprint
    assert frozen.source == f"churn@{v1.version}"


def test_the_folders_lab_serves_the_same_predictions(
    lab: Any, two_versions: Any, tmp_path: Path, server: Any, dataset: Any
) -> None:
    """The standalone path (service.json over the folder's lab) answers as the original."""
    from rigml.lab import open_lab
    from rigml.registry import load_model

    X, _ = dataset
    config = ServeConfig(("churn@production",), shadow=("churn@staging",))
    export_service(lab, config, tmp_path / "s")
    config = standalone_config(read_service(tmp_path / "s"), {"HOST": "127.0.0.1"})
    assert config.shadow == ("churn@staging",) and config.host == "127.0.0.1"
    inner = open_lab(tmp_path / "s" / ".rig")
    try:
        running = server(create_app(inner, config))
        r = httpx.post(f"{running.url}/v1/models/churn/predict", json={"instances": X[:9].tolist()})
    finally:
        inner.close()
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == load_model(lab, "churn@production").predict(X[:9]).tolist()


def test_refuses_a_non_empty_folder_unless_forced(lab: Any, churn: Any, tmp_path: Path) -> None:
    dest = tmp_path / "svc"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ExportTargetExists):
        export_service(lab, ServeConfig(("churn@production",)), dest)
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    export_service(lab, ServeConfig(("churn@production",)), dest, force=True)
    assert not (dest / "keep.txt").exists() and (dest / "service.json").is_file()
    assert not list(tmp_path.glob(".svc.*"))


def test_an_unknown_ref_writes_nothing(lab: Any, churn: Any, tmp_path: Path) -> None:
    from rigml.errors import RigError

    with pytest.raises(RigError):
        export_service(lab, ServeConfig(("churn@nosuchalias",)), tmp_path / "svc")
    assert not (tmp_path / "svc").exists()
    assert not list(tmp_path.glob(".svc.*"))


def test_texts_dockerfile_start_and_requirements(lab: Any, churn: Any, tmp_path: Path) -> None:
    export_service(lab, ServeConfig(("churn@production",)), tmp_path / "svc")
    root = tmp_path / "svc"
    docker = (root / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in docker
    assert "RUN pip install --no-cache-dir -r requirements.txt --find-links wheels" in docker
    assert "EXPOSE 8000" in docker and 'CMD ["sh", "start.sh"]' in docker
    start = (root / "start.sh").read_text()
    assert start.startswith("#!/bin/sh") and "-m rigml.serve._standalone" in start
    reqs = (root / "requirements.txt").read_text().splitlines()
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in reqs
    assert any(line.startswith("rigml[models,serve]==") for line in reqs)
    assert any(line.startswith("fastapi==") for line in reqs)
    assert any(line.startswith("uvicorn==") for line in reqs)
    assert "churn@production" in (root / "README.md").read_text()


def test_standalone_settings_from_the_environment(lab: Any, churn: Any, tmp_path: Path) -> None:
    token = tmp_path / "tokens"
    token.write_text("a-token-of-enough-length\n")
    config = ServeConfig(("churn@production",), token_file=str(token))
    export_service(lab, config, tmp_path / "svc")
    service = read_service(tmp_path / "svc")
    assert service["tokens"] is True
    assert "a-token" not in json.dumps(service)
    with pytest.raises(InvalidServeConfig, match="TOKEN_FILE"):
        standalone_config(service, {})
    got = standalone_config(service, {"TOKEN_FILE": str(token), "PORT": "9123", "WORKERS": "2"})
    assert (got.host, got.port, got.workers, got.token_file) == ("0.0.0.0", 9123, 2, str(token))
    with pytest.raises(InvalidServeConfig):
        standalone_config(service, {"TOKEN_FILE": str(token), "PORT": "eighty"})


def test_read_service_refuses_a_folder_that_is_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(ServiceExportFailed, match=r"service\.json"):
        read_service(tmp_path)


def test_cli_export_writes_the_folder_and_starts_nothing(
    lab: Any, churn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RIG_LAB", str(lab.path))
    dest = tmp_path / "svc"
    result = CliRunner().invoke(app, ["churn@production", "--export", str(dest)])
    assert result.exit_code == 0, result.output
    assert "primary churn@production -> version 1" in result.output
    assert (dest / "service.json").is_file()
    again = CliRunner().invoke(app, ["churn@production", "--export", str(dest)])
    assert again.exit_code != 0
    forced = CliRunner().invoke(app, ["churn@production", "--export", str(dest), "--force"])
    assert forced.exit_code == 0, forced.output


def test_the_folders_lab_keeps_the_version_numbers(
    lab: Any, two_versions: Any, tmp_path: Path
) -> None:
    from rigml.lab import open_lab
    from rigml.registry import get_version, promote

    _, v2 = two_versions
    promote(lab, "churn", v2.version, to="production", force=True, reason="v2 serves")
    export_service(lab, ServeConfig(("churn@production",)), tmp_path / "svc")
    inner = open_lab(tmp_path / "svc" / ".rig")
    try:
        assert get_version(inner, "churn@production").version == v2.version == 2
    finally:
        inner.close()
