"""Where each import name's source lives (pyproject's package-dir), and the module name of a source file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import ROOT

# Source folder → the import name it installs as.
SOURCES = {"cachewatch": "cachewatch", "exporter": "cachewatch.exporter", "alert_rules": "cachewatch.alert_rules",
           "dashboards": "cachewatch.dashboards", "tracing": "cachewatch.tracing", "health": "cachewatch.health",
           "alert_lifecycle": "cachewatch.alert_lifecycle"}


def module_name(path: Path) -> str:
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    return ".".join([SOURCES[folder], *rest]).removesuffix(".__init__")


def source_files() -> Iterator[Path]:
    for folder in SOURCES:
        yield from sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _in_a_package(path: Path) -> bool:
    """False for Python files shipped as data (Alembic's migrations: no ``__init__.py`` above them)."""
    folder = ROOT / path.relative_to(ROOT).parts[0]
    return all((d / "__init__.py").exists() for d in path.parents if d != folder.parent and folder in (d, *d.parents))


def source_modules() -> list[str]:
    """Every importable module of the source tree, packages included."""
    return sorted(module_name(p) for p in source_files() if p.name != "__main__.py" and _in_a_package(p))
