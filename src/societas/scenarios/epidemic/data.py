"""Readers of the NYC data AgentTorch ships (see shared/data/README.md).

``county_data.csv``: weekly COVID-19 cases and Google mobility for five neighbourhoods, one per
borough, 2020-08-08 .. 2022-10-15 (115 weeks each). ``<Borough>-Table.csv``: the New York State
Department of Labor's monthly labour force tables per county, 2019-2023, as exported: three
header lines, five yearly blocks (newest first) of twelve months and an ``Avg`` row, blank
``,,,,,,`` separators, and numbers quoted with tab/space padding and thousands commas. Every
problem is a ``ConfigError`` naming the file, the line and what was expected.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from societas.typing import ConfigError

__all__ = [
    "BOROUGH_OF_COUNTY",
    "MONTHS",
    "CaseSeries",
    "load_cases",
    "load_unemployment",
    "parse_number",
]

BOROUGH_OF_COUNTY = {
    "Bronx County": "Bronx",
    "Kings County": "Brooklyn",
    "New York County": "Manhattan",
    "Queens County": "Queens",
    "Richmond County": "Staten Island",
}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TABLES = {
    "Bronx": "Bronx-Table.csv",
    "Brooklyn": "Brooklyn-Table.csv",
    "Manhattan": "Manhattan-Table.csv",
    "Queens": "Queens-Table.csv",
    "Staten Island": "Staten Island-Table.csv",
}


@dataclass(frozen=True)
class CaseSeries:
    """One neighbourhood's weekly series (weeks in date order)."""

    neighbourhood: str
    borough: str
    dates: list[str]
    cases: NDArray[np.float64]
    workplaces: NDArray[np.float64]  # Google mobility, % change from baseline


def parse_number(text: str, source: str, field: str) -> float:
    """``" \\t1,147,100 "`` -> 1147100.0; anything else is a ConfigError."""
    cleaned = text.replace(",", "").strip()
    try:
        return float(cleaned)
    except ValueError:
        raise ConfigError(source, field, "a number (thousands commas allowed)", text) from None


def load_cases(path: Path) -> dict[str, CaseSeries]:
    """The weekly cases and workplace mobility of each neighbourhood, by neighbourhood."""
    source = str(path)
    if not path.is_file():
        raise ConfigError(source, "file", "AgentTorch's county_data.csv", "missing")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        needed = {"date", "county", "neighborhood", "cases_week", "workplaces_change_week"}
        missing = needed - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(source, "header", f"columns {sorted(needed)}", sorted(missing))
        rows: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            rows.setdefault(row["neighborhood"], []).append(row)
    out = {}
    for name, items in rows.items():
        items.sort(key=lambda r: r["date"])
        county = items[0]["county"]
        if county not in BOROUGH_OF_COUNTY:
            raise ConfigError(
                source, f"{name}.county", ", ".join(sorted(BOROUGH_OF_COUNTY)), county
            )
        out[name] = CaseSeries(
            neighbourhood=name,
            borough=BOROUGH_OF_COUNTY[county],
            dates=[r["date"] for r in items],
            cases=np.asarray(
                [parse_number(r["cases_week"] or "0", source, f"{name}.cases_week") for r in items]
            ),
            workplaces=np.asarray(
                [
                    parse_number(r["workplaces_change_week"] or "0", source, f"{name}.workplaces")
                    for r in items
                ]
            ),
        )
    return out


def load_unemployment(directory: Path) -> dict[str, dict[tuple[int, int], float]]:
    """Monthly unemployment rate (%) by borough and (year, month 1-12), from the five tables.

    The rate is the table's own (rounded to 0.1); a row whose rate differs from unemployed /
    labour force (counts rounded to 100) by more than 0.1 point is an error. ``Avg`` rows are
    skipped."""
    out: dict[str, dict[tuple[int, int], float]] = {}
    for borough, name in _TABLES.items():
        path = directory / name
        source = str(path)
        if not path.is_file():
            raise ConfigError(source, "file", "a NYS DOL labour force table", "missing")
        series: dict[tuple[int, int], float] = {}
        with path.open(newline="", encoding="utf-8") as fh:
            for line_no, row in enumerate(csv.reader(fh), start=1):
                if line_no <= 3 or not any(cell.strip() for cell in row):
                    continue
                if len(row) < 7:
                    raise ConfigError(source, f"line {line_no}", "7 columns", len(row))
                month = row[2].strip()
                if month == "Avg":
                    continue
                if month not in MONTHS:
                    raise ConfigError(
                        source, f"line {line_no}.Month", "a month (Jan .. Dec) or Avg", month
                    )
                year = int(parse_number(row[1], source, f"line {line_no}.Year"))
                force = parse_number(row[3], source, f"line {line_no}.Labor Force")
                unemployed = parse_number(row[5], source, f"line {line_no}.Unemployed")
                if force <= 0:
                    raise ConfigError(source, f"line {line_no}.Labor Force", "> 0", force)
                rate = parse_number(row[6], source, f"line {line_no}.Unemployment Rate")
                if abs(rate - 100.0 * unemployed / force) > 0.1:
                    raise ConfigError(
                        source,
                        f"line {line_no}.Unemployment Rate",
                        "unemployed / labour force to within 0.1 point",
                        rate,
                    )
                series[(year, MONTHS.index(month) + 1)] = rate
        if not series:
            raise ConfigError(source, "rows", "monthly rows", "none")
        out[borough] = series
    return out
