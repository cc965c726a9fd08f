"""What a workload's printed output tells about how it ended."""

from __future__ import annotations

import re

_OUTPUT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "cuda_oom",
        re.compile(
            r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|"
            r"CUBLAS_STATUS_ALLOC_FAILED|cudaErrorMemoryAllocation|"
            r"RESOURCE_EXHAUSTED: Out of memory|HIP out of memory",
            re.IGNORECASE,
        ),
    ),
    ("no_space", re.compile(r"No space left on device|ENOSPC|Disk quota exceeded")),
    ("memory_error", re.compile(r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc")),
    ("killed", re.compile(r"^\s*(?:\S+: line \d+: +\d+ )?Killed\b|\bKilled process \d+")),
)


def scan_output(line: str) -> str | None:
    """What a line of a workload's output tells about its end, if anything.

    Returns:
        ``"cuda_oom"``, ``"no_space"``, ``"memory_error"``, ``"killed"`` or ``None``.
    """
    for kind, pattern in _OUTPUT_PATTERNS:
        if pattern.search(line):
            return kind
    return None
