"""mypy over tripguard/ and kernels/, with kernels/ checked as what it installs as: tripguard.kernels.

    .venv/bin/python scripts/mypy_check.py [mypy options]      (what `make lint` runs)

pyproject maps the top-level kernels/ directory to the package tripguard.kernels (package-dir).
Plain `mypy -p tripguard` cannot see that mapping: the editable install provides it with an
import hook, which mypy does not run, so every `from tripguard.kernels import ...` would be
unresolved (or silently Any). mypy's own option parser collects the files here, the kernels'
modules are renamed to their installed names, and mypy's build checks them under those names, so
the strict overrides for tripguard.kernels.* in pyproject apply and imports of the kernels are
type-checked. Options and configuration are mypy's (pyproject.toml [tool.mypy]); exit status and
messages are mypy's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mypy import build
from mypy.errors import CompileError
from mypy.fscache import FileSystemCache
from mypy.main import process_options

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    os.chdir(ROOT)  # pyproject.toml's [tool.mypy], and paths in messages relative to the repository
    fscache = FileSystemCache()
    sources, options = process_options([*argv, "tripguard", "kernels"], fscache=fscache)
    for source in sources:
        if source.module == "kernels" or source.module.startswith("kernels."):
            source.module = "tripguard." + source.module
    try:
        messages = build.build(sources, options, fscache=fscache).errors
    except CompileError as e:
        messages = e.messages
    for message in messages:
        print(message)
    n_errors = sum(": error:" in m for m in messages)
    if n_errors:
        files = len({m.split(":", 1)[0] for m in messages if ": error:" in m})
        print(
            f"Found {n_errors} error{'s' * (n_errors != 1)} in {files} file{'s' * (files != 1)} "
            f"(checked {len(sources)} source files)"
        )
        return 1
    print(f"Success: no issues found in {len(sources)} source files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
