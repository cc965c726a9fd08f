"""Batch prediction over a file: CSV, Parquet or JSONL in, the same rows plus predictions out.

The input is read chunk by chunk (``pyarrow.csv.open_csv``, ``ParquetFile.iter_batches``,
JSONL line by line), so a file larger than memory streams through with one chunk held at a
time. Each chunk is scored, written to a temporary file beside the output and logged to the
prediction log (service and arm ``batch``, one request id per chunk, ``row`` its place in
the chunk); the temporary file is renamed into place only once every chunk is done, so a
malformed row or a model error leaves nothing half-written at the output.

CSV columns get the types the model's signature names, not ones guessed from the first
block, so a column of integers that turns fractional on row 3,000,000 still reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import BadBatchInput, InvalidInput, RigError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from rigml.lab import Lab
    from rigml.registry import LoadedModel, ModelVersion, Signature

Format = Literal["csv", "parquet", "jsonl"]
ProgressFn = Callable[[int, float | None], None]  # rows done, share of the input read (0-1)
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
CSV_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class BatchResult:
    """What a batch prediction did."""

    model: str
    version: int
    input: str
    output: str
    rows: int
    chunks: int
    seconds: float
    logged: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def file_format(path: str | os.PathLike[str], what: str = "input") -> Format:
    """The format a file's suffix names.

    Raises:
        InvalidInput: a suffix other than .csv, .parquet/.pq, .jsonl/.ndjson.
    """
    suffix = Path(path).suffix.lower()
    fmt = _SUFFIXES.get(suffix)
    if fmt is None:
        raise InvalidInput(
            f"the {what} {os.fspath(path)} is not .csv, .parquet or .jsonl (got {suffix!r})",
            hint="batch prediction reads and writes CSV, Parquet and JSON Lines, by suffix",
        )
    return fmt


def predict_file(
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
    executor: str | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
) -> BatchResult:
    """Score every row of ``input_path`` with model ``ref`` into ``output_path``.

    The output has the input's columns, then ``prediction`` and, with ``proba``, one
    ``probability_<class>`` column per class; its format follows its suffix. With
    ``executor="ray"`` (or a ``ray_address`` alone) the chunks are scored by a pool of
    ``workers`` Ray actors (:mod:`rigml.serve._batch_ray`); the output is the same.

    Raises:
        ModelNotFound, InvalidModelRef, UntrustedModel: the model cannot be loaded.
        BadBatchInput: a row cannot be read or scored (named by chunk and line).
        OutputNotWritable: the output cannot be written there.
        InvalidInput: an unknown executor, or a Ray address for the local one.
        MissingExtra, ExecutorUnavailable, BatchWorkerFailed: with Ray (see there).
    """
    if _chosen_executor(executor, ray_address) == "ray":
        from rigml.serve._batch_ray import predict_file_ray

        return predict_file_ray(
            lab, ref, input_path, output_path, chunk_rows=chunk_rows, proba=proba, log=log,
            progress=progress, trusted=trusted, address=ray_address, workers=workers,
        )  # fmt: skip
    from rigml.registry import load_model

    src, dest, version = check_paths(lab, ref, input_path, output_path, chunk_rows)
    model = load_model(lab, version.ref, trusted=trusted)
    if proba and not hasattr(model, "predict_proba"):
        raise no_proba(version.ref)
    fmt = file_format(dest, "output")
    chunks = _chunks(src, file_format(src), chunk_rows, model.signature)
    job = Job(lab, version.name, version.version, src, dest, log, progress)
    return job.run(_score_each(model, chunks, proba=proba, fmt=fmt, src=src), fmt)


def _chosen_executor(executor: str | None, address: str | None) -> str:
    """``local`` or ``ray``: the name given, else ``ray`` when an address is given."""
    chosen = executor or ("ray" if address else "local")
    if chosen not in ("local", "ray"):
        from rigml.config import suggest

        raise InvalidInput(
            f"unknown executor {chosen!r}; {suggest(chosen, ['local', 'ray'])}",
            hint="pass --executor local or --executor ray",
        )
    if chosen == "local" and address:
        raise InvalidInput(
            f"a Ray address ({address}) was given with the local executor",
            hint="pass --executor ray, or leave --ray-address out",
        )
    return chosen


def check_paths(
    lab: Lab,
    ref: str,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    chunk_rows: int,
) -> tuple[Path, Path, ModelVersion]:
    """The input and output paths, checked, and the version ``ref`` names.

    Raises:
        InvalidInput, BadBatchInput, ModelNotFound, InvalidModelRef: as :func:`predict_file`.
    """
    from rigml.registry import get_version

    if chunk_rows < 1:
        raise InvalidInput(f"chunk_rows is {chunk_rows}", hint="give 1 or more rows a chunk")
    src, dest = Path(input_path), Path(output_path)
    file_format(src)
    file_format(dest, "output")
    if not src.is_file():
        raise BadBatchInput(str(src), "no such file")
    return src, dest, get_version(lab, ref)


def no_proba(ref: str) -> InvalidInput:
    return InvalidInput(f"{ref} gives no probabilities", hint="leave out --proba for this model")


@dataclass(frozen=True)
class Scored:
    """One chunk scored: its output encoded for the output format, and what the log needs.

    ``data`` is an Arrow table (CSV, Parquet) or JSON Lines text; it is built where the
    chunk is scored, so a Ray worker hands back exactly the bytes the local path writes.
    """

    data: pa.Table | str
    preds: Any
    probs: Any
    classes: list[str]
    latency_ms: float
    time: float


Chunk = tuple["pd.DataFrame", float | None]  # a chunk of input rows, the share read so far
ScoredChunk = tuple["pd.DataFrame", float | None, Scored]


def _score_each(
    model: LoadedModel, chunks: Iterator[Chunk], *, proba: bool, fmt: Format, src: Path
) -> Iterator[ScoredChunk]:
    before = 0
    for n, (frame, share) in enumerate(chunks, start=1):
        yield (
            frame,
            share,
            score_chunk(model, frame, proba=proba, fmt=fmt, src=src, n=n, before=before),
        )
        before += len(frame)


def score_chunk(
    model: LoadedModel,
    frame: pd.DataFrame,
    *,
    proba: bool,
    fmt: Format,
    src: Path,
    n: int,
    before: int,
) -> Scored:
    """Chunk ``n`` (after ``before`` rows) with its predictions, encoded for ``fmt``.

    Raises:
        BadBatchInput: the model refuses the rows, or the result cannot be encoded.
    """
    import numpy as np

    started = time.perf_counter()
    try:
        preds = np.asarray(model.predict(frame))
        loaded: Any = model  # a LoadedClassifier when proba was asked (checked)
        probs = np.asarray(loaded.predict_proba(frame)) if proba else None
    except Exception as exc:  # the model refuses the rows: a data problem, located
        text = exc.message if isinstance(exc, RigError) else _first_line(exc)
        raise BadBatchInput(
            str(src), f"rows {before + 1}-{before + len(frame)}: {text}", chunk=n
        ) from exc
    latency = (time.perf_counter() - started) * 1000.0
    out = frame.copy()
    out["prediction"] = list(preds) if preds.ndim > 1 else preds
    classes = _classes(model, probs)
    if probs is not None:
        for i, c in enumerate(classes):
            out[f"probability_{c}"] = probs[:, i]
    data = _encode(out, fmt, src, n)
    return Scored(data, preds, probs, classes, latency, time.time())


@dataclass
class Job:
    """Writing scored chunks in order to a temporary file, logging each; then the rename."""

    lab: Lab
    name: str
    version: int
    src: Path
    dest: Path
    log: bool
    progress: ProgressFn | None

    def run(self, scored: Iterator[ScoredChunk], fmt: Format) -> BatchResult:
        """Write every chunk ``scored`` yields to the output, atomically.

        Raises:
            BadBatchInput: a chunk cannot be read, scored or written like the earlier ones.
            OutputNotWritable: the output cannot be written there.
        """
        from rigml._output import output_path as atomic_path

        started = time.perf_counter()
        with atomic_path(self.dest) as tmp:
            rows, chunks = self._write(scored, tmp, fmt)
        seconds = time.perf_counter() - started
        return BatchResult(
            self.name, self.version, str(self.src), str(self.dest), rows, chunks, seconds, self.log
        )

    def _write(self, scored: Iterator[ScoredChunk], tmp: Path, fmt: Format) -> tuple[int, int]:
        """Write and log every chunk; return (rows, chunks)."""
        from rigml.serve._predlog import PredictionLog

        plog = PredictionLog(self.lab, service="batch") if self.log else None
        batch_id = uuid.uuid4().hex[:12]
        rows = n = 0
        try:
            with _writer(fmt, tmp) as write:
                for n, (frame, share, chunk) in enumerate(scored, start=1):
                    _write_chunk(write, chunk.data, self.src, n)
                    if plog is not None:
                        rec = self._record(frame, chunk)
                        plog.append({**rec, "request_id": f"batch-{batch_id}:{n}"})
                        plog.flush()  # a batch never outruns its log: nothing is dropped
                    rows += len(frame)
                    if self.progress is not None:
                        self.progress(rows, share)
        finally:
            if plog is not None:
                plog.close()
        return rows, n

    def _record(self, frame: pd.DataFrame, chunk: Scored) -> dict[str, Any]:
        return {
            "time": chunk.time,
            "model": self.name,
            "version": self.version,
            "arm": "batch",
            "inputs": frame,
            "outputs": chunk.preds,
            "latency_ms": chunk.latency_ms,
            "proba": chunk.probs,
            "classes": chunk.classes or None,
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _classes(model: LoadedModel, probs: Any) -> list[str]:
    if probs is None:
        return []
    known = getattr(model.raw, "classes_", None)
    names = [str(c) for c in known] if known is not None else []
    return names if len(names) == probs.shape[1] else [str(i) for i in range(probs.shape[1])]


# -- reading chunks --------------------------------------------------------------------------


def _chunks(
    src: Path, fmt: Format, chunk_rows: int, signature: Signature | None
) -> Iterator[tuple[pd.DataFrame, float | None]]:
    """DataFrames of at most ``chunk_rows`` rows and the share of the input read so far."""
    if fmt == "jsonl":
        return _jsonl_chunks(src, chunk_rows)
    if fmt == "parquet":
        return _parquet_chunks(src, chunk_rows)
    return _csv_chunks(src, chunk_rows, signature)


def _parquet_chunks(src: Path, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, float | None]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(src)
    except (pa.ArrowException, OSError) as exc:
        raise BadBatchInput(str(src), f"not a readable Parquet file ({exc})") from None
    total, done = max(pf.metadata.num_rows, 1), 0
    batches = pf.iter_batches(batch_size=chunk_rows)
    n = 0
    while True:
        n += 1
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise BadBatchInput(str(src), f"cannot read it ({exc})", chunk=n) from None
        done += batch.num_rows
        yield batch.to_pandas(), done / total


def _csv_chunks(
    src: Path, chunk_rows: int, signature: Signature | None
) -> Iterator[tuple[pd.DataFrame, float | None]]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    size = max(src.stat().st_size, 1)
    with open(src, "rb") as fh:
        header = fh.readline().decode("utf-8", "replace")
        fh.seek(0)
        types = _csv_types(header, signature)
        try:
            reader = pcsv.open_csv(
                fh,
                read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                convert_options=pcsv.ConvertOptions(column_types=types),
            )
        except (pa.ArrowException, OSError) as exc:
            raise _csv_error(src, exc, 1) from None
        for table in _rebatch(reader, chunk_rows, src):
            yield table.to_pandas(), min(fh.tell() / size, 1.0)


def _rebatch(reader: Any, chunk_rows: int, src: Path) -> Iterator[pa.Table]:
    """Record batches of whatever size as tables of ``chunk_rows`` rows (the last fewer)."""
    import pyarrow as pa

    held: list[pa.RecordBatch] = []
    count = rows = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (pa.ArrowException, OSError) as exc:
            raise _csv_error(src, exc, count // chunk_rows + 1, after=rows) from None
        held.append(batch)
        count += batch.num_rows
        while count >= chunk_rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, chunk_rows)
            rest = table.slice(chunk_rows)
            held, count = rest.to_batches(), rest.num_rows
            rows += chunk_rows
    if count:
        yield pa.Table.from_batches(held)


def _csv_types(header: str, signature: Signature | None) -> dict[str, Any]:
    """Arrow types for CSV columns from the signature (all columns for a tensor model)."""
    import csv

    import pyarrow as pa

    def arrow(dtype: str) -> Any:
        if dtype.startswith("float"):
            return pa.float64()
        if dtype.startswith(("int", "uint")):
            return pa.int64()
        if dtype in ("str", "object", "string"):
            return pa.string()
        if dtype == "bool":
            return pa.bool_()
        return None

    if signature is None:
        return {}
    if signature.tensor is not None:
        kind = arrow(signature.tensor.dtype)
        names = next(csv.reader([header]), [])
        return {n: kind for n in names} if kind is not None else {}
    return {c.name: t for c in signature.columns if (t := arrow(c.dtype)) is not None}


def _csv_error(src: Path, exc: BaseException, chunk: int, *, after: int = 0) -> BadBatchInput:
    """The Arrow message, with the first line that has the wrong number of fields if any."""
    import re

    bad = re.search(r"column #(\d+): .*invalid value '(.*)'", str(exc))
    cell = (int(bad.group(1)), bad.group(2)) if bad else None
    line = _bad_csv_line(src, cell)
    text = _first_line(exc)
    if line is None and after:
        text += f" (after row {after})"
    return BadBatchInput(str(src), text, chunk=chunk, line=line)


def _bad_csv_line(src: Path, cell: tuple[int, str] | None) -> int | None:
    """The first line with the wrong number of fields, or holding ``cell`` (column, text)."""
    import csv

    with open(src, newline="", encoding="utf-8", errors="replace") as fh:
        rows = csv.reader(fh)
        width = len(next(rows, []))
        for row in rows:
            if row and len(row) != width:
                return rows.line_num
            if cell is not None and len(row) > cell[0] and row[cell[0]] == cell[1]:
                return rows.line_num
    return None


def _jsonl_chunks(src: Path, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, float | None]]:
    import pandas as pd

    size = max(src.stat().st_size, 1)
    records: list[dict[str, Any]] = []
    n = 1
    with open(src, "rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            records.append(_json_row(src, line, lineno, n))
            if len(records) >= chunk_rows:
                yield pd.DataFrame.from_records(records), min(fh.tell() / size, 1.0)
                records, n = [], n + 1
    if records:
        yield pd.DataFrame.from_records(records), 1.0


def _json_row(src: Path, line: bytes, lineno: int, chunk: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise BadBatchInput(str(src), f"not JSON ({exc})", chunk=chunk, line=lineno) from None
    if not isinstance(row, dict):
        raise BadBatchInput(
            str(src), f"a JSON {type(row).__name__}, not an object", chunk=chunk, line=lineno
        )
    return row


# -- writing ---------------------------------------------------------------------------------


class _Out:
    """One output file written chunk by chunk; later chunks take the first one's schema."""

    def __init__(self, fmt: Format, path: Path) -> None:
        self.fmt, self.path = fmt, path
        self._writer: Any = None
        self._schema: pa.Schema | None = None
        self._fh: Any = None

    def write(self, data: pa.Table | str) -> None:
        """Append one encoded chunk (see :func:`_encode`)."""
        if isinstance(data, str):
            if self._fh is None:
                self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
            self._fh.write(data)
            return
        if self._schema is None:
            self._schema = data.schema
            self._writer = self._open(data.schema)
        else:
            data = data.cast(self._schema)
        self._writer.write_table(data)

    def _open(self, schema: pa.Schema) -> Any:
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        if self.fmt == "parquet":
            return pq.ParquetWriter(self.path, schema, compression="zstd")
        return pcsv.CSVWriter(self.path, schema)

    def close(self) -> None:
        for handle in (self._writer, self._fh):
            if handle is not None:
                handle.close()


@contextlib.contextmanager
def _writer(fmt: Format, path: Path) -> Iterator[_Out]:
    out = _Out(fmt, path)
    try:
        yield out
    finally:
        out.close()


def _encode(frame: pd.DataFrame, fmt: Format, src: Path, n: int) -> pa.Table | str:
    """The chunk as the output writes it: JSON Lines text, or an Arrow table."""
    import pyarrow as pa

    try:
        if fmt == "jsonl":
            text = frame.to_json(orient="records", lines=True, double_precision=15)
            return text if text.endswith("\n") else text + "\n"
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise _unwritable(src, n, exc) from None


def _write_chunk(out: _Out, data: pa.Table | str, src: Path, n: int) -> None:
    import pyarrow as pa

    try:
        out.write(data)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise _unwritable(src, n, exc) from None


def _unwritable(src: Path, n: int, exc: BaseException) -> BadBatchInput:
    return BadBatchInput(
        str(src), f"its columns cannot be written like the earlier chunks' ({exc})", chunk=n
    )
