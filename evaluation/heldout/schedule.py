"""When trips start and who drives them.

Starts are a Poisson process whose rate makes about CONCURRENT trips run at once in the steady
state (Little's law: rate = concurrent / mean duration). Drivers are reused: a driver who finished
a trip and took a break takes the next trip with REUSE_P, otherwise a new driver logs in. A driver
never has two trips at once.
"""

from __future__ import annotations

import hashlib

import numpy as np

CONCURRENT = 150
EPOCH_MS = 1_719_820_800_000  # 2024-07-01T08:00:00Z, a weekday morning
REUSE_P = 0.8
BREAK_S = (60.0, 900.0)


def start_times_ms(rng: np.random.Generator, durations_s: np.ndarray, concurrent: int = CONCURRENT) -> np.ndarray:
    rate = concurrent / max(float(np.mean(durations_s)), 1.0)
    gaps = rng.exponential(1.0 / rate, len(durations_s))
    return EPOCH_MS + np.round(np.cumsum(gaps) * 1000.0).astype(np.int64)


def assign_drivers(rng: np.random.Generator, seed: int, spans_ms: list[tuple[int, int]]) -> list[str]:
    """spans_ms: (first event, last event) per trip; returns a driver id per trip."""
    order = sorted(range(len(spans_ms)), key=lambda i: spans_ms[i][0])
    free_at: dict[str, int] = {}
    out = [""] * len(spans_ms)
    salt = hashlib.sha1(f"heldout-drivers-{seed}".encode()).hexdigest()[:6]
    for i in order:
        start, end = spans_ms[i]
        free = sorted(d for d, t in free_at.items() if t <= start)
        if free and rng.random() < REUSE_P:
            driver = free[int(rng.integers(len(free)))]
        else:
            driver = f"drv-{salt}-{len(free_at):05d}"
        out[i] = driver
        free_at[driver] = end + int(rng.uniform(*BREAK_S) * 1000)
    return out


def concurrency(spans_ms: list[tuple[int, int]]) -> dict:
    """Trips running at once, sampled every minute over the middle half of the schedule."""
    s = np.array([a for a, _ in spans_ms])
    e = np.array([b for _, b in spans_ms])
    lo, hi = np.percentile(s, 25), np.percentile(s, 75)
    grid = np.arange(lo, hi, 60_000)
    running = [int(((s <= g) & (e >= g)).sum()) for g in grid] or [0]
    return {"median": float(np.median(running)), "max": int(max(running)), "min": int(min(running))}
