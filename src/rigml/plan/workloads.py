"""Workload families and the user's next months of work: flags, a YAML file, or answers.

A :class:`Workload` is a family (what kind of work), how often it runs, how long each
run lasts, and the models involved. Each family brings defaults: typical models from the
fit catalogue with the settings people use them with, the duty cycle, and the bottlenecks
such work usually hits first, so a plan can start from a one-word description.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rigml.errors import InvalidWorkload
from rigml.plan._constants import HOURS_PER_MONTH

__all__ = [
    "FAMILIES",
    "FREQUENCIES",
    "Family",
    "Workload",
    "check_model_entry",
    "find_family",
    "load_workloads",
    "parse_flag",
    "parse_frequency",
    "parse_hours",
    "workload",
]

Duty = Literal["interactive", "service", "batch"]
WORKDAYS_PER_MONTH = 21.0
"""``daily`` and ``N/day`` both count working days: 5 days a week; say ``7/week`` for
every day of the week."""


@dataclass(frozen=True)
class Family:
    """A kind of work: typical models (with fit settings), run length, usual bottlenecks."""

    name: str
    title: str
    gpu: bool
    models: tuple[tuple[str, dict[str, Any]], ...]
    hours_per_run: float
    frequency: str
    duty: Duty
    bottlenecks: tuple[str, ...]
    why: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "api-first",
            "API-first apps",
            False,
            (),
            4.0,
            "daily",
            "interactive",
            ("network", "cpu"),
            "the models run at a hosted API; this machine runs the app, its tests and a small "
            "database, so latency and rate limits bind before local hardware does",
        ),
        Family(
            "coding-assistant",
            "local coding assistant",
            True,
            (("qwen2.5-coder-7b", {"quant": "Q4_K_M", "context": 16384}),),
            8.0,
            "daily",
            "service",
            ("vram", "ram"),
            "a 7B coder model in 4 bits with a long context, served all working day: the KV "
            "cache of long files decides the VRAM",
        ),
        Family(
            "embeddings-rag",
            "embeddings and RAG",
            True,
            (
                ("all-minilm-l6-v2", {"batch": 64, "context": 512}),
                ("llama-3.1-8b", {"quant": "Q4_K_M", "context": 8192}),
            ),
            6.0,
            "daily",
            "service",
            ("ram", "storage"),
            "embedding a corpus is batch work on a small model; answering holds an index in "
            "RAM and an 8B model in 4 bits",
        ),
        Family(
            "notebook-data",
            "notebook-heavy data work",
            False,
            (),
            6.0,
            "daily",
            "interactive",
            ("ram", "cpu"),
            "dataframes live in RAM (pandas needs several times the file size) and most "
            "transforms run on one core",
        ),
        Family(
            "quantised-llm",
            "quantised LLM inference",
            True,
            (("llama-3.1-8b", {"quant": "Q4_K_M", "context": 8192}),),
            4.0,
            "daily",
            "interactive",
            ("vram", "memory-bandwidth"),
            "decoding reads every weight per token: VRAM decides what loads, bandwidth how "
            "fast it answers",
        ),
        Family(
            "lora-finetune",
            "LoRA-style fine-tuning",
            True,
            (("llama-3.1-8b", {"task": "qlora", "gradient_checkpointing": True}),),
            6.0,
            "weekly",
            "batch",
            ("vram", "compute"),
            "QLoRA of a 7-8B model with gradient checkpointing fits one 24 GB card; longer "
            "sequences or bigger models run out of VRAM first",
        ),
        Family(
            "large-training",
            "large training",
            True,
            (("llama-3.1-8b", {"task": "full"}),),
            24.0,
            "monthly",
            "batch",
            ("vram", "compute"),
            "full fine-tuning or pre-training keeps weights, gradients and optimizer states "
            "(~16 bytes a parameter): more than any single workstation card for 7B and up",
        ),
    )
}

FREQUENCIES = {
    "continuous": None,
    "daily": WORKDAYS_PER_MONTH,
    "weekly": 52 / 12,
    "monthly": 1.0,
}
"""Runs a month per frequency word; ``daily`` counts working days (as ``1/day`` does).
``continuous`` is always on (the whole month)."""


@dataclass(frozen=True)
class Workload:
    """One family of work for the coming months, resolved to runs, hours and models."""

    family: Family
    runs_per_month: float
    hours_per_run: float
    models: tuple[tuple[str, dict[str, Any]], ...]
    frequency: str
    name: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def hours_per_month(self) -> float:
        return min(HOURS_PER_MONTH, self.runs_per_month * self.hours_per_run)

    @property
    def duty_cycle(self) -> float:
        return self.hours_per_month / HOURS_PER_MONTH

    @property
    def label(self) -> str:
        return self.name or self.family.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.label,
            "family": self.family.name,
            "title": self.family.title,
            "frequency": self.frequency,
            "runs_per_month": self.runs_per_month,
            "hours_per_run": self.hours_per_run,
            "hours_per_month": self.hours_per_month,
            "duty_cycle": self.duty_cycle,
            "models": [{"model": m, **opts} for m, opts in self.models],
            "notes": self.notes,
        }


def find_family(name: str, where: str) -> Family:
    """The family called ``name`` (case and ``_``/``-`` do not matter).

    Raises:
        InvalidWorkload: no such family; the hint names close ones and lists them all.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key in FAMILIES:
        return FAMILIES[key]
    close = difflib.get_close_matches(key, list(FAMILIES), n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise InvalidWorkload(
        where,
        f"unknown family {name!r}",
        hint=f"{hint}families: {', '.join(FAMILIES)}",
    )


_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:x|times)?\s*/\s*(day|week|month)\s*$")


def parse_frequency(text: str | float | int, where: str = "frequency") -> tuple[float | None, str]:
    """Runs a month for ``daily``/``weekly``/``monthly``/``continuous``, ``3/week``, or a
    plain number of runs a month; ``None`` runs means always on.

    Raises:
        InvalidWorkload: negative, zero, or unreadable.
    """
    if isinstance(text, bool):
        raise InvalidWorkload(where, f"frequency must be a word or a rate, got {text!r}")
    if isinstance(text, int | float):
        if not text > 0 or text != text:
            raise InvalidWorkload(where, f"frequency must be above 0 runs a month, got {text}")
        return float(text), f"{text:g}/month"
    key = str(text).strip().lower()
    if key in FREQUENCIES:
        return FREQUENCIES[key], key
    m = _RATE.match(key)
    if m:
        n = float(m.group(1))
        if n <= 0:
            raise InvalidWorkload(where, f"frequency must be above 0, got {text!r}")
        per = {"day": WORKDAYS_PER_MONTH, "week": 52 / 12, "month": 1.0}[m.group(2)]
        return n * per, key
    if key.startswith("-") or re.match(r"^-?\s*[0-9]", key):
        raise InvalidWorkload(where, f"frequency must be above 0, got {text!r}")
    raise InvalidWorkload(
        where,
        f"cannot read frequency {text!r}",
        hint="use daily, weekly, monthly, continuous, or a rate such as 3/week",
    )


def _check_options(where: str, opts: dict[str, Any]) -> None:
    """Fit settings of a model entry must be FitRequest fields (task, quant, context...)."""
    from dataclasses import fields

    from rigml.fit.request import FitRequest

    known = {f.name for f in fields(FitRequest)}
    unknown = sorted(set(opts) - known)
    if unknown:
        close = [difflib.get_close_matches(k, known, n=1, cutoff=0.6) for k in unknown]
        guess = [f"{k} -> {c[0]}" for k, c in zip(unknown, close, strict=True) if c]
        hint = f"did you mean {', '.join(guess)}? " if guess else ""
        raise InvalidWorkload(
            where,
            f"unknown model settings {unknown}",
            hint=f"{hint}settings are those of `rig fit`: {', '.join(sorted(known))}",
        )


def check_model_entry(m: Any, where: str) -> tuple[str, dict[str, Any] | None]:
    """A model entry: a catalogue name (``None`` settings: the family's), or ``{model:
    NAME, task: ..., quant: ..., context: ...}`` with `rig fit` settings.

    Raises:
        InvalidWorkload: neither, or settings `rig fit` does not know (close ones hinted).
    """
    if isinstance(m, str):
        return m, None
    if isinstance(m, dict) and isinstance(m.get("model"), str):
        opts = {k: v for k, v in m.items() if k != "model"}
        _check_options(where, opts)
        return m["model"], opts
    raise InvalidWorkload(where, f"expected a model name or {{model: NAME, ...}}, got {m!r}")


def workload(
    family: str,
    frequency: str | float | None = None,
    *,
    models: Sequence[str | dict[str, Any]] | None = None,
    hours: float | None = None,
    name: str = "",
    where: str = "",
) -> Workload:
    """A workload of ``family`` with the family's defaults for whatever is not given.

    Raises:
        InvalidWorkload: unknown family, bad frequency or hours, a malformed model entry.
        UnknownModel: a model not in the fit catalogue (close names in the hint).
    """
    from rigml.fit.sources import load_model

    at = where or family
    fam = find_family(family, at)
    runs, freq = parse_frequency(frequency if frequency is not None else fam.frequency, at)
    bad_hours = (
        isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 744
    )
    if hours is not None and bad_hours:
        raise InvalidWorkload(at, f"hours per run must be above 0 and at most 744, got {hours!r}")
    per_run = float(hours) if hours is not None else fam.hours_per_run
    if runs is None:  # continuous: one run all month long
        runs, per_run = 1.0, HOURS_PER_MONTH
    notes = []
    if runs * per_run > HOURS_PER_MONTH * 1.02:
        raise InvalidWorkload(
            at,
            f"{runs:g} runs a month of {per_run:g} h is {runs * per_run:,.0f} h, more than a "
            f"month has ({HOURS_PER_MONTH:g} h)",
            hint="lower the frequency or the hours per run, or say `continuous`",
        )
    resolved: list[tuple[str, dict[str, Any]]] = []
    if models:
        defaults = dict(fam.models[0][1]) if fam.models else {}
        for i, m in enumerate(models):
            model, opts = check_model_entry(m, f"{at} models[{i}]")
            resolved.append((model, defaults if opts is None else opts))
        if not fam.gpu:
            notes.append(f"{fam.name} runs no local model; the models given are planned anyway")
    else:
        resolved = list(fam.models)
    for m, _ in resolved:
        load_model(m)  # unknown names fail here, with close matches
    return Workload(fam, runs, per_run, tuple(resolved), freq, name, notes)


def parse_hours(text: str | float | None, where: str) -> float | None:
    """Hours per run from a flag or a prompt: ``6``, ``6h``, ``1.5``; empty is ``None``.

    Raises:
        InvalidWorkload: not a number.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    raw = str(text).strip().lower().removesuffix("h").strip()
    try:
        return float(raw)
    except ValueError:
        raise InvalidWorkload(where, f"hours per run must be a number, got {text!r}") from None


def parse_flag(text: str) -> Workload:
    """``FAMILY[:FREQUENCY[:MODEL,MODEL...[:HOURS]]]`` from ``rig plan -w``; HOURS is per
    run (``lora-finetune:weekly::8`` keeps the family's models).

    Raises:
        InvalidWorkload, UnknownModel: see :func:`workload`.
    """
    parts = text.split(":")
    if len(parts) > 4 or not parts[0].strip():
        raise InvalidWorkload(repr(text), "expected FAMILY[:FREQUENCY[:MODEL,...[:HOURS]]]")
    family = parts[0]
    freq = parts[1] if len(parts) > 1 and parts[1].strip() else None
    models: list[str | dict[str, Any]] | None = None
    if len(parts) > 2:
        models = [m.strip() for m in parts[2].split(",") if m.strip()] or None
    hours = parse_hours(parts[3], repr(text)) if len(parts) > 3 else None
    return workload(family, freq, models=models, hours=hours, where=repr(text))


FILE_EXAMPLE = (
    "{horizon_months: 6, workloads: [{family: lora-finetune, frequency: weekly, hours: 6, "
    "models: [llama-3.1-8b]}, {family: coding-assistant}]}"
)
"""A complete, valid workloads file on one line (YAML flow style)."""
FILE_HINT = (
    f"a valid workloads file (YAML, or JSON of the same shape): {FILE_EXAMPLE}; keys of an "
    "entry: family, frequency, hours, models, name; `rig plan --families` lists the families"
)


def load_workloads(path: str | Path) -> tuple[list[Workload], int]:
    """Workloads and the horizon (months, default 6) from a YAML or JSON file::

        horizon_months: 6
        workloads:
          - family: lora-finetune
            frequency: weekly        # daily, weekly, monthly, continuous, 3/week
            hours: 6                 # per run
            models: [llama-3.1-8b, {model: qwen2.5-14b, task: qlora, context: 4096}]

    A bare list is read as ``workloads``. The file's shape is checked by
    :class:`rigml.plan._schema.WorkloadFile`; an error names the file and the field path
    (``workloads[2].frequency``), and its hint shows a valid file.

    Raises:
        InvalidWorkload: unknown keys or families, negative frequencies or hours, no
            workloads; the message names the entry.
        UnknownModel: a model not in the fit catalogue (close names in the hint).
        MissingExtra: a YAML file without PyYAML (``pip install 'rigml[plan]'``).
    """
    from rigml.plan._files import read_data_file
    from rigml.plan._schema import WorkloadFile, validate

    def bad(where: str, problem: str, hint: str | None = None) -> InvalidWorkload:
        return InvalidWorkload(where, problem, hint=hint or FILE_HINT, file=True)

    data = read_data_file(path, bad)
    if isinstance(data, list):
        data = {"workloads": data}
    spec = validate(WorkloadFile, data, str(path), bad)
    out = []
    for i, entry in enumerate(spec.workloads):
        at = f"{path} workloads[{i}]"
        try:
            out.append(
                workload(
                    entry.family,
                    entry.frequency,
                    models=entry.models,
                    hours=entry.hours,
                    name=entry.name,
                    where=at,
                )
            )
        except InvalidWorkload as exc:
            if (exc.hint or "").startswith("write FAMILY["):  # the -w hint: give the file's
                raise bad(exc.where, exc.problem) from None
            raise
    return out, int(spec.horizon_months)
