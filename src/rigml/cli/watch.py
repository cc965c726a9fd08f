"""``rig watch``: run a workload (or attach to one) while watching the machine, then diagnose."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import RenderableType

    from rigml.lab import Lab
    from rigml.machine.sampler import Sample
    from rigml.machine.watch import WatchInputs, WatchResult, WatchState

CONTEXT_SETTINGS = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    # stop parsing at the command, so `rig watch python x.py --interval 3` passes it on
    "allow_interspersed_args": False,
}

_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
_PEAKS = (
    ("cpu_percent", "CPU (machine)", "%"),
    ("cpu_max_core_percent", "CPU (busiest core)", "%"),
    ("cpu_iowait_percent", "CPU waiting for I/O", "%"),
    ("ram_percent", "RAM used", "%"),
    ("cgroup_mem_percent", "cgroup memory (of its limit)", "%"),
    ("swap_in_mb_s", "swap in", "MiB/s"),
    ("disk_read_mb_s", "disk read", "MiB/s"),
    ("disk_write_mb_s", "disk write", "MiB/s"),
    ("proc_rss_gb", "workload memory (RSS)", "GiB"),
    ("proc_cpu_percent", "workload CPU (100 = one core)", "%"),
)
_GPU_PEAKS = (
    ("util_percent", "utilisation", "%"),
    ("mem_percent", "memory", "%"),
    ("temp_c", "temperature", "°C"),
    ("power_w", "power", "W"),
)


def watch(
    ctx: typer.Context,
    pid: int | None = typer.Option(
        None, "--pid", "-p", help="Attach to this running process instead of starting one."
    ),
    interval: float = typer.Option(
        1.0, "--interval", "-i", min=0.05, help="Seconds between samples."
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Folder for timeline.parquet, timeline.png and findings.json, made if missing "
        "(its parent must exist). Default: <lab>/watch/<time> in the nearest lab.",
    ),
    disk: Path | None = typer.Option(
        None, "--disk", help="Watch free space on this folder's disk (default: the current one)."
    ),
    no_record: bool = typer.Option(
        False, "--no-record", help="Do not record the session and its findings in the lab."
    ),
    json_out: bool = typer.Option(
        False,
        "--json",
        help="Print the result as JSON; the workload's own output then goes to stderr.",
    ),
) -> None:
    """Run a workload while watching the machine, then say what held it back.

    Put the command after --:   rig watch -- python train.py --epochs 3
    Or attach to a running one:  rig watch --pid 12345

    Samples CPU per core, RAM, swap, disk I/O and free space, the workload's
    processes and memory cgroup, and each NVIDIA GPU (utilisation, memory,
    temperature, power, clocks, throttle reasons), with a live view.

    At the end each finding names the constraint, its evidence (values and
    times) and the first fix. The timeline (Parquet), a plot (PNG) and the
    findings (JSON) are saved in the nearest lab (or --output) and recorded
    there. Exits with the workload's exit code.
    """
    from rigml.machine.watch import WatchInputs, check_target

    command = check_target(list(ctx.args) or None, pid=pid, interval=interval)
    lab = _find_lab() if output is None or not no_record else None
    out, chosen = _output_folder(output, lab)
    inputs = WatchInputs.build(
        command,
        pid=pid,
        interval=interval,
        output_dir=out,
        parents=chosen,
        disk_path=disk,
        echo=_stderr_echo if json_out else None,
    )
    result = _run(inputs, json_out=json_out)
    record_lab = None if no_record else lab
    record_error = _record(record_lab, result)
    if json_out:
        _print_json(result, record_lab, record_error)
    else:
        _render(result, record_lab, no_record=no_record, record_error=record_error)
    code = result.exit_code or 0
    if code:
        raise typer.Exit(code)


def _find_lab() -> Lab | None:
    from rigml.cli import _state
    from rigml.errors import LabNotFound

    try:
        return _state.open_lab()
    except LabNotFound:
        return None


def _output_folder(output: Path | None, lab: Lab | None) -> tuple[Path, bool]:
    """Where the files go, and whether rigml chose it (so it may make its parents).

    Raises:
        InvalidInput: no ``--output`` and no lab to put the files in.
    """
    import time
    import uuid

    from rigml.errors import InvalidInput

    if output is not None:
        return output, False
    if lab is None:
        raise InvalidInput(
            f"rig watch keeps its files in a lab, and there is none in {Path.cwd()} or its parents",
            hint="give a folder for them with --output DIR, or make a lab with `rig init` "
            "(or point RIG_LAB at one)",
        )
    stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    return lab.path / "watch" / stamp, True


def _stderr_echo(_stream: str, text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _run(inputs: WatchInputs, *, json_out: bool) -> WatchResult:
    """Watch, with a live view on a terminal (a one-line note elsewhere, none for JSON)."""
    import dataclasses

    from rigml.cli import _ui
    from rigml.machine.watch import watch_inputs

    if json_out or not _ui.console().is_terminal:
        if not json_out:
            _ui.write(
                f"watching {_ui.fmt(_what(inputs.command, inputs.pid)[:200])} every "
                f"{inputs.interval:g} s…"
            )
        return watch_inputs(inputs)
    from rich.live import Live

    live = Live(
        _ui.Styled("starting…"),
        console=_ui.console(),
        refresh_per_second=4,
        redirect_stdout=True,
        redirect_stderr=True,
    )

    def on_sample(sample: Sample, state: WatchState) -> None:
        live.update(_live_view(sample, state))

    live.start()
    try:
        return watch_inputs(dataclasses.replace(inputs, on_sample=on_sample))
    finally:
        live.stop()


def _what(command: list[str] | None, pid: int | None) -> str:
    return " ".join(" ".join(command).split()) if command else f"pid {pid}"


def _record(lab: Lab | None, result: WatchResult) -> Exception | None:
    """Record the watch in ``lab``; a failure is returned, so the exit code is not lost."""
    from rigml.errors import RigError

    if lab is None:
        return None
    from rigml.machine.findings import record_watch

    try:
        record_watch(lab, result)
    except RigError as exc:  # the files are saved; say so rather than lose the exit code
        return exc
    return None


def _print_json(result: WatchResult, lab: Lab | None, record_error: Exception | None) -> None:
    from rigml.cli import _ui

    data = result.to_dict()
    data["lab"] = str(lab.path) if lab is not None else None
    if record_error is not None:
        data["notes"].append(f"not recorded in the lab: {record_error}")
    _ui.write_json(data)


# --------------------------------------------------------------------------- live view


def _bar(percent: float | None, width: int = 16) -> str:
    if percent is None:
        return "[dim]" + "·" * width + "[/]    -"
    p = max(0.0, min(100.0, percent))
    full = round(p / 100 * width)
    style = "green" if p < 70 else "yellow" if p < 90 else "red"
    return f"[{style}]{'█' * full}[/][dim]{'░' * (width - full)}[/] {p:3.0f}%"


def _num(v: dict[str, float], key: str, fmt: str = "{:.1f}") -> str:
    value = v.get(key)
    return "-" if value is None else fmt.format(value)


def _live_view(sample: Sample, state: WatchState) -> RenderableType:
    from rich.console import Group

    v = sample.values
    parts: list[Any] = [_live_head(state), _core_grid(v, state), _machine_lines(v, state)]
    parts.append(_gpu_table(sample, state))
    return Group(*parts)


def _live_head(state: WatchState) -> str:
    import time

    from rich.markup import escape

    what = _what(state.command, state.pid)
    return (
        f"[bold]watching[/] {escape(what[:100])}  [dim]pid {state.pid} · "
        f"{time.time() - state.started:.0f} s · {state.samples} sample(s) every "
        f"{state.interval:g} s · Ctrl-C stops the workload[/]"
    )


def _core_grid(v: dict[str, float], state: WatchState) -> RenderableType:
    from rich.table import Table

    cores = Table.grid(padding=(0, 2))
    per_row = 4 if state.cores > 8 else 2
    cells = [
        f"cpu{i:<2} {_bar(v.get(f'cpu{i}_percent'))}"
        for i in range(state.cores)
        if f"cpu{i}_percent" in v
    ]
    for _ in range(per_row):
        cores.add_column()
    for start in range(0, len(cells), per_row):
        row = cells[start : start + per_row]
        cores.add_row(*row, *[""] * (per_row - len(row)))
    return cores


def _machine_lines(v: dict[str, float], state: WatchState) -> RenderableType:
    """CPU, RAM, the cgroup, swap, disk and the workload, one line each."""
    from rich.markup import escape
    from rich.table import Table

    lines = Table.grid(padding=(0, 2))
    lines.add_column(style="bold")
    lines.add_column()
    lines.add_row(
        "CPU",
        f"machine {_bar(v.get('cpu_percent'))}  iowait {_num(v, 'cpu_iowait_percent', '{:.0f}')}%",
    )
    lines.add_row(
        "RAM",
        f"{_bar(v.get('ram_percent'))}  {_num(v, 'ram_used_gb')} of {state.ram_total_gb:.1f} GiB",
    )
    if "cgroup_mem_percent" in v:
        lines.add_row(
            "cgroup",
            f"{_bar(v.get('cgroup_mem_percent'))}  {_num(v, 'cgroup_mem_used_gb', '{:.2f}')} "
            f"of {_num(v, 'cgroup_mem_limit_gb', '{:.2f}')} GiB limit",
        )
    lines.add_row(
        "swap",
        f"{_num(v, 'swap_used_gb')} GiB used · in {_num(v, 'swap_in_mb_s')} MiB/s · "
        f"out {_num(v, 'swap_out_mb_s')} MiB/s",
    )
    total = f" of {state.disk_total_gb:.1f}" if state.disk_total_gb else ""
    lines.add_row(
        "disk",
        f"read {_num(v, 'disk_read_mb_s')} MiB/s · write {_num(v, 'disk_write_mb_s')} MiB/s · "
        f"free {_num(v, 'disk_free_gb', '{:.2f}')}{total} GiB on {escape(state.disk_path)}",
    )
    lines.add_row(
        "workload",
        f"RSS {_num(v, 'proc_rss_gb', '{:.2f}')} GiB · "
        f"CPU {_num(v, 'proc_cpu_percent', '{:.0f}')}%",
    )
    return lines


def _gpu_table(sample: Sample, state: WatchState) -> RenderableType:
    """One row per GPU, or why there is none."""
    from rich.markup import escape
    from rich.table import Table

    v = sample.values
    gpus = sorted({int(k[3:].split("/")[0]) for k in v if k.startswith("gpu") and "/" in k})
    if not gpus:
        return f"[yellow]no NVIDIA GPU visible:[/] {escape(state.gpu_note or 'no readings')}"
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("GPU", "util", "memory", "temp", "power", "SM clock", "throttle"):
        table.add_column(col)
    for i in gpus:
        p = f"gpu{i}/"
        reasons = sample.extra.get(p + "throttle_reasons")
        table.add_row(
            f"gpu{i} {escape(state.gpu_names.get(i, ''))}"[:32],
            _bar(v.get(p + "util_percent"), 10),
            f"{_bar(v.get(p + 'mem_percent'), 10)} {_num(v, p + 'mem_used_gb')} GiB",
            f"{_num(v, p + 'temp_c', '{:.0f}')} °C",
            f"{_num(v, p + 'power_w', '{:.0f}')} W",
            f"{_num(v, p + 'sm_clock_mhz', '{:.0f}')} MHz",
            escape(", ".join(reasons)) if reasons else "-",
        )
    return table


# --------------------------------------------------------------------------- result


def _render(
    result: WatchResult, lab: Lab | None, *, no_record: bool, record_error: Exception | None
) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    _ui.write(
        f"{_how_it_ended(result)} after {_ui.duration(result.duration)}; "
        f"{len(result.timeline)} samples every {result.interval:g} s"
    )
    if result.gpu_note:
        _ui.write(f"[yellow]no NVIDIA GPU visible:[/] {escape(result.gpu_note)}")
    if result.findings:
        _findings_table(result)
    else:
        _ui.write("[green]no bottleneck found[/]: peaks of this run below")
        _ui.table(["metric", "peak", "at", "mean"], _peak_rows(result), title="peaks")
    for name, path in result.files.items():
        _ui.write(f"[dim]{name}:[/] {escape(path)}")
    for note in result.notes:
        _ui.write(f"[yellow]note:[/] {escape(note)}")
    if record_error is not None:
        _ui.write(f"[yellow]not recorded in the lab:[/] {escape(str(record_error))}")
    elif lab is not None and result.session_id:
        _ui.write(
            f"recorded as watch session {result.session_id[:8]} in the lab at "
            f"{escape(str(lab.path))}"
        )
    elif not no_record:
        _ui.write("[dim]not recorded: no lab here (`rig init` makes one)[/]")


def _how_it_ended(result: WatchResult) -> str:
    if result.exit_code is None:
        return "the process ended" if not result.interrupted else "stopped watching"
    if result.signal:
        return f"the workload was ended by signal {result.signal} (exit code {result.exit_code})"
    return f"the workload exited with code {result.exit_code}"


def _findings_table(result: WatchResult) -> None:
    from rich.markup import escape

    from rigml.cli import _ui

    rows = []
    for f in result.findings:
        style = _SEVERITY_STYLE.get(f.severity, "white")
        evidence = "\n".join(f"• {e}" for e in f.evidence)
        rows.append(
            [
                _ui.Styled(f"[{style}]{f.constraint}[/]\n[dim]{f.severity}[/]"),
                _ui.Styled(f"[bold]{escape(f.title)}[/]\n{escape(evidence)}"),
                f.first_fix,
            ]
        )
    _ui.table(["constraint", "finding and evidence", "first fix"], rows, title="findings")


def _peak_rows(result: WatchResult) -> list[list[str]]:
    """Peak, when, and mean of the machine's, the workload's and each GPU's metrics."""
    wanted = [(key, label, unit) for key, label, unit in _PEAKS]
    for i in result.timeline.gpu_indices():
        wanted += [(f"gpu{i}/{key}", f"gpu{i} {label}", unit) for key, label, unit in _GPU_PEAKS]
    rows = []
    for key, label, unit in wanted:
        s = result.summary.get(key)
        if s is not None:
            rows.append([label, f"{s.peak:.1f} {unit}", f"t+{s.peak_at_s:.0f} s", f"{s.mean:.1f}"])
    free = result.summary.get("disk_free_gb")
    if free is not None:
        rows.append(["disk free (lowest)", f"{free.min:.2f} GiB", "-", f"{free.mean:.2f}"])
    return rows
