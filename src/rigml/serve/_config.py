"""What a service serves and under which limits: :class:`ServeConfig` and its arm specs.

A config travels to uvicorn's worker processes as JSON in an environment variable
(:meth:`ServeConfig.to_env`), so every worker opens the lab and serves the same refs.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rigml.errors import InvalidServeConfig, InvalidTokenFile, UnsafeBind

ArmKind = Literal["primary", "canary", "shadow", "ab"]
ENV_CONFIG = "RIG_SERVE_CONFIG"
_NUMBER = re.compile(r"v?\d+")
_ARM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RESERVED = frozenset({"primary", "canary", "shadow"})
_MIN_TOKEN = 16


@dataclass(frozen=True)
class ArmSpec:
    """One arm of a served model: the ref it serves, its kind, its traffic share (%) and
    its name (``label``; the kind when unnamed), which responses and metrics carry."""

    ref: str
    kind: ArmKind = "primary"
    share: float = 100.0
    label: str = ""

    @property
    def name(self) -> str:
        return self.ref.partition("@")[0]

    @property
    def arm(self) -> str:
        return self.label or self.kind

    @property
    def alias(self) -> str | None:
        """The alias this arm follows (None for a fixed version or ``latest``)."""
        sel = self.ref.partition("@")[2]
        if not sel or sel == "latest" or _NUMBER.fullmatch(sel):
            return None
        return sel


@dataclass(frozen=True)
class ServeConfig:
    """A service's models and limits.

    Args:
        refs: the models served, ``NAME@production``, ``NAME@3``; one primary arm each.
        canary: ``NAME@staging:10``: that share (%) of NAME's traffic goes to the candidate.
        ab: ``NAME@3:control=50``: named arms of a model not in ``refs``, shares adding up
            to 100 per model, sticky by request key.
        canary_max_error_delta: roll a canary back (share 0) when its error rate passes the
            primary's by more than this (None: never).
        canary_max_p99_ratio: ... when its p99 latency passes this multiple of the
            primary's (None: never).
        canary_min_requests: requests in the candidate's window before it is judged.
        shadow: ``NAME@staging``: scored on every request of NAME, off the request path.
        max_batch: the most rows one model call takes (micro-batching).
        max_wait_ms: how long a batch may wait for more requests when traffic is concurrent.
        max_queue_rows: rows waiting per arm before the service sheds load (503).
        timeout_s: a request unanswered after this gets 504.
        log_predictions: keep every prediction in the lab's prediction log (per process).
    """

    refs: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 64
    max_wait_ms: float = 2.0
    max_queue_rows: int = 4096
    max_body_bytes: int = 16 * 1024 * 1024
    max_rows: int = 100_000
    timeout_s: float = 10.0
    token_file: str | None = None
    canary: tuple[str, ...] = ()
    shadow: tuple[str, ...] = ()
    ab: tuple[str, ...] = ()
    canary_max_error_delta: float | None = 0.05
    canary_max_p99_ratio: float | None = 2.0
    canary_min_requests: int = 100
    trusted: bool = False
    watch_interval: float = 0.2
    workers: int = 1
    log_predictions: bool = True  # every prediction to the lab's prediction log
    access_log: bool = False  # uvicorn's line per request on stderr
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.refs and not self.ab:
            raise InvalidServeConfig(
                "no model to serve", hint="name one or more refs: rig serve NAME@production"
            )
        for what, value in (
            ("canary_min_requests", self.canary_min_requests),
            ("max_batch", self.max_batch),
            ("max_queue_rows", self.max_queue_rows),
            ("max_body_bytes", self.max_body_bytes),
            ("max_rows", self.max_rows),
            ("workers", self.workers),
        ):
            if value < 1:
                raise InvalidServeConfig(f"{what} is {value}", hint=f"give {what} >= 1")
        if self.timeout_s <= 0 or self.max_wait_ms < 0:
            raise InvalidServeConfig(
                "timeout_s must be > 0 and max_wait_ms >= 0", hint="e.g. 10 s and 2 ms"
            )
        for what, limit in (
            ("canary_max_error_delta", self.canary_max_error_delta),
            ("canary_max_p99_ratio", self.canary_max_p99_ratio),
        ):
            if limit is not None and limit <= 0:
                raise InvalidServeConfig(
                    f"{what} is {limit}", hint="give a positive margin, or None to never judge"
                )
        self.arms()  # refuses malformed refs and shares now, not at the first request

    def arms(self) -> dict[str, list[ArmSpec]]:
        """Model name -> its arms, the primary first.

        Raises:
            InvalidServeConfig: a malformed ref, a share outside 0-100, an arm for a model
                that is not served, or a model served twice.
        """
        from rigml.registry._refs import parse_ref

        served: dict[str, list[ArmSpec]] = {}
        for ref in self.refs:
            name, _ = parse_ref(ref)
            if name in served:
                raise InvalidServeConfig(
                    f"{name} is named twice", hint="serve each model once; use --canary for two"
                )
            served[name] = [ArmSpec(ref)]
        for name, arms in _ab_arms(self.ab).items():
            if name in served:
                raise InvalidServeConfig(
                    f"{name} is served both as a ref and by --ab arms",
                    hint=f"drop {name} from the refs: its --ab arms serve it",
                )
            served[name] = arms
        for text in self.canary:
            ref, share = _canary(text)
            arms = self._arm_of(served, ref)
            arms.append(ArmSpec(ref, "canary", share, _numbered(arms, "canary")))
        for ref in self.shadow:
            arms = self._arm_of(served, ref)
            arms.append(ArmSpec(ref, "shadow", 0.0, _numbered(arms, "shadow")))
        for name, arms in served.items():
            canary = sum(a.share for a in arms if a.kind == "canary")
            if canary > 100:
                raise InvalidServeConfig(
                    f"canary shares of {name} add up to {canary}%", hint="keep them <= 100"
                )
        return served

    @staticmethod
    def _arm_of(served: dict[str, list[ArmSpec]], ref: str) -> list[ArmSpec]:
        from rigml.registry._refs import parse_ref

        name, _ = parse_ref(ref)
        if name not in served:
            raise InvalidServeConfig(
                f"{ref} is an arm of {name}, which is not served",
                hint=f"serve {name} too: rig serve {name}@production --canary {ref}:10",
            )
        return served[name]

    def tokens(self) -> list[bytes]:
        """The bearer tokens of ``token_file`` (none without one).

        Raises:
            InvalidTokenFile: unreadable, empty, or a token shorter than 16 characters.
        """
        if self.token_file is None:
            return []
        return read_tokens(Path(self.token_file))

    def to_env(self) -> str:
        data = asdict(self)
        return json.dumps(data)

    @classmethod
    def from_env(cls, text: str) -> ServeConfig:
        data = json.loads(text)
        for key in ("refs", "canary", "shadow", "ab"):
            data[key] = tuple(data[key])
        return cls(**data)


def _numbered(arms: list[ArmSpec], kind: str) -> str:
    """``canary`` for a model's first canary, ``canary-2`` for its second, and so on."""
    count = sum(1 for a in arms if a.kind == kind)
    return kind if count == 0 else f"{kind}-{count + 1}"


def _canary(text: str) -> tuple[str, float]:
    ref, sep, share = text.rpartition(":")
    try:
        value = float(share) if sep else -1.0
    except ValueError:
        value = -1.0
    if not ref or not 0 <= value <= 100:
        raise InvalidServeConfig(
            f"canary {text!r} is not REF:PERCENT",
            hint="e.g. --canary churn@staging:10 (10% of churn's traffic)",
        )
    return ref, value


def read_tokens(path: Path) -> list[bytes]:
    """The bearer tokens of a token file: one a line, ``#`` comments and blanks skipped.

    Raises:
        InvalidTokenFile: unreadable, empty, or a token shorter than 16 characters.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidTokenFile(str(path), f"cannot read it ({exc})") from None
    tokens = [t.strip() for t in lines if t.strip() and not t.lstrip().startswith("#")]
    if not tokens:
        raise InvalidTokenFile(str(path), "it holds no token")
    if any(len(t) < _MIN_TOKEN for t in tokens):
        raise InvalidTokenFile(str(path), f"a token is shorter than {_MIN_TOKEN} characters")
    return [t.encode() for t in tokens]


def _ab_arms(texts: tuple[str, ...]) -> dict[str, list[ArmSpec]]:
    """Model name -> its A/B arms, checked: unique names, shares adding up to 100."""
    from rigml.registry._refs import parse_ref

    models: dict[str, list[ArmSpec]] = {}
    for text in texts:
        spec = _ab(text)
        arms = models.setdefault(parse_ref(spec.ref)[0], [])
        if any(a.label == spec.label for a in arms):
            raise InvalidServeConfig(
                f"two A/B arms of {spec.name} are named {spec.label!r}",
                hint="give each arm its own name: --ab churn@3:control=50 --ab churn@4:b=50",
            )
        arms.append(spec)
    for name, arms in models.items():
        total = sum(a.share for a in arms)
        if len(arms) < 2 or abs(total - 100) > 1e-6:
            found = " + ".join(f"{a.label}={a.share:g}" for a in arms)
            raise InvalidServeConfig(
                f"the A/B arms of {name} are {found}: two or more arms adding up to 100 are needed",
                hint=f"e.g. --ab {name}@3:control=50 --ab {name}@4:treatment=50",
            )
    return models


def _ab(text: str) -> ArmSpec:
    ref, _, named = text.rpartition(":")
    label, sep, share = named.partition("=")
    try:
        value = float(share) if sep else -1.0
    except ValueError:
        value = -1.0
    if not ref or not _ARM_NAME.fullmatch(label) or not 0 < value <= 100:
        raise InvalidServeConfig(
            f"A/B arm {text!r} is not REF:NAME=PERCENT (a name of letters, digits, _.-; "
            "a share above 0 and up to 100)",
            hint="e.g. --ab churn@3:control=50 --ab churn@4:treatment=50",
        )
    if label in _RESERVED:
        raise InvalidServeConfig(
            f"A/B arm {text!r} is named {label!r}, a name kept for --canary and --shadow "
            "arms and the primary",
            hint="name it otherwise: control, treatment, a, b ...",
        )
    return ArmSpec(ref, "ab", value, label)


def check_host(host: str, *, explicit: bool) -> str:
    """``host``, when it is a loopback address or was asked for explicitly.

    Raises:
        UnsafeBind: a non-loopback address that was not given explicitly.
    """
    if explicit or host == "localhost":
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UnsafeBind(host)
    return host
