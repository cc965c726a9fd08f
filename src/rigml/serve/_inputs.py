"""Request bodies into model input, checked against the signature, with field-level errors.

A body (JSON records, columns or instances, an Arrow IPC stream, Parquet) becomes a
:class:`Parsed`: the rows already conformed to the version's signature, so a batch of them is
joined without checks and a bad request fails alone, before it reaches a batch. When
:func:`rigml.registry._signature.conform` refuses the rows, :func:`locate` finds the field at
fault (``["records", 3, "age"]``) so the client gets a 422 it can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import MissingExtra, SignatureMismatch

if TYPE_CHECKING:
    from rigml.registry._signature import Signature

BodyKind = Literal["records", "columns", "instances", "table"]
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/x-parquet"
_KEYS: tuple[BodyKind, ...] = ("records", "columns", "instances")


class RequestProblem(Exception):
    """A request the service answers with ``status`` and ``detail`` (never a 500)."""

    def __init__(self, status: int, detail: Any, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status, self.detail, self.headers = status, detail, headers or {}


def invalid(loc: list[Any], msg: str) -> RequestProblem:
    return RequestProblem(422, [{"loc": loc, "msg": msg, "type": "value_error"}])


@dataclass(frozen=True)
class Parsed:
    """Rows ready for the model: ``data`` is a dict of column arrays, an array or a frame.

    ``key`` groups requests a batch can join into one model call.
    """

    data: Any
    rows: int
    key: tuple[Any, ...]


def decode(body: bytes, content_type: str) -> tuple[BodyKind, Any]:
    """The body's kind and content, by its content type.

    Raises:
        RequestProblem: 415 for an unknown type, 422 for a body that does not read.
    """
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in (ARROW, PARQUET):
        return "table", _read_table(body, ctype)
    if ctype not in ("", "application/json"):
        raise RequestProblem(
            415, f"unsupported content type {ctype!r}: send application/json, {ARROW} or {PARQUET}"
        )
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(["body"], f"invalid JSON: {exc}") from None
    keys = [k for k in _KEYS if isinstance(doc, dict) and k in doc]
    if len(keys) != 1:
        raise invalid(["body"], "expected an object with one of: records, columns, instances")
    return keys[0], doc[keys[0]]


def _read_table(body: bytes, ctype: str) -> Any:
    try:
        import pyarrow as pa
        import pyarrow.ipc as ipc
        import pyarrow.parquet as pq
    except ImportError:
        raise RequestProblem(415, str(MissingExtra("serve", module="pyarrow"))) from None
    try:
        if ctype == ARROW:
            table = ipc.open_stream(pa.BufferReader(body)).read_all()
        else:
            table = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError, ValueError) as exc:
        what = "an Arrow IPC stream" if ctype == ARROW else "Parquet"
        raise invalid(["body"], f"the body is not {what}: {exc}") from None
    return table.to_pandas()


def count_rows(kind: BodyKind, raw: Any) -> int:
    """Rows in a decoded body, checking only its outer shape.

    Raises:
        RequestProblem: 422 when the outer container is wrong or holds no row.
    """
    if kind == "table":
        rows = len(raw)
    elif kind == "columns":
        if not isinstance(raw, dict) or not raw:
            raise invalid(["columns"], "expected an object of column name -> list of values")
        first = next(iter(raw.values()))
        rows = len(first) if isinstance(first, list) else 0
    else:
        if not isinstance(raw, list):
            raise invalid([kind], "expected a list")
        rows = len(raw)
    if rows == 0:
        raise invalid([kind], "no rows: send at least one")
    return rows


def prepare(kind: BodyKind, raw: Any, signature: Signature | None, rows: int) -> Parsed:
    """The decoded body as model input, conformed to ``signature``.

    Raises:
        RequestProblem: 422 with the fields at fault.
    """
    from rigml.registry._signature import conform

    if signature is None:
        return _unsigned(kind, raw, rows)
    if kind == "records" and not all(isinstance(r, dict) for r in raw):
        bad = next(i for i, r in enumerate(raw) if not isinstance(r, dict))
        raise invalid(["records", bad], "expected an object of column name -> value")
    tensor = signature.tensor is not None
    try:
        data = conform(signature, raw, to="ndarray" if tensor else "dict")
    except SignatureMismatch as exc:
        raise RequestProblem(422, locate(kind, raw, signature, exc)) from None
    if tensor:
        return Parsed(data, rows, ("array", data.shape[1:], str(data.dtype)))
    return Parsed(data, rows, ("columns",))


def _unsigned(kind: BodyKind, raw: Any, rows: int) -> Parsed:
    """A model without a signature takes what it is sent: records and columns as a frame."""
    import numpy as np
    import pandas as pd

    if kind == "instances":
        try:
            array = np.asarray(raw)
        except ValueError:
            raise invalid(["instances"], "every row needs the same number of values") from None
        if array.dtype == object:
            raise invalid(["instances"], "every row needs the same number of values")
        return Parsed(array, rows, ("array", array.shape[1:], str(array.dtype)))
    try:
        frame = raw if kind == "table" else pd.DataFrame(raw)
    except (ValueError, TypeError) as exc:
        raise invalid([kind], f"cannot read the rows as a table: {exc}") from None
    return Parsed(frame, rows, ("frame", tuple(str(c) for c in frame.columns)))


# -- locating the field at fault ----------------------------------------------------------


def locate(
    kind: BodyKind, raw: Any, signature: Signature, exc: SignatureMismatch
) -> list[dict[str, Any]]:
    """Field-level messages for rows the signature refused; the whole body when no single
    field is to blame."""
    found: list[dict[str, Any]] = []
    try:
        if kind == "records":
            found = _locate_records(raw, signature)
        elif kind == "columns":
            found = _locate_columns(raw, signature)
        elif kind == "instances":
            found = _locate_instances(raw, signature)
    except Exception:  # a locator must never turn a 422 into a 500
        found = []
    message = f"{exc.problem} ({exc.hint})" if exc.hint else exc.problem
    return found[:20] or [{"loc": [kind], "msg": message, "type": "value_error"}]


def _problem(loc: list[Any], msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": "value_error"}


def _locate_records(records: list[dict[str, Any]], signature: Signature) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        for col in signature.columns:
            if col.name not in record:
                found.append(_problem(["records", i, col.name], "field required"))
            elif not _fits(record[col.name], col.dtype):
                found.append(
                    _problem(["records", i, col.name], _expected(col.dtype, record[col.name]))
                )
        if len(found) >= 20:
            break
    return found


def _expected(dtype: str, value: Any) -> str:
    return f"expected a {_kind_text(dtype)} value, got {value!r}"


def _locate_columns(columns: dict[str, Any], signature: Signature) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for col in signature.columns:
        if col.name not in columns:
            found.append(_problem(["columns", col.name], "field required"))
        elif not isinstance(columns[col.name], list):
            found.append(_problem(["columns", col.name], "expected a list of values"))
    if found:
        return found
    lengths = {len(columns[c.name]) for c in signature.columns}
    for col in signature.columns:
        values = columns[col.name]
        if len(lengths) > 1:
            msg = f"{len(values)} values; the columns differ in length"
            found.append(_problem(["columns", col.name], msg))
            continue
        bad = next((i for i, v in enumerate(values) if not _fits(v, col.dtype)), None)
        if bad is not None:
            found.append(_problem(["columns", col.name, bad], _expected(col.dtype, values[bad])))
    return found


def _locate_instances(rows: list[Any], signature: Signature) -> list[dict[str, Any]]:
    if signature.tensor is not None:
        shape = signature.tensor.shape
        width = shape[1] if len(shape) == 2 and shape[1] != -1 else None
        dtypes = [signature.tensor.dtype] * (width or 0)
    else:
        width, dtypes = len(signature.columns), [c.dtype for c in signature.columns]
    found: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or (width is not None and len(row) != width):
            found.append(_problem(["instances", i], f"expected a list of {width} values"))
            continue
        for j, (value, dtype) in enumerate(zip(row, dtypes, strict=False)):
            if not _fits(value, dtype):
                found.append(_problem(["instances", i, j], _expected(dtype, value)))
        if len(found) >= 20:
            break
    return found


def _kind_text(dtype: str) -> str:
    kind = _dtype_kind(dtype)
    return {"f": "number", "i": "integer", "u": "integer", "b": "boolean", "T": "text"}.get(
        kind, dtype
    )


def _dtype_kind(dtype: str) -> str:
    if dtype in ("str", "object"):
        return "T"
    import numpy as np

    try:
        return str(np.dtype(dtype).kind)
    except TypeError:
        return "?"


def _fits(value: Any, dtype: str) -> bool:
    """Whether one JSON value can be read as ``dtype`` (what ``conform`` would accept)."""
    kind = _dtype_kind(dtype)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "f":
        return number or value is None
    if kind in "iu":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "b":
        return isinstance(value, bool) or value in (0, 1)
    if kind == "T":
        return isinstance(value, str) or value is None
    return True
