"""Trip lifecycle gate: which rows of a batch belong to a live trip.

A batch is a sequence of rows in arrival order -- pings, trip_started, trip_ended -- each with
its trip's slot and its event time. The watermark before a row is the largest event time seen
before it. A trip's deadline depends on its phase:

- ORPHAN (pings, no trip_started yet): first ping + orphan_ms; then it starts without one.
- OPEN: last activity + idle_ms; then it closes (idle timeout).
- ENDED (trip_ended seen): end ts + grace_ms; then it closes. Late pings that arrive before
  that are still the trip's.

A trip's phase changes when the watermark passes its deadline, checked before each of its rows
and, for every live trip, at the end of the batch. Because the watermark before a row does not depend on where the
stream was cut, neither does any decision here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._jit import njit
from ._types import I64

# phases (per slot)
PH_NONE = 0
PH_ORPHAN = 1
PH_OPEN = 2
PH_ENDED = 3
PH_CLOSED = 4

# row kinds
ROW_PING = 0
ROW_START = 1
ROW_END = 2

# actions (per row)
ACT_INCLUDE = 0  # ping of a live trip: to the kinematics
ACT_BUFFER = 1  # ping of a trip without trip_started yet
ACT_LATE = 2  # ping or event after the trip closed
ACT_APPLY = 3  # trip event to apply
ACT_DUPLICATE = 4  # a second trip_started or trip_ended
ACT_START_AFTER_IMPLICIT = 5  # trip_started after the trip had to start without it

NO_ROW = -1


@njit
def _expire(
    s: int,
    row: int,
    wm: int,
    phase: I64,
    deadline: I64,
    last_act: I64,
    idle_ms: int,
    started_at: I64,
    closed_at: I64,
    implicit: I64,
) -> None:
    """Advance slot s's phase while the watermark is past its deadline."""
    while True:
        ph = phase[s]
        if ph == PH_ORPHAN and wm > deadline[s]:
            phase[s] = PH_OPEN
            started_at[s] = row
            implicit[s] = 1
            deadline[s] = last_act[s] + idle_ms
        elif (ph == PH_OPEN or ph == PH_ENDED) and wm > deadline[s]:
            phase[s] = PH_CLOSED
            closed_at[s] = row
            return
        else:
            return


@njit
def _gate(
    order: I64,
    slot: I64,
    kind: I64,
    ts: I64,
    wm_before: I64,
    wm_end: int,
    n_rows: int,
    phase: I64,
    deadline: I64,
    last_act: I64,
    implicit: I64,
    orphan_ms: int,
    idle_ms: int,
    grace_ms: int,
    action: I64,
    started_at: I64,
    closed_at: I64,
) -> None:
    n = order.shape[0]
    i = 0
    while i < n:
        s = slot[order[i]]
        while i < n and slot[order[i]] == s:
            r = order[i]
            _expire(s, r, wm_before[r], phase, deadline, last_act, idle_ms, started_at, closed_at, implicit)
            ph = phase[s]
            k = kind[r]
            t = ts[r]
            if k == ROW_PING:
                if ph == PH_CLOSED:
                    action[r] = ACT_LATE
                elif ph == PH_NONE or ph == PH_ORPHAN:
                    if ph == PH_NONE:
                        phase[s] = PH_ORPHAN
                        deadline[s] = t + orphan_ms
                    action[r] = ACT_BUFFER
                    if t > last_act[s]:
                        last_act[s] = t
                else:
                    action[r] = ACT_INCLUDE
                    if t > last_act[s]:
                        last_act[s] = t
                    if ph == PH_OPEN:
                        deadline[s] = last_act[s] + idle_ms
            elif k == ROW_START:
                if ph == PH_NONE or ph == PH_ORPHAN:
                    phase[s] = PH_OPEN
                    started_at[s] = r
                    if t > last_act[s]:
                        last_act[s] = t
                    deadline[s] = last_act[s] + idle_ms
                    action[r] = ACT_APPLY
                elif ph == PH_CLOSED:
                    action[r] = ACT_LATE
                elif implicit[s] == 1:
                    implicit[s] = 2  # metadata arrives; the parameters were already chosen
                    action[r] = ACT_START_AFTER_IMPLICIT
                else:
                    action[r] = ACT_DUPLICATE
            else:  # ROW_END
                if ph == PH_CLOSED:
                    action[r] = ACT_LATE
                elif ph == PH_ENDED:
                    action[r] = ACT_DUPLICATE
                else:
                    if ph == PH_NONE or ph == PH_ORPHAN:
                        started_at[s] = r
                        implicit[s] = 1
                    phase[s] = PH_ENDED
                    deadline[s] = t + grace_ms
                    if t > last_act[s]:
                        last_act[s] = t
                    action[r] = ACT_APPLY
            i += 1
    # the end of the batch: every live trip, with rows in this batch or not
    for s in range(phase.shape[0]):
        if phase[s] != PH_NONE and phase[s] != PH_CLOSED:
            _expire(s, n_rows, wm_end, phase, deadline, last_act, idle_ms, started_at, closed_at, implicit)


def watermarks(ts: ArrayLike, wm0: int) -> tuple[I64, int]:
    """Watermark before each row and after the last: running max of event time from wm0."""
    ts_ = np.asarray(ts, dtype=np.int64)
    run = np.maximum.accumulate(np.concatenate([np.array([wm0], np.int64), ts_]))
    return run[:-1], int(run[-1])


def gate(
    slot: I64,
    kind: I64,
    ts: I64,
    wm0: int,
    phase: I64,
    deadline: I64,
    last_act: I64,
    implicit: I64,
    orphan_ms: int,
    idle_ms: int,
    grace_ms: int,
) -> tuple[I64, I64, I64, int]:
    """Decide every row of a batch. Rows are in arrival order; slot, kind (ROW_*) and ts are
    int64 arrays. phase/deadline/last_act/implicit are the per-slot lifecycle columns (int64),
    updated in place. Returns (action per row, started_at row per slot, closed_at row per slot,
    watermark at the end), where started_at/closed_at are NO_ROW unless it happened in this batch
    (closed_at == len(rows) means "at the end of the batch")."""
    for name, arr in (("slot", slot), ("kind", kind), ("ts", ts)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.int64 or arr.ndim != 1:
            raise TypeError(f"{name} must be a 1-D int64 numpy array")
        if arr.shape[0] != slot.shape[0]:
            raise ValueError(f"{name} must have the length of slot ({slot.shape[0]})")
    for name, arr in (("phase", phase), ("deadline", deadline), ("last_act", last_act), ("implicit", implicit)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.int64 or arr.ndim != 1:
            raise TypeError(f"{name} must be a 1-D int64 numpy array (one entry per slot)")
    n_slots = phase.shape[0]
    if slot.size and (slot.min() < 0 or slot.max() >= n_slots):
        raise ValueError("slot holds an index outside the lifecycle arrays")
    wm_before, wm_end = watermarks(ts, wm0)
    order = np.argsort(slot, kind="stable")
    action = np.empty(slot.shape[0], np.int64)
    started_at = np.full(n_slots, NO_ROW, np.int64)
    closed_at = np.full(n_slots, NO_ROW, np.int64)
    _gate(
        order,
        slot,
        kind,
        ts,
        wm_before,
        wm_end,
        slot.shape[0],
        phase,
        deadline,
        last_act,
        implicit,
        int(orphan_ms),
        int(idle_ms),
        int(grace_ms),
        action,
        started_at,
        closed_at,
    )
    return action, started_at, closed_at, wm_end
