"""The data of a diagnosis: its thresholds, the context of a run, findings and metric summaries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Constraint = Literal["vram", "ram", "swap", "storage", "thermal", "power", "starved_gpu", "cpu"]
Severity = Literal["critical", "warning", "info"]
CONSTRAINTS: tuple[Constraint, ...] = (
    "vram",
    "ram",
    "swap",
    "storage",
    "thermal",
    "power",
    "starved_gpu",
    "cpu",
)
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Thresholds:
    """The figures the rules compare against; see the table in the module docstring."""

    min_samples: int = 5
    min_seconds: float = 3.0
    most_of_run: float = 0.6
    vram_full_percent: float = 95.0
    vram_full_share: float = 0.5
    ram_full_percent: float = 95.0
    cgroup_near_percent: float = 90.0
    swap_in_mib_per_min: float = 100.0
    swap_min_seconds: float = 10.0
    gpu_busy_percent: float = 50.0
    clock_drop_fraction: float = 0.10
    temp_rise_c: float = 5.0
    power_near_limit: float = 0.97
    reason_min_samples: int = 2
    reason_min_share: float = 0.10
    starved_gpu_percent: float = 30.0
    pegged_core_percent: float = 90.0
    idle_cores_percent: float = 50.0
    cpu_busy_percent: float = 90.0
    iowait_percent: float = 20.0
    disk_horizon_min: float = 120.0
    disk_min_fall_gb: float = 0.03
    disk_min_fall_share: float = 0.01
    disk_fit_r2: float = 0.6
    disk_full_share: float = 0.02


THRESHOLDS = Thresholds()


@dataclass
class Context:
    """What the timeline alone cannot say: how the workload ended and what it printed.

    Times are epoch seconds. ``exit_code`` is shell style (``137`` for SIGKILL), and
    ``signal`` the signal that ended the workload, if one did. ``oom_kills`` counts the
    kernel's OOM kills seen during the watch (in the workload's cgroup or machine-wide).
    """

    exit_code: int | None = None
    signal: int | None = None
    ended_at: float | None = None
    cuda_oom_at: float | None = None
    cuda_oom_line: str | None = None
    killed_at: float | None = None
    memory_error_at: float | None = None
    no_space_at: float | None = None
    no_space_line: str | None = None
    oom_kills: int = 0
    disk_path: str | None = None
    disk_total_gb: float | None = None
    disk_free_gb: float | None = None
    cores: int | None = None
    ram_total_gb: float | None = None
    cgroup_mem_limit_gb: float | None = None
    gpu_names: dict[int, str] = field(default_factory=dict)
    gpu_power_limit_w: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Context:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("gpu_names", "gpu_power_limit_w"):
            if isinstance(values.get(key), dict):
                values[key] = {int(k): v for k, v in values[key].items()}
        return cls(**values)


@dataclass(frozen=True)
class Finding:
    """One diagnosed bottleneck: what limited the workload, the evidence, the first fix."""

    id: str
    constraint: Constraint
    title: str
    evidence: list[str]
    numbers: dict[str, float]
    first_fix: str
    severity: Severity = "warning"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "constraint": self.constraint,
            "severity": self.severity,
            "title": self.title,
            "evidence": list(self.evidence),
            "numbers": dict(self.numbers),
            "first_fix": self.first_fix,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            id=data["id"],
            constraint=data["constraint"],
            title=data["title"],
            evidence=list(data.get("evidence") or []),
            numbers={k: float(v) for k, v in (data.get("numbers") or {}).items()},
            first_fix=data.get("first_fix", ""),
            severity=data.get("severity", "warning"),
        )


@dataclass(frozen=True)
class MetricSummary:
    """Peak, mean, low and last value of one metric, and when the peak was."""

    peak: float
    peak_at_s: float
    mean: float
    min: float
    last: float
    count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
