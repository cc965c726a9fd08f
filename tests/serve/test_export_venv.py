"""An exported service runs from a fresh virtualenv, without the lab, and answers as the
original service does (the issue's packaging test; no Docker engine runs here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serve.conftest import free_port

from rigml.serve import ServeConfig, create_app
from rigml.serve._export import export_service

pytestmark = pytest.mark.slow


def _install(folder: Path, venv: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    log = folder.parent / "pip.log"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    with log.open("wb") as out:
        proc = subprocess.run(
            [*pip, "-r", "requirements.txt", "--find-links", "wheels"],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    assert proc.returncode == 0, log.read_text()[-3000:]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the exported service exited ({proc.returncode}): {log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the exported service was not ready within 120 s: {log.read_text()}")


def _answer(url: str, rows: Any) -> dict[str, Any]:
    r = httpx.post(
        f"{url}/v1/models/churn/predict?proba=true", json={"instances": rows}, timeout=30
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    return {k: doc[k] for k in ("model", "version", "arm", "predictions", "probabilities")}


def test_exported_service_runs_from_a_fresh_virtualenv(
    lab: Any, churn: Any, tmp_path: Path, server: Any, dataset: Any
) -> None:
    from rigml.registry import load_model

    X, _ = dataset
    rows = X[:25].tolist()
    folder = tmp_path / "export" / "churn-service"
    export_service(lab, ServeConfig(("churn@production",)), folder)
    _install(folder, tmp_path / "venv")
    original = _answer(server(create_app(lab, ServeConfig(("churn@production",)))).url, rows)
    assert original["predictions"] == load_model(lab, "churn@production").predict(X[:25]).tolist()

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RIG_LAB")}
    env.update(
        PATH=f"{tmp_path / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        HOST="127.0.0.1",
        PORT=str(port),
    )
    log = tmp_path / "exported.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(folder / "start.sh")], cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc, log)
        assert _answer(url, rows) == original
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, log.read_text()
    assert "Application shutdown complete" in log.read_text()
