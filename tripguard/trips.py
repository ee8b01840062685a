"""Per-trip state as a struct of arrays, indexed by slot.

Numbers the kernels need live in arrays (one column per field, contiguous); what only Python
reads (ids, the trip events) lives in lists indexed by the same slot; the accepted fixes live in
a PathLog (tripguard/pathlog.py). Slots of closed trips are reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tripguard.contract import TripEnded, TripStarted
from tripguard.kernels import corridor as C
from tripguard.kernels import kinematics as K
from tripguard.kernels.lifecycle import PH_NONE

NO_TS = -(2**62)


@dataclass
class TripMeta:
    """What Python keeps per trip besides the arrays."""

    trip_id: str
    driver_id: str
    partition: int
    started: TripStarted | None = None
    ended: TripEnded | None = None
    ended_row_rejected: str | None = None  # why the trip_ended could not be assessed
    orphans: list = field(default_factory=list)  # chunks of (ts, lat, lon, accuracy, speed, mock) before trip_started
    alert_ids: list = field(default_factory=list)
    alert_scores: dict = field(default_factory=dict)  # kind -> max score
    # {alert_id, kind} of the teleport / impossible_speed alerts: a fare or distance finding on
    # the same trip follows from them and names them (evidence.related)
    displaced_by: list = field(default_factory=list)

    @property
    def city(self) -> str:
        return self.started.city if self.started is not None else "unknown"


class TripTable:
    def __init__(self, capacity: int = 1024):
        self.slot_of: dict[str, int] = {}
        self.meta: list[TripMeta | None] = [None] * capacity
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self.kin = K.new_state(capacity)
        self.held = K.HeldPool()  # buffers for held fixes, lent to the few trips that hold some
        self.route = C.new_route_state(capacity)
        self.route_cell = np.zeros(capacity, np.int64)  # the trip's last H3 cell (corridor kernel)
        self.city = np.zeros(capacity, np.int64)  # row of the per-city params matrices
        # lifecycle columns (kernels/lifecycle.py)
        self.phase = np.full(capacity, PH_NONE, np.int64)
        self.deadline = np.zeros(capacity, np.int64)
        self.last_act = np.full(capacity, NO_TS, np.int64)
        self.implicit = np.zeros(capacity, np.int64)

    @property
    def capacity(self) -> int:
        return len(self.meta)

    def __len__(self) -> int:
        return len(self.slot_of)

    def allocate(self, trip_id: str, driver_id: str, partition: int) -> int:
        if not self._free:
            self._grow()
        s = self._free.pop()
        self.slot_of[trip_id] = s
        self.meta[s] = TripMeta(trip_id, driver_id, partition)
        return s

    def release(self, s: int) -> None:
        meta = self.meta[s]
        del self.slot_of[meta.trip_id]
        self.meta[s] = None
        self.kin[s, :] = 0.0
        entry = int(self.kin[s, K.S_HELD_SLOT]) - 1
        if entry >= 0:
            self.held.give_back(entry)
        self.route[s, :] = 0.0
        self.route_cell[s] = 0
        self.city[s] = 0
        self.phase[s] = PH_NONE
        self.deadline[s] = 0
        self.last_act[s] = NO_TS
        self.implicit[s] = 0
        self._free.append(s)

    def live_slots(self) -> np.ndarray:
        return np.array(sorted(self.slot_of.values()), dtype=np.int64)

    def _grow(self) -> None:
        old = self.capacity
        new = old * 2
        kin = K.new_state(new)
        kin[:old] = self.kin
        self.kin = kin
        route = C.new_route_state(new)
        route[:old] = self.route
        self.route = route
        self.route_cell = np.concatenate([self.route_cell, np.zeros(old, np.int64)])
        self.city = np.concatenate([self.city, np.zeros(old, np.int64)])
        self.phase = np.concatenate([self.phase, np.full(old, PH_NONE, np.int64)])
        self.deadline = np.concatenate([self.deadline, np.zeros(old, np.int64)])
        self.last_act = np.concatenate([self.last_act, np.full(old, NO_TS, np.int64)])
        self.implicit = np.concatenate([self.implicit, np.zeros(old, np.int64)])
        self.meta.extend([None] * old)
        self._free.extend(range(new - 1, old - 1, -1))
