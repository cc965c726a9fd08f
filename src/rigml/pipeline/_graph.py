"""The DAG of a pipeline: a stage depends on the stages whose outs feed its deps.

A dep feeds from an out when it is that out, lies inside it (a file of an output folder),
or holds it (a folder dep containing another stage's output).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rigml.pipeline._spec import Stage


def overlaps(a: str, b: str) -> bool:
    """Whether project-relative paths ``a`` and ``b`` are equal or one holds the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/") or "." in (a, b)


@dataclass(frozen=True)
class Graph:
    order: tuple[str, ...]  # stages in rig.yaml order
    upstream: dict[str, tuple[str, ...]]  # stage -> the stages it needs
    producers: dict[tuple[str, str], str]  # (stage, dep) -> the stage whose out feeds it

    def downstream(self) -> dict[str, list[str]]:
        down: dict[str, list[str]] = {n: [] for n in self.order}
        for name, ups in self.upstream.items():
            for up in ups:
                down[up].append(name)
        return down

    def topological(self, only: Iterable[str] | None = None) -> list[str]:
        """Stages in an order where each comes after what it needs (rig.yaml order on ties)."""
        wanted = set(self.order if only is None else only)
        done: set[str] = set()
        out: list[str] = []
        for name in self.order:
            self._visit(name, wanted, done, out)
        return out

    def _visit(self, name: str, wanted: set[str], done: set[str], out: list[str]) -> None:
        stack = [(name, iter(self.upstream[name]))]
        if name in done or name not in wanted:
            return
        done.add(name)
        while stack:
            node, ups = stack[-1]
            nxt = next((u for u in ups if u not in done and u in wanted), None)
            if nxt is None:
                stack.pop()
                out.append(node)
                continue
            done.add(nxt)
            stack.append((nxt, iter(self.upstream[nxt])))

    def closure(self, names: Iterable[str]) -> set[str]:
        """``names`` and every stage upstream of them."""
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.upstream[name])
        return seen


def build_graph(stages: dict[str, Stage]) -> Graph:
    """Edges from outs to deps (cycles are reported by :func:`find_cycle`)."""
    outs = [(out, s.name) for s in stages.values() for out in s.outs]
    exact = {out: name for out, name in outs}
    upstream: dict[str, tuple[str, ...]] = {}
    producers: dict[tuple[str, str], str] = {}
    for stage in stages.values():
        ups: list[str] = []
        for dep in stage.deps:
            found = [exact[dep]] if dep in exact else [n for o, n in outs if overlaps(dep, o)]
            if found:
                producers[(stage.name, dep)] = found[0]
            ups.extend(n for n in dict.fromkeys(found) if n not in ups)
        upstream[stage.name] = tuple(ups)
    return Graph(tuple(stages), upstream, producers)


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for start in graph.order:
        if state.get(start):
            continue
        path: list[str] = []
        stack = [(start, iter(graph.upstream[start]))]
        state[start] = 1
        path.append(start)
        while stack:
            node, ups = stack[-1]
            nxt = next(ups, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                return list(reversed(cycle))
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(graph.upstream[nxt])))
    return None
