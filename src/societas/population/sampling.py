"""Persona sampling: a population's attributes drawn from distributions or read from data.

A spec (YAML-friendly; every key below is a field of ``PopulationSpec``)::

    size: 100000
    attributes:
      income:  {dist: lognormal, mu: 10.0, sigma: 0.6, min: 0, max: 1000000}
      age:     {dist: normal, mean: 41, sd: 15, min: 18, max: 95, integer: true}
      score:   {dist: uniform, low: 0, high: 1}
      country: {dist: categorical, values: {FR: 0.3, DE: 0.7}}
    joint:                       # correlated categorical attributes: a weighted table
      - columns: [gender, party]
        rows:
          - {gender: f, party: left, weight: 30}
          - {gender: m, party: right, weight: 25}
      - {columns: [region, urban], csv: regions.csv, weight: weight}
    data: {path: people.csv, resample: true}   # rows of a CSV or JSON file

Numeric draws are clipped to ``[min, max]`` (clipping, not truncation: mass beyond a bound
piles up on it) and rounded when ``integer``. Every draw comes from the counter-based
generator (``population.rng``) keyed by the seed and the attribute's name, so adding an
attribute does not change the others. Categorical attributes become integer codes with their
labels in ``PopulationState.labels``. A bad spec raises ``ConfigError`` naming the field.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from societas.population import rng
from societas.population.state import PopulationState
from societas.typing import ConfigError

__all__ = [
    "CategoricalAttr",
    "DataSource",
    "JointTable",
    "LognormalAttr",
    "NormalAttr",
    "PopulationSpec",
    "UniformAttr",
    "read_rows",
    "sample_population",
]

MAX_AGENTS = 100_000_000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoricalAttr(_Spec):
    dist: Literal["categorical"]
    values: dict[str, float] = Field(min_length=1, description="label -> probability (weight)")

    @model_validator(mode="after")
    def _weights(self) -> CategoricalAttr:
        if any(not np.isfinite(w) or w < 0 for w in self.values.values()):
            raise ValueError("weights must be finite and non-negative")
        if sum(self.values.values()) <= 0:
            raise ValueError("weights must have a positive sum")
        return self


class _Numeric(_Spec):
    min: float | None = None
    max: float | None = None
    integer: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> _Numeric:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) above max ({self.max})")
        return self


class NormalAttr(_Numeric):
    dist: Literal["normal"]
    mean: float
    sd: float = Field(ge=0)


class UniformAttr(_Numeric):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _range(self) -> UniformAttr:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class LognormalAttr(_Numeric):
    dist: Literal["lognormal"]
    mu: float
    sigma: float = Field(ge=0)


Attribute = Annotated[
    CategoricalAttr | NormalAttr | UniformAttr | LognormalAttr, Field(discriminator="dist")
]


class JointTable(_Spec):
    """Categorical attributes drawn together: one weighted row per combination."""

    columns: list[str] = Field(min_length=1)
    rows: list[dict[str, Any]] | None = None
    csv: str | None = Field(default=None, description="a CSV file with the columns + weight")
    weight: str = "weight"

    @model_validator(mode="after")
    def _one_source(self) -> JointTable:
        if (self.rows is None) == (self.csv is None):
            raise ValueError("give exactly one of 'rows' and 'csv'")
        return self


class DataSource(_Spec):
    path: str
    resample: bool = Field(default=False, description="draw size rows with replacement")
    columns: list[str] | None = Field(default=None, description="keep only these columns")


class PopulationSpec(_Spec):
    size: int | None = Field(default=None, ge=1, le=MAX_AGENTS)
    attributes: dict[str, Attribute] = Field(default_factory=dict)
    joint: list[JointTable] = Field(default_factory=list)
    data: DataSource | None = None


# -- helpers ---------------------------------------------------------------------------------


def _stream(name: str) -> int:
    return zlib.crc32(f"sample:{name}".encode())


def _codes(labels_of_rows: Sequence[str], labels: Sequence[str]) -> NDArray[Any]:
    index = {label: i for i, label in enumerate(labels)}
    return np.fromiter(
        (index[v] for v in labels_of_rows),
        dtype=_code_dtype(len(labels)),
        count=len(labels_of_rows),
    )


def _code_dtype(k: int) -> type[np.signedinteger[Any]]:
    return np.int8 if k < 128 else np.int16 if k < 32768 else np.int32


def _numeric(
    spec: NormalAttr | UniformAttr | LognormalAttr, name: str, seed: int, idx: NDArray[np.int64]
) -> NDArray[Any]:
    stream = _stream(name)
    if isinstance(spec, UniformAttr):
        values = spec.low + (spec.high - spec.low) * rng.uniform(seed, 0, stream, idx)
    elif isinstance(spec, NormalAttr):
        values = spec.mean + spec.sd * rng.normal(seed, 0, stream, idx)
    else:
        values = np.exp(spec.mu + spec.sigma * rng.normal(seed, 0, stream, idx))
    if spec.min is not None or spec.max is not None:
        values = np.clip(values, spec.min, spec.max)
    if spec.integer:
        return np.rint(values).astype(np.int64)
    return values


def _validate(spec: PopulationSpec | Mapping[str, Any], source: str, prefix: str) -> PopulationSpec:
    if isinstance(spec, PopulationSpec):
        return spec
    try:
        return PopulationSpec.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(p for p in (prefix, ".".join(str(p) for p in err["loc"])) if p)
        raise ConfigError(source, field, err["msg"], err.get("input")) from exc


# -- data files ------------------------------------------------------------------------------


def read_rows(path: Path, source: str, field: str) -> list[dict[str, Any]]:
    """Rows of a CSV file (header line) or a JSON file (a list of objects, or {"rows": [...]})."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, field, "a readable UTF-8 CSV or JSON file", str(path)) from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(source, field, "valid JSON", f"{path}: {exc.msg}") from exc
        if isinstance(data, dict) and "rows" in data:
            data = data["rows"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ConfigError(source, field, "a JSON list of objects", str(path))
        return [dict(r) for r in data]
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise ConfigError(source, field, "a .csv, .tsv or .json file", str(path))
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    rows = [dict(r) for r in reader]
    for i, r in enumerate(rows):
        if None in r or any(v is None for v in r.values()):
            raise ConfigError(
                source, field, "rows with as many cells as the header", f"row {i + 2}"
            )
    return rows


def _convert(kind: type[int] | type[float], values: list[Any]) -> list[Any] | None:
    try:
        return [kind(v) for v in values]
    except (TypeError, ValueError, OverflowError):
        return None


def _column(
    values: list[Any], name: str, source: str, field: str
) -> tuple[NDArray[Any], list[str] | None]:
    """Typed column: bool, int64, float64, or categorical codes + labels."""
    if any(v is None or v == "" for v in values):
        row = next(i for i, v in enumerate(values) if v is None or v == "")
        raise ConfigError(
            source, f"{field}.{name}", "a value in every row", f"empty in row {row + 1}"
        )
    if all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool), None
    if not any(isinstance(v, bool | float) for v in values):
        ints = _convert(int, values)
        if ints is not None:
            return np.asarray(ints, dtype=np.int64), None
    if not any(isinstance(v, bool) for v in values):
        floats = _convert(float, values)
        if floats is not None:
            return np.asarray(floats, dtype=np.float64), None
    text = [str(v) for v in values]
    labels = sorted(set(text))
    return _codes(text, labels), labels


def _joint_rows(table: JointTable, base_dir: Path, source: str, field: str) -> list[dict[str, Any]]:
    if table.rows is not None:
        return table.rows
    assert table.csv is not None
    path = Path(table.csv)
    return read_rows(path if path.is_absolute() else base_dir / path, source, f"{field}.csv")


def _sample_joint(
    table: JointTable, seed: int, idx: NDArray[np.int64], base_dir: Path, source: str, field: str
) -> dict[str, tuple[NDArray[Any], list[str]]]:
    rows = _joint_rows(table, base_dir, source, field)
    if not rows:
        raise ConfigError(source, f"{field}.rows", "at least one row", "none")
    weights = np.empty(len(rows), dtype=np.float64)
    for i, row in enumerate(rows):
        missing = [c for c in (*table.columns, table.weight) if c not in row]
        if missing:
            raise ConfigError(source, f"{field}.rows.{i}", f"the keys {missing}", row)
        try:
            weights[i] = float(row[table.weight])
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                source, f"{field}.rows.{i}.{table.weight}", "a number", row[table.weight]
            ) from exc
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ConfigError(source, f"{field}.{table.weight}", "non-negative weights, sum > 0", None)
    pick = rng.categorical(seed, 0, _stream("joint:" + ",".join(table.columns)), idx, weights)
    out: dict[str, tuple[NDArray[Any], list[str]]] = {}
    for col in table.columns:
        row_labels = [str(r[col]) for r in rows]
        labels = list(dict.fromkeys(row_labels))  # first-appearance order
        row_codes = _codes(row_labels, labels)
        out[col] = (row_codes[pick].astype(_code_dtype(len(labels))), labels)
    return out


# -- the sampler -----------------------------------------------------------------------------


def sample_population(
    spec: PopulationSpec | Mapping[str, Any],
    *,
    seed: int,
    n: int | None = None,
    source: str = "population",
    field: str = "",
    base_dir: str | Path | None = None,
) -> PopulationState:
    """Draw a population. ``n`` overrides ``spec.size``; ``field`` prefixes error fields
    (e.g. ``population`` inside a scenario file); relative file paths are read from
    ``base_dir`` (default: the working directory)."""
    s = _validate(spec, source, field)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    pre = f"{field}." if field else ""
    size = n if n is not None else s.size
    arrays: dict[str, NDArray[Any]] = {}
    labels: dict[str, list[str]] = {}

    if s.data is not None:
        path = Path(s.data.path)
        rows = read_rows(path if path.is_absolute() else base / path, source, f"{pre}data.path")
        if not rows:
            raise ConfigError(source, f"{pre}data.path", "a file with at least one row", str(path))
        names = s.data.columns or list(rows[0])
        for col in names:
            if col not in rows[0]:
                raise ConfigError(source, f"{pre}data.columns", f"columns of {path}", col)
        if s.data.resample:
            size = size if size is not None else len(rows)
            pick = rng.integers(seed, 0, _stream("data"), np.arange(size), 0, len(rows))
        elif size is not None and size != len(rows):
            raise ConfigError(
                source,
                f"{pre}size",
                f"the file's {len(rows)} rows (or data.resample: true to draw {size})",
                size,
            )
        else:
            size = len(rows)
            pick = np.arange(size)
        for col in names:
            column, col_labels = _column([r.get(col) for r in rows], col, source, f"{pre}data")
            arrays[col] = column[pick]
            if col_labels is not None:
                labels[col] = col_labels

    if size is None:
        raise ConfigError(source, f"{pre}size", "a population size (an integer >= 1)", None)
    if not 1 <= size <= MAX_AGENTS:
        raise ConfigError(source, f"{pre}size", f"an integer from 1 to {MAX_AGENTS}", size)
    idx = np.arange(size, dtype=np.int64)

    def _claim(name: str, where: str) -> None:
        if name in arrays:
            raise ConfigError(source, where, "an attribute name used once", name)

    for t, table in enumerate(s.joint):
        where = f"{pre}joint.{t}"
        if len(set(table.columns)) != len(table.columns):
            raise ConfigError(source, f"{where}.columns", "distinct column names", table.columns)
        for col in table.columns:
            _claim(col, f"{where}.columns")
        for col, (codes, col_labels) in _sample_joint(
            table, seed, idx, base, source, where
        ).items():
            arrays[col], labels[col] = codes, col_labels

    for name, attr in s.attributes.items():
        _claim(name, f"{pre}attributes.{name}")
        if isinstance(attr, CategoricalAttr):
            names = list(attr.values)
            weights = np.asarray([attr.values[k] for k in names], dtype=np.float64)
            codes = rng.categorical(seed, 0, _stream(name), idx, weights)
            arrays[name] = codes.astype(_code_dtype(len(names)))
            labels[name] = names
        else:
            arrays[name] = _numeric(attr, name, seed, idx)
    return PopulationState(arrays, labels=labels, n=size)
