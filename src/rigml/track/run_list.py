"""A list of runs that turns into a table: one row per run, as ``rig runs export`` writes.

Columns are the run's attributes, then ``params.<key>``, ``metrics.<key>`` (latest value)
and ``tags.<key>``, laid out by :func:`rigml.track.export.runs_table`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rigml.errors import MissingExtra
from rigml.track.queries import RunInfo

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class RunList(list[RunInfo]):
    """Runs from :func:`rigml.search_runs`: a plain list, plus table conversions."""

    def to_pandas(self) -> pd.DataFrame:
        """One row per run, in list order.

        Raises:
            MissingExtra: pandas is not installed (``rigml[data]``).
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise MissingExtra("data", module="pandas") from exc
        from rigml.track.export import runs_table

        columns, rows = runs_table(self)
        return pd.DataFrame(rows, columns=columns)

    def to_arrow(self) -> pa.Table:
        """One row per run; params that are not all numbers become their JSON text.

        Raises:
            MissingExtra: pyarrow is not installed (``rigml[parquet]``).
        """
        try:
            import pyarrow as pa
        except ImportError as exc:
            raise MissingExtra("parquet", module="pyarrow") from exc
        from rigml.track.export import runs_table

        columns, rows = runs_table(self)
        return pa.table({c: _arrow_values(c, [row[c] for row in rows]) for c in columns})


def _arrow_values(column: str, values: list[Any]) -> list[Any]:
    """Values of one column in a type Arrow can hold: a column has one type."""
    if column.startswith("metrics."):
        return [None if v is None else float(v) for v in values]
    if column.startswith("params.") and not all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
    ):
        return [None if v is None else json.dumps(v) for v in values]
    return values
