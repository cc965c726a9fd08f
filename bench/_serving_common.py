"""What every side of the serving benchmark shares: wrk, /proc sampling, a server's lifetime.

Standard library only, and no rigml: ``bench/serving_peers.py`` and ``bench/serving.py``
both drive servers through it. The load generator is ``wrk`` (Debian's package) with
``bench/serving_wrk.lua``, so the client is C, not Python, and costs the server little of
the 2 shared cores. The server's CPU is read from ``/proc/PID/stat`` of its whole process
tree (utime+stime of each live process, plus cutime+cstime of the children it reaped),
before and after each load phase.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
LUA = BENCH / "serving_wrk.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

CONNECTIONS = (1, 8, 32)
DURATION_S = 20
WARMUP_S = 5
REPEATS = 2
WRK_THREADS = 2
FEATURES = ("f0", "f1", "f2", "f3")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def wrk_path() -> str:
    """The wrk binary, or a clear exit: the bench needs it, the test suite does not."""
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "wrk not found: install it with `apt-get install -y wrk` (the serving benchmark "
            "drives load with it; a Python client would be the bottleneck)"
        )
    return found


def wrk_version() -> str:
    proc = subprocess.run([wrk_path(), "-v"], capture_output=True, text=True, check=False)
    return (proc.stdout + proc.stderr).strip().splitlines()[0].split(" [")[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    """The machine line: CPU model and count, memory, kernel, Python."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kb = 0
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "kernel": os.uname().release,
        "python": sys.version.split()[0],
        "wrk": wrk_version(),
    }


# -- /proc ---------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is field 3, the state)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by the process tree of ``pid``, reaped children included."""
    ticks = 0
    for p in tree(pid):
        fields = _stat(p)
        if fields:  # utime, stime, cutime, cstime are fields 14..17
            ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK


def rss(pid: int) -> dict[str, int]:
    """Resident memory of the tree in bytes (``total``) and of its largest process."""
    sizes = []
    for p in tree(pid):
        try:
            pages = int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, IndexError):
            continue
        sizes.append(pages * PAGE)
    return {"total": sum(sizes), "largest": max(sizes, default=0), "processes": len(sizes)}


# -- wrk -----------------------------------------------------------------------------------


def run_wrk(url: str, body: str, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk phase: its summary line, parsed (requests, errors, latency in µs)."""
    cmd = [
        wrk_path(),
        f"-t{min(WRK_THREADS, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "SERVE_BODY": body}, check=False
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SERVE_JSON ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-800:]}{proc.stderr}")
    out: dict[str, Any] = json.loads(lines[-1].removeprefix("SERVE_JSON "))
    return out


@dataclass
class Server:
    """A server under test: how to start it, where to send load, what it expects."""

    tool: str
    cmd: list[str]
    url: str  # the predict endpoint
    ready_url: str
    body: str
    env: dict[str, str] = field(default_factory=dict)  # the whole environment; empty: ours
    cwd: Path | None = None
    workers: int = 1
    settings: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, log: Path, timeout_s: float = 180) -> None:
        say(f"{self.tool}: starting {' '.join(self.cmd)}")
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=self.cwd,
                env=self.env or dict(os.environ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.tool} exited {self.proc.returncode}: {_tail(log)}")
            if _get(self.ready_url) == 200 and self.predict_once()[0] == 200:
                return
            time.sleep(0.5)
        raise RuntimeError(f"{self.tool} not ready after {timeout_s:.0f} s: {_tail(log)}")

    def predict_once(self) -> tuple[int, str]:
        req = urllib.request.Request(
            self.url,
            data=self.body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")
        except OSError as exc:
            return 0, str(exc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM to the server's process group, then SIGKILL after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-1500:]
    except OSError:
        return ""


# -- measuring -----------------------------------------------------------------------------


def phase(server: Server, connections: int, seconds: float) -> dict[str, Any]:
    """One load phase with the server's CPU time and RSS around it, and the load average."""
    rss_before = rss(server.pid)
    cpu0 = cpu_seconds(server.pid)
    w = run_wrk(server.url, server.body, connections, seconds)
    cpu = cpu_seconds(server.pid) - cpu0
    rss_after = rss(server.pid)
    n = w["requests"]
    secs = w["duration_us"] / 1e6
    socket_errors = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    return {
        "connections": connections,
        "requests": n,
        "seconds": round(secs, 2),
        "rps": round(n / secs, 1),
        "p50_ms": w["p50_us"] / 1000,
        "p90_ms": w["p90_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "max_ms": w["max_us"] / 1000,
        "non_2xx": w["status_errors"],
        "socket_errors": socket_errors,
        "server_cpu_s": round(cpu, 2),
        "server_cpu_ms_per_request": round(cpu * 1000 / n, 3) if n else None,
        "rps_per_server_cpu_s": round(n / cpu, 1) if cpu > 0 else None,
        "rss_before_mib": round(rss_before["total"] / 2**20, 1),
        "rss_after_mib": round(rss_after["total"] / 2**20, 1),
        "rss_largest_after_mib": round(rss_after["largest"] / 2**20, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def best_of(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run with the most requests/s, with the spread of every repeat beside it."""
    best = dict(max(runs, key=lambda r: r["rps"]))
    rates = [r["rps"] for r in runs]
    best["repeats"] = len(runs)
    best["rps_all"] = rates
    best["p99_ms_all"] = [r["p99_ms"] for r in runs]
    best["rps_per_server_cpu_s_all"] = [r["rps_per_server_cpu_s"] for r in runs]
    best["load_avg_1m_all"] = [r["load_avg_1m"] for r in runs]
    best["rps_spread_pct"] = round(100 * (max(rates) - min(rates)) / max(rates), 1)
    return best


def measure(
    server: Server,
    connections: Sequence[int] = CONNECTIONS,
    seconds: float = DURATION_S,
    warmup_s: float = WARMUP_S,
    label: str = "",
) -> dict[str, Any]:
    """One round: warm the server up, then one phase at each connection count."""
    say(f"{server.tool}{label}: warm-up {warmup_s:.0f} s at 8 connections")
    run_wrk(server.url, server.body, 8, warmup_s)
    out: dict[str, Any] = {"rss_start_mib": round(rss(server.pid)["total"] / 2**20, 1)}
    for c in connections:
        r = out[str(c)] = phase(server, c, seconds)
        say(
            f"{server.tool}{label} c={c}: {r['rps']:,.0f} req/s, p99 {r['p99_ms']:.1f} ms, "
            f"{r['server_cpu_ms_per_request']} cpu-ms/req, non-2xx {r['non_2xx']}, "
            f"load {r['load_avg_1m']}"
        )
    return out


MEMORY_MARKS = (5_000, 20_000, 50_000, 100_000, 200_000)


def memory_run(
    server: Server, marks: Sequence[int] = MEMORY_MARKS, connections: int = 32
) -> dict[str, Any]:
    """RSS of a freshly started server after each mark of requests served, at ``connections``.

    wrk has no request count, so phases of a few seconds run until the running total passes
    each mark; the RSS is read right after the phase that passed it. The target compares
    the last mark (200,000) with 20,000; the others show the curve.
    """
    done, seen, t0 = 0, {}, time.monotonic()
    rss0, cpu0 = rss(server.pid), cpu_seconds(server.pid)
    rate = 300.0
    for mark in marks:
        while done < mark:
            seconds = max(2.0, min(30.0, (mark - done) / rate))
            w = run_wrk(server.url, server.body, connections, seconds)
            done += w["requests"]
            rate = max(50.0, w["requests"] / (w["duration_us"] / 1e6))
        now = rss(server.pid)
        seen[str(mark)] = {
            "requests_done": done,
            "rss_total_mib": round(now["total"] / 2**20, 1),
            "rss_largest_mib": round(now["largest"] / 2**20, 1),
        }
        say(f"{server.tool}: after {done:,} requests RSS {seen[str(mark)]['rss_total_mib']} MiB")
    first, last = seen[str(20_000 if 20_000 in marks else marks[0])], seen[str(marks[-1])]
    a, b = first["rss_total_mib"], last["rss_total_mib"]
    between = last["requests_done"] - first["requests_done"]
    secs = time.monotonic() - t0
    return {
        "connections": connections,
        "rss_start_mib": round(rss0["total"] / 2**20, 1),
        "marks": seen,
        "growth_pct": round(100 * (b - a) / a, 1),
        "kib_per_request": round((b - a) * 1024 / max(1, between), 3),
        "seconds": round(secs, 1),
        "rps": round(done / secs, 1),
        "server_cpu_ms_per_request": round((cpu_seconds(server.pid) - cpu0) * 1000 / done, 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
