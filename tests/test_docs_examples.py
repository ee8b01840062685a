"""docs/events.md says its JSON examples are real output of two commands on the shipped sample:
run those commands and find every example among their records (shortened strings, "...", match
by their ends; detected_at is the wall clock)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from typer.testing import CliRunner

from tripguard.cli import app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from event_examples import OUTPUTS, RECORDS  # noqa: E402  (the script and this test read the same files)


def matches(example, record) -> bool:
    if isinstance(example, dict):
        return (
            isinstance(record, dict)
            and set(example) == set(record)
            and all(k == "detected_at" or matches(v, record[k]) for k, v in example.items())
        )
    if isinstance(example, list):
        return (
            isinstance(record, list)
            and len(example) == len(record)
            and all(matches(a, b) for a, b in zip(example, record))
        )
    if isinstance(example, str) and "..." in example:
        head, tail = example.split("...", 1)
        return isinstance(record, str) and record.startswith(head) and record.endswith(tail)
    return example == record


def test_event_examples_are_what_the_documented_commands_write(tmp_path, monkeypatch):
    doc = (ROOT / "docs" / "events.md").read_text()
    commands = re.findall(r"`tripguard ((?:simulate|replay) [^`]+)`", doc.replace("\n", " "))
    assert [c.split()[0] for c in commands] == ["simulate", "replay", "simulate", "replay"]
    monkeypatch.chdir(ROOT)
    for command in commands:
        args = [str(tmp_path / a) if a in OUTPUTS or a.split("/")[0] in OUTPUTS else a for a in command.split()]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    records = []
    for name in RECORDS:
        records += [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", doc, re.S)]
    assert len(examples) >= 7
    for example in examples:
        assert any(matches(example, r) for r in records), json.dumps(example)[:200]
