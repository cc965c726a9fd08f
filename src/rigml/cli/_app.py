"""The Typer application: global options and the command groups."""

from __future__ import annotations

from pathlib import Path

import typer

from rigml import __version__
from rigml.cli import audit as audit_cmd
from rigml.cli import ci as ci_cmd
from rigml.cli import cost as cost_cmd
from rigml.cli import data as data_cmd
from rigml.cli import doctor as doctor_cmd
from rigml.cli import env as env_cmd
from rigml.cli import fit as fit_cmd
from rigml.cli import gates as gates_cmd
from rigml.cli import init as init_cmd
from rigml.cli import machine as machine_cmd
from rigml.cli import models as models_cmd
from rigml.cli import pipeline as pipeline_cmd
from rigml.cli import plan as plan_cmd
from rigml.cli import predict as predict_cmd
from rigml.cli import predictions as predictions_cmd
from rigml.cli import preflight as preflight_cmd
from rigml.cli import quickstart as quickstart_cmd
from rigml.cli import runs as runs_cmd
from rigml.cli import serve as serve_cmd
from rigml.cli import sweep as sweep_cmd
from rigml.cli import watch as watch_cmd

app = typer.Typer(
    name="rig",
    help=(
        "rigml turns this workstation into a private ML lab.\n\n"
        "Start with `rig quickstart` to see it end to end, or `rig init` to make a lab "
        "here. Track runs from Python with `rigml.start_run(...)`, then inspect them "
        "with `rig runs`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rig {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    lab: Path | None = typer.Option(
        None,
        "--lab",
        envvar="RIG_LAB",
        help="Lab folder to use (default: the nearest .rig/ upward from here).",
        show_envvar=True,
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    from rigml.cli import _state

    _state.lab_path = lab
    _state.debug = debug


app.command("init")(init_cmd.init)
app.command("quickstart")(quickstart_cmd.quickstart)
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(data_cmd.app, name="data", help="Versioned datasets, contracts and profiles.")
app.add_typer(gates_cmd.app, name="gates")
app.add_typer(models_cmd.app, name="models")
app.command("serve")(serve_cmd.serve)
app.command("predict")(predict_cmd.predict)
app.add_typer(predictions_cmd.app, name="predictions")
app.add_typer(audit_cmd.app, name="audit")
# Pipelines: rig.yaml stages, cached by rig.lock
app.command("run")(pipeline_cmd.run)
app.command("status")(pipeline_cmd.status)
app.command("dag")(pipeline_cmd.dag)
app.command("preflight")(preflight_cmd.preflight)
app.command("sweep")(sweep_cmd.sweep)
# Know the machine
app.command("machine")(machine_cmd.machine)
app.command("doctor")(doctor_cmd.doctor)
app.command(
    "watch",
    context_settings=watch_cmd.CONTEXT_SETTINGS,
    options_metavar="[OPTIONS] -- COMMAND [ARGS]...",
)(watch_cmd.watch)
app.add_typer(env_cmd.app, name="env", help="Capture, diff and export a run's environment lock.")
app.add_typer(ci_cmd.app, name="ci", help="Write a CI workflow that tests, runs, gates and stages.")
app.command("fit")(fit_cmd.fit)
# Placement: local or cloud, cost and carbon
app.command("plan")(plan_cmd.plan)
app.add_typer(cost_cmd.app, name="cost")
