"""ONNX models (a ``ModelProto`` or its bytes), run with onnxruntime on the CPU.

``predict`` feeds the first input and returns the first output; a model with an output
named like ``*prob*`` (skl2onnx classifiers: ``output_probability``), or the one named by
the ``proba_output`` option, also has ``predict_proba``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput
from rigml.registry._flavors._base import (
    Flavor,
    LoadContext,
    Saved,
    copy_file,
    loaded,
    need,
    only_option,
)
from rigml.registry._signature import Signature, TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from rigml.registry._signature import InputFormat

MODEL_FILE = "model.onnx"
_TYPES = {
    "float": "float32",
    "double": "float64",
    "float16": "float16",
    "int64": "int64",
    "int32": "int32",
    "int16": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
    "string": "str",
}


class Session:
    """An onnxruntime session seen as a model with one input."""

    wants: InputFormat | None = "ndarray"

    def __init__(self, session: Any, proba_output: str | None) -> None:
        self.raw = session
        first = session.get_inputs()[0]
        self.input = first.name
        self.dtype = _dtype(first.type)
        self.outputs = [o.name for o in session.get_outputs()]
        self.proba = proba_output if proba_output in self.outputs else _guess_proba(self.outputs)
        self.has_proba = self.proba is not None

    def predict(self, data: Any) -> Any:
        return self.raw.run([self.outputs[0]], {self.input: self._feed(data)})[0]

    def predict_proba(self, data: Any) -> Any:
        out = self.raw.run([self.proba], {self.input: self._feed(data)})[0]
        return _matrix(out)

    def signature(self) -> Signature:
        """The graph's own declaration of its first input and its outputs."""
        first = self.raw.get_inputs()[0]
        outputs = tuple(
            TensorSpec(_dtype(o.type) or "object", _shape(o.shape), o.name)
            for o in self.raw.get_outputs()
        )
        tensor = TensorSpec(self.dtype or "object", _shape(first.shape), first.name)
        return Signature("ndarray", tensor=tensor, outputs=outputs)

    def _feed(self, data: Any) -> np.ndarray[Any, Any]:
        import numpy as np

        array = np.asarray(data)
        if self.dtype and self.dtype != "str" and array.dtype != self.dtype:
            array = array.astype(self.dtype)
        return array


def _dtype(onnx_type: str) -> str | None:
    """``tensor(float)`` -> ``float32``; sequences and maps have none."""
    if not onnx_type.startswith("tensor("):
        return None
    return _TYPES.get(onnx_type[len("tensor(") : -1])


def _shape(dims: Any) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (dims or []))


def _guess_proba(outputs: list[str]) -> str | None:
    return next((o for o in outputs[1:] if "prob" in o.lower()), None)


def _matrix(out: Any) -> Any:
    """skl2onnx's ZipMap gives a list of ``{class: probability}``; make it rows of numbers."""
    import numpy as np

    if isinstance(out, list) and out and isinstance(out[0], dict):
        keys = list(out[0])
        return np.array([[row[k] for k in keys] for row in out], dtype=np.float32)
    return out


def _matches(obj: Any) -> bool:
    if isinstance(obj, bytes | bytearray):
        return True
    proto = loaded("onnx")
    return proto is not None and isinstance(obj, proto.ModelProto)


def _save(obj: Any, dest: Path, options: dict[str, Any]) -> Saved:
    only_option(options, "onnx", ("proba_output",))
    data = bytes(obj) if isinstance(obj, bytes | bytearray) else obj.SerializeToString()
    _check_proto(data)
    (dest / MODEL_FILE).write_bytes(data)
    extra = {"proba_output": options.get("proba_output")}
    return Saved((MODEL_FILE,), extra=extra)


def _check_proto(data: bytes) -> None:
    """Bytes that onnx cannot parse are refused now rather than at load."""
    try:
        import onnx
    except ImportError:
        return  # onnxruntime will say at load
    try:
        onnx.load_from_string(data)
    except Exception as exc:  # protobuf's DecodeError, and whatever onnx wraps it in
        raise InvalidInput(
            f"these bytes are not an ONNX model: {exc}",
            hint="pass an onnx.ModelProto or the content of a .onnx file",
        ) from None


def _session(source: bytes | Path, proba_output: Any) -> Session:
    ort = need("onnxruntime", "onnx")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's
    path_or_bytes = str(source) if isinstance(source, Path) else source
    session = ort.InferenceSession(
        path_or_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )
    return Session(session, proba_output if isinstance(proba_output, str) else None)


def _live(obj: Any, saved: Saved) -> Session:
    data = bytes(obj) if isinstance(obj, bytes | bytearray) else obj.SerializeToString()
    return _session(data, saved.extra.get("proba_output"))


def _load(ctx: LoadContext) -> Session:
    return _session(ctx.file, ctx.extra.get("proba_output"))


def _wrap(path: Path, dest: Path) -> Saved:
    _check_proto(path.read_bytes())
    return Saved((copy_file(path, dest),), extra={"proba_output": None})


FLAVOR = Flavor(
    name="onnx",
    library="onnxruntime",
    module="onnxruntime",
    extra="onnx",
    matches=_matches,
    save=_save,
    live=_live,
    load=_load,
    suffixes=(".onnx",),
    wrap=_wrap,
)
