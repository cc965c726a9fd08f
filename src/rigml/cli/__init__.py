"""The ``rig`` command: one module per command group, each a thin skin over a service.

Exit codes live here: 0 ok, 1 a RigError, 2 bad usage or input, 130 interrupted,
141 broken pipe (output piped into ``head``), 70 an unexpected error (a bug).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``rig``; errors become one or two lines on stderr and an exit code."""
    import typer

    from rigml.cli._app import app
    from rigml.errors import RigError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        result = app(args=argv, prog_name="rig", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except RigError as exc:
        if debug:
            raise
        from rigml.cli import _ui

        _ui.error(exc.message, exc.hint)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout closed early (`rig runs list | head`): exit quietly, like coreutils
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # usage errors of the parser
            exc.show()
            return int(exc.exit_code)
        if debug:
            raise
        print(
            f"rig: unexpected error: {type(exc).__name__}: {exc}\n"
            "this is a bug in rigml; run again with --debug for the traceback and report it",
            file=sys.stderr,
        )
        return 70


def entry() -> None:
    sys.exit(main())
