"""Every tracked file works on a fresh clone: none names a directory of the machine it was written
on (a home directory, root's, the development machines' shared folder). Examples use what the repository ships (data/porto/,
tests/data/); data that is not shipped is named by file, with where it comes from."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MACHINE_PATH = re.compile(r"(?<![\w.-])/(work|root|home|Users)/|[A-Z]:\\Users\\")


def test_no_tracked_file_names_a_machine_specific_path():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    where: list[str] = []
    for name in files.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        for n, line in enumerate(path.read_bytes().decode("utf-8", "ignore").splitlines(), 1):
            if MACHINE_PATH.search(line):
                where.append(f"{name}:{n}: {line.strip()[:120]}")
    assert not where, "\n".join(where)
