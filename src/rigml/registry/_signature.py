"""Model signatures: what a model takes and returns, inferred from an example input.

A signature is either named columns with dtypes (from a pandas DataFrame, a dict of lists or a
list of JSON records) or one tensor with a dtype and a shape whose first (batch) dimension is
-1 (from a numpy array). :func:`conform` turns whatever a caller sends (a DataFrame, an array, a
dict of lists, a list of records) into what the model was trained on, in the signature's
column order and dtypes, and raises :class:`SignatureMismatch` with a hint when it cannot.
Serving calls it once per batch, so the usual case (the right container, the right dtypes)
costs a few comparisons and no copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from rigml.errors import SignatureMismatch

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

InputFormat = Literal["dataframe", "ndarray", "dict", "records"]
FORMATS: tuple[InputFormat, ...] = get_args(InputFormat)
STR = "str"  # the dtype name of text columns, whether pandas holds them as object or str


@dataclass(frozen=True)
class ColumnSpec:
    """One named input column: ``dtype`` is a numpy or pandas dtype name, or ``"str"``."""

    name: str
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True)
class TensorSpec:
    """An array: ``shape`` has -1 where any size goes (the batch dimension first)."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def describe(self) -> str:
        return f"{self.dtype} array of shape {_shape_text(self.shape)}"


@dataclass(frozen=True)
class Signature:
    """The model's inputs (columns, or one tensor), how the example came, and its outputs.

    ``format`` is the container the example was in: a model saved from a DataFrame example is
    handed a DataFrame, one saved from an array an array, whatever the caller sends.
    """

    format: InputFormat
    columns: tuple[ColumnSpec, ...] = ()
    tensor: TensorSpec | None = None
    outputs: tuple[TensorSpec, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "columns": [c.to_json() for c in self.columns],
            "tensor": self.tensor.to_json() if self.tensor else None,
            "outputs": [o.to_json() for o in self.outputs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        """Read :meth:`to_json`'s form; ``ValueError``/``KeyError``/``TypeError`` on junk."""
        fmt = data["format"]
        if fmt not in FORMATS:
            raise ValueError(f"unknown signature format {fmt!r}")
        tensor = data.get("tensor")
        return cls(
            format=fmt,
            columns=tuple(ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data["columns"]),
            tensor=_tensor_from_json(tensor) if tensor is not None else None,
            outputs=tuple(_tensor_from_json(o) for o in data.get("outputs", [])),
        )


def _tensor_from_json(data: Mapping[str, Any]) -> TensorSpec:
    name = data.get("name")
    shape = tuple(int(d) for d in data["shape"])
    return TensorSpec(str(data["dtype"]), shape, None if name is None else str(name))


def _shape_text(shape: Sequence[int]) -> str:
    dims = ", ".join("n" if d == -1 else str(d) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


# -- inference -----------------------------------------------------------------------------


def format_of(data: Any) -> InputFormat:
    """Which of the four containers ``data`` is; a list of lists (or numbers) is an array."""
    if _is_frame(data):
        return "dataframe"
    if isinstance(data, Mapping):
        return "dict"
    if isinstance(data, list | tuple) and data and isinstance(data[0], Mapping):
        return "records"
    if isinstance(data, list | tuple) or hasattr(data, "__array__"):
        return "ndarray"
    raise SignatureMismatch(
        f"cannot read a {type(data).__name__} as model input",
        hint="send a pandas DataFrame, a numpy array, a dict of lists or a list of records",
    )


def infer_signature(example: Any, output: Any = None) -> Signature:
    """The signature of ``example`` (and of ``output``, what predict returned for it)."""
    fmt = format_of(example)
    outputs = infer_outputs(output) if output is not None else ()
    if fmt == "ndarray":
        return Signature("ndarray", tensor=_tensor_spec(_as_array(example)), outputs=outputs)
    columns = _columns(example, fmt)
    specs = tuple(ColumnSpec(name, _dtype_name(values)) for name, values in columns.items())
    return Signature(fmt, columns=specs, outputs=outputs)


def infer_outputs(output: Any) -> tuple[TensorSpec, ...]:
    """One spec per output: an array or Series gives one, a DataFrame or a dict one per key."""
    if _is_frame(output):
        return tuple(_tensor_spec(output[c].to_numpy(), name=str(c)) for c in output.columns)
    if isinstance(output, Mapping):
        return tuple(_tensor_spec(_as_array(v), name=str(k)) for k, v in output.items())
    name = getattr(output, "name", None)  # a pandas Series
    return (_tensor_spec(_as_array(output), name=None if name is None else str(name)),)


def head(data: Any, rows: int) -> Any:
    """The first ``rows`` rows of an input in any of the four containers."""
    fmt = format_of(data)
    if fmt == "dataframe":
        return data.iloc[:rows]
    if fmt == "dict":
        return {k: v[:rows] if _length(v) is not None else v for k, v in data.items()}
    return data[:rows]


def _tensor_spec(array: np.ndarray[Any, Any], *, name: str | None = None) -> TensorSpec:
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(_dtype_name(array), tuple(int(d) for d in shape), name)


def _dtype_name(values: Any) -> str:
    """``"float64"``, ``"int64"``, ``"bool"``, ``"category"``... ``"str"`` for text."""
    import numpy as np

    dtype = getattr(values, "dtype", None)
    if dtype is None:
        values = _as_array(values)
        dtype = values.dtype
    if not isinstance(dtype, np.dtype):  # a pandas extension dtype: category, Int64, str...
        name = str(dtype)
        return STR if name in ("string", "str") else name
    if dtype.kind in "US":
        return STR
    if dtype.kind == "O":
        return STR if _all_text(values) else _object_dtype(values)
    return str(dtype)


def _matches(have: Any, dtype: str) -> bool:
    """Whether a DataFrame column's dtype ``have`` is ``dtype`` (object counts as text)."""
    name = str(have)
    return name == dtype or (dtype == STR and name in ("object", "string", "str"))


def _all_text(values: Any) -> bool:
    return all(isinstance(v, str) for v in values if v is not None and v == v)


def _object_dtype(values: Any) -> str:
    """A column of numbers with gaps (``None``) is a float column; anything else is object."""
    import numpy as np

    try:
        np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return "object"
    return "float64"


# -- conversion ----------------------------------------------------------------------------


def check_input(signature: Signature, data: Any) -> None:
    """Raise :class:`SignatureMismatch` unless ``data`` can be given to the model.

    Raises:
        SignatureMismatch: a missing column, a value that cannot be cast, a wrong shape.
    """
    conform(signature, data)


def conform(signature: Signature | None, data: Any, *, to: InputFormat | None = None) -> Any:
    """``data`` in the container ``to`` (by default the signature's), in its order and dtypes.

    Without a signature only the container changes, and only when ``to`` names one:
    records and dicts become a DataFrame, lists an array, and a DataFrame an array when
    ``to`` asks for one.

    Raises:
        SignatureMismatch: the data does not fit the signature.
    """
    if signature is None:
        return _container_only(data, to)
    target = to or signature.format
    if signature.tensor is not None:
        array = _conform_tensor(signature.tensor, data)
        return array if target == "ndarray" else _from_array(array, target)
    fmt = format_of(data)
    if fmt == "dataframe" and target == "dataframe":
        return _conform_frame(signature, data)
    columns = _conform_columns(signature, data, fmt)
    return _pack(columns, target)


def _container_only(data: Any, to: InputFormat | None) -> Any:
    if to is None:
        return data  # a model that takes what it is sent
    fmt = format_of(data)
    if fmt in ("dict", "records") and to != fmt:
        import pandas as pd

        data = pd.DataFrame(data if fmt == "dict" else list(data))
        fmt = "dataframe"
    if fmt == "dataframe" and to == "ndarray":
        return data.to_numpy()
    if fmt == "ndarray" and not hasattr(data, "shape"):
        return _as_array(data)
    return data


def _conform_tensor(spec: TensorSpec, data: Any) -> np.ndarray[Any, Any]:
    fmt = format_of(data)
    if fmt in ("dict", "records"):
        raise SignatureMismatch(
            f"the model takes a {spec.describe()}, not named columns",
            hint="send the rows as lists of values (an array), in the training column order",
        )
    array = data.to_numpy() if fmt == "dataframe" else _as_array(data)
    _check_shape(spec.shape, array.shape)
    cast_array: np.ndarray[Any, Any] = _cast(array, spec.dtype, "the input")
    return cast_array


def _check_shape(want: tuple[int, ...], got: tuple[int, ...]) -> None:
    fits = len(want) == len(got) and all(w in (-1, g) for w, g in zip(want, got, strict=True))
    if fits:
        return
    hint = "send a batch of rows: one row per example"
    if len(want) == len(got) == 2:
        hint = f"each row needs {want[1]} features, in the order the model was trained on"
    elif len(got) == len(want) - 1:
        hint = "a single example still needs a batch dimension: send a list of one row"
    raise SignatureMismatch(
        f"expected shape {_shape_text(want)}, got {_shape_text(got)}", hint=hint
    )


def _from_array(array: np.ndarray[Any, Any], target: InputFormat) -> Any:
    """A tensor signature's array for a model that asked for a DataFrame (unnamed columns)."""
    if target == "dataframe":
        import pandas as pd

        return pd.DataFrame(array)
    return array


def _conform_frame(signature: Signature, frame: pd.DataFrame) -> pd.DataFrame:
    """The fast path: a DataFrame already in order with the right dtypes passes untouched."""
    names = signature.names
    if list(frame.columns) == names and all(
        _matches(have, c.dtype) for c, have in zip(signature.columns, frame.dtypes, strict=True)
    ):
        return frame
    columns = _conform_columns(signature, frame, "dataframe")
    return cast("pd.DataFrame", _pack(columns, "dataframe"))


def _conform_columns(signature: Signature, data: Any, fmt: InputFormat) -> dict[str, Any]:
    if fmt == "ndarray":
        columns = _positional(signature, _as_array(data))
    else:
        columns = _columns(data, fmt, signature.names)
    _check_lengths(columns)
    return {
        c.name: _cast(columns[c.name], c.dtype, f"column {c.name!r}") for c in signature.columns
    }


def _positional(signature: Signature, array: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Rows of values (no names) fill the columns in the signature's order."""
    names = signature.names
    if array.ndim != 2 or array.shape[1] != len(names):
        raise SignatureMismatch(
            f"got an array of shape {array.shape} for {len(names)} named columns",
            hint=f"send {len(names)} values a row in this order: {', '.join(names)}; "
            "or send named columns (a DataFrame, a dict of lists, JSON records)",
        )
    return {name: array[:, i] for i, name in enumerate(names)}


def _columns(data: Any, fmt: InputFormat, names: list[str] | None = None) -> dict[str, Any]:
    """The columns of a DataFrame, dict or records (only ``names`` when given, all present)."""
    if fmt == "records":
        return _record_columns(data, names)
    keys = {str(k): k for k in (data.columns if fmt == "dataframe" else data)}
    if names is None:
        names = list(keys)
    missing = [n for n in names if n not in keys]
    if missing:
        raise _missing(missing, list(keys))
    return {n: data[keys[n]] for n in names}


def _record_columns(
    records: Sequence[Mapping[str, Any]], names: list[str] | None
) -> dict[str, Any]:
    if names is None:  # inferring: a key some records lack is a column with gaps
        names = list(dict.fromkeys(k for r in records for k in r))
        return {n: [r.get(n) for r in records] for n in names}
    try:
        return {n: [r[n] for r in records] for n in names}
    except KeyError:
        for i, record in enumerate(records):
            missing = [n for n in names if n not in record]
            if missing:
                raise _missing(missing, list(record), where=f"record {i}") from None
        raise


def _missing(missing: list[str], present: list[str], *, where: str = "the input") -> Exception:
    extra = [k for k in present if k not in missing]
    shown = ", ".join(missing[:10]) + (
        f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    )
    hint = "send every column the model was trained on"
    if extra:
        hint += f"; {where} has {', '.join(extra[:10])}: was a column renamed?"
    return SignatureMismatch(f"{where} lacks column(s) {shown}", hint=hint)


def _check_lengths(columns: Mapping[str, Any]) -> None:
    lengths = {n: _length(v) for n, v in columns.items()}
    single = [n for n, k in lengths.items() if k is None]
    if single:
        raise SignatureMismatch(
            f"column {single[0]!r} holds one value, not a list of them",
            hint="a dict needs a list per column; send one example as a list of one record",
        )
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n}: {k}" for n, k in list(lengths.items())[:6])
        raise SignatureMismatch(
            f"columns have different lengths ({shown})", hint="send one value per row in each"
        )


def _length(values: Any) -> int | None:
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        return None
    return len(values)


def _pack(columns: dict[str, Any], target: InputFormat) -> Any:
    import numpy as np

    if target == "dataframe":
        import pandas as pd

        # a Series' values, not its index: columns from several sources stay aligned by row
        arrays = {k: v.array if type(v).__name__ == "Series" else v for k, v in columns.items()}
        return pd.DataFrame(arrays, copy=False)
    if target == "dict":
        return columns
    if target == "records":
        names = list(columns)
        return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    return np.column_stack(list(columns.values())) if columns else np.empty((0, 0))


def _as_array(values: Any) -> np.ndarray[Any, Any]:
    import numpy as np

    if isinstance(values, np.ndarray):
        return values
    if hasattr(values, "to_numpy"):
        return cast("np.ndarray[Any, Any]", values.to_numpy())
    if hasattr(values, "detach"):  # a torch tensor
        return cast("np.ndarray[Any, Any]", values.detach().cpu().numpy())
    try:
        return np.asarray(values)
    except ValueError as exc:  # ragged rows
        raise SignatureMismatch(
            f"cannot read the input as an array: {exc}",
            hint="every row needs the same number of values",
        ) from None


def _cast(values: Any, dtype: str, what: str) -> Any:
    """``values`` as ``dtype``, refusing casts that lose meaning (2.5 into an int column)."""
    import numpy as np

    if dtype in (STR, "object"):
        return _cast_text(values, dtype, what)
    try:
        target = np.dtype(dtype)
    except TypeError:
        return _cast_pandas(values, dtype, what)
    array = _as_array(values)
    if array.dtype == target:
        return array
    if not _lossless(array, target):
        raise _uncastable(what, array, dtype)
    try:
        return array.astype(target)
    except (TypeError, ValueError):
        raise _uncastable(what, array, dtype) from None


def _lossless(array: np.ndarray[Any, Any], target: np.dtype[Any]) -> bool:
    """Numbers widen, integral floats narrow to ints, 0/1 become bools; text is parsed by
    ``astype``, which refuses what does not read as a number or a date."""
    import numpy as np

    kind, want = array.dtype.kind, target.kind
    if want == "b":
        return kind in "iuf" and bool(np.isin(array, (0, 1)).all())
    if kind in "OU":
        return True
    if want == "f":
        return kind in "biuf"
    if want in "iu":
        if kind == "f":
            return bool(np.all(np.isfinite(array)) and np.all(np.mod(array, 1) == 0))
        return kind in "biu"
    return bool(np.can_cast(array.dtype, target, "same_kind"))


def _cast_text(values: Any, dtype: str, what: str) -> Any:
    import numpy as np

    if type(values).__name__ == "Series":
        if dtype == STR and getattr(values.dtype, "kind", "O") in "biufcmM":
            raise _uncastable(what, values.to_numpy(), dtype)
        return values  # keeps its own text dtype (object, str or category)
    array = _as_array(values)
    if dtype == STR and array.dtype.kind in "biufcmM":
        raise _uncastable(what, array, dtype)
    return array if array.dtype == object else array.astype(np.object_)


def _cast_pandas(values: Any, dtype: str, what: str) -> Any:
    """Pandas dtypes (category, Int64, datetime64[ns, UTC]...) cast through a Series."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(_as_array(values))
    if str(series.dtype) == dtype:
        return series
    try:
        return series.astype(dtype)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise _uncastable(what, series.to_numpy(), dtype) from None


def _uncastable(what: str, array: Any, dtype: str) -> SignatureMismatch:
    got = "text" if getattr(array.dtype, "kind", "O") in "OU" else str(array.dtype)
    sample = ", ".join(repr(v) for v in list(array.ravel()[:3]))
    return SignatureMismatch(
        f"{what} holds {got} values ({sample}...) that cannot be read as {dtype}",
        hint=f"send {dtype} values for {what}, as in the data the model was trained on",
    )


def _is_frame(data: Any) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")
