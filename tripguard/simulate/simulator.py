"""`tripguard simulate`: realistic Porto trips with labelled fraud, in event contract v1.

Writes DIR/pings.jsonl (Kafka message values in delivery order), DIR/trips.jsonl (trip events in
ts order) and DIR/labels.csv (trip_id, kinds, detail, base: the real trip a trip was made from). Deterministic for a given seed: each trip
draws from its own generator seeded by (seed, trip number), and the output is merged in a fixed
order. Trips are generated in start order and streamed out through a heap, so memory holds only
the trips in flight, not the whole output.
"""

from __future__ import annotations

import csv
import heapq
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any, cast

import numpy as np
import orjson

from tripguard.contract import ALERT_KINDS
from tripguard.errors import ConfigError, InputError
from tripguard.fare.tariff import Tariff, load_tariffs
from tripguard.simulate import fleet as fleet_model
from tripguard.simulate import fraud
from tripguard.simulate.delivery import ping_objects, schedule
from tripguard.simulate.drive import DriveParams
from tripguard.simulate.events import (
    CITY,
    draw_surge,
    draw_tolls,
    honest_fare,
    meter_round,
    meter_round_up,
    trip_ended,
    trip_started,
)
from tripguard.simulate.geodesy import haversine_m
from tripguard.simulate.network import RoadNetwork, Route, load_network
from tripguard.simulate.noise import Fixes, NoiseRates, add_delivery_faults, apply_noise, draw_device
from tripguard.simulate.real import REAL_INTERVAL_S, SPLITS, read_real_trips, real_trace
from tripguard.simulate.roadlength import driven_distance_m, road_meter
from tripguard.simulate.routes import TRIP_MIN_M
from tripguard.simulate.synthetic import synthetic_base

DEFAULT_START_TS_MS = 1_717_398_000_000  # 2024-06-03 07:00:00 UTC: fixed, so output is reproducible
DEFAULT_TRIPS = 1000
QUOTED_FARE_RATE = 0.30
PLANNED_MAX_SNAP_M = 300.0  # real trips get a planned route only if both ends are this near a road
PRIOR_TRIP_S = 800.0
# The honest meter: its distance within +-3 % of the road driven (calibration, wheel wear, the
# GPS is not the odometer), and on WAIT_SHARE of metered trips up to MAX_WAIT_S of waiting charged
# before the trip began on the app (the rider kept the taxi waiting); half the apps report that
# time in claimed_duration_s, the others only the trip's.
METER_DISTANCE_SPREAD = 0.03
WAIT_SHARE = 0.5
MAX_WAIT_S = 180.0  # synthetic: expected trip duration before any trip is generated
# Most constrained kinds are assigned first so the quotas are met on real data.
PLANS = ("fastest", "shortest")
ASSIGN_ORDER = (
    "route_deviation",
    "impossible_speed",
    "teleport",
    "gps_spoofing",
    "fare_inflation",
    "distance_mismatch",
)


@dataclass(frozen=True)
class SimConfig:
    out_dir: FsPath
    trips: int | None = None  # synthetic: how many (default 1000); real: at most this many
    seed: int = 0
    fraud_rate: float = 0.3
    kinds: tuple[str, ...] = ALERT_KINDS
    from_real: FsPath | None = None
    interval_s: float | None = None  # synthetic default 4 s; real data is 15 s apart
    start_ts_ms: int = DEFAULT_START_TS_MS
    concurrency: int = 200
    noise: NoiseRates = NoiseRates()
    drive: DriveParams = DriveParams()
    network_path: FsPath | None = None
    tariffs_path: FsPath | None = None
    # real trips: the app's route from the pickup to the dropoff, "fastest" (by typical travel
    # time, as ride-hailing apps plan) or "shortest" (by length: a stress test); never the trace
    plan: str = "fastest"
    split: str = "all"  # real trips: only the "tune" or the "eval" part (real.split_of)
    # a fleet (tripguard.simulate.fleet): this many drivers with many trips each, this share of
    # them repeat offenders; fraud_rate is then the others' occasional fraud
    fleet: int | None = None
    repeat_offenders: float = 0.0

    def validate(self) -> None:
        if self.plan not in PLANS:
            raise ConfigError(f"--plan must be one of {', '.join(PLANS)}, got {self.plan!r}")
        if self.split not in SPLITS:
            raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.split != "all" and self.from_real is None:
            raise ConfigError("--split applies to --from-real (synthetic runs are split by seed)")
        if self.trips is not None and self.trips < 1:
            raise ConfigError(f"--trips must be >= 1, got {self.trips}")
        if not 0.0 <= self.fraud_rate <= 1.0:
            raise ConfigError(f"--fraud-rate must be in [0, 1], got {self.fraud_rate}")
        unknown = [k for k in self.kinds if k not in ALERT_KINDS]
        if unknown or not self.kinds:
            raise ConfigError(
                f"--kinds: unknown kind(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(ALERT_KINDS)}"
            )
        if self.interval_s is not None:
            if self.from_real is not None:
                raise ConfigError("--interval-s does not apply to --from-real (the real fixes are 15 s apart)")
            if not 1.0 <= self.interval_s <= 60.0:
                raise ConfigError(f"--interval-s must be in [1, 60] seconds, got {self.interval_s}")
        if self.fleet is not None and self.fleet < 1:
            raise ConfigError(f"--fleet must be >= 1 driver, got {self.fleet}")
        if not 0.0 <= self.repeat_offenders <= 1.0:
            raise ConfigError(f"--repeat-offenders must be a share in [0, 1], got {self.repeat_offenders}")
        if self.repeat_offenders and self.fleet is None:
            raise ConfigError("--repeat-offenders needs --fleet N (the drivers they are a share of)")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency must be >= 1, got {self.concurrency}")
        if not 0 <= self.start_ts_ms <= 4_000_000_000_000:
            raise ConfigError(
                f"--start-ts must be milliseconds since the Unix epoch (before 2096), got {self.start_ts_ms}"
            )
        if self.from_real is not None and not FsPath(self.from_real).is_file():
            raise InputError(f"--from-real {self.from_real}: no such file")


@dataclass
class SimSummary:
    mode: str
    trips: int = 0
    kinds: Counter = field(default_factory=Counter)
    quota: dict[str, int] = field(default_factory=dict)
    pings: int = 0
    messages: int = 0
    array_messages: int = 0
    noise: Counter = field(default_factory=Counter)
    real_rows: int = 0
    real_skipped_short: int = 0
    real_skipped_bad: int = 0
    without_planned_route: int = 0
    honest_alternative_routes: int = 0
    span_s: float = 0.0
    mean_concurrency: float = 0.0
    median_concurrency: float = 0.0  # trips running at a trip's start (steady state, no ramps)
    seconds: float = 0.0
    fleet: Any = None  # tripguard.simulate.fleet.Fleet, in fleet mode
    fleet_not_eligible: int = 0  # fleet trips whose planned fraud no real trip could carry (made honest)
    lent_trips: int = 0  # fleet trips driven by someone else on a sharer's account

    def lines(self) -> list[str]:
        out = [
            f"mode {self.mode}: {self.trips} trips, {self.kinds.get('', 0)} honest, "
            + ", ".join(f"{k} {self.kinds.get(k, 0)}" for k in ALERT_KINDS if self.kinds.get(k) or self.quota.get(k))
        ]
        short = {k: (q, self.kinds.get(k, 0)) for k, q in self.quota.items() if self.kinds.get(k, 0) < q}
        if short:
            out.append(
                "fraud quota not met (too few eligible trips): "
                + ", ".join(f"{k} {got}/{q}" for k, (q, got) in short.items())
            )
        if self.mode == "real":
            out.append(
                f"real rows read {self.real_rows}: skipped {self.real_skipped_short} with < 5 fixes, "
                f"{self.real_skipped_bad} unreadable; {self.without_planned_route} trips without a planned route "
                f"(an end > {PLANNED_MAX_SNAP_M:.0f} m from the network, or the ends < {TRIP_MIN_M:.0f} m apart)"
            )
        else:
            out.append(f"honest alternative routes {self.honest_alternative_routes}")
        if self.fleet is not None:
            f = self.fleet
            offenders = Counter(d.profile for d in f.drivers if d.role == fleet_model.OFFENDER)
            trips = sorted(d.trips for d in f.drivers)
            out.append(
                f"fleet: {len(f.drivers)} drivers, {sum(offenders.values())} repeat offenders ("
                + ", ".join(f"{p} {offenders.get(p, 0)}" for p in dict.fromkeys(fleet_model.PROFILES))
                + f"); trips per driver: median {trips[len(trips) // 2]}, max {trips[-1]}; "
                f"{self.lent_trips} lent-account trips"
                + (
                    f"; {self.fleet_not_eligible} planned frauds no real trip could carry"
                    if self.fleet_not_eligible
                    else ""
                )
            )
        out.append(
            f"{self.pings} pings in {self.messages} messages ({self.array_messages} arrays); noise "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.noise.items()))
        )
        out.append(
            f"time span {self.span_s / 3600:.2f} h; concurrent trips: {self.median_concurrency:.0f} at the median "
            f"trip start, {self.mean_concurrency:.0f} on average over the span; took {self.seconds:.1f} s"
        )
        return out


@dataclass
class TripBase:
    """Everything about a trip before noise: its (possibly fraudulent) trace and its plan."""

    trip_id: str
    injection: fraud.Injection
    planned: Route | None
    planned_duration_s: float | None
    pickup: tuple[float, float]
    dropoff: tuple[float, float]
    note: str
    stale_first_fix_allowed: bool
    base_id: str = ""  # the real trip it was made from (labels.csv `base`); "" = the trip itself


class DriverPool:
    """Drivers are reused once free again (a few minutes after their last dropoff), so one
    driver never has two trips at once."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.busy: list[tuple[int, int]] = []  # (free_at_ms, driver number)
        self.free: list[int] = []
        self.count = 0

    def take(self, start_ms: int, end_ms: int) -> str:
        while self.busy and self.busy[0][0] <= start_ms:
            heapq.heappush(self.free, heapq.heappop(self.busy)[1])
        if self.free:
            d = heapq.heappop(self.free)
        else:
            self.count += 1
            d = self.count
        heapq.heappush(self.busy, (end_ms + int(self.rng.uniform(60_000, 600_000)), d))
        return f"drv-{d:05d}"


def _quotas(n: int, rate: float, kinds: tuple[str, ...], rng: np.random.Generator) -> dict[str, int]:
    total = int(round(n * rate))
    base, rem = divmod(total, len(kinds))
    extra = set(rng.permutation(len(kinds))[:rem].tolist())
    return {k: base + (1 if i in extra else 0) for i, k in enumerate(kinds)}


def _trip_rng(seed: int, stream: int, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, i])


# ------------------------------------------------------------------------- trip bases
def _synthetic_bases(
    cfg: SimConfig, net: RoadNetwork, summary: SimSummary
) -> Iterator[tuple[TripBase, np.random.Generator]]:
    n = cfg.trips or DEFAULT_TRIPS
    interval = cfg.interval_s or 4.0
    rng = _trip_rng(cfg.seed, 0, 0)
    summary.quota = _quotas(n, cfg.fraud_rate, cfg.kinds, rng)
    kinds: list[str | None] = [None] * n
    order = rng.permutation(n)
    pos = 0
    for k in cfg.kinds:
        for idx in order[pos : pos + summary.quota[k]]:
            kinds[idx] = k
        pos += summary.quota[k]
    width = max(6, len(str(n - 1)))
    for i in range(n):
        trng = _trip_rng(cfg.seed, 1, i)
        kind = kinds[i]
        base = synthetic_base(net, trng, kind, interval, cfg.drive, min_duration_s=fraud.min_duration_s(kind, interval))
        trace = base.trace
        if base.note.startswith("honest alternative"):
            summary.honest_alternative_routes += 1
        if kind in ("teleport", "impossible_speed", "gps_spoofing", "fare_inflation", "distance_mismatch"):
            inj = _inject(kind, trace, trng, base.planned, interval, net)
        elif kind == "route_deviation":
            inj = fraud.honest(trace)
            inj.kind, inj.detail = "route_deviation", base.note
        else:
            inj = fraud.honest(trace)
        note = "" if kind == "route_deviation" else base.note
        planned = base.planned
        yield (
            TripBase(
                trip_id=f"sim-{i:0{width}d}",
                injection=inj,
                planned=planned,
                planned_duration_s=base.planned_duration_s,
                pickup=(float(planned.lat[0]), float(planned.lon[0])),
                dropoff=(float(planned.lat[-1]), float(planned.lon[-1])),
                note=note,
                stale_first_fix_allowed=True,
            ),
            trng,
        )


def _inject(kind: str, trace, rng, planned: Route | None, interval_s: float, net: RoadNetwork) -> fraud.Injection:
    if kind == "teleport":
        return fraud.teleport(trace, rng)
    if kind == "impossible_speed":
        return fraud.impossible_speed(trace, rng)
    if kind == "gps_spoofing":
        return fraud.gps_spoofing(trace, rng, planned, interval_s)
    if kind == "fare_inflation":
        return fraud.fare_inflation(trace, rng)
    if kind == "distance_mismatch":
        return fraud.distance_mismatch(trace, rng)
    if kind == "route_deviation":
        return fraud.real_detour(trace, net, planned, rng)
    raise ValueError(kind)


@dataclass(frozen=True)
class RealBase:
    """A real trip made ready to drive again: its honest trace and the app's plan for it."""

    trip: Any  # tripguard.simulate.real.RealTrip
    trace: Any
    planned: Route | None
    eta_s: float | None


def _prepare_real(cfg: SimConfig, net: RoadNetwork, summary: SimSummary, limit: int | None) -> list[RealBase]:
    read = read_real_trips(cast(FsPath, cfg.from_real), limit=limit, split=cfg.split)
    summary.real_rows = read.rows
    summary.real_skipped_short = read.skipped_short
    summary.real_skipped_bad = read.skipped_bad
    if not read.trips:
        raise InputError(f"--from-real {cfg.from_real}: no usable trip (every row has < 5 fixes or is unreadable)")
    traces = []
    plans: list[tuple[Route | None, float | None]] = []
    meter = road_meter(net)
    for trip in read.trips:
        trace, spikes = real_trace(trip)
        # what the car drove is what a meter measures: the road between the fixes, which 15 s
        # chords under-read at corners and across lost fixes (tripguard.simulate.roadlength)
        trace = trace.with_(true_distance_m=driven_distance_m(trace.lat, trace.lon, trace.t_s, meter))
        traces.append(trace)
        ends = np.flatnonzero(~spikes)[[0, -1]]
        near = net.distance_to_road_m(trace.lat[ends], trace.lon[ends])
        planned = None
        straight_m = float(haversine_m(trace.lat[ends[0]], trace.lon[ends[0]], trace.lat[ends[1]], trace.lon[ends[1]]))
        # as an app plans it: between the pickup and the dropoff only. A real trip that ends
        # where it began (or nearly) went somewhere in between: no app plans a 200 m ride for it,
        # so like the synthetic trips (routes.TRIP_MIN_M) it gets a plan only from 800 m apart
        if np.all(near <= PLANNED_MAX_SNAP_M) and straight_m >= TRIP_MIN_M:
            a, _ = net.nearest_node(float(trace.lat[ends[0]]), float(trace.lon[ends[0]]))
            b, _ = net.nearest_node(float(trace.lat[ends[1]]), float(trace.lon[ends[1]]))
            if a != b:
                graph = net.length_graph if cfg.plan == "shortest" else None
                planned = net.route(net.shortest_path(a, b, graph))
        plans.append((planned, net.route_time_s(planned) if planned is not None else None))
    return [RealBase(trip, trace, planned, eta) for trip, trace, (planned, eta) in zip(read.trips, traces, plans)]


def _real_bases(cfg: SimConfig, net: RoadNetwork, summary: SimSummary) -> list[tuple[TripBase, np.random.Generator]]:
    real = _prepare_real(cfg, net, summary, cfg.trips)
    traces = [r.trace for r in real]
    plans = [(r.planned, r.eta_s) for r in real]
    n = len(traces)
    rng = _trip_rng(cfg.seed, 0, 0)
    summary.quota = _quotas(n, cfg.fraud_rate, cfg.kinds, rng)
    order = rng.permutation(n)
    injections: dict[int, fraud.Injection] = {}
    for kind in [k for k in ASSIGN_ORDER if k in cfg.kinds]:
        want = summary.quota[kind]
        for idx in order:
            if want == 0:
                break
            if idx in injections:
                continue
            try:
                injections[idx] = _inject(
                    kind, traces[idx], _trip_rng(cfg.seed, 2, idx), plans[idx][0], REAL_INTERVAL_S, net
                )
                want -= 1
            except fraud.NotEligible:
                continue
    out = []
    for i, (trip, trace) in enumerate(zip([r.trip for r in real], traces)):
        inj = injections.get(i) or fraud.honest(trace)
        planned, eta = plans[i]
        if planned is None:
            summary.without_planned_route += 1
        out.append(
            (
                TripBase(
                    trip_id=f"porto-{trip.trip_id}",
                    injection=inj,
                    planned=planned,
                    planned_duration_s=eta,
                    pickup=(float(trip.lat[0]), float(trip.lon[0])),
                    dropoff=(float(trip.lat[-1]), float(trip.lon[-1])),
                    note="",
                    stale_first_fix_allowed=False,  # real traces have their own
                    base_id=trip.trip_id,
                ),
                _trip_rng(cfg.seed, 1, i),
            )
        )
    return out


# ------------------------------------------------------------------------- one trip
@dataclass
class TripOutput:
    messages: list[tuple[int, Any]]
    started: dict[str, Any]
    ended: dict[str, Any]
    label: tuple[str, str, str, str]
    end_ms: int


def _noise_note(fixes: Fixes) -> tuple[str, Counter]:
    """What the noise did to a trip, for labels.csv's detail and the run summary."""
    counts = Counter(t for t in fixes.tag[~fixes.duplicate].tolist() if t)
    counts["duplicate"] = int(fixes.duplicate.sum())
    counts["late"] = int(fixes.late.sum())
    parts = []
    for key in ("spike", "network", "zero", "stale", "duplicate", "late"):
        if counts.get(key):
            parts.append(f"{key} {counts[key]}")
    gap = np.diff(fixes.ts_ms[~fixes.duplicate]) if fixes.n > 1 else np.zeros(0)
    if counts.get("tunnel"):
        parts.append(f"tunnel gap {gap.max() / 1000:.0f} s")
    return ", ".join(parts), counts


def build_trip(
    base: TripBase, rng: np.random.Generator, start_ms: int, cfg: SimConfig, tariff: Tariff, pool: DriverPool
) -> tuple[TripOutput, Counter]:
    inj = base.injection
    trace = inj.trace
    rates = cfg.noise
    device = draw_device(rng, rates)
    if inj.speed_lie:
        device = replace(device, reports_speed=True)  # the lie needs a reported speed
    if inj.mock_share is not None:
        device = replace(device, reports_mock=True)
    stale = base.stale_first_fix_allowed and rng.random() < rates.stale_first_fix_rate
    fixes = apply_noise(
        trace,
        rng,
        rates,
        device,
        start_ms,
        position_jitter=inj.position_jitter,
        constant_accuracy_m=inj.constant_accuracy_m,
        stale_first_fix=stale,
    )
    if inj.segment_speed and device.reports_speed:
        for row, src in enumerate(fixes.src):
            if int(src) in inj.segment_speed:
                fixes.speed_mps[row] = inj.segment_speed[int(src)] + rng.normal(0.0, 1.0)
    fraud.apply_device_lies(fixes, inj, rng)
    fixes = add_delivery_faults(fixes, rng, rates)

    end_ms = start_ms + int(round(trace.duration_s * 1000.0)) + int(rng.integers(2000, 10_001))
    end_ms = max(end_ms, int(fixes.ts_ms.max()) + 2000)
    driver = pool.take(start_ms, end_ms)
    objects = ping_objects(fixes, base.trip_id, driver)
    messages = schedule(fixes, objects, rng, rates)

    surge = draw_surge(rng)
    tolls = draw_tolls(rng)
    duration_s = (end_ms - start_ms) / 1000.0
    planned = base.planned
    quoted = None
    # a detour pads only a metered fare: no fraudster detours on an upfront price
    if planned is not None and inj.kind != "route_deviation" and rng.random() < QUOTED_FARE_RATE:
        quoted = meter_round(tariff.expected_fare(planned.length_m, cast(float, base.planned_duration_s), surge))
    # An upfront-priced trip charges its quote (plus tolls); a metered one the meter on the
    # distance it measured (a meter is not the GPS: within 3 % of the road driven) and the time,
    # with the waiting it charged before the trip began on the app.
    meter_distance = trace.true_distance_m * rng.uniform(1.0 - METER_DISTANCE_SPREAD, 1.0 + METER_DISTANCE_SPREAD)
    waited_s = rng.uniform(0.0, MAX_WAIT_S) if rng.random() < WAIT_SHARE else 0.0
    if quoted is not None:
        honest = round(quoted + tolls, 2)
    else:
        honest = honest_fare(tariff, meter_distance, duration_s + waited_s, surge, tolls)
    claimed_fare = honest
    claimed_distance = meter_distance
    if inj.fare_factor != 1.0:
        claimed_fare = meter_round_up(honest * inj.fare_factor)
        inj.detail += f" ({honest:.2f} -> {claimed_fare:.2f} {tariff.currency}{', upfront' if quoted else ''})"
    if inj.distance_factor != 1.0:
        claimed_distance = trace.true_distance_m * inj.distance_factor
        inj.detail += f" ({trace.true_distance_m:.0f} -> {claimed_distance:.0f} m)"
    started = trip_started(
        base.trip_id,
        driver,
        start_ms,
        base.pickup,
        base.dropoff,
        np.column_stack([planned.lat, planned.lon]) if planned is not None else None,
        planned.length_m if planned is not None else None,
        base.planned_duration_s,
        surge,
        quoted,
    )
    reported_wait_s = waited_s if rng.random() < 0.5 else 0.0
    ended = trip_ended(
        base.trip_id,
        driver,
        end_ms,
        claimed_fare,
        tariff.currency,
        claimed_distance,
        duration_s + reported_wait_s,
        tolls,
    )
    noise_note, counts = _noise_note(fixes)
    detail = "; ".join(p for p in (inj.detail, base.note, f"noise: {noise_note}" if noise_note else "") if p)
    label = (base.trip_id, inj.kind or "", detail, base.base_id or base.trip_id)
    return TripOutput(messages, started, ended, label, end_ms), counts


# ------------------------------------------------------------------------- trip sources
@dataclass
class _Planned:
    """A trip about to be built: its base, generator, start and where its driver comes from."""

    base: TripBase
    rng: np.random.Generator
    start_ms: int
    pool: Any  # .take(start_ms, end_ms) -> driver_id
    driver: int = -1  # a fleet's driver number
    plan: fleet_model.Plan | None = None
    host: str | None = None  # a lent-account trip: the trip of the account's owner it runs beside


class _Plain:
    """Bases in trip order, drivers from a pool that reuses whoever is free."""

    def __init__(self, bases, total: int, mean_s: float | None, pool: DriverPool):
        self.bases, self.total, self.mean_s, self.pool = iter(bases), total, mean_s, pool

    def trip(self, i: int, start_ms: int) -> _Planned:
        base, rng = next(self.bases)
        return _Planned(base, rng, start_ms, self.pool)

    def due_before(self, ms: int | None) -> list[_Planned]:
        return []

    def done(self, planned: _Planned, trip: TripOutput) -> None:
        pass


class _Chosen:
    """build_trip asks its pool for the driver: the fleet chose them already."""

    def __init__(self, driver_id: str):
        self.driver_id = driver_id

    def take(self, start_ms: int, end_ms: int) -> str:
        return self.driver_id


class _FleetSource:
    """The trips of a fleet (tripguard.simulate.fleet): each trip's driver first (by activity,
    among the free ones), then what that driver does on it, then its base."""

    def __init__(self, cfg: SimConfig, net: RoadNetwork, summary: SimSummary):
        self.cfg, self.net, self.summary = cfg, net, summary
        self.fleet = fleet_model.Fleet(
            cast(int, cfg.fleet), cfg.repeat_offenders, cfg.fraud_rate, cfg.kinds, _trip_rng(cfg.seed, 7, 0)
        )
        self.real = _prepare_real(cfg, net, summary, None) if cfg.from_real is not None else None
        self.interval_s = REAL_INTERVAL_S if self.real else (cfg.interval_s or 4.0)
        self.total = cfg.trips or DEFAULT_TRIPS
        self.mean_s = float(np.mean([r.trace.duration_s for r in self.real])) if self.real else None
        self.lent: list[tuple[int, int, int, str]] = []  # (start_ms, order, driver, host trip id)
        self.n = 0
        self.width = max(6, len(str(2 * self.total)))

    def trip(self, i: int, start_ms: int) -> _Planned:
        driver, start_ms = self.fleet.take(start_ms)
        return self._make(driver, start_ms, None)

    def due_before(self, ms: int | None) -> list[_Planned]:
        out = []
        while self.lent and (ms is None or self.lent[0][0] < ms):
            start_ms, _, driver, host = heapq.heappop(self.lent)
            out.append(self._make(driver, start_ms, host))
        return out

    def done(self, planned: _Planned, trip: TripOutput) -> None:
        fraud = bool(planned.base.injection.kind) or planned.host is not None
        self.fleet.busy(planned.driver, trip.end_ms, fraud)
        if cast(fleet_model.Plan, planned.plan).lend:  # someone else starts a trip on the account while this one runs
            at = planned.start_ms + int(planned.rng.uniform(0.1, 0.6) * (trip.end_ms - planned.start_ms))
            heapq.heappush(self.lent, (at, self.n, planned.driver, planned.base.trip_id))

    def _make(self, driver: int, start_ms: int, host: str | None) -> _Planned:
        n = self.n
        self.n += 1
        rng = _trip_rng(self.cfg.seed, 1, n)
        plan = fleet_model.Plan() if host else self.fleet.plan(driver, rng)
        base = self._base(n, plan, rng)
        if host:
            base.note = f"lent account: driven by someone else while {host} runs"
            self.summary.lent_trips += 1
        return _Planned(base, rng, start_ms, _Chosen(self.fleet.drivers[driver].driver_id), driver, plan, host)

    def _base(self, n: int, plan: fleet_model.Plan, rng: np.random.Generator) -> TripBase:
        trip_id = f"fleet-{n:0{self.width}d}"
        kind = plan.kind
        if self.real is None:
            b = synthetic_base(
                self.net,
                rng,
                kind,
                self.interval_s,
                self.cfg.drive,
                min_duration_s=fraud.min_duration_s(kind, self.interval_s),
            )
            if b.note.startswith("honest alternative"):
                self.summary.honest_alternative_routes += 1
            inj = self._injection(kind, plan, b.trace, rng, b.planned, b.note)
            return TripBase(
                trip_id,
                inj,
                b.planned,
                b.planned_duration_s,
                (float(b.planned.lat[0]), float(b.planned.lon[0])),
                (float(b.planned.lat[-1]), float(b.planned.lon[-1])),
                "" if kind == "route_deviation" else b.note,
                True,
            )
        pick = _trip_rng(self.cfg.seed, 2, n)
        for _ in range(50):  # a real trip that can carry the kind
            r = self.real[int(pick.integers(len(self.real)))]
            try:
                inj = self._injection(kind, plan, r.trace, pick, r.planned, "")
                break
            except fraud.NotEligible:
                continue
        else:
            self.summary.fleet_not_eligible += 1
            inj = fraud.honest(r.trace)
        return TripBase(
            trip_id,
            inj,
            r.planned,
            r.eta_s,
            (float(r.trip.lat[0]), float(r.trip.lon[0])),
            (float(r.trip.lat[-1]), float(r.trip.lon[-1])),
            "",
            False,
            base_id=r.trip.trip_id,
        )

    def _injection(self, kind, plan, trace, rng, planned, note) -> fraud.Injection:
        if plan.fare_factor != 1.0 or plan.distance_factor != 1.0:  # a skimmer's small inflation
            inj = fraud.honest(trace)
            inj.kind, inj.detail = kind, "skimmed"
            inj.fare_factor, inj.distance_factor = plan.fare_factor, plan.distance_factor
            return inj
        if kind == "route_deviation" and self.real is None:  # the synthetic base drove the detour
            inj = fraud.honest(trace)
            inj.kind, inj.detail = kind, note
            return inj
        if kind is None:
            return fraud.honest(trace)
        return _inject(kind, trace, rng, planned, self.interval_s, self.net)


# ------------------------------------------------------------------------- the run
def simulate(cfg: SimConfig, progress: bool = True) -> SimSummary:
    cfg.validate()
    t_begin = time.perf_counter()
    net = load_network(str(cfg.network_path) if cfg.network_path else None)
    tariffs = load_tariffs(cfg.tariffs_path)
    if CITY not in tariffs:
        raise ConfigError(f"no tariff for {CITY}")
    tariff = tariffs[CITY]
    real = cfg.from_real is not None
    summary = SimSummary(mode="real" if real else "synthetic")
    out = FsPath(cfg.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create ({exc.strerror})") from None

    time_rng = _trip_rng(cfg.seed, 9, 0)
    if cfg.fleet is not None:
        source: Any = _FleetSource(cfg, net, summary)
    elif real:
        bases = _real_bases(cfg, net, summary)
        source = _Plain(
            bases,
            len(bases),
            float(np.mean([b.injection.trace.duration_s for b, _ in bases])),
            DriverPool(_trip_rng(cfg.seed, 8, 0)),
        )
    else:
        source = _Plain(
            _synthetic_bases(cfg, net, summary), cfg.trips or DEFAULT_TRIPS, None, DriverPool(_trip_rng(cfg.seed, 8, 0))
        )
    total, mean_s = source.total, source.mean_s

    pings_heap: list[tuple[int, int, int, bytes]] = []
    trips_heap: list[tuple[int, int, int, bytes]] = []
    labels: list[tuple[str, str, str, str]] = []
    start_ms = cfg.start_ts_ms
    durations_sum = 0.0
    last_end = cfg.start_ts_ms
    intervals: list[tuple[int, int]] = []
    with (
        open(out / "pings.jsonl", "wb") as pings_fh,
        open(out / "trips.jsonl", "wb") as trips_fh,
        _progress(progress and total >= 200, total, "simulating trips") as advance,
    ):

        def flush(heap: list, fh, before_ms: int | None) -> None:
            while heap and (before_ms is None or heap[0][0] < before_ms):
                fh.write(heapq.heappop(heap)[3])

        def emit(planned: _Planned) -> None:
            nonlocal durations_sum, last_end
            # Everything still queued before this start is final: later trips deliver after it.
            flush(pings_heap, pings_fh, planned.start_ms)
            flush(trips_heap, trips_fh, planned.start_ms)
            trip, counts = build_trip(planned.base, planned.rng, planned.start_ms, cfg, tariff, planned.pool)
            source.done(planned, trip)
            order = len(labels)
            durations_sum += (trip.end_ms - planned.start_ms) / 1000.0
            intervals.append((planned.start_ms, trip.end_ms))
            last_end = max(last_end, trip.end_ms)
            for j, (at, value) in enumerate(trip.messages):
                heapq.heappush(pings_heap, (at, order, j, orjson.dumps(value) + b"\n"))
                summary.messages += 1
                if isinstance(value, list):
                    summary.array_messages += 1
                    summary.pings += len(value)
                else:
                    summary.pings += 1
            heapq.heappush(trips_heap, (trip.started["ts"], order, 0, orjson.dumps(trip.started) + b"\n"))
            heapq.heappush(trips_heap, (trip.ended["ts"], order, 1, orjson.dumps(trip.ended) + b"\n"))
            labels.append(trip.label)
            summary.trips += 1
            summary.kinds[trip.label[1]] += 1
            summary.noise.update(counts)

        for i in range(total):
            if i > 0:
                typical = mean_s if mean_s is not None else (PRIOR_TRIP_S + durations_sum) / (i + 1)
                start_ms += int(round(time_rng.exponential(typical / cfg.concurrency) * 1000.0))
            for extra in source.due_before(start_ms):  # a fleet's lent-account trips
                emit(extra)
            planned = source.trip(i, start_ms)
            start_ms = planned.start_ms  # a fleet starts it later when no driver is free
            emit(planned)
            advance()
        for extra in source.due_before(None):
            emit(extra)
        flush(pings_heap, pings_fh, None)
        flush(trips_heap, trips_fh, None)

    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["trip_id", "kinds", "detail", "base"])
        writer.writerows(labels)
    if cfg.fleet is not None:
        with open(out / "drivers.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["driver_id", "role", "profile", "trips", "fraud_trips", "detail"])
            writer.writerows(source.fleet.rows())
        summary.fleet = source.fleet
    summary.span_s = (last_end - cfg.start_ts_ms) / 1000.0
    summary.mean_concurrency = durations_sum / summary.span_s if summary.span_s > 0 else 0.0
    if intervals:
        starts = np.array([a for a, _ in intervals])
        ends = np.sort(np.array([b for _, b in intervals]))
        running = np.arange(1, len(starts) + 1) - np.searchsorted(ends, starts, side="right")
        summary.median_concurrency = float(np.median(running))
    summary.seconds = time.perf_counter() - t_begin
    return summary


class _progress:
    """A rich progress bar on stderr (only for large runs); yields an advance() callable."""

    def __init__(self, enabled: bool, total: int, label: str):
        self.enabled = enabled
        self.total = total
        self.label = label
        self.bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.__enter__()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False
