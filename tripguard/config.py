"""Shipped configuration (data/*.toml) and user overrides.

City parameters live in data/cities.toml as one table per city and detector section
(`[porto.kinematics]`), over a `[default.<section>]` table. Each detector declares its
parameters as a frozen dataclass and reads them with `city_params`. Unknown keys, missing keys
and wrong types are ConfigErrors naming the file, table and key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from tripguard.errors import ConfigError

T = TypeVar("T")


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
        return params_from(cls, self.section(city, section), f"{self.source} [{city}.{section}]")


def params_from(cls: type[T], table: dict[str, Any], where: str) -> T:
    """Build a frozen params dataclass from a TOML table, strictly."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    values = {}
    for name, f in fields.items():
        if name not in table:
            if f.default is not dataclasses.MISSING:
                continue
            raise ConfigError(f"{where}: missing key {name}")
        v = table[name]
        want = (
            f.type
            if isinstance(f.type, type)
            else {"float": float, "int": int, "bool": bool, "str": str}.get(str(f.type))
        )
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if want is not None and not (isinstance(v, want) and not (want is not bool and isinstance(v, bool))):
            raise ConfigError(f"{where}: {name} must be {want.__name__}, got {v!r}")
        values[name] = v
    return cls(**values)


@cache
def shipped_cities() -> CityTables:
    return CityTables.load()
