"""Where the tests find the repository, its examples and the golden files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {"small": ROOT / "examples" / "small.py", "fleet": ROOT / "examples" / "fleet.py"}
GOLDEN = ROOT / "tests" / "golden"
README = ROOT / "README.md"
