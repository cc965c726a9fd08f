"""Watch a workload: sample the machine while it runs, then say what held it back.

:func:`watch` either starts a command as a child process or attaches to a running one
(``pid``). While it runs, a :class:`~rigml.machine.sampler.SystemSampler` reads the
machine, the workload's process tree, its memory cgroup and the GPUs every ``interval``
seconds into a :class:`~rigml.machine.timeline.Timeline`. The child's output is passed
through and scanned for the lines that explain an end (CUDA out of memory, ``Killed``,
``MemoryError``, ``No space left on device``). At the end the timeline goes through
:func:`~rigml.machine.diagnosis.diagnose`, and three files are written to ``output_dir``:

- ``timeline.parquet``: every sample (``timeline.json`` instead when pyarrow is missing),
- ``timeline.png``: the same as a plot (skipped, with a note, when matplotlib is missing),
- ``findings.json``: the :class:`WatchResult` as JSON, findings and summary included.

The timeline is also saved every ``checkpoint_s`` seconds while the workload runs, and
once more whatever way the watch ends, so a crash of the workload (or of the watch) does
not lose it.

Signals: SIGINT and SIGTERM received by the watching process reach the child (a third one
sends SIGKILL), and the watch goes on until the child has exited. Run from a terminal's
foreground, the child shares our process group, so it can read the terminal and gets the
terminal's Ctrl-C directly; otherwise it gets its own group and both signals are
forwarded to that group. In attach mode a signal only ends the watch.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rigml.errors import InvalidInput, MissingExtra, NotFound, OutputNotWritable

if TYPE_CHECKING:
    from rigml.machine.diagnosis import Context, Finding, MetricSummary
    from rigml.machine.gpu import GpuSource
    from rigml.machine.sampler import Sample
    from rigml.machine.timeline import Timeline, TimelineEvent

__all__ = [
    "CommandNotFound",
    "ProcessNotFound",
    "WatchInputs",
    "WatchResult",
    "WatchState",
    "check_target",
    "watch",
    "watch_inputs",
]

_GIB = float(2**30)
_LINE_SPLIT = re.compile(r"[\r\n]")


class CommandNotFound(InvalidInput):
    """The command to watch cannot be started."""

    exit_code = 127

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(
            f"cannot start {command!r}: {reason}",
            hint="check the spelling or give the full path; put the command after --, "
            "e.g. rig watch -- python train.py",
        )
        self.command = command


class ProcessNotFound(NotFound):
    """No process has the pid to attach to."""

    def __init__(self, pid: int) -> None:
        super().__init__(
            f"no running process with pid {pid} to attach to",
            hint="find the pid with `pgrep -f train.py` or `ps aux`",
        )
        self.pid = pid


@dataclass
class WatchState:
    """What a live view needs besides the latest sample; handed to ``on_sample``."""

    started: float
    pid: int
    command: list[str] | None
    interval: float
    timeline: Timeline
    cores: int
    ram_total_gb: float
    disk_path: str
    disk_total_gb: float | None
    gpu_names: dict[int, str] = field(default_factory=dict)
    gpu_note: str | None = None
    samples: int = 0


@dataclass
class WatchResult:
    """A finished watch: how the workload ended, the timeline, the findings, the files."""

    command: list[str] | None
    pid: int
    host: str
    started: float
    ended: float
    exit_code: int | None
    signal: int | None
    interrupted: bool
    interval: float
    timeline: Timeline
    context: Context
    findings: list[Finding]
    summary: dict[str, MetricSummary]
    output_dir: Path
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    gpu_note: str | None = None
    session_id: str | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    @property
    def command_text(self) -> str | None:
        return shlex.join(self.command) if self.command else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command_text,
            "pid": self.pid,
            "host": self.host,
            "started": self.started,
            "ended": self.ended,
            "duration_s": round(self.duration, 3),
            "exit_code": self.exit_code,
            "signal": self.signal,
            "interrupted": self.interrupted,
            "interval_s": self.interval,
            "samples": len(self.timeline),
            "gpu": {
                "available": self.gpu_note is None,
                "reason": self.gpu_note,
                "names": {str(k): v for k, v in self.context.gpu_names.items()},
            },
            "findings": [f.to_dict() for f in self.findings],
            "summary": {k: v.to_dict() for k, v in self.summary.items()},
            "context": self.context.to_dict(),
            "output_dir": str(self.output_dir),
            "files": dict(self.files),
            "notes": list(self.notes),
            "session_id": self.session_id,
        }


# --------------------------------------------------------------------------- output


def _default_echo(stream: str, text: str) -> None:
    out = sys.stderr if stream == "stderr" else sys.stdout
    with contextlib.suppress(OSError, ValueError):
        out.write(text)
        out.flush()


class _Tee:
    """Copies a child's stream to ours, scanning its lines for how the workload ended."""

    def __init__(
        self,
        pipe: IO[bytes],
        stream: str,
        echo: Callable[[str, str], None],
        events: list[tuple[str, float, str]],
    ) -> None:
        self.pipe, self.stream, self.echo, self.events = pipe, stream, echo, events
        self.thread = threading.Thread(target=self._run, name=f"rig-watch-{stream}", daemon=True)

    def start(self) -> _Tee:
        self.thread.start()
        return self

    def _scan(self, line: str) -> None:
        from rigml.machine.diagnosis import scan_output

        kind = scan_output(line)
        if kind is not None:
            self.events.append((kind, time.time(), line.strip()[:500]))

    def _run(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        fd = self.pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            text = decoder.decode(chunk)
            if not text:
                continue
            with contextlib.suppress(Exception):  # the terminal went away; keep scanning
                self.echo(self.stream, text)
            *lines, pending = _LINE_SPLIT.split(pending + text)
            for line in lines:
                self._scan(line)
            if len(pending) > 1 << 16:  # a progress bar without newlines: keep the tail
                pending = pending[-4096:]
        tail = decoder.decode(b"", final=True)
        if tail:
            with contextlib.suppress(Exception):
                self.echo(self.stream, tail)
        if pending + tail:
            self._scan(pending + tail)
        with contextlib.suppress(OSError):
            self.pipe.close()


# --------------------------------------------------------------------------- helpers


def _vmstat_oom_kills() -> int | None:
    try:
        with open("/proc/vmstat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _alive(proc: Any) -> bool:
    import psutil

    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _write_json(path: Path, data: Any) -> None:
    from rigml._output import write_output

    write_output(path, json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")


class _Signals:
    """Passes SIGINT/SIGTERM on to a child, or ends an attached watch.

    A child in its own process group gets every signal forwarded to that group. A child
    sharing the terminal's foreground group with us already got the terminal's Ctrl-C
    itself, so SIGINT is not sent twice (a second KeyboardInterrupt could break its
    clean-up); SIGTERM is forwarded. A third signal kills the child.
    """

    def __init__(
        self,
        child: subprocess.Popen[bytes] | None,
        stop: threading.Event,
        *,
        own_group: bool,
    ) -> None:
        self.child = child
        self.stop = stop
        self.own_group = own_group
        self.received = 0
        self._old: dict[int, Any] = {}

    def install(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return True

    def restore(self) -> None:
        for sig, old in self._old.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received += 1
        self.stop.set()
        child = self.child
        if child is None or child.returncode is not None:
            return
        sig = signal.SIGKILL if self.received >= 3 else signum
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.own_group:
                os.killpg(child.pid, sig)
            elif sig != signal.SIGINT:
                os.kill(child.pid, sig)


def _shares_the_terminal() -> bool:
    """Whether we run in the foreground of a terminal, so its Ctrl-C reaches our group."""
    try:
        fd = sys.stdin.fileno()
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def check_target(
    command: Sequence[str] | None, *, pid: int | None, interval: float
) -> list[str] | None:
    """The command as strings, once it is clear what to watch and how often.

    Raises:
        InvalidInput: neither or both of a command and a pid, or a bad interval.
    """
    argv = [str(a) for a in command] if command is not None else None
    if (not argv) == (pid is None):
        raise InvalidInput(
            "give either a command to run or --pid of a running process, not both or neither",
            hint="rig watch -- python train.py   or   rig watch --pid 12345",
        )
    if not interval > 0:
        raise InvalidInput(
            f"the sampling interval must be positive seconds, got {interval!r}",
            hint="e.g. --interval 1.0",
        )
    return argv or None


@dataclass(frozen=True)
class WatchInputs:
    """What one watch was asked to do, checked: see :func:`watch` for each field."""

    command: list[str] | None
    pid: int | None
    interval: float
    output_dir: Path
    disk_path: str
    on_sample: Callable[[Sample, WatchState], object] | None = None
    gpu: GpuSource | None = None
    echo: Callable[[str, str], None] = _default_echo
    checkpoint_s: float = 30.0
    parents: bool = False

    @classmethod
    def build(
        cls,
        command: Sequence[str] | None,
        *,
        pid: int | None,
        interval: float,
        output_dir: str | os.PathLike[str],
        disk_path: str | os.PathLike[str] | None = None,
        on_sample: Callable[[Sample, WatchState], object] | None = None,
        gpu: GpuSource | None = None,
        echo: Callable[[str, str], None] | None = None,
        checkpoint_s: float = 30.0,
        parents: bool = False,
    ) -> WatchInputs:
        """Check the arguments of :func:`watch` and resolve the disk to watch.

        Raises:
            InvalidInput: neither or both of a command and a pid, a bad interval, or a
                ``disk_path`` that does not exist.
        """
        argv = check_target(command, pid=pid, interval=interval)
        disk = str(Path(disk_path).resolve() if disk_path is not None else Path.cwd())
        if not Path(disk).exists():
            raise InvalidInput(
                f"cannot watch free space on {disk}: there is no such folder",
                hint="give --disk a folder on the disk the workload writes to",
            )
        return cls(
            command=argv or None,
            pid=pid,
            interval=interval,
            output_dir=Path(output_dir).expanduser(),
            disk_path=disk,
            on_sample=on_sample,
            gpu=gpu,
            echo=echo or _default_echo,
            checkpoint_s=checkpoint_s,
            parents=parents,
        )


@dataclass(frozen=True)
class _Machine:
    """What the machine is, read once before the workload starts."""

    gpu: GpuSource
    gpu_note: str | None
    gpu_names: dict[int, str]
    gpu_limits: dict[int, float]
    cores: int
    ram_total_gb: float
    disk: str
    disk_total_gb: float | None
    disk_free_gb: float | None
    oom_kills_before: int | None


def _read_machine(inputs: WatchInputs) -> _Machine:
    import psutil

    from rigml.machine.gpu import default_source

    source = inputs.gpu if inputs.gpu is not None else default_source()
    try:
        gpu_note = None if source.available() else (source.why_unavailable() or "no readings")
        inventory = source.inventory() if gpu_note is None else []
    except Exception as exc:  # a broken driver must not stop the watch
        gpu_note = f"the GPU source failed: {type(exc).__name__}: {exc}"
        inventory = []
    try:
        usage = psutil.disk_usage(inputs.disk_path)
        disk_total_gb: float | None = usage.total / _GIB
        disk_free_gb: float | None = usage.free / _GIB
    except OSError:
        disk_total_gb = disk_free_gb = None
    return _Machine(
        gpu=source,
        gpu_note=gpu_note,
        gpu_names={g.index: g.name for g in inventory},
        gpu_limits={g.index: g.power_limit_w for g in inventory if g.power_limit_w},
        cores=psutil.cpu_count() or 1,
        ram_total_gb=psutil.virtual_memory().total / _GIB,
        disk=inputs.disk_path,
        disk_total_gb=disk_total_gb,
        disk_free_gb=disk_free_gb,
        oom_kills_before=_vmstat_oom_kills(),
    )


@dataclass(frozen=True)
class _Workload:
    """The process watched: our child, or one we attached to."""

    pid: int
    started: float
    own_group: bool
    child: subprocess.Popen[bytes] | None = None
    attached: Any = None  # a psutil.Process

    def alive(self) -> bool:
        return _alive(self.attached)


def _start(inputs: WatchInputs) -> _Workload:
    """Start the command, or find the process to attach to.

    Raises:
        CommandNotFound: the command cannot be started.
        ProcessNotFound: no process has the pid.
    """
    import psutil

    # A child of a foreground terminal job stays in our process group, so it can still
    # read the terminal (pdb, input()); otherwise it gets its own group and we forward.
    own_group = threading.current_thread() is threading.main_thread() and not _shares_the_terminal()
    started = time.time()
    argv = inputs.command
    if argv is not None:
        try:
            child = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                process_group=0 if own_group else None,
            )
        except FileNotFoundError:
            raise CommandNotFound(argv[0], "no such file or command") from None
        except PermissionError:
            raise CommandNotFound(argv[0], "permission denied (is it executable?)") from None
        except OSError as exc:
            raise CommandNotFound(argv[0], exc.strerror or str(exc)) from None
        return _Workload(child.pid, started, own_group, child=child)
    pid = inputs.pid
    assert pid is not None
    try:
        attached = psutil.Process(pid)
    except (psutil.NoSuchProcess, ValueError):
        raise ProcessNotFound(pid) from None
    if not _alive(attached):
        raise ProcessNotFound(pid)
    return _Workload(pid, started, own_group, attached=attached)


class _Session:
    """One watch while it runs: the timeline, the sampler, the live state, what was seen."""

    def __init__(self, inputs: WatchInputs, machine: _Machine, work: _Workload) -> None:
        from rigml.machine.sampler import SystemSampler
        from rigml.machine.timeline import Timeline

        self.inputs, self.machine, self.work = inputs, machine, work
        self.host = socket.gethostname()
        self.events: list[tuple[str, float, str]] = []
        self.files: dict[str, str] = {}
        self.notes: list[str] = []
        argv = inputs.command
        self.timeline = Timeline(
            meta={
                "started": work.started,
                "interval": inputs.interval,
                "command": shlex.join(argv) if argv else None,
                "pid": work.pid,
                "host": self.host,
                "disk_path": machine.disk,
                "disk_total_gb": machine.disk_total_gb,
                "cores": machine.cores,
                "ram_total_gb": machine.ram_total_gb,
                "gpu_note": machine.gpu_note,
                "gpus": {str(k): v for k, v in machine.gpu_names.items()},
            }
        )
        self.sampler = SystemSampler(
            gpu=machine.gpu if machine.gpu_note is None else None,
            pids=[work.pid],
            disk_path=machine.disk,
            per_core=True,
            cgroup_pid=work.pid,
        )
        self.state = WatchState(
            started=work.started,
            pid=work.pid,
            command=argv,
            interval=inputs.interval,
            timeline=self.timeline,
            cores=machine.cores,
            ram_total_gb=machine.ram_total_gb,
            disk_path=machine.disk,
            disk_total_gb=machine.disk_total_gb,
            gpu_names=machine.gpu_names,
            gpu_note=machine.gpu_note,
        )

    def record(self, sample: Sample) -> None:
        """Keep one sample and show it; runs on the sampler thread."""
        self.timeline.append(sample)
        self.state.samples = len(self.timeline)
        if self.sampler.gpu_error and self.state.gpu_note is None:
            self.state.gpu_note = self.sampler.gpu_error
        if self.inputs.on_sample is not None:
            self.inputs.on_sample(sample, self.state)

    def save_timeline(self) -> None:
        _save_timeline(self.timeline, self.inputs.output_dir, self.files, self.notes)


@dataclass(frozen=True)
class _Ending:
    """How the watch ended: the child's return code (``None`` attached), when, and whether
    a signal asked us to stop."""

    returncode: int | None
    ended: float
    interrupted: bool


def _follow(s: _Session) -> _Ending:
    """Sample until the workload ends; save the timeline whatever way the watch ends."""
    from rigml.machine.sampler import SamplerThread

    work, interval = s.work, s.inputs.interval
    stop = threading.Event()
    tees = []
    if work.child is not None:
        assert work.child.stdout is not None and work.child.stderr is not None
        tees = [
            _Tee(work.child.stdout, "stdout", s.inputs.echo, s.events).start(),
            _Tee(work.child.stderr, "stderr", s.inputs.echo, s.events).start(),
        ]
    signals = _Signals(work.child, stop, own_group=work.own_group)
    thread = SamplerThread(s.sampler, s.record, interval=interval, name="rig-watch-sampler")
    returncode: int | None = None
    ended = work.started
    try:
        signals.install()
        thread.start()
        returncode = _wait(s, stop)
        ended = time.time()
    finally:
        signals.restore()
        thread.stop(timeout=5.0)
        if ended == work.started:
            ended = time.time()
        with contextlib.suppress(Exception):  # the last look: disk and cgroup at the end
            s.record(s.sampler.sample())
        for tee in tees:
            tee.thread.join(timeout=5.0)
        s.save_timeline()
    if thread.errors:
        s.notes.append(f"{thread.errors} sample(s) failed: {thread.last_error!r}")
    return _Ending(returncode, ended, signals.received > 0)


def _wait(s: _Session, stop: threading.Event) -> int | None:
    """Wait for the child to exit (its return code) or the attached process to end (None),
    saving the timeline every ``checkpoint_s`` seconds meanwhile."""
    child, interval = s.work.child, s.inputs.interval
    next_checkpoint = time.monotonic() + s.inputs.checkpoint_s
    while True:
        if child is not None:
            returncode = child.poll()
            if returncode is not None:
                return returncode
            time.sleep(min(0.05, interval / 4))
        elif not s.work.alive() or stop.wait(min(0.1, interval / 2)):
            return None
        if time.monotonic() >= next_checkpoint:
            next_checkpoint = time.monotonic() + s.inputs.checkpoint_s
            s.save_timeline()


def _context(s: _Session, end: _Ending) -> Context:
    """How the workload ended and what it printed, for the rules."""
    import numpy as np

    from rigml.machine.diagnosis import Context

    exit_code, sig = _exit_status(end.returncode)
    m = s.machine
    after = _vmstat_oom_kills()
    oom_kills = 0
    if sig == signal.SIGKILL and m.oom_kills_before is not None and after is not None:
        oom_kills = max(0, after - m.oom_kills_before)  # machine-wide: trusted for a SIGKILL
    first: dict[str, tuple[float, str]] = {}
    for kind, at, line in s.events:
        first.setdefault(kind, (at, line))
    limit = s.timeline.get("cgroup_mem_limit_gb")
    limit_gb = None
    if limit is not None:
        finite = limit[np.isfinite(limit)]
        limit_gb = float(finite[-1]) if len(finite) else None
    return Context(
        exit_code=exit_code,
        signal=sig,
        ended_at=end.ended,
        cuda_oom_at=first["cuda_oom"][0] if "cuda_oom" in first else None,
        cuda_oom_line=first["cuda_oom"][1] if "cuda_oom" in first else None,
        killed_at=first["killed"][0] if "killed" in first else None,
        memory_error_at=first["memory_error"][0] if "memory_error" in first else None,
        no_space_at=first["no_space"][0] if "no_space" in first else None,
        no_space_line=first["no_space"][1] if "no_space" in first else None,
        oom_kills=oom_kills,
        disk_path=m.disk,
        disk_total_gb=m.disk_total_gb,
        disk_free_gb=m.disk_free_gb,
        cores=m.cores,
        ram_total_gb=m.ram_total_gb,
        cgroup_mem_limit_gb=limit_gb,
        gpu_names=m.gpu_names,
        gpu_power_limit_w=m.gpu_limits,
    )


def _exit_status(returncode: int | None) -> tuple[int | None, int | None]:
    """Shell-style exit code (128 + N for signal N) and the signal, from a return code."""
    if returncode is None:
        return None, None
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None


def _save_timeline(tl: Timeline, out: Path, files: dict[str, str], notes: list[str]) -> None:
    """Save the timeline as Parquet, or as JSON when pyarrow is missing; never raises."""
    try:
        files["timeline"] = str(tl.save(out / "timeline.parquet", parents=False))
    except MissingExtra:
        try:
            path = out / "timeline.json"
            _write_json(path, tl.to_dict())
            files["timeline"] = str(path)
            note = "pyarrow is not installed: the timeline went to timeline.json instead "
            note += "(pip install 'rigml[parquet]' for Parquet)"
            if note not in notes:
                notes.append(note)
        except (OSError, OutputNotWritable) as exc:
            notes.append(f"could not save the timeline: {exc}")
    except (OSError, OutputNotWritable) as exc:
        notes.append(f"could not save the timeline: {exc}")


def _plot_marks(s: _Session, sig: int | None, ended: float) -> list[TimelineEvent]:
    """The first CUDA OOM, kill and full disk the output showed, and a fatal signal."""
    marks: list[TimelineEvent] = []
    labels = {"cuda_oom": "CUDA OOM", "killed": "killed", "no_space": "disk full"}
    for kind, at, _ in s.events:
        if kind in labels and labels[kind] not in {m[1] for m in marks}:
            marks.append((at, labels[kind]))
    if sig is not None:
        marks.append((ended, f"ended by signal {sig}"))
    return marks


def _write_plot(s: _Session, result: WatchResult) -> None:
    """timeline.png; a missing matplotlib or a failing plot is a note, never an error."""
    marks = _plot_marks(s, result.signal, result.ended)
    try:
        path = s.timeline.plot(
            result.output_dir / "timeline.png",
            title=result.command_text,
            events=marks,
            parents=False,
        )
        s.files["plot"] = str(path)
    except MissingExtra:
        s.notes.append("matplotlib is not installed: no plot (pip install 'rigml[plot]')")
    except Exception as exc:  # a plot must never cost the findings
        s.notes.append(f"could not draw the plot: {type(exc).__name__}: {exc}")


def _write_findings(s: _Session, result: WatchResult) -> None:
    s.files["findings"] = str(result.output_dir / "findings.json")
    try:
        _write_json(result.output_dir / "findings.json", result.to_dict())
    except (OSError, OutputNotWritable) as exc:
        s.notes.append(f"could not write findings.json: {exc}")
        del s.files["findings"]


def _result(s: _Session, end: _Ending) -> WatchResult:
    """Diagnose the timeline and gather everything into the result."""
    from rigml.machine.diagnosis import diagnose, summarise

    gpu_note = s.machine.gpu_note
    if s.sampler.gpu_error:
        s.notes.append(s.sampler.gpu_error)
        gpu_note = gpu_note or s.sampler.gpu_error
    ctx = _context(s, end)
    return WatchResult(
        command=s.inputs.command,
        pid=s.work.pid,
        host=s.host,
        started=s.work.started,
        ended=end.ended,
        exit_code=ctx.exit_code,
        signal=ctx.signal,
        interrupted=end.interrupted,
        interval=s.inputs.interval,
        timeline=s.timeline,
        context=ctx,
        findings=diagnose(s.timeline, ctx),
        summary=summarise(s.timeline),
        output_dir=s.inputs.output_dir,
        files=s.files,
        notes=s.notes,
        gpu_note=gpu_note,
    )


# --------------------------------------------------------------------------- watch


def watch(
    command: Sequence[str] | None = None,
    *,
    pid: int | None = None,
    interval: float = 1.0,
    output_dir: str | os.PathLike[str],
    on_sample: Callable[[Sample, WatchState], object] | None = None,
    gpu: GpuSource | None = None,
    disk_path: str | os.PathLike[str] | None = None,
    echo: Callable[[str, str], None] | None = None,
    checkpoint_s: float = 30.0,
    parents: bool = False,
) -> WatchResult:
    """Run ``command`` (or attach to ``pid``) while sampling the machine; then diagnose.

    Args:
        command: The program and its arguments, started as a child process whose output
            is passed through.
        pid: A running process to attach to instead; the watch ends when it exits.
        interval: Seconds between samples.
        output_dir: Where timeline.parquet, timeline.png and findings.json go; the folder
            is created, its parent must exist (unless ``parents``).
        on_sample: Called on the sampling thread with every sample and the
            :class:`WatchState`, e.g. to draw a live view.
        gpu: Where GPU readings come from; :func:`rigml.machine.gpu.default_source` by
            default (NVML, or the recording named by ``RIG_GPU_RECORDING``).
        disk_path: The filesystem whose free space is watched; the working directory's
            by default.
        echo: Receives the child's output as ``(stream, text)`` with stream ``"stdout"``
            or ``"stderr"``; by default it goes to this process's stdout and stderr.
        checkpoint_s: Save the timeline this often while the workload runs.
        parents: Also create the missing parents of ``output_dir``: for a folder rigml
            chose (one in the lab), not for one a user typed.

    Returns:
        The :class:`WatchResult`; its ``exit_code`` is the child's, shell style (128 + N
        when signal N ended it), or ``None`` in attach mode.

    Raises:
        InvalidInput: Neither or both of ``command`` and ``pid``, a bad interval, or a
            ``disk_path`` that does not exist.
        CommandNotFound: The command cannot be started.
        ProcessNotFound: No process has ``pid``.
        OutputNotWritable: ``output_dir`` cannot be created or written to.
    """
    inputs = WatchInputs.build(
        command,
        pid=pid,
        interval=interval,
        output_dir=output_dir,
        disk_path=disk_path,
        on_sample=on_sample,
        gpu=gpu,
        echo=echo,
        checkpoint_s=checkpoint_s,
        parents=parents,
    )
    return watch_inputs(inputs)


def watch_inputs(inputs: WatchInputs) -> WatchResult:
    """:func:`watch` with its arguments already checked: the steps, in order."""
    from rigml._output import check_output_folder

    check_output_folder(inputs.output_dir, parents=inputs.parents)
    machine = _read_machine(inputs)
    session = _Session(inputs, machine, _start(inputs))
    ending = _follow(session)
    result = _result(session, ending)
    _write_plot(session, result)
    _write_findings(session, result)
    return result
