"""The compiled union of H3 disks against its naive twin: h3-py's grid_disk of every cell, unioned."""

import h3.api.basic_int as h3i
import numpy as np
import pytest

from tripguard.kernels.h3disk import DiskTable


def grid_disk(cell: int, ring: int) -> np.ndarray:
    return np.array(h3i.grid_disk(cell, ring), np.int64)


def naive_union(cells, ring: int) -> np.ndarray:
    return np.unique(np.concatenate([grid_disk(int(c), ring) for c in cells]))


def random_cells(rng, n: int, res: int = 10) -> np.ndarray:
    lat = 41.15 + np.cumsum(rng.normal(0, 0.002, n))  # a street-like walk: neighbouring disks overlap
    lon = -8.61 + np.cumsum(rng.normal(0, 0.002, n))
    return np.array([h3i.latlng_to_cell(a, b, res) for a, b in zip(lat, lon)], np.int64)


@pytest.mark.parametrize("ring", [1, 2, 3])
def test_union_matches_h3py_through_growth_and_restart(ring):
    rng = np.random.default_rng(ring)
    calls = []
    # tiny sizes: the table doubles twice and then starts again empty
    table = DiskTable(ring, lambda c: calls.append(c) or grid_disk(c, ring), cells=4, max_cells=64)
    for n in (1, 3, 10, 30, 5, 60, 20, 2):
        cells = random_cells(rng, n)
        got = table.union(cells)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, naive_union(cells, ring))
        assert len(table) <= 64
    n_calls = len(calls)
    table.union(cells)  # every cell seen last: answered from the table
    assert len(calls) == n_calls


def test_pentagon_disks_are_smaller_and_still_exact():
    pentagons = np.array(h3i.get_pentagons(10), np.int64)
    table = DiskTable(2, lambda c: grid_disk(c, 2), cells=2)
    ring1 = np.array([c for p in pentagons[:3].tolist() for c in h3i.grid_ring(p, 1)], np.int64)
    cells = np.concatenate([pentagons, ring1])
    np.testing.assert_array_equal(table.union(cells), naive_union(cells, 2))
    assert table.union(pentagons[:1]).size == grid_disk(int(pentagons[0]), 2).size < table.width


def test_more_cells_than_the_table_holds_is_refused():
    table = DiskTable(1, lambda c: grid_disk(c, 1), cells=2, max_cells=4)
    with pytest.raises(ValueError, match="holds 4"):
        table.union(random_cells(np.random.default_rng(0), 30))
