"""Dashboards: SDK round trip, stable uids, units and descriptions, variables in every query,
$__rate_interval, alert panel links, catalog lint, generation time, provisioning files, the alert lifecycle
board."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

from cachewatch.alert_rules.contribution import rule_groups
from cachewatch.catalog import CATALOG, Source
from cachewatch.catalog.lint import base_family, metric_names
from cachewatch.checks import CHECKS, Category
from cachewatch.dashboards import provisioning
from cachewatch.dashboards.contribution import contribution
from cachewatch.dashboards.generate import dashboards, to_json
from cachewatch.panels import PANEL_IDS, resolve
from cachewatch.pipeline.writer import rendered, write
from cachewatch.rulefmt import alerts_of
from cachewatch.spec import load_spec
from tests.support.paths import ROOT

EXAMPLES = ("small", "fleet")
UIDS = {"cachewatch-fleet", "cachewatch-node", "cachewatch-cluster", "cachewatch-health", "cachewatch-exporter",
        "cachewatch-security", "cachewatch-slo", "cachewatch-app", "cachewatch-alerts"}
NODE_VARS = ('region=~"$region"', 'cluster=~"$cluster"', 'instance=~"$instance"')
LIFECYCLE_VARS = {"team": 'team=~"$team"', "severity": 'severity=~"$severity"', "cluster": 'cluster=~"$cluster|"'}


@pytest.fixture(scope="module", params=EXAMPLES)
def spec(request):
    return load_spec(ROOT / "examples" / f"{request.param}.py")


@pytest.fixture(scope="module")
def boards(spec) -> dict[str, dict]:
    return dashboards(spec)


def panels(doc: dict) -> list[dict]:
    """Every panel, rows' nested panels included, rows themselves excluded."""
    out = []
    for p in doc["panels"]:
        out += p.get("panels", []) if p["type"] == "row" else [p]
    return out


def queries(boards: dict[str, dict]):
    for uid, doc in boards.items():
        for p in panels(doc):
            for t in p["targets"]:
                yield uid, p["title"], t["expr"]


def selectors(expr: str, name: str) -> list[str]:
    """The matcher blocks written after each occurrence of metric ``name`` ('' when it has none)."""
    return [m.group(1) or "" for m in re.finditer(rf"(?<![\w:]){re.escape(name)}(?![\w:])(?:\{{([^}}]*)\}})?", expr)]


def test_uids_are_stable_and_complete(spec, boards):
    assert set(boards) == UIDS
    assert all(doc["uid"] == uid for uid, doc in boards.items())
    assert json.dumps(dashboards(spec)) == json.dumps(boards)  # deterministic


@pytest.mark.parametrize("uid", sorted(UIDS))
def test_decodes_through_sdk_model_without_loss(boards, uid):
    doc = boards[uid]
    assert to_json(Dashboard.from_json(doc)) == doc


def test_shared_tags_links_variables_annotations(boards):
    for uid, doc in boards.items():
        assert "cachewatch" in doc["tags"], uid
        assert any(link["type"] == "dashboards" and link["tags"] == ["cachewatch"] for link in doc["links"]), uid
        names = [v["name"] for v in doc["templating"]["list"]]
        assert names[:4] == ["datasource", "region", "cluster", "instance"], uid
        annotations = doc["annotations"]["list"]
        assert any('ALERTS{alertstate="firing"' in a.get("expr", "") for a in annotations), uid
    assert "cache" in [v["name"] for v in boards["cachewatch-app"]["templating"]["list"]]
    assert "slo" in [v["name"] for v in boards["cachewatch-slo"]["templating"]["list"]]


def test_every_panel_has_unit_description_and_unique_id(boards):
    for uid, doc in boards.items():
        ids = [p["id"] for p in doc["panels"]] + [c["id"] for p in doc["panels"] for c in p.get("panels", [])]
        assert len(ids) == len(set(ids)), uid
        for p in panels(doc):
            assert p["fieldConfig"]["defaults"].get("unit"), f"{uid}: {p['title']} has no unit"
            assert p.get("description"), f"{uid}: {p['title']} has no description"
            assert p["datasource"]["uid"] == "${datasource}"
            assert p["targets"], f"{uid}: {p['title']} has no query"


def test_every_query_applies_the_variables(boards):
    problems = []
    for uid, title, expr in queries(boards):
        for name in metric_names(expr):
            fam = CATALOG.get(base_family(name))
            if fam is None:
                continue  # reported by the catalog test
            if fam.source is Source.EXPORTER_SELF:
                need = ('job="cachewatch-exporter"',)
            elif fam.source is Source.EXPORTER and fam.group == "probe":  # served by /probe: job redis-probe
                need = ('job="redis-probe"', *NODE_VARS)
            elif fam.source is Source.EXPORTER:
                need = ('job="redis"', *NODE_VARS)
            elif fam.source is Source.CLIENT:
                need = ('cache=~"$cache"',)
            elif fam.source is Source.LIFECYCLE:  # the service's /metrics; fleet-wide alerts have no cluster
                need = ('job="cachewatch-alerts"', *(LIFECYCLE_VARS[label] for label in fam.labels
                                                     if label in LIFECYCLE_VARS))
            elif fam.source is Source.RECORDING and "slo" in fam.labels:
                need = ('slo=~"$slo"',) if uid == "cachewatch-slo" else ()
            elif fam.source is Source.RECORDING and "instance" in fam.labels:
                need = NODE_VARS
            elif fam.source is Source.RECORDING and "cluster" in fam.labels:
                need = NODE_VARS[:2]
            else:  # Prometheus' own: up / scrape_duration_seconds with either job, ALERTS
                need = ()
            for sel in selectors(expr, name):
                missing = [n for n in need if n not in sel]
                if missing:
                    problems.append(f"{uid} / {title}: {name}{{{sel}}} lacks {', '.join(missing)}")
    assert not problems, "\n".join(problems)


def test_every_range_uses_rate_interval(boards):
    """Or, in an instant query (a stat or table over the whole time range), $__range."""
    for uid, doc in boards.items():
        for p in panels(doc):
            for t in p["targets"]:
                for window in re.findall(r"\[([^\]]*)\]", t["expr"]):
                    assert window == "$__rate_interval" or (window == "$__range" and t.get("instant")), \
                        f"{uid} / {p['title']}: [{window}] in {t['expr']}"


def test_every_metric_is_in_the_catalog(boards):
    unknown = {}
    for uid, title, expr in queries(boards):
        text = re.sub(r"\$\w+", "", expr.replace("$__rate_interval", "5m"))
        missing = {n for n in metric_names(text) if base_family(n) not in CATALOG}
        if missing:
            unknown[f"{uid} / {title}"] = missing
    assert not unknown


def test_every_alert_links_to_an_existing_panel(spec, boards):
    alerts = alerts_of(rule_groups(spec))
    assert alerts
    for alert in alerts:
        uid, panel_id = resolve(alert.panel)
        assert uid in boards, alert.name
        assert panel_id in {p["id"] for p in panels(boards[uid])}, f"{alert.name}: {alert.panel}"
        for var in alert.dashboard_vars:
            assert var in {v["name"] for v in boards[uid]["templating"]["list"]}, f"{alert.name}: var-{var}"


def test_every_check_links_to_an_existing_panel(boards):
    """The check table's rows name the panel that shows them (and, with metrics, the one their alert links to)."""
    for check in CHECKS.values():
        for panel in (check.panel, *([check.metrics.panel] if check.metrics else [])):
            uid, panel_id = resolve(panel)
            assert panel_id in {p["id"] for p in panels(boards[uid])}, f"{check.id}: {panel}"


def test_health_board_has_a_panel_per_check_category_naming_its_checks(boards):
    """A check's alert opens its category's panel: that panel draws the category's checks and names them."""
    by_id = {p["id"]: p for p in panels(boards["cachewatch-health"])}
    keys = PANEL_IDS["cachewatch-health"]
    for category in Category:
        panel = by_id[keys[category.value]]
        assert all(f'category="{category.value}"' in t["expr"] for t in panel["targets"]), category
        assert all(c.id in panel["description"] for c in CHECKS.values() if c.category is category), category
    matrix = by_id[keys["states"]]
    assert "redis_health_state" in matrix["targets"][0]["expr"]
    [grouping] = matrix["transformations"]
    assert grouping["id"] == "groupingToMatrix"
    assert (grouping["options"]["rowField"], grouping["options"]["columnField"]) == ("instance", "state")


def test_panel_table_is_fully_used(boards):
    for uid, keys in PANEL_IDS.items():
        ids = {p["id"] for p in panels(boards[uid])}
        assert set(keys.values()) <= ids, uid
        assert len(set(keys.values())) == len(keys), uid


def test_contribution_holds_every_dashboard_and_the_provisioning(spec, tmp_path):
    part = contribution(spec)
    assert set(part.dashboards) == UIDS and all(board["uid"] == uid for uid, board in part.dashboards.items())
    write(tmp_path, rendered(part.files, spec.name))
    ds = yaml.safe_load((tmp_path / "grafana/provisioning/datasources/cachewatch.yaml").read_text())
    by_type = {d["type"]: d for d in ds["datasources"]}
    assert set(by_type) == {"prometheus", "jaeger"}
    assert by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": by_type["jaeger"]["uid"]}]
    prov = yaml.safe_load((tmp_path / "grafana/provisioning/dashboards/cachewatch.yaml").read_text())
    assert prov["providers"][0]["type"] == "file"
    assert prov["providers"][0]["options"]["path"] == provisioning.DASHBOARDS_PATH


def test_alerts_board_reads_every_lifecycle_family_filtered_by_team_and_severity(spec, boards):
    doc = boards["cachewatch-alerts"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["team"]["query"].split(",") == [team.name for team in spec.teams]
    assert variables["severity"]["query"] == "critical,warning,info"
    exprs = [t["expr"] for p in panels(doc) for t in p["targets"]]
    read = {base_family(n) for expr in exprs for n in metric_names(expr)}
    assert {f.name for f in CATALOG.values() if f.source is Source.LIFECYCLE} <= read
    by_title = {p["title"]: p for p in panels(doc)}
    [mtta] = by_title["MTTA by team"]["targets"]
    assert "increase(cachewatch_alert_ack_seconds_sum{" in mtta["expr"] and "[$__range]" in mtta["expr"]
    assert "cachewatch_alert_ack_seconds_count{" in mtta["expr"] and mtta["instant"]
    fp = by_title["False-positive rate"]
    assert 'classification="false_positive"' in fp["targets"][0]["expr"]
    assert fp["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert any(link["type"] == "link" and link["url"] == f"http://{spec.alert_lifecycle.listen}/"
               for link in doc["links"])


def test_alerts_board_only_when_the_lifecycle_service_is_enabled(spec):
    off = spec.model_copy(update={"alert_lifecycle": spec.alert_lifecycle.model_copy(update={"enabled": False})})
    assert set(dashboards(off)) == UIDS - {"cachewatch-alerts"}
