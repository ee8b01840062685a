"""The changelog's restore rule (changelog.fold), no broker: whatever the crash point, the state
restored is exactly the state at the group's committed offsets; the records owed (repair) make
the changelog's last value per key that state again; and a compacting broker changes nothing."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tripguard.stream.changelog import MARKER_KEY, Checkpoint, fold

CLUSTER, STORE = "c1", "trips"


class Writer:
    """A writer of checkpoints as the worker writes them: records, then the marker, then the commit."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.log: list[tuple[int, bytes, bytes | None]] = []
        self.state: dict[bytes, bytes] = {}
        self.committed: dict[str, int] | None = None
        self.committed_state: dict[bytes, bytes] = {}
        self.n = 0

    def append(self, key: bytes, value: bytes | None) -> None:
        self.log.append((len(self.log), key, value))

    def checkpoint(self, crash: str | None = None) -> None:
        """crash: None, "torn" (stops after some of the records), "before_commit" (marker written)."""
        self.n += 1
        changes = []
        for _ in range(self.rng.randint(0, 6)):
            key = b"trip/%d" % self.rng.randint(0, 12)
            value = None if self.rng.random() < 0.3 else b"v%d-%d" % (self.n, self.rng.randint(0, 99))
            changes.append((key, value))
        cut = self.rng.randint(0, len(changes)) if crash == "torn" else len(changes)
        for key, value in changes[:cut]:
            self.append(key, value)
        if crash == "torn":
            return
        offsets = {"pings": 10 * self.n, "trips": 3 * self.n}
        self.append(MARKER_KEY, Checkpoint(f"ck{self.n}", offsets, CLUSTER, STORE).encode())
        for key, value in changes:
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        if crash == "before_commit":
            return
        self.committed, self.committed_state = offsets, dict(self.state)

    def restore_and_repair(self) -> dict[bytes, bytes]:
        """What a successor does: fold, then its first checkpoint writes the repair (and a marker)."""
        restored = fold(self.log, len(self.log), self.committed, CLUSTER, STORE)
        self.state = dict(restored.records)
        for key, value in restored.repair.items():
            self.append(key, value)
        self.n += 1
        offsets = {"pings": 10 * self.n, "trips": 3 * self.n}
        self.append(MARKER_KEY, Checkpoint(f"ck{self.n}", offsets, CLUSTER, STORE).encode())
        self.committed, self.committed_state = offsets, dict(self.state)
        return restored.records


def compacted(log, upto: int, drop_tombstones: bool):
    """What a compacting broker may have done to the offsets before `upto`: only the last record
    of each key there survives (and its tombstones may be gone too)."""
    last = {}
    for offset, key, _ in log:
        if offset < upto:
            last[key] = offset
    out = []
    for offset, key, value in log:
        if offset < upto and (last[key] != offset or (drop_tombstones and value is None)):
            continue
        out.append((offset, key, value))
    return out


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 10**9),
    crashes=st.lists(st.sampled_from([None, None, "torn", "before_commit"]), min_size=1, max_size=12),
)
def test_restore_is_the_committed_state_whatever_the_crash(seed, crashes):
    w = Writer(random.Random(seed))
    for crash in crashes:
        w.checkpoint(crash)
        if crash is not None:  # the worker died: a successor restores, repairs and goes on
            want = dict(w.committed_state)
            assert w.restore_and_repair() == want
    restored = fold(w.log, len(w.log), w.committed, CLUSTER, STORE)
    assert restored.records == w.committed_state
    if w.committed is not None:
        assert restored.checkpoint.offsets == w.committed and restored.problem is None
        # the broker compacted everything up to the committed marker: same state
        for drop in (False, True):
            again = fold(compacted(w.log, restored.offset, drop), len(w.log), w.committed, CLUSTER, STORE)
            assert again.records == w.committed_state and again.checkpoint == restored.checkpoint


def test_a_crash_between_marker_and_commit_restores_the_previous_checkpoint():
    w = Writer(random.Random(1))
    w.checkpoint()
    w.checkpoint()
    before = dict(w.committed_state)
    w.checkpoint("before_commit")
    restored = fold(w.log, len(w.log), w.committed, CLUSTER, STORE)
    assert restored.records == before and restored.checkpoint.id == "ck2"
    written_after = {k for o, k, _ in w.log if o > restored.offset and k != MARKER_KEY}
    assert set(restored.repair) == written_after
    assert all(restored.repair[k] == before.get(k) for k in written_after)


def _two_checkpoints():
    w = Writer(random.Random(2))
    w.append(b"trip/a", b"1")
    w.append(MARKER_KEY, Checkpoint("x", {"pings": 5, "trips": 1}, CLUSTER, STORE).encode())
    return w


def test_state_the_group_does_not_back_is_set_aside():
    w = _two_checkpoints()
    ok = fold(w.log, 2, {"pings": 5, "trips": 1}, CLUSTER, STORE)
    assert ok.records == {b"trip/a": b"1"} and ok.problem is None and not ok.repair
    cases = {
        "no committed offsets": (None, CLUSTER),
        "match none of its checkpoints": ({"pings": 9, "trips": 1}, CLUSTER),  # committed past it
        "topics": ({"other.pings": 5, "trips": 1}, CLUSTER),
        "cluster": ({"pings": 5, "trips": 1}, "c2"),
    }
    for words, (committed, cluster) in cases.items():
        r = fold(w.log, 2, committed, cluster, STORE)
        assert r.records == {} and r.checkpoint is None and words in r.problem, (words, r.problem)
        assert r.repair == {b"trip/a": None}  # the set-aside state is deleted at the next checkpoint


def test_an_empty_changelog_has_no_state_and_no_problem():
    r = fold([], 0, None, CLUSTER, STORE)
    assert r.records == {} and r.checkpoint is None and r.problem is None and r.end == 0
    torn = fold([(0, b"trip/a", b"1")], 1, None, CLUSTER, STORE)  # a first checkpoint that never finished
    assert torn.records == {} and torn.problem is None and torn.repair == {b"trip/a": None}
