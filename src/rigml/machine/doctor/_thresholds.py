"""The limits the doctor checks apply, in one table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """Every limit the checks use, in one table (``rig doctor --explain CHECK`` quotes them).

    ======================================  =========  =====================================
    field                                   default    meaning
    ======================================  =========  =====================================
    disk_warn_used_percent                  85         warn when a disk is this full
    disk_fail_used_percent                  95         fail when a disk is this full
    disk_warn_free_gib                      30         warn below this much free space
    disk_fail_free_gib                      5          fail below this much free space
    caches_warn_gib                         10         warn when caches on the system disk
                                                       hold this much together
    cache_budget_s                          1.0        time spent sizing one cache, at most
    cache_budget_entries                    200000     entries listed in one cache, at most
    swap_warn_used_gib                      1.0        warn when this much swap is in use
    memory_warn_available_percent           15         warn below this share of RAM available
    memory_fail_available_percent           5          fail below this share of RAM available
    memory_warn_psi_some_avg60              10         warn when tasks stalled on memory this
                                                       % of the last minute (Linux PSI)
    memory_fail_psi_full_avg60              5          fail when *all* tasks stalled this %
    busy_util_percent                       10         a GPU above this utilisation is busy
    power_warn_fraction                     0.9        warn when the power limit is below
                                                       this fraction of the default
    idle_warn_temp_c                        60         warn when an idle GPU is this hot
    idle_fail_temp_c                        80         fail when an idle GPU is this hot
    fd_warn_soft                            4096       warn below this open-files soft limit
    fd_fail_soft                            1024       fail below this open-files soft limit
    torch_probe_timeout_s                   60         time allowed to ``import torch``
    pip_check_timeout_s                     60         time allowed to ``pip check``
    ======================================  =========  =====================================
    """

    disk_warn_used_percent: float = 85.0
    disk_fail_used_percent: float = 95.0
    disk_warn_free_gib: float = 30.0
    disk_fail_free_gib: float = 5.0
    caches_warn_gib: float = 10.0
    cache_budget_s: float = 1.0
    cache_budget_entries: int = 200_000
    swap_warn_used_gib: float = 1.0
    memory_warn_available_percent: float = 15.0
    memory_fail_available_percent: float = 5.0
    memory_warn_psi_some_avg60: float = 10.0
    memory_fail_psi_full_avg60: float = 5.0
    busy_util_percent: float = 10.0
    power_warn_fraction: float = 0.9
    idle_warn_temp_c: float = 60.0
    idle_fail_temp_c: float = 80.0
    fd_warn_soft: int = 4096
    fd_fail_soft: int = 1024
    torch_probe_timeout_s: float = 60.0
    pip_check_timeout_s: float = 60.0
