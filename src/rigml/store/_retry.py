"""The one retry rule for store writes that meet another writer's lock.

SQLite answers "database is locked" at once, whatever its busy timeout, in a few cases
(a deferred transaction upgrading to a write, switching to WAL, a checkpoint). Every
caller that can meet such an answer retries through :func:`retry_locked` with the same
rules: only locked or busy errors are retried, the wait doubles from 10 ms to at most 1 s
with jitter so that waiting writers do not retry in step, and after ``patience`` seconds
the last error is raised. :func:`retry` applies the same waits to another condition (a
version number that a concurrent writer took first).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FIRST_DELAY_S = 0.01
MAX_DELAY_S = 1.0


def is_locked_error(exc: BaseException) -> bool:
    """True for a driver's "locked"/"busy" error, or a RigError caused by one."""
    for err in (exc, exc.__cause__):
        if err is None:
            continue
        text = str(err).lower()
        if "database is locked" in text or "database table is locked" in text or "busy" in text:
            return True
    return False


def retry_locked(
    fn: Callable[[], T],
    *,
    patience: float,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``fn()``, called again while it fails with a locked error, for up to ``patience`` s.

    Raises:
        Exception: whatever ``fn`` raised when it is not a locked error, or once the
            deadline has passed.
    """
    return retry(fn, when=is_locked_error, patience=patience, sleep=sleep)


def retry(
    fn: Callable[[], T],
    *,
    when: Callable[[BaseException], bool],
    patience: float,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``fn()``, called again while it fails with an error ``when`` accepts, for up to
    ``patience`` s, with the doubling, jittered waits of :func:`retry_locked`.

    Raises:
        Exception: whatever ``fn`` raised when ``when`` rejects it, or once the deadline
            has passed.
    """
    deadline = time.monotonic() + patience
    delay = FIRST_DELAY_S
    while True:
        try:
            return fn()
        except Exception as exc:
            if not when(exc) or time.monotonic() + delay > deadline:
                raise
        sleep(delay * (1 + random.random()))
        delay = min(delay * 2, MAX_DELAY_S)
