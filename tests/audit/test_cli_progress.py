"""``rig audit verify`` shows a progress bar on a terminal's stderr, and nothing when piped."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from rigml.audit import record_now


def _log(lab, n: int = 3) -> None:
    for i in range(n):
        record_now(lab, action="dataset.tag", subject=f"ds@{i}", after=i)


def test_a_terminal_gets_a_bar_on_stderr(rig, lab, monkeypatch: pytest.MonkeyPatch) -> None:
    from rigml.cli import _ui

    _log(lab)
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(_ui, "err_console", lambda: terminal)
    result = rig("--lab", str(lab.path), "audit", "verify")
    assert result.exit_code == 0, result.stderr
    assert "checking audit entries" in screen.getvalue()
    assert "3 of 3" in screen.getvalue()
    assert result.stdout.startswith("3 entries, root ")


def test_a_pipe_gets_no_bar(rig, lab) -> None:
    _log(lab)
    result = rig("--lab", str(lab.path), "audit", "verify", "--json")
    assert result.exit_code == 0 and result.stderr == ""
