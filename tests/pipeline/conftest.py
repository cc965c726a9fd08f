"""A project folder with its own lab (``.rig/``), rig.yaml and small stage scripts."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rigml.lab import Lab

# writes its argument files: `python w.py OUT TEXT...` (TEXT joined; default: the inputs)
WRITER = """
import sys, pathlib
out = pathlib.Path(sys.argv[1])
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(" ".join(sys.argv[2:]) + "\\n")
print("wrote", out)
"""


@dataclass
class Project:
    root: Path
    lab: Lab

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def pipeline(self, text: str) -> Path:
        return self.write("rig.yaml", text)

    def age(self, *rels: str) -> None:
        """Set files' mtimes 10 s back, so the stat cache trusts them (not "racy")."""
        for rel in rels:
            path = self.root / rel
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns - 10**10, st.st_mtime_ns - 10**10))


@pytest.fixture(autouse=True)
def _parse_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsed rig.yaml / rig.lock go to a temporary cache folder, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    from rigml.lab import Lab, init_lab

    lab, _ = init_lab(tmp_path / ".rig")
    toml = tmp_path / ".rig" / "rig.toml"
    # capture runs as configured, but skip the machine probe and the sampler: speed only
    text = toml.read_text()
    text = text.replace("capture_machine = true", "capture_machine = false")
    text = text.replace("system_metrics = true", "system_metrics = false")
    toml.write_text(text)
    lab.close()
    lab = Lab(tmp_path / ".rig")
    (tmp_path / "w.py").write_text(WRITER)
    yield Project(tmp_path, lab)
    lab.close()


PY = sys.executable
