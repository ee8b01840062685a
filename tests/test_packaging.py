"""What `pip install` puts in site-packages: every package listed, every shipped file included, and
a build that says nothing (no setuptools warning block on install)."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def package_of(directory: str) -> str | None:
    """The import package a repository directory installs as (package-dir mapping), if any."""
    for package, source in sorted(SETUPTOOLS["package-dir"].items(), key=lambda kv: -len(kv[1])):
        if directory == source or directory.startswith(source + "/"):
            return ".".join([package, *Path(directory).relative_to(source).parts])
    return None


def shipped() -> dict[str, list[str]]:
    """Tracked files under the mapped directories, by the package they belong to."""
    files: dict[str, list[str]] = {}
    for path in tracked_files():
        package = package_of(str(Path(path).parent))
        if package is not None:
            files.setdefault(package, []).append(Path(path).name)
    return files


def test_every_directory_is_a_listed_package_and_every_listed_package_exists():
    assert set(shipped()) == set(SETUPTOOLS["packages"])


def test_every_shipped_file_is_code_or_declared_package_data():
    data = SETUPTOOLS["package-data"]
    missing = [
        f"{package}: {name}"
        for package, names in shipped().items()
        for name in names
        if not name.endswith(".py") and not any(fnmatch.fnmatch(name, g) for g in data.get(package, []))
    ]
    assert not missing, f"add to [tool.setuptools.package-data]: {missing}"


def test_wheel_builds_without_a_warning_and_holds_the_data(tmp_path):
    # a fresh copy of the tracked files (what a clone has), built by the backend itself (the dev
    # extra installs it, so no download): the BuildBackendWarning blocks pip printed came from here
    src = tmp_path / "src"
    for path in tracked_files():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, src / path)
    r = subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_wheel({str(tmp_path)!r}))"],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    warnings = [line for line in r.stderr.splitlines() if "Warning" in line]
    assert not warnings, warnings
    names = set(zipfile.ZipFile(tmp_path / r.stdout.split()[-1]).namelist())
    for expected in (
        "tripguard/py.typed",
        "tripguard/kernels/kinematics.py",
        "tripguard/data/cities.toml",
        "tripguard/data/porto/network.npz",
        "tripguard/data/porto/trips-sample.csv",
        "tripguard/data/schemas/ping.json",
        "tripguard/review/templates/queue.html",
        "tripguard/review/static/review.css",
    ):
        assert expected in names
    assert not [n for n in names if n.startswith(("kernels/", "data/", "tests/"))]  # no stray top level
