"""The market's datasets: customers and businesses in the layout of Magentic Marketplace.

A dataset is a folder with ``customers/customer_NNNN.yaml``, ``businesses/business_NNNN.yaml``
and ``baseline_utilities.json`` (microsoft/multi-agent-marketplace ``data/mexican_3_9/``; the
fields are those of its ``Customer`` and ``Business`` models,
``packages/magentic-marketplace/src/magentic_marketplace/marketplace/shared/models.py``). The
restaurant sets ``mexican_3_9``, ``mexican_10_30``, ``mexican_33_99``, ``mexican_100_300`` and
``contractors_10_30`` are bundled unchanged (``datasets/``, MIT licence, see its ``README.md``);
``dataset`` may also be the path of another folder of the same layout.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from societas.typing import ConfigError

__all__ = [
    "BUNDLED",
    "Baselines",
    "Business",
    "Customer",
    "Dataset",
    "dataset_dir",
    "load_dataset",
]

DATASETS = Path(__file__).with_name("datasets")
BUNDLED = ("mexican_3_9", "mexican_10_30", "mexican_33_99", "mexican_100_300", "contractors_10_30")


class Customer(BaseModel):
    """A customer: the request (the only part its assistant is told), the willingness to pay
    for each wanted item, and the amenities it requires."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    name: str
    request: str
    menu_features: dict[str, float] = Field(min_length=1)
    amenity_features: list[str] = Field(default_factory=list)


class Business(BaseModel):
    """A business: menu with prices, amenities (true or false), rating and description."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    name: str
    description: str
    rating: float = 1.0
    menu_features: dict[str, float] = Field(min_length=1)
    amenity_features: dict[str, bool] = Field(default_factory=dict)

    def has_items(self, items: set[str] | list[str]) -> bool:
        return set(items) <= set(self.menu_features)

    def has_amenities(self, amenities: list[str]) -> bool:
        offered = {a for a, present in self.amenity_features.items() if present}
        return set(amenities) <= offered

    def searchable_text(self, description: str | None = None) -> str:
        """Name, description and item names, as the original's ``get_searchable_text`` with
        its defaults (``shared/models.py`` lines 40-78)."""
        text = self.name.strip() + ", " + (description or self.description).strip() + ", "
        return text + "".join(f"{item.strip()}, " for item in self.menu_features)


class Baselines(BaseModel):
    """The shipped welfare baselines (``baseline_utilities.json``): the median of the random
    rules and the constant of the deterministic ones."""

    model_config = ConfigDict(frozen=True)

    pick_any: float
    pick_cheapest: float
    pick_any_with_amenities: float
    pick_optimal: float


class Dataset(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    customers: tuple[Customer, ...]
    businesses: tuple[Business, ...]
    baselines: Baselines | None

    def customer(self, customer_id: str) -> Customer:
        for c in self.customers:
            if c.id == customer_id:
                return c
        raise KeyError(customer_id)

    def business(self, business_id: str) -> Business:
        for b in self.businesses:
            if b.id == business_id:
                return b
        raise KeyError(business_id)


def dataset_dir(name: str) -> Path:
    """A bundled dataset's folder, or ``name`` read as a path."""
    if name in BUNDLED:
        return DATASETS / name
    path = Path(name).expanduser()
    if not (path / "customers").is_dir() or not (path / "businesses").is_dir():
        raise ConfigError(
            "market config",
            "dataset",
            "one of " + ", ".join(BUNDLED) + ", or a folder with customers/ and businesses/",
            name,
        )
    return path


def _load(path: Path, model: type[BaseModel]) -> Any:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(
            str(path), model.__name__.lower(), f"a valid {model.__name__}", str(exc)
        ) from exc


@lru_cache(maxsize=16)
def _load_dir(path: Path) -> Dataset:
    customers = tuple(_load(p, Customer) for p in sorted((path / "customers").glob("*.yaml")))
    businesses = tuple(_load(p, Business) for p in sorted((path / "businesses").glob("*.yaml")))
    if not customers or not businesses:
        raise ConfigError(str(path), "customers/businesses", "at least one YAML file each", "")
    baselines = None
    json_path = path / "baseline_utilities.json"
    if json_path.exists():
        raw = json.loads(json_path.read_text(encoding="utf-8"))
        try:
            baselines = Baselines(
                pick_any=raw["pick_any_baseline"]["median"],
                pick_cheapest=raw["pick_cheapest_baseline"]["constant"],
                pick_any_with_amenities=raw["pick_any_with_amenities_baseline"]["median"],
                pick_optimal=raw["pick_optimal_baseline"]["constant"],
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                str(json_path), str(exc), "the four baselines of baseline_utilities.json", raw
            ) from exc
    return Dataset(name=path.name, customers=customers, businesses=businesses, baselines=baselines)


def load_dataset(name: str) -> Dataset:
    """The dataset named ``name`` (bundled) or at the path ``name``; cached."""
    return _load_dir(dataset_dir(name).resolve())
