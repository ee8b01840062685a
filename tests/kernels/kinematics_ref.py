"""Pure-Python twin of kernels/kinematics.py: one object per trip, plain floats, no Numba.

Written for reading, not speed. tests/kernels/test_kinematics.py feeds both the same fixes and
requires the same statuses, accepted fixes, events and counters.
"""

import math
from dataclasses import dataclass, field

from tripguard.kernels import kinematics as K
from tripguard.kernels.geo import DEG, haversine_m_np


def _dist(lat1, lon1, lat2, lon2):
    return float(haversine_m_np(lat1, lon1, lat2, lon2))


def _vec(a, b):
    """Local metric vector from fix a to fix b (east, north), as the kernel's _step_vec."""
    dlon = b.lon - a.lon
    if dlon > 180.0:
        dlon -= 360.0
    elif dlon < -180.0:
        dlon += 360.0
    return dlon * K.M_PER_DEG * math.cos(b.lat * DEG), (b.lat - a.lat) * K.M_PER_DEG


def _dot(u, v):
    return u[0] * v[0] + u[1] * v[1]


def _norm(u):
    return math.sqrt(u[0] * u[0] + u[1] * u[1])


@dataclass
class Fix:
    ts: float
    lat: float
    lon: float
    acc: float
    fast: bool = False
    dist_m: float = 0.0  # from the previous fix (the anchor for the first held one)
    eff_m: float = 0.0


@dataclass
class TripRef:
    params: dict
    mode: str = "empty"
    anchor: Fix | None = None
    anchor_pos_ts: float = 0.0  # when the anchor's position was set
    predecessor: Fix | None = None  # the anchor before, when reached by an ordinary step
    anchor_step_m: float = 0.0
    pace: float = 0.0  # recent pace: decaying max of step speeds
    predecessor_pace: float = 0.0  # the pace when the predecessor was the anchor
    witness: dict | None = None  # a place the trip may really have been before the fixes it shows now
    n_witnessed: int = 0  # jumps explained by the witness (the tests check the streams exercise it)
    seen: tuple | None = None  # (ts, lat, lon)
    start_ts: float = 0.0
    held: list = field(default_factory=list)
    lead: int = 0
    plaus: int = 0
    soft: bool = False  # the first held fix was reachable, only suspect (too fast for the trip's pace)
    run: dict | None = None
    prev_vec: tuple = (0.0, 0.0)
    counts: dict = field(
        default_factory=lambda: dict(
            used=0,
            late=0,
            dup=0,
            invalid=0,
            spike=0,
            coarse=0,
            dist_m=0.0,
            gap_m=0.0,
            gap_n=0,
            gap_s=0.0,
            jump_m=0.0,
            mock=0,
            mock_known=0,
            dev_n=0,
            dev_contra=0,
            v_n=0,
            dt_n=0,
            dt_repeat=0,
            acc_n=0,
            col_n=0,
            col_hits=0,
        )
    )
    dt_prev: float = 0.0
    anchor_dev: float = math.nan  # the device speed reported with the anchor's fix

    # -- output sinks, set by the caller
    accepted: list = field(default_factory=list)  # (ts, lat, lon, flag)
    events: list = field(default_factory=list)  # dicts

    def fix(self, ts, lat, lon, acc_in, dev, mock):
        c = self.counts
        if math.isnan(lat) or math.isnan(lon) or (lat == 0.0 and lon == 0.0):
            c["invalid"] += 1
            return K.ST_INVALID
        if self.seen is not None:
            if ts < self.seen[0]:
                c["late"] += 1
                return K.ST_LATE
            if ts == self.seen[0]:
                if (lat, lon) == self.seen[1:]:
                    c["dup"] += 1
                    return K.ST_DUPLICATE
                c["late"] += 1
                return K.ST_LATE
            dt_ms = ts - self.seen[0]
            if c["dt_n"] > 0 and dt_ms == self.dt_prev:
                c["dt_repeat"] += 1
            self.dt_prev = dt_ms
            c["dt_n"] += 1
        self.seen = (ts, lat, lon)
        if mock >= 0:
            c["mock_known"] += 1
            c["mock"] += mock == 1
        acc = self.params["default_accuracy_m"] if math.isnan(acc_in) else acc_in
        if acc > self.params["coarse_accuracy_m"]:
            c["coarse"] += 1
            return K.ST_COARSE
        if not math.isnan(acc_in):
            c["acc_n"] += 1

        if self.mode == "empty":
            self.start_ts = ts
            c["used"] += 1
            self.mode = "normal"
            self.prev_vec = (0.0, 0.0)
            self.anchor = Fix(ts, lat, lon, acc)
            self.anchor_pos_ts, self.predecessor, self.pace, self.anchor_dev = ts, None, 0.0, dev
            self.accepted.append((ts, lat, lon, K.F_NONE))
            return K.ST_ACCEPTED

        vmax = self.params["max_speed_mps"]
        a = self.anchor
        d_a = _dist(a.lat, a.lon, lat, lon)
        dt_a = (ts - a.ts) / 1000.0
        eff_a = d_a - a.acc - acc
        reachable = eff_a <= vmax * dt_a

        if self.mode == "normal":
            if reachable and (d_a <= self.params["suspect_min_m"] or eff_a <= self._suspect_reach(dt_a)):
                self._accept(ts, lat, lon, acc, d_a, dt_a, dev)
                return K.ST_ACCEPTED
            self.held = [Fix(ts, lat, lon, acc, not reachable, d_a, eff_a)]
            self.lead, self.plaus, self.soft, self.mode = 1, 0, reachable, "hold"
            return K.ST_HELD

        if self.mode == "run":
            if not reachable:
                self._run_step(ts, lat, lon, d_a, eff_a, dt_a)
                c["used"] += 1
                self._move(ts, lat, lon, acc, d_a, dt_a, dev, K.F_FAST)
                return K.ST_ACCEPTED
            self._close_run()
            self._accept(ts, lat, lon, acc, d_a, dt_a, dev)
            return K.ST_ACCEPTED

        # hold
        p = self.params
        last = self.held[-1]
        d_l = _dist(last.lat, last.lon, lat, lon)
        eff_l = d_l - last.acc - acc
        fast_l = eff_l > vmax * (ts - last.ts) / 1000.0
        if reachable and (fast_l or self._back_on_track(ts, lat, lon)):
            # a spike -- unless the trace soon jumps to where it led: the last held fix is the witness
            w_dist = self.counts["dist_m"] + sum(f.dist_m for f in self.held)
            w, n_held = self.held[-1], len(self.held)
            self._drop_held()
            self.mode = "normal"
            self._accept(ts, lat, lon, acc, d_a, dt_a, dev)
            self._set_witness(Fix(w.ts, w.lat, w.lon, w.acc), w_dist, n_held, ts)
            return K.ST_ACCEPTED
        if fast_l and self.soft and self.lead == 1 and self.plaus == 0:
            # the suspect fix was movement after all, and this one jumps on from it
            self._release(K.F_NONE)
            self.held = [Fix(ts, lat, lon, acc, True, d_l, eff_l)]
            self.lead, self.plaus, self.soft = 1, 0, False
            return K.ST_HELD
        if fast_l and self.plaus > 0:
            self._drop_held()
            self.held = [Fix(ts, lat, lon, acc, True, d_a, eff_a)]
            self.lead, self.soft = 1, False
            return K.ST_HELD
        self.held.append(Fix(ts, lat, lon, acc, fast_l, d_l, eff_l))
        if fast_l:
            self.lead += 1
            if self.lead >= p["speed_run_direct_steps"] and self._along_travel():
                self._start_run()
                return K.ST_ACCEPTED
        else:
            self.plaus += 1
            if self.soft and self.lead == 1 and not self._teleport_candidate():
                # a fast but possible step that the trace carries on from: movement
                self._release(K.F_NONE)
                self.mode = "normal"
                return K.ST_ACCEPTED
            land = self.held[self.lead - 1]
            full = len(self.held) >= K.HELD_MAX
            if self.plaus >= p["confirm_fixes"] and ((ts - land.ts) / 1000.0 >= p["confirm_s"] or full):
                self._confirm_jump()
                return K.ST_ACCEPTED
        if len(self.held) >= K.HELD_MAX:
            self._release(K.F_BREAK)
            self.mode = "normal"
            return K.ST_ACCEPTED
        return K.ST_HELD

    def finish(self):
        if self.mode == "run":
            self._close_run()
        elif self.mode == "hold":
            run = self.held[: self.lead]
            if self.plaus >= 1 and self._raced(sum(f.eff_m for f in run), (run[-1].ts - self.anchor.ts) / 1000.0):
                self._confirm_jump()  # a run the trace stayed at the end of
            else:
                self._drop_held()
                self.mode = "normal"

    # -- helpers
    def _suspect_reach(self, dt_s):
        p = self.params
        return min(max(p["suspect_min_mps"], p["suspect_pace_factor"] * self.pace), p["max_speed_mps"]) * dt_s

    def _back_on_track(self, ts, lat, lon):
        """Closer to where the anchor's track leads at ts than to where the last held fix leads,
        both carried on at the anchor's last velocity, for at most K.TRACK_HORIZON_S."""
        a, pr = self.anchor, self.predecessor
        v = (0.0, 0.0)
        if pr is not None and self.anchor_pos_ts > pr.ts:
            dt = (self.anchor_pos_ts - pr.ts) / 1000.0
            v = (self.prev_vec[0] / dt, self.prev_vec[1] / dt)
        n = _vec(a, Fix(ts, lat, lon, 0.0))
        h = _vec(a, self.held[-1])
        t_a = min((ts - self.anchor_pos_ts) / 1000.0, K.TRACK_HORIZON_S)
        t_h = min((ts - self.held[-1].ts) / 1000.0, K.TRACK_HORIZON_S)
        da = (n[0] - v[0] * t_a, n[1] - v[1] * t_a)
        dh = (n[0] - h[0] - v[0] * t_h, n[1] - h[1] - v[1] * t_h)
        return _dot(da, da) <= _dot(dh, dh)

    def _in_warmup(self):
        return (self.anchor.ts - self.start_ts) < self.params["warmup_s"] * 1000.0

    def _along_travel(self):
        """The fast held steps go on: none turns back (more than 135 deg) from the one before it."""
        prev = (0.0, 0.0)
        at = self.anchor
        for f in self.held[: self.lead]:
            v = _vec(at, f)
            if _dot(prev, v) < K.RUN_MAX_TURN_COS * _norm(prev) * _norm(v):
                return False
            prev, at = v, f
        return True

    def _oblique(self, post):
        """The jump to the landing goes across the direction of travel before it and after it."""
        land = self.held[self.lead - 1]
        jump = _vec(self.anchor, land)
        after = _vec(land, post)
        before = self.prev_vec
        nj, nb, na = _norm(jump), _norm(before), _norm(after)
        if nb == 0.0 or na < K.HEADING_MIN_M or nj == 0.0:
            return False
        return _dot(jump, before) < K.OBLIQUE_COS * nj * nb and _dot(jump, after) < K.OBLIQUE_COS * nj * na

    def _raced(self, run_eff, run_s):
        p = self.params
        return (
            self.lead >= p["speed_run_min_steps"]
            and self._along_travel()
            and run_eff >= p["speed_run_min_m"]
            and run_s >= p["speed_run_min_s"]
        )

    def _jump_is_teleport(self, eff_m, post):
        p = self.params
        if self._in_warmup():
            return False
        if self.soft and self.held[self.lead - 1].ts - self.anchor.ts >= p["tunnel_gap_s"] * 1000.0:
            return False
        return eff_m >= p["teleport_min_m"] or (eff_m >= p["teleport_oblique_min_m"] and self._oblique(post))

    def _teleport_candidate(self):
        land = self.held[self.lead - 1]
        eff_m = _dist(self.anchor.lat, self.anchor.lon, land.lat, land.lon) - self.anchor.acc - land.acc
        return self._jump_is_teleport(eff_m, self.held[-1])

    def _accept(self, ts, lat, lon, acc, d, dt_s, dev):
        self.counts["used"] += 1
        if d <= K.NOISE_GATE * (self.anchor.acc + acc):
            self.anchor.ts = ts
            return
        self._move(ts, lat, lon, acc, d, dt_s, dev, K.F_NONE)

    def _move(self, ts, lat, lon, acc, d, dt_s, dev, flag):
        c = self.counts
        if flag == K.F_FAST:
            c["dist_m"] += d
            self.prev_vec = (0.0, 0.0)
        elif flag == K.F_NONE:
            c["dist_m"] += d
            if dt_s >= self.params["tunnel_gap_s"]:
                c["gap_m"] += d
                c["gap_n"] += 1
                c["gap_s"] += dt_s
                flag = K.F_GAP
            if dt_s <= 60.0 and self.anchor_pos_ts == self.anchor.ts:
                v = d / dt_s
                c["v_n"] += 1
                if dt_s <= 30.0 and not math.isnan(dev):
                    c["dev_n"] += 1
                    # the mean speed of a step against the mean of its ends' device speeds
                    ref = dev if math.isnan(self.anchor_dev) else (self.anchor_dev + dev) / 2.0
                    c["dev_contra"] += abs(ref - v) > max(5.0, 0.5 * max(ref, v))
            dlon = lon - self.anchor.lon
            if dlon > 180.0:
                dlon -= 360.0
            elif dlon < -180.0:
                dlon += 360.0
            dy = (lat - self.anchor.lat) * K.M_PER_DEG
            dx = dlon * K.M_PER_DEG * math.cos(lat * DEG)
            pdx, pdy = self.prev_vec
            norm = math.sqrt((pdx * pdx + pdy * pdy) * (dx * dx + dy * dy))
            if norm > 0.0:
                c["col_n"] += 1
                c["col_hits"] += abs(pdx * dy - pdy * dx) < K.COLLINEAR_SIN * norm and pdx * dx + pdy * dy > 0.0
            self.prev_vec = (dx, dy)
        else:
            self.prev_vec = (0.0, 0.0)
        if flag in (K.F_NONE, K.F_GAP):
            if d >= self.params["teleport_oblique_min_m"]:
                a = self.anchor
                self._set_witness(Fix(a.ts, a.lat, a.lon, a.acc), c["dist_m"] - d, 0, ts)
        else:
            self.witness = None
        self.predecessor_pace = self.pace
        jump = flag in (K.F_BREAK, K.F_TELEPORT)
        if not jump and dt_s > 0.0 and ts - self.start_ts >= self.params["warmup_s"] * 1000.0:
            x = (ts - self.anchor_pos_ts) / 1000.0 / K.PACE_TAU_S
            self.pace = max(d / dt_s, self.pace / (1.0 + x + 0.5 * x * x))
        self.predecessor = None if jump else Fix(self.anchor.ts, self.anchor.lat, self.anchor.lon, self.anchor.acc)
        self.anchor_step_m = d
        self.anchor = Fix(ts, lat, lon, acc)
        self.anchor_pos_ts = ts
        self.anchor_dev = dev
        self.accepted.append((ts, lat, lon, flag))

    def _set_witness(self, fix, dist_m, revive, since_ts):
        """Before the fix at since_ts is counted."""
        self.witness = dict(
            fix=fix, pace=self.pace, dist_m=dist_m, used=self.counts["used"] - 1, revive=revive, since_ts=since_ts
        )

    def _drop_held(self):
        self.counts["spike"] += len(self.held)
        self.held, self.lead, self.plaus, self.soft = [], 0, 0, False

    def _release(self, lead_flag, n_lead=1):
        """Accept the held fixes in order: the first n_lead with lead_flag (F_BREAK: a jump kept out
        of the distance; F_FAST: a run, its distance counted), the rest as ordinary steps."""
        p = self.params
        soft = lead_flag == K.F_NONE and self.soft
        soft_cap = min(max(p["suspect_min_mps"], p["suspect_pace_factor"] * self.pace), p["max_speed_mps"])
        for h, f in enumerate(self.held):
            dt_s = (f.ts - self.anchor.ts) / 1000.0
            flag = lead_flag if h < n_lead else K.F_NONE
            if flag in (K.F_BREAK, K.F_TELEPORT):
                self.counts["jump_m"] += f.dist_m
            self.counts["used"] += 1
            self._move(f.ts, f.lat, f.lon, f.acc, f.dist_m, dt_s, math.nan, flag)
            if h == 0 and soft:
                self.pace = min(self.pace, soft_cap)  # a suspect step raises the pace to the limit it broke
        self.held, self.lead, self.plaus, self.soft = [], 0, 0, False

    def _run_step(self, ts, lat, lon, d, eff, dt_s):
        r = self.run
        r["steps"] += 1
        r["dist"] += d
        r["eff"] += eff
        r["maxv"] = max(r["maxv"], d / dt_s)
        r["last"] = (ts, lat, lon)

    def _start_run(self):
        a = self.anchor
        self.run = dict(steps=0, dist=0.0, eff=0.0, maxv=0.0, first=(a.ts, a.lat, a.lon), last=None)
        prev_ts = a.ts
        for f in self.held:
            self._run_step(f.ts, f.lat, f.lon, f.dist_m, f.eff_m, (f.ts - prev_ts) / 1000.0)
            prev_ts = f.ts
        self._release(K.F_FAST, len(self.held))
        self.mode = "run"

    def _close_run(self):
        r, p = self.run, self.params
        duration_s = (r["last"][0] - r["first"][0]) / 1000.0
        if (
            r["steps"] >= p["speed_run_min_steps"]
            and r["eff"] >= p["speed_run_min_m"]
            and duration_s >= p["speed_run_min_s"]
        ):
            self.events.append(
                dict(
                    kind=K.EV_IMPOSSIBLE_SPEED,
                    ts=r["last"][0],
                    dist_m=r["dist"],
                    eff_m=r["eff"],
                    dt_s=duration_s,
                    speed_mps=r["dist"] / duration_s,
                    max_speed_mps=r["maxv"],
                    n_fixes=r["steps"] + 1,
                    points=[r["first"], r["last"]],
                )
            )
        self.run = None
        self.mode = "normal"

    def _confirm_jump(self):
        """The held fixes continue from a new place: a run that raced there, a teleport, or a
        jump that accuses nobody (re-acquisition, a short step along the way)."""
        a, p = self.anchor, self.params
        land = self.held[self.lead - 1]
        jump_m = _dist(a.lat, a.lon, land.lat, land.lon)
        eff_m = jump_m - a.acc - land.acc
        pr = self.predecessor
        d_p = _dist(pr.lat, pr.lon, land.lat, land.lon) if pr is not None else 0.0
        pace = min(max(2.0 * self.predecessor_pace, K.SPIKE_PACE_MIN_MPS), p["max_speed_mps"])
        seen_once = a.ts == self.anchor_pos_ts
        run = self.held[: self.lead]
        run_m = sum(f.dist_m for f in run)
        run_eff = sum(f.eff_m for f in run)
        run_s = (land.ts - a.ts) / 1000.0
        lead_flag, n_lead = K.F_BREAK, 1
        anchor_was_spike = pr is not None and seen_once and d_p - pr.acc - land.acc <= pace * (land.ts - pr.ts) / 1000.0
        w = self.witness
        witnessed = False
        if not anchor_was_spike and w is not None:
            since = self.counts["used"] - w["used"]
            brief = since < p["confirm_fixes"] or (self.held[0].ts - w["since_ts"]) / 1000.0 < p["confirm_s"]
            if brief:
                d_w = _dist(w["fix"].lat, w["fix"].lon, land.lat, land.lon)
                w_pace = min(max(w["pace"], p["suspect_min_mps"]), p["max_speed_mps"])
                witnessed = d_w - w["fix"].acc - land.acc <= w_pace * (land.ts - w["fix"].ts) / 1000.0
        if anchor_was_spike:
            # the anchor was a spike that looked like movement; this is the way back
            self.counts["dist_m"] += d_p - self.anchor_step_m
            self.counts["used"] -= 1
            self.counts["spike"] += 1
            self.held[0].dist_m = 0.0
        elif witnessed:
            # the fixes since the witness were the glitch: the trip went from it to the new place
            self.n_witnessed += 1
            self.counts["dist_m"] = w["dist_m"] + d_w
            self.counts["used"] += w["revive"] - since
            self.counts["spike"] += since - w["revive"]
            self.held[0].dist_m = 0.0
        elif self._raced(run_eff, run_s):
            maxv, prev_ts = 0.0, a.ts
            for f in run:
                maxv = max(maxv, f.dist_m / ((f.ts - prev_ts) / 1000.0))
                prev_ts = f.ts
            self.events.append(
                dict(
                    kind=K.EV_IMPOSSIBLE_SPEED,
                    ts=land.ts,
                    dist_m=run_m,
                    eff_m=run_eff,
                    dt_s=run_s,
                    speed_mps=run_m / run_s,
                    max_speed_mps=maxv,
                    n_fixes=self.lead + 1,
                    points=[(a.ts, a.lat, a.lon), (land.ts, land.lat, land.lon)],
                )
            )
            lead_flag, n_lead = K.F_FAST, self.lead
        elif self._jump_is_teleport(eff_m, self.held[-1]):
            dt_s = (land.ts - a.ts) / 1000.0
            after = self.held[self.lead - 1 :]
            chosen = after if len(after) <= K.N_EVENT_POINTS - 1 else after[: K.N_EVENT_POINTS - 2] + [after[-1]]
            self.events.append(
                dict(
                    kind=K.EV_TELEPORT,
                    ts=land.ts,
                    dist_m=jump_m,
                    eff_m=eff_m,
                    dt_s=dt_s,
                    speed_mps=eff_m / dt_s,
                    max_speed_mps=jump_m / dt_s,
                    n_fixes=len(self.held),
                    points=[(a.ts, a.lat, a.lon)] + [(f.ts, f.lat, f.lon) for f in chosen],
                )
            )
            lead_flag = K.F_TELEPORT
        elif self.soft and not self._in_warmup():
            lead_flag = K.F_NONE  # a possible step after all: the distance counts
        self._release(lead_flag, n_lead)
        self.mode = "normal"
