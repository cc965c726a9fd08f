"""A run of machine samples as columns: times, one float array per metric, a few text columns.

:class:`Timeline` is what ``rig watch`` records and what :mod:`rigml.machine.diagnosis`
reads. Samples are appended as they come (from any thread); a metric that appears late
is back-filled with NaN and a metric that goes missing reads NaN, so every column has one
value per time. Text columns (``gpu0/throttle_reasons``) hold comma-joined names.

On disk a timeline is one Parquet file: a ``time`` column (epoch seconds), one ``float64``
column per metric, one ``string`` column per text column, and ``meta`` as JSON in the
file's key-value metadata under ``rigml.timeline``. It is written to a temporary file and
renamed, so a reader never sees half a file. :meth:`Timeline.plot` draws it as a PNG.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidInput, MissingExtra

if TYPE_CHECKING:
    import numpy as np

    from rigml.machine.sampler import Sample

__all__ = ["FORMAT", "Timeline", "TimelineEvent"]

FORMAT = "rigml-timeline/1"
_META_KEY = b"rigml.timeline"
_CORE = re.compile(r"^cpu(\d+)_percent$")
_GPU = re.compile(r"^gpu(\d+)/")

TimelineEvent = tuple[float, str]
"""A moment worth marking on the plot: epoch seconds and a short label."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return ",".join(str(v) for v in value)
    return str(value)


class Timeline:
    """Samples of the machine over time, column by column.

    Args:
        meta: Free JSON-able facts about the recording (command, interval, host...), kept
            with the file.
    """

    def __init__(self, *, meta: Mapping[str, Any] | None = None) -> None:
        self.meta: dict[str, Any] = dict(meta or {})
        self._times: list[float] = []
        self._values: dict[str, list[float]] = {}
        self._labels: dict[str, list[str | None]] = {}
        self._lock = threading.Lock()
        self._arrays: dict[str, np.ndarray] | None = None

    # -- building

    def append(self, sample: Sample) -> None:
        """Add one sample; its ``extra`` text values become text columns."""
        self.add(sample.time, sample.values, {k: _text(v) for k, v in sample.extra.items()})

    def add(
        self,
        time: float,
        values: Mapping[str, float],
        labels: Mapping[str, str | None] | None = None,
    ) -> None:
        """Add one row: a time, metric values, and optionally text values."""
        with self._lock:
            n = len(self._times)
            self._times.append(float(time))
            _append_row(self._values, {k: float(v) for k, v in values.items()}, n, math.nan)
            _append_row(self._labels, dict(labels or {}), n, None)
            self._arrays = None

    def extend(self, samples: Iterable[Sample]) -> Timeline:
        """Append several samples; returns ``self``."""
        for s in samples:
            self.append(s)
        return self

    @classmethod
    def from_samples(
        cls, samples: Iterable[Sample], *, meta: Mapping[str, Any] | None = None
    ) -> Timeline:
        return cls(meta=meta).extend(samples)

    @classmethod
    def from_arrays(
        cls,
        times: Sequence[float] | np.ndarray,
        columns: Mapping[str, Sequence[float] | np.ndarray],
        *,
        labels: Mapping[str, Sequence[str | None]] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Timeline:
        """A timeline from whole columns, each as long as ``times``.

        Raises:
            InvalidInput: A column's length differs from that of ``times``.
        """
        tl = cls(meta=meta)
        tl._times = [float(t) for t in times]
        n = len(tl._times)
        for store, cols in ((tl._values, columns), (tl._labels, labels or {})):
            for key, col in cols.items():
                values = list(col)
                if len(values) != n:
                    raise InvalidInput(
                        f"timeline column {key!r} has {len(values)} values for {n} times",
                        hint="give every column one value per time (NaN where unknown)",
                    )
                if store is tl._values:
                    tl._values[key] = [float(v) for v in values]
                else:
                    tl._labels[key] = [None if v is None else str(v) for v in values]
        return tl

    # -- reading

    def __len__(self) -> int:
        return len(self._times)

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._labels

    def __repr__(self) -> str:
        return f"<Timeline {len(self)} samples, {len(self._values)} metrics>"

    def _snapshot(self) -> dict[str, np.ndarray]:
        import numpy as np

        with self._lock:
            if self._arrays is None:
                arrays = {"": np.asarray(self._times, dtype=np.float64)}
                for key, col in self._values.items():
                    arrays[key] = np.asarray(col, dtype=np.float64)
                self._arrays = arrays
            return self._arrays

    @property
    def times(self) -> np.ndarray:
        """Epoch seconds of each sample."""
        return self._snapshot()[""]

    @property
    def elapsed(self) -> np.ndarray:
        """Seconds since the first sample (or since ``meta["started"]`` when set)."""
        t = self.times
        return t - self.start if len(t) else t

    @property
    def start(self) -> float:
        """When the recording started: ``meta["started"]``, else the first sample's time."""
        started = self.meta.get("started")
        if isinstance(started, int | float):
            return float(started)
        return self._times[0] if self._times else math.nan

    @property
    def duration(self) -> float:
        """Seconds from :attr:`start` to the last sample; 0 when empty."""
        return max(0.0, self._times[-1] - self.start) if self._times else 0.0

    @property
    def names(self) -> list[str]:
        """Metric names, sorted."""
        with self._lock:
            return sorted(self._values)

    @property
    def label_names(self) -> list[str]:
        """Text column names, sorted."""
        with self._lock:
            return sorted(self._labels)

    def column(self, name: str) -> np.ndarray:
        """One metric's values, NaN where a sample lacked it.

        Raises:
            KeyError: No sample had the metric.
        """
        arrays = self._snapshot()
        if name not in arrays or name == "":
            raise KeyError(name)
        return arrays[name]

    def get(self, name: str) -> np.ndarray | None:
        """One metric's values, or ``None`` when no sample had it."""
        try:
            return self.column(name)
        except KeyError:
            return None

    def labels(self, name: str) -> list[str | None]:
        """One text column (comma-joined names), ``None`` where a sample lacked it."""
        with self._lock:
            return list(self._labels.get(name, [None] * len(self._times)))

    def core_names(self) -> list[str]:
        """The per-core metrics (``cpu0_percent``...), in core order."""
        cores = [(int(m.group(1)), n) for n in self.names if (m := _CORE.match(n))]
        return [n for _, n in sorted(cores)]

    def gpu_indices(self) -> list[int]:
        """Indices of the GPUs with at least one metric."""
        found = {int(m.group(1)) for n in (*self.names, *self.label_names) if (m := _GPU.match(n))}
        return sorted(found)

    def to_dict(self) -> dict[str, Any]:
        """Columns as lists (NaN kept as float), with ``time`` and ``meta``."""
        with self._lock:
            data: dict[str, Any] = {"time": list(self._times)}
            data.update({k: list(v) for k, v in self._values.items()})
            data.update({k: list(v) for k, v in self._labels.items()})
        return {"format": FORMAT, "meta": self.meta, "columns": data}

    # -- Parquet

    def save(self, path: str | os.PathLike[str], *, parents: bool = True) -> Path:
        """Write the timeline as Parquet, atomically (temporary file, then rename).

        Args:
            path: The file to write.
            parents: Create missing parent folders (else a missing folder is an error).

        Raises:
            MissingExtra: pyarrow is not installed.
            OutputNotWritable: ``path`` cannot be written.
        """
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingExtra("parquet", module="pyarrow") from exc
        from rigml._output import output_path

        with self._lock:
            cols: dict[str, Any] = {"time": pa.array(self._times, type=pa.float64())}
            for key in sorted(self._values):
                cols[key] = pa.array(self._values[key], type=pa.float64())
            for key in sorted(self._labels):
                cols[key] = pa.array(self._labels[key], type=pa.string())
            meta = {"format": FORMAT, **self.meta}
        table = pa.table(cols).replace_schema_metadata(
            {_META_KEY: json.dumps(meta, default=str).encode()}
        )
        with output_path(path, parents=parents, suffix=".parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
        return Path(path).expanduser()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Timeline:
        """Read a timeline written by :meth:`save`.

        Raises:
            MissingExtra: pyarrow is not installed.
            InvalidInput: The file has no ``time`` column.
        """
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingExtra("parquet", module="pyarrow") from exc
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(_META_KEY)
        meta = json.loads(raw) if raw else {}
        meta.pop("format", None)
        if "time" not in table.column_names:
            raise InvalidInput(
                f"{path} is not a rigml timeline: it has no 'time' column",
                hint="timelines are the timeline.parquet files `rig watch` writes",
            )
        columns: dict[str, list[float]] = {}
        labels: dict[str, list[str | None]] = {}
        for name in table.column_names:
            if name == "time":
                continue
            col = table.column(name)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                labels[name] = col.to_pylist()
            else:
                columns[name] = [math.nan if v is None else v for v in col.to_pylist()]
        return cls.from_arrays(table.column("time").to_pylist(), columns, labels=labels, meta=meta)

    # -- plot

    def plot(
        self,
        path: str | os.PathLike[str],
        *,
        title: str | None = None,
        events: Sequence[TimelineEvent] = (),
        parents: bool = True,
    ) -> Path:
        """Draw the timeline as a PNG: CPU, memory and swap, disk, GPU load, GPU health.

        Args:
            path: Where the PNG goes (written atomically).
            title: A heading, e.g. the command watched.
            events: Moments to mark with a dashed line in every panel (an OOM, a kill).
            parents: Create missing parent folders (else a missing folder is an error).

        Raises:
            MissingExtra: matplotlib is not installed.
            OutputNotWritable: ``path`` cannot be written.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise MissingExtra("plot", module="matplotlib") from exc
        from rigml._output import output_path

        minutes = self.duration > 600
        fig = Figure(figsize=(10, 13))
        FigureCanvasAgg(fig)
        axes = fig.subplots(5, 1, sharex=True)
        pen = _Pen(self, self.elapsed / 60.0 if minutes else self.elapsed)
        _cpu_panel(pen, axes[0])
        _memory_panel(pen, axes[1])
        _disk_panel(pen, axes[2])
        _gpu_load_panel(pen, axes[3])
        _gpu_health_panel(pen, axes[4])
        _mark_events(axes, events, self.start, 60.0 if minutes else 1.0)
        for a in axes:
            a.grid(alpha=0.3)
        axes[-1].set_xlabel("minutes since start" if minutes else "seconds since start")
        if title:
            title = _plain(" ".join(title.split()))
            fig.suptitle(title if len(title) <= 110 else title[:109] + "…", fontsize="medium")
        fig.tight_layout()
        with output_path(path, parents=parents, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        return Path(path).expanduser()


class _Pen:
    """Draws a timeline's metrics against one x axis; each panel asks it for lines."""

    def __init__(self, tl: Timeline, xs: np.ndarray) -> None:
        self.tl, self.xs = tl, xs

    def line(self, ax: Any, name: str, label: str | None = None, **kw: Any) -> bool:
        """Plot one metric; ``False`` (nothing drawn) when it has no finite value."""
        import numpy as np

        y = self.tl.get(name)
        if y is None or not np.isfinite(y).any():
            return False
        kw.setdefault("linewidth", 1.2)
        ax.plot(self.xs, y, label=label or name, **kw)
        return True


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, alpha=0.6)


def _title(ax: Any, text: str) -> None:
    ax.set_title(text, loc="left", fontsize="medium")


def _cpu_panel(pen: _Pen, ax: Any) -> None:
    for core in pen.tl.core_names():
        pen.line(ax, core, label="_nolegend_", color="0.75", linewidth=0.6)
    pen.line(ax, "cpu_percent", "machine")
    pen.line(ax, "cpu_max_core_percent", "busiest core")
    pen.line(ax, "cpu_iowait_percent", "I/O wait")
    ax.set_ylim(0, 105)
    ax.set_ylabel("CPU %")
    _title(ax, "CPU (grey: each core)")
    _legend(ax)


def _memory_panel(pen: _Pen, ax: Any) -> None:
    pen.line(ax, "ram_percent", "RAM used")
    pen.line(ax, "cgroup_mem_percent", "cgroup memory (of its limit)")
    ax.set_ylim(0, 105)
    ax.set_ylabel("memory %")
    twin = ax.twinx()
    drew = pen.line(twin, "swap_in_mb_s", "swap in", color="tab:red", linestyle="--")
    drew |= pen.line(twin, "swap_out_mb_s", "swap out", color="tab:purple", linestyle="--")
    twin.set_ylabel("swap MiB/s")
    if drew:
        twin.set_ylim(bottom=0)
    else:
        twin.set_yticks([])
    _title(ax, "memory and swap")
    _legend(ax, twin)


def _disk_panel(pen: _Pen, ax: Any) -> None:
    import numpy as np

    pen.line(ax, "disk_read_mb_s", "read")
    pen.line(ax, "disk_write_mb_s", "write")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("disk MiB/s")
    twin = ax.twinx()
    path_note = pen.tl.meta.get("disk_path")
    free_label = f"free on {_plain(str(path_note))}" if path_note else "free"
    if pen.line(twin, "disk_free_gb", free_label, color="tab:green", linestyle="--"):
        free = pen.tl.column("disk_free_gb")
        top = float(np.nanmax(free))
        if top > 0 and float(np.nanmin(free)) > 0.9 * top:  # nearly flat: show it in scale
            twin.set_ylim(0, top * 1.05)
        twin.ticklabel_format(axis="y", useOffset=False, style="plain")
    else:
        twin.set_yticks([])
    twin.set_ylabel("free GiB")
    _title(ax, "disk")
    _legend(ax, twin)


def _gpu_load_panel(pen: _Pen, ax: Any) -> None:
    gpus = pen.tl.gpu_indices()
    for i in gpus:
        pen.line(ax, f"gpu{i}/util_percent", f"gpu{i} utilisation")
        pen.line(ax, f"gpu{i}/mem_percent", f"gpu{i} memory", linestyle="--")
    ax.set_ylim(0, 105)
    ax.set_ylabel("GPU %")
    _title(ax, "GPU utilisation and memory")
    if not gpus:
        _empty(ax, _plain(str(pen.tl.meta.get("gpu_note") or "no GPU readings")))
    _legend(ax)


def _gpu_health_panel(pen: _Pen, ax: Any) -> None:
    gpus = pen.tl.gpu_indices()
    twin = ax.twinx()
    for i in gpus:
        pen.line(ax, f"gpu{i}/temp_c", f"gpu{i} °C")
        pen.line(ax, f"gpu{i}/power_w", f"gpu{i} W", linestyle=":")
        pen.line(twin, f"gpu{i}/sm_clock_mhz", f"gpu{i} SM MHz", color="tab:gray", linestyle="--")
    ax.set_ylabel("°C / W")
    twin.set_ylabel("SM clock MHz")
    _title(ax, "GPU temperature, power and clock")
    if not gpus:
        _empty(ax, "no GPU readings")
        twin.set_yticks([])
    _legend(ax, twin)


def _mark_events(axes: Any, events: Sequence[TimelineEvent], start: float, unit: float) -> None:
    """A dashed red line in every panel at each event, labelled in the top panel."""
    for t, label in events:
        at = (t - start) / unit
        for a in axes:
            a.axvline(at, color="tab:red", linestyle="--", linewidth=0.9, alpha=0.8)
        axes[0].annotate(
            _plain(label),
            (at, 102),
            fontsize="small",
            color="tab:red",
            rotation=90,
            va="top",
            ha="right",
        )


def _plain(text: str) -> str:
    """Text shown as it is: matplotlib reads ``$...$`` as maths."""
    return text.replace("$", r"\$")


def _append_row(store: dict[str, list[Any]], row: Mapping[str, Any], n: int, fill: Any) -> None:
    """Append one row to columns that hold ``n`` values: new keys back-filled, absent filled."""
    for key, value in row.items():
        col = store.get(key)
        if col is None:
            col = store[key] = [fill] * n
        col.append(value)
    for col in store.values():
        if len(col) == n:
            col.append(fill)


def _legend(*axes: Any) -> None:
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        axes[0].legend(handles, labels, fontsize="x-small", loc="upper left", ncol=3)
