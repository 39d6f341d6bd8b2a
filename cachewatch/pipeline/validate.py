"""``cachewatch validate DIR``: each kind of generated artifact checked by its own tool, from one table.

Prometheus' and Alertmanager's tools are the judges: a config they accept is a config that loads, and a
promtool test that passes is an alert that fires (and stays silent) as designed. In scale mode every regional
config goes through promtool, and the fleet-level rules through promtool and, when the long-term store is
VictoriaMetrics, through ``vmalert -dryRun`` (MetricsQL is not PromQL in every corner).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from cachewatch.pipeline.alertmanager_yml import CONFIG_FILE, TESTS_FILE

INSTALL = {"promtool": "apt-get install -y prometheus", "amtool": "apt-get install -y prometheus-alertmanager",
           "vmalert": "apt-get install -y victoria-metrics"}
Invocation = tuple[str, list[str]]  # (what the table shows, the tool's arguments)
GLOBAL_RULES = "global/rules/*.yml"  # scale mode's fleet-level rules


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def _whole(*args: str) -> Callable[[Path, list[Path]], Iterator[Invocation]]:
    """One run of the tool over every file of the kind."""
    def invocations(out: Path, paths: list[Path]) -> Iterator[Invocation]:
        yield " ".join(args), [*args, *map(str, paths)]
    return invocations


def _each(*args: str) -> Callable[[Path, list[Path]], Iterator[Invocation]]:
    """One run of the tool per file (the runs go in parallel, and a failure names its file)."""
    def invocations(out: Path, paths: list[Path]) -> Iterator[Invocation]:
        for path in paths:
            yield f"{' '.join(args)} {path.relative_to(out)}", [*args, str(path)]
    return invocations


def _route_cases(out: Path, paths: list[Path]) -> Iterator[Invocation]:
    """One ``amtool config routes test`` per case: these labels must reach exactly these receivers."""
    for case in yaml.safe_load(paths[0].read_text()) or []:
        labels = [f"{key}={value}" for key, value in case["labels"].items()]
        receivers = ",".join(case["receivers"])
        yield (f"route {' '.join(labels)} → {receivers}",
               ["config", "routes", "test", f"--config.file={out / CONFIG_FILE}", f"--verify.receivers={receivers}",
                *labels])


def _vmalert_dry_run(out: Path, paths: list[Path]) -> Iterator[Invocation]:
    """``vmalert -dryRun`` per fleet-level rule file (only where vmalert is the global ruler: its flags exist)."""
    for rules in sorted(out.glob(GLOBAL_RULES)):
        yield f"-dryRun {rules.relative_to(out)}", ["-dryRun", f"-rule={rules}", "-loggerLevel=ERROR"]


@dataclass(frozen=True)
class Kind:
    name: str
    glob: str  # under the output directory
    tool: str
    invocations: Callable[[Path, list[Path]], Iterator[Invocation]]
    optional: bool = False  # scale mode only: no such files is no failure


KINDS: tuple[Kind, ...] = (
    Kind("rule files", "prometheus/rules/*.yml", "promtool", _whole("check", "rules")),
    Kind("rule tests", "prometheus/tests/*.yml", "promtool", _each("test", "rules")),
    # prometheus/prometheus.yml, or in scale mode regions/<region>/prometheus.yml
    Kind("Prometheus config", "**/prometheus.yml", "promtool", _whole("check", "config")),
    Kind("Alertmanager config", CONFIG_FILE, "amtool", _whole("check-config")),
    Kind("Alertmanager route tests", TESTS_FILE, "amtool", _route_cases),
    Kind("fleet-level rule files", GLOBAL_RULES, "promtool", _whole("check", "rules"), optional=True),
    Kind("fleet-level rule tests", "global/tests/*.yml", "promtool", _each("test", "rules"), optional=True),
    Kind("fleet-level rules on vmalert", "global/vmalert/flags.yml", "vmalert", _vmalert_dry_run, optional=True),
)


def _run(tool: str, name: str, args: list[str]) -> Check:
    binary = shutil.which(tool)
    if binary is None:
        return Check(f"{tool} {name}", False, f"{tool} not found: {INSTALL[tool]}")
    proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=300, check=False)
    return Check(f"{tool} {name}", proc.returncode == 0, (proc.stdout + proc.stderr).strip() if proc.returncode else "")


def checks(out: Path, kinds: tuple[Kind, ...] | list[Kind] = KINDS) -> list[Check]:
    """Every check of every kind, in table order; the tool runs go in parallel (a fleet has dozens of route
    tests, each its own amtool process)."""
    missing: dict[int, Check] = {}
    runs: list[tuple[int, str, str, list[str]]] = []
    for index, kind in enumerate(kinds):
        paths = sorted(out.glob(kind.glob))
        if not paths and kind.optional:
            continue
        if not paths:
            missing[index] = Check(kind.name, False, f"no {kind.glob} under {out}: run cachewatch generate first")
        runs += [(index, kind.tool, name, args) for name, args in kind.invocations(out, paths)] if paths else []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = list(pool.map(lambda run: (run[0], _run(*run[1:])), runs))
    ordered = sorted([*done, *missing.items()], key=lambda item: item[0])  # stable: runs keep their order
    return [check for _, check in ordered]


def table(results: list[Check]) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"{'check'.ljust(width)}  result", f"{'-' * width}  ------"]
    for r in results:
        lines.append(f"{r.name.ljust(width)}  {'ok' if r.ok else 'FAILED'}")
        if not r.ok and r.detail:
            lines += [f"    {line}" for line in r.detail.splitlines()[-25:]]
    passed = sum(r.ok for r in results)
    lines.append(f"{passed} of {len(results)} checks passed")
    return "\n".join(lines)
