"""The service's Prometheus metrics, in a registry of its own (one per app, so two apps in
one process, as in the tests, count apart)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

_LABELS = ("model", "version", "arm")
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Metrics:
    """Requests, errors, latency, batch sizes, queue depth and predicted values."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}

        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "rig_serve_requests", "Prediction requests answered", _LABELS, registry=reg
        )
        self.errors = Counter(
            "rig_serve_errors",
            "Prediction requests that failed, by HTTP status",
            ("model", "status"),
            registry=reg,
        )
        self.latency = Histogram(
            "rig_serve_request_seconds",
            "Time from request to response",
            _LABELS,
            buckets=_LATENCY,
            registry=reg,
        )
        self.batch_rows = Histogram(
            "rig_serve_batch_rows", "Rows per model call", _LABELS, buckets=_SIZES, registry=reg
        )
        self.batch_requests = Histogram(
            "rig_serve_batch_requests",
            "Requests joined per model call",
            _LABELS,
            buckets=_SIZES,
            registry=reg,
        )
        self.queue_depth = Gauge(
            "rig_serve_queue_depth", "Requests waiting for a batch", ("model", "arm"), registry=reg
        )
        self.predictions = Histogram(
            "rig_serve_prediction_value",
            "Distribution of numeric predictions",
            _LABELS,
            buckets=(-1.0, 0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0),
            registry=reg,
        )
        self.swaps = Counter(
            "rig_serve_swaps", "Versions swapped in (blue-green)", ("model", "arm"), registry=reg
        )
        self.load_failures = Counter(
            "rig_serve_load_failures",
            "Versions that failed to load",
            ("model", "arm"),
            registry=reg,
        )
        self.log_dropped = Counter(
            "rig_serve_prediction_log_dropped",
            "Predictions not handed to the log (its queue was full)",
            registry=reg,
        )

    def answered(self, labels: tuple[str, str, str], latency: float, values: Any) -> None:
        """One answered request: its count, latency and numeric predictions.

        The labelled children are looked up once per (model, version, arm): prometheus'
        ``labels()`` costs more than the observations themselves.
        """
        children = self._children.get(labels)
        if children is None:
            children = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
                self.predictions.labels(*labels),
            )
            self._children[labels] = children
        children[0].inc()
        children[1].observe(latency)
        self._observe_values(children[2], values)

    def _observe_values(self, child: Any, values: Any) -> None:
        """Numeric predictions into the distribution histogram (others are skipped)."""
        import numpy as np

        array = np.asarray(values)
        if array.dtype.kind not in "biuf" or array.size == 0:
            return
        for v in array.ravel()[:4096].astype(float).tolist():
            if v == v:
                child.observe(v)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
