"""``os.*`` checks: the limits the operating system sets on a process (open files)."""

from __future__ import annotations

from rigml.machine.doctor._context import DoctorContext
from rigml.machine.doctor._registry import _check
from rigml.machine.doctor._results import Outcome, Status


@_check("os.fd_limit", "Open-files limit")
def check_fd_limit(ctx: DoctorContext) -> Outcome:
    """The limit on open files (file descriptors) per process: `ulimit -n`.

    Why: PyTorch DataLoader workers pass tensors through shared memory, one descriptor
    each; with many workers and large prefetch, a low limit ends the run with "Too many open
    files" or "received 0 items of ancdata". Datasets of many small files, tokenizers and
    serving with many connections use descriptors too.

    Thresholds: warn under a soft limit of {fd_warn_soft}, fail under {fd_fail_soft}.
    Skipped on Windows, which has no such limit.

    Fix: `ulimit -n 65536` in the shell (up to the hard limit; add it to ~/.bashrc); raise
    the hard limit in /etc/security/limits.conf (`* soft nofile 65536` and `* hard nofile
    65536`) or, for a systemd service, `LimitNOFILE=65536`. As a stopgap,
    `torch.multiprocessing.set_sharing_strategy("file_system")`.
    """
    limits = ctx.get_fd_limits()
    t = ctx.thresholds
    evidence = {"soft": limits.soft, "hard": limits.hard}
    shown = "unlimited" if limits.soft is None else str(limits.soft)
    hard = "unlimited" if limits.hard is None else str(limits.hard)
    summary = f"soft limit {shown}, hard limit {hard}"
    if limits.soft is None or limits.soft >= t.fd_warn_soft:
        return Outcome("pass", summary, evidence)
    target = 65536 if limits.hard is None else min(65536, limits.hard)
    if target > limits.soft:
        fix = f"`ulimit -n {target}` (add it to ~/.bashrc)"
        if target < t.fd_warn_soft:
            fix += "; the hard limit is low too: raise it in /etc/security/limits.conf"
    else:
        fix = (
            "the hard limit is reached: add `* soft nofile 65536` and `* hard nofile 65536` to "
            "/etc/security/limits.conf (systemd services: LimitNOFILE=65536) and log in again"
        )
    status: Status = "fail" if limits.soft < t.fd_fail_soft else "warn"
    return Outcome(status, summary, evidence, fix)
