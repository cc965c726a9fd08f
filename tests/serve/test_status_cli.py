"""``rig serve status`` and ``rig serve canary`` against a running service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from tests.serve.conftest import free_port, log_version
from typer.testing import CliRunner

from rigml.cli.serve import app
from rigml.errors import InvalidInput, ServiceRequestFailed
from rigml.registry import promote
from rigml.serve import ServeConfig, create_app

TOKEN = "another-token-0123456789"


def test_status_and_canary_commands(
    lab: Any, churn: Any, server: Any, dataset: Any, tmp_path: Path
) -> None:
    X, _ = dataset
    v2 = log_version(lab, churn_model(dataset), X[:5])
    promote(lab, "churn", v2.version, to="staging", force=True, reason="test")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# the service's token\n{TOKEN}\n")
    config = ServeConfig(
        ("churn@production",), canary=("churn@staging:10",), token_file=str(tokens)
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    running = server(create_app(lab, config), headers=auth)
    for i in range(10):
        r = httpx.post(
            f"{running.url}/v1/models/churn/predict",
            json={"instances": X[:1].tolist()},
            headers={**auth, "X-Request-Key": str(i)},
        )
        assert r.status_code == 200
    runner = CliRunner()
    where = ["--url", running.url]

    refused = runner.invoke(app, ["status", *where])
    assert isinstance(refused.exception, ServiceRequestFailed)
    assert "401" in str(refused.exception) and "--token-file" in str(refused.exception)

    listed = runner.invoke(app, ["status", *where, "--token-file", str(tokens), "--json"])
    assert listed.exit_code == 0, listed.output
    arms = json.loads(listed.output)["models"][0]["arms"]
    assert [(a["arm"], a["share"], a["version"]) for a in arms] == [
        ("primary", 90, 1),
        ("canary", 10, 2),
    ]
    assert sum(a["requests"] for a in arms) == 10

    table = runner.invoke(app, ["status", *where, "--token-file", str(tokens)])
    assert table.exit_code == 0, table.output
    assert "primary" in table.output and "canary" in table.output and "staging" in table.output

    stepped = runner.invoke(app, ["canary", "--step", "25", *where, "--token-file", str(tokens)])
    assert stepped.exit_code == 0, stepped.output
    assert "churn: primary 65%, canary 35%" in stepped.output
    set_to = runner.invoke(
        app, ["canary", "--share", "5", "--model", "churn", *where, "--token-file", str(tokens)]
    )
    assert "primary 95%, canary 5%" in set_to.output
    missing = runner.invoke(
        app, ["canary", "--model", "homes", "--share", "5", *where, "--token-file", str(tokens)]
    )
    assert isinstance(missing.exception, ServiceRequestFailed)
    assert "404" in str(missing.exception)


def test_canary_needs_a_step_or_a_share_and_a_service() -> None:
    runner = CliRunner()
    neither = runner.invoke(app, ["canary"])
    assert isinstance(neither.exception, InvalidInput)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    nobody = runner.invoke(app, ["status", "--url", url])
    assert isinstance(nobody.exception, ServiceRequestFailed)
    assert "no answer" in str(nobody.exception) and "--url" in str(nobody.exception)


def test_help_says_status_and_canary_are_commands() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "rig serve status" in result.output and "rig serve canary" in result.output
    assert "status@production" in result.output


def churn_model(dataset: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    X, y = dataset
    return LogisticRegression(C=0.3).fit(X, y)
