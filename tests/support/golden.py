"""Golden files: generated text compared with a reviewed copy under tests/golden/.

After an intended change, regenerate with ``CACHEWATCH_UPDATE_GOLDEN=1 bash scripts/test.sh --fast`` and review
the diff in git: the golden files are how a change to generated artifacts shows up in review.
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Mapping

from tests.support.paths import GOLDEN

UPDATE = "CACHEWATCH_UPDATE_GOLDEN"


def updating() -> bool:
    return os.environ.get(UPDATE) == "1"


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with tests/golden/NAME; with CACHEWATCH_UPDATE_GOLDEN=1 rewrite it instead."""
    path = GOLDEN / name
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing; create it with {UPDATE}=1"
    expected = path.read_text()
    assert text == expected, f"{name} changed; rerun with {UPDATE}=1 if intended:\n" + _diff(expected, text, name)


def check_golden_tree(name: str, files: Mapping[str, str]) -> None:
    """Compare a whole tree (relative path → text) with tests/golden/NAME/: same files, same bytes."""
    root = GOLDEN / name
    if updating():
        shutil.rmtree(root, ignore_errors=True)
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    assert root.is_dir(), f"{root} missing; create it with {UPDATE}=1"
    expected = {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}
    assert sorted(files) == sorted(expected), f"{name}: files differ; rerun with {UPDATE}=1 if intended"
    changed = [rel for rel in files if files[rel] != expected[rel]]
    assert not changed, f"{name}: {', '.join(changed)} changed; rerun with {UPDATE}=1 if intended:\n" + "".join(
        _diff(expected[rel], files[rel], rel) for rel in changed[:3])


def _diff(expected: str, produced: str, name: str) -> str:
    lines = difflib.unified_diff(expected.splitlines(True), produced.splitlines(True), f"golden/{name}", "produced")
    return "".join(list(lines)[:60])
