"""Immutable bytes named by their blake3 hash, in a local folder or any fsspec URL.

Layout: ``<root>/<first two hex digits>/<remaining 62 hex digits>``. The same content is
stored once. A local write goes to ``<root>/tmp/`` first, is flushed to disk, and is then
renamed into place, so a crash never leaves a partial object under its final name. Remote
stores (``s3://``, ``gs://``...) write the final key in one PUT, which is atomic there.
Every read re-hashes what it returns and raises ``ObjectCorrupted`` on a mismatch.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rigml.errors import (
    InvalidInput,
    MissingExtra,
    ObjectCorrupted,
    ObjectNotFound,
    StoreUnavailable,
)
from rigml.store.writable import not_writable

CHUNK = 1 << 20
_HEX = set("0123456789abcdef")
_PROTOCOL_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure"}


def _hasher() -> Any:
    from blake3 import blake3

    return blake3(max_threads=blake3.AUTO)


def hash_bytes(data: bytes) -> str:
    """The blake3 hex digest of ``data``."""
    from blake3 import blake3

    return str(blake3(data).hexdigest())


def hash_file(path: str | os.PathLike[str]) -> str:
    """The blake3 hex digest of a local file, memory-mapped and multi-threaded."""
    h = _hasher()
    if os.path.getsize(path) == 0:
        return str(h.hexdigest())
    h.update_mmap(os.fspath(path))
    return str(h.hexdigest())


def _check_digest(digest: str) -> str:
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise InvalidInput(
            f"{digest!r} is not an object digest (64 lowercase hex characters)",
            hint="object digests come from `rig runs show` or the Python API",
        )
    return digest


@contextlib.contextmanager
def _os_errors(where: str) -> Iterator[None]:
    """Translate filesystem errors into RigErrors that say what to do."""
    try:
        yield
    except OSError as exc:
        error = not_writable(where, exc)
        if error is None:
            raise
        raise error from exc


class ObjectStore:
    """Objects under ``url``: a local folder path or an fsspec URL.

    Args:
        url: ``/path/to/objects``, ``file:///...``, ``s3://bucket/prefix``...
        storage_options: passed to fsspec for remote URLs (credentials, endpoint).
    """

    def __init__(self, url: str | os.PathLike[str], **storage_options: Any) -> None:
        text = os.fspath(url)
        protocol = text.split("://", 1)[0] if "://" in text else "file"
        self.url = text
        self.is_local = protocol in ("file", "local")
        if self.is_local:
            self.root = Path(text.removeprefix("file://")).expanduser()
            self._fs: Any = None
        else:
            try:
                import fsspec

                self._fs, self._root_path = fsspec.core.url_to_fs(text, **storage_options)
            except ImportError as exc:
                raise MissingExtra(
                    _PROTOCOL_EXTRAS.get(protocol, protocol), module=protocol
                ) from exc
            except ValueError as exc:
                raise StoreUnavailable(
                    f"cannot open object store {text!r}: {exc}",
                    hint="use a local folder or an fsspec URL such as s3://bucket/prefix",
                ) from exc

    # -- locations ----------------------------------------------------------------------

    def _local_path(self, digest: str) -> Path:
        _check_digest(digest)  # never a path outside the store
        return self.root / digest[:2] / digest[2:]

    def _remote_path(self, digest: str) -> str:
        _check_digest(digest)
        return f"{self._root_path.rstrip('/')}/{digest[:2]}/{digest[2:]}"

    def location(self, digest: str) -> str:
        """Where an object lives, for messages."""
        _check_digest(digest)
        return str(self._local_path(digest)) if self.is_local else self._remote_path(digest)

    # -- writes --------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` once and return its digest."""
        digest = hash_bytes(data)
        if self._touch(digest):
            return digest
        if self.is_local:
            with self._local_temp() as (tmp, fh):
                fh.write(data)
                self._commit_local(tmp, fh, digest)
        else:
            self._fs.pipe_file(self._remote_path(digest), data)
        return digest

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Store the content of a local file once; return its digest and size.

        The source is hashed in place first, so content already stored costs one read.
        New content is copied to a temporary file and hashed again there, so a source that
        changes while it is copied is stored under the hash of what was actually copied.
        """
        src = os.fspath(path)
        size = os.path.getsize(src)
        digest = hash_file(src)
        if self._touch(digest):
            return digest, size
        if self.is_local:
            with self._local_temp() as (tmp, fh), open(src, "rb") as sfh:
                shutil.copyfileobj(sfh, fh, CHUNK)
                fh.flush()
                digest = hash_file(tmp)
                size = os.fstat(fh.fileno()).st_size
                self._commit_local(tmp, fh, digest)
        else:
            self._fs.put_file(src, self._remote_path(digest))
        return digest, size

    def _touch(self, digest: str) -> bool:
        """True when the object exists; a local one gets a fresh mtime, so that a gc's grace
        period protects content a writer is about to reference again."""
        if not self.is_local:
            return self.exists(digest)
        try:
            os.utime(self._local_path(digest))
        except FileNotFoundError:
            return False
        except PermissionError:  # an object owned by another user: exists, cannot touch
            return True
        except OSError as exc:  # a read-only file system, most likely
            raise (not_writable(str(self.root), exc) or exc) from exc
        return True

    @contextlib.contextmanager
    def _local_temp(self) -> Iterator[tuple[str, IO[bytes]]]:
        tmp_dir = self.root / "tmp"
        with _os_errors(str(self.root)):
            tmp_dir.mkdir(parents=True, exist_ok=True)
            # the writer's pid in the name: `rig data gc` leaves a live writer's files alone
            fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f"put-{os.getpid()}-")
        try:
            with _os_errors(str(self.root)), os.fdopen(fd, "wb") as fh:
                yield tmp, fh
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _commit_local(self, tmp: str, fh: IO[bytes], digest: str) -> None:
        fh.flush()
        os.fsync(fh.fileno())
        final = self._local_path(digest)
        final.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)  # objects are immutable; a stray write fails loudly
        os.replace(tmp, final)

    # -- reads ---------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        _check_digest(digest)
        if self.is_local:
            return self._local_path(digest).is_file()
        return bool(self._fs.exists(self._remote_path(digest)))

    def size(self, digest: str) -> int:
        with self._missing(digest):
            if self.is_local:
                return self._local_path(digest).stat().st_size
            return int(self._fs.size(self._remote_path(digest)))

    def modified(self, digest: str) -> float | None:
        """When the object was last written (epoch seconds), or None when the store does
        not say. Remote stores answer from ``fs.info`` (``LastModified``, ``mtime``...)."""
        import datetime as dt

        with self._missing(digest):
            if self.is_local:
                return self._local_path(digest).stat().st_mtime
            info = self._fs.info(self._remote_path(digest))
        for key in ("LastModified", "last_modified", "mtime", "updated", "modified", "created"):
            value = info.get(key)
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, dt.datetime):
                if value.tzinfo is None:
                    value = value.replace(tzinfo=dt.UTC)
                return value.timestamp()
            if isinstance(value, str):
                try:
                    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    continue
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=dt.UTC)
                return parsed.timestamp()
        return None

    def get_bytes(self, digest: str) -> bytes:
        """The content of an object, verified against its digest."""
        with self._missing(digest):
            if self.is_local:
                data = self._local_path(digest).read_bytes()
            else:
                data = self._fs.cat_file(self._remote_path(digest))
        actual = hash_bytes(data)
        if actual != digest:
            raise ObjectCorrupted(digest, actual, self.location(digest))
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> None:
        """Copy an object to ``dest`` atomically, verifying its hash on the way."""
        dest_path = Path(dest)
        with _os_errors(str(dest_path.parent)):
            dest_path.parent.mkdir(parents=True, exist_ok=True)
            # 0666 less the umask, as any new file (mkstemp would give 0600)
            tmp = str(dest_path.parent / f".{dest_path.name}.{os.urandom(6).hex()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            h = _hasher()
            with (
                _os_errors(str(dest_path.parent)),
                os.fdopen(fd, "wb") as out,
                self._missing(digest),
                self._open(digest) as src,
            ):
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != digest:
                raise ObjectCorrupted(digest, h.hexdigest(), self.location(digest))
            os.replace(tmp, dest_path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def verify(self, digest: str) -> bool:
        """True when the object exists and its content matches its digest."""
        try:
            with self._open(digest) as src:
                h = _hasher()
                while chunk := src.read(CHUNK):
                    h.update(chunk)
            return bool(h.hexdigest() == digest)
        except FileNotFoundError:
            return False

    def _open(self, digest: str) -> IO[bytes]:
        _check_digest(digest)
        if self.is_local:
            return open(self._local_path(digest), "rb")
        fh: IO[bytes] = self._fs.open(self._remote_path(digest), "rb")  # fsspec is untyped
        return fh

    def __iter__(self) -> Iterator[str]:
        """Every digest in the store (no verification)."""
        if self.is_local:
            if not self.root.is_dir():
                return
            for sub in sorted(self.root.iterdir()):
                if len(sub.name) == 2 and sub.is_dir():
                    for f in sorted(sub.iterdir()):
                        yield sub.name + f.name
        else:
            for p in self._fs.find(self._root_path):
                parts = p.rstrip("/").split("/")
                if len(parts) >= 2 and len(parts[-2]) == 2 and len(parts[-1]) == 62:
                    yield parts[-2] + parts[-1]

    # -- deletion ------------------------------------------------------------------------

    def delete(self, digest: str) -> int:
        """Remove an object; return the bytes freed (0 when it was absent)."""
        _check_digest(digest)
        try:
            if self.is_local:
                path = self._local_path(digest)
                size = path.stat().st_size
                path.unlink()
            else:
                size = int(self._fs.size(self._remote_path(digest)))
                self._fs.rm_file(self._remote_path(digest))
        except FileNotFoundError:
            return 0
        return size

    @contextlib.contextmanager
    def _missing(self, digest: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            raise ObjectNotFound(digest) from exc
