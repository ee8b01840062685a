"""The partition store: atomic replacement, one file per partition, nothing left behind."""

from __future__ import annotations

import os

import pytest

from tripguard.stream.store import PartitionStore


def test_save_load_replace(tmp_path):
    store = PartitionStore(tmp_path, "group/with:odd chars")
    assert store.load(3) is None
    store.save(3, b"first")
    store.save(3, b"second")
    store.save(0, b"zero")
    assert store.load(3) == b"second" and store.load(0) == b"zero"
    assert store.partitions() == [0, 3]
    assert sorted(os.listdir(store.directory)) == ["partition-0.npz", "partition-3.npz"]  # no temp files
    assert store.directory.parent == tmp_path


def test_a_failed_write_keeps_the_old_snapshot(tmp_path, monkeypatch):
    store = PartitionStore(tmp_path, "g")
    store.save(1, b"good")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.save(1, b"half-written")
    assert store.load(1) == b"good"
    assert os.listdir(store.directory) == ["partition-1.npz"]
