"""Data contracts: the checks a dataset version must pass, validated with pandera.

A contract is YAML::

    version: 1
    rows: {min: 900, max: 1100}          # row-count range of the whole table
    strict: false                        # true: columns the contract does not name fail
    columns:
      age:
        type: int                        # int | float | bool | string | timestamp | date
        nullable: false
        min: 0
        max: 120
        unique: false
        max_null_rate: 0.01              # dataset level: share of nulls
        mean: {min: 35, max: 45}         # dataset level
        quantiles: {0.5: {min: 30, max: 50}}
      plan:
        type: string
        categories: [basic, pro]         # rows with other values fail...
        max_unseen_share: 0.02           # ...unless this share of unseen values is allowed
      signup:
        type: timestamp
        max_age: 7d                      # freshness: the newest value is at most this old

The table (every tabular file of the version, or ``--file``) is streamed in chunks of
``chunk_rows``. Row-level checks (type, nulls, range, categories) are a pandera
``DataFrameSchema`` validated lazily on each chunk, so every failure is collected with its
row. Dataset-level expectations (rows, null rate, mean, quantiles, unseen share, freshness,
uniqueness across chunks) are aggregated while streaming and then validated by a second
pandera schema over a one-row frame of those aggregates. Quantiles come from a uniform
sample of at most ``SAMPLE_SIZE`` values per column (exact below that).
"""

from __future__ import annotations

from rigml.data._contracts._check import CHUNK_ROWS, SAMPLE_SIZE, check
from rigml.data._contracts._infer import infer_contract
from rigml.data._contracts._model import (
    TYPES,
    Bounds,
    ColumnSpec,
    Contract,
    contract_from_dict,
    contract_to_yaml,
    load_contract,
    max_age_seconds,
)
from rigml.data._contracts._results import (
    CheckReport,
    Failure,
    StoredCheck,
    checks_of,
    latest_check,
    require_passing_check,
)

__all__ = [
    "CHUNK_ROWS",
    "SAMPLE_SIZE",
    "TYPES",
    "Bounds",
    "CheckReport",
    "ColumnSpec",
    "Contract",
    "Failure",
    "StoredCheck",
    "check",
    "checks_of",
    "contract_from_dict",
    "contract_to_yaml",
    "infer_contract",
    "latest_check",
    "load_contract",
    "max_age_seconds",
    "require_passing_check",
]
