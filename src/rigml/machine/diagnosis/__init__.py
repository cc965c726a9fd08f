"""Name what held a workload back, from a timeline of machine samples and a little context.

:func:`diagnose` runs every rule over a :class:`~rigml.machine.timeline.Timeline` and returns
:class:`Finding` objects. Each names the constraint, gives its evidence as sentences with
the values and the times they were seen (``t+42 s`` counts from the start of the watch),
keeps the same figures in ``numbers``, and says the first fix to try. A rule claims nothing
without those numbers, and the rules that judge a trend need at least ``min_samples``
samples over ``min_seconds`` seconds.

Thresholds (:class:`Thresholds`; pass your own to :func:`diagnose` to change them):

======================== ======= ==========================================================
name                     default meaning
======================== ======= ==========================================================
min_samples              5       samples a trend rule needs before it may claim anything
min_seconds              3.0     seconds those samples must span
most_of_run              0.6     share of samples that is "most of the run"
vram_full_percent        95      GPU memory this full counts as exhausted
vram_full_share          0.5     share of samples that full, without an OOM, to warn
ram_full_percent         95      machine RAM this full counts as pressure
cgroup_near_percent      90      share of a cgroup's memory limit that counts as near it
swap_in_mib_per_min      100     swap-in this fast counts as thrashing...
swap_min_seconds         10      ...when it lasts at least this long
gpu_busy_percent         50      GPU utilisation from which clocks should be high
clock_drop_fraction      0.10    fall of the SM clock from its peak that counts as throttled
temp_rise_c              5       temperature rise that ties a clock fall to heat
power_near_limit         0.97    share of the power limit that counts as at the limit
reason_min_samples       2       samples with an NVML throttle reason needed to report it...
reason_min_share         0.10    ...and the share of busy samples they must be
starved_gpu_percent      30      GPU utilisation under this is a GPU waiting for work
pegged_core_percent      90      a core this busy is pegged
idle_cores_percent       50      the other cores averaging under this are idle
cpu_busy_percent         90      every core this busy is a CPU-bound machine
iowait_percent           20      CPU time waiting for I/O from which storage is the limit
disk_horizon_min         120     minutes to full within which a filling disk is reported
disk_min_fall_gb         0.03    free space must fall at least this much (GiB)...
disk_min_fall_share      0.01    ...and at least this share of the disk
disk_fit_r2              0.6     how straight the fall must be (r² of the linear fit)
disk_full_share          0.02    free space under this share of the disk is full
======================== ======= ==========================================================

Sizes are GiB (2**30 bytes) and rates MiB (2**20 bytes), as in :mod:`rigml.machine.sampler`.
"""

from rigml.machine.diagnosis._diagnose import RULES, diagnose
from rigml.machine.diagnosis._model import (
    CONSTRAINTS,
    Constraint,
    Context,
    Finding,
    MetricSummary,
    Severity,
    Thresholds,
)
from rigml.machine.diagnosis._model import THRESHOLDS as THRESHOLDS  # public, not in __all__
from rigml.machine.diagnosis._output import scan_output
from rigml.machine.diagnosis._summary import summarise

__all__ = [
    "CONSTRAINTS",
    "RULES",
    "Constraint",
    "Context",
    "Finding",
    "MetricSummary",
    "Severity",
    "Thresholds",
    "diagnose",
    "scan_output",
    "summarise",
]
