"""``rig serve`` as a real process: ready, predicts, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from tests.serve.conftest import free_port, wait_ready
from typer.testing import CliRunner

from rigml.cli.serve import app

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_rig_serve_runs_and_stops_on_sigterm(lab: Any, churn: Any, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "RIG_LAB": str(lab.path), "PYTHONPATH": SRC}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from rigml.cli.serve import app; app()",
            "churn@production",
            "--port",
            str(port),
            "--max-batch",
            "16",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=60)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/models/churn/predict",
            json={"instances": [[0.1, 0.2, 0.3, 0.4]]},
        )
        assert r.status_code == 200 and r.json()["version"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    assert "serving churn@production" in (tmp_path / "serve.log").read_text()


def test_rig_serve_refuses_a_bad_token_file(lab: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "t"
    tokens.write_text("short\n")
    result = CliRunner().invoke(app, ["churn@production", "--token-file", str(tokens)])
    assert result.exit_code != 0
    assert "token file" in str(result.exception)


def test_a_ref_that_names_nothing_fails_before_binding(lab: Any, churn: Any) -> None:
    from conftest import run_rig

    for ref, words in (("nope@production", "no such model"), ("churn@nope", "no version holds")):
        result = run_rig("--lab", str(lab.path), "serve", ref, "--port", "1")
        assert result.exit_code == 1 and words in result.err, result.stderr
