"""Shipped configuration (data/*.toml) and user overrides.

City parameters live in data/cities.toml as one table per city and detector section
(`[porto.kinematics]`), over a `[default.<section>]` table; tariffs in data/tariffs.toml. Each
detector declares its parameters as a frozen pydantic dataclass with the `PARAMS` config (strict
types, no unknown keys; ranges as `Field` constraints) and reads them with `CityTables.params`.
`validated` turns pydantic's errors into one ConfigError naming the file, table and key(s).
Settings (environment and CLI flags) are pydantic-settings: tripguard.config.settings.
"""

from __future__ import annotations

import dataclasses
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ConfigDict, Field, ValidationError

from tripguard.errors import ConfigError

T = TypeVar("T")

PARAMS = ConfigDict(extra="forbid", strict=True)
"""The config of every parameter dataclass read from a TOML table: an unknown key is an error and
values are not coerced (an int may stand for a float; a bool or a string for a number may not)."""


def number(gt: float | None = None, ge: float | None = None, le: float | None = None) -> Any:
    """The constraint of a finite number within bounds: `Annotated[float, number(ge=0.0)]`."""
    return Field(allow_inf_nan=False, gt=gt, ge=ge, le=le)


def shipped_path(name: str) -> Path:
    """Path of a file shipped under data/ (installed as the tripguard.data package)."""
    return Path(str(resources.files("tripguard.data").joinpath(name)))


def load_toml(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def merge_tables(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge: override's keys win, nested tables merge key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_tables(out[key], value)
        else:
            out[key] = value
    return out


def load_shipped(name: str, override: Path | str | None = None) -> tuple[dict[str, Any], str]:
    """A shipped TOML file under data/, with an override file's tables merged on top; and a
    description of where the values came from (for error messages)."""
    shipped = shipped_path(name)
    tables = load_toml(shipped)
    if override is None:
        return tables, str(shipped)
    return merge_tables(tables, load_toml(override)), f"{shipped} + {override}"


class CityTables:
    """All cities' parameter tables, shipped defaults merged with an optional override file."""

    def __init__(self, tables: dict[str, Any], source: str):
        if "default" not in tables:
            raise ConfigError(f"{source}: needs a [default] table")
        self.tables = tables
        self.source = source

    @classmethod
    def load(cls, override: Path | str | None = None) -> CityTables:
        return cls(*load_shipped("cities.toml", override))

    @property
    def cities(self) -> list[str]:
        return sorted(k for k in self.tables if k != "default")

    def section(self, city: str, section: str) -> dict[str, Any]:
        base = self.tables["default"].get(section, {})
        own = self.tables.get(city, {}).get(section, {})
        return merge_tables(base, own)

    def params(self, cls: type[T], city: str, section: str) -> T:
        return validated(cls, self.section(city, section), f"{self.source} [{city}.{section}]")


def validated(cls: type[T], table: dict[str, Any], where: str) -> T:
    """A parameter dataclass (pydantic, config PARAMS) from a TOML table; every problem in the
    table in one ConfigError that names `where` (file and table) and each key."""
    try:
        return cls(**table)
    except ValidationError as exc:
        problems = [_problem(cls, err) for err in exc.errors(include_url=False)]
        raise ConfigError(f"{where}: {'; '.join(problems)}") from None
    except ConfigError as exc:  # a check across keys (__post_init__)
        raise ConfigError(f"{where}: {exc}") from None


def _problem(cls: type, err: Any) -> str:
    key = ".".join(str(part) for part in err["loc"])
    if err["type"] == "unexpected_keyword_argument":
        known = ", ".join(sorted(f.name for f in dataclasses.fields(cls)))  # type: ignore[arg-type]
        return f"unknown key {key}; known: {known}"
    if err["type"] == "missing":
        return f"missing key {key}"
    field = getattr(cls, "__pydantic_fields__", {}).get(key)
    what = f" ({field.description})" if field is not None and field.description else ""
    return f"{key}: {err['msg']}{what}, got {err['input']!r}"


@cache
def shipped_cities() -> CityTables:
    return CityTables.load()
