"""An entry's canonical bytes are exactly the JSON array of its stored fields."""

from __future__ import annotations

import json

import pytest

from rigml.audit._entry import canonical_json, entry_bytes
from rigml.audit._record import default_actor


@pytest.mark.parametrize(
    "fields",
    [
        (1, 1796359428.889825, "ann", "dataset.tag", "ds@golden", None, '"ds@1"', None),
        (10**9, 1e20, "röot", "a.b", 'x"\\\n\u2028é', "[]", None, "why \U0001f600"),
        (7, 0.1, "", "", "", "{}", "null", ""),
    ],
)
def test_entry_bytes_are_the_json_array_of_the_fields(fields: tuple) -> None:
    expected = json.dumps(list(fields), separators=(",", ":"), ensure_ascii=False).encode()
    assert entry_bytes(*fields) == expected


def test_values_are_stored_as_sorted_compact_json() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    assert canonical_json(None) is None


def test_the_default_actor_is_a_name() -> None:
    assert default_actor()
