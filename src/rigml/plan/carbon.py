"""Grid carbon intensity by region, with its source: energy (kWh) to emissions (gCO2e).

rigml ships a national table (``plan/data/grid_intensity.json``, Ember's yearly averages)
and reads a user file on top (``--grid FILE``). When CodeCarbon is installed
(``pip install 'rigml[carbon]'``), a region missing from the table is looked up in
CodeCarbon's energy-mix table (about 200 countries by ISO code, kept up to date by its
maintainers) instead of failing. rigml does not use CodeCarbon's tracker itself: that
measures a process *while it runs*, whereas rigml already logs NVML power for every run
and needs energy *after the fact*, over runs that ended long ago.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from rigml.errors import InvalidPrices, UnknownRegion

__all__ = ["GridIntensity", "emissions_g", "intensity", "known_regions", "load_grid"]


@dataclass(frozen=True)
class GridIntensity:
    """Average grid carbon intensity of a region, and where the figure comes from."""

    code: str
    name: str
    g_per_kwh: float
    year: int | None
    source: str
    as_of: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bad(where: str, problem: str) -> InvalidPrices:
    return InvalidPrices(where, problem, what="grid file")


def _parse(where: str, data: Any) -> dict[str, tuple[GridIntensity, list[str]]]:
    """``data`` read from ``where``, validated (:class:`rigml.plan._schema.GridFile`).

    Raises:
        InvalidPrices: the first problem, at its field path (``regions[3].g_per_kwh``).
    """
    from rigml.plan._schema import GridFile, validate

    def bad(at: str, problem: str, hint: str | None = None) -> InvalidPrices:
        return _bad(at, problem)

    out: dict[str, tuple[GridIntensity, list[str]]] = {}
    for e in validate(GridFile, data, where, bad).regions:
        item = GridIntensity(
            code=e.code,
            name=e.name or e.code,
            g_per_kwh=e.g_per_kwh,
            year=e.year,
            source=e.source,
            as_of=e.as_of.isoformat(),
        )
        out[item.code] = (item, e.aliases)
    return out


@cache
def _shipped() -> dict[str, tuple[GridIntensity, list[str]]]:
    text = resources.files("rigml.plan").joinpath("data", "grid_intensity.json").read_text()
    return _parse("grid_intensity.json", json.loads(text))


def load_grid(path: str | Path | None = None) -> dict[str, tuple[GridIntensity, list[str]]]:
    """The shipped table with a user file's regions on top (same code replaces).

    Raises:
        InvalidPrices: the file is unreadable or a figure is out of range or unsourced.
    """
    table = dict(_shipped())
    if path is not None:
        from rigml.plan._files import read_data_file

        table.update(_parse(str(path), read_data_file(path, _bad)))
    return table


def known_regions(path: str | Path | None = None) -> list[GridIntensity]:
    return sorted((g for g, _ in load_grid(path).values()), key=lambda g: g.code)


def _alpha3(region: str, mix: dict[str, Any]) -> str | None:
    """The ISO 3166 alpha-3 code of ``region``: an alpha-3 or alpha-2 code, or a country
    name; through pycountry (installed with CodeCarbon), else CodeCarbon's own names."""
    key = region.strip()
    if len(key) == 3 and key.upper() in mix:
        return key.upper()
    try:
        import pycountry  # type: ignore[import-not-found,unused-ignore]

        return str(pycountry.countries.lookup(key).alpha_3)
    except (ImportError, LookupError):
        pass
    for code, row in mix.items():
        if isinstance(row, dict) and str(row.get("country_name", "")).lower() == key.lower():
            return str(code)
    return None


def _codecarbon(region: str) -> GridIntensity | None:
    """CodeCarbon's yearly national figure for a country (code or name), when installed."""
    try:
        from codecarbon.input import DataSource  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        mix = DataSource().get_global_energy_mix_data()
    except Exception:  # a broken install is the same as none: fall back to our table
        return None
    code = _alpha3(region, mix)
    if code is None:
        return None
    row = mix.get(code)
    if not isinstance(row, dict) or row.get("carbon_intensity") is None:
        return None
    import codecarbon  # type: ignore[import-not-found,unused-ignore]

    return GridIntensity(
        code=code.upper(),
        name=str(row.get("country_name", code)),
        g_per_kwh=float(row["carbon_intensity"]),
        year=row.get("year"),
        source=f"CodeCarbon {getattr(codecarbon, '__version__', '')} global_energy_mix.json "
        "(Ember / Our World in Data)",
        as_of=str(row.get("year", "")),
    )


def intensity(region: str, *, path: str | Path | None = None) -> GridIntensity:
    """The grid intensity of ``region``: a code (DE, DEU), a name (Germany) or an alias.

    Raises:
        UnknownRegion: not in the table (nor in CodeCarbon's, when installed); the hint
            names close matches.
    """
    table = load_grid(path)
    key = region.strip().lower()
    for item, aliases in table.values():
        if key in (item.code.lower(), item.name.lower(), *(a.lower() for a in aliases)):
            return item
    if (found := _codecarbon(region)) is not None:
        return found
    names: dict[str, str] = {}
    for item, aliases in table.values():
        for n in (item.code, item.name, *aliases):
            names[n.lower()] = item.code
    close = difflib.get_close_matches(key, list(names), n=4, cutoff=0.6)
    raise UnknownRegion(region, list(dict.fromkeys(names[c] for c in close)))


def emissions_g(kwh: float, grid: GridIntensity) -> float:
    """Grams of CO2e for ``kwh`` of electricity from this grid."""
    return kwh * grid.g_per_kwh
