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

ArmKind = Literal["primary", "canary", "shadow"]
ENV_CONFIG = "RIG_SERVE_CONFIG"
_NUMBER = re.compile(r"v?\d+")
_MIN_TOKEN = 16


@dataclass(frozen=True)
class ArmSpec:
    """One arm of a served model: the ref it serves, its kind and its traffic share (%)."""

    ref: str
    kind: ArmKind = "primary"
    share: float = 100.0

    @property
    def name(self) -> str:
        return self.ref.partition("@")[0]

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
    trusted: bool = False
    watch_interval: float = 0.2
    workers: int = 1
    log_predictions: bool = True  # every prediction to the lab's prediction log
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.refs:
            raise InvalidServeConfig(
                "no model to serve", hint="name one or more refs: rig serve NAME@production"
            )
        for what, value in (
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
        for text in self.canary:
            ref, share = _canary(text)
            self._arm_of(served, ref).append(ArmSpec(ref, "canary", share))
        for ref in self.shadow:
            self._arm_of(served, ref).append(ArmSpec(ref, "shadow", 0.0))
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
        path = Path(self.token_file)
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

    def to_env(self) -> str:
        data = asdict(self)
        return json.dumps(data)

    @classmethod
    def from_env(cls, text: str) -> ServeConfig:
        data = json.loads(text)
        for key in ("refs", "canary", "shadow"):
            data[key] = tuple(data[key])
        return cls(**data)


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
