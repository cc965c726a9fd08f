"""A cheap fingerprint of the Python environment, for staleness.

Reading every package's METADATA (as ``rig env capture`` does) costs tens of milliseconds;
here the names of the ``*.dist-info`` / ``*.egg-info`` folders on ``sys.path`` already
say ``name-version``, so one ``scandir`` per path entry is enough. Computed once per
process. The full lock is still what each stage's tracked run records.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache

_DIST = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+?)\.(?:dist-info|egg-info)$")


def installed() -> list[str]:
    """``name==version`` of every installed distribution, normalised and sorted."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            m = _DIST.match(name)
            if m is None:
                continue
            key = re.sub(r"[-_.]+", "-", m.group("name")).lower()
            found.setdefault(key, m.group("version"))  # the first on sys.path wins
    return sorted(f"{k}=={v}" for k, v in found.items())


@cache
def env_digest() -> str:
    """blake3 of the Python version and the installed ``name==version`` set."""
    from blake3 import blake3

    text = "\n".join([f"python=={sys.version_info[0]}.{sys.version_info[1]}", *installed()])
    return str(blake3(text.encode()).hexdigest())[:32]
