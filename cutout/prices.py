"""The price table: what each billed unit costs, where that number comes from and when it
was read. The built-in table is ``cutout/data/prices.toml`` (package data); the setting
``price_table`` (``CUTOUT_PRICE_TABLE``) names another file with the same keys.

A table missing a price, or carrying one this module does not know, is an error: a cost
computed from a silently absent price would be wrong without saying so.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cutout.errors import ConfigurationError
from cutout.settings import Settings

BUILT_IN = "prices.toml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Model):
    """``usd`` per ``per`` units of ``unit``, read from ``source`` on ``date``."""

    usd: float = Field(ge=0)
    per: int = Field(1, ge=1)
    unit: str = Field(min_length=1)
    source: str = Field(min_length=1)
    date: str = Field(min_length=4)
    verified: bool
    note: str = ""

    @property
    def rate(self) -> float:
        """USD for one unit."""
        return self.usd / self.per


class Shape(_Model):
    """What one instance is billed for."""

    vcpu: float = Field(gt=0)
    memory_gib: float = Field(gt=0)
    gpus: int = Field(0, ge=0)


class PriceTable(_Model):
    currency: str
    region: str
    uploads_kept_days: float = Field(ge=0)
    results_kept_days: float = Field(ge=0)
    pubsub_min_bytes: int = Field(ge=0)
    worker: Shape
    ingest: Shape
    gpu_second: Price
    worker_vcpu_second: Price
    worker_gib_second: Price
    ingest_vcpu_second: Price
    ingest_gib_second: Price
    ingest_request: Price
    pubsub_tib: Price
    firestore_read: Price
    firestore_write: Price
    gcs_class_a: Price
    gcs_class_b: Price
    gcs_gib_month: Price

    def prices(self) -> dict[str, Price]:
        """Every price in the table, by name."""
        return {
            name: value
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), Price)
        }


def load_prices(path: Path | None = None) -> PriceTable:
    """The table at ``path``, or the built-in one; :class:`ConfigurationError` naming the
    file and the problem if it is unreadable or incomplete."""
    where = str(path) if path is not None else f"cutout/data/{BUILT_IN}"
    try:
        if path is None:
            text = resources.files("cutout").joinpath("data", BUILT_IN).read_text()
        else:
            text = path.read_text()
        return PriceTable.model_validate(tomllib.loads(text))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"price table {where}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"price table {where}: {problems}") from exc


def prices_for(settings: Settings) -> PriceTable:
    """The table the settings choose (``price_table``; empty means the built-in one)."""
    return load_prices(Path(settings.price_table) if settings.price_table else None)
