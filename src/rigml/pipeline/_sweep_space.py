"""The search space of ``rig sweep``: ``--param KEY=SPEC`` read into typed ranges.

``a:b`` is a uniform float range, ``a:b:log`` a log-uniform one, ``a:b:int`` (or two
integer bounds) an integer range, ``x,y,z`` a list of choices (numbers parsed as numbers).
Optuna distributions are built from these only inside the sweep, so this module imports
nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rigml.errors import InvalidSweepParam

if TYPE_CHECKING:
    from rigml.pipeline._spec import Stage

Kind = Literal["float", "log", "int", "choice"]


@dataclass(frozen=True)
class ParamSpec:
    """One swept param: a range (``low``..``high``) or ``choices``."""

    key: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()
    text: str = ""  # as given: KEY=SPEC

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"key": self.key, "kind": self.kind, "choices": list(self.choices)}
        return {"key": self.key, "kind": self.kind, "low": self.low, "high": self.high}

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler.

        Raises:
            InvalidSweepParam: a float range, which has no finite set of values.
        """
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        raise InvalidSweepParam(
            self.text,
            "a float range has no grid of values",
            hint=f"list the values for --sampler grid: {self.key}=0.1,0.01,0.001",
        )

    def distribution(self) -> Any:
        """The Optuna distribution (optuna is imported by the caller first)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "choice":
            return CategoricalDistribution(self.choices)
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high))
        return FloatDistribution(self.low, self.high, log=self.kind == "log")


def parse_param(text: str) -> ParamSpec:
    """``KEY=SPEC`` as a :class:`ParamSpec`.

    Raises:
        InvalidSweepParam: no ``=``, an empty key, or a spec that is not a range or a list.
    """
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key:
        raise InvalidSweepParam(text, "expected KEY=SPEC", hint="--param train.lr=0.001:0.1:log")
    if not spec:
        raise InvalidSweepParam(text, f"no values for {key}", hint=f"--param {key}=1,2,3")
    if "," in spec:
        choices = tuple(_value(v.strip()) for v in spec.split(","))
        if any(v == "" for v in choices):
            raise InvalidSweepParam(text, "an empty choice", hint=f"--param {key}=3,5,8")
        if len(set(map(repr, choices))) != len(choices):
            raise InvalidSweepParam(text, "a choice is repeated", hint="list each value once")
        return ParamSpec(key, "choice", choices=choices, text=text)
    if ":" in spec:
        return _range(text, key, spec)
    return ParamSpec(key, "choice", choices=(_value(spec),), text=text)


def _range(text: str, key: str, spec: str) -> ParamSpec:
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) not in (2, 3):
        raise InvalidSweepParam(text, "a range is LOW:HIGH or LOW:HIGH:log|int")
    scale = parts[2].lower() if len(parts) == 3 else None
    if scale not in (None, "log", "int"):
        raise InvalidSweepParam(
            text, f"unknown scale {parts[2]!r}", hint="LOW:HIGH:log or LOW:HIGH:int"
        )
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidSweepParam(
            text, f"the bounds {parts[0]!r} and {parts[1]!r} must be numbers"
        ) from None
    if not low < high:
        raise InvalidSweepParam(text, f"the low bound {parts[0]} must be below {parts[1]}")
    ints = all(_is_int(p) for p in parts[:2])
    if scale == "int" or (scale is None and ints):
        if not (low.is_integer() and high.is_integer()):
            raise InvalidSweepParam(text, "an int range needs integer bounds", hint="1:10:int")
        return ParamSpec(key, "int", low, high, text=text)
    if scale == "log" and low <= 0:
        raise InvalidSweepParam(text, "a log range needs bounds above 0", hint="1e-5:0.1:log")
    return ParamSpec(key, "log" if scale == "log" else "float", low, high, text=text)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _value(text: str) -> Any:
    """A choice: an int, a float, true/false, or the text itself."""
    if _is_int(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        pass
    return {"true": True, "false": False}.get(text.lower(), text)


def check_keys(specs: list[ParamSpec], stage: Stage) -> None:
    """Each swept key is a param the stage declares (or lies inside one it declares).

    Raises:
        InvalidSweepParam: a key the stage does not read, or a key given twice.
    """
    declared = [k for keys in stage.params.values() for k in keys]
    seen: set[str] = set()
    for spec in specs:
        if spec.key in seen:
            raise InvalidSweepParam(spec.text, f"{spec.key} is swept twice")
        seen.add(spec.key)
        if not any(spec.key == k or spec.key.startswith(k + ".") for k in declared):
            shown = ", ".join(declared) or "none"
            raise InvalidSweepParam(
                spec.text,
                f"stage {stage.name!r} does not declare the param {spec.key} (its params: {shown})",
                hint=f"add {spec.key} to the stage's `params:` in rig.yaml",
            )


def params_file_of(stage: Stage, key: str) -> str:
    """The params file of ``stage`` that holds ``key`` (checked by :func:`check_keys`)."""
    for rel, keys in stage.params.items():
        if any(key == k or key.startswith(k + ".") for k in keys):
            return rel
    raise AssertionError(key)
