"""The minute: every critical alert a fault pages with reaches its receiver within 60 s in the worst case and 45 s
typically at the spec's defaults, computed from the generated rules and the spec (docs/alert-latency.md)."""

from __future__ import annotations

import pytest

from cachewatch.alert_rules.contribution import rule_groups
from cachewatch.pipeline.alert_latency import (
    EXEMPT,
    FAULTS,
    PATH,
    TYPICAL_LIMIT,
    WORST_LIMIT,
    budget,
    budgets,
    markdown,
)
from cachewatch.pipeline.build import build
from cachewatch.pipeline.runbooks import default_spec
from cachewatch.rulefmt import alerts_of
from cachewatch.spec import FleetSpec, Intervals, load_spec
from tests.support.paths import ROOT

SPECS = {"defaults": default_spec, "examples/fleet.py": lambda: load_spec(ROOT / "examples" / "fleet.py")}


@pytest.fixture(params=sorted(SPECS), scope="module")
def spec(request: pytest.FixtureRequest) -> FleetSpec:
    return SPECS[request.param]()


def test_every_critical_alert_not_exempt_meets_the_minute(spec: FleetSpec) -> None:
    rows = budgets(spec, alerts_of(rule_groups(spec)))
    late = {b.alert: (b.worst, b.typical) for b in rows if not b.exempt and not b.meets_the_minute()}
    assert not late, f"over {WORST_LIMIT:g} s worst / {TYPICAL_LIMIT:g} s typical: {late}"
    assert {"RedisDown", "RedisReplicationLinkDown", "RedisOomRejects", "RedisExporterDown"} <= {
        b.alert for b in rows if b.meets_the_minute()}


def test_every_page_of_the_fault_matrix_is_a_critical_alert_that_is_not_exempt(spec: FleetSpec) -> None:
    alerts = alerts_of(rule_groups(spec))
    critical = {a.name for a in alerts if a.severity == "critical"}
    warning = {a.name for a in alerts if a.severity == "warning"}
    for fault in FAULTS:
        assert set(fault.pages) <= critical - set(EXEMPT), fault.name
        assert set(fault.warnings) <= warning, fault.name
    assert len(FAULTS) == 12  # the matrix
    assert set(EXEMPT) <= critical | {"RedisSLOBurnRateCritical"}


def test_the_budget_adds_each_term_from_the_spec() -> None:
    spec = default_spec()
    down = next(a for a in alerts_of(rule_groups(spec)) if a.name == "RedisDown")
    terms = {t.name: (t.worst, t.typical) for t in budget(spec, down).terms}
    iv = spec.intervals
    assert terms == {"sample": (iv.scrape, iv.scrape / 2), "measure": (iv.scrape_timeout, 0),
                     "evaluation": (iv.evaluation, iv.evaluation / 2), "for": (10, 10),
                     "group_wait": (iv.group_wait, iv.group_wait), "delivery": (5, 1)}
    assert budget(spec, down).worst == 45 and budget(spec, down).typical == 26


def test_at_the_former_15_s_intervals_a_hung_node_missed_the_minute() -> None:
    """The issue's arithmetic: 15 s scrape (+10 s timeout) + 15 s evaluation + 15 s for + 10 s group_wait."""
    spec = default_spec().model_copy(update={"intervals": Intervals(scrape=15, scrape_timeout=10, evaluation=15,
                                                                    group_wait=10, probe=30, probe_timeout=15)})
    down = next(a for a in alerts_of(rule_groups(spec)) if a.name == "RedisDown")
    assert down.for_ == "15s"
    assert (budget(spec, down).worst, budget(spec, down).typical) == (70, 41)


def test_a_rate_counts_two_samples_and_a_heartbeat_its_wait(spec: FleetSpec) -> None:
    alerts = {a.name: a for a in alerts_of(rule_groups(spec))}
    oom = {t.name: t for t in budget(spec, alerts["RedisOomRejects"]).terms}
    assert oom["sample"].worst == 2 * spec.intervals.scrape
    delay = {t.name: t for t in budget(spec, alerts["RedisReplicationDelayHighCritical"]).terms}
    assert delay["sample"].worst == spec.intervals.probe
    assert delay["measure"].worst == spec.intervals.probe_timeout
    assert delay["measure"].typical == spec.thresholds.replication_delay_critical_seconds
    cluster = {t.name for t in budget(spec, alerts["RedisClusterStateNotOk"]).terms}
    assert "onset" in cluster


def test_generate_writes_the_doc_with_one_row_per_critical_alert() -> None:
    spec = load_spec(ROOT / "examples" / "fleet.py")
    text = build(spec).texts()[PATH]
    for name in {a.name for a in alerts_of(rule_groups(spec)) if a.severity == "critical"}:
        assert f"\n| {name} |" in text, name
    assert "fault → notification = onset + sample + measure + evaluation + for + group_wait + delivery" in text
    for reason in EXEMPT.values():
        assert reason in text
    assert text == markdown(spec, alerts_of(rule_groups(spec)))


def test_the_bench_injects_every_fault_of_the_doc_and_expects_its_alerts() -> None:
    """bench/alert_quality.py measures what docs/alert-latency.md promises: one bench row per doc row, a critical row
    expecting one of the doc's pages, a warning row only the doc's alerts."""
    from bench.alert_quality import FAULTS as BENCH

    doc = {fault.name: fault for fault in FAULTS}
    assert sorted(row.doc for row in BENCH) == sorted(doc)
    for row in BENCH:
        promised = doc[row.doc]
        if row.severity == "critical":
            assert set(row.alerts) & set(promised.pages), row.name
        else:
            assert set(row.alerts) <= set(promised.pages) | set(promised.warnings), row.name
