"""Limits (body size, rows, timeout, overload) and bearer tokens, over real HTTP."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from rigml.errors import InvalidTokenFile, UnsafeBind
from rigml.serve import ServeConfig, Served, check_host, create_app

ROW = [0.1, 0.2, 0.3, 0.4]


class Slow:
    """Wraps a loaded model: each predict waits for ``release`` (signalling ``entered``)."""

    def __init__(self, model: Any) -> None:
        self.model, self.info = model, model.info
        self.entered, self.release = threading.Event(), threading.Event()

    def predict(self, data: Any) -> Any:
        self.entered.set()
        self.release.wait(10)
        return self.model.predict(data)


def _slow(running: Any) -> Slow:
    slot = running.app.state.service.slots[0]
    slow = Slow(slot.current.model)
    slot.current = Served(slot.current.version, slow)  # type: ignore[arg-type]
    return slow


def test_body_and_row_limits_are_413(lab: Any, churn: Any, server: Any) -> None:
    config = ServeConfig(("churn@production",), max_body_bytes=2000, max_rows=3)
    running = server(create_app(lab, config))
    url = f"{running.url}/v1/models/churn/predict"
    assert httpx.post(url, json={"instances": [ROW] * 3}).status_code == 200
    r = httpx.post(url, json={"instances": [ROW] * 4})
    assert r.status_code == 413 and "3" in r.json()["detail"]
    r = httpx.post(url, json={"instances": [ROW] * 200})
    assert r.status_code == 413 and "bytes" in r.json()["detail"]

    def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(50):
            yield b" " * 100

    r = httpx.post(url, content=chunks())
    assert r.status_code == 413


def test_a_slow_model_gets_504(lab: Any, churn: Any, server: Any) -> None:
    running = server(create_app(lab, ServeConfig(("churn@production",), timeout_s=0.3)))
    slow = _slow(running)
    try:
        r = httpx.post(f"{running.url}/v1/models/churn/predict", json={"instances": [ROW]})
        assert r.status_code == 504
    finally:
        slow.release.set()


def test_overload_is_503_with_retry_after(lab: Any, churn: Any, server: Any) -> None:
    config = ServeConfig(("churn@production",), max_queue_rows=1, max_batch=1)
    running = server(create_app(lab, config))
    slow = _slow(running)
    url = f"{running.url}/v1/models/churn/predict"
    answers: list[int] = []

    def send() -> None:
        answers.append(httpx.post(url, json={"instances": [ROW]}, timeout=20).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    threads[0].start()
    assert slow.entered.wait(10)
    threads[1].start()
    batcher = next(iter(running.app.state.service.batchers.values()))
    deadline = time.monotonic() + 10
    while batcher.queued < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = httpx.post(url, json={"instances": [ROW]})
    slow.release.set()
    for t in threads:
        t.join(20)
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) >= 1
    assert answers == [200, 200]


def test_tokens_guard_everything_but_healthz(
    lab: Any, churn: Any, server: Any, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# the team\nfirst-token-0123456789\nsecond-token-0123456789\n")
    good = {"Authorization": "Bearer second-token-0123456789"}
    app = create_app(lab, ServeConfig(("churn@production",), token_file=str(tokens)))
    running = server(app, headers=good)
    url = running.url
    assert httpx.get(f"{url}/healthz").status_code == 200
    for path in ("/readyz", "/metrics", "/v1/models", "/docs", "/openapi.json"):
        assert httpx.get(f"{url}{path}").status_code == 401, path
    predict = f"{url}/v1/models/churn/predict"
    body = {"instances": [ROW]}
    bad = {"Authorization": "Bearer second-token-012345678X"}
    assert httpx.post(predict, json=body, headers=bad).status_code == 401
    assert httpx.post(predict, json=body, headers=good).status_code == 200
    assert httpx.get(f"{url}/v1/models", headers=good).status_code == 200


def test_bad_token_files_and_hosts_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n# nothing\n")
    with pytest.raises(InvalidTokenFile):
        ServeConfig(("m@production",), token_file=str(empty)).tokens()
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(InvalidTokenFile):
        ServeConfig(("m@production",), token_file=str(short)).tokens()
    with pytest.raises(InvalidTokenFile):
        ServeConfig(("m@production",), token_file=str(tmp_path / "missing")).tokens()
    assert check_host("127.0.0.1", explicit=False) == "127.0.0.1"
    assert check_host("::1", explicit=False) == "::1"
    with pytest.raises(UnsafeBind):
        check_host("0.0.0.0", explicit=False)
    assert check_host("0.0.0.0", explicit=True) == "0.0.0.0"
