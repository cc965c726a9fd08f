"""Whether tests may start Ray inside a loopback-only network namespace (``unshare``)."""

from __future__ import annotations

import shutil
import subprocess


def netns_unavailable() -> str | None:
    """Why ``unshare --net --pid`` cannot run here (a skip reason), or None when it can."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    probe = ["unshare", "--net", "--pid", "--mount-proc", "--fork", "ip", "link", "set", "lo", "up"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if done.returncode != 0:
        return f"unshare --net is not permitted here: {done.stderr.strip()}"
    return None
