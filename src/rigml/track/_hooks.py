"""The process side of tracking: which runs are open, their writers, and the exit hooks.

Runs left open are ended when the process ends: ``finished`` on a normal exit, ``failed``
on an uncaught exception, ``killed`` on Ctrl-C or SIGTERM (turned into ``SystemExit`` so
the stack unwinds through the user's ``with`` blocks). A forked child forgets the
parent's runs and writers. :mod:`rigml.track.runs` only registers runs here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any, Literal

from rigml.track._writer import Writer

if TYPE_CHECKING:
    from rigml.lab import Lab
    from rigml.track.runs import Run

EndStatus = Literal["finished", "failed", "killed"]

_active: list[Run] = []
_writers: dict[str, Writer] = {}  # store URL -> the one writer thread for it
_registry_lock = threading.RLock()
_handlers_installed = False
_prev_sigterm: Any = None
_terminated = False  # SIGTERM arrived; the SystemExit it raised is a kill, not a failure


def register(run: Run) -> None:
    """Make ``run`` the active run, and make sure the process ends it at exit."""
    with _registry_lock:
        _active.append(run)
    _install_handlers()


def unregister(run: Run) -> None:
    with _registry_lock:
        if run in _active:
            _active.remove(run)


def innermost() -> Run | None:
    """The run started last in this process and not yet ended."""
    with _registry_lock:
        return _active[-1] if _active else None


def terminated() -> bool:
    """Whether SIGTERM is what is unwinding the stack."""
    return _terminated


def writer_for(lab: Lab) -> Writer:
    """The background writer of ``lab``'s store in this process, started on first use."""
    with _registry_lock:
        writer = _writers.get(lab.store_url)
        if writer is None or not writer.is_alive():
            writer = Writer(lab.store, interval=lab.config.tracking.flush_interval)
            writer.start()
            _writers[lab.store_url] = writer
        return writer


def _end_all(status: EndStatus, error: str | None) -> None:
    with _registry_lock:
        pending = list(reversed(_active))
    for run in pending:
        try:
            run.end(status, error=error)
        except Exception as exc:  # still try the others
            print(f"rigml: could not end run {run.id[:8]}: {exc}", file=sys.stderr)


def _on_sigterm(signum: int, frame: Any) -> None:
    """Turn SIGTERM into SystemExit(143) so the stack unwinds and runs end as ``killed``.

    Unwinding, rather than ending runs inside the handler, never re-enters a flush that the
    interrupted code was in the middle of. A handler the program set itself keeps control.
    """
    global _terminated
    prev = _prev_sigterm
    if callable(prev):
        prev(signum, frame)
    elif prev != signal.SIG_IGN:
        _terminated = True
        raise SystemExit(128 + signum)


def _at_exit() -> None:
    last = getattr(sys, "last_value", None)  # set by the interpreter for an uncaught exception
    if _terminated:
        _end_all("killed", "terminated by SIGTERM")
    elif isinstance(last, KeyboardInterrupt):
        _end_all("killed", "interrupted (KeyboardInterrupt)")
    elif last is not None:
        _end_all("failed", "".join(traceback.format_exception(last)))
    else:
        _end_all("finished", None)
    with _registry_lock:
        for writer in _writers.values():
            writer.stop()


def _after_fork_in_child() -> None:
    """A forked child (DataLoader worker, multiprocessing) does not own the parent's runs:
    it must neither end them at exit nor share the parent's writer thread, which did not
    survive the fork."""
    global _handlers_installed, _terminated
    _active.clear()
    _writers.clear()
    if _handlers_installed and threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, _prev_sigterm or signal.SIG_DFL)
    _handlers_installed = False
    _terminated = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _install_handlers() -> None:
    global _handlers_installed, _prev_sigterm
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_at_exit)
    if threading.current_thread() is threading.main_thread():
        _prev_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
