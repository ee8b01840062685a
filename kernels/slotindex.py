"""Trip id -> state slot, compiled: an open-addressing hash table over the ids' UTF-8 bytes.

The engine looks up every row's trip; a Python dict lookup per row cost ~345 ns inside the
engine loop (the kernels between two batches evict the dict and the key strings from cache).
Here the ids of a batch arrive as codes into a table of distinct names (their bytes in one
buffer), each distinct name is hashed (FNV-1a) and probed once per call, and a hit is verified
byte by byte against the id stored for that slot, so two ids never share a slot whatever their
hashes. Ids live in an arena (`SlotIndex.ids`, each slot a [lo, hi) span); inserting and removing
(once per trip) are Python calls into small kernels. The naive twin is a dict (tests/kernels).
"""

from __future__ import annotations

import numpy as np

from ._jit import njit
from ._types import I32, I64, U8, U32

EMPTY, DELETED = -1, -2
NOT_SEEN = -3


@njit
def fnv1a(buf: U8, lo: int, hi: int) -> np.uint64:
    h = np.uint64(14695981039346656037)
    for k in range(lo, hi):
        h = (h ^ np.uint64(buf[k])) * np.uint64(1099511628211)
    return h


@njit
def _low(h: np.uint64) -> np.uint32:
    """The hash's low 32 bits: what the table keeps of it."""
    return np.uint32(h & np.uint64(0xFFFFFFFF))


@njit
def _same(a: U8, a_lo: int, a_hi: int, b: U8, b_lo: int, b_hi: int) -> bool:
    if a_hi - a_lo != b_hi - b_lo:
        return False
    for k in range(a_hi - a_lo):
        if a[a_lo + k] != b[b_lo + k]:
            return False
    return True


@njit
def _find(
    table: I32, hashes: U32, ids: U8, id_lo: I32, id_hi: I32, key: U8, lo: int, hi: int, h: np.uint64
) -> tuple[int, int | np.int64]:
    """(slot of the key or -1, the table position to insert it at)."""
    mask = table.shape[0] - 1
    p = np.int64(h & np.uint64(mask))
    h32 = _low(h)
    free: int | np.int64 = -1
    while True:
        s = table[p]
        if s == EMPTY:
            return -1, (p if free < 0 else free)
        if s == DELETED:
            if free < 0:
                free = p
        elif hashes[p] == h32 and _same(ids, id_lo[s], id_hi[s], key, lo, hi):
            return s, p
        p = (p + 1) & mask


@njit
def _lookup(
    codes: I64, blob: U8, offsets: I64, table: I32, hashes: U32, ids: U8, id_lo: I32, id_hi: I32, memo: I64, out: I64
) -> None:
    for i in range(codes.shape[0]):
        c = codes[i]
        s = memo[c]
        if s == NOT_SEEN:
            lo, hi = offsets[c], offsets[c + 1]
            s, _ = _find(table, hashes, ids, id_lo, id_hi, blob, lo, hi, fnv1a(blob, lo, hi))
            memo[c] = s
        out[i] = s


@njit
def _insert(table: I32, hashes: U32, ids: U8, id_lo: I32, id_hi: I32, key: U8, slot: int) -> bool:
    """Insert key -> slot; returns False when the key is there already."""
    h = fnv1a(key, 0, key.shape[0])
    s, p = _find(table, hashes, ids, id_lo, id_hi, key, 0, key.shape[0], h)
    if s >= 0:
        return False
    table[p] = slot
    hashes[p] = _low(h)
    return True


@njit
def _get(table: I32, hashes: U32, ids: U8, id_lo: I32, id_hi: I32, key: U8) -> int:
    s, _ = _find(table, hashes, ids, id_lo, id_hi, key, 0, key.shape[0], fnv1a(key, 0, key.shape[0]))
    return s


@njit
def _remove(table: I32, hashes: U32, ids: U8, id_lo: I32, id_hi: I32, key: U8) -> int:
    h = fnv1a(key, 0, key.shape[0])
    s, p = _find(table, hashes, ids, id_lo, id_hi, key, 0, key.shape[0], h)
    if s >= 0:
        table[p] = DELETED
    return s


@njit
def _rebuild(live: I64, table: I32, hashes: U32, ids: U8, id_lo: I32, id_hi: I32) -> None:
    """Insert the live slots' ids into an empty table."""
    mask = table.shape[0] - 1
    for k in range(live.shape[0]):
        s = live[k]
        h = fnv1a(ids, id_lo[s], id_hi[s])
        p = np.int64(h & np.uint64(mask))
        while table[p] != EMPTY:
            p = (p + 1) & mask
        table[p] = s
        hashes[p] = _low(h)


class SlotIndex:
    """trip id -> slot for up to `capacity` slots (grown with ensure_slots)."""

    def __init__(self, capacity: int, id_bytes: int = 1 << 15):
        # 32-bit entries: a slot number, and the hash's low half to skip most byte comparisons
        # (the table holds 2-8 entries a live id: 64-bit ones cost ~45-90 B a live trip)
        self.table = np.full(64, EMPTY, np.int32)
        self.hashes = np.zeros(64, np.uint32)
        self.ids = np.empty(id_bytes, np.uint8)
        self.n_id_bytes = 0
        self.id_lo = np.zeros(capacity, np.int32)  # arena spans: the arena stays far below 2 GB
        self.id_hi = np.zeros(capacity, np.int32)
        self.live = np.zeros(capacity, np.bool_)
        self.n_live = 0
        self.n_used = 0  # live and deleted table entries: a probe ends only at an empty one

    def __len__(self) -> int:
        return self.n_live

    def ensure_slots(self, capacity: int) -> None:
        grow = capacity - self.id_lo.shape[0]
        if grow > 0:
            self.id_lo = np.concatenate([self.id_lo, np.zeros(grow, np.int32)])
            self.id_hi = np.concatenate([self.id_hi, np.zeros(grow, np.int32)])
            self.live = np.concatenate([self.live, np.zeros(grow, np.bool_)])

    def lookup(self, codes: np.ndarray, blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The slot of each code's name (name c is blob[offsets[c]:offsets[c + 1]]), -1 if none."""
        out = np.empty(codes.shape[0], np.int64)
        memo = np.full(offsets.shape[0] - 1, NOT_SEEN, np.int64)
        _lookup(codes, blob, offsets, self.table, self.hashes, self.ids, self.id_lo, self.id_hi, memo, out)
        return out

    def get(self, trip_id: str) -> int:
        """The id's slot, -1 if none."""
        key = np.frombuffer(trip_id.encode(), np.uint8)
        return int(_get(self.table, self.hashes, self.ids, self.id_lo, self.id_hi, key))

    def insert(self, trip_id: str, slot: int) -> None:
        key = np.frombuffer(trip_id.encode(), np.uint8)
        if self.live[slot]:
            raise ValueError(f"slot {slot} is taken")
        if 2 * (self.n_used + 1) > self.table.shape[0]:
            self._rehash()
        if self.n_id_bytes + key.shape[0] > self.ids.shape[0]:
            self._compact(key.shape[0])
        a = self.n_id_bytes
        self.ids[a : a + key.shape[0]] = key
        self.id_lo[slot], self.id_hi[slot] = a, a + key.shape[0]
        if not _insert(self.table, self.hashes, self.ids, self.id_lo, self.id_hi, key, slot):
            raise ValueError(f"trip {trip_id!r} is indexed already")
        self.n_id_bytes += key.shape[0]
        self.live[slot] = True
        self.n_live += 1
        self.n_used += 1

    def remove(self, trip_id: str) -> int:
        key = np.frombuffer(trip_id.encode(), np.uint8)
        s = int(_remove(self.table, self.hashes, self.ids, self.id_lo, self.id_hi, key))
        if s >= 0:
            self.live[s] = False
            self.id_lo[s] = self.id_hi[s] = 0
            self.n_live -= 1
        return s

    def _rehash(self) -> None:
        """A table twice the live entries' need (deleted entries dropped)."""
        size = 64
        while size < 4 * (self.n_live + 1):
            size *= 2
        self.table = np.full(size, EMPTY, np.int32)
        self.hashes = np.zeros(size, np.uint32)
        _rebuild(np.flatnonzero(self.live), self.table, self.hashes, self.ids, self.id_lo, self.id_hi)
        self.n_used = self.n_live

    def _compact(self, more: int) -> None:
        """Live ids moved to the front of the arena (doubled when that is not room enough)."""
        live = np.flatnonzero(self.live)
        lengths = self.id_hi[live] - self.id_lo[live]
        need = int(lengths.sum()) + more
        size = max(self.ids.shape[0], 2 * need)
        ids = np.empty(size, np.uint8)
        at = 0
        for s, n in zip(live.tolist(), lengths.tolist()):
            ids[at : at + n] = self.ids[self.id_lo[s] : self.id_hi[s]]
            self.id_lo[s], self.id_hi[s] = at, at + n
            at += n
        self.ids, self.n_id_bytes = ids, at
