"""The prediction hook, off the request path: a bounded queue drained by one thread.

A request only puts a small tuple on the queue (never blocks: a full queue drops the record
and counts it); the thread builds the record (a DataFrame from column arrays) and calls the
hook, whose errors are logged, never raised into a request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("rigml.serve")
PredictionHook = Callable[[dict[str, Any]], object]
_STOP = object()


class HookQueue:
    """Hands prediction records to ``hook`` from a daemon thread."""

    def __init__(
        self, hook: PredictionHook, *, maxsize: int = 10_000, on_drop: Callable[[], None]
    ) -> None:
        self.hook, self._on_drop = hook, on_drop
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._thread = threading.Thread(target=self._drain, name="rig-prediction-hook", daemon=True)
        self._thread.start()

    def put(self, record: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._on_drop()

    def _drain(self) -> None:
        while True:
            record = self._queue.get()
            if record is _STOP:
                return
            try:
                record["inputs"] = _as_frame(record["inputs"])
                self.hook(record)
            except Exception:
                log.exception("the prediction hook failed")

    def close(self, timeout: float = 10.0) -> None:
        """Hand over what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)


def _as_frame(inputs: Any) -> Any:
    """Column arrays (how a request's rows travel) as a DataFrame; arrays and frames as is."""
    if isinstance(inputs, dict):
        import pandas as pd

        return pd.DataFrame(inputs)
    return inputs


class DirectHook:
    """Calls a hook that never blocks nor raises (the prediction log's ``append``) on the
    request's own thread: no thread to wake per request, which at thousands of requests a
    second costs more than the append itself."""

    def __init__(self, hook: PredictionHook, *, on_drop: Callable[[], None]) -> None:
        self.hook, self._on_drop = hook, on_drop

    def put(self, record: dict[str, Any]) -> None:
        try:
            if self.hook(record) is False:  # refused: full or closed
                self._on_drop()
        except Exception:  # a contract broken by the hook must not fail a request
            log.exception("the prediction hook failed")

    def close(self, timeout: float = 10.0) -> None:
        """Nothing queued here: the hook's own close flushes."""
