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
from typing import Any

from rigml.errors import InvalidPrices, UnknownOffer
from rigml.plan._files import read_data_file

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


def _date(where: str, value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidPrices(where, f"as_of must be a date YYYY-MM-DD, got {value!r}") from None


def _number(where: str, entry: dict[str, Any], key: str, *, positive: bool = False) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPrices(where, f"{key} must be a number, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidPrices(where, f"{key} must be finite, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise InvalidPrices(
            where, f"{key} must be {'above' if positive else 'at least'} 0, got {value!r}"
        )
    return float(value)


def _sourced(where: str, entry: dict[str, Any]) -> tuple[str, dt.date]:
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise InvalidPrices(where, "every figure needs a source (a URL or a document name)")
    if "as_of" not in entry:
        raise InvalidPrices(where, "every figure needs an as_of date")
    return source, _date(where, entry["as_of"])


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


def _offer(where: str, e: dict[str, Any]) -> CloudOffer:
    from rigml.fit import catalogue

    source, as_of = _sourced(where, e)
    gpu_name = str(e.get("gpu", ""))
    gpu = catalogue.find_gpu(gpu_name)
    if gpu is None:
        raise InvalidPrices(
            where, f"gpu {gpu_name!r} is not in the GPU table (rig fit --list-gpus)"
        )
    gpus = e.get("gpus", 1)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise InvalidPrices(where, f"gpus must be a whole number of at least 1, got {gpus!r}")
    return CloudOffer(
        id=str(e["id"]),
        provider=str(e.get("provider", "")),
        instance=str(e.get("instance", e["id"])),
        gpu=gpu.name,
        gpus=gpus,
        usd_per_hour=_number(where, e, "usd_per_hour", positive=True),
        region=str(e.get("region", "")),
        source=source,
        as_of=as_of,
    )


def _hardware(where: str, e: dict[str, Any]) -> HardwarePrice:
    from rigml.fit import catalogue

    source, as_of = _sourced(where, e)
    gpu = catalogue.find_gpu(str(e.get("gpu", "")))
    if gpu is None:
        raise InvalidPrices(where, f"gpu {e.get('gpu')!r} is not in the GPU table")
    street = street_source = None
    street_as_of = None
    if e.get("street_usd") is not None:
        street = _number(where, e, "street_usd")
        street_source = e.get("street_source")
        if not isinstance(street_source, str) or not street_source.strip():
            raise InvalidPrices(where, "street_usd needs its own street_source")
        if "street_as_of" not in e:
            raise InvalidPrices(where, "street_usd needs its own street_as_of date")
        street_as_of = _date(where, e["street_as_of"])
    return HardwarePrice(
        str(e["id"]),
        gpu.name,
        _number(where, e, "usd"),
        str(e.get("kind", "")),
        source,
        as_of,
        street,
        street_source or "",
        street_as_of,
    )


def _fees(where: str, e: dict[str, Any]) -> ProviderFees:
    source, as_of = _sourced(where, e)
    provider = str(e.get("provider", "")).strip()
    if not provider:
        raise InvalidPrices(where, "each provider_fees entry needs a provider")
    what = str(e.get("what", provider))
    return ProviderFees(
        str(e["id"]),
        provider,
        Figure(_number(where, e, "storage_usd_per_gb_month"), "USD/GB-month", what, source, as_of),
        Figure(_number(where, e, "egress_usd_per_gb"), "USD/GB", what, source, as_of),
    )


def _part(where: str, e: dict[str, Any]) -> PartPrice:
    source, as_of = _sourced(where, e)
    gb = _number(where, e, "gb") if e.get("gb") is not None else None
    return PartPrice(
        id=str(e["id"]),
        part=str(e.get("part", "")),
        what=str(e.get("what", e["id"])),
        usd=_number(where, e, "usd"),
        kind=str(e.get("kind", "")),
        source=source,
        as_of=as_of,
        gb=gb,
    )


def _figure(where: str, e: Any, key: str, unit: str) -> Figure:
    if not isinstance(e, dict):
        raise InvalidPrices(where, f"must be an object with {key}, source and as_of")
    source, as_of = _sourced(where, e)
    return Figure(_number(where, e, key), unit, str(e.get("what", "")), source, as_of)


def _entries(name: str, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise InvalidPrices(name, f"{key!r} must be a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("id"):
            raise InvalidPrices(f"{name} {key}[{i}]", "each entry must be an object with an id")
    return items


def _merge(base: list[Any], extra: list[Any]) -> list[Any]:
    by_id = {x.id: x for x in base}
    by_id.update({x.id: x for x in extra})
    return list(by_id.values())


def _parse(name: str, data: Any, *, partial: bool) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidPrices(name, "must hold an object with cloud, hardware, parts...")
    out: dict[str, Any] = {
        "cloud": [_offer(f"{name} cloud {e['id']!r}", e) for e in _entries(name, data, "cloud")],
        "hardware": [
            _hardware(f"{name} hardware {e['id']!r}", e) for e in _entries(name, data, "hardware")
        ],
        "parts": [_part(f"{name} parts {e['id']!r}", e) for e in _entries(name, data, "parts")],
        "provider_fees": [
            _fees(f"{name} provider_fees {e['id']!r}", e)
            for e in _entries(name, data, "provider_fees")
        ],
    }
    for key, field_, unit in (
        ("storage", "usd_per_gb_month", "USD/GB-month"),
        ("egress", "usd_per_gb", "USD/GB"),
        ("electricity", "usd_per_kwh", "USD/kWh"),
    ):
        if key in data:
            out[key] = _figure(f"{name} {key}", data[key], field_, unit)
        elif not partial:
            raise InvalidPrices(name, f"missing {key!r}")
    return out


@cache
def _shipped() -> tuple[dict[str, Any], str]:
    text = resources.files("rigml.plan").joinpath("data", "prices.json").read_text("utf-8")
    data = json.loads(text)
    return _parse("prices.json", data, partial=False), str(data.get("note", ""))


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
        extra = _parse(str(path), read_data_file(path), partial=True)
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
