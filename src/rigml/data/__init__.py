"""Versioned datasets over the lab's object store, contracts that check them, and profiles.

Every public name lives here, once: the modules behind them are private, so a function is
never shadowed by a module of the same name (``rigml.data.checkout`` is the function).
Names load lazily (PEP 562): importing ``rigml.data`` costs nothing until one is used.
"""

# No ``from __future__ import annotations`` and no public import here: every public
# attribute of this package is in ``__all__`` (tests/data/test_exports.py checks it).
import typing as _typing

from rigml._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from rigml.data._add import AddResult, add
    from rigml.data._checkout import CheckoutResult, checkout
    from rigml.data._contracts import (
        Bounds,
        CheckReport,
        ColumnSpec,
        Contract,
        Failure,
        StoredCheck,
        check,
        checks_of,
        contract_from_dict,
        contract_to_yaml,
        infer_contract,
        latest_check,
        load_contract,
        require_passing_check,
    )
    from rigml.data._diff import DatasetDiff, FileChange, TableDiff, diff
    from rigml.data._gc import GcPlan, GcReport, collect, plan_gc
    from rigml.data._lineage import RunUsage, runs_using, use_dataset, versions_used_by
    from rigml.data._profile import ColumnProfile, Profile, TableProfiler, profile
    from rigml.data._refs import VersionInfo, resolve, tag
    from rigml.data._verify import ObjectProblem, VerifyReport, verify
    from rigml.data._versions import (
        DatasetSummary,
        FileEntry,
        history,
        list_datasets,
        version_files,
    )

# public name -> the private module that defines it
_LAZY = {
    "AddResult": "_add",
    "add": "_add",
    "CheckoutResult": "_checkout",
    "checkout": "_checkout",
    "Bounds": "_contracts",
    "CheckReport": "_contracts",
    "ColumnSpec": "_contracts",
    "Contract": "_contracts",
    "Failure": "_contracts",
    "StoredCheck": "_contracts",
    "check": "_contracts",
    "checks_of": "_contracts",
    "contract_from_dict": "_contracts",
    "contract_to_yaml": "_contracts",
    "infer_contract": "_contracts",
    "latest_check": "_contracts",
    "load_contract": "_contracts",
    "require_passing_check": "_contracts",
    "DatasetDiff": "_diff",
    "FileChange": "_diff",
    "TableDiff": "_diff",
    "diff": "_diff",
    "GcPlan": "_gc",
    "GcReport": "_gc",
    "collect": "_gc",
    "plan_gc": "_gc",
    "RunUsage": "_lineage",
    "runs_using": "_lineage",
    "use_dataset": "_lineage",
    "versions_used_by": "_lineage",
    "ColumnProfile": "_profile",
    "Profile": "_profile",
    "TableProfiler": "_profile",
    "profile": "_profile",
    "VersionInfo": "_refs",
    "resolve": "_refs",
    "tag": "_refs",
    "ObjectProblem": "_verify",
    "VerifyReport": "_verify",
    "verify": "_verify",
    "DatasetSummary": "_versions",
    "FileEntry": "_versions",
    "history": "_versions",
    "list_datasets": "_versions",
    "version_files": "_versions",
}

__all__ = [
    "AddResult",
    "Bounds",
    "CheckReport",
    "CheckoutResult",
    "ColumnProfile",
    "ColumnSpec",
    "Contract",
    "DatasetDiff",
    "DatasetSummary",
    "Failure",
    "FileChange",
    "FileEntry",
    "GcPlan",
    "GcReport",
    "ObjectProblem",
    "Profile",
    "RunUsage",
    "StoredCheck",
    "TableDiff",
    "TableProfiler",
    "VerifyReport",
    "VersionInfo",
    "add",
    "check",
    "checkout",
    "checks_of",
    "collect",
    "contract_from_dict",
    "contract_to_yaml",
    "diff",
    "history",
    "infer_contract",
    "latest_check",
    "list_datasets",
    "load_contract",
    "plan_gc",
    "profile",
    "require_passing_check",
    "resolve",
    "runs_using",
    "tag",
    "use_dataset",
    "verify",
    "version_files",
    "versions_used_by",
]

__getattr__, __dir__ = _attach(__name__, _LAZY, __all__, globals())
