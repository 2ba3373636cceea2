"""Checking the emulator's bodies against the official REST examples (local/emulator/reference/): every field the
emulator sends must exist in the example with the same JSON type, so it cannot drift into shapes Azure never
sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

REFERENCE = Path(__file__).resolve().parents[2] / "local" / "emulator" / "reference"


def official(name: str, status: str = "200") -> dict[str, Any]:
    """The response body of an official example."""
    return json.loads((REFERENCE / name).read_text())["responses"][status]["body"]


def _type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}[type(value)]


def assert_conforms(ours: dict[str, Any], example: dict[str, Any], extras: Iterable[str] = (), where: str = "") -> None:
    """`extras`: properties the spec defines that the example happens to leave out."""
    extras = set(extras)
    for key, value in ours.items():
        if key in extras:
            continue
        assert key in example, f"{where}{key}: not in the official example"
        if example[key] is None or value is None:
            continue
        assert _type(value) == _type(example[key]), f"{where}{key}: {_type(value)} vs {_type(example[key])}"
        if isinstance(value, dict):
            assert_conforms(value, example[key], extras, f"{where}{key}.")
