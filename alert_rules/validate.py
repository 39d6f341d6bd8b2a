"""``cachewatch validate DIR``: Prometheus' and Alertmanager's own tools over every generated artifact."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cachewatch.alert_rules import alertmanager

INSTALL = {"promtool": "apt-get install -y prometheus", "amtool": "apt-get install -y prometheus-alertmanager"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def _tool(tool: str, *args: str | Path) -> Check:
    name = f"{tool} {' '.join(str(a) for a in args[:2])}"
    binary = shutil.which(tool)
    if binary is None:
        return Check(name, False, f"{tool} not found: {INSTALL[tool]}")
    out = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=300)
    detail = (out.stdout + out.stderr).strip()
    return Check(name, out.returncode == 0, detail if out.returncode else "")


def checks(out: Path) -> list[Check]:
    rules = sorted((out / "prometheus" / "rules").glob("*.yml"))
    tests = sorted((out / "prometheus" / "tests").glob("*.yml"))
    results = [
        _tool("promtool", "check", "rules", *rules),
        _tool("promtool", "test", "rules", *tests),
        _tool("promtool", "check", "config", out / "prometheus" / "prometheus.yml"),
    ]
    results += [Check(c.name, c.ok, c.detail) for c in alertmanager.check(out)]
    return results


def table(results: list[Check]) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"{'check'.ljust(width)}  result", f"{'-' * width}  ------"]
    for r in results:
        lines.append(f"{r.name.ljust(width)}  {'ok' if r.ok else 'FAILED'}")
        if not r.ok and r.detail:
            lines += [f"    {line}" for line in r.detail.splitlines()[-25:]]
    passed = sum(r.ok for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)
