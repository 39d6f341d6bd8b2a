"""SLO and business rules: promtool-clean, their own alert tests pass, NaN-safe, guarded, and burn math exact."""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cachewatch.alert_rules import business, slo
from cachewatch.catalog import CATALOG
from cachewatch.catalog.lint import base_family, metric_names
from cachewatch.local_redis import require_binary
from cachewatch.pipeline.writer import dump_yaml
from cachewatch.promql import duration
from cachewatch.rulefmt import (
    Alert,
    Links,
    Record,
    RuleGroup,
    alerts_of,
    expected_description,
    render_rule_file,
    render_rule_tests,
)
from cachewatch.spec import SLO, Business, Cluster, Escalation, FleetSpec, Node, Region, Team, WebhookChannel, load_spec
from tests.support.paths import ROOT

EXAMPLES = [ROOT / "examples" / "fleet.py", ROOT / "examples" / "small.py"]
NODE = 'job="redis",instance="10.0.0.1:6379",region="r1",team="t"'


# --- helpers ---------------------------------------------------------------------------------------------
def fleet(*slos: SLO, prices: Business | None = None) -> FleetSpec:
    """Two clusters (a, b) of one team; room for SLOs and prices under test."""
    def cluster(name: str, host: int) -> Cluster:
        return Cluster(name=name, team="t", nodes=[Node(address=f"10.0.{host}.1:6379")])

    return FleetSpec(name="t", regions=[Region(name="r1", clusters=[cluster("a", 1), cluster("b", 2)])],
                     teams=[Team(name="t", channels={"hook": WebhookChannel(url="http://127.0.0.1:1/")},
                                 escalation=Escalation(critical=["hook"]))],
                     slos=list(slos), business=prices or Business())


def links(spec: FleetSpec) -> Links:
    return Links(spec.links.runbook_base_url, spec.links.grafana_url)


def all_groups(spec: FleetSpec) -> list[RuleGroup]:
    return slo.groups(spec) + business.groups(spec)


def write_rules(spec: FleetSpec, out: Path) -> list[str]:
    files = {"slo.yml": slo.groups(spec), "business.yml": business.groups(spec)}
    for name, groups in files.items():
        (out / name).write_text(dump_yaml(render_rule_file(groups, links(spec))))
    return list(files)


def promtool(*args: str, cwd: Path) -> str:
    run = subprocess.run([require_binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "warn" not in output.lower(), output
    return output


def run_scenario(tmp_path: Path, spec: FleetSpec, series: dict[str, str], alerts: dict[str, dict[str, list[str]]],
                 exprs: list[dict] | None = None, minutes: int = 240) -> None:
    """One promtool test: ``alerts`` is eval time → alert name → slos expected to fire (checked by label)."""
    files = write_rules(spec, tmp_path)
    checks = [{"eval_time": at, "alertname": name, "exp_alerts": [_expected(spec, name, s) for s in slos]}
              for at, by_name in alerts.items() for name, slos in by_name.items()]
    test = {"input_series": [{"series": k, "values": v.replace("N", str(minutes))} for k, v in series.items()],
            "interval": "1m", "alert_rule_test": checks, "promql_expr_test": exprs or []}
    doc = {"rule_files": files, "evaluation_interval": "1m", "tests": [test]}
    (tmp_path / "scenario.yml").write_text(dump_yaml(doc))
    promtool("test", "rules", "scenario.yml", cwd=tmp_path)


def _expected(spec: FleetSpec, name: str, slo_name: str) -> dict:
    """The alert as promtool must see it: labels, and annotations as Prometheus renders them."""
    rule = next(a for a in alerts_of(slo.groups(spec)) if a.name == name and a.labels["slo"] == slo_name)
    labels = {"severity": rule.severity, **rule.labels}
    return {"exp_labels": labels, "exp_annotations": {
        "summary": rule.summary, "description": expected_description(rule),
        "runbook_url": links(spec).runbook(rule.runbook),
        "dashboard_url": links(spec).dashboard(rule.panel, rule.dashboard_vars, labels)}}


def no_nan(names: list[str], at: str) -> list[dict]:
    """Per record: NaN is the only value unequal to itself; ±Inf is the other way division goes wrong."""
    return [{"expr": f"({n} != {n}) or (abs({n}) == Inf)", "eval_time": at, "exp_samples": []} for n in names]


def near(expr: str, value: float, at: str, labels: str) -> dict:
    return {"expr": f"abs({expr} - {value!r}) < bool 1e-9", "eval_time": at,
            "exp_samples": [{"labels": labels, "value": 1}]}


# --- a small PromQL identifier extractor, local to this test (the shared lint is cachewatch/catalog/lint.py) ---
def test_extractor_finds_metrics_and_nothing_else() -> None:
    expr = ('sum(max by (job, instance) (rate(x_bucket{le=~"(1|2)(\\\\.0)?",a="b"}[5m]))) / on (slo) group_left () '
            'clamp_min(y:z:rate5m{slo="a"} offset 13m, 0) > bool 1e-9 and vector(1) or min_over_time(w[2h:1m])')
    assert metric_names(expr) == {"x_bucket", "y:z:rate5m", "w"}


# --- the examples: promtool-clean, and the generated alert tests pass ---------------------------------------
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_generated_rules_pass_promtool_check_with_two_cases_per_alert(example: Path, tmp_path: Path) -> None:
    spec = load_spec(example)
    files = write_rules(spec, tmp_path)
    assert "SUCCESS" in promtool("check", "rules", *files, cwd=tmp_path)
    alerts = alerts_of(slo.groups(spec))
    assert len(alerts) == 2 * len(spec.slos)
    tests = render_rule_tests(["slo.yml"], alerts, links(spec), duration(spec.intervals.evaluation))
    assert len(tests["tests"]) == 2 * len(alerts)
    # promtool runs these cases in tests/pipeline/test_generate.py (`cachewatch validate` over each example)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_metric_in_every_expression_is_in_the_catalog(example: Path) -> None:
    rules = [r for g in all_groups(load_spec(example)) for r in g.rules]
    for rule in rules:
        names = metric_names(rule.expr)
        assert names or rule.expr.startswith("vector("), rule.expr
        missing = {n for n in names if base_family(n) not in CATALOG}
        assert not missing, f"{getattr(rule, 'record', getattr(rule, 'name', ''))}: {missing}"
    assert {r.record for r in rules if isinstance(r, Record)} <= set(CATALOG)


def test_every_recording_family_of_these_generators_is_produced() -> None:
    """The catalog lists no SLO/business record that the generators cannot write."""
    spec = fleet(*[SLO(name=f"s-{w}", kind="availability", objective=99.9, window=w) for w in ("7d", "28d", "30d")],
                 prices=Business(cost_per_gb_hour=1, cost_per_node_hour=1))
    made = {r.record for g in all_groups(spec) for r in g.rules if isinstance(r, Record)}
    listed = {n for n, f in CATALOG.items() if f.group in ("slo", "business")}
    assert made == listed


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_alert_labels_links_and_texts(example: Path) -> None:
    spec = load_spec(example)
    for rule in alerts_of(slo.groups(spec)):
        assert isinstance(rule, Alert)
        assert rule.severity in ("critical", "warning") and rule.name.startswith("RedisSLOBurnRate")
        assert rule.labels["slo"] in {s.name for s in spec.slos}
        assert rule.labels["team"] in {t.name for t in spec.teams}
        assert rule.labels["scope"] in ("cluster", "fleet") and rule.labels["twin"] == f"slo-{rule.labels['slo']}"
        assert rule.runbook == rule.name.lower() and rule.panel == "cachewatch-slo/burn-rate"
        assert rule.dashboard_vars == ("slo",) and "{{" not in rule.summary and "{{ $labels.slo }}" in rule.description
        assert "$value" not in rule.description and rule.runbook_text
    fleet_errors = [a for a in alerts_of(slo.groups(spec)) if a.labels["slo"] == "cache-errors"]
    assert all(a.labels["scope"] == "fleet" and a.labels["team"] == "platform" for a in fleet_errors)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_numbers_are_clean(example: Path) -> None:
    spec = load_spec(example)
    text = dump_yaml(render_rule_file(all_groups(spec), links(spec)))
    odd = fleet(*[SLO(name=f"o{i}", kind="hit_ratio", objective=o, window=w) for i, (o, w) in
                  enumerate([(99.95, "28d"), (99.99, "7d"), (99.9, "30d"), (97.3, "28d"), (99.999, "7d")])],
                prices=Business(cost_per_gb_hour=0.012, cost_per_node_hour=0.07, sla_target=99.95))
    text += dump_yaml(render_rule_file(all_groups(odd), links(odd)))
    assert not re.findall(r"\d\.\d{9,}", text)
    assert not re.findall(r"\d[eE][+-]?\d", text)  # no scientific notation either
    assert "vector(0.0001)" in text and "vector(0.00001)" in text and "/ 0.0005 > 0.9333" in text
    assert "/ 0.00001 > 0.98" in text and "/ 0.027 > 13.44" in text


# --- burn-rate math --------------------------------------------------------------------------------------
def test_factor_math_for_30d_28d_and_7d() -> None:
    expected = {"30d": ["14.4", "6", "3", "1"], "28d": ["13.44", "5.6", "2.8", "0.9333"],
                "7d": ["13.44", "3.5", "1.4", "0.98"]}  # Sloth's 7d shares: 8%, 12.5%, 20%, 42%
    for window, factors in expected.items():
        pairs = [p for tier in slo.TIERS for p in tier.pairs]
        assert [format(slo.factor(window, p), "f") for p in pairs] == factors
    assert slo.budget(SLO(name="x", kind="availability", objective=99.95)) == Decimal("0.0005")


def test_unreachable_window_pairs_are_left_out() -> None:
    """At 90% a 28d page at 13.44x would need an error ratio of 1.344: only the 5.6x pair remains."""
    spec = load_spec(EXAMPLES[0])
    crit = next(a for a in alerts_of(slo.groups(spec))
                if a.labels["slo"] == "cache-hit-ratio" and a.severity == "critical")
    assert "> 13.44" not in crit.expr and "/ 0.1 > 5.6" in crit.expr and crit.for_ == "15m"
    loose = fleet(SLO(name="loose", kind="hit_ratio", objective=50))
    assert [a.severity for a in alerts_of(slo.groups(loose))] == ["warning"]


def test_28d_factor_pages_where_30d_does_not(tmp_path: Path) -> None:
    """A steady 14x burn (error ratio 0.14 at 99%): over 28d the fast factor is 13.44, over 30d it is 14.4."""
    spec = fleet(SLO(name="month", kind="hit_ratio", objective=99, clusters=["a"]),
                 SLO(name="four-weeks", kind="hit_ratio", objective=99, window="28d", clusters=["b"]))
    series = {}
    for cluster in ("a", "b"):
        node = f'job="redis",instance="{cluster}:6379",cluster="{cluster}"'
        series |= {f"redis_keyspace_hits_total{{{node}}}": "0+5160xN",
                   f"redis_keyspace_misses_total{{{node}}}": "0+840xN"}
    crit = "RedisSLOBurnRateCritical"
    # at 10m only the fast pair can fire; from 17m the 6x pair (held 15m) pages the 30d SLO as well
    run_scenario(tmp_path, spec, series, {"10m": {crit: ["four-weeks"]}, "20m": {crit: ["month", "four-weeks"]}},
                 minutes=30)


# --- NaN safety and guards ---------------------------------------------------------------------------------
KINDS = ("availability", "hit_ratio", "latency", "error_rate")


def every_kind() -> FleetSpec:
    return fleet(*[SLO(name=k.replace("_", "-"), kind=k, objective=99.9, clusters=["a"],  # type: ignore[arg-type]
                       latency_threshold_seconds=0.002) for k in KINDS],
                 prices=Business(cost_per_gb_hour=0.012, cost_per_node_hour=0.08))


def quiet_counters(node: str) -> dict[str, str]:
    hist = "redis_commands_latencies_usec"
    return {f"redis_keyspace_hits_total{{{node}}}": "0xN", f"redis_keyspace_misses_total{{{node}}}": "0xN",
            f'{hist}_bucket{{{node},cmd="get",le="1056"}}': "0xN", f'{hist}_count{{{node},cmd="get"}}': "0xN",
            f'redis_commands_total{{{node},cmd="get"}}': "0xN",
            f'redis_commands_failed_calls_total{{{node},cmd="get"}}': "0xN",
            f'redis_commands_rejected_calls_total{{{node},cmd="get"}}': "0xN",
            f"redis_commands_processed_total{{{node}}}": "0xN", f"redis_memory_used_bytes{{{node}}}": "1048576xN"}


def test_zero_traffic_records_no_nan_and_no_alert(tmp_path: Path) -> None:
    spec = every_kind()
    node = NODE + ',cluster="a"'
    series = {f"redis_up{{{node}}}": "1xN", **quiet_counters(node)}
    names = sorted({r.record for g in all_groups(spec) for r in g.rules if isinstance(r, Record)})
    exprs = [e for at in ("10m", "3h") for e in no_nan(names, at)]
    # the SLIs of the traffic kinds are absent or 0; availability counts node-time, which exists without traffic
    exprs += [{"expr": '{__name__=~"cachewatch:slo_sli_.+", slo!="availability"} != 0', "eval_time": "3h",
               "exp_samples": []},
              {"expr": 'cachewatch:slo_sli_error:ratio_rate1h{slo="availability"}', "eval_time": "3h",
               "exp_samples": [{"labels": 'cachewatch:slo_sli_error:ratio_rate1h{slo="availability",team="t"}',
                                "value": 0}]},
              {"expr": "cachewatch:cost_per_million_requests:currency", "eval_time": "3h", "exp_samples": []}]
    quiet = {"RedisSLOBurnRateCritical": [], "RedisSLOBurnRateWarning": []}
    run_scenario(tmp_path, spec, series, {"30m": quiet, "3h": quiet}, exprs)


def test_no_data_at_all_records_nothing_that_could_page(tmp_path: Path) -> None:
    spec = every_kind()
    names = sorted({r.record for g in all_groups(spec) for r in g.rules if isinstance(r, Record)})
    quiet = {"RedisSLOBurnRateCritical": [], "RedisSLOBurnRateWarning": []}
    exprs = [*no_nan(names, "1h"), {"expr": "cachewatch:slo_sli_error:ratio_rate5m", "eval_time": "1h",
                                    "exp_samples": []}]
    run_scenario(tmp_path, spec, {'up{job="other"}': "1xN"}, {"1h": quiet}, exprs, minutes=60)


def test_low_traffic_below_the_guard_does_not_page(tmp_path: Path) -> None:
    """Every lookup misses, but at 5/s, below the SLO's 50/s guard: the SLI says 100% bad, nobody is paged."""
    spec = fleet(SLO(name="quiet-shop", kind="hit_ratio", objective=99.9, clusters=["a"], min_requests_per_second=50))
    node = NODE + ',cluster="a"'
    series = {f"redis_keyspace_hits_total{{{node}}}": "0xN", f"redis_keyspace_misses_total{{{node}}}": "0+300xN"}
    quiet = {"RedisSLOBurnRateCritical": [], "RedisSLOBurnRateWarning": []}
    exprs = [{"expr": 'cachewatch:slo_sli_error:ratio_rate1h{slo="quiet-shop"}', "eval_time": "3h",
              "exp_samples": [{"labels": 'cachewatch:slo_sli_error:ratio_rate1h{slo="quiet-shop",team="t"}',
                               "value": 1}]}]
    run_scenario(tmp_path, spec, series, {"10m": quiet, "1h": quiet, "3h": quiet}, exprs)


def test_one_node_down_of_twenty_pages_within_the_expected_time(tmp_path: Path) -> None:
    """5% of node-time lost at 99.95%: burn 100x. The 1h ratio crosses 14.4x after 60m × 0.0072 / 0.05 ≈ 8.6m
    (plus ~2.5m while the 5m average ramps up), then ``for: 2m``: a page ≈ 13m after the fault, not before 11m."""
    spec = fleet(SLO(name="avail", kind="availability", objective=99.95, clusters=["a"]))
    series = {f'redis_up{{job="redis",instance="10.0.1.{i}:6379",cluster="a"}}': "1xN" for i in range(1, 20)}
    series['redis_up{job="redis",instance="10.0.1.20:6379",cluster="a"}'] = "1x119 0xN"
    crit = "RedisSLOBurnRateCritical"
    run_scenario(tmp_path, spec, series, {"119m": {crit: []}, "130m": {crit: []}, "136m": {crit: ["avail"]}},
                 minutes=200)


def test_latency_sli_uses_the_largest_reported_bucket_below_the_threshold(tmp_path: Path) -> None:
    """Redis reports only non-empty buckets: SET has no le=1056 series yet all its calls were fast. GET is half
    slow. BLPOP waits by design and is left out. Error ratio: 50 slow / 200 calls."""
    spec = fleet(SLO(name="lat", kind="latency", objective=99, clusters=["a"], latency_threshold_seconds=0.002))
    node, h = NODE + ',cluster="a"', "redis_commands_latencies_usec"
    series = {f'{h}_bucket{{{node},cmd="set",le="8"}}': "0+6000xN", f'{h}_count{{{node},cmd="set"}}': "0+6000xN",
              f'{h}_bucket{{{node},cmd="get",le="528"}}': "0+1200xN",
              f'{h}_bucket{{{node},cmd="get",le="1056"}}': "0+3000xN",
              f'{h}_bucket{{{node},cmd="get",le="4227"}}': "0+6000xN", f'{h}_count{{{node},cmd="get"}}': "0+6000xN",
              f'{h}_bucket{{{node},cmd="blpop",le="1073741"}}': "0+600xN",
              f'{h}_count{{{node},cmd="blpop"}}': "0+600xN"}
    labels = '{slo="lat",team="t"}'
    exprs = [near('cachewatch:slo_sli_error:ratio_rate5m{slo="lat"}', 0.25, "30m", labels),
             near('cachewatch:slo_sli_events:rate5m{slo="lat"}', 200.0, "30m", labels)]
    run_scenario(tmp_path, spec, series, {}, exprs, minutes=40)


def test_failed_logins_do_not_burn_the_error_budget(tmp_path: Path) -> None:
    """A client guessing passwords: 100 failed AUTHs a second beside 100 GETs of which 1 fails. The SLI counts
    the GETs' 1% (a security alert covers the guessing, not the cache's error budget)."""
    spec = fleet(SLO(name="err", kind="error_rate", objective=99.9, clusters=["a"]))
    node = NODE + ',cluster="a"'
    series = {f'redis_commands_total{{{node},cmd="get"}}': "0+6000xN",
              f'redis_commands_failed_calls_total{{{node},cmd="get"}}': "0+60xN",
              f'redis_commands_total{{{node},cmd="auth"}}': "0+6000xN",
              f'redis_commands_failed_calls_total{{{node},cmd="auth"}}': "0+6000xN"}
    labels = '{slo="err",team="t"}'
    exprs = [near('cachewatch:slo_sli_error:ratio_rate5m{slo="err"}', 0.01, "30m", labels),
             near('cachewatch:slo_sli_events:rate5m{slo="err"}', 100.0, "30m", labels)]
    run_scenario(tmp_path, spec, series, {}, exprs, minutes=40)


def test_latency_bucket_rounding_and_spellings() -> None:
    # Redis' own bucket bounds (1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, …), not powers of two
    assert slo.latency_bucket_usec(SLO(name="x", kind="latency", objective=99, latency_threshold_seconds=0.002)) == 1056
    assert slo.latency_bucket_usec(SLO(name="x", kind="latency", objective=99, latency_threshold_seconds=0.01)) == 8454
    assert slo.le_matcher(4) == 'le=~"(1|2|4)(\\\\.0)?"'
    assert slo.le_matcher(66) == 'le=~"(1|2|4|8|16|33|66)(\\\\.0)?"'
    assert slo.le_matcher(2_000_000).endswith('|541065|1073741)(\\\\.0)?|1\\\\.073741e\\\\+06"')
    with pytest.raises(ValidationError, match=r"latency_threshold_seconds\n.*greater than or equal to 0.000001"):
        SLO(name="x", kind="latency", objective=99, latency_threshold_seconds=1e-7)  # the spec refuses it


# --- business figures --------------------------------------------------------------------------------------
def test_costs_and_sla_per_cluster(tmp_path: Path) -> None:
    """Cluster a: 2 nodes, 1 GiB each, 1000 commands/s each; b: one node, down all along."""
    spec = fleet(prices=Business(cost_per_gb_hour=0.012, cost_per_node_hour=0.08, sla_target=99.9))
    series = {}
    for i in (1, 2):
        node = f'job="redis",instance="10.0.1.{i}:6379",region="r1",cluster="a",team="t"'
        series |= {f"redis_up{{{node}}}": "1xN", f"redis_memory_used_bytes{{{node}}}": f"{1 << 30}xN",
                   f"redis_commands_processed_total{{{node}}}": "0+60000xN"}
    series['redis_up{job="redis",instance="10.0.2.1:6379",region="r1",cluster="b",team="t"}'] = "0xN"
    a, b = '{cluster="a",region="r1",team="t"}', '{cluster="b",region="r1",team="t"}'
    ac, bc = (x.replace("{", '{currency="USD",') for x in (a, b))
    per_hour = 2 * 0.08 + 2 * 0.012
    per_million = per_hour / (2000 * 3600 / 1e6)  # 2000 commands/s
    exprs = [near('cachewatch:cost_per_hour:currency{cluster="a"}', per_hour, "2h", ac),
             near('cachewatch:cost_per_hour:currency{cluster="b"}', 0.08, "2h", bc),  # all down: still paid for
             near('cachewatch:cost_per_gb_hour:currency{cluster="a"}', per_hour / 2, "2h", ac),
             near('cachewatch:cost_per_million_requests:currency{cluster="a"}', per_million, "2h", ac),
             near('cachewatch:sla_compliance:percent{cluster="a"}', 100.0, "2h", a),
             near('cachewatch:sla_compliance:percent{cluster="b"}', 0.0, "2h", b),
             near('cachewatch:sla_error_budget_remaining:ratio{cluster="a"}', 1.0, "2h", a),
             near('cachewatch:sla_error_budget_remaining:ratio{cluster="b"}', -999.0, "2h", b)]
    run_scenario(tmp_path, spec, series, {}, exprs, minutes=150)


def test_zero_prices_write_no_cost_records_and_one_price_writes_its_term_only() -> None:
    assert business.cost_records(fleet()) == []
    nodes_only = business.cost_records(fleet(prices=Business(cost_per_node_hour=0.5)))
    assert nodes_only and "redis_memory_used_bytes" not in nodes_only[0].expr and " * 0.5" in nodes_only[0].expr
    assert [r.record for r in business.sla_records(fleet())][1] == "cachewatch:sla_compliance:percent"
    yaml.safe_load(dump_yaml(render_rule_file(business.groups(fleet()), links(fleet()))))
