"""The content-addressed object store: dedup, verification, atomicity, errors.

The contract tests run on a local folder, on ``memory://`` (fsspec's code path) and on
``s3://`` against a real S3 API (moto's server on 127.0.0.1, see ``s3_bucket``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from rigml.errors import DiskFull, InvalidInput, ObjectCorrupted, ObjectNotFound
from rigml.objects import ObjectStore, hash_bytes, hash_file


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return ObjectStore(tmp_path / "objects")
    if request.param == "memory":
        return ObjectStore(f"memory://rig-test-{uuid.uuid4().hex[:12]}")
    bucket = request.getfixturevalue("s3_bucket")
    return ObjectStore(bucket.url(), **bucket.storage_options)


@pytest.fixture
def local_store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "objects")


def _overwrite(store: ObjectStore, digest: str, data: bytes) -> None:
    """Change an object's bytes behind the store's back, as bit rot or a stray writer would."""
    if store.is_local:
        path = Path(store.location(digest))
        path.chmod(0o644)
        path.write_bytes(data)
    else:
        store._fs.pipe_file(store.location(digest), data)


def test_bytes_round_trip_and_identical_content_is_stored_once(store: ObjectStore) -> None:
    a = store.put_bytes(b"weights")
    b = store.put_bytes(b"weights")
    assert a == b == hash_bytes(b"weights")
    assert store.get_bytes(a) == b"weights"
    assert list(store) == [a]


def test_files_are_hashed_like_bytes(store: ObjectStore, tmp_path: Path) -> None:
    f = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    f.write_bytes(data)
    digest, size = store.put_file(f)
    assert digest == hash_file(f) == hash_bytes(data) and size == len(data)
    out = tmp_path / "out" / "copy.bin"
    store.get_file(digest, out)
    assert out.read_bytes() == data


def test_empty_files_work(store: ObjectStore, tmp_path: Path) -> None:
    f = tmp_path / "empty"
    f.write_bytes(b"")
    digest, size = store.put_file(f)
    assert size == 0 and store.get_bytes(digest) == b""


def test_no_temporary_files_are_left_behind(local_store: ObjectStore) -> None:
    for i in range(5):
        local_store.put_bytes(f"object {i}".encode())
    assert list((local_store.root / "tmp").iterdir()) == []


def test_a_corrupted_object_is_detected_on_read(store: ObjectStore, tmp_path: Path) -> None:
    digest = store.put_bytes(b"precious")
    _overwrite(store, digest, b"tampered")
    with pytest.raises(ObjectCorrupted) as info:
        store.get_bytes(digest)
    assert digest[:16] in info.value.message and info.value.hint
    with pytest.raises(ObjectCorrupted):
        store.get_file(digest, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()  # never a partial or wrong result
    assert store.verify(digest) is False


def test_a_missing_object_is_named(store: ObjectStore) -> None:
    digest = hash_bytes(b"never stored")
    with pytest.raises(ObjectNotFound) as info:
        store.get_bytes(digest)
    assert digest[:16] in info.value.message
    assert store.verify(digest) is False


def test_malformed_digests_are_rejected(store: ObjectStore) -> None:
    with pytest.raises(InvalidInput):
        store.get_bytes("../../etc/passwd")


def test_delete_reports_bytes_freed(store: ObjectStore) -> None:
    digest = store.put_bytes(b"x" * 100)
    assert store.delete(digest) == 100
    assert store.delete(digest) == 0
    assert not store.exists(digest)


def test_sizes_and_modification_times_are_reported(store: ObjectStore) -> None:
    import time

    before = time.time()
    digest = store.put_bytes(b"twelve bytes")
    assert store.size(digest) == 12
    modified = store.modified(digest)
    assert modified is not None and abs(modified - before) < 120
    assert store.verify(digest) is True


def test_an_unknown_protocol_names_the_extra() -> None:
    from rigml.errors import MissingExtra, StoreUnavailable

    with pytest.raises((MissingExtra, StoreUnavailable)):
        ObjectStore("nosuchproto://bucket/x")


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """A 1 MiB tmpfs: a real full disk. Needs permission to mount."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_a_full_disk_gives_disk_full_and_keeps_earlier_objects(tiny_fs: Path) -> None:
    store = ObjectStore(tiny_fs / "objects")
    kept = store.put_bytes(b"small and safe")
    with pytest.raises(DiskFull) as info:
        store.put_bytes(os.urandom(4 * 1024 * 1024))
    assert "no space left" in info.value.message and info.value.hint
    assert store.get_bytes(kept) == b"small and safe"
    assert list((store.root / "tmp").iterdir()) == []
    assert list(store) == [kept]
