"""The registry's top-level function: ``rigml.load_model("NAME@production")``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigml.registry._package import LoadedModel
    from rigml.track.api import LabLike


def load_model(ref: str, *, lab: LabLike = None, trusted: bool = False) -> LoadedModel:
    """Load the model ``ref`` names (``NAME``, ``NAME@3``, ``NAME@production``) from the
    nearest lab (or ``lab``); the result has ``predict`` (and ``predict_proba`` where the
    model has it). Pickle-based packages load only with ``trusted=True``.

    Raises:
        ModelNotFound, InvalidModelRef: no such model, version or alias.
        UntrustedModel: the package needs pickle and ``trusted`` is False.
        SignatureMismatch: (on predict) the input does not match the stored signature.
    """
    from rigml.registry._load import load_model as load
    from rigml.track.api import lab_for

    return load(lab_for(lab), ref, trusted=trusted)
