"""Parsed ``rig.yaml`` and ``rig.lock``, kept as JSON so an unchanged file is not parsed again.

Parsing YAML and validating the stages with pydantic cost a ``rig status`` of 200 stages
more than everything else together; the JSON of the result loads in a millisecond. An
entry is keyed by the file's exact text (and rigml's version and the modules that parse
it), so an edit, however quick, is always seen. Entries live in the user's cache folder
(``$XDG_CACHE_HOME/rigml/parsed``, default ``~/.cache``), one per file; the cache is only
a speed-up: a folder that cannot be written, a damaged entry or a value JSON cannot hold
exactly (a date, an integer key) just means parsing as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

FORMAT = 1
_memo: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, path) -> (key, JSON), this process
_memo_lock = threading.Lock()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rigml" / "parsed"


@cache
def _code_stamp() -> str:
    """What the parsed form depends on besides the text: rigml's version and parser code."""
    from rigml import __version__

    here = Path(__file__).parent
    parts = [str(FORMAT), __version__]
    for name in ("_schema.py", "_spec.py", "_expand.py", "_lockfile.py"):
        with contextlib.suppress(OSError):
            st = os.stat(here / name)
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def text_key(text: str, *extra: str) -> str:
    data = "\0".join((_code_stamp(), *extra, text)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def _entry_path(kind: str, path: Path) -> Path:
    name = hashlib.blake2b(str(path).encode(), digest_size=12).hexdigest()
    return cache_dir() / f"{kind}-{name}.json"


def load(kind: str, path: Path, key: str) -> Any | None:
    """The parsed form stored for ``path`` under ``key``; None when there is none."""
    with _memo_lock:
        hit = _memo.get((kind, str(path)))
    if hit is not None and hit[0] == key:
        return json.loads(hit[1])
    try:
        stored = json.loads(_entry_path(kind, path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key or "data" not in stored:
        return None
    with _memo_lock:
        _memo[(kind, str(path))] = (key, json.dumps(stored["data"]))
    return stored["data"]


def store(kind: str, path: Path, key: str, data: Any, *, disk: bool = True) -> None:
    """Keep ``data`` as the parsed form of ``path`` (when JSON holds it exactly)."""
    try:
        text = json.dumps(data)
    except (TypeError, ValueError):
        return
    if json.loads(text) != data:  # a tuple, an integer key, a date: parse it each time
        return
    with _memo_lock:
        _memo[(kind, str(path))] = (key, text)
    if not disk:
        return
    target = _entry_path(kind, path)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(f'{{"key": {json.dumps(key)}, "data": {text}}}', encoding="utf-8")
        os.replace(tmp, target)
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
