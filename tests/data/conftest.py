"""Helpers for the data tests: folders of files whose mtimes are old enough to cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest


def write(path: Path, text: str | bytes, *, age: float = 10.0) -> Path:
    """Write a file and date it ``age`` seconds back, past the stat cache's racy window."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    t = time.time() - age
    os.utime(path, (t, t))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A small dataset: 20 text files in two folders and one CSV."""
    root = tmp_path / "src"
    for i in range(20):
        write(root / ("a" if i % 2 else "b") / f"f{i:02d}.txt", f"content {i}\n")
    write(root / "table.csv", "id,x,label\n1,0.5,cat\n2,1.5,dog\n3,2.5,cat\n")
    return root
