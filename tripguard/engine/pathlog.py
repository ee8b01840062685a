"""The accepted fixes of every live trip (kernels/pathlog.py keeps one linked list per trip)."""

from __future__ import annotations

import numpy as np

from tripguard.kernels import pathlog as P

EMPTY = (np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64), np.empty(0, np.int8))


class PathLog:
    def __init__(self, slots: int, capacity: int = 1 << 16):
        self.ts = np.empty(capacity, np.int64)
        self.lat = np.empty(capacity, np.float64)
        self.lon = np.empty(capacity, np.float64)
        self.flag = np.empty(capacity, np.int8)
        self.nxt = np.empty(capacity, np.int64)
        self.size = 0
        self.head = np.full(slots, P.NONE, np.int64)
        self.tail = np.full(slots, P.NONE, np.int64)
        self.count = np.zeros(slots, np.int64)

    def ensure_slots(self, slots: int) -> None:
        grow = slots - self.head.size
        if grow > 0:
            self.head = np.concatenate([self.head, np.full(grow, P.NONE, np.int64)])
            self.tail = np.concatenate([self.tail, np.full(grow, P.NONE, np.int64)])
            self.count = np.concatenate([self.count, np.zeros(grow, np.int64)])

    def append(self, slot, ts, lat, lon, flag) -> None:
        """Fixes grouped by slot, each group in order."""
        n = slot.size
        if n == 0:
            return
        if self.size + n > self.ts.size:
            self._make_room(n)
        a, b = self.size, self.size + n
        self.ts[a:b], self.lat[a:b], self.lon[a:b], self.flag[a:b] = ts, lat, lon, flag
        P.link(slot, a, self.nxt, self.head, self.tail, self.count)
        self.size = b

    def path(self, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.count[s] == 0:
            return EMPTY
        return P.gather(s, self.head, self.nxt, self.count, self.ts, self.lat, self.lon, self.flag)

    def forget(self, s: int) -> None:
        """The trip closed: its fixes become garbage for the next compaction."""
        self.head[s] = self.tail[s] = P.NONE
        self.count[s] = 0

    @property
    def live(self) -> int:
        return int(self.count.sum())

    def _make_room(self, n: int) -> None:
        live = self.live
        capacity = max(self.ts.size, 2 * (live + n))
        slots = np.flatnonzero(self.count > 0).astype(np.int64)
        ts, lat, lon, flag, nxt, size = P.compact(
            slots, self.head, self.tail, self.nxt, self.count, self.ts, self.lat, self.lon, self.flag, capacity
        )
        self.ts, self.lat, self.lon, self.flag, self.nxt, self.size = ts, lat, lon, flag, nxt, size
