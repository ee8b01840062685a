"""A fleet for `tripguard simulate --fleet N --repeat-offenders SHARE`: N drivers with many trips
each, whose work is uneven (activity lognormal: some drive five times as much as others), a few of
whom commit fraud again and again -- what the driver-risk stage must find.

Repeat offenders, in turn:
- serial: a fraud of one or two favourite kinds on 20-45 % of their trips, at the magnitudes of
  single-trip fraud (tripguard.simulate.fraud);
- skimmer: claims a little more than the meter on 50-90 % of their trips (fare x1.05-1.15, or
  distance x1.10-1.25), mostly below what one trip's check can call fraud;
- sharer: lends the account: on 15-35 % of their trips someone else drives another trip under
  the same driver id at the same time, elsewhere.
Fraud pays by the trip, so repeat offenders work at least as much as the median driver (their
activity is drawn from the upper half). Everyone else is honest, but for an occasional fraud on
`occasional_rate` of their trips (one kind at random): one-off fraud is not a repeat offender's.
drivers.csv says who is who.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PROFILES = ("serial", "skimmer", "serial", "sharer")  # offenders take them in turn
HONEST, OFFENDER = "honest", "repeat_offender"
GAP_MS = (60_000, 600_000)  # a driver is free again this long after a drop-off


@dataclass
class FleetDriver:
    driver_id: str
    role: str
    profile: str = ""
    rate: float = 0.0  # per trip: the serial's fraud, the skimmer's inflated claims, the sharer's lent trips
    kinds: tuple[str, ...] = ()  # a serial's favourite kinds
    skims: str = ""  # a skimmer's: "fare" or "distance"
    trips: int = 0
    fraud_trips: int = 0  # trips labelled with a kind, and lent trips
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """What a trip of this driver will be."""

    kind: str | None = None  # the fraud kind to inject (None: honest)
    fare_factor: float = 1.0
    distance_factor: float = 1.0
    detail: str = ""
    lend: bool = False  # someone else drives another trip on the account meanwhile


@dataclass
class Fleet:
    size: int
    offender_share: float
    occasional_rate: float
    kinds: tuple[str, ...]
    rng: np.random.Generator
    drivers: list[FleetDriver] = field(init=False)

    def __post_init__(self) -> None:
        n_off = int(round(self.size * self.offender_share))
        if self.offender_share > 0:
            n_off = max(1, n_off)
        offenders = set(self.rng.choice(self.size, n_off, replace=False).tolist()) if n_off else set()
        width = max(5, len(str(self.size)))
        self.drivers = []
        turn = 0
        for i in range(self.size):
            d = FleetDriver(f"drv-{i + 1:0{width}d}", OFFENDER if i in offenders else HONEST)
            if d.role == OFFENDER:
                d.profile = PROFILES[turn % len(PROFILES)]
                turn += 1
                self._profile(d)
            self.drivers.append(d)
        self.activity = self.rng.lognormal(0.0, 0.75, self.size)
        offender = np.array([d.role == OFFENDER for d in self.drivers])
        self.activity[offender] = np.maximum(self.activity[offender], np.median(self.activity))
        self.free_at = np.zeros(self.size, np.int64)

    def _profile(self, d: FleetDriver) -> None:
        rng = self.rng
        if d.profile == "serial":
            d.rate = float(rng.uniform(0.20, 0.45))
            d.kinds = tuple(rng.choice(self.kinds, min(len(self.kinds), int(rng.integers(1, 3))), replace=False))
            d.detail = f"serial: {', '.join(d.kinds)} on {100 * d.rate:.0f} % of trips"
        elif d.profile == "skimmer":
            d.rate = float(rng.uniform(0.5, 0.9))
            d.skims = "fare" if rng.random() < 0.5 else "distance"
            d.detail = f"skimmer: inflates the claimed {d.skims} a little on {100 * d.rate:.0f} % of trips"
        else:
            d.rate = float(rng.uniform(0.15, 0.35))
            d.detail = f"sharer: someone else drives on the account during {100 * d.rate:.0f} % of trips"

    def take(self, start_ms: int) -> tuple[int, int]:
        """A free driver for a trip starting at start_ms, chosen by activity, and the start (later
        when nobody is free)."""
        free = self.free_at <= start_ms
        if not free.any():
            start_ms = int(self.free_at.min())
            free = self.free_at <= start_ms
        weights = np.where(free, self.activity, 0.0)
        return int(self.rng.choice(self.size, p=weights / weights.sum())), start_ms

    def plan(self, i: int, rng: np.random.Generator) -> Plan:
        d = self.drivers[i]
        if d.role == HONEST:
            if self.kinds and rng.random() < self.occasional_rate:
                return Plan(kind=str(rng.choice(self.kinds)), detail="occasional")
            return Plan()
        if rng.random() >= d.rate:
            return Plan()
        if d.profile == "serial":
            return Plan(kind=str(rng.choice(d.kinds)))
        if d.profile == "skimmer":
            if d.skims == "fare":
                return Plan(kind="fare_inflation", fare_factor=float(rng.uniform(1.05, 1.15)), detail="skimmed")
            return Plan(kind="distance_mismatch", distance_factor=float(rng.uniform(1.10, 1.25)), detail="skimmed")
        return Plan(lend=True)

    def busy(self, i: int, until_ms: int, fraud: bool) -> None:
        d = self.drivers[i]
        d.trips += 1
        d.fraud_trips += int(fraud)
        gap = int(self.rng.integers(*GAP_MS))
        self.free_at[i] = max(int(self.free_at[i]), until_ms + gap)

    def rows(self) -> list[tuple]:
        return [(d.driver_id, d.role, d.profile, d.trips, d.fraud_trips, d.detail) for d in self.drivers]
