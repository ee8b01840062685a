"""Kinematics kernel: teleport jumps and impossible speed that survive real GPS noise.

Input is a batch of fixes sorted by (trip slot, arrival); per-trip state is carried across
batches in a float64 matrix `state[slot, S_*]` (a row per trip) and, while a trip has fixes
whose meaning is not decided yet, a buffer `pool.buf[entry, h, H_*]` taken from a shared pool
(few trips hold fixes at any moment: a buffer per trip would be most of a trip's memory). The
decisions depend only on each trip's own sequence of fixes, so the output is the same however the
stream is cut into batches.

The state machine, per trip:

- NORMAL: a fix that is reachable from the anchor (the last accepted fix) at the city's physical
  speed limit -- distance minus both fixes' accuracy radii, over the elapsed time -- and, when it
  is longer than `suspect_min_m`, within the trip's own recent pace x `suspect_pace_factor` (at
  least `suspect_min_mps`), is accepted. A fix within the anchor's noise circle only moves the
  anchor's time (a parked car's jitter adds no distance). Any other fix opens HOLD: out of reach,
  or only suspect (a multipath spike a few hundred metres out looks like a fast step until the
  trace comes back).
- HOLD: the suspicious fixes wait. If a later fix is back on the anchor's track (reachable from
  it, and closer to where the anchor's track leads than to where the held fixes lead), they were a
  spike (one or a few fixes off and back): dropped and counted, never driven distance. A suspect
  fix that the next one carries on from was driving: accepted. Otherwise, once the held fixes
  continue from the new place for `confirm_fixes` fixes and `confirm_s` seconds:
  two or more consecutive steps beyond the physical limit that do not turn back are a run that
  raced there (impossible_speed, its distance counted as the trace shows it); one step is a
  teleport when it is at least `teleport_min_m`, or `teleport_oblique_min_m` across the direction
  of travel (a shorter step along the road is lost fixes), and not in the first `warmup_s` (GPS
  re-acquisition); any other jump accuses nobody. From `speed_run_direct_steps` fast steps on, a
  run is taken at once: RUN.
- RUN: fast steps are accepted and summed; when a plausible step ends the run (or the trip
  ends), it is an impossible_speed alert if it lasted `run_min_s` and covered `run_min_m`.

Coarse fixes (accuracy worse than `coarse_accuracy_m`: network fixes) do not move the track; late
fixes (ts older than the trip's newest), duplicates, NaN and (0, 0) fixes are counted and dropped.
The pure-Python twin is tests/kernels/kinematics_ref.py; tests compare the two.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._jit import njit
from ._types import F64, I8, I64
from .geo import DEG, M_PER_DEG, haversine_m, haversine_step

# ---- parameters: params[city, P_*] ------------------------------------------------------------
P_MAX_SPEED_MPS = 0
P_DEFAULT_ACCURACY_M = 1
P_COARSE_ACCURACY_M = 2
P_TELEPORT_MIN_M = 3
P_CONFIRM_FIXES = 4
P_CONFIRM_S = 5
P_WARMUP_S = 6
P_RUN_MIN_M = 7
P_RUN_MIN_S = 8
P_RUN_MIN_STEPS = 9
P_TUNNEL_GAP_S = 10
P_SUSPECT_MIN_MPS = 11
P_SUSPECT_PACE_FACTOR = 12
P_TELEPORT_OBLIQUE_MIN_M = 13
P_RUN_DIRECT_STEPS = 14
P_SUSPECT_MIN_M = 15
N_PARAMS = 16
PARAM_NAMES = (
    "max_speed_mps",
    "default_accuracy_m",
    "coarse_accuracy_m",
    "teleport_min_m",
    "confirm_fixes",
    "confirm_s",
    "warmup_s",
    "speed_run_min_m",
    "speed_run_min_s",
    "speed_run_min_steps",
    "tunnel_gap_s",
    "suspect_min_mps",
    "suspect_pace_factor",
    "teleport_oblique_min_m",
    "speed_run_direct_steps",
    "suspect_min_m",
)

# ---- per-trip state: state[slot, S_*] ---------------------------------------------------------
S_MODE = 0
S_A_TS = 1  # anchor: the last accepted fix
S_A_LAT = 2
S_A_LON = 3
S_A_ACC = 4
S_SEEN_TS = 5  # newest fix seen (for late / duplicate)
S_SEEN_LAT = 6
S_SEEN_LON = 7
S_START_TS = 8
S_DIST_M = 9
S_GAP_M = 10
S_GAP_N = 11
S_JUMP_M = 12  # displacement of teleports and re-acquisitions, kept out of the distance
S_N_USED = 13
S_N_LATE = 14
S_N_DUP = 15
S_N_INVALID = 16
S_N_SPIKE = 17
S_N_COARSE = 18
S_HELD_N = 19
S_HELD_LEAD = 20  # leading fast steps in the held buffer
S_HELD_PLAUS = 21  # plausible steps after them
S_RUN_STEPS = 22
S_RUN_DIST_M = 23
S_RUN_EFF_M = 24
S_RUN_T0 = 25
S_RUN_LAT0 = 26
S_RUN_LON0 = 27
S_RUN_MAXV = 28
S_RUN_MAXV_TS = 29
S_RUN_LAST_TS = 30
S_RUN_LAST_LAT = 31
S_RUN_LAST_LON = 32
# spoofing statistics
S_N_MOCK = 33
S_N_MOCK_KNOWN = 34
S_DEV_N = 35  # device speed checked against position speed
S_DEV_CONTRA = 36
S_DEV_SUM = 37
S_DEV_SUM2 = 38
S_V_N = 39  # position speed of moving steps
S_V_SUM = 40
S_V_SUM2 = 41
S_DT_N = 42  # intervals between consecutive fixes, ms
S_DT_SUM = 43
S_DT_SUM2 = 44
S_ACC_N = 45  # reported accuracy
S_ACC_SUM = 46
S_ACC_SUM2 = 47
S_COL_N = 48  # consecutive step pairs, and those exactly collinear
S_COL_HITS = 49
S_PREV_DX = 50
S_PREV_DY = 51
S_N_SEEN = 52
S_A_SIN = 53  # sin and cos of the anchor's latitude, carried from step to step (geo.haversine_step)
S_A_COS = 54
S_A_POS_TS = 55  # when the anchor's position was set (S_A_TS moves on while a parked phone jitters)
S_P_VALID = 56  # the anchor before the anchor, when the anchor was reached by an ordinary step
S_P_TS = 57
S_P_LAT = 58
S_P_LON = 59
S_P_ACC = 60
S_A_STEP_M = 61  # length of that step
S_P_PACE = 62  # the trip's recent pace when the anchor before the anchor was the anchor
S_PACE = 63  # recent pace: max of step speeds, decaying with time (_paced)
S_DT_PREV = 64  # the previous interval, ms
S_DT_REPEAT = 65  # intervals exactly equal to the one before (a replay app's clock)
S_GAP_S = 66  # time spent in tunnel gaps
S_HELD_SLOT = 67  # 1 + the trip's entry in the held pool while it holds fixes; 0 when it holds none
S_HELD_SOFT = 68  # the first held fix was reachable, only suspect (too fast for the trip's pace)
# A witness: a place the trip may really have been just before the fixes it shows now -- where it
# was before its last ordinary step of a teleport's length, or the last fix dropped as a spike.
# When a jump soon lands within reach of it, the fixes since were the glitch (a spike of several
# fixes, or stale fixes after a real one), not a place the trip went to (_confirm_jump).
S_W_VALID = 69
S_W_TS = 70
S_W_LAT = 71
S_W_LON = 72
S_W_ACC = 73
S_W_PACE = 74  # the trip's recent pace then
S_W_DIST_M = 75  # the trip's distance had it stopped there
S_W_USED = 76  # S_N_USED then (the witness itself not counted)
S_W_REVIVE = 77  # fixes dropped as a spike that become used again if the witness is confirmed
S_W_SINCE_TS = 78  # the first fix after it
S_A_DEV = 79  # the device speed reported with the anchor's fix (NO_SPEED: none)
N_STATE = 80
NO_SPEED = -1.0  # S_A_DEV of a fix that reported no speed: the state holds no NaN

MODE_EMPTY = 0.0
MODE_NORMAL = 1.0
MODE_HOLD = 2.0
MODE_RUN = 3.0

# ---- held buffer: pool.buf[entry, h, H_*] ------------------------------------------------------
HELD_MAX = 16
H_TS = 0
H_LAT = 1
H_LON = 2
H_ACC = 3
H_FAST = 4
H_DIST_M = 5  # raw distance from the previous fix (the anchor for h = 0)
H_EFF_M = 6
H_SIN = 7
H_COS = 8
N_HELD = 9

# ---- per-fix status --------------------------------------------------------------------------
ST_ACCEPTED = 0  # used (possibly only as the anchor's new time)
ST_HELD = 1  # waiting; its fate is counted later (spike) or it appears in the accepted stream
ST_LATE = 2
ST_DUPLICATE = 3
ST_INVALID = 4
ST_COARSE = 5

# ---- accepted-fix stream flags ---------------------------------------------------------------
F_NONE = 0
F_BREAK = 1  # a jump precedes this fix: the path is not continuous (GPS re-acquisition; the new place is true)
F_GAP = 2  # a tunnel gap precedes this fix
F_FAST = 4  # part of an impossible-speed run: the trace is displaced from here on
F_TELEPORT = 8  # a teleport precedes this fix: not continuous, and the trace is displaced from here on

# ---- events: events[e, E_*] ------------------------------------------------------------------
EV_TELEPORT = 1.0
EV_IMPOSSIBLE_SPEED = 2.0
E_KIND = 0
E_SLOT = 1
E_TS = 2
E_DIST_M = 3  # teleport: jump distance; speed: run distance
E_EFF_M = 4  # after subtracting accuracy radii
E_DT_S = 5
E_SPEED_MPS = 6  # implied (teleport) or average (run) speed
E_MAX_SPEED_MPS = 7
E_N_FIXES = 8
E_POINTS = 9  # N_EVENT_POINTS x (ts, lat, lon); NaN where unused
N_EVENT_POINTS = 6
N_EVENT = E_POINTS + 3 * N_EVENT_POINTS

COLLINEAR_SIN = 1e-3  # |sin(angle)| below this (0.06 deg) counts as exactly straight
# A fix closer to the anchor than this many times the two accuracy radii (68 % each) is the same
# place seen again: with Gaussian noise a parked phone exceeds 1.5x in well under 1 % of fixes.
NOISE_GATE = 1.5
SPIKE_PACE_MIN_MPS = 20.0
# The recent pace remembers a fast stretch for a while: it decays with the time since the anchor's
# position last changed, by 1 / (1 + x + x^2 / 2) with x = dt / PACE_TAU_S (close to exp(-x), with
# no transcendental on the hot path): 0.8 after 15 s, about half after 50 s, near nothing after a
# few minutes parked. Steps of the first warmup_s of a trip do not set it (a stale first fix's way
# back would make the trip look fast for minutes).
PACE_TAU_S = 66.8
# A jump shorter than teleport_min_m is a teleport only when it goes across the direction of
# travel, before and after it: more than 45 deg from both headings (a step along the road, even a
# long one after lost fixes, is driving), each heading over at least HEADING_MIN_M.
OBLIQUE_COS = math.cos(math.radians(45.0))
HEADING_MIN_M = 30.0
RUN_MAX_TURN_COS = math.cos(math.radians(135.0))
# how far ahead a track is carried on at its last velocity: a car's velocity says where it is a
# fix or two later, not a minute later (it turns, stops at lights); beyond this a fix is compared
# with where the track was heading at this horizon
TRACK_HORIZON_S = 30.0


def new_state(n_slots: int) -> F64:
    """Zeroed state for n_slots trips, one row per trip. Rows, not columns, are contiguous: a
    streaming batch holds one or two fixes of each of thousands of trips, and the kernel reads
    and writes a trip's whole row for each of them (column order measured 1.1 us a fix there,
    against 0.1 us with rows)."""
    return np.zeros((n_slots, N_STATE), dtype=np.float64)


class HeldPool:
    """Buffers for held fixes, lent to the trips that hold some. `reserve` grows the pool before
    a kernel call so the kernel never runs out (a trip holds at most one buffer at a time).
    A subclass with another DEPTH and WIDTH lends buffers of another shape (kernels/reorder.py)."""

    DEPTH, WIDTH = HELD_MAX, N_HELD  # a buffer: DEPTH fixes of WIDTH values

    def __init__(self, size: int = 64) -> None:
        self.buf = np.zeros((size, self.DEPTH, self.WIDTH), dtype=np.float64)
        self.free = np.arange(size - 1, -1, -1, dtype=np.int64)  # a stack of free entries
        self.n_free = np.array([size], dtype=np.int64)

    @property
    def size(self) -> int:
        return self.buf.shape[0]

    def reserve(self, k: int) -> None:
        if self.n_free[0] >= k:
            return
        self.grow(k)

    def grow(self, k: int = 1) -> None:
        old = self.size
        new = max(2 * old, old + k)
        buf = np.zeros((new, self.DEPTH, self.WIDTH), dtype=np.float64)
        buf[:old] = self.buf
        free = np.empty(new, dtype=np.int64)
        n = int(self.n_free[0])
        free[:n] = self.free[:n]
        free[n : n + new - old] = np.arange(new - 1, old - 1, -1)
        self.buf, self.free, self.n_free[0] = buf, free, n + new - old

    def take(self) -> int:
        """An entry for Python-side use (restoring a snapshot). Returns its index."""
        self.reserve(1)
        self.n_free[0] -= 1
        return int(self.free[self.n_free[0]])

    def give_back(self, entry: int) -> None:
        self.free[self.n_free[0]] = entry
        self.n_free[0] += 1
        self.buf[entry] = 0.0

    @property
    def in_use(self) -> int:
        return self.size - int(self.n_free[0])


# ---- helpers ----------------------------------------------------------------------------------
#
# Compiled as functions of their own, not inline="always": inlined into _step at Numba's IR level
# they made one function that took 80-98 s to compile cold (the engine's whole start-up was ~100 s);
# as calls, the engine's kernels compile in ~26 s and run as fast (benchmarks side by side: the
# engine at 10k trips 780 k vs 775 k pings/s, the kernel within 5 %).


@njit
def _emit_accepted(
    slot: float,
    ts: float,
    lat: float,
    lon: float,
    flag: float,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
    n_out: int,
) -> int:
    out_slot[n_out] = slot
    out_ts[n_out] = ts
    out_lat[n_out] = lat
    out_lon[n_out] = lon
    out_flag[n_out] = flag
    return n_out + 1


@njit
def _set_point(events: F64, e: int, k: int, ts: float, lat: float, lon: float) -> None:
    events[e, E_POINTS + 3 * k] = ts
    events[e, E_POINTS + 3 * k + 1] = lat
    events[e, E_POINTS + 3 * k + 2] = lon


@njit
def _new_event(events: F64, e: int, kind: float, slot: float) -> None:
    for c in range(N_EVENT):
        events[e, c] = np.nan
    events[e, E_KIND] = kind
    events[e, E_SLOT] = slot


@njit
def _paced(pace: float, d: float, dt_s: float, since_s: float, past_warmup: bool) -> float:
    """The trip's recent pace after a step of d metres in dt_s, since_s after its last position."""
    if not past_warmup or dt_s <= 0.0:
        return pace
    x = since_s / PACE_TAU_S
    return max(d / dt_s, pace / (1.0 + x + 0.5 * x * x))


@njit
def _set_witness(
    st: F64, ts: float, lat: float, lon: float, acc: float, dist_m: float, revive: float, since_ts: float
) -> None:
    """Before the fix at since_ts is counted (S_N_USED not yet incremented for it)."""
    st[S_W_VALID] = 1.0
    st[S_W_TS] = ts
    st[S_W_LAT] = lat
    st[S_W_LON] = lon
    st[S_W_ACC] = acc
    st[S_W_PACE] = st[S_PACE]
    st[S_W_DIST_M] = dist_m
    st[S_W_USED] = st[S_N_USED] - 1.0
    st[S_W_REVIVE] = revive
    st[S_W_SINCE_TS] = since_ts


@njit
def _known_speed(dev: float) -> float:
    """A device speed as the state keeps it: NO_SPEED when the fix reported none (NaN)."""
    return dev if dev == dev else NO_SPEED


@njit
def _contradicts(dev_before: float, dev: float, v: float) -> bool:
    """Whether a step's speed from the positions (v, its mean speed) contradicts the device's
    Doppler speeds. The mean speed over an interval lies near the mean of the speeds at its two
    ends, not near the speed at one end: a car that brakes to a stop at a light has moved at half
    its cruising speed on average. Judged against the end's speed alone, honest stop-and-go at
    15 s fixes looked like a contradiction in up to half the steps; a spoofing app that makes up
    its speeds contradicts either way. Without the speed at the step's start, the end's speed."""
    ref = dev if dev_before < 0.0 else 0.5 * (dev_before + dev)  # < 0: NO_SPEED
    return abs(ref - v) > max(5.0, 0.5 * max(ref, v))


@njit
def _move_anchor(
    st: F64,
    s: int,
    ts: float,
    lat: float,
    lon: float,
    acc: float,
    sin_lat: float,
    cos_lat: float,
    d: float,
    dt_s: float,
    dev: float,
    flag: float,
    p: F64,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
    n_out: int,
) -> int:
    """Accept a fix that is not within the anchor's noise circle: add the step, update the
    spoofing statistics, emit it to the accepted stream."""
    if flag == F_FAST:
        st[S_DIST_M] += d  # reported as the run's distance; says nothing about driving style
        st[S_PREV_DX] = 0.0
        st[S_PREV_DY] = 0.0
    elif flag == F_NONE:
        st[S_DIST_M] += d
        if dt_s >= p[P_TUNNEL_GAP_S]:
            st[S_GAP_M] += d
            st[S_GAP_N] += 1.0
            st[S_GAP_S] += dt_s
            flag = F_GAP
        if dt_s <= 60.0 and st[S_A_POS_TS] == st[S_A_TS]:
            # speed of a step between two positions (not after a parked spell: that distance took longer)
            v = d / dt_s
            st[S_V_N] += 1.0
            st[S_V_SUM] += v
            st[S_V_SUM2] += v * v
            if dt_s <= 30.0 and dev == dev:
                st[S_DEV_N] += 1.0
                st[S_DEV_SUM] += dev
                st[S_DEV_SUM2] += dev * dev
                if _contradicts(st[S_A_DEV], dev, v):
                    st[S_DEV_CONTRA] += 1.0
        # collinearity of consecutive steps, in a local metric frame
        dlon = lon - st[S_A_LON]
        if dlon > 180.0:
            dlon -= 360.0
        elif dlon < -180.0:
            dlon += 360.0
        dy = (lat - st[S_A_LAT]) * M_PER_DEG
        dx = dlon * M_PER_DEG * cos_lat
        pdx = st[S_PREV_DX]
        pdy = st[S_PREV_DY]
        norm2 = (pdx * pdx + pdy * pdy) * (dx * dx + dy * dy)
        if norm2 > 0.0:
            st[S_COL_N] += 1.0
            cross = pdx * dy - pdy * dx
            if cross * cross < COLLINEAR_SIN * COLLINEAR_SIN * norm2 and pdx * dx + pdy * dy > 0.0:
                st[S_COL_HITS] += 1.0
        st[S_PREV_DX] = dx
        st[S_PREV_DY] = dy
    else:
        st[S_PREV_DX] = 0.0
        st[S_PREV_DY] = 0.0
    if flag == F_NONE or flag == F_GAP:
        if d >= p[P_TELEPORT_OBLIQUE_MIN_M]:
            _set_witness(st, st[S_A_TS], st[S_A_LAT], st[S_A_LON], st[S_A_ACC], st[S_DIST_M] - d, 0.0, ts)
    else:
        st[S_W_VALID] = 0.0
    st[S_P_PACE] = st[S_PACE]
    jump = flag == F_BREAK or flag == F_TELEPORT
    if not jump:
        st[S_PACE] = _paced(
            st[S_PACE], d, dt_s, (ts - st[S_A_POS_TS]) / 1000.0, ts - st[S_START_TS] >= p[P_WARMUP_S] * 1000.0
        )
    st[S_P_VALID] = 0.0 if jump else 1.0
    st[S_P_TS] = st[S_A_TS]
    st[S_P_LAT] = st[S_A_LAT]
    st[S_P_LON] = st[S_A_LON]
    st[S_P_ACC] = st[S_A_ACC]
    st[S_A_STEP_M] = d
    st[S_A_POS_TS] = ts
    st[S_A_TS] = ts
    st[S_A_LAT] = lat
    st[S_A_LON] = lon
    st[S_A_ACC] = acc
    st[S_A_SIN] = sin_lat
    st[S_A_COS] = cos_lat
    st[S_A_DEV] = _known_speed(dev)
    return _emit_accepted(s, ts, lat, lon, flag, out_slot, out_ts, out_lat, out_lon, out_flag, n_out)


@njit
def _accept_step(
    st: F64,
    s: int,
    ts: float,
    lat: float,
    lon: float,
    acc: float,
    sin_lat: float,
    cos_lat: float,
    d: float,
    dt_s: float,
    dev: float,
    p: F64,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
    n_out: int,
) -> int:
    """Accept a plausible fix. Inside the anchor's noise circle only the anchor's time moves."""
    st[S_N_USED] += 1.0
    if d <= NOISE_GATE * (st[S_A_ACC] + acc):
        st[S_A_TS] = ts
        return n_out
    return _move_anchor(
        st,
        s,
        ts,
        lat,
        lon,
        acc,
        sin_lat,
        cos_lat,
        d,
        dt_s,
        dev,
        F_NONE,
        p,
        out_slot,
        out_ts,
        out_lat,
        out_lon,
        out_flag,
        n_out,
    )


@njit
def _acquire(st: F64, pool: F64, free: I64, n_free: I64) -> F64:
    """Lend the trip a buffer for held fixes (the wrapper reserved enough)."""
    k = n_free[0] - 1
    n_free[0] = k
    st[S_HELD_SLOT] = free[k] + 1.0
    return pool[free[k]]  # type: ignore[no-any-return]


@njit
def _give_back(st: F64, free: I64, n_free: I64) -> None:
    entry = int(st[S_HELD_SLOT]) - 1
    if entry >= 0:
        free[n_free[0]] = entry
        n_free[0] += 1
        st[S_HELD_SLOT] = 0.0


@njit
def _release_held(
    st: F64,
    held: F64,
    free: I64,
    n_free: I64,
    s: int,
    lead_flag: float,
    n_lead: int,
    p: F64,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
    n_out: int,
) -> int:
    """Accept every held fix in order: the first n_lead with lead_flag (F_BREAK, F_TELEPORT: a jump
    kept out of the distance; F_FAST: a run, whose distance is reported), the rest as ordinary steps."""
    n = int(st[S_HELD_N])
    # A suspect step accepted as driving raises the trip's pace no further than the suspect limit
    # it broke: at its own speed, a spike of two fixes out would make the way back look plausible.
    soft = lead_flag == F_NONE and st[S_HELD_SOFT] > 0.0
    soft_cap = min(max(p[P_SUSPECT_MIN_MPS], p[P_SUSPECT_PACE_FACTOR] * st[S_PACE]), p[P_MAX_SPEED_MPS])
    for h in range(n):
        flag = lead_flag if h < n_lead else F_NONE
        d = held[h, H_DIST_M]
        dt_s = (held[h, H_TS] - st[S_A_TS]) / 1000.0
        if flag == F_BREAK or flag == F_TELEPORT:
            st[S_JUMP_M] += d
        st[S_N_USED] += 1.0
        n_out = _move_anchor(
            st,
            s,
            held[h, H_TS],
            held[h, H_LAT],
            held[h, H_LON],
            held[h, H_ACC],
            held[h, H_SIN],
            held[h, H_COS],
            d,
            dt_s,
            np.nan,
            flag,
            p,
            out_slot,
            out_ts,
            out_lat,
            out_lon,
            out_flag,
            n_out,
        )
        if h == 0 and soft and st[S_PACE] > soft_cap:
            st[S_PACE] = soft_cap
    st[S_HELD_N] = 0.0
    st[S_HELD_LEAD] = 0.0
    st[S_HELD_PLAUS] = 0.0
    st[S_HELD_SOFT] = 0.0
    _give_back(st, free, n_free)
    return n_out


@njit
def _push_held(
    st: F64,
    held: F64,
    s: int,
    ts: float,
    lat: float,
    lon: float,
    acc: float,
    sin_lat: float,
    cos_lat: float,
    fast: float,
    d: float,
    eff: float,
) -> None:
    h = int(st[S_HELD_N])
    held[h, H_SIN] = sin_lat
    held[h, H_COS] = cos_lat
    held[h, H_TS] = ts
    held[h, H_LAT] = lat
    held[h, H_LON] = lon
    held[h, H_ACC] = acc
    held[h, H_FAST] = fast
    held[h, H_DIST_M] = d
    held[h, H_EFF_M] = eff
    st[S_HELD_N] = h + 1.0


@njit
def _drop_held_as_spikes(st: F64, free: I64, n_free: I64) -> None:
    st[S_N_SPIKE] += st[S_HELD_N]
    st[S_HELD_N] = 0.0
    st[S_HELD_LEAD] = 0.0
    st[S_HELD_PLAUS] = 0.0
    st[S_HELD_SOFT] = 0.0
    _give_back(st, free, n_free)


@njit
def _plain(d: float, eff: float, pace: float, p: F64, dt_s: float) -> bool:
    """A step that needs no second look: within the physical limit, and short (suspect_min_m) or
    within the trip's recent pace x suspect_pace_factor (at least suspect_min_mps). Anything else
    waits for the next fix: a multipath spike a few hundred metres out looks like a fast step
    until the trace comes back."""
    vmax = p[P_MAX_SPEED_MPS]
    if eff > vmax * dt_s:
        return False
    if d <= p[P_SUSPECT_MIN_M]:
        return True
    return eff <= min(max(p[P_SUSPECT_MIN_MPS], p[P_SUSPECT_PACE_FACTOR] * pace), vmax) * dt_s  # type: ignore[no-any-return]


@njit
def _step_vec(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """Local metric (east, north) vector from one fix to another (the collinearity frame)."""
    dlon = lon2 - lon1
    if dlon > 180.0:
        dlon -= 360.0
    elif dlon < -180.0:
        dlon += 360.0
    return dlon * M_PER_DEG * math.cos(lat2 * DEG), (lat2 - lat1) * M_PER_DEG


@njit
def _along_travel(st: F64, held: F64) -> bool:
    """The fast held steps go on: none turns back (more than 135 deg) from the one before it. At
    15 s fixes a run's steps are km-long chords of a winding road, so they may turn a lot; a
    multipath spike comes back (about 180 deg). The heading before the run is no guide: a run
    often starts at a turn."""
    px = 0.0
    py = 0.0
    lat = st[S_A_LAT]
    lon = st[S_A_LON]
    for h in range(int(st[S_HELD_LEAD])):
        vx, vy = _step_vec(lat, lon, held[h, H_LAT], held[h, H_LON])
        if px * vx + py * vy < RUN_MAX_TURN_COS * math.sqrt((px * px + py * py) * (vx * vx + vy * vy)):
            return False
        px, py, lat, lon = vx, vy, held[h, H_LAT], held[h, H_LON]
    return True


@njit
def _oblique(st: F64, held: F64, post: int) -> bool:
    """The jump to the landing goes across the direction of travel before it and after it (the
    landing to held fix `post`)."""
    land = int(st[S_HELD_LEAD]) - 1
    jx, jy = _step_vec(st[S_A_LAT], st[S_A_LON], held[land, H_LAT], held[land, H_LON])
    ax, ay = _step_vec(held[land, H_LAT], held[land, H_LON], held[post, H_LAT], held[post, H_LON])
    bx = st[S_PREV_DX]
    by = st[S_PREV_DY]
    nj = math.sqrt(jx * jx + jy * jy)
    nb = math.sqrt(bx * bx + by * by)
    na = math.sqrt(ax * ax + ay * ay)
    if nb == 0.0 or na < HEADING_MIN_M or nj == 0.0:
        return False
    return jx * bx + jy * by < OBLIQUE_COS * nj * nb and jx * ax + jy * ay < OBLIQUE_COS * nj * na


@njit
def _back_on_track(st: F64, held: F64, last: int, lat: float, lon: float, ts: float) -> bool:
    """The fix is closer to where the anchor's track leads at its time than to where the last
    held fix leads: both carried on at the anchor's last velocity (a car on a highway covers
    hundreds of metres between fixes; a bare distance to the anchor would call its return from a
    spike a continuation)."""
    vx = 0.0
    vy = 0.0
    if st[S_P_VALID] > 0.0 and st[S_A_POS_TS] > st[S_P_TS]:
        dt = (st[S_A_POS_TS] - st[S_P_TS]) / 1000.0
        vx = st[S_PREV_DX] / dt
        vy = st[S_PREV_DY] / dt
    nx, ny = _step_vec(st[S_A_LAT], st[S_A_LON], lat, lon)
    hx, hy = _step_vec(st[S_A_LAT], st[S_A_LON], held[last, H_LAT], held[last, H_LON])
    t_a = min((ts - st[S_A_POS_TS]) / 1000.0, TRACK_HORIZON_S)
    t_h = min((ts - held[last, H_TS]) / 1000.0, TRACK_HORIZON_S)
    ax = nx - vx * t_a
    ay = ny - vy * t_a
    bx = nx - hx - vx * t_h
    by = ny - hy - vy * t_h
    return ax * ax + ay * ay <= bx * bx + by * by  # type: ignore[no-any-return]


@njit
def _in_warmup(st: F64, p: F64) -> bool:
    return (st[S_A_TS] - st[S_START_TS]) < p[P_WARMUP_S] * 1000.0  # type: ignore[no-any-return]


@njit
def _jump_is_teleport(st: F64, held: F64, p: F64, eff_m: float, post: int) -> bool:
    if _in_warmup(st, p):
        return False
    land = int(st[S_HELD_LEAD]) - 1
    if st[S_HELD_SOFT] > 0.0 and held[land, H_TS] - st[S_A_TS] >= p[P_TUNNEL_GAP_S] * 1000.0:
        return False  # within reach over a tunnel gap: driven unseen, however fast for the trip
    return eff_m >= p[P_TELEPORT_MIN_M] or (eff_m >= p[P_TELEPORT_OBLIQUE_MIN_M] and _oblique(st, held, post))


@njit
def _landing_eff(st: F64, held: F64) -> float:
    land = int(st[S_HELD_LEAD]) - 1
    return (  # type: ignore[no-any-return]
        haversine_m(st[S_A_LAT], st[S_A_LON], held[land, H_LAT], held[land, H_LON]) - st[S_A_ACC] - held[land, H_ACC]
    )


@njit
def _close_run(st: F64, s: int, p: F64, events: F64, n_ev: int) -> int:
    """End of a fast run: an impossible_speed event when it was sustained."""
    duration_s = (st[S_RUN_LAST_TS] - st[S_RUN_T0]) / 1000.0
    if st[S_RUN_STEPS] >= p[P_RUN_MIN_STEPS] and st[S_RUN_EFF_M] >= p[P_RUN_MIN_M] and duration_s >= p[P_RUN_MIN_S]:
        _new_event(events, n_ev, EV_IMPOSSIBLE_SPEED, s)
        events[n_ev, E_TS] = st[S_RUN_LAST_TS]
        events[n_ev, E_DIST_M] = st[S_RUN_DIST_M]
        events[n_ev, E_EFF_M] = st[S_RUN_EFF_M]
        events[n_ev, E_DT_S] = duration_s
        events[n_ev, E_SPEED_MPS] = st[S_RUN_DIST_M] / duration_s
        events[n_ev, E_MAX_SPEED_MPS] = st[S_RUN_MAXV]
        events[n_ev, E_N_FIXES] = st[S_RUN_STEPS] + 1.0
        _set_point(events, n_ev, 0, st[S_RUN_T0], st[S_RUN_LAT0], st[S_RUN_LON0])
        _set_point(events, n_ev, 1, st[S_RUN_LAST_TS], st[S_RUN_LAST_LAT], st[S_RUN_LAST_LON])
        n_ev += 1
    st[S_RUN_STEPS] = 0.0
    st[S_MODE] = MODE_NORMAL
    return n_ev


@njit
def _run_step(st: F64, s: int, ts: float, lat: float, lon: float, d: float, eff: float, dt_s: float) -> None:
    st[S_RUN_STEPS] += 1.0
    st[S_RUN_DIST_M] += d
    st[S_RUN_EFF_M] += eff
    v = d / dt_s
    if v > st[S_RUN_MAXV]:
        st[S_RUN_MAXV] = v
        st[S_RUN_MAXV_TS] = ts
    st[S_RUN_LAST_TS] = ts
    st[S_RUN_LAST_LAT] = lat
    st[S_RUN_LAST_LON] = lon


@njit
def _start_run(
    st: F64,
    held: F64,
    free: I64,
    n_free: I64,
    s: int,
    p: F64,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
    n_out: int,
) -> int:
    """Every held step was too fast for run_min_steps steps: the trace itself moves impossibly fast."""
    st[S_RUN_STEPS] = 0.0
    st[S_RUN_DIST_M] = 0.0
    st[S_RUN_EFF_M] = 0.0
    st[S_RUN_MAXV] = 0.0
    st[S_RUN_T0] = st[S_A_TS]
    st[S_RUN_LAT0] = st[S_A_LAT]
    st[S_RUN_LON0] = st[S_A_LON]
    prev_ts = st[S_A_TS]
    for h in range(int(st[S_HELD_N])):
        dt_s = (held[h, H_TS] - prev_ts) / 1000.0
        _run_step(st, s, held[h, H_TS], held[h, H_LAT], held[h, H_LON], held[h, H_DIST_M], held[h, H_EFF_M], dt_s)
        prev_ts = held[h, H_TS]
    n_out = _release_held(
        st, held, free, n_free, s, F_FAST, int(st[S_HELD_N]), p, out_slot, out_ts, out_lat, out_lon, out_flag, n_out
    )
    st[S_MODE] = MODE_RUN
    return n_out


@njit
def _raced(st: F64, held: F64, p: F64, run_eff: float, run_s: float) -> bool:
    """The held fixes start with an impossible_speed run: as many fast steps as a run needs, none
    turning back, covering run_eff metres (after accuracy) in run_s seconds."""
    return (
        st[S_HELD_LEAD] >= p[P_RUN_MIN_STEPS]
        and _along_travel(st, held)
        and run_eff >= p[P_RUN_MIN_M]
        and run_s >= p[P_RUN_MIN_S]
    )


@njit
def _confirm_jump(
    st: F64,
    held: F64,
    free: I64,
    n_free: I64,
    s: int,
    p: F64,
    events: F64,
    n_ev: int,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
    n_out: int,
) -> tuple[int, int]:
    """The held fixes continue from a new place: a run that raced there (impossible_speed), a
    persistent displacement (teleport), or a jump that accuses nobody (GPS re-acquisition, a long
    step along the road after lost fixes)."""
    lead = int(st[S_HELD_LEAD])
    land = lead - 1
    n_held = int(st[S_HELD_N])
    a_ts = st[S_A_TS]
    jump_m = haversine_m(st[S_A_LAT], st[S_A_LON], held[land, H_LAT], held[land, H_LON])
    eff_m = jump_m - st[S_A_ACC] - held[land, H_ACC]
    anchor_was_spike = False
    d_p = 0.0
    if st[S_P_VALID] > 0.0 and st[S_A_TS] == st[S_A_POS_TS]:
        # the anchor was seen once (a parked car's position is seen again and again) and the new
        # place is within reach of the fix before it: the anchor itself was a spike that looked
        # like movement (e.g. 750 m out in 15 s), and this is the way back
        d_p = haversine_m(st[S_P_LAT], st[S_P_LON], held[land, H_LAT], held[land, H_LON])
        # at the pace the trip was going before (twice its recent pace, at least 20 m/s; within
        # the physical limit): a short teleport is also within the physical limit of the fix
        # before, but not at the trip's own pace
        pace = max(2.0 * st[S_P_PACE], SPIKE_PACE_MIN_MPS)
        if pace > p[P_MAX_SPEED_MPS]:
            pace = p[P_MAX_SPEED_MPS]
        reach_m = pace * (held[land, H_TS] - st[S_P_TS]) / 1000.0
        anchor_was_spike = d_p - st[S_P_ACC] - held[land, H_ACC] <= reach_m
    since = st[S_N_USED] - st[S_W_USED]  # fixes used since the witness
    witnessed = (
        not anchor_was_spike
        and st[S_W_VALID] > 0.0
        and (since < p[P_CONFIRM_FIXES] or (held[0, H_TS] - st[S_W_SINCE_TS]) / 1000.0 < p[P_CONFIRM_S])
    )
    d_w = 0.0
    if witnessed:
        # the fixes since the witness were too few or too brief to be a place (what confirms a
        # teleport), and the jump lands within reach of the witness at the trip's pace: they
        # were the glitch, and this is the trip carrying on from where it was
        d_w = haversine_m(st[S_W_LAT], st[S_W_LON], held[land, H_LAT], held[land, H_LON])
        # at the trip's own pace, not twice it (at least the speed below which no step is
        # suspect): this overturns what the fixes since had shown
        pace = min(max(st[S_W_PACE], p[P_SUSPECT_MIN_MPS]), p[P_MAX_SPEED_MPS])
        witnessed = d_w - st[S_W_ACC] - held[land, H_ACC] <= pace * (held[land, H_TS] - st[S_W_TS]) / 1000.0
    run_m = 0.0
    run_eff = 0.0
    for h in range(lead):
        run_m += held[h, H_DIST_M]
        run_eff += held[h, H_EFF_M]
    run_s = (held[land, H_TS] - a_ts) / 1000.0
    lead_flag = F_BREAK
    n_lead = 1
    if anchor_was_spike:
        # the trip went from the fix before the spike to the new place: count that, not the spike
        st[S_DIST_M] += d_p - st[S_A_STEP_M]
        st[S_N_USED] -= 1.0
        st[S_N_SPIKE] += 1.0
        held[0, H_DIST_M] = 0.0
    elif witnessed:
        # the trip went from the witness to the new place: count that, not the glitch's fixes
        st[S_DIST_M] = st[S_W_DIST_M] + d_w
        st[S_N_USED] += st[S_W_REVIVE] - since
        st[S_N_SPIKE] += since - st[S_W_REVIVE]
        held[0, H_DIST_M] = 0.0
    elif _raced(st, held, p, run_eff, run_s):
        # two or more steps too fast to drive, on along the way: the trace raced ahead
        maxv = 0.0
        prev_ts = a_ts
        for h in range(lead):
            v = held[h, H_DIST_M] / ((held[h, H_TS] - prev_ts) / 1000.0)
            if v > maxv:
                maxv = v
            prev_ts = held[h, H_TS]
        _new_event(events, n_ev, EV_IMPOSSIBLE_SPEED, s)
        events[n_ev, E_TS] = held[land, H_TS]
        events[n_ev, E_DIST_M] = run_m
        events[n_ev, E_EFF_M] = run_eff
        events[n_ev, E_DT_S] = run_s
        events[n_ev, E_SPEED_MPS] = run_m / run_s
        events[n_ev, E_MAX_SPEED_MPS] = maxv
        events[n_ev, E_N_FIXES] = lead + 1.0
        _set_point(events, n_ev, 0, a_ts, st[S_A_LAT], st[S_A_LON])
        _set_point(events, n_ev, 1, held[land, H_TS], held[land, H_LAT], held[land, H_LON])
        n_ev += 1
        lead_flag = F_FAST
        n_lead = lead
    elif _jump_is_teleport(st, held, p, eff_m, n_held - 1):
        dt_s = (held[land, H_TS] - a_ts) / 1000.0
        _new_event(events, n_ev, EV_TELEPORT, s)
        events[n_ev, E_TS] = held[land, H_TS]
        events[n_ev, E_DIST_M] = jump_m
        events[n_ev, E_EFF_M] = eff_m
        events[n_ev, E_DT_S] = dt_s
        events[n_ev, E_SPEED_MPS] = eff_m / dt_s
        events[n_ev, E_MAX_SPEED_MPS] = jump_m / dt_s
        events[n_ev, E_N_FIXES] = n_held
        _set_point(events, n_ev, 0, a_ts, st[S_A_LAT], st[S_A_LON])
        k = 1
        for h in range(land, n_held):
            if k >= N_EVENT_POINTS - 1 and h != n_held - 1:
                continue
            _set_point(events, n_ev, k, held[h, H_TS], held[h, H_LAT], held[h, H_LON])
            k += 1
            if k >= N_EVENT_POINTS:
                break
        n_ev += 1
        lead_flag = F_TELEPORT
    elif st[S_HELD_SOFT] > 0.0 and not _in_warmup(st, p):
        lead_flag = F_NONE  # a possible step after all: its distance counts
    n_out = _release_held(
        st, held, free, n_free, s, lead_flag, n_lead, p, out_slot, out_ts, out_lat, out_lon, out_flag, n_out
    )
    st[S_MODE] = MODE_NORMAL
    return n_ev, n_out


@njit
def _step(
    s: int,
    ts: float,
    lat: float,
    lon: float,
    acc_in: float,
    dev: float,
    mock: float,
    st: F64,
    pool: F64,
    free: I64,
    n_free: I64,
    p: F64,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
    n_out: int,
    events: F64,
    n_ev: int,
) -> tuple[int, int, int]:
    """One fix of trip s. Returns (status, n_out, n_ev)."""
    if not (lat == lat and lon == lon) or (lat == 0.0 and lon == 0.0):
        st[S_N_INVALID] += 1.0
        return ST_INVALID, n_out, n_ev
    if st[S_N_SEEN] > 0.0:
        if ts < st[S_SEEN_TS]:
            st[S_N_LATE] += 1.0
            return ST_LATE, n_out, n_ev
        if ts == st[S_SEEN_TS]:
            if lat == st[S_SEEN_LAT] and lon == st[S_SEEN_LON]:
                st[S_N_DUP] += 1.0
                return ST_DUPLICATE, n_out, n_ev
            st[S_N_LATE] += 1.0
            return ST_LATE, n_out, n_ev
        dt_ms = ts - st[S_SEEN_TS]
        if st[S_DT_N] > 0.0 and dt_ms == st[S_DT_PREV]:
            st[S_DT_REPEAT] += 1.0
        st[S_DT_PREV] = dt_ms
        st[S_DT_N] += 1.0
        st[S_DT_SUM] += dt_ms
        st[S_DT_SUM2] += dt_ms * dt_ms
    st[S_N_SEEN] += 1.0
    st[S_SEEN_TS] = ts
    st[S_SEEN_LAT] = lat
    st[S_SEEN_LON] = lon
    if mock >= 0:
        st[S_N_MOCK_KNOWN] += 1.0
        if mock == 1:
            st[S_N_MOCK] += 1.0
    acc = acc_in if acc_in == acc_in else p[P_DEFAULT_ACCURACY_M]
    if acc > p[P_COARSE_ACCURACY_M]:
        st[S_N_COARSE] += 1.0
        return ST_COARSE, n_out, n_ev
    if acc_in == acc_in:
        # the receiver's accuracy (a network fix's comes from another source: not counted)
        st[S_ACC_N] += 1.0
        st[S_ACC_SUM] += acc_in
        st[S_ACC_SUM2] += acc_in * acc_in

    mode = st[S_MODE]
    if mode == MODE_EMPTY:
        st[S_START_TS] = ts
        st[S_N_USED] += 1.0
        st[S_MODE] = MODE_NORMAL
        st[S_PREV_DX] = 0.0
        st[S_PREV_DY] = 0.0
        st[S_A_TS] = ts
        st[S_A_LAT] = lat
        st[S_A_LON] = lon
        st[S_A_ACC] = acc
        st[S_A_SIN] = math.sin(lat * DEG)
        st[S_A_COS] = math.cos(lat * DEG)
        st[S_A_POS_TS] = ts
        st[S_A_DEV] = _known_speed(dev)
        st[S_P_VALID] = 0.0
        st[S_W_VALID] = 0.0
        st[S_PACE] = 0.0
        n_out = _emit_accepted(s, ts, lat, lon, F_NONE, out_slot, out_ts, out_lat, out_lon, out_flag, n_out)
        return ST_ACCEPTED, n_out, n_ev

    vmax = p[P_MAX_SPEED_MPS]
    d_a, sin_a, cos_a = haversine_step(st[S_A_LAT], st[S_A_LON], st[S_A_SIN], st[S_A_COS], lat, lon)
    dt_a = (ts - st[S_A_TS]) / 1000.0
    eff_a = d_a - st[S_A_ACC] - acc
    reachable = eff_a <= vmax * dt_a

    if mode == MODE_NORMAL:
        if _plain(d_a, eff_a, st[S_PACE], p, dt_a):
            n_out = _accept_step(
                st,
                s,
                ts,
                lat,
                lon,
                acc,
                sin_a,
                cos_a,
                d_a,
                dt_a,
                dev,
                p,
                out_slot,
                out_ts,
                out_lat,
                out_lon,
                out_flag,
                n_out,
            )
            return ST_ACCEPTED, n_out, n_ev
        # too far for the physical limit, or only for the trip's own pace (a suspect: a short
        # multipath spike looks like a fast step until the next fix comes back)
        held = _acquire(st, pool, free, n_free)
        _push_held(st, held, s, ts, lat, lon, acc, sin_a, cos_a, 0.0 if reachable else 1.0, d_a, eff_a)
        st[S_HELD_LEAD] = 1.0
        st[S_HELD_PLAUS] = 0.0
        st[S_HELD_SOFT] = 1.0 if reachable else 0.0
        st[S_MODE] = MODE_HOLD
        return ST_HELD, n_out, n_ev

    if mode == MODE_RUN:
        if not reachable:
            _run_step(st, s, ts, lat, lon, d_a, eff_a, dt_a)
            st[S_N_USED] += 1.0
            n_out = _move_anchor(
                st,
                s,
                ts,
                lat,
                lon,
                acc,
                sin_a,
                cos_a,
                d_a,
                dt_a,
                dev,
                F_FAST,
                p,
                out_slot,
                out_ts,
                out_lat,
                out_lon,
                out_flag,
                n_out,
            )
            return ST_ACCEPTED, n_out, n_ev
        n_ev = _close_run(st, s, p, events, n_ev)
        n_out = _accept_step(
            st,
            s,
            ts,
            lat,
            lon,
            acc,
            sin_a,
            cos_a,
            d_a,
            dt_a,
            dev,
            p,
            out_slot,
            out_ts,
            out_lat,
            out_lon,
            out_flag,
            n_out,
        )
        return ST_ACCEPTED, n_out, n_ev

    # MODE_HOLD
    held = pool[int(st[S_HELD_SLOT]) - 1]
    last = int(st[S_HELD_N]) - 1
    d_l, sin_l, cos_l = haversine_step(
        held[last, H_LAT], held[last, H_LON], held[last, H_SIN], held[last, H_COS], lat, lon
    )
    dt_l = (ts - held[last, H_TS]) / 1000.0
    eff_l = d_l - held[last, H_ACC] - acc
    fast_l = eff_l > vmax * dt_l
    if reachable and (fast_l or _back_on_track(st, held, last, lat, lon, ts)):
        # back on the anchor's track (closer to where it leads than to where the held fixes
        # lead, or out of their reach): the held fixes were a spike -- unless the trace soon
        # jumps to where they led (then these fixes were stale): the last one is the witness
        n_held = int(st[S_HELD_N])
        w_dist = st[S_DIST_M]
        for h in range(n_held):
            w_dist += held[h, H_DIST_M]
        w = held[last]
        w_ts, w_lat, w_lon, w_acc = w[H_TS], w[H_LAT], w[H_LON], w[H_ACC]
        _drop_held_as_spikes(st, free, n_free)
        st[S_MODE] = MODE_NORMAL
        n_out = _accept_step(
            st,
            s,
            ts,
            lat,
            lon,
            acc,
            sin_a,
            cos_a,
            d_a,
            dt_a,
            dev,
            p,
            out_slot,
            out_ts,
            out_lat,
            out_lon,
            out_flag,
            n_out,
        )
        _set_witness(st, w_ts, w_lat, w_lon, w_acc, w_dist, float(n_held), ts)
        return ST_ACCEPTED, n_out, n_ev
    if fast_l and st[S_HELD_SOFT] > 0.0 and st[S_HELD_LEAD] == 1.0 and st[S_HELD_PLAUS] == 0.0:
        # the suspect fix was movement after all, and this one jumps on from it
        n_out = _release_held(
            st, held, free, n_free, s, F_NONE, 0, p, out_slot, out_ts, out_lat, out_lon, out_flag, n_out
        )
        held = _acquire(st, pool, free, n_free)
        _push_held(st, held, s, ts, lat, lon, acc, sin_l, cos_l, 1.0, d_l, eff_l)
        st[S_HELD_LEAD] = 1.0
        return ST_HELD, n_out, n_ev
    if fast_l and st[S_HELD_PLAUS] > 0.0:
        # a new jump after the held fixes had settled, before they were confirmed: they were not
        # a persistent displacement; start over from the anchor with this fix
        _drop_held_as_spikes(st, free, n_free)
        held = _acquire(st, pool, free, n_free)
        _push_held(st, held, s, ts, lat, lon, acc, sin_a, cos_a, 1.0, d_a, eff_a)
        st[S_HELD_LEAD] = 1.0
        return ST_HELD, n_out, n_ev
    _push_held(st, held, s, ts, lat, lon, acc, sin_l, cos_l, 1.0 if fast_l else 0.0, d_l, eff_l)
    if fast_l:
        st[S_HELD_LEAD] += 1.0
        if st[S_HELD_LEAD] >= p[P_RUN_DIRECT_STEPS] and _along_travel(st, held):
            n_out = _start_run(st, held, free, n_free, s, p, out_slot, out_ts, out_lat, out_lon, out_flag, n_out)
            return ST_ACCEPTED, n_out, n_ev
    else:
        st[S_HELD_PLAUS] += 1.0
        if (
            st[S_HELD_SOFT] > 0.0
            and st[S_HELD_LEAD] == 1.0
            and not _jump_is_teleport(st, held, p, _landing_eff(st, held), int(st[S_HELD_N]) - 1)
        ):
            # a fast but possible step that the trace carries on from: movement
            n_out = _release_held(
                st, held, free, n_free, s, F_NONE, 0, p, out_slot, out_ts, out_lat, out_lon, out_flag, n_out
            )
            st[S_MODE] = MODE_NORMAL
            return ST_ACCEPTED, n_out, n_ev
        land_ts = held[int(st[S_HELD_LEAD]) - 1, H_TS]
        full = st[S_HELD_N] >= HELD_MAX
        if st[S_HELD_PLAUS] >= p[P_CONFIRM_FIXES] and ((ts - land_ts) / 1000.0 >= p[P_CONFIRM_S] or full):
            n_ev, n_out = _confirm_jump(
                st, held, free, n_free, s, p, events, n_ev, out_slot, out_ts, out_lat, out_lon, out_flag, n_out
            )
            return ST_ACCEPTED, n_out, n_ev
    if st[S_HELD_N] >= HELD_MAX:
        # undecidable within the buffer (e.g. fast steps that never settle): take the new place
        # as the track without accusing anyone
        n_out = _release_held(
            st, held, free, n_free, s, F_BREAK, 1, p, out_slot, out_ts, out_lat, out_lon, out_flag, n_out
        )
        st[S_MODE] = MODE_NORMAL
        return ST_ACCEPTED, n_out, n_ev
    return ST_HELD, n_out, n_ev


@njit
def _load_hot(row: F64) -> tuple[float, ...]:
    """The fields the fast path keeps in local variables."""
    return (
        row[S_MODE],
        row[S_N_SEEN],
        row[S_SEEN_TS],
        row[S_SEEN_LAT],
        row[S_SEEN_LON],
        row[S_DT_N],
        row[S_DT_SUM],
        row[S_DT_SUM2],
        row[S_DT_PREV],
        row[S_DT_REPEAT],
        row[S_N_MOCK],
        row[S_N_MOCK_KNOWN],
        row[S_ACC_N],
        row[S_ACC_SUM],
        row[S_ACC_SUM2],
        row[S_N_USED],
        row[S_A_TS],
        row[S_A_LAT],
        row[S_A_LON],
        row[S_A_ACC],
        row[S_A_SIN],
        row[S_A_COS],
        row[S_A_POS_TS],
        row[S_DIST_M],
        row[S_GAP_M],
        row[S_GAP_N],
        row[S_GAP_S],
        row[S_V_N],
        row[S_V_SUM],
        row[S_V_SUM2],
        row[S_DEV_N],
        row[S_DEV_SUM],
        row[S_DEV_SUM2],
        row[S_DEV_CONTRA],
        row[S_COL_N],
        row[S_COL_HITS],
        row[S_PREV_DX],
        row[S_PREV_DY],
        row[S_PACE],
        row[S_P_PACE],
        row[S_P_VALID],
        row[S_P_TS],
        row[S_P_LAT],
        row[S_P_LON],
        row[S_P_ACC],
        row[S_A_STEP_M],
    )


@njit
def _store_hot(
    row: F64,
    mode: float,
    n_seen: float,
    seen_ts: float,
    seen_lat: float,
    seen_lon: float,
    dt_n: float,
    dt_sum: float,
    dt_sum2: float,
    dt_prev: float,
    dt_rep: float,
    mock_n: float,
    mock_known: float,
    acc_n: float,
    acc_sum: float,
    acc_sum2: float,
    used: float,
    a_ts: float,
    a_lat: float,
    a_lon: float,
    a_acc: float,
    a_sin: float,
    a_cos: float,
    a_pos_ts: float,
    dist: float,
    gap_m: float,
    gap_n: float,
    gap_s: float,
    v_n: float,
    v_sum: float,
    v_sum2: float,
    dev_n: float,
    dev_sum: float,
    dev_sum2: float,
    dev_contra: float,
    col_n: float,
    col_hits: float,
    prev_dx: float,
    prev_dy: float,
    pace: float,
    p_pace: float,
    p_valid: float,
    p_ts: float,
    p_lat: float,
    p_lon: float,
    p_acc: float,
    a_step: float,
) -> None:
    row[S_MODE] = mode
    row[S_N_SEEN] = n_seen
    row[S_SEEN_TS] = seen_ts
    row[S_SEEN_LAT] = seen_lat
    row[S_SEEN_LON] = seen_lon
    row[S_DT_N] = dt_n
    row[S_DT_SUM] = dt_sum
    row[S_DT_SUM2] = dt_sum2
    row[S_DT_PREV] = dt_prev
    row[S_DT_REPEAT] = dt_rep
    row[S_N_MOCK] = mock_n
    row[S_N_MOCK_KNOWN] = mock_known
    row[S_ACC_N] = acc_n
    row[S_ACC_SUM] = acc_sum
    row[S_ACC_SUM2] = acc_sum2
    row[S_N_USED] = used
    row[S_A_TS] = a_ts
    row[S_A_LAT] = a_lat
    row[S_A_LON] = a_lon
    row[S_A_ACC] = a_acc
    row[S_A_SIN] = a_sin
    row[S_A_COS] = a_cos
    row[S_A_POS_TS] = a_pos_ts
    row[S_DIST_M] = dist
    row[S_GAP_M] = gap_m
    row[S_GAP_N] = gap_n
    row[S_GAP_S] = gap_s
    row[S_V_N] = v_n
    row[S_V_SUM] = v_sum
    row[S_V_SUM2] = v_sum2
    row[S_DEV_N] = dev_n
    row[S_DEV_SUM] = dev_sum
    row[S_DEV_SUM2] = dev_sum2
    row[S_DEV_CONTRA] = dev_contra
    row[S_COL_N] = col_n
    row[S_COL_HITS] = col_hits
    row[S_PREV_DX] = prev_dx
    row[S_PREV_DY] = prev_dy
    row[S_PACE] = pace
    row[S_P_PACE] = p_pace
    row[S_P_VALID] = p_valid
    row[S_P_TS] = p_ts
    row[S_P_LAT] = p_lat
    row[S_P_LON] = p_lon
    row[S_P_ACC] = p_acc
    row[S_A_STEP_M] = a_step


@njit
def _kinematics(
    start: int,
    n_out: int,
    n_ev: int,
    slot: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    acc: F64,
    dev: F64,
    mock: I8,
    city: I64,
    state: F64,
    pool: F64,
    free: I64,
    n_free: I64,
    params: F64,
    status: I8,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
    events: F64,
) -> tuple[int, int, int]:
    """Fixes grouped by trip. A trip's state is copied to a contiguous row for its group; the
    common case -- a valid, in-order, not coarse fix reachable from the anchor while nothing is
    held -- runs on local variables (the fast path); at the first fix it does not take, the locals
    go back to the row, that fix goes through _step, and the locals are loaded again. Both do
    exactly the same arithmetic (tests compare the kernel with its twin). Locals, not the row:
    LLVM keeps them in registers, which makes the fast path about 4x faster than _step.

    Starts at fix `start` (a trip's first) and returns where it stopped: before a trip when the
    pool of held-fix buffers is empty (a trip needs at most one), so the caller grows it and
    carries on."""
    n = slot.shape[0]
    row = np.empty(N_STATE, np.float64)
    i = start
    while i < n:
        if n_free[0] == 0:
            return i, n_out, n_ev
        s = slot[i]
        p = params[city[s]]
        default_acc = p[P_DEFAULT_ACCURACY_M]
        coarse = p[P_COARSE_ACCURACY_M]
        gap_s_min = p[P_TUNNEL_GAP_S]
        warmup_ms = p[P_WARMUP_S] * 1000.0
        base_step_m = p[P_TELEPORT_OBLIQUE_MIN_M]  # a step this long takes _step (it sets the witness)
        for k in range(N_STATE):
            row[k] = state[s, k]
        start_ts = row[S_START_TS]  # set by a trip's first fix (never on the fast path)
        while i < n and slot[i] == s:
            # ---- hot state in locals
            (
                mode,
                n_seen,
                seen_ts,
                seen_lat,
                seen_lon,
                dt_n,
                dt_sum,
                dt_sum2,
                dt_prev,
                dt_rep,
                mock_n,
                mock_known,
                acc_n,
                acc_sum,
                acc_sum2,
                used,
                a_ts,
                a_lat,
                a_lon,
                a_acc,
                a_sin,
                a_cos,
                a_pos_ts,
                dist,
                gap_m,
                gap_n,
                gap_s,
                v_n,
                v_sum,
                v_sum2,
                dev_n,
                dev_sum,
                dev_sum2,
                dev_contra,
                col_n,
                col_hits,
                prev_dx,
                prev_dy,
                pace,
                p_pace,
                p_valid,
                p_ts,
                p_lat,
                p_lon,
                p_acc,
                a_step,
            ) = _load_hot(row)
            # the fast path, on the locals, while the trip's fixes take it
            while i < n and slot[i] == s:
                la = lat[i]
                lo = lon[i]
                t = float(ts[i])
                a_in = acc[i]
                a = a_in if a_in == a_in else default_acc
                fast = False
                if (
                    mode == MODE_NORMAL
                    and n_seen > 0.0
                    and la == la
                    and lo == lo
                    and not (la == 0.0 and lo == 0.0)
                    and t > seen_ts
                    and a <= coarse
                ):
                    d, sin_new, cos_new = haversine_step(a_lat, a_lon, a_sin, a_cos, la, lo)
                    dt_s = (t - a_ts) / 1000.0
                    fast = d < base_step_m and _plain(d, d - a_acc - a, pace, p, dt_s)
                if not fast:
                    break
                dt_ms = t - seen_ts
                if dt_n > 0.0 and dt_ms == dt_prev:
                    dt_rep += 1.0
                dt_prev = dt_ms
                dt_n += 1.0
                dt_sum += dt_ms
                dt_sum2 += dt_ms * dt_ms
                n_seen += 1.0
                seen_ts = t
                seen_lat = la
                seen_lon = lo
                m = mock[i]
                if m >= 0:
                    mock_known += 1.0
                    if m == 1:
                        mock_n += 1.0
                if a_in == a_in:
                    acc_n += 1.0
                    acc_sum += a_in
                    acc_sum2 += a_in * a_in
                used += 1.0
                if d <= NOISE_GATE * (a_acc + a):
                    a_ts = t  # the same place seen again
                else:
                    flag = F_NONE
                    dist += d
                    if dt_s >= gap_s_min:
                        gap_m += d
                        gap_n += 1.0
                        gap_s += dt_s
                        flag = F_GAP
                    if dt_s <= 60.0 and a_pos_ts == a_ts:
                        v = d / dt_s
                        v_n += 1.0
                        v_sum += v
                        v_sum2 += v * v
                        dv = dev[i]
                        if dt_s <= 30.0 and dv == dv:
                            dev_n += 1.0
                            dev_sum += dv
                            dev_sum2 += dv * dv
                            if _contradicts(row[S_A_DEV], dv, v):
                                dev_contra += 1.0
                    dlon = lo - a_lon
                    if dlon > 180.0:
                        dlon -= 360.0
                    elif dlon < -180.0:
                        dlon += 360.0
                    dy = (la - a_lat) * M_PER_DEG
                    dx = dlon * M_PER_DEG * cos_new
                    norm2 = (prev_dx * prev_dx + prev_dy * prev_dy) * (dx * dx + dy * dy)
                    if norm2 > 0.0:
                        col_n += 1.0
                        cross = prev_dx * dy - prev_dy * dx
                        if cross * cross < COLLINEAR_SIN * COLLINEAR_SIN * norm2 and prev_dx * dx + prev_dy * dy > 0.0:
                            col_hits += 1.0
                    prev_dx = dx
                    prev_dy = dy
                    p_pace = pace
                    pace = _paced(pace, d, dt_s, (t - a_pos_ts) / 1000.0, t - start_ts >= warmup_ms)
                    p_valid = 1.0
                    p_ts = a_ts
                    p_lat = a_lat
                    p_lon = a_lon
                    p_acc = a_acc
                    a_step = d
                    a_pos_ts = t
                    a_ts = t
                    a_lat = la
                    a_lon = lo
                    a_acc = a
                    a_sin = sin_new
                    a_cos = cos_new
                    row[S_A_DEV] = _known_speed(dev[i])
                    out_slot[n_out] = s
                    out_ts[n_out] = ts[i]
                    out_lat[n_out] = la
                    out_lon[n_out] = lo
                    out_flag[n_out] = flag
                    n_out += 1
                status[i] = ST_ACCEPTED
                i += 1
            # everything else on the row: the locals stored, one step, then loaded again
            _store_hot(
                row,
                mode,
                n_seen,
                seen_ts,
                seen_lat,
                seen_lon,
                dt_n,
                dt_sum,
                dt_sum2,
                dt_prev,
                dt_rep,
                mock_n,
                mock_known,
                acc_n,
                acc_sum,
                acc_sum2,
                used,
                a_ts,
                a_lat,
                a_lon,
                a_acc,
                a_sin,
                a_cos,
                a_pos_ts,
                dist,
                gap_m,
                gap_n,
                gap_s,
                v_n,
                v_sum,
                v_sum2,
                dev_n,
                dev_sum,
                dev_sum2,
                dev_contra,
                col_n,
                col_hits,
                prev_dx,
                prev_dy,
                pace,
                p_pace,
                p_valid,
                p_ts,
                p_lat,
                p_lon,
                p_acc,
                a_step,
            )
            if i < n and slot[i] == s:
                st_i, n_out, n_ev = _step(
                    s,
                    ts[i],
                    lat[i],
                    lon[i],
                    acc[i],
                    dev[i],
                    mock[i],
                    row,
                    pool,
                    free,
                    n_free,
                    p,
                    out_slot,
                    out_ts,
                    out_lat,
                    out_lon,
                    out_flag,
                    n_out,
                    events,
                    n_ev,
                )
                status[i] = st_i
                start_ts = row[S_START_TS]
                i += 1
        for k in range(N_STATE):
            state[s, k] = row[k]
    return n, n_out, n_ev


@njit
def _ended_on_a_run(st: F64, held: F64, p: F64) -> bool:
    """The held fixes start with a run (_raced) and the trace stayed at its end until the trip
    ended (a fast-forward to the dropoff): what the run would have been confirmed as, had the
    trip gone on."""
    lead = int(st[S_HELD_LEAD])
    run_eff = 0.0
    for h in range(lead):
        run_eff += held[h, H_EFF_M]
    run_s = (held[lead - 1, H_TS] - st[S_A_TS]) / 1000.0
    return st[S_HELD_PLAUS] >= 1.0 and _raced(st, held, p, run_eff, run_s)


@njit
def _finish(
    slots: I64,
    city: I64,
    state: F64,
    pool: F64,
    free: I64,
    n_free: I64,
    params: F64,
    events: F64,
    out_slot: I64,
    out_ts: I64,
    out_lat: F64,
    out_lon: F64,
    out_flag: I8,
) -> tuple[int, int]:
    n_ev = 0
    n_out = 0
    row = np.empty(N_STATE, np.float64)
    for i in range(slots.shape[0]):
        s = slots[i]
        p = params[city[s]]
        for k in range(N_STATE):
            row[k] = state[s, k]
        if row[S_MODE] == MODE_RUN:
            n_ev = _close_run(row, s, p, events, n_ev)
        elif row[S_MODE] == MODE_HOLD:
            held = pool[int(row[S_HELD_SLOT]) - 1]
            if _ended_on_a_run(row, held, p):
                n_ev, n_out = _confirm_jump(
                    row, held, free, n_free, s, p, events, n_ev, out_slot, out_ts, out_lat, out_lon, out_flag, n_out
                )
            else:
                # the trip ended before the held fixes were confirmed: never accuse on a guess
                _drop_held_as_spikes(row, free, n_free)
                row[S_MODE] = MODE_NORMAL
        for k in range(N_STATE):
            state[s, k] = row[k]
    return n_ev, n_out


# ---- public wrappers --------------------------------------------------------------------------


class KinematicsOutput:
    """What one kernel call produced. Accepted fixes are in order per trip."""

    __slots__ = ("status", "acc_slot", "acc_ts", "acc_lat", "acc_lon", "acc_flag", "events")

    def __init__(
        self,
        status: I8,
        acc_slot: I64,
        acc_ts: I64,
        acc_lat: F64,
        acc_lon: F64,
        acc_flag: I8,
        events: F64,
    ) -> None:
        self.status = status
        self.acc_slot = acc_slot
        self.acc_ts = acc_ts
        self.acc_lat = acc_lat
        self.acc_lon = acc_lon
        self.acc_flag = acc_flag
        self.events = events


def _check(name: str, arr: Any, dtype: DTypeLike, n: int) -> None:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if arr.dtype != dtype:
        raise TypeError(
            f"{name} must have dtype {np.dtype(dtype).name}, got {arr.dtype.name}: use {name}.astype(np.{np.dtype(dtype).name})"
        )
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with length {n} (like slot), got shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be contiguous: use np.ascontiguousarray({name})")


def _check_tables(state: F64, pool: HeldPool, params: F64, city: I64) -> None:
    if state.dtype != np.float64 or state.ndim != 2 or state.shape[1] != N_STATE:
        raise ValueError(f"state must be float64 (n_slots, {N_STATE}): build it with new_state(n_slots)")
    if not state.flags.c_contiguous:
        raise ValueError("state must be C-contiguous (a row per trip): build it with new_state(n_slots)")
    if type(pool) is not HeldPool:  # a subclass lends buffers of another shape
        raise TypeError(f"pool must be a HeldPool, got {type(pool).__name__}")
    if params.dtype != np.float64 or params.ndim != 2 or params.shape[1] != N_PARAMS:
        raise ValueError(f"params must be float64 (n_cities, {N_PARAMS})")
    if not params.flags.c_contiguous:
        raise ValueError("params must be C-contiguous: use np.ascontiguousarray(params)")
    _check("city", city, np.int64, state.shape[0])
    if city.size and (city.min() < 0 or city.max() >= params.shape[0]):
        raise ValueError("city holds a row index outside params")
    if np.any(params[:, P_CONFIRM_FIXES] > HELD_MAX - 2):
        raise ValueError(f"confirm_fixes must be <= {HELD_MAX - 2}")


def _accepted_stream(cap: int) -> tuple[I64, I64, F64, F64, I8]:
    """Room for cap accepted fixes: slot, ts, lat, lon, flag."""
    return (
        np.empty(cap, np.int64),
        np.empty(cap, np.int64),
        np.empty(cap, np.float64),
        np.empty(cap, np.float64),
        np.empty(cap, np.int8),
    )


def kinematics(
    slot: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    accuracy_m: F64,
    speed_mps: F64,
    mock: I8,
    city: I64,
    state: F64,
    pool: HeldPool,
    params: F64,
) -> KinematicsOutput:
    """Run the state machine over a batch of fixes sorted by (slot, arrival).

    slot int64 (row of state), ts int64 ms, lat/lon float64 degrees, accuracy_m and speed_mps
    float64 (NaN = not reported), mock int8 (-1 unknown, 0, 1); city int64 per state row, the row
    of params (float64, P_* columns) to use. state and pool (a HeldPool) are updated in place.
    """
    n = slot.shape[0] if isinstance(slot, np.ndarray) else -1
    _check("slot", slot, np.int64, n)
    _check("ts", ts, np.int64, n)
    _check("lat", lat, np.float64, n)
    _check("lon", lon, np.float64, n)
    _check("accuracy_m", accuracy_m, np.float64, n)
    _check("speed_mps", speed_mps, np.float64, n)
    _check("mock", mock, np.int8, n)
    _check_tables(state, pool, params, city)
    step = np.diff(slot)
    if n > 1 and step.min() < 0:
        raise ValueError(
            "fixes must be sorted by slot (stable, keeping arrival order): use np.argsort(slot, kind='stable')"
        )
    if n and (slot[0] < 0 or slot[-1] >= state.shape[0]):
        raise ValueError("slot holds a row index outside state")
    # every fix is emitted at most once; held fixes of earlier batches may be released now
    groups = 1 + int(np.count_nonzero(step)) if n else 0
    cap = n + HELD_MAX * groups
    status = np.empty(n, dtype=np.int8)
    out = _accepted_stream(cap)
    events = np.empty((max(n, 1), N_EVENT), dtype=np.float64)
    i = n_out = n_ev = 0
    while True:
        i, n_out, n_ev = _kinematics(
            i,
            n_out,
            n_ev,
            slot,
            ts,
            lat,
            lon,
            accuracy_m,
            speed_mps,
            mock,
            city,
            state,
            pool.buf,
            pool.free,
            pool.n_free,
            params,
            status,
            *out,
            events,
        )
        if i >= n:
            break
        pool.grow()  # ran out of held-fix buffers before a trip: more, and carry on
    return KinematicsOutput(
        status, out[0][:n_out], out[1][:n_out], out[2][:n_out], out[3][:n_out], out[4][:n_out], events[:n_ev]
    )


def finish(slots: I64, city: I64, state: F64, pool: HeldPool, params: F64) -> KinematicsOutput:
    """Trip end for the given slots: close a running fast run, confirm a run the trace stayed at
    the end of, drop other unconfirmed held fixes. Returns the events (impossible_speed runs that
    lasted to the end) and the fixes accepted now (status is empty: no fix came in)."""
    _check("slots", slots, np.int64, slots.shape[0] if isinstance(slots, np.ndarray) else -1)
    _check_tables(state, pool, params, city)
    events = np.empty((max(slots.shape[0], 1), N_EVENT), dtype=np.float64)
    cap = HELD_MAX * slots.shape[0]
    out = _accepted_stream(cap)
    n_ev, n_out = _finish(slots, city, state, pool.buf, pool.free, pool.n_free, params, events, *out)
    return KinematicsOutput(
        np.empty(0, np.int8),
        out[0][:n_out],
        out[1][:n_out],
        out[2][:n_out],
        out[3][:n_out],
        out[4][:n_out],
        events[:n_ev],
    )
