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

from rigml.errors import InvalidInput, LabNotWritable, MissingExtra, NotFound

if TYPE_CHECKING:
    from rigml.machine.diagnosis import Context, Finding, MetricSummary
    from rigml.machine.gpu import GpuSource
    from rigml.machine.sampler import Sample
    from rigml.machine.timeline import Timeline

__all__ = [
    "CommandNotFound",
    "ProcessNotFound",
    "WatchResult",
    "WatchState",
    "watch",
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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


def _context(
    tl: Timeline,
    *,
    exit_code: int | None,
    sig: int | None,
    ended: float,
    events: list[tuple[str, float, str]],
    oom_kills: int,
    disk_path: str,
    disk_total_gb: float | None,
    disk_free_gb: float | None,
    cores: int,
    ram_total_gb: float,
    gpu_names: dict[int, str],
    gpu_limits: dict[int, float],
) -> Context:
    from rigml.machine.diagnosis import Context

    first: dict[str, tuple[float, str]] = {}
    for kind, at, line in events:
        first.setdefault(kind, (at, line))
    limit = tl.get("cgroup_mem_limit_gb")
    limit_gb = None
    if limit is not None:
        import numpy as np

        finite = limit[np.isfinite(limit)]
        limit_gb = float(finite[-1]) if len(finite) else None
    return Context(
        exit_code=exit_code,
        signal=sig,
        ended_at=ended,
        cuda_oom_at=first["cuda_oom"][0] if "cuda_oom" in first else None,
        cuda_oom_line=first["cuda_oom"][1] if "cuda_oom" in first else None,
        killed_at=first["killed"][0] if "killed" in first else None,
        memory_error_at=first["memory_error"][0] if "memory_error" in first else None,
        no_space_at=first["no_space"][0] if "no_space" in first else None,
        no_space_line=first["no_space"][1] if "no_space" in first else None,
        oom_kills=oom_kills,
        disk_path=disk_path,
        disk_total_gb=disk_total_gb,
        disk_free_gb=disk_free_gb,
        cores=cores,
        ram_total_gb=ram_total_gb,
        cgroup_mem_limit_gb=limit_gb,
        gpu_names=gpu_names,
        gpu_power_limit_w=gpu_limits,
    )


def _save_timeline(tl: Timeline, out: Path, files: dict[str, str], notes: list[str]) -> None:
    """Save the timeline as Parquet, or as JSON when pyarrow is missing; never raises."""
    try:
        files["timeline"] = str(tl.save(out / "timeline.parquet"))
    except MissingExtra:
        try:
            path = out / "timeline.json"
            _write_json(path, tl.to_dict())
            files["timeline"] = str(path)
            note = "pyarrow is not installed: the timeline went to timeline.json instead "
            note += "(pip install 'rigml[parquet]' for Parquet)"
            if note not in notes:
                notes.append(note)
        except OSError as exc:
            notes.append(f"could not save the timeline: {exc}")
    except OSError as exc:
        notes.append(f"could not save the timeline: {exc}")


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
) -> WatchResult:
    """Run ``command`` (or attach to ``pid``) while sampling the machine; then diagnose.

    Args:
        command: The program and its arguments, started as a child process whose output
            is passed through.
        pid: A running process to attach to instead; the watch ends when it exits.
        interval: Seconds between samples.
        output_dir: Where timeline.parquet, timeline.png and findings.json go (created).
        on_sample: Called on the sampling thread with every sample and the
            :class:`WatchState`, e.g. to draw a live view.
        gpu: Where GPU readings come from; :func:`rigml.machine.gpu.default_source` by
            default (NVML, or the recording named by ``RIG_GPU_RECORDING``).
        disk_path: The filesystem whose free space is watched; the working directory's
            by default.
        echo: Receives the child's output as ``(stream, text)`` with stream ``"stdout"``
            or ``"stderr"``; by default it goes to this process's stdout and stderr.
        checkpoint_s: Save the timeline this often while the workload runs.

    Returns:
        The :class:`WatchResult`; its ``exit_code`` is the child's, shell style (128 + N
        when signal N ended it), or ``None`` in attach mode.

    Raises:
        InvalidInput: Neither or both of ``command`` and ``pid``, a bad interval, or a
            ``disk_path`` that does not exist.
        CommandNotFound: The command cannot be started.
        ProcessNotFound: No process has ``pid``.
        LabNotWritable: ``output_dir`` cannot be created.
    """
    import psutil

    from rigml.machine.diagnosis import diagnose, summarise
    from rigml.machine.gpu import default_source
    from rigml.machine.sampler import SamplerThread, SystemSampler
    from rigml.machine.timeline import Timeline

    if (command is None or not list(command)) == (pid is None):
        raise InvalidInput(
            "give either a command to run or --pid of a running process, not both or neither",
            hint="rig watch -- python train.py   or   rig watch --pid 12345",
        )
    if not interval > 0:
        raise InvalidInput(
            f"the sampling interval must be positive seconds, got {interval!r}",
            hint="e.g. --interval 1.0",
        )
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabNotWritable(str(out), exc.strerror or str(exc)) from exc
    disk = str(Path(disk_path).resolve() if disk_path is not None else Path.cwd())
    if not Path(disk).exists():
        raise InvalidInput(
            f"cannot watch free space on {disk}: there is no such folder",
            hint="give --disk a folder on the disk the workload writes to",
        )

    source = gpu if gpu is not None else default_source()
    try:
        gpu_note = None if source.available() else (source.why_unavailable() or "no readings")
        inventory = source.inventory() if gpu_note is None else []
    except Exception as exc:  # a broken driver must not stop the watch
        gpu_note = f"the GPU source failed: {type(exc).__name__}: {exc}"
        inventory = []
    gpu_names = {g.index: g.name for g in inventory}
    gpu_limits = {g.index: g.power_limit_w for g in inventory if g.power_limit_w}

    cores = psutil.cpu_count() or 1
    ram_total_gb = psutil.virtual_memory().total / _GIB
    try:
        usage = psutil.disk_usage(disk)
        disk_total_gb: float | None = usage.total / _GIB
        disk_free_gb: float | None = usage.free / _GIB
    except OSError:
        disk_total_gb = disk_free_gb = None
    oom_before = _vmstat_oom_kills()
    echo = echo or _default_echo
    events: list[tuple[str, float, str]] = []
    stop = threading.Event()

    # -- start or attach
    child: subprocess.Popen[bytes] | None = None
    attached: Any = None
    argv = [str(a) for a in command] if command is not None else None
    # A child of a foreground terminal job stays in our process group, so it can still
    # read the terminal (pdb, input()); otherwise it gets its own group and we forward.
    own_group = threading.current_thread() is threading.main_thread() and not _shares_the_terminal()
    started = time.time()
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
        watched = child.pid
    else:
        assert pid is not None
        try:
            attached = psutil.Process(pid)
        except (psutil.NoSuchProcess, ValueError):
            raise ProcessNotFound(pid) from None
        if not _alive(attached):
            raise ProcessNotFound(pid)
        watched = pid

    host = socket.gethostname()
    timeline = Timeline(
        meta={
            "started": started,
            "interval": interval,
            "command": shlex.join(argv) if argv else None,
            "pid": watched,
            "host": host,
            "disk_path": disk,
            "disk_total_gb": disk_total_gb,
            "cores": cores,
            "ram_total_gb": ram_total_gb,
            "gpu_note": gpu_note,
            "gpus": {str(k): v for k, v in gpu_names.items()},
        }
    )
    sampler = SystemSampler(
        gpu=source if gpu_note is None else None,
        pids=[watched],
        disk_path=disk,
        per_core=True,
        cgroup_pid=watched,
    )
    state = WatchState(
        started=started,
        pid=watched,
        command=argv,
        interval=interval,
        timeline=timeline,
        cores=cores,
        ram_total_gb=ram_total_gb,
        disk_path=disk,
        disk_total_gb=disk_total_gb,
        gpu_names=gpu_names,
        gpu_note=gpu_note,
    )

    def record(sample: Sample) -> None:
        timeline.append(sample)
        state.samples = len(timeline)
        if sampler.gpu_error and state.gpu_note is None:
            state.gpu_note = sampler.gpu_error
        if on_sample is not None:
            on_sample(sample, state)

    tees = []
    if child is not None:
        assert child.stdout is not None and child.stderr is not None
        tees = [
            _Tee(child.stdout, "stdout", echo, events).start(),
            _Tee(child.stderr, "stderr", echo, events).start(),
        ]
    signals = _Signals(child, stop, own_group=own_group)
    thread = SamplerThread(sampler, record, interval=interval, name="rig-watch-sampler")
    files: dict[str, str] = {}
    notes: list[str] = []
    returncode: int | None = None
    ended = started
    try:
        signals.install()
        thread.start()
        next_checkpoint = time.monotonic() + checkpoint_s
        while True:
            if child is not None:
                returncode = child.poll()
                if returncode is not None:
                    break
                time.sleep(min(0.05, interval / 4))
            else:
                if not _alive(attached) or stop.wait(min(0.1, interval / 2)):
                    break
            if time.monotonic() >= next_checkpoint:
                next_checkpoint = time.monotonic() + checkpoint_s
                _save_timeline(timeline, out, files, notes)
        ended = time.time()
    finally:
        signals.restore()
        thread.stop(timeout=5.0)
        if ended == started:
            ended = time.time()
        with contextlib.suppress(Exception):  # the last look: disk and cgroup at the end
            record(sampler.sample())
        for tee in tees:
            tee.thread.join(timeout=5.0)
        _save_timeline(timeline, out, files, notes)

    if thread.errors:
        notes.append(f"{thread.errors} sample(s) failed: {thread.last_error!r}")
    if sampler.gpu_error:
        notes.append(sampler.gpu_error)
        gpu_note = gpu_note or sampler.gpu_error
    exit_code: int | None = None
    sig: int | None = None
    if returncode is not None:
        exit_code = returncode if returncode >= 0 else 128 - returncode
        sig = -returncode if returncode < 0 else None
    oom_after = _vmstat_oom_kills()
    oom_kills = 0
    if sig == signal.SIGKILL and oom_before is not None and oom_after is not None:
        oom_kills = max(0, oom_after - oom_before)  # machine-wide: only trusted for a SIGKILL
    ctx = _context(
        timeline,
        exit_code=exit_code,
        sig=sig,
        ended=ended,
        events=events,
        oom_kills=oom_kills,
        disk_path=disk,
        disk_total_gb=disk_total_gb,
        disk_free_gb=disk_free_gb,
        cores=cores,
        ram_total_gb=ram_total_gb,
        gpu_names=gpu_names,
        gpu_limits=gpu_limits,
    )
    findings = diagnose(timeline, ctx)
    result = WatchResult(
        command=argv,
        pid=watched,
        host=host,
        started=started,
        ended=ended,
        exit_code=exit_code,
        signal=sig,
        interrupted=signals.received > 0,
        interval=interval,
        timeline=timeline,
        context=ctx,
        findings=findings,
        summary=summarise(timeline),
        output_dir=out,
        files=files,
        notes=notes,
        gpu_note=gpu_note,
    )
    marks = []
    labels = {"cuda_oom": "CUDA OOM", "killed": "killed", "no_space": "disk full"}
    for kind, at, _ in events:
        if kind in labels and labels[kind] not in {m[1] for m in marks}:
            marks.append((at, labels[kind]))
    if sig is not None:
        marks.append((ended, f"ended by signal {sig}"))
    try:
        files["plot"] = str(
            timeline.plot(out / "timeline.png", title=result.command_text, events=marks)
        )
    except MissingExtra:
        notes.append("matplotlib is not installed: no plot (pip install 'rigml[plot]')")
    except Exception as exc:  # a plot must never cost the findings
        notes.append(f"could not draw the plot: {type(exc).__name__}: {exc}")
    files["findings"] = str(out / "findings.json")
    try:
        _write_json(out / "findings.json", result.to_dict())
    except OSError as exc:
        notes.append(f"could not write findings.json: {exc}")
        del files["findings"]
    return result
