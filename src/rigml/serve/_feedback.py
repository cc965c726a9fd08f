"""Feedback: the true label or value of a prediction, known later, joined by request id.

Feedback arrives whenever the truth is known (a day, a month later), possibly more than
once per request (a correction): every value is kept, and reads join the latest one (by
its ``time``, then by arrival). Values are stored as JSON text, so a label ``"1"`` and a
number ``1`` stay apart; the joined ``feedback`` column holds that JSON text.
"""

from __future__ import annotations

import json
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidFeedback

if TYPE_CHECKING:
    import pyarrow as pa

    from rigml.lab import Lab
    from rigml.serve._predlog_read import TimeLike

MAX_REQUEST_ID = 255
_IN_CHUNK = 500  # request ids per IN (...) query


@dataclass(frozen=True)
class Feedback:
    """One stored feedback value."""

    id: int
    request_id: str
    value: Any
    time: float
    received_at: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _check(request_id: str, value: Any) -> str:
    if not isinstance(request_id, str) or not request_id.strip():
        raise InvalidFeedback(f"needs a request id, got {request_id!r}")
    if len(request_id) > MAX_REQUEST_ID:
        raise InvalidFeedback(f"request id is {len(request_id)} characters (at most 255)")
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidFeedback(f"value {value!r} is not JSON ({exc})") from None
    return text


def record_feedback(
    lab: Lab, request_id: str, value: Any, *, time: TimeLike | None = None
) -> Feedback:
    """Store the truth for the prediction answered as ``request_id``.

    The prediction need not be in the log yet (its segment may still be buffered).

    Args:
        value: any JSON value: a label, a number, an object.
        time: when the truth held (default: now); epoch seconds, a datetime or an ISO date.

    Raises:
        InvalidFeedback: no request id, or a value that is not JSON (NaN included).
        InvalidPredictionQuery: a malformed ``time``.
    """
    from sqlalchemy import insert

    from rigml.serve._predlog_read import parse_time
    from rigml.store.schema import prediction_feedback

    text = _check(request_id, value)
    now = _time.time()
    when = now if time is None else parse_time(time, "time")
    row = {"request_id": request_id, "value": text, "time": when, "received_at": now}

    def write(conn: Any) -> int:
        result = conn.execute(insert(prediction_feedback).values(**row))
        return int(result.inserted_primary_key[0])

    new_id = lab.store.transact(write)
    return Feedback(new_id, request_id, json.loads(text), when, now)


def latest_feedback(lab: Lab, request_ids: Iterable[str]) -> dict[str, tuple[str, float]]:
    """The latest (JSON text, time) per request id that has any feedback."""
    from sqlalchemy import select

    from rigml.store.schema import prediction_feedback as fb

    ids = sorted(set(request_ids))
    best: dict[str, tuple[float, int, str]] = {}
    with lab.store.read() as conn:
        for i in range(0, len(ids), _IN_CHUNK):
            q = select(fb.c.request_id, fb.c.time, fb.c.id, fb.c.value).where(
                fb.c.request_id.in_(ids[i : i + _IN_CHUNK])
            )
            for rid, t, row_id, value in conn.execute(q):
                held = best.get(rid)
                if held is None or (t, row_id) > held[:2]:
                    best[rid] = (t, row_id, value)
    return {rid: (value, t) for rid, (t, _, value) in best.items()}


def join_feedback(lab: Lab, table: pa.Table) -> pa.Table:
    """``table`` with ``feedback`` (JSON text) and ``feedback_time`` columns; nulls if none."""
    import pyarrow as pa

    ids = table["request_id"].to_pylist() if table.num_rows else []
    found = latest_feedback(lab, ids)
    values = [found.get(rid) for rid in ids]
    return table.append_column(
        "feedback", pa.array([v[0] if v else None for v in values], type=pa.string())
    ).append_column(
        "feedback_time", pa.array([v[1] if v else None for v in values], type=pa.float64())
    )
