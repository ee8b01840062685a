"""Refresh the JSON examples of docs/events.md from the two commands the document names.

    .venv/bin/python scripts/event_examples.py

Runs those commands (`tripguard simulate ... --out sim`, `tripguard replay ... --out out`, and the
fleet's pair for driver_risk, `--out fleet` and `--out fleet-out`) in a temporary directory and replaces every ```json block with the record it documents, taken from
their output: the same trip's record of the same kind where there is one (the same alert kind for
alerts), else the first record of that kind. Long strings are shortened as the document says
("..." keeps their head). tests/test_docs_examples.py checks that the examples are real.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "events.md"
TRIPGUARD = str(Path(sys.executable).parent / "tripguard")
KEEP_CHARS = 60
# the directories the documented commands write (in a temporary directory), and the files read back
OUTPUTS = ("sim", "out", "fleet", "fleet-out")
RECORDS = (
    "sim/pings.jsonl",
    "sim/trips.jsonl",
    "out/alerts.jsonl",
    "out/verdicts.jsonl",
    "fleet-out/driver_risk.jsonl",
)


def kind_of(obj) -> str:
    if isinstance(obj, list):
        return "ping_batch"
    if str(obj.get("event_id", "")).startswith("drk-"):
        return "driver_risk"
    if "type" in obj:
        return obj["type"]
    if "alert_id" in obj and "kind" in obj:
        return "alert"
    if "risk_score" in obj:
        return "verdict"
    return "ping"


def shorten(value):
    if isinstance(value, str) and len(value) > KEEP_CHARS + 10:
        return value[:KEEP_CHARS] + "..."
    if isinstance(value, dict):
        return {k: v if k == "detected_at" else shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten(v) for v in value]
    return value


def main() -> None:
    doc = DOC.read_text()
    commands = re.findall(r"`tripguard ((?:simulate|replay) [^`]+)`", doc.replace("\n", " "))
    with tempfile.TemporaryDirectory() as tmp:
        for command in commands:  # run from the repository (the input is data/...), written to tmp
            args = [str(Path(tmp) / a) if a in OUTPUTS or a.split("/")[0] in OUTPUTS else a for a in command.split()]
            subprocess.run([TRIPGUARD, *args], cwd=ROOT, check=True, capture_output=True)
        records: dict[str, list] = {}
        for name in RECORDS:
            for line in (Path(tmp) / name).read_text().splitlines():
                obj = json.loads(line)
                records.setdefault(kind_of(obj), []).append(obj)

    def replacement(match: re.Match) -> str:
        old = json.loads(match.group(1))
        kind = kind_of(old)
        first = old[0] if isinstance(old, list) else old
        same = [
            r
            for r in records[kind]
            if (r[0] if isinstance(r, list) else r).get("trip_id") == first.get("trip_id")
            and (kind != "alert" or r["kind"] == old["kind"])
        ]
        pick = (same or [r for r in records[kind] if kind != "alert" or r["kind"] == old["kind"]] or records[kind])[0]
        return "```json\n" + json.dumps(shorten(pick), indent=2, ensure_ascii=False) + "\n```"

    DOC.write_text(re.sub(r"```json\n(.*?)```", replacement, doc, flags=re.S))
    print(f"refreshed the examples of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
