"""Batch prediction on Ray: ``rig predict ... --executor ray [--ray-address ADDR]``.

The driver (the ``rig predict`` process) reads the input chunk by chunk exactly as the
local path does, sends each chunk as Arrow IPC bytes to a small pool of Ray actors, and
writes their answers in input order to a temporary file that is renamed into place at the
end; the prediction log is written by the driver alone (service and arm ``batch``). At most
``IN_FLIGHT_PER_WORKER`` chunks per actor are out at once, so memory stays bounded however
large the file.

Each actor loads the model once, from the files of the version's package, which the driver
sends it (a package is small): the actors need no lab, so a cluster on other machines works
with a lab that lives on this one. Every node needs rigml and the model's library installed.
Scoring and encoding is :func:`rigml.serve._batch_predict.score_chunk` on both paths, so the
output has the same bytes as ``--executor local``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import BadBatchInput, BatchWorkerFailed, RigError, UntrustedModel
from rigml.serve._batch_predict import (
    BatchResult,
    Chunk,
    Format,
    Job,
    ProgressFn,
    Scored,
    ScoredChunk,
    check_paths,
    file_format,
    no_proba,
    score_chunk,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from rigml.lab import Lab

IN_FLIGHT_PER_WORKER = 2  # one being scored, one waiting: an actor never idles on the driver
MAX_WORKERS = 8  # by default: one per CPU of the cluster, at most this many


def predict_file_ray(
    lab: Lab,
    ref: str,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    chunk_rows: int = 50_000,
    proba: bool = False,
    log: bool = True,
    progress: ProgressFn | None = None,
    trusted: bool = False,
    address: str | None = None,
    workers: int | None = None,
) -> BatchResult:
    """:func:`~rigml.serve._batch_predict.predict_file`, scored by Ray actors.

    Args:
        address: the Ray cluster (default: ``[pipeline] address`` of the lab, then
            ``RAY_ADDRESS``, then a Ray started here for this call).
        workers: actors to start, each with one CPU (default: the cluster's CPUs, up to 8).

    Raises:
        MissingExtra: Ray is not installed.
        ExecutorUnavailable: the cluster cannot be reached.
        BatchWorkerFailed: a worker cannot load the model, or died.
        BadBatchInput, UntrustedModel, ...: as the local path.
    """
    from rigml.registry._load import materialise
    from rigml.registry._package import read_info

    src, dest, version = check_paths(lab, ref, input_path, output_path, chunk_rows)
    folder = materialise(lab, version)
    info = read_info(folder)
    if info.pickle and not trusted:  # as load_package says it, before any Ray starts
        raise UntrustedModel(str(folder), "its model file is a pickle, which runs code as it loads")
    fmt = file_format(dest, "output")
    chunks = _read_chunks(src, chunk_rows, info.signature)
    job = Job(lab, version.name, version.version, src, dest, log, progress)
    with _pool(address or lab.config.pipeline.address, folder, trusted, workers) as pool:
        if proba and not pool.proba:
            raise no_proba(version.ref)
        return job.run(pool.score_all(chunks, proba=proba, fmt=fmt, src=src), fmt)


def _read_chunks(src: Path, chunk_rows: int, signature: Any) -> Iterator[Chunk]:
    from rigml.serve._batch_predict import _chunks

    return _chunks(src, file_format(src), chunk_rows, signature)


def package_files(folder: Path) -> dict[str, bytes]:
    """Every file of a materialised package, by its path relative to the folder."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- the worker side -------------------------------------------------------------------------


class ChunkScorer:
    """What one Ray actor holds: the model, loaded once from the package files it was sent.

    A plain class (Ray wraps it with ``ray.remote`` in the driver), so it is tested without
    Ray. Its methods return tagged tuples, never raise: rigml's errors carry more than their
    message and would not survive Ray's pickling.
    """

    def __init__(self, files: dict[str, bytes], trusted: bool) -> None:
        from rigml.data._refs import check_manifest_path
        from rigml.registry._package import load_package

        self._dir = Path(tempfile.mkdtemp(prefix="rig-batch-"))
        self._error: tuple[str, str | None] | None = None
        self._model: Any = None
        try:
            for rel, data in files.items():
                target = self._dir / check_manifest_path(rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            self._model = load_package(self._dir, trusted=trusted)
        except RigError as exc:
            self._error = (exc.message, exc.hint)
        except Exception as exc:  # a library's own failure: the driver names it
            self._error = (f"{type(exc).__name__}: {exc}", None)

    def ready(self) -> tuple[str, Any]:
        """``("ok", has_proba)``, or ``("error", (message, hint))`` when the load failed."""
        if self._error is not None:
            return "error", self._error
        return "ok", hasattr(self._model, "predict_proba")

    def score(
        self, payload: bytes | pd.DataFrame, n: int, before: int, proba: bool, fmt: Format, src: str
    ) -> tuple[str, Any]:
        """``("ok", Scored)`` with an Arrow table as IPC bytes, or ``("refused", ...)``."""
        from dataclasses import replace

        frame = unpack(payload)
        try:
            done = score_chunk(
                self._model, frame, proba=proba, fmt=fmt, src=Path(src), n=n, before=before
            )
        except BadBatchInput as exc:
            return "refused", exc.problem.removeprefix(f"chunk {n}: ")
        if isinstance(done.data, str):
            return "ok", done
        return "ok", replace(done, data=to_ipc(done.data))

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def pack(frame: pd.DataFrame) -> bytes | pd.DataFrame:
    """A chunk as Arrow IPC bytes; a frame Arrow cannot hold (mixed types) goes as it is."""
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError):
        return frame  # Ray pickles it: the worker sees exactly the frame the local path does
    return to_ipc(table)


def unpack(payload: bytes | pd.DataFrame) -> pd.DataFrame:
    if isinstance(payload, bytes):
        frame: pd.DataFrame = from_ipc(payload).to_pandas()
        return frame
    return payload


def to_ipc(table: pa.Table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    import pyarrow as pa

    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


# -- the driver side -------------------------------------------------------------------------


@dataclass
class _Pool:
    """Ray actors that score chunks, fed round-robin, answers taken in submission order."""

    ray: Any
    actors: list[Any]
    proba: bool

    @property
    def in_flight(self) -> int:
        return IN_FLIGHT_PER_WORKER * len(self.actors)

    def score_all(
        self, chunks: Iterator[Chunk], *, proba: bool, fmt: Format, src: Path
    ) -> Iterator[ScoredChunk]:
        """Each chunk with its scores, in input order; at most ``in_flight`` chunks out."""
        pending: deque[tuple[int, pd.DataFrame, float | None, Any]] = deque()
        before = 0
        for n, (frame, share) in enumerate(chunks, start=1):
            actor = self.actors[(n - 1) % len(self.actors)]
            ref = actor.score.remote(pack(frame), n, before, proba, fmt, str(src))
            pending.append((n, frame, share, ref))
            before += len(frame)
            if len(pending) >= self.in_flight:
                yield self._collect(pending.popleft(), src)
        while pending:
            yield self._collect(pending.popleft(), src)

    def _collect(self, item: tuple[int, pd.DataFrame, float | None, Any], src: Path) -> ScoredChunk:
        from dataclasses import replace

        n, frame, share, ref = item
        try:
            kind, value = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            raise BatchWorkerFailed(f"scoring chunk {n}", _first_line(exc)) from exc
        if kind == "refused":
            raise BadBatchInput(str(src), value, chunk=n)
        done: Scored = value
        if isinstance(done.data, bytes):
            done = replace(done, data=from_ipc(done.data))
        return frame, share, done


@contextlib.contextmanager
def _pool(address: str | None, folder: Path, trusted: bool, workers: int | None) -> Iterator[_Pool]:
    """Connect to Ray, start the actors and wait until each has loaded the model."""
    from rigml.pipeline._ray import RayExecutor, _import_ray

    ray = _import_ray()  # MissingExtra("ray") before anything else
    session = RayExecutor(address)  # how rigml attaches to (or starts) Ray, and its errors
    actors: list[Any] = []
    try:
        count = workers or _default_workers(ray)
        remote = ray.remote(num_cpus=1, max_restarts=0)(ChunkScorer)
        files = ray.put(package_files(folder))
        actors = [remote.remote(files, trusted) for _ in range(max(count, 1))]
        yield _Pool(ray, actors, _ready(ray, actors))
    finally:
        _stop(ray, actors)
        session.close()


def _default_workers(ray: Any) -> int:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(cpus, MAX_WORKERS))


def _ready(ray: Any, actors: list[Any]) -> bool:
    """Whether the model gives probabilities; raises if any actor could not load it."""
    try:
        answers = ray.get([a.ready.remote() for a in actors])
    except ray.exceptions.RayError as exc:
        raise BatchWorkerFailed("could not start", _first_line(exc)) from exc
    for kind, value in answers:
        if kind == "error":
            message, hint = value
            raise BatchWorkerFailed("could not load the model", message, hint=hint)
    return all(value for _, value in answers)


def _stop(ray: Any, actors: list[Any]) -> None:
    """Remove each actor's copy of the package, then end it."""
    with contextlib.suppress(ray.exceptions.RayError):
        ray.get([a.close.remote() for a in actors], timeout=30)
    for actor in actors:
        with contextlib.suppress(Exception):  # already gone: nothing to end
            ray.kill(actor)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
