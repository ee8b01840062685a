"""The layout's import rules (docs/design.md, "Layout"), read from the source with ast so that a
module that breaks one fails here, not in a review.

- kernels/ imports no tripguard module outside the kernels and nothing but numpy, numba and the
  standard library: kernels take arrays and know nothing of Kafka, HTTP or files.
- config/ imports nothing of tripguard but errors: everything reads configuration, it reads nothing.
- The engine (engine/, detectors/, the fare assessment and tariffs) imports no I/O: no Kafka, no
  HTTP, no files, no io/ (codec, inputs, replay), no stream/, review/, risk/ or offline tools.
- io/ and risk/ import no stream/, review/ or CLI: the worker and the review service build on them.
- stream/ and review/ do not import each other: the review service reads what the workers publish.
- stream/ does not import tripguard.io.replay (files in, files out): a worker builds its engine with
  Engine.from_settings, as `tripguard replay` does.
- Inside review/: store/ (data access) imports no HTTP framework and nothing of api/ or pages/;
  pages/ imports nothing of api/; what both need is in review/common.py, which imports neither.
  api/ may import store/ and pages/.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL_ALLOWED = {"numpy", "numba", "tripguard.kernels"}
ENGINE = [
    "tripguard/engine",
    "tripguard/detectors",
    "tripguard/fare/assess.py",
    "tripguard/fare/tariff.py",
    "tripguard/fare/params.py",
]
NETWORK_AND_FILES = ("aiokafka", "fastapi", "starlette", "uvicorn", "httpx", "sqlite3", "socket")
OUTER = ("tripguard.stream", "tripguard.review", "tripguard.cli")
IO = ("tripguard.io", "tripguard.risk", "tripguard.offline", *OUTER, *NETWORK_AND_FILES)


def _files(*paths: str) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = ROOT / p
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _imports(path: Path) -> set[str]:
    """Absolute names of every module the file imports (relative imports resolved to its package)."""
    rel = path.relative_to(ROOT)
    # kernels/ installs as tripguard.kernels; tripguard/x/y.py is in package tripguard.x
    package = "tripguard.kernels" if rel.parts[0] == "kernels" else ".".join(rel.parent.parts)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = str(node.module)
            names.add(module)
            # the names may be modules: `from tripguard.review import api` imports tripguard.review.api
            names.update(f"{module}.{a.name}" for a in node.names if a.name != "*")
    return names


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _kernel_files() -> list[Path]:
    # the test-only twins (*_ref.py) measure against shapely; they are not kernels
    return [f for f in _files("kernels") if not f.stem.endswith("_ref")]


@pytest.mark.parametrize("path", _kernel_files(), ids=lambda p: p.name)
def test_kernels_import_only_numpy_numba_and_the_standard_library(path):
    bad = {
        n for n in _imports(path) if not _under(n, KERNEL_ALLOWED) and n.split(".")[0] not in sys.stdlib_module_names
    }
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files(*ENGINE), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_imports_no_io(path):
    bad = {n for n in _imports(path) if _under(n, IO)}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_config_imports_nothing_of_tripguard_but_errors():
    files = _files("tripguard/config")
    assert files
    bad = {
        str(f.relative_to(ROOT)): sorted(
            n
            for n in _imports(f)
            if _under(n, ["tripguard"]) and not _under(n, ["tripguard.config", "tripguard.errors"])
        )
        for f in files
    }
    assert not {k: v for k, v in bad.items() if v}


APART = [
    ("io", OUTER),
    ("risk", OUTER),
    ("stream", ("tripguard.review",)),
    ("review", ("tripguard.stream",)),
    ("stream", ("tripguard.io.replay",)),
]


@pytest.mark.parametrize(("package", "others"), APART, ids=[f"{p}-{o[0]}" for p, o in APART])
def test_package_does_not_import_other(package, others):
    """io/ builds on neither stream/ nor review/; they do not import each other; stream/ does not import replay."""
    files = _files(f"tripguard/{package}")
    assert files
    bad = {str(f.relative_to(ROOT)): sorted(n for n in _imports(f) if _under(n, others)) for f in files}
    assert not {k: v for k, v in bad.items() if v}


REVIEW = "tripguard.review"
REVIEW_LAYERS = [
    ("store", ("fastapi", "starlette", f"{REVIEW}.api", f"{REVIEW}.pages")),
    ("pages", (f"{REVIEW}.api",)),
    ("common.py", (f"{REVIEW}.api", f"{REVIEW}.pages")),
]


@pytest.mark.parametrize(("part", "forbidden"), REVIEW_LAYERS, ids=[p for p, _ in REVIEW_LAYERS])
def test_review_layers(part, forbidden):
    files = _files(f"tripguard/review/{part}")
    assert files and all(f.exists() for f in files)
    bad = {str(f.relative_to(ROOT)): sorted(n for n in _imports(f) if _under(n, forbidden)) for f in files}
    assert not {k: v for k, v in bad.items() if v}


def test_the_rules_see_imports():
    """The scanner itself: relative imports resolve, so a rule cannot pass by reading nothing."""
    assert "tripguard.kernels._jit" in _imports(ROOT / "kernels" / "kinematics.py")
    assert "tripguard.detectors.route" in _imports(ROOT / "tripguard" / "engine" / "core.py")
    assert "tripguard.io.replay" in _imports(ROOT / "tripguard" / "cli.py")  # imported inside a function
    assert "tripguard.errors" in _imports(ROOT / "tripguard" / "config" / "files.py")
    assert "tripguard.io.codec" in _imports(ROOT / "tripguard" / "risk" / "stage.py")
    assert _kernel_files() and all(f.exists() for f in _files(*ENGINE))
    # what a review layer rule forbids is seen where it is allowed
    assert {"fastapi", "tripguard.review.store.tokens"} <= _imports(ROOT / "tripguard" / "review" / "api" / "deps.py")
    assert "tripguard.review.pages" in _imports(ROOT / "tripguard" / "review" / "app.py")
