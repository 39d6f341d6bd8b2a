"""The ``scale`` section of the spec: unset changes nothing, defaults come from ``retention``, and what would break
scale mode (a local retention shorter than the rules read, a replica label the series already carry, a region
that does not exist) is refused with a line that says why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from cachewatch.pipeline import scale
from cachewatch.pipeline.build import build
from cachewatch.rulefmt import Record, RuleGroup
from cachewatch.spec import FleetSpec, Retention, load_spec
from cachewatch.spec.scale import (
    Logs,
    LongTerm,
    PrometheusPair,
    Scale,
    alertmanager_peers,
    home_region,
    logs_retention_days,
    long_term_retention_days,
)

ROOT = Path(__file__).resolve().parents[2]
SMALL, REGIONS = ROOT / "examples" / "small.py", ROOT / "examples" / "regions.py"


def with_scale(spec: FleetSpec, **fields: object) -> FleetSpec:
    """``spec`` validated again with its scale section replaced."""
    return FleetSpec.model_validate({**spec.model_dump(), "scale": fields})


def test_without_scale_the_single_prometheus_layout_is_generated() -> None:
    paths = set(build(load_spec(SMALL)).texts())
    assert "prometheus/prometheus.yml" in paths
    assert "grafana/provisioning/datasources/cachewatch.yaml" in paths
    assert not [p for p in paths if p.startswith(("regions/", "global/"))]


def test_scale_replaces_the_single_prometheus_config_and_keeps_the_shared_files() -> None:
    single = set(build(load_spec(SMALL)).texts())
    spec = load_spec(REGIONS)
    paths = set(build(spec).texts())
    assert "prometheus/prometheus.yml" not in paths
    assert not [p for p in paths if p.startswith("grafana/")]
    assert {f"regions/{r.name}/prometheus.yml" for r in spec.regions} <= paths
    kept = {p for p in single if p.startswith(("prometheus/rules/", "alertmanager/", "dashboards/", "mixin/"))}
    assert {p.split("/", 1)[0] for p in kept} <= {p.split("/", 1)[0] for p in paths}
    assert "alertmanager/alertmanager.yml" in paths and "prometheus/rules/watchdog.yml" in paths


def test_retentions_default_to_the_fleet_retention() -> None:
    spec = with_scale(load_spec(SMALL).model_copy(update={"retention": Retention(metrics_days=120, logs_days=14)}))
    assert (long_term_retention_days(spec), logs_retention_days(spec)) == (120, 14)
    spec = with_scale(spec, long_term={"retention_days": 400}, logs={"retention_days": 7})
    assert (long_term_retention_days(spec), logs_retention_days(spec)) == (400, 7)


def test_a_local_retention_shorter_than_the_rules_read_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError) as err:
        PrometheusPair(local_retention_days=30)
    message = str(err.value)
    assert "30 days is too short" in message and "[30d]" in message and "at least 35 days" in message
    assert PrometheusPair(local_retention_days=35).local_retention_days == 35


def test_the_generated_rules_are_checked_against_the_local_retention() -> None:
    """The floor covers today's rules; a rule reading further back raises the floor at generation."""
    spec = with_scale(load_spec(SMALL))
    assert scale.retention_problems(spec, [RuleGroup("g", "f.yml", (Record("r:x:y", "sum_over_time(up[30d])"),))]) \
        == []
    longer = RuleGroup("g", "f.yml", (Record("r:x:y", "max_over_time(up[6w:1h])"),))
    assert scale.retention_problems(spec, [longer]) == [
        "scale.prometheus.local_retention_days: 35 days is too short: r:x:y reads 42d of local data, so each "
        "regional Prometheus keeps at least 47 days"]


def test_range_seconds_reads_ranges_and_subqueries() -> None:
    assert scale.range_seconds("rate(x[5m]) / y") == 300
    assert scale.range_seconds("max_over_time(rate(x[1h30m])[2d:5m])") == 2 * 86400
    assert scale.range_seconds("vector(1)") == 0


@pytest.mark.parametrize("label", ["region", "cluster", "instance", "fleet"])
def test_a_replica_label_the_series_already_carry_is_refused(label: str) -> None:
    with pytest.raises(ValidationError, match="already carry"):
        PrometheusPair(replica_label=label)


def test_mimir_style_replica_label_is_allowed() -> None:
    assert PrometheusPair(replica_label="__replica__").replica_label == "__replica__"


def test_thanos_needs_object_storage_and_takes_no_write_url() -> None:
    with pytest.raises(ValidationError, match="objstore_config_file"):
        LongTerm(engine="thanos", url="http://thanos-query:10904")
    with pytest.raises(ValidationError, match="does not remote-write"):
        LongTerm(engine="thanos", objstore_config_file="/etc/thanos/bucket.yml", write_url="http://x:1/api/v1/write")


@pytest.mark.parametrize(("url", "why"), [("http://user:secret@vm:8428", "no user:password@"),
                                         ("ftp://vm:8428", "not an http(s) URL"), ("vm:8428", "not an http(s) URL")])
def test_urls_with_credentials_or_without_http_are_refused(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(why)):
        LongTerm(url=url)


def test_log_secrets_are_references_only() -> None:
    assert Logs(backend="elasticsearch", api_key="file:/etc/otelcol/es-key").api_key == "file:/etc/otelcol/es-key"
    with pytest.raises(ValidationError):
        Logs(api_key="c2VjcmV0LWFwaS1rZXk=")


def test_unknown_regions_in_the_scale_section_are_refused_with_the_spec() -> None:
    with pytest.raises(ValueError) as err:
        with_scale(load_spec(SMALL), exporters={"nowhere": ["exp:9121"]}, home_region="mars")
    assert "scale.exporters names unknown region 'nowhere'; regions: local" in str(err.value)
    assert "scale.home_region names unknown region 'mars'; regions: local" in str(err.value)


def test_home_region_and_alertmanager_peers_defaults() -> None:
    spec = load_spec(REGIONS)
    assert home_region(spec) == "eu-west"
    assert alertmanager_peers(spec) == ["alertmanager-0.monitoring:9094", "alertmanager-1.monitoring:9094"]
    spec = with_scale(spec, home_region="us-east", alertmanager={"peers": ["10.9.0.1:9094", "10.9.0.2:9094"]})
    assert home_region(spec) == "us-east"
    assert alertmanager_peers(spec) == ["10.9.0.1:9094", "10.9.0.2:9094"]


def test_the_json_schema_documents_the_scale_section() -> None:
    schema = FleetSpec.model_json_schema()
    assert "scale" in schema["properties"]
    assert {"PrometheusPair", "LongTerm", "Logs", "Scale"} <= set(schema["$defs"])
    assert Scale().long_term.engine == "victoriametrics"
