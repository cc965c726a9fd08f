"""PyTorch modules: a state dict plus the class to rebuild (never a pickle), or TorchScript.

The ``torch`` flavor stores ``state_dict.pt`` and the module's class path
(``module:qualname``) with its ``init_kwargs`` (JSON, a flavor option); loading imports that
class, builds it, and reads the weights with ``torch.load(weights_only=True)``, which refuses
anything but tensors and plain containers. ``torchscript`` stores ``torch.jit.save``'s
archive. Both run on the CPU under ``inference_mode``.

torch deprecates TorchScript (``torch.jit.save``/``load`` warn since 2.10): the flavor stays
for the archives people have, and silences that notice, which is torch's, not the user's.
"""

from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, InvalidModelPackage
from rigml.registry._flavors._base import (
    Flavor,
    LoadContext,
    Saved,
    class_path,
    copy_file,
    is_zip,
    loaded,
    need,
    only_option,
)

if TYPE_CHECKING:
    from rigml.registry._signature import InputFormat, Signature

STATE_FILE = "state_dict.pt"
SCRIPT_FILE = "model.pt"


class Module:
    """An ``nn.Module`` fed numpy arrays: floats are cast to its parameters' dtype."""

    wants: InputFormat | None = "ndarray"
    has_proba = False

    def __init__(self, module: Any) -> None:
        self.raw = module
        first = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
        self.dtype = first.dtype if first is not None and first.is_floating_point() else None

    def predict(self, data: Any) -> Any:
        import numpy as np
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(data))
        if self.dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(self.dtype)
        with torch.inference_mode():
            return _numpy(self.raw(tensor))

    def predict_proba(self, data: Any) -> Any:
        raise AttributeError("a torch model has no predict_proba")

    def signature(self) -> Signature | None:
        return None


def _numpy(out: Any) -> Any:
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    if isinstance(out, tuple | list):
        return type(out)(_numpy(o) for o in out)
    if isinstance(out, dict):
        return {k: _numpy(v) for k, v in out.items()}
    return out


# -- state dict ----------------------------------------------------------------------------


def _is_module(obj: Any) -> bool:
    torch = loaded("torch")
    return torch is not None and isinstance(obj, torch.nn.Module) and not _is_script(obj)


def _is_script(obj: Any) -> bool:
    torch = loaded("torch")
    return torch is not None and isinstance(obj, torch.jit.ScriptModule)


def _save_state(obj: Any, dest: Path, options: dict[str, Any]) -> Saved:
    only_option(options, "torch", ("init_kwargs",))
    torch = need("torch", "torch")
    path = class_path(obj)
    if path.startswith("__main__:") or "<locals>" in path:
        raise InvalidInput(
            f"the torch flavor rebuilds the module from its class, and {path} cannot be imported",
            hint="define the class at the top level of an importable module, or save it as "
            "TorchScript: save_model(torch.jit.script(model), dest)",
        )
    kwargs = options.get("init_kwargs") or {}
    try:
        json.dumps(kwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"init_kwargs must be JSON (numbers, strings, lists, dicts): {exc}",
            hint="pass the arguments the class is built with, e.g. init_kwargs={'hidden': 32}",
        ) from None
    torch.save(obj.state_dict(), dest / STATE_FILE)
    extra = {"class": path, "init_kwargs": kwargs}
    return Saved((STATE_FILE,), extra=extra)


def _load_state(ctx: LoadContext) -> Module:
    torch = need("torch", "torch")
    module = _build(ctx)
    state = torch.load(ctx.file, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise InvalidModelPackage(
            str(ctx.folder),
            f"the weights do not fit {ctx.extra.get('class')}: {str(exc)[:300]}",
            hint="the class changed since the model was saved: install the version that saved it",
        ) from None
    return Module(module.eval())


def _build(ctx: LoadContext) -> Any:
    """Import and instantiate the class the manifest names."""
    path = str(ctx.extra.get("class", ""))
    module_name, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InvalidModelPackage(
            str(ctx.folder),
            f"cannot import the model's class {path!r}: {exc}",
            hint="install (or put on PYTHONPATH) the code that defines it",
        ) from None
    try:
        return target(**dict(ctx.extra.get("init_kwargs") or {}))
    except TypeError as exc:
        raise InvalidModelPackage(
            str(ctx.folder), f"cannot build {path} from its init_kwargs: {exc}"
        ) from None


def _live(obj: Any, saved: Saved) -> Module:
    return Module(obj)


TORCH = Flavor(
    name="torch",
    library="torch",
    module="torch",
    extra="torch",
    matches=_is_module,
    save=_save_state,
    live=_live,
    load=_load_state,
)


# -- TorchScript ---------------------------------------------------------------------------


@contextmanager
def _quiet_jit() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.", DeprecationWarning)
        yield


def _save_script(obj: Any, dest: Path, options: dict[str, Any]) -> Saved:
    only_option(options, "torchscript", ())
    torch = need("torch", "torch")
    with _quiet_jit():
        torch.jit.save(obj, str(dest / SCRIPT_FILE))
    return Saved((SCRIPT_FILE,))


def _load_script(ctx: LoadContext) -> Module:
    torch = need("torch", "torch")
    with _quiet_jit():
        return Module(torch.jit.load(str(ctx.file), map_location="cpu").eval())


def _wrap_script(path: Path, dest: Path) -> Saved:
    return Saved((copy_file(path, dest),))


def _sniff_script(path: Path) -> bool:
    """A TorchScript archive holds code; a ``torch.save``'d state dict does not."""
    import zipfile

    if not is_zip(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(
            "/code/" in name or name.endswith("constants.pkl") for name in archive.namelist()
        )


TORCHSCRIPT = Flavor(
    name="torchscript",
    library="torch",
    module="torch",
    extra="torch",
    matches=_is_script,
    save=_save_script,
    live=_live,
    load=_load_script,
    suffixes=(".pt", ".pth", ".torchscript"),
    wrap=_wrap_script,
    sniff=_sniff_script,
)
