"""The one error handler of `rig` (rigml.cli.main): messages, hints and exit codes.

Each case makes the lab opener of every command raise, so the handler sees exactly the
error a command would let through.
"""

from __future__ import annotations

import pytest

from rigml.cli import _state
from rigml.errors import InvalidConfig, LabNotWritable, OutputNotWritable


def _raising(exc: BaseException):  # type: ignore[no-untyped-def]
    def open_lab():  # type: ignore[no-untyped-def]
        raise exc

    return open_lab


@pytest.mark.parametrize(
    ("exc", "code", "needles"),
    [
        (OutputNotWritable("/proc/x.csv", "read-only file system"), 1, ["cannot write"]),
        (LabNotWritable("/mnt/lab", "read-only file system"), 1, ["cannot write to the lab"]),
        (InvalidConfig("/lab/rig.toml", "[store] url: expected a string, got 42"), 2, ["[store]"]),
    ],
)
def test_rig_errors_print_a_message_and_a_hint(monkeypatch, rig, exc, code, needles) -> None:
    monkeypatch.setattr(_state, "open_lab", _raising(exc))
    result = rig("runs", "list")
    assert result.exit_code == code
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and lines[-1].startswith("hint: ")
    assert all(n in result.err for n in needles) and "Traceback" not in result.stderr


def test_an_interrupt_exits_130(monkeypatch, rig) -> None:
    monkeypatch.setattr(_state, "open_lab", _raising(KeyboardInterrupt()))
    result = rig("runs", "list")
    assert result.exit_code == 130 and "Traceback" not in result.stderr


def test_a_broken_pipe_exits_141_quietly(monkeypatch, rig) -> None:
    monkeypatch.setattr(_state, "open_lab", _raising(BrokenPipeError(32, "Broken pipe")))
    result = rig("runs", "list")
    assert result.exit_code == 141 and result.stderr == ""


def test_an_unexpected_error_is_called_a_bug_with_a_way_to_see_more(monkeypatch, rig) -> None:
    monkeypatch.setattr(_state, "open_lab", _raising(RuntimeError("boom")))
    result = rig("runs", "list")
    assert result.exit_code == 70
    assert "unexpected error: RuntimeError: boom" in result.err and "--debug" in result.err
    assert "Traceback" not in result.stderr
    with pytest.raises(RuntimeError, match="boom"):  # --debug lets the traceback through
        rig("--debug", "runs", "list")


def test_usage_errors_exit_2(rig) -> None:
    result = rig("runs", "list", "--no-such-option")
    assert result.exit_code == 2 and "No such option" in result.err
