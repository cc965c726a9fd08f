"""Materialise a dataset version as files: reflink, copy, or (when asked) hard link; never a
partial result.

The version is built in a hidden folder beside the destination and renamed into place when
complete, so an interrupted checkout leaves nothing under the destination's name. By default
(``auto``) each file is a reflink (copy-on-write clone: instant and independent) where the
filesystem allows, else a verified copy. A hard link shares the object's bytes: instant, but
writing to the checked-out file (root ignores the read-only mode) would corrupt the lab's
object, so it is used only when asked for (``--link hardlink``).

Manifest paths are checked before anything is written: a path that is absolute or holds an
empty, ``.`` or ``..`` part (a damaged or hostile store) is refused, and every destination
must stay inside the checkout folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import CheckoutTargetExists, InvalidInput, OutputNotWritable

if TYPE_CHECKING:
    from rigml.data._versions import FileEntry, Progress
    from rigml.lab import Lab

LinkMode = Literal["auto", "reflink", "hardlink", "copy"]
_FICLONE = 0x40049409  # linux/fs.h


@dataclass
class CheckoutResult:
    ref: str
    dest: str
    files: int
    bytes: int
    methods: dict[str, int] = field(default_factory=dict)  # reflink / hardlink / copy -> files

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reflink(src: str, dst: str) -> None:
    with open(src, "rb") as s, open(dst, "wb") as d:
        fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())


def _unlink_quiet(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class _Materialiser:
    def __init__(self, lab: Lab, mode: LinkMode) -> None:
        self.lab = lab
        self.local = lab.objects.is_local
        order: list[str] = {
            "auto": ["reflink", "copy"],
            "reflink": ["reflink"],
            "hardlink": ["hardlink"],
            "copy": ["copy"],
        }[mode]
        if not self.local:
            if mode in ("reflink", "hardlink"):
                raise InvalidInput(
                    f"--link {mode} needs a local object store; this lab's is remote",
                    hint="use --link copy (or auto)",
                )
            order = ["copy"]
        self.order = order
        self.methods: dict[str, int] = {}

    def place(self, entry: FileEntry, dst: str) -> None:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        last: OSError | None = None
        for method in list(self.order):
            try:
                if method == "copy":
                    self.lab.objects.get_file(entry.object, dst)  # verified while copied
                else:
                    src = self.lab.objects.location(entry.object)
                    if not os.path.isfile(src):
                        from rigml.errors import ObjectNotFound

                        raise ObjectNotFound(entry.object)
                    if method == "reflink":
                        _reflink(src, dst)
                    else:
                        os.link(src, dst)
                    if os.path.getsize(dst) != entry.size:
                        from rigml.errors import ObjectCorrupted

                        raise ObjectCorrupted(entry.object, "?" * 16, src)
            except OSError as exc:
                _unlink_quiet(dst)
                last = exc
                if len(self.order) > 1 and method != "copy":
                    self.order.remove(method)  # unsupported here: do not try it again
                    continue
                raise
            self.methods[method] = self.methods.get(method, 0) + 1
            return
        raise last or OSError(errno.EIO, "no way to materialise the file")


def checkout(
    lab: Lab,
    ref: str,
    dest: str | os.PathLike[str],
    *,
    link: LinkMode = "auto",
    progress: Progress | None = None,
) -> CheckoutResult:
    """Write the files of version ``ref`` to ``dest``.

    A folder version becomes the folder ``dest`` (which must not exist, or be empty). A
    single-file version becomes the file ``dest``, or a file inside ``dest`` when that is
    an existing folder. Missing parent folders of ``dest`` are created.

    Raises:
        DatasetNotFound: no such version.
        CheckoutTargetExists: ``dest`` is in the way; nothing is written.
        OutputNotWritable: ``dest`` cannot be written (read-only, ``/proc``, a parent that
            is a file, a full disk); nothing is left.
        ObjectNotFound, ObjectCorrupted: an object is missing or damaged (nothing is left).
    """
    from rigml.data._refs import check_manifest_path, resolve
    from rigml.data._versions import version_files

    info = resolve(lab, ref)
    files = version_files(lab, info)
    for f in files:
        check_manifest_path(f.path)
    target = _target(Path(dest).expanduser().absolute(), info.kind, files[0].path)
    tmp = target.parent / f".{target.name}.rig-checkout-{uuid.uuid4().hex[:8]}"
    mat = _Materialiser(lab, link)
    try:
        with _dest_errors(target):
            if info.kind == "file":
                mat.place(files[0], str(tmp))
            else:
                _place_folder(mat, files, tmp, progress)
            _move_into_place(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            _unlink_quiet(str(tmp))
        raise
    size = sum(f.size for f in files)
    return CheckoutResult(info.ref, str(target), len(files), size, mat.methods)


def _target(target: Path, kind: str, first: str) -> Path:
    """Where the version goes; its parent folder exists on return.

    Raises:
        CheckoutTargetExists: something is in the way.
        OutputNotWritable: the parent folder cannot be made.
    """
    if kind == "file" and target.is_dir():
        target = target / first
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise CheckoutTargetExists(str(target))
    if kind == "file" and target.is_dir():
        raise CheckoutTargetExists(str(target))
    with _dest_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
    return target


@contextlib.contextmanager
def _dest_errors(target: Path) -> Iterator[None]:
    """Filesystem errors at the destination as :class:`OutputNotWritable`, with the reason."""
    from rigml._output import unwritable_reason

    try:
        yield
    except (FileExistsError, NotADirectoryError) as exc:
        folder = next((p for p in target.parents if p.exists()), target.parent)
        reason = f"{folder} is a file, not a folder" if not folder.is_dir() else str(exc)
        raise OutputNotWritable(str(target), reason, hint=_HINT) from exc
    except OSError as exc:
        raise OutputNotWritable(
            str(target), unwritable_reason(exc, target.parent), hint=_HINT
        ) from exc


_HINT = "check out into a folder you can write to"


def _place_folder(
    mat: _Materialiser, files: list[FileEntry], tmp: Path, progress: Progress | None
) -> None:
    tmp.mkdir()
    inside = os.path.realpath(tmp)
    total = sum(f.size for f in files)
    done = 0
    for f in files:
        dst = os.path.join(inside, *f.path.split("/"))
        if os.path.commonpath([inside, os.path.realpath(dst)]) != inside:
            raise InvalidInput(
                f"manifest path {f.path!r} leaves the checkout folder",
                hint="the store is damaged; run `rig data verify`",
            )
        mat.place(f, dst)
        done += f.size
        if progress:
            progress("checkout", done, total)


def _move_into_place(tmp: Path, target: Path) -> None:
    if tmp.is_dir():
        if target.is_dir():
            target.rmdir()  # empty, checked before; a rename cannot replace it elsewhere
    elif target.exists():
        raise CheckoutTargetExists(str(target))
    os.rename(tmp, target)
