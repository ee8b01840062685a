"""The driver-risk stage over files, for `tripguard replay`: the engine's verdicts as they come,
reviewers' decisions from an optional JSONL file (tripguard.decisions' values), driver_risk
events to DIR/driver_risk.jsonl. The same RiskStage as the Kafka loop, with one upstream (the
replay's engine), so the events are the stream's."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from tripguard.config.files import CityTables
from tripguard.errors import ContractError, InputError
from tripguard.io.codec import dumps
from tripguard.io.inputs import Message, partition_of
from tripguard.risk.stage import DECISION, VERDICT, Input, RiskStage, StageOutput, parse

DRIVER_RISK_FILE = "driver_risk.jsonl"
DECISIONS = "decisions"
# The trip stage emits a verdict up to its idle timeout plus end grace after the trip's end; the
# risk stage waits that long, and this much more, before it takes a record as complete.
LATENESS_MARGIN_MS = 300_000


def lateness_ms(idle_timeout_ms: int, end_grace_ms: int) -> int:
    return int(idle_timeout_ms + end_grace_ms + LATENESS_MARGIN_MS)


class RiskReplay:
    SOURCE = "replay"

    def __init__(
        self,
        cities: CityTables,
        out: BinaryIO,
        lateness: int,
        decisions: Path | None = None,
        part: tuple[int, int] | None = None,
    ):
        """part = (p, n): only the verdicts and decisions of the drivers of partition p of n (replay
        --workers splits the stage by driver_id); decisions that do not parse go to partition 0,
        as replay's partitions split their input."""
        self.stage = RiskStage(cities, [self.SOURCE], lateness)
        self.out = out
        self.events = 0
        self.dead: list[tuple[Message, str]] = []
        self.part = part
        if decisions is not None:
            self._read_decisions(decisions)  # they wait in the stage for the verdicts' watermark

    def _read_decisions(self, path: Path) -> None:
        try:
            fh = open(path, "rb")
        except OSError as exc:
            raise InputError(f"--decisions {path}: cannot read ({exc.strerror})") from None
        with fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                message = Message(DECISIONS, number, line.rstrip(b"\r\n"), None, None, 0)
                try:
                    record = parse(DECISION, message.raw)
                except ContractError as exc:
                    if self.part is None or self.part[0] == 0:
                        self.dead.append((message, str(exc)))
                    continue
                if self._mine(record.driver_id):
                    self._write(self.stage.add(Input(DECISION, record, message)))

    def _mine(self, driver_id: str) -> bool:
        return self.part is None or partition_of(driver_id.encode(), self.part[1]) == self.part[0]

    def verdicts(self, verdicts: list[dict]) -> None:
        for v in verdicts:
            if not self._mine(v["driver_id"]):
                continue
            # through its bytes, as the stream reads it
            self._write(self.stage.add(Input(VERDICT, parse(VERDICT, dumps(v)), None, self.SOURCE)))

    def finish(self) -> list[tuple[Message, str]]:
        """Release what waits; the decisions that were rejected, with the reason."""
        self._write(self.stage.flush())
        return self.dead

    def _write(self, out: StageOutput) -> None:
        for event in out.events:
            self.out.write(dumps(event) + b"\n")
        self.events += len(out.events)
        self.dead.extend((item.origin, reason) for item, reason in out.rejected)
