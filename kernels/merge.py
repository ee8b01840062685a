"""Replay's two-way merge of pings and trip events on ts, and the expansion of merged messages into
engine rows, compiled (the twin is tripguard.io.inputs.merge_on_ts, a heapq merge; tests compare).

merge: each input keeps its own order; the smaller head key goes first, the trip event on equal
keys (a trip_started precedes its first ping) -- exactly heapq.merge over (key, 0 trips / 1 pings).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._jit import njit
from ._types import I8, I64

PING, TRIP = 0, 1


@njit
def _merge(ping_key: I64, trip_key: I64, src: I8, idx: I64) -> None:
    i = 0
    j = 0
    k = 0
    na = ping_key.shape[0]
    nb = trip_key.shape[0]
    while i < na or j < nb:
        if j < nb and (i >= na or trip_key[j] <= ping_key[i]):
            src[k] = TRIP
            idx[k] = j
            j += 1
        else:
            src[k] = PING
            idx[k] = i
            i += 1
        k += 1


def merge(ping_key: ArrayLike, trip_key: ArrayLike) -> tuple[I8, I64]:
    """(source, index within its input) of every message in merged order."""
    ping_key = np.ascontiguousarray(ping_key, np.int64)
    trip_key = np.ascontiguousarray(trip_key, np.int64)
    n = ping_key.shape[0] + trip_key.shape[0]
    src = np.empty(n, np.int8)
    idx = np.empty(n, np.int64)
    _merge(ping_key, trip_key, src, idx)
    return src, idx


@njit
def first_at_least(keys: I64, start: int, bound: int) -> int:
    """The first index from `start` on whose key is >= bound, else len(keys): where the run of
    pings that go before a trip event of key `bound` ends (the worker's aligner)."""
    for i in range(start, keys.shape[0]):
        if keys[i] >= bound:
            return i
    return int(keys.shape[0])


@njit
def _cuts(rows: I64, batch_rows: int, out: I64) -> int:
    n_cut = 0
    acc = 0
    for m in range(rows.shape[0]):
        acc += rows[m]
        if acc >= batch_rows:
            out[n_cut] = m + 1
            n_cut += 1
            acc = 0
    return n_cut


def cuts(rows: ArrayLike, batch_rows: int) -> I64:
    """Where batches end (message index after the last message of each): a batch ends after the
    message that brings it to at least batch_rows rows, as replay's BatchBuilder loop cuts."""
    rows = np.ascontiguousarray(rows, np.int64)
    out = np.empty(rows.shape[0] + 1, np.int64)
    n = _cuts(rows, int(batch_rows), out)
    return out[:n]


@njit
def _expand(src: I8, idx: I64, ping_row0: I64, ping_rows: I64, trip_rows: I64, out: I64) -> int:
    k = 0
    for m in range(src.shape[0]):
        if src[m] == PING:
            r0 = ping_row0[idx[m]]
            for r in range(ping_rows[idx[m]]):
                out[k] = r0 + r
                k += 1
        elif trip_rows[idx[m]] > 0:
            out[k] = -1 - idx[m]
            k += 1
    return k


def expand(src: I8, idx: I64, ping_row0: I64, ping_rows: I64, trip_rows: I64) -> I64:
    """The engine rows of merged messages: a ping message's rows (its row numbers, >= 0) and a trip
    event's row (-1 - its index) in merged order; messages with no rows (invalid) add none."""
    n = int(ping_rows.sum() + trip_rows.sum())
    out = np.empty(n, np.int64)
    k = _expand(
        src,
        idx,
        np.ascontiguousarray(ping_row0, np.int64),
        np.ascontiguousarray(ping_rows, np.int64),
        np.ascontiguousarray(trip_rows, np.int64),
        out,
    )
    return out[:k]
