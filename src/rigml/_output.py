"""Writing a file the user asked for: atomic, in a folder that exists, errors translated.

Every command that writes an output (``runs export -o``, ``runs plot -o``, ``data profile
--html``, ``watch``'s folder, ``plan -o``...) goes through here, so each gets the same
rules: the file appears whole or not at all (temporary file beside it, then a rename);
missing parent folders are an error unless the caller asks for them (``parents=True``, for
folders rigml itself chose); and an unwritable place (read-only filesystem, no permission,
a parent that is a file, ``/proc``, a full disk) is an ``OutputNotWritable`` naming the
path and the reason, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rigml.errors import OutputNotWritable

__all__ = [
    "check_output_dir",
    "check_output_folder",
    "output_path",
    "unwritable_reason",
    "write_output",
]

_REASONS = {
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENOENT: "its folder does not exist",
    errno.ENAMETOOLONG: "the name is too long",
}


def unwritable_reason(exc: OSError, folder: Path | None = None) -> str:
    """Why ``exc`` stopped a write, in words; ``folder`` is where a new file was to go."""
    if exc.errno == errno.ENOENT and folder is not None and folder.is_dir():
        return f"{folder} does not accept new files"  # /proc, /sys and the like
    return _REASONS.get(exc.errno or 0, exc.strerror or str(exc))


def check_output_dir(path: str | os.PathLike[str], *, parents: bool = False) -> Path:
    """Make sure ``path``'s folder exists (creating it only with ``parents``); return ``path``.

    Raises:
        OutputNotWritable: the folder is missing (without ``parents``), is a file, or cannot
            be created.
    """
    dest = Path(path).expanduser()
    folder = dest.parent
    if dest.is_dir():
        raise OutputNotWritable(str(dest), "it is a folder", hint="give a file name")
    if folder.is_dir():
        return dest
    if not parents:
        if folder.exists():
            raise OutputNotWritable(str(dest), f"{folder} is a file, not a folder")
        raise OutputNotWritable(
            str(dest), f"the folder {folder} does not exist", hint=f"create {folder} first"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritable(str(dest), unwritable_reason(exc)) from exc
    return dest


def check_output_folder(path: str | os.PathLike[str], *, parents: bool = False) -> Path:
    """Make the output folder ``path`` and make sure it takes files; return it.

    For commands that write several files into one folder (``rig watch``). Its parent must
    exist unless ``parents`` (a folder rigml chose, such as one in the lab).

    Raises:
        OutputNotWritable: the folder cannot be made or written to.
    """
    out = Path(path).expanduser()
    if not out.is_dir():
        check_output_dir(out, parents=parents)  # the parent: there, or made when asked
        try:
            out.mkdir(exist_ok=True)
        except FileExistsError:
            raise OutputNotWritable(str(out), "it is a file, not a folder") from None
        except OSError as exc:
            raise OutputNotWritable(str(out), unwritable_reason(exc, out.parent)) from exc
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".rig-probe.")
    except OSError as exc:
        raise OutputNotWritable(str(out), unwritable_reason(exc, out)) from exc
    os.close(fd)
    os.unlink(probe)
    return out


@contextlib.contextmanager
def output_path(
    path: str | os.PathLike[str], *, parents: bool = False, suffix: str | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place when the block succeeds.

    For writers that want a file name (matplotlib, pyarrow): write to the yielded path. On
    an error inside the block the temporary file is removed and ``path`` is untouched.

    Raises:
        OutputNotWritable: the place cannot hold the file.
    """
    dest = check_output_dir(path, parents=parents)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=dest.parent, prefix=f".{dest.name}.", suffix=suffix or dest.suffix
        )
    except OSError as exc:
        raise OutputNotWritable(str(dest), unwritable_reason(exc, dest.parent)) from exc
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        raise OutputNotWritable(str(dest), unwritable_reason(exc)) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_output(path: str | os.PathLike[str], data: bytes | str, *, parents: bool = False) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically and return the path.

    Raises:
        OutputNotWritable: the place cannot hold the file.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with output_path(path, parents=parents) as tmp:
        try:
            with open(tmp, "wb") as fh:
                fh.write(raw)
        except OSError as exc:
            raise OutputNotWritable(str(path), unwritable_reason(exc)) from exc
    return Path(path).expanduser()
