"""``cachewatch validate`` in scale mode: every regional config through promtool, the fleet-level rules through
promtool (check and unit tests) and ``vmalert -dryRun``, the Alertmanager config through amtool, all real tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cachewatch.pipeline import validate
from cachewatch.pipeline.build import build
from cachewatch.pipeline.writer import write
from cachewatch.spec import FleetSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
SCALE_KINDS = [kind for kind in validate.KINDS if kind.optional or kind.name == "Prometheus config"]


def generate(example: str, out: Path) -> FleetSpec:
    spec = load_spec(ROOT / "examples" / example)
    write(out, build(spec).texts())
    return spec


def test_validate_passes_every_scale_mode_artifact_with_the_real_tools(tmp_path: Path) -> None:
    generate("regions.py", tmp_path)
    out = subprocess.run([sys.executable, "-m", "cachewatch", "validate", str(tmp_path)], capture_output=True,
                         text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    for line in ("promtool check config", "promtool check rules", "promtool test rules global/tests/fleet-meta.yml",
                 "vmalert -dryRun global/rules/fleet-meta.yml", "vmalert -dryRun global/rules/fleet-rollups.yml",
                 "amtool check-config"):
        assert line in out.stdout
    assert out.stdout.strip().splitlines()[-1].endswith("checks passed")


def test_both_regional_configs_are_in_one_promtool_run(tmp_path: Path) -> None:
    generate("regions.py", tmp_path)
    (config,) = [kind for kind in validate.KINDS if kind.name == "Prometheus config"]
    ((_, args),) = list(config.invocations(tmp_path, sorted(tmp_path.glob(config.glob))))
    assert [Path(a).relative_to(tmp_path).as_posix() for a in args[2:]] == [
        "regions/eu-west/prometheus.yml", "regions/us-east/prometheus.yml"]


def test_a_rule_vmalert_cannot_parse_fails_validation(tmp_path: Path) -> None:
    generate("regions.py", tmp_path)
    (tmp_path / "global/rules/broken.yml").write_text(
        "groups:\n- name: broken\n  rules:\n  - record: cachewatch_fleet:x:sum\n    expr: sum(rate(up[5m]) by\n")
    failed = {check.name for check in validate.checks(tmp_path, SCALE_KINDS) if not check.ok}
    assert failed == {"vmalert -dryRun global/rules/broken.yml", "promtool check rules"}


def test_the_scale_kinds_are_skipped_for_a_single_prometheus_layout(tmp_path: Path) -> None:
    generate("small.py", tmp_path)
    results = validate.checks(tmp_path, SCALE_KINDS)
    assert [r.name for r in results] == ["promtool check config"] and results[0].ok


def test_a_missing_vmalert_names_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate("regions.py", tmp_path)
    real = validate.shutil.which
    monkeypatch.setattr("cachewatch.pipeline.validate.shutil.which", lambda name: None if name == "vmalert"
                        else real(name))
    vmalert = [r for r in validate.checks(tmp_path, SCALE_KINDS) if r.name.startswith("vmalert")]
    assert vmalert and {r.detail for r in vmalert} == {"vmalert not found: apt-get install -y victoria-metrics"}
