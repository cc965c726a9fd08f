"""Rollout routes: ``GET /v1/status`` (every arm's share, version and live stats) and
``POST /v1/admin/canary`` (shift a canary's traffic).

Both sit behind the bearer tokens when the service has any (only ``/healthz`` is open).
The state they read and change is this process's: with ``--workers N`` each worker keeps
its own stats and shares.
"""

# No ``from __future__ import annotations``: FastAPI reads the route annotations as objects.
import json
from typing import TYPE_CHECKING, Any

from rigml.serve._inputs import RequestProblem

if TYPE_CHECKING:
    from fastapi import FastAPI

    from rigml.serve._rollout import Arm, Router
    from rigml.serve._service import ModelGroup, Service

_CANARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "model": {"type": "string"},
                        "arm": {"type": "string"},
                        "share": {"type": "number", "minimum": 0, "maximum": 100},
                        "step": {"type": "number"},
                    },
                },
                "example": {"model": "churn", "step": 25},
            }
        },
    }
}


def add_admin_routes(app: "FastAPI", service: "Service") -> None:
    """Register the status and canary routes on ``app``."""
    from fastapi import Request, Response

    def answer(doc: Any, status: int = 200) -> Response:
        body = json.dumps(doc, separators=(",", ":")).encode()
        return Response(body, status_code=status, media_type="application/json")

    @app.get("/v1/status", tags=["rollouts"], summary="Every arm: share, version, live stats")
    async def status() -> Response:
        return answer(status_doc(service))

    @app.post(
        "/v1/admin/canary",
        tags=["rollouts"],
        summary='Shift a canary\'s traffic: {"model", "share"} or {"model", "step"}',
        openapi_extra=_CANARY_BODY,
    )
    async def canary(request: Request) -> Response:
        try:
            doc = shift_canary(service, await request.body())
        except RequestProblem as exc:
            return answer({"detail": exc.detail}, exc.status)
        return answer(doc)


def status_doc(service: "Service") -> dict[str, Any]:
    """What ``/v1/status`` answers: each model with each arm's state and window."""
    guard = service.guard
    return {
        "models": [_model_doc(g) for g in service.groups.values()],
        "guard": {
            "max_error_delta": guard.max_error_delta,
            "max_p99_ratio": guard.max_p99_ratio,
            "min_requests": guard.min_requests,
        },
    }


def _model_doc(group: "ModelGroup") -> dict[str, Any]:
    router = group.router
    return {
        "name": group.name,
        "ready": all(s.ready for s in group.slots),
        "arms": [_arm_doc(router, a) for a in router.arms],
    }


def _arm_doc(router: "Router", arm: "Arm") -> dict[str, Any]:
    slot, win = arm.slot, arm.stats.window()

    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000, 3)

    cur = slot.current
    return {
        "arm": arm.name,
        "role": arm.role,
        "ref": slot.spec.ref,
        "follows": slot.spec.alias,
        "version": cur.version.version if cur else None,
        "ready": cur is not None,
        "error": slot.error,
        "share": round(router.share(arm), 3),
        "requests": arm.stats.requests,
        "errors": arm.stats.errors,
        "window": win.requests,
        "rate": round(win.rate, 3),
        "error_rate": round(win.error_rate, 4),
        "p50_ms": ms(win.p50),
        "p95_ms": ms(win.p95),
        "p99_ms": ms(win.p99),
        "rolled_back": arm.rolled_back,
    }


def shift_canary(service: "Service", body: bytes) -> dict[str, Any]:
    """Set (``share``) or move (``step``) a canary's share; its model's status after.

    A change after an automatic rollback re-arms the canary: the verdict is cleared and
    its window starts afresh, so it is judged again on new requests.

    Raises:
        RequestProblem: 422 for a bad body, 404 for a model or arm not found.
    """
    doc = _canary_body(body)
    group = _group_of(service, doc.get("model"))
    arm = group.router.canary(doc.get("arm"))
    if arm is None:
        which = f"a canary named {doc['arm']!r}" if doc.get("arm") else "a canary"
        raise RequestProblem(404, f"{group.name} has no {which} (serve it with --canary)")
    share = doc["share"] if "share" in doc else arm.share + doc["step"]
    if arm.rolled_back is not None:
        arm.rolled_back = None
        arm.stats.restart_window()
    group.router.set_share(arm, float(share))
    return _model_doc(group)


def _canary_body(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        doc = None
    usage = 'send {"model": "churn", "share": 35} or {"model": "churn", "step": 25}'
    if not isinstance(doc, dict) or ("share" in doc) == ("step" in doc):
        raise RequestProblem(422, f"give share or step, one of them: {usage}")
    value = doc.get("share", doc.get("step"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestProblem(422, f"the share or step must be a number: {usage}")
    if "share" in doc and not 0 <= value <= 100:
        raise RequestProblem(422, f"share {value} is outside 0-100")
    for key in ("model", "arm"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise RequestProblem(422, f"{key} must be a string: {usage}")
    return doc


def _group_of(service: "Service", name: str | None) -> "ModelGroup":
    """Model ``name``, or the one model with a canary when no name is given."""
    if name is not None:
        group = service.groups.get(name)
        if group is None:
            raise RequestProblem(404, f"no model {name!r} is served here")
        return group
    with_canary = [g for g in service.groups.values() if g.router.canaries]
    if len(with_canary) != 1:
        names = ", ".join(g.name for g in with_canary) or "none"
        raise RequestProblem(422, f"name the model: models with a canary here are {names}")
    return with_canary[0]
