"""The local state cache file: round trip, atomic replacement, nothing left behind, a damaged
file refused (the worker then restores from the changelog)."""

from __future__ import annotations

import os

import pytest

from tripguard.stream.changelog import Checkpoint
from tripguard.stream.store import CachedState, StateCache


def _state(partition: int, records: dict[bytes, bytes]) -> CachedState:
    return CachedState(
        "cluster-1", "t.changelog", partition, Checkpoint("ck", {"p": 4, "t": 2}, "cluster-1", "trips"), 17, records
    )


def test_save_load_replace(tmp_path):
    cache = StateCache(tmp_path, "group/with:odd chars")
    assert cache.load("t.changelog", 3) is None
    cache.save(_state(3, {b"trip/a": b"first"}))
    cache.save(_state(3, {b"trip/a": b"second", b"trip/b": b"\x00\xff" * 100}))
    cache.save(_state(0, {}))
    got = cache.load("t.changelog", 3)
    assert got == _state(3, {b"trip/a": b"second", b"trip/b": b"\x00\xff" * 100})
    assert cache.load("t.changelog", 0).records == {}
    assert sorted(os.listdir(cache.directory)) == ["t.changelog-0.state", "t.changelog-3.state"]  # no temp files
    assert cache.directory.parent == tmp_path


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    cache = StateCache(tmp_path, "g")
    cache.save(_state(1, {b"k": b"good"}))

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        cache.save(_state(1, {b"k": b"half-written"}))
    monkeypatch.undo()
    assert cache.load("t.changelog", 1).records == {b"k": b"good"}
    assert os.listdir(cache.directory) == ["t.changelog-1.state"]


def test_a_damaged_file_is_refused(tmp_path):
    cache = StateCache(tmp_path, "g")
    cache.save(_state(2, {b"k": b"v" * 50}))
    path = cache.path("t.changelog", 2)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        cache.load("t.changelog", 2)
    path.write_bytes(b"something else")
    with pytest.raises(ValueError, match="not a tripguard state cache"):
        cache.load("t.changelog", 2)
