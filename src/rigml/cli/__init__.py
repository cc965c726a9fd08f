"""The ``rig`` command: one module per command group, each a thin skin over a service.

Exit codes live here, and only here: 0 ok, 1 a RigError (2 for bad input), 2 bad usage,
130 interrupted, 141 broken pipe (output piped into ``head``), 70 an unexpected error (a bug).
"""

from __future__ import annotations

import os
import sys

EXIT_BUG = 70
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Run ``rig``; errors become one or two lines on stderr and an exit code."""
    from rigml.cli._app import app

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Typer turns Ctrl-C into exit code 130 itself, and a broken pipe into SystemExit(1)
        result = app(args=argv, prog_name="rig", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):
            return _broken_pipe()
        raise
    except BaseException as exc:
        return _handle(exc, debug=debug)


def _handle(exc: BaseException, *, debug: bool) -> int:
    """The message and exit code for an error that reached the top; re-raised with --debug."""
    import typer

    from rigml.errors import RigError

    if isinstance(exc, RigError):
        if debug:
            raise exc
        from rigml.cli import _ui

        _ui.error(exc.message, exc.hint)
        return exc.exit_code
    if isinstance(exc, typer.Exit):
        return int(exc.exit_code)
    if isinstance(exc, typer.Abort | KeyboardInterrupt):
        print("aborted" if isinstance(exc, typer.Abort) else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return _broken_pipe()
    if not isinstance(exc, Exception):
        raise exc  # SystemExit, GeneratorExit: not ours to translate
    if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # usage errors of the parser
        exc.show()
        return int(exc.exit_code)
    if debug:
        raise exc
    print(
        f"rig: unexpected error: {type(exc).__name__}: {exc}\n"
        "this is a bug in rigml; run again with --debug for the traceback and report it",
        file=sys.stderr,
    )
    return EXIT_BUG


def _broken_pipe() -> int:
    """stdout closed early (``rig runs list | head``): exit quietly, like coreutils."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (captured output)
        pass
    return EXIT_BROKEN_PIPE


def entry() -> None:
    sys.exit(main())
