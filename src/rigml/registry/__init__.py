"""The model registry: versions with signatures, aliases moved through the gates, approvals,
rollback, lineage, and the watch that serving follows.

``log_model`` / ``register_artifact`` add versions, ``promote`` moves an alias after the
gates that apply pass (``rollback`` undoes a move), ``load_model`` returns an object with
``predict``, ``lineage`` answers where a version came from. Every change is in the audit
log (:mod:`rigml.audit`). Names load lazily (PEP 562): importing this costs nothing.
"""

# No ``from __future__ import annotations`` and no public import here: every public
# attribute of this package is in ``__all__`` (tests/registry/test_exports.py checks it).
import typing as _typing

from rigml._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from rigml.registry._aliases import (
        AliasMove,
        Promotion,
        alias_history,
        promote,
        remove_alias,
        rollback,
    )
    from rigml.registry._approvals import Approval, approvals, approve
    from rigml.registry._diagram import (
        LineageEdge,
        LineageGraph,
        LineageNode,
        render_png,
        to_mermaid,
    )
    from rigml.registry._lineage import Lineage, lineage
    from rigml.registry._load import download_model, load_model, materialise
    from rigml.registry._models import (
        ModelFile,
        ModelSummary,
        list_models,
        list_versions,
        register_package,
        version_files,
    )
    from rigml.registry._package import (
        LoadedModel,
        PackageInfo,
        load_package,
        package_file,
        read_info,
        save_model,
    )
    from rigml.registry._reference import RegistryReference
    from rigml.registry._refs import (
        ModelVersion,
        check_alias,
        check_model_name,
        get_version,
        parse_ref,
    )
    from rigml.registry._register import log_model, register_artifact
    from rigml.registry._signature import (
        ColumnSpec,
        Signature,
        TensorSpec,
        check_input,
        infer_signature,
    )
    from rigml.registry._watch import AliasWatch, watch_alias

# public name -> the private module that defines it
_LAZY = {
    "AliasMove": "_aliases",
    "Promotion": "_aliases",
    "alias_history": "_aliases",
    "promote": "_aliases",
    "remove_alias": "_aliases",
    "rollback": "_aliases",
    "Approval": "_approvals",
    "approvals": "_approvals",
    "approve": "_approvals",
    "Lineage": "_lineage",
    "lineage": "_lineage",
    "download_model": "_load",
    "load_model": "_load",
    "materialise": "_load",
    "ModelFile": "_models",
    "ModelSummary": "_models",
    "list_models": "_models",
    "list_versions": "_models",
    "register_package": "_models",
    "version_files": "_models",
    "RegistryReference": "_reference",
    "ModelVersion": "_refs",
    "check_alias": "_refs",
    "check_model_name": "_refs",
    "get_version": "_refs",
    "parse_ref": "_refs",
    "log_model": "_register",
    "register_artifact": "_register",
    "AliasWatch": "_watch",
    "watch_alias": "_watch",
    "LoadedModel": "_package",
    "PackageInfo": "_package",
    "load_package": "_package",
    "package_file": "_package",
    "read_info": "_package",
    "save_model": "_package",
    "ColumnSpec": "_signature",
    "Signature": "_signature",
    "TensorSpec": "_signature",
    "check_input": "_signature",
    "infer_signature": "_signature",
    "LineageEdge": "_diagram",
    "LineageGraph": "_diagram",
    "LineageNode": "_diagram",
    "render_png": "_diagram",
    "to_mermaid": "_diagram",
}

__all__ = [
    "AliasMove",
    "AliasWatch",
    "Approval",
    "ColumnSpec",
    "Lineage",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "LoadedModel",
    "ModelFile",
    "ModelSummary",
    "ModelVersion",
    "PackageInfo",
    "Promotion",
    "RegistryReference",
    "Signature",
    "TensorSpec",
    "alias_history",
    "approvals",
    "approve",
    "check_alias",
    "check_input",
    "check_model_name",
    "download_model",
    "get_version",
    "infer_signature",
    "lineage",
    "list_models",
    "list_versions",
    "load_model",
    "load_package",
    "log_model",
    "materialise",
    "package_file",
    "parse_ref",
    "promote",
    "read_info",
    "register_artifact",
    "register_package",
    "remove_alias",
    "render_png",
    "rollback",
    "save_model",
    "to_mermaid",
    "version_files",
    "watch_alias",
]

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
