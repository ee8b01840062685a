"""How a phone's fixes reach the pings topic: one fix per message or a batch of 2-10 (apps upload
location batches), after network latency; some fixes are held back and arrive after later ones
(late), some are re-sent after a lost acknowledgement (duplicates). Protected fixes are never held
back (they would be dropped as late and the fraud's evidence with them); they may be duplicated.
"""

from __future__ import annotations

import numpy as np

BATCH_P = 0.48  # chance that the next upload is a batch; about 40 % of all messages end up arrays
BATCH_SIZE = (2, 10)
LATENCY_MEDIAN_MS = 700.0
LATENCY_LOG_SD = 0.7
LATENCY_MAX_MS = 20_000.0
LATE_P = 0.03
LATE_S = (20.0, 240.0)
DUPLICATE_P = 0.025
DUPLICATE_S = (1.0, 60.0)


def _latency_ms(rng: np.random.Generator) -> int:
    return int(min(LATENCY_MAX_MS, LATENCY_MEDIAN_MS * np.exp(rng.normal(0.0, LATENCY_LOG_SD))))


def deliver(rng: np.random.Generator, fixes: list[dict]) -> tuple[list[tuple[int, list[dict]]], dict]:
    """Messages as (delivery time ms, [fix, ...]); a one-fix message is written as a bare object."""
    late = [f for f in fixes if not f["_protected"] and rng.random() < LATE_P]
    late_ids = {id(f) for f in late}
    ontime = [f for f in fixes if id(f) not in late_ids]
    messages: list[tuple[int, list[dict]]] = []
    i = 0
    while i < len(ontime):
        size = int(rng.integers(BATCH_SIZE[0], BATCH_SIZE[1] + 1)) if rng.random() < BATCH_P else 1
        group = ontime[i : i + size]
        messages.append((group[-1]["ts"] + _latency_ms(rng), group))
        i += size
    for f in late:
        messages.append((f["ts"] + int(rng.uniform(*LATE_S) * 1000) + _latency_ms(rng), [f]))
    dups = [f for f in fixes if rng.random() < DUPLICATE_P]
    for f in dups:
        messages.append((f["ts"] + int(rng.uniform(*DUPLICATE_S) * 1000) + _latency_ms(rng), [f]))
    messages.sort(key=lambda m: m[0])
    counts = {
        "late": len(late),
        "duplicates": len(dups),
        "messages": len(messages),
        "array_messages": sum(1 for _, g in messages if len(g) > 1),
    }
    return messages, counts
