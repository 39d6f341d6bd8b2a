"""Load a fleet spec from a Python file (exposing ``spec``) or YAML, with one line per problem."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from cachewatch.spec.model import FleetSpec
from cachewatch.spec.types import format_errors, read_yaml


class SpecError(ValueError):
    """A spec that cannot be used; ``str()`` is one line per problem: path, value given, what is allowed."""


def _from_python(path: Path) -> object:
    module_spec = importlib.util.spec_from_file_location(f"cachewatch_spec_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise SpecError(f"{path}: cannot import as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules.pop(module_spec.name, None)
    try:
        module_spec.loader.exec_module(module)
    except ValidationError as exc:  # built with the model classes inside the file
        raise SpecError(format_errors(exc, str(path))) from None
    except Exception as exc:  # a broken spec file is reported, not a crash of the CLI
        raise SpecError(f"{path}: {type(exc).__name__}: {exc}") from None
    if not hasattr(module, "spec"):
        raise SpecError(f"{path}: defines no variable named spec")
    return module.spec


def load_spec(path: str | Path) -> FleetSpec:
    path = Path(path)
    if not path.exists():
        raise SpecError(f"{path}: no such file")
    if path.suffix == ".py":
        raw = _from_python(path)
        if isinstance(raw, FleetSpec):
            return raw
    elif path.suffix in (".yml", ".yaml", ".json"):
        try:
            raw = read_yaml(path)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    else:
        raise SpecError(f"{path}: a spec is a .py file exposing `spec`, or .yaml/.yml/.json")
    try:
        return FleetSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(format_errors(exc, str(path))) from None


def json_schema() -> str:
    return json.dumps(FleetSpec.model_json_schema(), indent=2)
