"""Types every settings model shares: strict frozen models, Go-style durations, and one error report.

The fleet spec, the exporter's settings, its web config and the tracing settings are all pydantic models; a
mistake in any of them is reported the same way: one line per problem, with the field path, what is wrong,
and the value given (where it is safe to show).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """``15s``, ``500ms``, ``2m``, ``1h`` or a number of seconds → seconds (Go-style durations)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; use e.g. 500ms, 15s, 2m, 1h")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class Strict(BaseModel):
    """Unknown fields are errors (a typo must not be ignored), and a loaded model does not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# (location, value, error type) → how the value appears in the error line.
Shown = Callable[[tuple, object, str], str]


def json_shown(loc: tuple, value: object, kind: str) -> str:
    """The value as JSON, cut at 100 characters; a mapping as ``{…}`` (it is the whole sub-tree)."""
    return "{…}" if isinstance(value, dict) else json.dumps(value, default=str)[:100]


def format_errors(exc: ValidationError, source: str, shown: Shown = json_shown) -> str:
    """One line per problem: ``source: field.path: what is wrong (given: value)``.

    ``shown`` decides how much of a value may be echoed: models that can hold secrets pass one that hides them.
    """
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after")) or "(top level)"
        lines.append(f"{source}: {path}: {err['msg']} (given: {shown(err['loc'], err.get('input'), err['type'])})")
    return "\n".join(lines)


def read_yaml(path: Path) -> object:
    """The YAML document in ``path``; a ValueError naming only the position and the problem when it cannot be
    read, never the offending line (PyYAML's own message quotes it, and it may hold a secret)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or 'not UTF-8'}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or 'syntax error'}") from None
