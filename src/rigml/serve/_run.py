"""Run the service with uvicorn: one process, or several workers from an app factory.

With ``workers > 1`` uvicorn starts its worker processes itself and each imports
:func:`app_from_env`, which opens the lab and reads the config from environment variables
(``RIG_LAB``, ``RIG_SERVE_CONFIG``). SIGTERM is uvicorn's graceful shutdown: it stops
accepting, waits for in-flight requests, then the app's lifespan ends (batches finish, the
prediction hook flushes, ``on_shutdown`` callbacks run).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rigml.errors import MissingExtra
from rigml.serve._config import ENV_CONFIG, ServeConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

    from rigml.lab import Lab

ENV_LAB = "RIG_LAB"


def serve(lab: Lab, config: ServeConfig, *, log_level: str = "info") -> None:
    """Serve ``config`` until SIGTERM or Ctrl-C.

    Raises:
        MissingExtra: uvicorn or FastAPI is not installed.
    """
    try:
        import uvicorn
    except ImportError:
        raise MissingExtra("serve", module="uvicorn") from None
    common = {
        "host": config.host,
        "port": config.port,
        "log_level": log_level,
        # a line per request on stderr costs more CPU than the prediction; the prediction
        # log keeps every request already (`rig serve --access-log` brings it back)
        "access_log": config.access_log,
        "timeout_graceful_shutdown": max(5, int(config.timeout_s) + 1),
    }
    with _stopping_is_success():
        if config.workers == 1:
            uvicorn.run(logged_app(lab, config), **common)  # type: ignore[arg-type]
            return
        config.tokens()  # a bad token file fails here, once, not in every worker
        os.environ[ENV_LAB] = str(lab.path)
        os.environ[ENV_CONFIG] = config.to_env()
        uvicorn.run(
            "rigml.serve._run:app_from_env",
            factory=True,
            workers=config.workers,
            **common,  # type: ignore[arg-type]
        )


@contextmanager
def _stopping_is_success() -> Iterator[None]:
    """SIGTERM ends the service with exit code 0.

    uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler
    that was there before it; with the default handler the process dies of the signal
    (-15) after a clean stop. A no-op handler lets ``serve`` return instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def app_from_env() -> FastAPI:
    """The app of one worker process: the lab and config from the environment."""
    from rigml.lab import open_lab

    lab = open_lab(os.environ[ENV_LAB])
    app = logged_app(lab, ServeConfig.from_env(os.environ[ENV_CONFIG]))
    app.state.on_shutdown.append(lab.close)
    return app


def logged_app(lab: Lab, config: ServeConfig) -> FastAPI:
    """The app, with this process's prediction log (flushed and closed at shutdown) unless
    ``config.log_predictions`` is off. Each worker process makes its own, after the fork."""
    from rigml.serve._app import create_app

    if not config.log_predictions:
        return create_app(lab, config)
    from rigml.serve._predlog import PredictionLog

    log = PredictionLog(lab, service=",".join(config.refs))
    return create_app(lab, config, on_prediction=log.append, on_shutdown=[log.close])
