"""Gate rules: read ``gates:`` specs (strings or mappings) into :class:`Gate` values.

A rule is ``SUBJECT OP BOUND``:

* SUBJECT: ``metrics.KEY`` (or a bare ``KEY``) names the run's latest value of metric KEY;
  ``slices(metrics.KEY, by=SEGMENT)`` every slice of KEY logged as
  ``slice/SEGMENT/VALUE/KEY`` (``by=`` left out: every segment); ``artifacts.size_mb`` the
  total size of the run's artifacts in MiB.
* OP: ``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=`` (``==`` allows a relative 1e-9).
* BOUND: a number; or an alias (``production``, ``staging``, any name) standing for the
  same metric of the model at that alias, optionally adjusted: ``production - 0.01``,
  ``production + 5``, ``production * 0.99``, ``production - 1%`` (1% of the reference's
  magnitude); a slice rule uses ``overall`` (the run's own KEY) the same way.

Every error is an :class:`~rigml.errors.InvalidGate` located as ``gates[2]: ...``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from rigml.errors import InvalidGate

Op = Literal[">=", ">", "<=", "<", "==", "!="]
Adjust = Literal["+", "-", "*"]
SubjectKind = Literal["metric", "slices", "artifacts"]

OVERALL = "overall"
ARTIFACT_SIZE = "artifacts.size_mb"
OPS: tuple[Op, ...] = (">=", "<=", "==", "!=", ">", "<")

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NAME = r"[A-Za-z_]\w*(?:-[A-Za-z_]\w*)*"  # a hyphen must start a word: `prod-eu - 0.01`
_COMPARE = re.compile(r"^\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<bound>.*?)\s*$")
_PLAIN = re.compile(r"^\s*(?P<subject>[^<>=!]*?)\s*(?P<rest>(?:>=|<=|==|!=|>|<).*)$", re.DOTALL)
_BOUND_NUMBER = re.compile(rf"^(?P<number>{_NUMBER})$")
_BOUND_REF = re.compile(
    rf"^(?P<name>{_NAME})(?:\s*(?P<adjust>[-+*])\s*(?P<amount>{_NUMBER})\s*(?P<pct>%)?)?$"
)
_SLICES = re.compile(
    r"^slices\(\s*(?P<metric>[^,()\s]+)\s*(?:,\s*by\s*=\s*(?P<by>[^,()\s/]+)\s*)?\)$"
)
_KEY = re.compile(r"^[^\s<>=!()%*,]+$")


@dataclass(frozen=True)
class Subject:
    """What a rule measures on the candidate run."""

    kind: SubjectKind
    key: str  # the metric key (``auc``); ``artifacts.size_mb`` for the artifact size
    by: str | None = None  # slices: the segment, None for every segment

    @property
    def text(self) -> str:
        if self.kind == "artifacts":
            return ARTIFACT_SIZE
        if self.kind == "slices":
            by = f", by={self.by}" if self.by else ""
            return f"slices(metrics.{self.key}{by})"
        return f"metrics.{self.key}"


@dataclass(frozen=True)
class Bound:
    """The right side: a number, or a reference (an alias or ``overall``) adjusted."""

    number: float | None = None
    against: str | None = None
    adjust: Adjust | None = None
    amount: float = 0.0
    percent: bool = False

    def threshold(self, base: float | None) -> float:
        """The threshold: the number, or ``base`` (the reference's value) adjusted."""
        if self.number is not None:
            return self.number
        assert base is not None, "a reference bound needs the reference's value"
        step = abs(base) * self.amount / 100 if self.percent else self.amount
        if self.adjust == "+":
            return base + step
        if self.adjust == "-":
            return base - step
        if self.adjust == "*":
            return base * self.amount
        return base

    @property
    def text(self) -> str:
        if self.number is not None:
            return f"{self.number:g}"
        if self.adjust is None:
            return str(self.against)
        return f"{self.against} {self.adjust} {self.amount:g}{'%' if self.percent else ''}"


@dataclass(frozen=True)
class Gate:
    """One rule a candidate must pass; ``text`` is its canonical spelling."""

    subject: Subject
    op: Op
    bound: Bound
    name: str | None = None

    @property
    def text(self) -> str:
        return f"{self.subject.text} {self.op} {self.bound.text}"

    @property
    def alias(self) -> str | None:
        """The alias whose model this rule compares against, if any."""
        against = self.bound.against
        return None if against is None or against == OVERALL else against

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.text, "name": self.name}


def parse_gate(spec: str, *, where: str = "gate") -> Gate:
    """One rule from its text, e.g. ``"metrics.auc >= production - 1%"``.

    Raises:
        InvalidGate: the text is not a rule; the message says which part and why.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidGate(where, f"expected a rule such as 'metrics.auc >= 0.85', got {spec!r}")
    subject_text, rest = _split(spec, where)
    m = _COMPARE.match(rest)
    if m is None:
        raise InvalidGate(where, f"{spec!r} has no comparison ({', '.join(OPS)})")
    subject = _parse_subject(subject_text, where)
    op = cast(Op, m["op"])  # the regex admits only the six operators
    bound = _parse_bound(m["bound"], subject, where, spec)
    return Gate(subject, op, bound)


def _split(spec: str, where: str) -> tuple[str, str]:
    """The subject's text and the rest (``>= BOUND``); ``slices(...)`` may hold ``by=``."""
    text = spec.strip()
    if text.startswith("slices("):
        close = text.find(")")
        if close < 0:
            raise InvalidGate(where, f"{spec!r}: slices( is never closed")
        return text[: close + 1], text[close + 1 :]
    m = _PLAIN.match(text)
    if m is None:
        raise InvalidGate(where, f"{spec!r} has no comparison ({', '.join(OPS)})")
    return m["subject"], m["rest"]


def _parse_subject(text: str, where: str) -> Subject:
    text = text.strip()
    if text.startswith("slices("):
        m = _SLICES.match(text)
        if m is None:
            raise InvalidGate(
                where,
                f"cannot read {text!r}; write slices(metrics.KEY) or slices(metrics.KEY, "
                "by=SEGMENT)",
            )
        key = _metric_key(m["metric"], where)
        return Subject("slices", key, m["by"])
    if text == ARTIFACT_SIZE:
        return Subject("artifacts", ARTIFACT_SIZE)
    if text.startswith("artifacts."):
        raise InvalidGate(
            where, f"unknown artifact figure {text!r}; the one known is {ARTIFACT_SIZE}"
        )
    return Subject("metric", _metric_key(text, where))


def _metric_key(text: str, where: str) -> str:
    key = text.removeprefix("metrics.")
    if not key or not _KEY.match(key):
        raise InvalidGate(where, f"{text!r} is not a metric; write metrics.KEY, e.g. metrics.auc")
    return key


def _parse_bound(text: str, subject: Subject, where: str, spec: str) -> Bound:
    if not text:
        raise InvalidGate(where, f"{spec!r} has nothing after the comparison")
    m = _BOUND_NUMBER.match(text)
    if m is not None:
        return Bound(number=_finite(m["number"], where))
    m = _BOUND_REF.match(text)
    if m is None:
        raise InvalidGate(
            where,
            f"cannot read the bound {text!r}; write a number, or an alias with an optional "
            "adjustment: production, production - 0.01, production * 0.99, production - 1%",
        )
    name, amount = m["name"], m["amount"]
    adjust = cast("Adjust | None", m["adjust"])  # the regex admits only + - *
    if adjust == "*" and m["pct"]:
        raise InvalidGate(where, f"{text!r}: a factor takes no %; write {name} * 0.99")
    if subject.kind == "slices" and name != OVERALL:
        raise InvalidGate(
            where,
            f"a slice rule compares with a number or with overall (the run's own "
            f"metrics.{subject.key}), not {name!r}",
        )
    if subject.kind == "artifacts":
        raise InvalidGate(where, f"{ARTIFACT_SIZE} compares with a number, e.g. <= 200")
    if subject.kind != "slices" and name == OVERALL:
        raise InvalidGate(where, "overall is only meaningful in a slices(...) rule")
    return Bound(
        against=name,
        adjust=adjust,
        amount=_finite(amount, where) if amount is not None else 0.0,
        percent=bool(m["pct"]),
    )


def _finite(text: str, where: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidGate(where, f"{text} is not a finite number")
    return value


def parse_gates(
    specs: Sequence[str | Mapping[str, Any] | Gate], *, where: str = "gates"
) -> list[Gate]:
    """The rules of a ``gates:`` list; each item a rule string, a mapping, or a :class:`Gate`.

    A mapping is ``{rule: TEXT, name: LABEL}``, or the rule spelled out as
    ``{metric: KEY, op: OP, value: BOUND, slices: SEGMENT | true, name: LABEL}`` where BOUND
    is a number or the text of one (``production - 1%``).

    Raises:
        InvalidGate: an item cannot be read; located as ``gates[2]`` (``where``) and field.
    """
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence):
        raise InvalidGate(where, f"expected a list of rules, got {type(specs).__name__}")
    gates: list[Gate] = []
    for i, spec in enumerate(specs):
        at = f"{where}[{i}]"
        if isinstance(spec, Gate):
            gates.append(spec)
        elif isinstance(spec, str):
            gates.append(parse_gate(spec, where=at))
        elif isinstance(spec, Mapping):
            from rigml.gates._spec import gate_from_mapping

            gates.append(gate_from_mapping(spec, where=at))
        else:
            raise InvalidGate(at, f"expected a rule string or a mapping, got {spec!r}")
    return gates


def load_gates_file(path: str | Path) -> list[Gate]:
    """The rules of a YAML file: a list of rules, or a mapping with a ``gates:`` list (so a
    ``rig.yaml`` works as it is).

    Raises:
        InvalidGate: the file is missing, is not YAML, or holds a bad rule (located).
    """
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidGate(str(file), f"cannot read it: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise InvalidGate(str(file), f"not valid YAML: {exc}") from exc
    if isinstance(data, Mapping):
        if "gates" not in data:
            raise InvalidGate(str(file), "has no gates: list")
        return parse_gates(data["gates"], where=f"{file}: gates")
    return parse_gates(data if data is not None else [], where=f"{file}: gates")
