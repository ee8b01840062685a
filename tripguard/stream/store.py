"""The local state cache: a copy of a partition's changelog state on this host's disk.

It is never the truth. A worker writes it when it hands a partition back cleanly (revoke,
SIGTERM), together with the changelog position and checkpoint it copies; on assignment it is
used only if the changelog still ends with that very checkpoint (same marker id at the same
offset, nothing after it), on the same cluster, and the group's committed offsets are that
checkpoint's. Otherwise the partition is restored from the changelog. What it saves is reading
the changelog partition (`tripguard.stream.restore`).

Files: STATE_DIR/<group>/<changelog topic>-<p>.state, replaced atomically.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from tripguard.stream.changelog import Checkpoint

_MAGIC = b"TGSC1\n"


@dataclass
class CachedState:
    cluster: str | None
    topic: str
    partition: int
    checkpoint: Checkpoint
    offset: int  # of the checkpoint's marker in the changelog partition
    records: dict[bytes, bytes]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class StateCache:
    def __init__(self, state_dir: Path, group: str):
        self.directory = Path(state_dir) / _safe(group)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, topic: str, partition: int) -> Path:
        return self.directory / f"{_safe(topic)}-{partition}.state"

    def load(self, topic: str, partition: int) -> CachedState | None:
        """The cached state, None when there is none; raises ValueError on a file it cannot read."""
        try:
            blob = self.path(topic, partition).read_bytes()
        except FileNotFoundError:
            return None
        if not blob.startswith(_MAGIC):
            raise ValueError("not a tripguard state cache file")
        try:
            return self._parse(blob)
        except (struct.error, KeyError, TypeError) as exc:
            raise ValueError(f"truncated or damaged state cache file ({exc})") from None

    @staticmethod
    def _parse(blob: bytes) -> CachedState:
        at = len(_MAGIC)
        (n,) = struct.unpack_from("<I", blob, at)
        head = orjson.loads(blob[at + 4 : at + 4 + n])
        at += 4 + n
        records = {}
        while at < len(blob):
            klen, vlen = struct.unpack_from("<II", blob, at)
            at += 8
            records[blob[at : at + klen]] = blob[at + klen : at + klen + vlen]
            at += klen + vlen
        if at != len(blob) or len(records) != head["records"]:
            raise ValueError("truncated state cache file")
        return CachedState(
            head["cluster"],
            head["topic"],
            head["partition"],
            Checkpoint.decode(head["checkpoint"]),
            head["offset"],
            records,
        )

    def save(self, state: CachedState) -> None:
        head = orjson.dumps(
            {
                "cluster": state.cluster,
                "topic": state.topic,
                "partition": state.partition,
                "checkpoint": state.checkpoint.encode().decode(),
                "offset": state.offset,
                "records": len(state.records),
            }
        )
        parts = [_MAGIC, struct.pack("<I", len(head)), head]
        for k, v in state.records.items():
            parts += [struct.pack("<II", len(k), len(v)), k, v]
        self._write(self.path(state.topic, state.partition), b"".join(parts))

    def drop(self, topic: str, partition: int) -> None:
        try:
            self.path(topic, partition).unlink()
        except FileNotFoundError:
            pass

    def _write(self, path: Path, blob: bytes) -> None:
        """Temp file in the same directory, fsync, rename over the old file, fsync the directory:
        after a crash the file is either the old one or the new one, never a torn one."""
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
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
