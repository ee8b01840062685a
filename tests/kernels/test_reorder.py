"""The reorder kernel against its naive twin, over random streams cut into random batches."""

from __future__ import annotations

import bisect

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tripguard.kernels import reorder as R


class Twin:
    """kernels/reorder.py as the docstring says it, one fix at a time, in plain Python."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        self.park: dict[int, list] = {}  # slot -> [fixes in time order, fixes newer than all before]

    def feed(self, s: int, fix: tuple) -> list[tuple]:
        ts = fix[0]
        if s not in self.park and (s not in self.seen or ts - self.seen[s] >= R.GAP_MS):
            self.park[s] = [[], 0]
        out = []
        if s not in self.park:
            out.append(fix)
        else:
            fixes = self.park[s][0]
            if fixes and ts > fixes[-1][0]:
                self.park[s][1] += 1
            fixes.insert(bisect.bisect_right([f[0] for f in fixes], ts), fix)
            if self.park[s][1] >= R.NEWER or len(fixes) >= R.PARK_MAX:
                out += fixes
                del self.park[s]
        self.seen[s] = max(self.seen.get(s, ts), ts)
        return out

    def release(self, s: int) -> list[tuple]:
        return self.park.pop(s, [[]])[0]


def _trip_fixes(rng: np.random.Generator, n: int) -> list[tuple]:
    """A trip's fixes in arrival order: 1-15 s apart, with silences whose backlog comes after the
    live fix, duplicates and single late fixes."""
    ts = 1_700_000_000_000 + int(rng.integers(0, 100_000))
    fixes = []
    for k in range(n):
        ts += int(rng.choice([1_000, 5_000, 15_000, 45_000, 120_000], p=[0.3, 0.3, 0.3, 0.05, 0.05]))
        fixes.append((ts, 41.1 + k * 1e-4, -8.6, float(k), float(rng.uniform(0, 20)), int(rng.integers(-1, 2))))
    arrival = list(fixes)
    for _ in range(int(rng.integers(0, 3))):  # a backlog: fixes i..j-1 arrive after fix j
        i = int(rng.integers(0, n))
        j = min(n - 1, i + int(rng.integers(1, 40)))
        live = arrival.pop(j)
        arrival.insert(i, live)
    for _ in range(int(rng.integers(0, 3))):  # a duplicate, and a fix that arrives late
        arrival.insert(int(rng.integers(0, n)), arrival[int(rng.integers(0, n))])
        k = int(rng.integers(0, max(1, n - 1)))
        arrival.insert(min(len(arrival), k + int(rng.integers(1, 5))), arrival.pop(k))
    return arrival


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), n_batches=st.integers(1, 30))
def test_the_kernel_is_its_twin_however_the_stream_is_cut(seed, n_batches):
    rng = np.random.default_rng(seed)
    n_trips = int(rng.integers(1, 6))
    per_trip = [_trip_fixes(rng, int(rng.integers(1, 80))) for _ in range(n_trips)]
    # trips interleave at random, each trip's fixes in its own arrival order
    slots = rng.permutation([s for s, fixes in enumerate(per_trip) for _ in fixes]).tolist()
    nxt = [iter(fixes) for fixes in per_trip]
    stream = [(s, next(nxt[s])) for s in slots]

    twin, expected = Twin(), {s: [] for s in range(n_trips)}
    for s, f in stream:
        expected[s] += twin.feed(s, f)
    for s in range(n_trips):
        expected[s] += twin.release(s)

    seen = np.full(n_trips, R.NO_TS, np.int64)
    park = np.zeros(n_trips, np.int64)
    pool = R.ParkPool(1)  # grows as trips park at once
    got = {s: [] for s in range(n_trips)}
    cuts = sorted(rng.integers(0, len(stream) + 1, n_batches - 1).tolist())
    for lo, hi in zip([0, *cuts], [*cuts, len(stream)]):
        batch = sorted(stream[lo:hi], key=lambda sf: sf[0])  # by slot, stable: arrival within a trip
        cols = [
            np.array([s for s, _ in batch], np.int64),
            *(np.array([f[k] for _, f in batch], dt) for k, dt in enumerate(_DTYPES)),
        ]
        _collect(got, R.reorder(cols, seen, park, pool))
    _collect(got, R.release(np.arange(n_trips, dtype=np.int64), park, pool))

    assert got == expected
    for s in range(n_trips):  # nothing lost, nothing made up
        assert sorted(got[s]) == sorted(per_trip[s])
    assert pool.in_use == 0 and not park.any()


_DTYPES = (np.int64, np.float64, np.float64, np.float64, np.float64, np.int8)


def _collect(got: dict, cols: list[np.ndarray]) -> None:
    for k in range(cols[0].size):
        s = int(cols[0][k])
        got[s].append((int(cols[1][k]), *(float(cols[c][k]) for c in range(2, 6)), int(cols[6][k])))


def _batch(slot: list[int], ts: list[int]) -> list[np.ndarray]:
    n = len(ts)
    return [np.array(slot, np.int64), np.array(ts, np.int64)] + [np.zeros(n) for _ in range(4)] + [np.zeros(n, np.int8)]


T = 1_700_000_000_000


def test_a_backlog_after_the_live_fix_comes_out_in_time_order():
    seen, park, pool = np.full(1, R.NO_TS, np.int64), np.zeros(1, np.int64), R.ParkPool(1)
    arrival = [T, T + 15_000, T + 30_000, T + 150_000, T + 45_000, T + 60_000, T + 150_000, T + 165_000, T + 180_000]
    out = R.reorder(_batch([0] * len(arrival), arrival), seen, park, pool)
    # the first fix waits for two newer ones; the live fix after the silence for two newer than it
    # (its duplicate is not), and the backlog sent after it goes before it
    assert out[1].tolist() == sorted(arrival)
    assert pool.in_use == 0


def test_a_first_fix_waits_for_the_backlog_of_the_trip_start():
    seen, park, pool = np.full(1, R.NO_TS, np.int64), np.zeros(1, np.int64), R.ParkPool(1)
    arrival = [T + 60_000, T, T + 15_000, T + 30_000, T + 45_000, T + 75_000, T + 90_000]
    assert R.reorder(_batch([0] * len(arrival), arrival), seen, park, pool)[1].tolist() == sorted(arrival)


def test_fixes_parked_at_the_end_of_a_batch_wait_for_the_next_one_or_the_trip_end():
    seen, park, pool = np.full(2, R.NO_TS, np.int64), np.zeros(2, np.int64), R.ParkPool(1)
    out = R.reorder(_batch([0, 0, 0, 1], [T, T + 15_000, T + 30_000, T]), seen, park, pool)
    assert out[0].tolist() == [0, 0, 0] and out[1].tolist() == [T, T + 15_000, T + 30_000]
    out = R.reorder(_batch([0, 1], [T + 90_000, T + 15_000]), seen, park, pool)
    assert out[1].size == 0 and pool.in_use == 2  # trip 0 after a silence, trip 1 at its start
    out = R.reorder(_batch([0], [T + 60_000]), seen, park, pool)
    assert out[1].size == 0
    out = R.release(np.array([0, 1], np.int64), park, pool)
    assert out[0].tolist() == [0, 0, 1, 1]
    assert out[1].tolist() == [T + 60_000, T + 90_000, T, T + 15_000]
    assert pool.in_use == 0


def test_the_pool_gives_memory_back_after_a_burst_of_trip_starts():
    n = 1000
    seen, park, pool = np.full(n, R.NO_TS, np.int64), np.zeros(n, np.int64), R.ParkPool()
    R.reorder(_batch(list(range(n)), [T] * n), seen, park, pool)
    assert pool.in_use == n
    # all but three trips go on; three stay parked, their fixes kept through the shrink
    slots = [s for s in range(3, n) for _ in range(2)]
    R.reorder(_batch(slots, [T + 15_000 * (1 + k % 2) for k in range(len(slots))]), seen, park, pool)
    big = pool.size
    pool.shrink(park)
    assert pool.in_use == 3 and pool.size < big // 4
    R.reorder(_batch([0, 0], [T + 15_000, T + 30_000]), seen, park, pool)
    out = R.release(np.arange(3, dtype=np.int64), park, pool)
    assert out[0].tolist() == [1, 2] and out[1].tolist() == [T, T]
    assert pool.in_use == 0
