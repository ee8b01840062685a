"""Learned corridors: which H3 cells honest trips between an origin cell and a destination cell use.

`tripguard fit-corridors` builds the model with polars from historical trips (tripguard's own
verdicts.jsonl, or Porto-style CSV with a POLYLINE of [lon, lat]); the engine uses it at trip end
for trips without a planned route: a trip that runs through cells that honest trips between the
same origin and destination rarely use scores high.

The model is one Parquet file: rows (origin, dest, cell, trips) -- how many trips of that
origin-destination pair passed through that cell -- and, with cell = 0, the pair's trip count.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from tripguard.errors import InputError
from tripguard.geo import decode_polyline
from tripguard.kernels.h3index import latlng_to_cell

PAIR_ROW = 0  # cell value of the row that carries the pair's trip count


@dataclass(frozen=True)
class CorridorModel:
    od_res: int
    cell_res: int
    pairs: dict[tuple[int, int], tuple[int, np.ndarray, np.ndarray]]  # (o, d) -> (trips, cells, trips per cell)

    def score(self, lat: np.ndarray, lon: np.ndarray, min_pair_trips: int, rare_share: float) -> dict | None:
        """How much of a trip runs through cells its origin-destination pair rarely uses; None
        when the model knows too few trips of that pair to say."""
        if len(lat) < 2:
            return None
        o, d = od_cells(lat, lon, self.od_res)
        entry = self.pairs.get((o, d))
        if entry is None or entry[0] < min_pair_trips:
            return None
        n, cells, counts = entry
        mine = np.unique(path_cells(lat, lon, self.cell_res))
        pos = np.searchsorted(cells, mine)
        known = (pos < cells.size) & (cells[np.minimum(pos, cells.size - 1)] == mine)
        share = np.where(known, counts[np.minimum(pos, cells.size - 1)] / n, 0.0)
        rare = share < rare_share
        return {
            "pair_trips": int(n),
            "cells": int(mine.size),
            "rare_cells": int(rare.sum()),
            "rare_fraction": float(rare.mean()),
            "od_res": self.od_res,
            "cell_res": self.cell_res,
        }


def od_cells(lat: np.ndarray, lon: np.ndarray, res: int) -> tuple[int, int]:
    ends = latlng_to_cell(np.ascontiguousarray(lat[[0, -1]]), np.ascontiguousarray(lon[[0, -1]]), res)
    return int(ends[0]), int(ends[1])


def path_cells(lat: np.ndarray, lon: np.ndarray, res: int) -> np.ndarray:
    return latlng_to_cell(np.ascontiguousarray(lat), np.ascontiguousarray(lon), res).view(np.int64)


def _paths_from_file(path: Path):
    """(lat, lon) arrays of historical trips: verdicts.jsonl (path) or Porto CSV (POLYLINE)."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix in (".jsonl", ".json"):
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    v = json.loads(line)
                    pts = decode_polyline(v["path"])
                except (ValueError, KeyError, TypeError):
                    raise InputError(f"{path}:{lineno}: not a verdict with a path") from None
                if v.get("kinds"):
                    continue  # learn from trips nobody flagged
                if len(pts) >= 2:
                    yield pts[:, 0], pts[:, 1]
        return
    csv.field_size_limit(1 << 30)
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if "POLYLINE" not in (reader.fieldnames or []):
            raise InputError(f"{path}: needs a POLYLINE column (JSON list of [lon, lat]) or use verdicts.jsonl")
        for row in reader:
            pts = json.loads(row["POLYLINE"])
            if len(pts) >= 2:
                arr = np.asarray(pts, dtype=np.float64)
                yield arr[:, 1], arr[:, 0]


def fit(path: Path, od_res: int = 6, cell_res: int = 9) -> pl.DataFrame:
    """The model table (origin, dest, cell, trips) from historical trips."""
    pairs, visits = [], []
    for lat, lon in _paths_from_file(path):
        o, d = od_cells(lat, lon, od_res)
        pairs.append((o, d))
        visits.append(pl.DataFrame({"origin": o, "dest": d, "cell": np.unique(path_cells(lat, lon, cell_res))}))
    if not pairs:
        raise InputError(f"{path}: no usable trip")
    per_pair = (
        pl.DataFrame(pairs, schema=["origin", "dest"], orient="row")
        .group_by("origin", "dest")
        .agg(pl.len().alias("trips"))
        .with_columns(pl.lit(PAIR_ROW).alias("cell"))
    )
    per_cell = pl.concat(visits).group_by("origin", "dest", "cell").agg(pl.len().alias("trips"))
    columns = ["origin", "dest", "cell", "trips"]
    as_int64 = [pl.col(c).cast(pl.Int64) for c in columns]
    return (
        pl.concat([per_pair.select(as_int64), per_cell.select(as_int64)])
        .with_columns(pl.lit(od_res).alias("od_res"), pl.lit(cell_res).alias("cell_res"))
        .sort("origin", "dest", "cell")
    )


def load(path: Path) -> CorridorModel:
    try:
        table = pl.read_parquet(path)
    except Exception as exc:
        raise InputError(f"{path}: not a learned-corridor model: {str(exc).splitlines()[0]}") from None
    need = {"origin", "dest", "cell", "trips", "od_res", "cell_res"}
    if not need <= set(table.columns):
        raise InputError(f"{path}: needs columns {', '.join(sorted(need))}")
    pairs = {}
    for (o, d), group in table.group_by("origin", "dest"):
        trips = group.filter(pl.col("cell") == PAIR_ROW)["trips"]
        cells = group.filter(pl.col("cell") != PAIR_ROW).sort("cell")
        pairs[(int(o), int(d))] = (
            int(trips[0]) if len(trips) else 0,
            cells["cell"].to_numpy(),
            cells["trips"].to_numpy(),
        )
    return CorridorModel(int(table["od_res"][0]), int(table["cell_res"][0]), pairs)
