"""The three floors hold: the ground floor imports no part, no part imports another, nothing imports the top
floor but the top floor itself and the console entry point, and test modules never import each other.

Every import statement counts, those inside functions too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.layout import module_name, source_files
from tests.support.paths import ROOT

PARTS = ("cachewatch.exporter", "cachewatch.alert_rules", "cachewatch.dashboards", "cachewatch.tracing",
         "cachewatch.health", "cachewatch.alert_lifecycle")
TOP = ("cachewatch.pipeline", "cachewatch.cli")
ENTRY = "cachewatch.__main__"


def imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def floor(module: str) -> str:
    """``top``, the part's name, ``ground`` for the rest of cachewatch, or ``outside``."""
    for prefix in (*TOP, *PARTS):
        if module == prefix or module.startswith(prefix + "."):
            return "top" if prefix in TOP else prefix
    return "ground" if module == "cachewatch" or module.startswith("cachewatch.") else "outside"


def violation(importer: str, imported: str) -> str | None:
    src, dst = floor(importer), floor(imported)
    if dst in ("outside", "ground") or src == dst or src == "top":
        return None
    if importer == ENTRY and dst == "top":
        return None
    if dst == "top":
        return "only the console entry point imports the top floor"
    if src == "ground":
        return "the ground floor imports no part"
    return "a part never imports another part"


def all_imports() -> list[tuple[str, int, str]]:
    out = []
    for path in source_files():
        module = module_name(path)
        out += [(f"{path.relative_to(ROOT)}:{line}", line, name) for line, name in imports(path, module)
                if name.startswith("cachewatch")]
    return out


def test_the_walk_sees_every_floor() -> None:
    """Guards the test itself: it finds files of each floor and each part, and imports between them."""
    floors = {floor(module_name(p)) for p in source_files()}
    assert floors == {"ground", "top", *PARTS}
    assert len(all_imports()) > 200


def test_no_import_crosses_the_floors() -> None:
    problems = []
    for path in source_files():
        module = module_name(path)
        for line, imported in imports(path, module):
            reason = violation(module, imported)
            if reason:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {imported}: {reason}")
    assert not problems, "\n".join(dict.fromkeys(problems))


@pytest.mark.parametrize(("importer", "imported", "allowed"), [
    ("cachewatch.spec.model", "cachewatch.exporter.options", False),
    ("cachewatch.alert_rules.alerts", "cachewatch.dashboards.common", False),
    ("cachewatch.tracing.metrics", "cachewatch.pipeline.build", False),
    ("cachewatch.pipeline.build", "cachewatch.tracing.contribution", True),
    ("cachewatch.tracing.metrics", "cachewatch.catalog", True),
    ("cachewatch.__main__", "cachewatch.cli", True),
])
def test_the_rule_itself(importer: str, imported: str, allowed: bool) -> None:
    assert (violation(importer, imported) is None) is allowed


def test_test_modules_never_import_each_other() -> None:
    problems = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for line, imported in imports(path, "tests"):
            if imported.startswith("tests.") and any(part.startswith("test_") for part in imported.split(".")):
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {imported}; shared code goes to "
                                "tests/support/")
    assert not problems, "\n".join(problems)
