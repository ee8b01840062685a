"""The Engine: a batch of pings and trip events in, alerts and verdicts out. No I/O.

`tripguard replay` (files) and `tripguard run` (Kafka) feed the same Engine, so the offline
evaluation measures the streaming code path. For a given stream the output does not depend on
how the stream is cut into batches (tests/engine/test_batch_invariance.py).

Per batch:
1. rows -> trip slots; rows of trips closed earlier are late.
2. the lifecycle gate (kernels/lifecycle.py) decides every row: ping to the kinematics, ping
   buffered until its trip_started, trip event applied, late, duplicate; and which trips
   start and close.
3. trip events are applied in arrival order (city, planned route, fare claims).
4. the kinematics kernel runs over the pings of live trips, grouped by trip in arrival order
   (but for the fixes of a silence that a phone sends after a newer one: kernels/reorder.py
   puts them back in time order); its events become teleport / impossible_speed alerts at once.
   The fixes it accepts go to the corridor kernel for trips with a planned route: excursions
   become route_deviation alerts.
5. closed trips get their end-of-trip detectors and a verdict, and their slot is freed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from tripguard.config.files import CityTables
from tripguard.config.settings import Settings
from tripguard.contract import ALERT_KINDS, DroppedCounts, TripEnded, TripStarted, Verdict, record
from tripguard.detectors import Finding, with_related
from tripguard.detectors.fare import FareChecker
from tripguard.detectors.kinematics import KinematicsParams, impossible_speed_finding, teleport_finding
from tripguard.detectors.route import (
    Corridors,
    RouteParams,
    build_corridor,
    detour_finding,
    excursion_finding,
    latlng_to_cell,
    learned_finding,
)
from tripguard.detectors.spoofing import SpoofingParams, spoofing_finding
from tripguard.engine.alerts import AlertThresholds, make_alert
from tripguard.engine.batch import Batch
from tripguard.engine.pathlog import PathLog
from tripguard.engine.terms import EndTerms, StartTerms
from tripguard.engine.trips import NO_TS, TripMeta, TripTable
from tripguard.fare.tariff import Tariff, load_tariffs
from tripguard.geo import encode_integers, encode_polyline_array, route_latlon
from tripguard.kernels import corridor as C
from tripguard.kernels import kinematics as K
from tripguard.kernels import lifecycle as L
from tripguard.kernels import reorder as R
from tripguard.kernels.geo import haversine_m, local_latlon

if TYPE_CHECKING:
    from tripguard.detectors.learned_corridors import CorridorModel

UNKNOWN_CITY = "unknown"
# Kinds that displace the trace: the GPS distance of such a trip no longer measures the road
# driven, so a fare or distance finding on it follows from them (evidence.related names them).
DISPLACING_KINDS = ("teleport", "impossible_speed")


def upfront_priced(started: StartTerms | None) -> bool:
    """The rider pays the quote whatever the route (a fare above it is fare_inflation's): a longer
    route gains the driver nothing, so it is not called a detour."""
    return started is not None and started.quoted_fare is not None


@dataclass
class Output:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row of the batch, reason): dead letters

    def extend(self, other: Output) -> None:
        self.alerts.extend(other.alerts)
        self.verdicts.extend(other.verdicts)
        self.rejected.extend(other.rejected)


@dataclass
class EngineStats:
    """Counters over the engine's life (the per-trip ones are in each verdict)."""

    pings: int = 0
    trip_events: int = 0
    late_after_close: int = 0  # pings and events of trips already closed
    duplicate_events: int = 0
    start_after_implicit: int = 0
    trips_closed: int = 0
    used: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict(late=0, duplicate=0, invalid=0, spike=0, coarse=0))
    alerts_by_kind: dict[str, int] = field(default_factory=lambda: {k: 0 for k in ALERT_KINDS})
    alerts_below_threshold: int = 0  # findings under their city's [alerts] min_score, not raised


class Engine:
    def __init__(
        self,
        cities: CityTables,
        tariffs: dict[str, Tariff],
        end_grace_s: float = Settings.model_fields["end_grace_s"].default,
        idle_timeout_s: float = Settings.model_fields["idle_timeout_s"].default,
        orphan_wait_s: float = 120.0,
        clock: Callable[[], int] | None = None,
        corridor_model: CorridorModel | None = None,
    ):
        self.cities = cities
        self.tariffs = tariffs
        self.grace_ms = int(end_grace_s * 1000)
        self.idle_ms = int(idle_timeout_s * 1000)
        self.orphan_ms = int(orphan_wait_s * 1000)
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.corridor_model = corridor_model  # tripguard.detectors.learned_corridors.CorridorModel, optional
        self.trips = TripTable()
        self.watermark = NO_TS
        # trip_id -> (watermark at close, partition) of recently closed trips, to recognise late rows
        # (a dict keeps its insertion order, oldest first, at two thirds of an OrderedDict's
        # memory; the values are shared, see _close)
        self.closed: dict[str, tuple[int, int]] = {}
        self.stats = EngineStats()
        # per-city parameters; row i of the kinematics params matrix belongs to city_names[i]
        self.city_names: list[str] = []
        self.city_index: dict[str, int] = {}
        self.kin_params: list[KinematicsParams] = []
        self.spoof_params: list[SpoofingParams] = []
        self.fare_checkers: list[FareChecker] = []
        self.route_params: list[RouteParams] = []
        self.alert_thresholds: list[AlertThresholds] = []
        self.params_matrix = np.empty((0, K.N_PARAMS), np.float64)
        self.route_matrix = np.empty((0, C.N_ROUTE_PARAMS), np.float64)
        self._city_row(UNKNOWN_CITY)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], int] | None = None) -> Engine:
        """The engine the settings describe: the shipped tariffs and city parameters with the
        settings' override files on top, the learned-corridor model when one is named, and the
        trip-end timing (whose defaults, here and in __init__, are the settings' field defaults)."""
        model = None
        if settings.corridors is not None:
            from tripguard.detectors.learned_corridors import load

            model = load(settings.corridors)
        return cls(
            CityTables.load(settings.cities),
            load_tariffs(settings.tariffs),
            end_grace_s=settings.end_grace_s,
            idle_timeout_s=settings.idle_timeout_s,
            clock=clock,
            corridor_model=model,
        )

    # a trip's storage belongs to the TripTable (one grow and one release path); these are views
    @property
    def paths(self) -> PathLog:
        return self.trips.paths

    @property
    def corridors(self) -> Corridors:
        return self.trips.corridors

    # ---- cities -----------------------------------------------------------------------------

    def _city_row(self, city: str) -> int:
        row = self.city_index.get(city)
        if row is None:
            row = len(self.city_names)
            kp = self.cities.params(KinematicsParams, city, "kinematics")
            self.city_names.append(city)
            self.city_index[city] = row
            self.kin_params.append(kp)
            self.spoof_params.append(self.cities.params(SpoofingParams, city, "spoofing"))
            self.fare_checkers.append(FareChecker.for_city(self.cities, self.tariffs, city))
            rp = self.cities.params(RouteParams, city, "route")
            self.route_params.append(rp)
            self.alert_thresholds.append(self.cities.params(AlertThresholds, city, "alerts"))
            self.params_matrix = np.ascontiguousarray(np.vstack([self.params_matrix, kp.row()]))
            self.route_matrix = np.ascontiguousarray(np.vstack([self.route_matrix, rp.row()]))
        return row

    # ---- the batch --------------------------------------------------------------------------

    def process(self, batch: Batch, now_ms: int | None = None) -> Output:
        now_ms = self.clock() if now_ms is None else now_ms
        out = Output()
        n = len(batch)
        if n == 0:
            return out
        self.stats.pings += batch.n_pings
        self.stats.trip_events += len(batch.events)
        slot = self._slots(batch)
        live = np.flatnonzero(slot >= 0)
        t = self.trips
        action, started_at, closed_at, wm_end = L.gate(
            slot[live],
            batch.kind[live],
            batch.ts[live],
            self.watermark,
            t.phase,
            t.deadline,
            t.last_act,
            t.implicit,
            self.orphan_ms,
            self.idle_ms,
            self.grace_ms,
        )
        self.watermark = max(self.watermark, wm_end)
        row_action = np.full(n, L.ACT_LATE, np.int64)
        row_action[live] = action
        self.stats.late_after_close += int(np.count_nonzero(row_action == L.ACT_LATE))

        self._apply_events(batch, slot, row_action, out)
        started = np.flatnonzero(started_at != L.NO_ROW)
        self._implicit_starts(started)
        self._run_kinematics(batch, slot, row_action, started, out, now_ms)
        closing = np.flatnonzero(closed_at != L.NO_ROW)
        if closing.size:
            self._close(closing, out, now_ms, ended_by_default="idle_timeout")
        self._forget_closed()
        return out

    def flush(self, now_ms: int | None = None) -> Output:
        """End of input: every live trip is finalised (those still waiting for trip_started
        start without it)."""
        now_ms = self.clock() if now_ms is None else now_ms
        out = Output()
        slots = self.trips.live_slots()
        if slots.size == 0:
            return out
        orphans = slots[self.trips.phase[slots] == L.PH_ORPHAN]
        if orphans.size:
            self.trips.implicit[orphans] = 1
            self._implicit_starts(orphans)
            self._run_orphans(orphans, out, now_ms)
        self._close(slots, out, now_ms, ended_by_default="end_of_input")
        return out

    def close_ended(self, now_ms: int | None = None) -> Output:
        """Traffic paused (wall clock): close the trips whose trip_ended has arrived without
        waiting for the event-time grace to pass."""
        now_ms = self.clock() if now_ms is None else now_ms
        out = Output()
        slots = self.trips.live_slots()
        ended = slots[self.trips.phase[slots] == L.PH_ENDED]
        if ended.size:
            self._close(ended, out, now_ms, ended_by_default="trip_ended")
        return out

    @property
    def live_trips(self) -> int:
        return len(self.trips)

    # ---- steps ------------------------------------------------------------------------------

    def _slots(self, batch: Batch) -> np.ndarray:
        """Slot of each row's trip: a new slot for a new trip, -1 for a trip closed earlier."""
        t = self.trips
        names = batch.trip_names
        slots = t.index.lookup(batch.trip_code, names.blob, names.offsets)  # compiled: once per distinct id
        miss = np.flatnonzero(slots < 0)
        if miss.size:  # trips not live: new ones get a slot, in the order of their first row
            codes = batch.trip_code[miss]
            uniq, first = np.unique(codes, return_index=True)
            new = {}
            for k in np.argsort(first).tolist():
                i = int(miss[first[k]])
                trip_id = names.names[uniq[k]]
                new[int(uniq[k])] = (
                    -1
                    if trip_id in self.closed
                    else t.allocate(trip_id, batch.driver_names.names[batch.driver_code[i]], int(batch.partition[i]))
                )
            slots[miss] = np.fromiter(map(new.__getitem__, codes.tolist()), np.int64, count=codes.size)
        return slots

    def _apply_events(self, batch: Batch, slot: np.ndarray, row_action: np.ndarray, out: Output) -> None:
        t = self.trips
        for row in sorted(batch.events):
            event = batch.events[row]
            act = row_action[row]
            if act == L.ACT_LATE:
                continue
            if act == L.ACT_DUPLICATE:
                self.stats.duplicate_events += 1
                continue
            s = int(slot[row])
            meta = cast(TripMeta, t.meta[s])
            if isinstance(event, TripStarted):
                meta.started = StartTerms.of(event, meta.trip_id, meta.driver_id)
                if act == L.ACT_APPLY:
                    t.city[s] = self._city_row(event.city)
                else:  # ACT_START_AFTER_IMPLICIT: the parameters were chosen without it
                    self.stats.start_after_implicit += 1
                if event.planned_route is not None:
                    self._attach_route(s, event)
            elif isinstance(event, TripEnded):
                meta.ended = EndTerms.of(event, meta.trip_id, meta.driver_id)
                problem = (
                    self.fare_checkers[self._city_row(meta.city)].currency_problem(event) if meta.started else None
                )
                if problem:
                    meta.ended_row_rejected = problem
                    out.rejected.append((row, problem))

    def _attach_route(self, s: int, started: TripStarted) -> None:
        """Build the trip's corridor (off the hot path: once per trip) and start its excursion state."""
        rp = self.route_params[int(self.trips.city[s])]
        route = cast(np.ndarray, route_latlon(started.planned_route))
        cells = build_corridor(route, rp.h3_res, rp.ring)
        lat0, lon0, cos0, x, y, cum = C.project_route(route)
        self.corridors.add(s, cells, x, y, cum)
        st = self.trips.route[s]
        st[:] = 0.0
        st[C.R_ACTIVE], st[C.R_LAT0], st[C.R_LON0], st[C.R_COS0] = 1.0, lat0, lon0, cos0
        st[C.R_ROUTE_M] = cum[-1]
        if started.planned_duration_s:  # the ETA's pace along the route, which excursions are timed against
            st[C.R_REF_MPS] = cum[-1] / started.planned_duration_s

    def _implicit_starts(self, slots: np.ndarray) -> None:
        """Trips that start without trip_started use the default parameters."""
        t = self.trips
        for s in slots:
            if t.meta[s].started is None:
                t.city[s] = self.city_index[UNKNOWN_CITY]

    def _run_kinematics(
        self, batch: Batch, slot: np.ndarray, row_action: np.ndarray, started: np.ndarray, out: Output, now_ms: int
    ) -> None:
        t = self.trips
        ping = batch.kind == L.ROW_PING
        include = ping & (row_action == L.ACT_INCLUDE)
        buffered = ping & (row_action == L.ACT_BUFFER)
        if buffered.any():
            now_started = np.zeros(t.capacity, bool)
            now_started[started] = True
            release = buffered & now_started[np.maximum(slot, 0)]
            include |= release
            keep = np.flatnonzero(buffered & ~release)
            if keep.size:
                self._buffer_orphans(batch, slot, keep)
        rows = np.flatnonzero(include)
        cols = [
            slot[rows],
            batch.ts[rows],
            batch.lat[rows],
            batch.lon[rows],
            batch.accuracy_m[rows],
            batch.speed_mps[rows],
            batch.mock[rows],
        ]
        order_key = rows.astype(np.int64)
        # pings buffered in earlier batches go first, in their order, for trips that started now
        old = [s for s in started if t.meta[s].orphans]
        if old:
            buffered_cols = self._take_orphans(old)
            cols = [np.concatenate([buffered_cols[k], cols[k]]) for k in range(7)]
            n_old = len(cols[0]) - rows.size
            order_key = np.concatenate([np.arange(n_old, dtype=np.int64) - n_old - 1, order_key])
        if len(cols[0]) == 0:
            return
        order = np.lexsort((order_key, cols[0]))
        cols = [np.ascontiguousarray(c[order]) for c in cols]
        self._drive(R.reorder(cols, t.newest_ts, t.park, t.parked), out, now_ms)

    def _drive(self, cols: list[np.ndarray], out: Output, now_ms: int) -> None:
        """Fixes as the kinematics takes them (columns, sorted by slot) through the kinematics, the
        path log and the corridors."""
        t = self.trips
        t.parked.shrink(t.park)
        if len(cols[0]) == 0:
            return
        self._use(K.kinematics(*cols, t.city, t.kin, t.held, self.params_matrix), out, now_ms)  # type: ignore[call-arg, arg-type]

    def _use(self, res: K.KinematicsOutput, out: Output, now_ms: int) -> None:
        """What the kinematics made of some fixes: the path log, its alerts, the corridors."""
        self._keep_path(res)
        self._kinematics_alerts(res.events, out, now_ms)
        self._route_step(res, out, now_ms)

    def _take_orphans(self, slots: Iterable[int]) -> list[np.ndarray]:
        """The pings buffered for these trips, as kinematics columns (slot first), in order."""
        t = self.trips
        parts = []
        for s in slots:
            for chunk in cast(TripMeta, t.meta[s]).orphans:
                parts.append((np.full(len(chunk[0]), s, np.int64),) + tuple(chunk))
            cast(TripMeta, t.meta[s]).orphans = ()
        return [np.concatenate([p[k] for p in parts]) for k in range(7)]

    def _run_orphans(self, slots: np.ndarray, out: Output, now_ms: int) -> None:
        t = self.trips
        if not any(t.meta[s].orphans for s in slots):
            return
        cols = self._take_orphans(slots)
        order = np.argsort(cols[0], kind="stable")
        cols = [np.ascontiguousarray(c[order]) for c in cols]
        self._drive(R.reorder(cols, t.newest_ts, t.park, t.parked), out, now_ms)

    def _buffer_orphans(self, batch: Batch, slot: np.ndarray, rows: np.ndarray) -> None:
        t = self.trips
        s_rows = slot[rows]
        order = np.argsort(s_rows, kind="stable")
        rows, s_rows = rows[order], s_rows[order]
        bounds = np.flatnonzero(np.diff(s_rows)) + 1
        for part in np.split(np.arange(rows.size), bounds):
            r = rows[part]
            s = int(s_rows[part[0]])
            meta = cast(TripMeta, t.meta[s])
            meta.orphans += (
                (batch.ts[r], batch.lat[r], batch.lon[r], batch.accuracy_m[r], batch.speed_mps[r], batch.mock[r]),
            )

    def _keep_path(self, res: K.KinematicsOutput) -> None:
        self.paths.append(res.acc_slot, res.acc_ts, res.acc_lat, res.acc_lon, res.acc_flag)

    def _route_step(self, res: K.KinematicsOutput, out: Output, now_ms: int) -> None:
        """Accepted fixes of trips with a corridor through the excursion kernel."""
        t = self.trips
        if res.acc_slot.size == 0:
            return
        sel = np.flatnonzero(t.route[res.acc_slot, C.R_ACTIVE] > 0.0)
        if sel.size == 0:
            return
        slot = res.acc_slot[sel]
        lat, lon = res.acc_lat[sel], res.acc_lon[sel]
        city_res = np.array([rp.h3_res for rp in self.route_params], np.int64)[t.city[slot]]
        cells = np.empty(sel.size, np.int64)
        for r in np.unique(city_res).tolist():
            m = city_res == r
            cells[m] = latlng_to_cell(np.ascontiguousarray(lat[m]), np.ascontiguousarray(lon[m]), r)
        events = C.excursions(
            slot,
            res.acc_ts[sel],
            lat,
            lon,
            res.acc_flag[sel],
            cells,
            t.route,
            t.route_cell,
            t.city,
            self.route_matrix,
            self.corridors,
        )
        self._route_alerts(events, out, now_ms)

    def _route_alerts(self, events: np.ndarray, out: Output, now_ms: int) -> None:
        t = self.trips
        for e in events:
            s = int(e[C.X_SLOT])
            meta = cast(TripMeta, t.meta[s])
            if upfront_priced(meta.started):
                continue
            planned = meta.started.planned_distance_m if meta.started else None
            self._emit(
                meta, excursion_finding(e, self.route_params[t.city[s]], self.paths.path(s), planned), out, now_ms
            )

    def _kinematics_alerts(self, events: np.ndarray, out: Output, now_ms: int) -> None:
        t = self.trips
        for e in events:
            s = int(e[K.E_SLOT])
            meta = cast(TripMeta, t.meta[s])
            kp = self.kin_params[t.city[s]]
            if e[K.E_KIND] == K.EV_TELEPORT:
                finding = teleport_finding(e, kp)
            else:
                finding = impossible_speed_finding(e, kp, self.paths.path(s))
            self._emit(meta, finding, out, now_ms)

    def _emit(self, meta: TripMeta, finding: Finding, out: Output, now_ms: int) -> None:
        alert = make_alert(meta, finding, now_ms)
        if alert["score"] < self.alert_thresholds[self.city_index[meta.city]].min_score(finding.kind):
            self.stats.alerts_below_threshold += 1  # as if the detector had not fired (tripguard tune)
            return
        meta.alert_ids += (alert["alert_id"],)
        if finding.kind in DISPLACING_KINDS:
            meta.displaced_by += ({"alert_id": alert["alert_id"], "kind": finding.kind},)
        scores = meta.scores()
        scores[finding.kind] = max(scores.get(finding.kind, 0.0), alert["score"])
        meta.alert_scores = tuple(scores.items())
        self.stats.alerts_by_kind[finding.kind] += 1
        out.alerts.append(alert)

    def _close(self, slots: np.ndarray, out: Output, now_ms: int, ended_by_default: str) -> None:
        t = self.trips
        slots = np.asarray(slots, np.int64)
        self._drive(R.release(np.sort(slots), t.park, t.parked), out, now_ms)  # what a silence parked
        self._use(K.finish(slots, t.city, t.kin, t.held, self.params_matrix), out, now_ms)
        routed = slots[t.route[slots, C.R_ACTIVE] > 0.0]
        if routed.size:
            last_ts = t.kin[routed, K.S_A_TS].astype(np.int64)
            self._route_alerts(
                C.finish(routed, last_ts, t.route, t.city, self.route_matrix, self.corridors), out, now_ms
            )
        verdicts = []
        # trips closed together share one (watermark, partition) value: a tuple per closed trip
        # was ~70 B of the ~1.6 closed trips a worker remembers per live trip
        marks: dict[int, tuple[int, int]] = {}
        for s in slots.tolist():
            meta = t.meta[s]
            verdicts.append(self._finalise(s, meta, out, now_ms, ended_by_default))
            mark = marks.get(meta.partition)
            if mark is None:
                mark = marks[meta.partition] = (self.watermark, meta.partition)
            self.closed[meta.trip_id] = mark
            t.release(s)
            self.stats.trips_closed += 1
        # in event-time order (not slot order): a batch closes trips over its whole time span, and
        # the driver-risk stage downstream waits only the idle timeout plus end grace for order
        verdicts.sort(key=lambda v: (v["ts"], v["trip_id"]))
        out.verdicts.extend(verdicts)

    def _finalise(self, s: int, meta: TripMeta, out: Output, now_ms: int, ended_by_default: str) -> dict[str, Any]:
        t = self.trips
        st = t.kin[s].tolist()  # plain floats: read a few dozen times here, and JSON in the evidence
        ts, lat, lon, flag = self.paths.path(s)
        city_row = int(t.city[s])
        end_ts = meta.ended.ts if meta.ended else int(t.last_act[s])
        gps_distance_m = st[K.S_DIST_M]
        # from the first accepted fix to the last time the phone was seen at the last one (a
        # parked car's fixes keep the anchor's time moving without adding to the path)
        gps_duration_s = max(0.0, (st[K.S_A_TS] - st[K.S_START_TS]) / 1000.0) if st[K.S_N_USED] else 0.0

        spoof = spoofing_finding(st, self.spoof_params[city_row], end_ts)
        if spoof:
            self._emit(meta, spoof, out, now_ms)
        planned_distance_m = self._trip_detour(s, meta, gps_distance_m, gps_duration_s, end_ts, out, now_ms)
        assessment = None
        notes = []
        if meta.ended_row_rejected:
            notes.append(meta.ended_row_rejected)
        elif meta.ended is not None and meta.started is not None:
            assessment, findings = self.fare_checkers[city_row].assess(
                meta.started,
                meta.ended,
                gps_distance_m,
                gps_duration_s,
                gap_m=st[K.S_GAP_M],
                gap_n=int(st[K.S_GAP_N]),
                gap_s=st[K.S_GAP_S],
                fix_interval_s=st[K.S_DT_SUM] / st[K.S_DT_N] / 1000.0 if st[K.S_DT_N] else 0.0,
                late_fixes=int(st[K.S_N_LATE]),
                used_fixes=int(st[K.S_N_USED]),
            )
            for finding in findings:
                self._emit(meta, with_related(finding, meta.displaced_by), out, now_ms)
            if assessment is not None:
                notes.extend(assessment.notes)

        dropped = {
            "late": int(st[K.S_N_LATE]),
            "duplicate": int(st[K.S_N_DUP]),
            "invalid": int(st[K.S_N_INVALID]),
            "spike": int(st[K.S_N_SPIKE]),
            "coarse": int(st[K.S_N_COARSE]),
        }
        used = int(st[K.S_N_USED])
        self.stats.used += used
        for k, v in dropped.items():
            self.stats.dropped[k] += v
        by_kind = meta.scores()
        scores = list(by_kind.values())
        risk = 1.0 - float(np.prod([1.0 - sc for sc in scores])) if scores else 0.0
        started = meta.started
        return record(
            Verdict,
            trip_id=meta.trip_id,
            driver_id=meta.driver_id,
            city=meta.city,
            ts=int(end_ts),
            risk_score=round(risk, 4),
            kinds=[k for k in ALERT_KINDS if k in by_kind],
            alert_ids=list(meta.alert_ids),
            gps_distance_m=round(gps_distance_m, 1),
            gps_duration_s=round(gps_duration_s, 3),
            planned_distance_m=planned_distance_m,
            expected_fare=assessment.expected_fare if assessment else None,
            expected_fare_planned=assessment.expected_fare_planned if assessment else None,
            detour_extra_fare=assessment.detour_extra_fare if assessment else None,
            claimed_fare=meta.ended.claimed_fare if meta.ended else None,
            currency=meta.ended.currency if meta.ended else None,
            path=encode_polyline_array(lat, lon),
            pings_used=used,
            pings_dropped=record(DroppedCounts, **dropped),
            ended_by="trip_ended" if meta.ended else ended_by_default,
            notes=notes,
            **self._route_view(s),
            # what the driver-risk stage needs of the trip (tripguard/risk): when it ran and where
            started_ts=int(started.ts) if started is not None else int(ts[0]) if ts.size else int(end_ts),
            path_times_s=encode_integers(np.round(ts / 1000.0).astype(np.int64)),
            claimed_distance_m=meta.ended.claimed_distance_m if meta.ended else None,
        )  # the contract's Verdict, as the plain dict the outputs carry

    def _trip_detour(
        self,
        s: int,
        meta: TripMeta,
        gps_distance_m: float,
        gps_duration_s: float,
        end_ts: int,
        out: Output,
        now_ms: int,
    ) -> float | None:
        """Trip-level route_deviation, for a trip without a route to follow; returns the planned
        distance used."""
        started = meta.started
        if started is None:
            return None
        rp = self.route_params[int(self.trips.city[s])]
        routed = self.trips.route[s, C.R_ACTIVE] > 0.0
        planned = started.planned_distance_m
        if planned is None and routed:
            planned = float(self.trips.route[s, C.R_ROUTE_M])
        displaced = bool(meta.displaced_by) or self.trips.route[s, C.R_DISPLACED] > 0.0
        if "route_deviation" in meta.scores() or displaced or upfront_priced(started) or routed:
            # an excursion already said it, or the trace was displaced (a teleport or an
            # impossible-speed run): its distance says nothing about the route driven; or the
            # trip had a route, which its corridor judged where the trip left it -- the distance
            # ratio alone accused honest round trips and long loops far more often than it found
            # a detour the excursions missed (on the tune part: 41 of the 51 trips were honest)
            return planned
        finding = None
        learned = None
        if planned is None and self.corridor_model is not None:
            _, lat, lon, _ = self.paths.path(s)
            learned = self.corridor_model.score(lat, lon, rp.learned_min_pair_trips, rp.learned_rare_share)
        if planned is not None:
            finding = detour_finding(
                rp,
                gps_distance_m,
                planned,
                "planned route",
                end_ts,
                rp.trip_min_ratio,
                rp.trip_min_extra_m,
                gps_duration_s,
                started.planned_duration_s,
                rp.trip_min_time_ratio,
            )
        elif learned is not None:
            finding = learned_finding(rp, learned, end_ts)
        elif started.dropoff is not None:
            straight = float(
                haversine_m(started.pickup.lat, started.pickup.lon, started.dropoff.lat, started.dropoff.lon)
            )
            finding = detour_finding(
                rp,
                gps_distance_m,
                straight,
                "straight line",
                end_ts,
                rp.straight_line_factor,
                rp.straight_line_min_extra_m,
            )
        if finding is not None:
            self._emit(meta, finding, out, now_ms)
        return planned

    def _route_view(self, s: int) -> dict[str, Any]:
        """What a reviewer needs to draw the planned route and its corridor (the cells follow
        from the route, the resolution and the ring: tripguard.detectors.route.build_corridor).
        The route is its points in the corridor arena, back from the corridor's frame: encoded
        again, a polyline gives back its own text (the frame moves a point by ~1e-13 degrees, the
        polyline's unit is 1e-5)."""
        if not self.corridors.holds(s):
            return {"planned_route": None, "corridor": None}
        rp = self.route_params[int(self.trips.city[s])]
        _, x, y, _ = self.corridors.slice(s)
        st = self.trips.route[s]
        lat, lon = local_latlon(x, y, st[C.R_LAT0], st[C.R_LON0], st[C.R_COS0])
        return {
            "planned_route": encode_polyline_array(lat, lon),
            "corridor": {"h3_res": rp.h3_res, "ring": rp.ring},
        }

    def _forget_closed(self) -> None:
        """Closed trip ids are remembered long enough to recognise their late rows."""
        if len(self.closed) < 1024:
            return
        horizon = self.watermark - max(self.idle_ms, self.grace_ms) * 2
        # oldest first (the watermark never goes back): forgetting costs what it forgets, not a
        # copy of every closed trip per batch -- a worker's batches are small and many. One pass,
        # then the deletions: a new iterator per deletion would walk the deleted front again.
        closed = self.closed
        expired = []
        for trip_id, (closed_at, _) in closed.items():
            if closed_at >= horizon:
                break
            expired.append(trip_id)
        for trip_id in expired:
            del closed[trip_id]

    # ---- checkpoints: one trip's state out and in (tripguard.engine.tripstate turns it into bytes) ------

    def live_trip_ids(self) -> list[str]:
        t = self.trips
        return [cast(TripMeta, t.meta[s]).trip_id for s in t.live_slots().tolist()]

    def export_trip(self, trip_id: str) -> TripState | None:
        """The live trip's whole state (views of the engine's arrays: encode it before the next
        batch), None when the trip is not live."""
        t = self.trips
        s = t.slot(trip_id)
        if s < 0:
            return None
        return TripState(
            meta=cast(TripMeta, t.meta[s]),
            city=self.city_names[int(t.city[s])],
            rows=t.rows(s),
            held=t.held_fixes(s),
            parked=t.parked_fixes(s),
            path=t.paths.path(s),
            corridor=t.corridors.slice(s) if t.corridors.holds(s) else None,
        )

    def import_trip(self, state: TripState) -> None:
        """Make a trip exported by export_trip (of this or another engine) live here."""
        t = self.trips
        meta = state.meta
        if t.slot(meta.trip_id) >= 0:
            raise ValueError(f"trip {meta.trip_id} is already live")
        s = t.allocate(meta.trip_id, meta.driver_id, meta.partition)
        t.meta[s] = meta
        t.city[s] = self._city_row(state.city)
        t.set_rows(s, state.rows, state.held, state.parked)
        ts, lat, lon, flag = state.path
        if ts.size:
            t.paths.append(np.full(ts.size, s, np.int64), ts, lat, lon, flag)
        if state.corridor is not None:  # stored, not rebuilt: a rebuild costs an H3 dilation per trip
            t.corridors.add(s, *state.corridor)


@dataclass
class TripState:
    """One live trip as a checkpoint sees it: its metadata and trip events, its city, its rows of
    the numeric columns (TripTable.rows), held and parked fixes, accepted path and corridor."""

    meta: TripMeta
    city: str
    rows: dict[str, np.ndarray]
    held: np.ndarray | None
    path: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    corridor: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None
    parked: np.ndarray | None = None
