"""The facts that take a subprocess: whether torch sees CUDA, and ``pip check``."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

from rigml.machine.doctor._facts import PipCheck, TorchProbe

if TYPE_CHECKING:
    from rigml.machine.doctor._context import DoctorContext


_TORCH_PROBE = "import torch; print(torch.cuda.is_available(), torch.cuda.device_count())"


def _tail(text: str, lines: int = 6, chars: int = 800) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])[-chars:]


def _probe_torch(ctx: DoctorContext) -> TorchProbe:
    timeout = ctx.thresholds.torch_probe_timeout_s
    try:
        proc = subprocess.run(
            [ctx.python_executable, "-P", "-c", _TORCH_PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(ctx.environ),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return TorchProbe(None, None, f"import torch took longer than {timeout:g} s", True)
    except OSError as exc:
        return TorchProbe(None, None, f"cannot start {ctx.python_executable}: {exc}")
    stderr = _tail(proc.stderr)
    words = proc.stdout.strip().splitlines()[-1].split() if proc.stdout.strip() else []
    if proc.returncode != 0 or len(words) != 2:
        last = stderr.splitlines()[-1] if stderr else f"exit code {proc.returncode}"
        return TorchProbe(None, None, f"import torch failed: {last}", stderr_tail=stderr)
    return TorchProbe(words[0] == "True", int(words[1]), stderr_tail=stderr)


_PIP_MISSING = re.compile(
    r"^(?P<package>\S+) (?P<version>\S+) requires (?P<requirement>.+), "
    r"which is not installed\.?$"
)
_PIP_CONFLICT = re.compile(
    r"^(?P<package>\S+) (?P<version>\S+) has requirement (?P<requirement>.+), "
    r"but you have (?P<installed>\S+ \S+?)\.?$"
)
_PIP_PLATFORM = re.compile(r"^(?P<package>\S+) (?P<version>\S+) is not supported on this platform")


def parse_pip_check(output: str) -> list[dict[str, str]]:
    """The problems ``pip check`` prints, one dict per line: ``kind`` is ``missing``,
    ``conflict``, ``platform`` or ``other``, with ``package``, ``version``, ``requirement``
    and ``installed`` where the line says them, and the ``line`` itself."""
    problems = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith("No broken requirements"):
            continue
        for kind, pattern in (
            ("missing", _PIP_MISSING),
            ("conflict", _PIP_CONFLICT),
            ("platform", _PIP_PLATFORM),
        ):
            if m := pattern.match(line):
                problems.append({"kind": kind, **m.groupdict(), "line": line})
                break
        else:
            problems.append({"kind": "other", "line": line})
    return problems


def _run_pip_check(ctx: DoctorContext) -> PipCheck:
    timeout = ctx.thresholds.pip_check_timeout_s
    env = {**ctx.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    try:
        proc = subprocess.run(
            [ctx.python_executable, "-P", "-m", "pip", "check"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return PipCheck(None, error=f"pip check took longer than {timeout:g} s")
    except OSError as exc:
        return PipCheck(None, error=f"cannot start {ctx.python_executable}: {exc}")
    if "No module named pip" in proc.stderr:
        return PipCheck(proc.returncode, error="pip is not installed in this environment")
    problems = parse_pip_check(proc.stdout)
    if proc.returncode != 0 and not problems:
        return PipCheck(proc.returncode, error=f"pip check failed: {_tail(proc.stderr, 2)}")
    return PipCheck(proc.returncode, tuple(problems), _tail(proc.stdout, 40, 4000))
