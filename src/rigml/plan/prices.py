"""The dated price catalogue: cloud GPU instances, workstation GPUs and parts, electricity.

rigml cannot fetch live prices, so it ships ``plan/data/prices.json``: every figure names
its source and the date it was valid (``as_of``). A user file (``--prices FILE``, JSON or
YAML, the same shape) replaces entries with the same ``id`` and adds new ones; its
storage, egress and electricity figures replace the shipped ones. Storage and egress are
also priced per provider (``provider_fees``): Lambda and RunPod charge no egress, for
instance; a provider without its own entry takes the default (AWS) figures. A GPU may carry
a street price beside its MSRP; break-even uses the street price when there is one and
says so. Figures from a "rigml survey" or "rigml estimate" are labelled as estimates.
Every output says how old the figures it used are, because a price list ages quickly.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rigml.errors import InvalidPrices, UnknownOffer
from rigml.plan._files import read_data_file

if TYPE_CHECKING:
    from rigml.plan._schema import PriceFile

__all__ = [
    "CloudOffer",
    "Figure",
    "HardwarePrice",
    "PartPrice",
    "PriceCatalogue",
    "ProviderFees",
    "is_estimate_source",
    "load_prices",
]


def is_estimate_source(source: str, kind: str = "") -> bool:
    """Whether a figure is rigml's own survey or estimate rather than a published price."""
    text = f"{source} {kind}".lower()
    return "rigml survey" in text or "estimate" in text


@dataclass(frozen=True)
class CloudOffer:
    """An instance rented by the hour: its GPUs and on-demand price."""

    id: str
    provider: str
    instance: str
    gpu: str
    gpus: int
    usd_per_hour: float
    region: str
    source: str
    as_of: dt.date

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "as_of": self.as_of.isoformat()}


@dataclass(frozen=True)
class HardwarePrice:
    """What one GPU costs to buy, and what kind of price that is (MSRP, street, used).

    ``street_usd`` (with its own source and date) is what the card sold for when that
    differs from the list price; :attr:`price` is the figure break-even uses.
    """

    id: str
    gpu: str
    usd: float
    kind: str
    source: str
    as_of: dt.date
    street_usd: float | None = None
    street_source: str = ""
    street_as_of: dt.date | None = None

    @property
    def price(self) -> float:
        """The street price when known, else the listed one."""
        return self.street_usd if self.street_usd is not None else self.usd

    @property
    def price_as_of(self) -> dt.date:
        return (
            self.street_as_of if self.street_usd is not None and self.street_as_of else self.as_of
        )

    @property
    def is_estimate(self) -> bool:
        if self.street_usd is not None:
            return is_estimate_source(self.street_source)
        return is_estimate_source(self.source, self.kind)

    @property
    def label(self) -> str:
        """Which price is used, from where and when, for an output's assumptions."""
        est = " (an estimate)" if self.is_estimate else ""
        if self.street_usd is not None:
            return (
                f"street price ${self.street_usd:,.0f}{est}, {self.street_source}, as of "
                f"{self.price_as_of.isoformat()}; {self.kind} ${self.usd:,.0f} as of "
                f"{self.as_of.isoformat()}"
            )
        return f"{self.kind}{est}, {self.source}, as of {self.as_of.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "as_of": self.as_of.isoformat(), "price_used": self.price}
        out["street_as_of"] = self.street_as_of.isoformat() if self.street_as_of else None
        out["is_estimate"] = self.is_estimate
        return out


@dataclass(frozen=True)
class PartPrice:
    """A non-GPU upgrade or platform: RAM, storage, a desktop or small server base."""

    id: str
    part: str
    what: str
    usd: float
    kind: str
    source: str
    as_of: dt.date
    gb: float | None = None

    @property
    def is_estimate(self) -> bool:
        return is_estimate_source(self.source, self.kind)

    @property
    def label(self) -> str:
        est = " (an estimate)" if self.is_estimate else ""
        return f"{self.kind}{est}, {self.as_of.isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "as_of": self.as_of.isoformat(),
            "is_estimate": self.is_estimate,
        }


@dataclass(frozen=True)
class ProviderFees:
    """One provider's own storage and egress prices, where they differ from the default."""

    id: str
    provider: str
    storage: Figure
    egress: Figure

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "storage": self.storage.to_dict(),
            "egress": self.egress.to_dict(),
        }


@dataclass(frozen=True)
class Figure:
    """One scalar price (storage, egress, electricity) with its source and date."""

    value: float
    unit: str
    what: str
    source: str
    as_of: dt.date

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "as_of": self.as_of.isoformat()}


@dataclass(frozen=True)
class PriceCatalogue:
    """The catalogue in force: shipped figures, with a user file's on top."""

    cloud: list[CloudOffer]
    hardware: list[HardwarePrice]
    parts: list[PartPrice]
    storage: Figure
    egress: Figure
    electricity: Figure
    files: list[str] = field(default_factory=list)
    note: str = ""
    provider_fees: list[ProviderFees] = field(default_factory=list)

    def _fees(self, provider: str) -> ProviderFees | None:
        key = provider.strip().lower()
        return next((f for f in self.provider_fees if f.provider.lower() == key), None)

    def storage_for(self, provider: str) -> Figure:
        """Storage price at ``provider``: its own figure, else the default (AWS) one."""
        fees = self._fees(provider)
        return fees.storage if fees else self.storage

    def egress_for(self, provider: str) -> Figure:
        """Egress price at ``provider``: its own figure, else the default (AWS) one."""
        fees = self._fees(provider)
        return fees.egress if fees else self.egress

    @property
    def oldest(self) -> dt.date:
        """The date of the oldest figure a cloud or hardware comparison may use."""
        dates = [o.as_of for o in self.cloud] + [h.as_of for h in self.hardware]
        dates += [self.storage.as_of, self.egress.as_of, self.electricity.as_of]
        return min(dates)

    @property
    def newest(self) -> dt.date:
        return max([o.as_of for o in self.cloud] + [self.electricity.as_of])

    def age_days(self, today: dt.date | None = None) -> int:
        """Days since the cloud prices were valid (the newest date the catalogue holds)."""
        return ((today or dt.date.today()) - self.newest).days

    def age_line(self, today: dt.date | None = None, used: Iterable[dt.date] = ()) -> str:
        """The line every output prints: how old the prices are and how to replace them.

        With ``used`` (the dates of the figures an answer actually rests on), the line
        leads with the oldest of them, so a fresh cloud price cannot hide an old GPU price.
        """
        files = f" + {', '.join(self.files)}" if self.files else ""
        today = today or dt.date.today()
        dates = sorted(set(used))
        if dates:
            oldest = dates[0]
            return (
                f"prices as of {oldest.isoformat()}, {(today - oldest).days} days old (the "
                f"oldest figure this answer uses; newest {dates[-1].isoformat()}; shipped "
                f"catalogue{files}); override with --prices FILE"
            )
        return (
            f"prices as of {self.newest.isoformat()}, {self.age_days(today)} days old "
            f"(oldest figure {self.oldest.isoformat()}; shipped catalogue{files}); "
            "override with --prices FILE"
        )

    def offer(self, ref: str) -> CloudOffer:
        """The cloud offer with this id or instance name.

        Raises:
            UnknownOffer: no such offer; the hint names close ones.
        """
        key = ref.strip().lower()
        for o in self.cloud:
            if key in (o.id.lower(), o.instance.lower()):
                return o
        names = [o.id for o in self.cloud]
        raise UnknownOffer(ref, difflib.get_close_matches(key, names, n=3, cutoff=0.5))

    def hardware_for(self, gpu_name: str) -> HardwarePrice | None:
        """The (cheapest) purchase price listed for a GPU of the fit catalogue."""
        found = [h for h in self.hardware if h.gpu == gpu_name]
        return min(found, key=lambda h: h.price) if found else None

    def part(self, part: str) -> PartPrice | None:
        found = [p for p in self.parts if p.part == part]
        return min(found, key=lambda p: p.usd) if found else None

    def to_dict(self, today: dt.date | None = None) -> dict[str, Any]:
        return {
            "as_of": self.newest.isoformat(),
            "oldest": self.oldest.isoformat(),
            "age_days": self.age_days(today),
            "files": self.files,
            "note": self.note,
            "cloud": [o.to_dict() for o in self.cloud],
            "hardware": [h.to_dict() for h in self.hardware],
            "parts": [p.to_dict() for p in self.parts],
            "storage": self.storage.to_dict(),
            "egress": self.egress.to_dict(),
            "electricity": self.electricity.to_dict(),
            "provider_fees": [f.to_dict() for f in self.provider_fees],
        }


def _figures(f: PriceFile) -> dict[str, Figure]:
    """The storage, egress and electricity figures the file gives."""
    out: dict[str, Figure] = {}
    if f.storage is not None:
        st = f.storage
        out["storage"] = Figure(st.usd_per_gb_month, "USD/GB-month", st.what, st.source, st.as_of)
    if f.egress is not None:
        eg = f.egress
        out["egress"] = Figure(eg.usd_per_gb, "USD/GB", eg.what, eg.source, eg.as_of)
    if f.electricity is not None:
        el = f.electricity
        out["electricity"] = Figure(el.usd_per_kwh, "USD/kWh", el.what, el.source, el.as_of)
    return out


def _catalogue(name: str, data: Any, *, partial: bool) -> dict[str, Any]:
    """``data`` read from ``name``, validated (:class:`rigml.plan._schema.PriceFile`) and
    turned into the catalogue's records; ``partial`` (a user's file) may leave out the
    storage, egress and electricity figures.

    Raises:
        InvalidPrices: the first problem, at its field path (``cloud[0].usd_per_hour``).
    """
    from rigml.plan._schema import PriceFile, validate

    def bad(where: str, problem: str, hint: str | None = None) -> InvalidPrices:
        return InvalidPrices(where, problem)

    f = validate(PriceFile, data, name, bad)
    out: dict[str, Any] = {
        "cloud": [
            CloudOffer(
                e.id,
                e.provider,
                e.instance or e.id,
                e.gpu,
                e.gpus,
                e.usd_per_hour,
                e.region,
                e.source,
                e.as_of,
            )
            for e in f.cloud
        ],
        "hardware": [
            HardwarePrice(
                e.id,
                e.gpu,
                e.usd,
                e.kind,
                e.source,
                e.as_of,
                e.street_usd,
                e.street_source,
                e.street_as_of,
            )
            for e in f.hardware
        ],
        "parts": [
            PartPrice(e.id, e.part, e.what or e.id, e.usd, e.kind, e.source, e.as_of, e.gb)
            for e in f.parts
        ],
        "provider_fees": [
            ProviderFees(
                e.id,
                e.provider,
                Figure(
                    e.storage_usd_per_gb_month,
                    "USD/GB-month",
                    e.what or e.provider,
                    e.source,
                    e.as_of,
                ),
                Figure(e.egress_usd_per_gb, "USD/GB", e.what or e.provider, e.source, e.as_of),
            )
            for e in f.provider_fees
        ],
    }
    out.update(_figures(f))
    for key in ("storage", "egress", "electricity"):
        if key not in out and not partial:
            raise InvalidPrices(name, f"missing {key!r}")
    return out


def _merge(base: list[Any], extra: list[Any]) -> list[Any]:
    by_id = {x.id: x for x in base}
    by_id.update({x.id: x for x in extra})
    return list(by_id.values())


@cache
def _shipped() -> tuple[dict[str, Any], str]:
    text = resources.files("rigml.plan").joinpath("data", "prices.json").read_text("utf-8")
    data = json.loads(text)
    return _catalogue("prices.json", data, partial=False), str(data.get("note", ""))


def load_prices(path: str | Path | None = None) -> PriceCatalogue:
    """The shipped catalogue, with the user file at ``path`` (JSON or YAML) on top.

    Raises:
        InvalidPrices: the file is unreadable, or a figure is negative, undated or unsourced.
        MissingExtra: a YAML file without PyYAML.
    """
    base, note = _shipped()
    merged = dict(base)
    files: list[str] = []
    if path is not None:
        extra = _catalogue(str(path), read_data_file(path), partial=True)
        for key in ("cloud", "hardware", "parts", "provider_fees"):
            merged[key] = _merge(base[key], extra[key])
        for key in ("storage", "egress", "electricity"):
            if key in extra:
                merged[key] = extra[key]
        files.append(str(path))
    return PriceCatalogue(
        cloud=sorted(merged["cloud"], key=lambda o: o.usd_per_hour),
        hardware=sorted(merged["hardware"], key=lambda h: h.price),
        parts=list(merged["parts"]),
        storage=merged["storage"],
        egress=merged["egress"],
        electricity=merged["electricity"],
        files=files,
        note=note,
        provider_fees=list(merged["provider_fees"]),
    )
