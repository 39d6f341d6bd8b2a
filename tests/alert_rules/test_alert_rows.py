"""The alert table: keyword rows with every field filled, one module per rule file, and promtool cases whose
expected descriptions are rendered from the templates and pass against the generated rules."""

from __future__ import annotations

import subprocess
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from cachewatch.alert_rules import alerts
from cachewatch.alert_rules.alerts.rows import Row
from cachewatch.alert_rules.alerts.variants import fleet_ctx
from cachewatch.local_redis import require_binary
from cachewatch.pipeline.writer import dump_yaml
from cachewatch.promql import duration
from cachewatch.rulefmt import (
    Links,
    RuleGroup,
    alerts_of,
    expected_description,
    render_rule_file,
    render_rule_tests,
)
from cachewatch.spec import load_spec
from cachewatch.spec.model import FleetSpec
from tests.support.paths import EXAMPLES

TABLE = alerts.GROUPS + alerts.FLEET_GROUPS
REQUIRED = [f.name for f in fields(Row) if f.default is MISSING]


def with_variants() -> FleetSpec:
    """The fleet example with clusters on their own thresholds (two sets, one of two clusters) and backups on."""
    doc = load_spec(EXAMPLES["fleet"]).model_dump()
    clusters = [c for region in doc["regions"] for c in region["clusters"]]
    clusters[0]["thresholds"] = {"exporter_scrape_seconds": 2.5, "no_backup_hours": 6, "blocked_clients": 7}
    for c in clusters[1:4:2]:
        c["thresholds"] = {"latency_p95_seconds": 0.0015, "evictions_per_second": 33.3, "replication_lag_seconds": 12.5}
    doc["thresholds"] |= {"no_backup_hours": 24.5, "hit_ratio_min": 0.9, "eviction_ratio": 0.07}
    return FleetSpec.model_validate(doc)


SPECS = {"small": lambda: load_spec(EXAMPLES["small"]), "fleet": lambda: load_spec(EXAMPLES["fleet"]),
         "variants": with_variants}


def all_rows(spec: FleetSpec) -> list[Row]:
    return [row for _, _, rows in TABLE for row in rows(fleet_ctx(spec))]


def test_rows_take_keywords_only() -> None:
    assert all(f.kw_only for f in fields(Row))
    with pytest.raises(TypeError):
        Row("RedisDown", "redis_up == 0")  # type: ignore[misc]


@pytest.mark.parametrize("spec_name", SPECS)
def test_every_row_fills_every_field(spec_name: str) -> None:
    rows = all_rows(SPECS[spec_name]())
    assert len({r.name for r in rows}) == len(rows)
    for row in rows:
        assert all(getattr(row, name) for name in REQUIRED), row.name
        assert row.name.startswith("Redis") and "{{" not in row.summary and row.runbook_text.endswith(".")
        assert row.test.fire and row.test.quiet and row.test.exp_labels, row.name
        assert ("$value" in row.description) == (row.test.value is not None), row.name


def test_each_rule_file_is_one_module() -> None:
    for group, file, rows in TABLE:
        assert rows.__module__ == f"{alerts.__name__}.{file.removesuffix('.yml')}", group
    assert len({file for _, file, _ in TABLE}) == len(TABLE)


def test_scope_is_given_once_and_reaches_the_rule_labels() -> None:
    spec = load_spec(EXAMPLES["small"])
    for row in all_rows(spec):
        assert "scope" not in row.test.exp_labels, row.name
        assert row.alert().labels["scope"] == row.scope


def test_derived_descriptions_name_the_test_node() -> None:
    spec = load_spec(EXAMPLES["small"])
    missing = next(a for a in alerts_of(alerts.groups(spec)) if a.name == "RedisReplicasMissing")
    assert expected_description(missing).startswith("Primary 10.9.9.9:6379 of shard s0")
    pfail = next(a for a in alerts_of(alerts.groups(spec)) if a.name == "RedisClusterSlotsPfail")
    assert expected_description(pfail) == "10.9.9.9:6379 sees 10 slots in PFAIL."


@pytest.mark.parametrize("spec_name", ["variants"])
def test_generated_alert_files_pass_promtool_and_their_own_cases(spec_name: str, tmp_path: Path) -> None:
    """Each rule fires in its fire case with the description derived from its template, and stays silent.
    (The two examples run the same promtool cases in tests/pipeline/test_generate.py, through `validate`.)"""
    spec = SPECS[spec_name]()
    links = Links(spec.links.runbook_base_url, spec.links.grafana_url)
    by_file: dict[str, list[RuleGroup]] = {}
    for group in alerts.groups(spec):
        by_file.setdefault(group.file, []).append(group)
    (tmp_path / "rules").mkdir()
    for file, groups in by_file.items():
        (tmp_path / "rules" / file).write_text(dump_yaml(render_rule_file(groups, links)))
        tests = render_rule_tests([f"rules/{file}"], alerts_of(groups), links, duration(spec.intervals.evaluation))
        assert len(tests["tests"]) == 2 * len(alerts_of(groups))
        (tmp_path / f"test-{file}").write_text(dump_yaml(tests))
    checks = ["check", "rules", *(f"rules/{f}" for f in by_file)]
    for args in (checks, ["test", "rules", *(f"test-{f}" for f in by_file)]):
        run = subprocess.run([require_binary("promtool"), *args], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
