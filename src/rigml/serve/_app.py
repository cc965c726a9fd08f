"""The FastAPI application of ``rig serve``: routes, limits, lifespan.

Bodies are read as bytes and answered with pre-encoded JSON: FastAPI's validation and
``jsonable_encoder`` would cost more than the model on a one-row request. The request
schemas still appear on the OpenAPI page (``openapi_extra``).
"""

# No ``from __future__ import annotations``: FastAPI reads the route functions' annotations
# (``Request``) as objects, and ``Request`` is imported inside ``_routes``, lazily.
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from rigml.errors import MissingExtra
from rigml.serve._inputs import ARROW, PARQUET, RequestProblem

if TYPE_CHECKING:
    from fastapi import FastAPI, Request, Response

    from rigml.lab import Lab
    from rigml.serve._config import ServeConfig
    from rigml.serve._hook import PredictionHook
    from rigml.serve._service import Service

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {
                                "records": {"type": "array", "items": {"type": "object"}}
                            },
                        },
                        {
                            "type": "object",
                            "properties": {"columns": {"type": "object"}},
                        },
                        {
                            "type": "object",
                            "properties": {
                                "instances": {"type": "array", "items": {"type": "array"}}
                            },
                        },
                    ]
                },
                "example": {"records": [{"x0": 0.1, "x1": 0.2}]},
            },
            ARROW: {"schema": {"type": "string", "format": "binary"}},
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def create_app(
    lab: "Lab",
    config: "ServeConfig",
    *,
    on_prediction: "PredictionHook | None" = None,
    on_shutdown: Sequence[Callable[[], object]] = (),
) -> "FastAPI":
    """The service for ``config``'s models, as an ASGI app (run it with uvicorn).

    Models load and warm in the background once the app starts: ``/healthz`` answers at
    once, ``/readyz`` turns 200 when every arm is ready. ``on_prediction(record)`` gets each
    prediction off the request path; ``app.state.on_shutdown`` (a list, starting with
    ``on_shutdown``) runs after in-flight requests finished, when the server stops.

    Raises:
        MissingExtra: FastAPI or prometheus-client is not installed (``rigml[serve]``).
        InvalidServeConfig, InvalidTokenFile: the config cannot work.
    """
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("serve", module=exc.name) from None
    from fastapi import FastAPI

    from rigml import __version__
    from rigml.serve._service import Service

    tokens = config.tokens()
    service = Service(lab, config, None)
    if on_prediction is not None:
        service.hook = _hook_for(on_prediction, service.metrics.log_dropped.inc)
    callbacks: list[Callable[[], object]] = list(on_shutdown)

    @asynccontextmanager
    async def lifespan(_: "FastAPI") -> AsyncIterator[None]:
        service.start_batchers()
        service.start_loading()
        try:
            yield
        finally:
            await service.aclose(callbacks)

    app = FastAPI(
        title="rig serve",
        version=__version__,
        description="Models of a rigml lab: " + ", ".join(config.refs),
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.on_shutdown = callbacks
    _routes(app, service)
    from rigml.serve._admin import add_admin_routes

    add_admin_routes(app, service)
    from rigml.serve._fastpath import FastPredict

    app.add_middleware(FastPredict, service=service)  # inside TokenAuth, added after it
    if tokens:
        from rigml.serve._auth import TokenAuth

        app.add_middleware(TokenAuth, tokens=tokens)
    return app


def _hook_for(on_prediction: "PredictionHook", on_drop: Callable[[], None]) -> Any:
    """The prediction log's own ``append`` is called in line (it only appends to a buffer
    under a lock); any other hook runs on a thread of its own, off the request path."""
    from rigml.serve._hook import DirectHook, HookQueue
    from rigml.serve._predlog import PredictionLog

    if isinstance(getattr(on_prediction, "__self__", None), PredictionLog):
        return DirectHook(on_prediction, on_drop=on_drop)
    return HookQueue(on_prediction, on_drop=on_drop)


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> "Response":
    from fastapi import Response

    body = json.dumps(doc, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _problem(exc: RequestProblem) -> "Response":
    return _json({"detail": exc.detail}, exc.status, exc.headers)


def _routes(app: "FastAPI", service: "Service") -> None:
    from fastapi import Request, Response

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz", tags=["health"], summary="Every model is loaded and warmed")
    async def readyz() -> Response:
        if service.ready:
            return _json({"status": "ready"})
        waiting = [s.describe() for s in service.slots if not s.ready]
        return _json({"status": "loading", "waiting": waiting}, 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics() -> Response:
        body, ctype = service.metrics.render()
        return Response(body, media_type=ctype)

    @app.get("/v1/models", tags=["models"], summary="The models served, their arms and versions")
    async def models() -> Response:
        return _json({"models": service.describe()})

    @app.post(
        "/v1/models/{name:path}/predict",
        tags=["models"],
        summary="Predict: JSON records, columns or instances; Arrow IPC or Parquet",
        openapi_extra=_BODY_DOC,
    )
    async def predict(name: str, request: Request, proba: bool = False) -> Response:
        headers = request.headers
        try:
            body = await _read_body(request, service.config.max_body_bytes)
            doc = await service.predict(
                name,
                body,
                headers.get("content-type", ""),
                proba=proba,
                key=headers.get("x-request-key"),
                request_id=headers.get("x-request-id"),
            )
        except RequestProblem as exc:
            return _problem(exc)
        return _json(doc)

    @app.post(
        "/v1/models/{name:path}/feedback",
        tags=["models"],
        summary="Ground truth for an earlier prediction: {request_id, value}",
    )
    async def feedback(name: str, request: Request) -> Response:
        try:
            doc = await _feedback(service, name, await _read_body(request, 1024 * 1024))
        except RequestProblem as exc:
            return _problem(exc)
        return _json(doc, 202)


async def _feedback(service: "Service", name: str, body: bytes) -> dict[str, Any]:
    """Store ``{"request_id": ..., "value": ...}`` for model ``name`` (off the event loop).

    Raises:
        RequestProblem: 404 for a model not served, 422 for a body without the two fields.
    """
    import asyncio

    from rigml.errors import RigError
    from rigml.serve._feedback import record_feedback

    if name not in service.groups:
        raise RequestProblem(404, f"no model {name!r} is served here")
    try:
        doc = json.loads(body)
    except ValueError:
        raise RequestProblem(422, "the body is not JSON: send {request_id, value}") from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("request_id"), str)
        or "value" not in doc
    ):
        raise RequestProblem(422, 'send {"request_id": "...", "value": ...}')
    try:
        await asyncio.to_thread(record_feedback, service.lab, doc["request_id"], doc["value"])
    except RigError as exc:
        raise RequestProblem(422, exc.message) from None
    return {"request_id": doc["request_id"], "accepted": True}


async def _read_body(request: "Request", limit: int) -> bytes:
    """The body, refused (413) once it passes ``limit`` bytes, whatever Content-Length says.

    Raises:
        RequestProblem: 413, or 400 for a Content-Length that is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise RequestProblem(400, "Content-Length is not a number") from None
        if size > limit:
            raise RequestProblem(413, f"the body has {size} bytes; this service takes {limit}")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise RequestProblem(413, f"the body passed {limit} bytes; send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)
