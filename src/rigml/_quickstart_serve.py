"""The quickstart's serving step: ``rig serve churn@production`` on a loopback port, real
HTTP requests, feedback for some of them, and the prediction log read back.

Kept apart from :mod:`rigml.quickstart` so that its imports (uvicorn, FastAPI) load only
when the step runs. The server runs in a thread of this process and stops gracefully
(its prediction log flushed) before the log is read.
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

REQUESTS = 60  # single-row requests, as a client sends them
FEEDBACK_EVERY = 3  # one request in three gets its true label back


@dataclass
class ServingStep:
    """What the service answered and what its prediction log kept."""

    url: str
    requests: int
    version: int
    p50_ms: float
    logged: int
    with_feedback: int


def serving_step(lab: Any, rows: Any, labels: Any) -> ServingStep:
    """Serve churn@production, send ``REQUESTS`` rows, send feedback, read the log back.

    Raises:
        MissingExtra: FastAPI or uvicorn is not installed (``rigml[serve]``).
        RuntimeError: the service did not start or answer (its error says why).
    """
    from rigml.serve import ServeConfig, read_predictions
    from rigml.serve._run import logged_app

    port = _free_port()
    app = logged_app(lab, ServeConfig(("churn@production",), port=port))
    server, thread = _start(app, port)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, thread)
        answers, latencies = _send(url, rows[:REQUESTS])
        for i in range(0, len(answers), FEEDBACK_EVERY):
            truth = {"request_id": answers[i]["request_id"], "value": int(labels[i])}
            _post(f"{url}/v1/models/churn/feedback", truth)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    table = read_predictions(lab, model="churn", with_feedback=True)
    feedback = sum(v is not None for v in table.column("feedback").to_pylist())
    version = int(answers[-1]["version"]) if answers else 0
    p50 = statistics.median(latencies) if latencies else 0.0
    return ServingStep(url, len(answers), version, p50, table.num_rows, feedback)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(app: Any, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="rig-quickstart-serve", daemon=True)
    thread.start()
    return server, thread


def _wait_ready(url: str, thread: threading.Thread, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and thread.is_alive():
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"rig serve on {url} was not ready within {timeout:.0f} s")


def _send(url: str, rows: Any) -> tuple[list[dict[str, Any]], list[float]]:
    answers, latencies = [], []
    for row in rows.tolist():
        t0 = time.perf_counter()
        answers.append(_post(f"{url}/v1/models/churn/predict", {"instances": [row]}))
        latencies.append((time.perf_counter() - t0) * 1000)
    return answers, latencies


def _post(url: str, doc: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(doc).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        answer: dict[str, Any] = json.loads(reply.read())
        return answer
