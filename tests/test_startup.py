"""Start-up stays light: heavy libraries load only in the commands that need them."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = [
    "numpy",
    "pandas",
    "sqlalchemy",
    "torch",
    "matplotlib",
    "pyarrow",
    "alembic",
    "psutil",
    "pydantic",
]


@pytest.mark.parametrize(
    "code",
    [
        "import rigml",
        "import rigml.cli._app",
        "from rigml.cli import main; import sys; sys.argv=['rig','--help']; main(['--help'])",
    ],
)
def test_no_heavy_imports(code: str) -> None:
    probe = (
        f"{code}\nimport sys\nprint('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert r.stdout.splitlines()[-1] == "HEAVY:", r.stdout[-300:]
