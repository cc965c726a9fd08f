"""A list of runs that turns into a table: one row per run, as ``rig runs export`` writes.

Columns are the run's attributes, then ``params.<key>``, ``metrics.<key>`` (latest value)
and ``tags.<key>``, laid out by :func:`rigml.track.export.runs_table`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        """One row per run, as ``rig runs export`` writes Parquet: UTC timestamps,
        float metrics, params that are not all numbers as their JSON text.

        Raises:
            MissingExtra: pyarrow is not installed (``rigml[parquet]``).
        """
        from rigml.track.export import arrow_table

        return arrow_table(self)
