"""One rule for sizes: parse_bytes (binary unless written as decimal ``GB``)."""

from __future__ import annotations

import pytest

from rigml._units import format_bytes, parse_bytes


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16GiB", 16 * 2**30),
        ("16Gi", 16 * 2**30),
        ("16G", 16 * 2**30),
        ("16g", 16 * 2**30),
        ("16GB", 16 * 10**9),
        ("512MB", 512 * 10**6),
        ("1.5 GiB", int(1.5 * 2**30)),
        ("64Mi", 64 * 2**20),
        (" 2 t ", 2 * 2**40),
        ("1PB", 10**15),
        ("100", 100),
        ("100B", 100),
        (".5K", 512),
        (4096, 4096),
        (1.5e9, 1_500_000_000),
        (0, 0),
    ],
)
def test_sizes(text: str | float, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize(
    "text", ["lots", "-1GB", "16 GiBs", "16i", "", "1e3", "GB", True, -1, float("nan")]
)
def test_a_bad_size_is_a_value_error(text: str | float) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_bytes(text)


def test_a_formatted_size_reads_back() -> None:
    assert parse_bytes(format_bytes(3 * 2**30)) == 3 * 2**30
