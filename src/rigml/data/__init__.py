"""Versioned datasets over the lab's object store, contracts that check them, and profiles.

Names load lazily (PEP 562): importing ``rigml.data`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rigml.data.checkout import checkout as checkout_version
    from rigml.data.contracts import check, infer_contract, latest_check, require_passing_check
    from rigml.data.diff import diff_versions
    from rigml.data.gc import collect, plan_gc
    from rigml.data.lineage import runs_using, use_dataset, versions_used_by
    from rigml.data.profile import profile as profile_version
    from rigml.data.verify import verify as verify_objects
    from rigml.data.versions import (
        add_version,
        list_datasets,
        log,
        resolve,
        tag,
        version_files,
    )

__all__ = [
    "add_version",
    "check",
    "checkout_version",
    "collect",
    "diff_versions",
    "infer_contract",
    "latest_check",
    "list_datasets",
    "log",
    "plan_gc",
    "profile_version",
    "require_passing_check",
    "resolve",
    "runs_using",
    "tag",
    "use_dataset",
    "verify_objects",
    "version_files",
    "versions_used_by",
]

# public name -> (module, attribute); three functions are renamed so that they do not clash
# with their modules (rigml.data.checkout, .profile, .verify) once those are imported
_LAZY = {
    "add_version": ("versions", "add_version"),
    "list_datasets": ("versions", "list_datasets"),
    "log": ("versions", "log"),
    "resolve": ("versions", "resolve"),
    "tag": ("versions", "tag"),
    "version_files": ("versions", "version_files"),
    "checkout_version": ("checkout", "checkout"),
    "check": ("contracts", "check"),
    "infer_contract": ("contracts", "infer_contract"),
    "latest_check": ("contracts", "latest_check"),
    "require_passing_check": ("contracts", "require_passing_check"),
    "diff_versions": ("diff", "diff_versions"),
    "collect": ("gc", "collect"),
    "plan_gc": ("gc", "plan_gc"),
    "runs_using": ("lineage", "runs_using"),
    "use_dataset": ("lineage", "use_dataset"),
    "versions_used_by": ("lineage", "versions_used_by"),
    "profile_version": ("profile", "profile"),
    "verify_objects": ("verify", "verify"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'rigml.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rigml.data.{target[0]}"), target[1])


def __dir__() -> list[str]:
    return sorted(__all__)
