"""Health checks for an ML workstation: each says pass, warn, fail or skip, with evidence and a fix.

A check is a small function registered under a stable id (``disk.system_full``,
``gpu.pcie_link``...) with a title; its docstring is what ``rig doctor --explain CHECK``
prints: what it checks, why it matters for ML work, its thresholds and how to fix it.

:func:`run_checks` runs them against one :class:`DoctorContext`, which gathers each fact
(disk usage, memory, GPUs, torch's CUDA build, ``pip check``...) at most once and only when a
check asks for it. Every fact is a field that tests (or callers) can set to a value of their
own; the checks then read it instead of the machine. A fact that cannot be read on this system
(no NVML, no ``resource`` module on Windows) turns the checks that need it into "skip" with the
reason, and a check that raises becomes "skip" with ``check crashed: ...``: one bad check never
loses the others.

Nothing here imports torch: its CUDA build is read from ``torch/version.py`` as text, and
whether torch sees the GPUs is asked of a subprocess with a timeout. Thresholds live in one
place, :class:`Thresholds`; the check docstrings quote them from there.

Layout: ``_results`` (statuses, outcomes, the report), ``_thresholds``, ``_errors``,
``_facts`` (the fact dataclasses), ``_context`` (:class:`DoctorContext`) with its readers in
``_readers``, ``_caches`` and ``_probes``, ``_registry`` (register, select, run); the checks
themselves in ``disk``, ``memory``, ``cuda`` and ``gpu`` (both ``gpu.*``), ``python`` and
``system`` (``os.*``).
"""

from __future__ import annotations

from rigml.machine.doctor._caches import cache_locations, measure_folder
from rigml.machine.doctor._context import DoctorContext
from rigml.machine.doctor._errors import FactUnavailable, UnknownCheck
from rigml.machine.doctor._facts import (
    CacheFacts,
    FdLimits,
    FolderSize,
    GpuFacts,
    MemoryFacts,
    PipCheck,
    PythonFacts,
    TorchFacts,
    TorchProbe,
)
from rigml.machine.doctor._probes import parse_pip_check
from rigml.machine.doctor._registry import (
    Check,
    all_checks,
    get_check,
    run_checks,
    select_checks,
)
from rigml.machine.doctor._results import STATUSES, CheckResult, DoctorReport, Outcome
from rigml.machine.doctor._thresholds import Thresholds

# Importing a check module registers its checks, in the order `rig doctor` shows them.
# isort: off
from rigml.machine.doctor import disk, memory, cuda, gpu, python, system  # noqa: F401
from rigml.machine.doctor.cuda import DriverRequirement, compat_table, driver_requirement
# isort: on

__all__ = [
    "STATUSES",
    "CacheFacts",
    "Check",
    "CheckResult",
    "DoctorContext",
    "DoctorReport",
    "DriverRequirement",
    "FactUnavailable",
    "FdLimits",
    "FolderSize",
    "GpuFacts",
    "MemoryFacts",
    "Outcome",
    "PipCheck",
    "PythonFacts",
    "Thresholds",
    "TorchFacts",
    "TorchProbe",
    "UnknownCheck",
    "all_checks",
    "cache_locations",
    "compat_table",
    "driver_requirement",
    "get_check",
    "measure_folder",
    "parse_pip_check",
    "run_checks",
    "select_checks",
]
