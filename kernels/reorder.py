"""Reorder kernel: the fixes of a silence that a phone sends after a newer one, put back in time order.

A phone that loses its connection keeps its fixes and sends them when it is back, and the live
fix can overtake them: a trip's fixes arrive as ..., t, t + 120 s, t + 15 s, t + 30 s, ... The
kinematics drops a fix older than the trip's newest as late, so what happened in the silence --
the jump of a teleport, a fast run, the distance driven -- would be dropped with them, and the
silence judged as a tunnel. A phone that starts the trip out of coverage sends its first live
fixes before the backlog of the trip's start in the same way.

So a trip's first fix, and a fix that arrives `GAP_MS` or more after the newest fix of its trip
(in event time), open a park: it is not passed on, and every fix of the trip that arrives after
it is parked with it, in time order. The park is passed on to the kinematics in time order once
`NEWER` fixes newer than every parked one have arrived (a silence's backlog comes with the live
fix or right after it), when it is full, or when the trip closes (`release`). Fixes older than the park's time span come
out first and are dropped as late there, as before. A park costs latency (two fixes) only at a
trip's start and where it was silent: every other fix passes straight through.

Decisions depend only on each trip's own sequence of fixes, so the output is the same however
the stream is cut into batches. Per trip: `seen[slot]` the newest ts seen (NO_TS: none) and
`park[slot]` 1 + its entry in the ParkPool (0: none). An entry's row 0 holds its count and the
fixes newer than every one before them; rows 1.. the parked fixes. The naive twin is in
tests/kernels/test_reorder.py.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit
from ._types import F64, I8, I64
from .kinematics import HeldPool

GAP_MS = 30_000  # two fix intervals at the sparsest sampling we see (15 s): a lost fix is no silence
NEWER = 2
NO_TS = -(2**62)  # seen[slot] of a trip with no fix yet

PARK_MAX = 32  # fixes a park holds: 8 minutes of backlog at 15 s, half a minute at 1 Hz
Q_TS, Q_LAT, Q_LON, Q_ACC, Q_SPEED, Q_MOCK = range(6)
N_PARK = 6
H_N, H_NEWER = 0, 1  # in row 0


class ParkPool(HeldPool):
    """Park buffers, lent to the trips that park fixes: few at a time (a trip parks its first
    fixes and those after a silence), but a batch that starts thousands of trips parks thousands."""

    DEPTH, WIDTH = 1 + PARK_MAX, N_PARK
    MIN_SIZE = 64

    def shrink(self, park: I64) -> None:
        """After a burst: when under a quarter of the entries are in use, move them to the front
        (park, the trips' entries, is rewritten) and give the rest of the memory back."""
        if self.size <= self.MIN_SIZE or 4 * self.in_use > self.size:
            return
        holders = np.flatnonzero(park)
        k = holders.size
        new = max(self.MIN_SIZE, 2 * k)
        buf = np.zeros((new, self.DEPTH, self.WIDTH), dtype=np.float64)
        buf[:k] = self.buf[park[holders] - 1]
        park[holders] = np.arange(1, k + 1)
        free = np.empty(new, dtype=np.int64)
        free[: new - k] = np.arange(new - 1, k - 1, -1)
        self.buf, self.free, self.n_free = buf, free, np.array([new - k], dtype=np.int64)


@njit
def _release(
    s: int,
    e: int,
    buf: F64,
    free: I64,
    n_free: I64,
    o_slot: I64,
    o_ts: I64,
    o_lat: F64,
    o_lon: F64,
    o_acc: F64,
    o_spd: F64,
    o_mock: I8,
    n_out: int,
) -> int:
    b = buf[e]
    for k in range(1, 1 + int(b[0, H_N])):
        o_slot[n_out] = s
        o_ts[n_out] = np.int64(b[k, Q_TS])
        o_lat[n_out] = b[k, Q_LAT]
        o_lon[n_out] = b[k, Q_LON]
        o_acc[n_out] = b[k, Q_ACC]
        o_spd[n_out] = b[k, Q_SPEED]
        o_mock[n_out] = np.int8(b[k, Q_MOCK])
        n_out += 1
    b[0, H_N] = 0.0
    b[0, H_NEWER] = 0.0
    free[n_free[0]] = e
    n_free[0] += 1
    return n_out


@njit
def _park(b: F64, ts: int, lat: float, lon: float, acc: float, spd: float, mock: int) -> None:
    """Insert in time order, after the fixes of the same ts (the kinematics tells a duplicate)."""
    n = int(b[0, H_N])
    if n and ts > b[n, Q_TS]:
        b[0, H_NEWER] += 1.0
    k = n + 1
    while k > 1 and b[k - 1, Q_TS] > ts:
        b[k] = b[k - 1]
        k -= 1
    b[k, Q_TS] = ts
    b[k, Q_LAT] = lat
    b[k, Q_LON] = lon
    b[k, Q_ACC] = acc
    b[k, Q_SPEED] = spd
    b[k, Q_MOCK] = mock
    b[0, H_N] = n + 1.0


@njit
def _reorder(
    i: int,
    n_out: int,
    slot: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    acc: F64,
    spd: F64,
    mock: I8,
    seen: I64,
    park: I64,
    buf: F64,
    free: I64,
    n_free: I64,
    o_slot: I64,
    o_ts: I64,
    o_lat: F64,
    o_lon: F64,
    o_acc: F64,
    o_spd: F64,
    o_mock: I8,
) -> tuple[int, int]:
    """From row i on. Returns (rows done, n_out): stops early when a park needs a buffer and the
    pool has none (the caller grows it and calls again)."""
    n = slot.shape[0]
    while i < n:
        s = slot[i]
        t = ts[i]
        e = park[s] - 1
        if e < 0 and (seen[s] == NO_TS or t - seen[s] >= GAP_MS):
            if n_free[0] == 0:
                return i, n_out
            n_free[0] -= 1
            e = free[n_free[0]]
            park[s] = e + 1
        if e < 0:
            o_slot[n_out] = s
            o_ts[n_out] = t
            o_lat[n_out] = lat[i]
            o_lon[n_out] = lon[i]
            o_acc[n_out] = acc[i]
            o_spd[n_out] = spd[i]
            o_mock[n_out] = mock[i]
            n_out += 1
        else:
            b = buf[e]
            _park(b, t, lat[i], lon[i], acc[i], spd[i], mock[i])
            if b[0, H_NEWER] >= NEWER or b[0, H_N] >= PARK_MAX:
                n_out = _release(s, e, buf, free, n_free, o_slot, o_ts, o_lat, o_lon, o_acc, o_spd, o_mock, n_out)
                park[s] = 0
        if t > seen[s]:
            seen[s] = t
        i += 1
    return i, n_out


@njit
def _release_all(
    slots: I64,
    park: I64,
    buf: F64,
    free: I64,
    n_free: I64,
    o_slot: I64,
    o_ts: I64,
    o_lat: F64,
    o_lon: F64,
    o_acc: F64,
    o_spd: F64,
    o_mock: I8,
) -> int:
    n_out = 0
    for s in slots:
        e = park[s] - 1
        if e >= 0:
            n_out = _release(s, e, buf, free, n_free, o_slot, o_ts, o_lat, o_lon, o_acc, o_spd, o_mock, n_out)
            park[s] = 0
    return n_out


def _columns(cap: int) -> list[np.ndarray]:
    dtypes = (np.int64, np.int64, np.float64, np.float64, np.float64, np.float64, np.int8)
    return [np.empty(cap, dt) for dt in dtypes]


def reorder(cols: list[np.ndarray], seen: I64, park: I64, pool: ParkPool) -> list[np.ndarray]:
    """A batch's fixes -- columns (slot, ts, lat, lon, accuracy_m, speed_mps, mock), sorted by
    (slot, arrival) -- as the kinematics should see them: the same columns, sorted by slot, each
    trip's fixes in arrival order but for parks, which come out in time order. seen, park and the
    pool are updated in place."""
    slot, ts, lat, lon, acc, spd, mock = cols
    groups = 1 + int(np.count_nonzero(np.diff(slot))) if slot.size else 0
    out = _columns(slot.size + PARK_MAX * groups)
    i = n_out = 0
    while True:
        i, n_out = _reorder(
            i, n_out, slot, ts, lat, lon, acc, spd, mock, seen, park, pool.buf, pool.free, pool.n_free, *out
        )
        if i >= slot.size:
            return [c[:n_out] for c in out]
        pool.grow()


def release(slots: I64, park: I64, pool: ParkPool) -> list[np.ndarray]:
    """The parked fixes of these trips (slots ascending), in time order, and their parks given back."""
    out = _columns(PARK_MAX * slots.size)
    n_out = _release_all(slots, park, pool.buf, pool.free, pool.n_free, *out)
    return [c[:n_out] for c in out]
