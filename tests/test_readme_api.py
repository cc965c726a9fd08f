"""The README's "Python API" examples run as written, in a fresh lab folder."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Python API"


def python_blocks(markdown: str, heading: str = HEADING) -> list[str]:
    """The ```python blocks between ``heading`` and the next heading of its level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    blocks: list[str] = []
    inside = fence = False
    current: list[str] | None = None
    for line in markdown.splitlines():
        if line.startswith("```"):
            if fence:
                if current is not None:
                    blocks.append("\n".join(current) + "\n")
                fence, current = False, None
            else:
                fence = True
                current = [] if inside and line[3:].strip() == "python" else None
            continue
        if fence:
            if current is not None:
                current.append(line)
        elif line.strip() == heading:
            inside = True
        elif inside and line.startswith("#"):
            hashes = len(line) - len(line.lstrip("#"))
            inside = not (line[hashes : hashes + 1] == " " and hashes <= level)
    return blocks


def test_blocks_are_taken_from_the_section_only() -> None:
    text = (
        "# T\n## Python API\ntext\n```python\na = 1\n```\n### Sub\n```python\nb = 2\n```\n"
        "```bash\nrig ls\n```\n```\n# not a heading\n```\n## Next\n```python\nc = 3\n```\n"
    )
    assert python_blocks(text) == ["a = 1\n", "b = 2\n"]
    assert python_blocks("## Other\n```python\nx = 1\n```\n") == []


def test_the_python_api_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rigml
    from rigml.track import api

    source = ROOT / "README.md"
    blocks = python_blocks(source.read_text(encoding="utf-8"))
    assert blocks, f"{source.name} has no ```python block under {HEADING!r}"
    monkeypatch.chdir(tmp_path)
    code = "\n".join(blocks)
    if "init_lab(" not in code:
        rigml.init_lab()
    try:
        exec(compile(code, f"{source.name} ({HEADING})", "exec"), {"__name__": "__readme__"})
        assert rigml.active_run() is None  # every run the example starts, it ends
    finally:
        for lab in api._labs.values():
            lab.close()
        api._labs.clear()
