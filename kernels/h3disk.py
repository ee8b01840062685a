"""The union of H3 grid_disk(cell, ring) over many cells, from a compiled table of disks seen before.

A planned route's corridor is its cells dilated by a ring: the union of each cell's disk. Routes
of a city share their streets, so nearly every cell's disk was needed before: a table (open
addressing over the cell ids, each disk a row of one arena) answers those in compiled code, and
only the cells never seen go back to the caller, who gets their disks from H3 (grid_disk) and
inserts them. A full table starts again empty: memory stays bounded and the result never depends
on what the table holds. The naive twin is a dict of sorted disks (tests/kernels/test_h3disk.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._jit import njit
from ._types import I64

EMPTY = -1  # a free table position; also pads the row of a pentagon's disk (it has fewer cells)


@njit
def _home(cell: int, mask: int) -> int:
    # H3 ids end in 7s (unused digits) below their resolution: fold the digits above them down
    return (cell ^ (cell >> 15) ^ (cell >> 30)) & mask


@njit
def _row(keys: I64, rows: I64, cell: int) -> tuple[int, int]:
    """(row of the cell's disk or -1, the table position where it is or would go)."""
    mask = keys.shape[0] - 1
    p = _home(cell, mask)
    while True:
        k = keys[p]
        if k == cell:
            return rows[p], p
        if k == EMPTY:
            return -1, p
        p = (p + 1) & mask


@njit
def _union(cells: I64, keys: I64, rows: I64, disks: I64, seen: I64, out: I64, missing: I64) -> tuple[int, int]:
    """The disks of `cells` into out, sorted and unique: (cells in out, 0); or, when some cells
    are not in the table, (0, how many of them were written to missing). seen: EMPTY, a power of
    two at least twice the cells the disks may hold."""
    n = 0
    n_missing = 0
    mask = seen.shape[0] - 1
    for i in range(cells.shape[0]):
        r, _ = _row(keys, rows, cells[i])
        if r < 0:
            missing[n_missing] = cells[i]
            n_missing += 1
            continue
        if n_missing:
            continue
        for j in range(disks.shape[1]):
            c = disks[r, j]
            if c == EMPTY:
                continue
            # neighbouring cells' disks overlap: a hash set keeps each cell once, so only the
            # corridor itself is sorted, not every disk's copy of it
            p = _home(c, mask)
            while seen[p] != EMPTY and seen[p] != c:
                p = (p + 1) & mask
            if seen[p] == EMPTY:
                seen[p] = c
                out[n] = c
                n += 1
    if n_missing:
        return 0, n_missing
    out[:n].sort()
    return n, 0


@njit
def _insert(cell: int, disk: I64, keys: I64, rows: I64, disks: I64, n_rows: int) -> bool:
    """Put the cell's disk in row n_rows; False when the cell is there already."""
    r, p = _row(keys, rows, cell)
    if r >= 0:
        return False
    keys[p] = cell
    rows[p] = n_rows
    disks[n_rows, :] = EMPTY
    disks[n_rows, : disk.shape[0]] = disk
    return True


@njit
def _reindex(row_cells: I64, keys: I64, rows: I64) -> None:
    """Index rows 0 .. len(row_cells) - 1 in an empty table."""
    for r in range(row_cells.shape[0]):
        _, p = _row(keys, rows, row_cells[r])
        keys[p] = row_cells[r]
        rows[p] = r


class DiskTable:
    """Disks of radius `ring` of up to `max_cells` cells (the table doubles up to that); `disk(cell)`
    gives a missing cell's disk (h3-py's grid_disk as int64)."""

    def __init__(self, ring: int, disk: Callable[[int], I64], cells: int = 1 << 10, max_cells: int = 1 << 17):
        self.ring = ring
        self.width = 3 * ring * (ring + 1) + 1  # cells in a hexagon's disk (a pentagon's has fewer)
        self._disk = disk
        self.max_cells = max(cells, max_cells)
        self._start(cells)

    def _start(self, cells: int) -> None:
        self.disks = np.empty((cells, self.width), np.int64)
        self.row_cells = np.empty(cells, np.int64)
        self.keys = np.full(2 * cells, EMPTY, np.int64)  # at most half full: short probes
        self.rows = np.zeros(2 * cells, np.int64)
        self.n_rows = 0

    def __len__(self) -> int:
        return self.n_rows

    def _make_room(self, more: int) -> None:
        """Double the table (its rows kept) until `more` rows fit; past max_cells start again empty."""
        if self.n_rows + more > self.max_cells:
            if more > self.max_cells:
                raise ValueError(f"{more} cells, the table holds {self.max_cells}")
            self.keys[:] = EMPTY
            self.n_rows = 0
        need = self.n_rows + more
        if need <= self.disks.shape[0]:
            return
        cells = self.disks.shape[0]
        while cells < need:
            cells *= 2
        disks, row_cells, n = self.disks, self.row_cells, self.n_rows
        self._start(min(cells, self.max_cells))
        self.disks[:n], self.row_cells[:n], self.n_rows = disks[:n], row_cells[:n], n
        _reindex(self.row_cells[:n], self.keys, self.rows)

    def union(self, cells: I64) -> I64:
        """Sorted unique int64 cells: the union of the disks of `cells` (int64 H3 ids)."""
        cells = np.ascontiguousarray(cells, dtype=np.int64)
        out = np.empty(cells.shape[0] * self.width, np.int64)
        missing = np.empty(cells.shape[0], np.int64)
        size = 1 << int(2 * out.shape[0]).bit_length()
        while True:
            seen = np.full(size, EMPTY, np.int64)
            n, n_missing = _union(cells, self.keys, self.rows, self.disks, seen, out, missing)
            if n_missing == 0:
                return out[:n].copy()
            if self.n_rows + n_missing > self.disks.shape[0]:
                self._make_room(n_missing)
            for cell in missing[:n_missing].tolist():
                if _insert(cell, self._disk(cell), self.keys, self.rows, self.disks, self.n_rows):
                    self.row_cells[self.n_rows] = cell
                    self.n_rows += 1
