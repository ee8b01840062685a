"""The local state store: one engine snapshot per input partition, written atomically.

Files live under STATE_DIR/<group>/partition-<p>.npz. A snapshot carries the input offsets it
corresponds to (in its `extra`), so the trip state and the input position can never disagree:
on assign the worker restores the file and seeks to those offsets. Workers of one group share
STATE_DIR (one host, or a shared volume); see docs/streaming.md for why this and not a compacted
changelog topic.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_NAME = re.compile(r"^partition-(\d+)\.npz$")


class PartitionStore:
    def __init__(self, state_dir: Path, group: str):
        safe_group = re.sub(r"[^A-Za-z0-9._-]", "_", group)
        self.directory = Path(state_dir) / safe_group
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, partition: int) -> Path:
        return self.directory / f"partition-{partition}.npz"

    def load(self, partition: int) -> bytes | None:
        try:
            return self.path(partition).read_bytes()
        except FileNotFoundError:
            return None

    def save(self, partition: int, blob: bytes) -> None:
        """Temp file in the same directory, fsync, rename over the old file, fsync the directory:
        after a crash the file is either the old snapshot or the new one, never a torn one."""
        fd, tmp = tempfile.mkstemp(prefix=f".partition-{partition}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path(partition))
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def partitions(self) -> list[int]:
        return sorted(int(m.group(1)) for f in self.directory.iterdir() if (m := _NAME.match(f.name)))
