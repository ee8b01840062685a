"""An append-only log of accepted fixes with one linked list per trip.

Appending a batch (fixes grouped by slot, in order) links each fix to its trip's previous one,
so no per-trip work happens in Python; a trip's path is gathered once, when it closes. When most
of the log belongs to closed trips it is compacted by copying the live lists.
"""

from __future__ import annotations

import numpy as np

from ._jit import njit
from ._types import F64, I8, I64

NONE = -1


@njit
def _link(slot: I64, base: int, nxt: I64, head: I64, tail: I64, count: I64) -> None:
    for i in range(slot.shape[0]):
        s = slot[i]
        g = base + i
        nxt[g] = NONE
        if tail[s] == NONE:
            head[s] = g
        else:
            nxt[tail[s]] = g
        tail[s] = g
        count[s] += 1


@njit
def _gather(
    s: int,
    head: I64,
    nxt: I64,
    count: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    flag: I8,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
) -> int:
    g = head[s]
    k = 0
    while g != NONE:
        out_ts[k] = ts[g]
        out_lat[k] = lat[g]
        out_lon[k] = lon[g]
        out_flag[k] = flag[g]
        k += 1
        g = nxt[g]
    return k


@njit
def _compact(
    slots: I64,
    head: I64,
    tail: I64,
    nxt: I64,
    count: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    flag: I8,
    n_ts: I64,
    n_lat: F64,
    n_lon: F64,
    n_flag: I8,
    n_nxt: I64,
) -> int:
    k = 0
    for j in range(slots.shape[0]):
        s = slots[j]
        g = head[s]
        if g == NONE:
            continue
        head[s] = k
        while g != NONE:
            n_ts[k] = ts[g]
            n_lat[k] = lat[g]
            n_lon[k] = lon[g]
            n_flag[k] = flag[g]
            n_nxt[k] = k + 1
            tail[s] = k
            k += 1
            g = nxt[g]
        n_nxt[k - 1] = NONE
    return k


def link(slot: I64, base: int, nxt: I64, head: I64, tail: I64, count: I64) -> None:
    """Link fixes base .. base+len(slot) of the log to their trips' lists (in place)."""
    if slot.dtype != np.int64 or nxt.dtype != np.int64 or head.dtype != np.int64:
        raise TypeError("slot, nxt, head, tail and count must be int64 arrays")
    if base + slot.shape[0] > nxt.shape[0]:
        raise ValueError("the log is too short for this batch: grow it first")
    _link(slot, base, nxt, head, tail, count)


def gather(s: int, head: I64, nxt: I64, count: I64, ts: I64, lat: F64, lon: F64, flag: I8) -> tuple[I64, F64, F64, I8]:
    """The fixes of trip s in order: (ts, lat, lon, flag) arrays."""
    n = int(count[s])
    out = (np.empty(n, np.int64), np.empty(n, np.float64), np.empty(n, np.float64), np.empty(n, np.int8))
    k = _gather(s, head, nxt, count, ts, lat, lon, flag, *out)
    return out[0][:k], out[1][:k], out[2][:k], out[3][:k]


def compact(
    slots: I64, head: I64, tail: I64, nxt: I64, count: I64, ts: I64, lat: F64, lon: F64, flag: I8, capacity: int
) -> tuple[I64, F64, F64, I8, I64, int]:
    """Copy the lists of the given (live) slots into fresh arrays of the given capacity.
    Returns (ts, lat, lon, flag, nxt, size)."""
    new = (
        np.empty(capacity, np.int64),
        np.empty(capacity, np.float64),
        np.empty(capacity, np.float64),
        np.empty(capacity, np.int8),
        np.empty(capacity, np.int64),
    )
    size = _compact(slots, head, tail, nxt, count, ts, lat, lon, flag, *new)
    return (*new, size)
