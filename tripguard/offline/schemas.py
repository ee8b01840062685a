"""JSON Schema files for the contract, generated from the models and checked in under data/schemas/."""

from __future__ import annotations

import json
from pathlib import Path

from tripguard.contract import SCHEMA_MODELS


def render_schemas() -> dict[str, str]:
    """File name -> JSON text, deterministic (sorted keys, trailing newline)."""
    out = {}
    for name, model in SCHEMA_MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://tripguard.dev/schemas/v1/{name}.json"
        out[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, text in render_schemas().items():
        path = directory / fname
        path.write_text(text)
        written.append(path)
    return written
