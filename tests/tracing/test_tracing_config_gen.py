"""The spec's tracing and applications sections, and what the tracing part contributes to `cachewatch generate`
from them: tail-sampling configs for an OpenTelemetry Collector and Jaeger v2, and the applications' Prometheus
scrape job.

No otelcol or jaeger binary runs here, so the configs are checked structurally (the tail_sampling processor's
own keys, pipeline references, storage references); the scrape job is checked by promtool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cachewatch.artifacts import File
from cachewatch.local_redis import require_binary
from cachewatch.pipeline.writer import render
from cachewatch.promql import APPS_JOB
from cachewatch.spec import (
    Application,
    Cluster,
    Escalation,
    FleetSpec,
    Node,
    PagerDutyChannel,
    Region,
    SecretRef,
    SpecError,
    TailSampling,
    Team,
    Tracing,
    load_spec,
)
from cachewatch.tracing import collector_config
from cachewatch.tracing.contribution import contribution
from tests.support.paths import ROOT

EXAMPLES = {"small": ROOT / "examples" / "small.py", "fleet": ROOT / "examples" / "fleet.py"}
CONFIGS = {"collector": collector_config.collector_config, "jaeger": collector_config.jaeger_v2_config}
SECTIONS = ("receivers", "processors", "exporters")
TINY = {
    "regions": [{"name": "local",
                 "clusters": [{"name": "cache", "team": "ops", "nodes": [{"address": "127.0.0.1:6379"}]}]}],
    "teams": [{"name": "ops", "channels": {"hook": {"kind": "webhook", "url": "http://127.0.0.1:5001/"}},
               "escalation": {"critical": ["hook"]}}],
}


FILES = ("tracing/otelcol-tail-sampling.yaml", "tracing/jaeger-v2.yaml")


def files_of(spec: FleetSpec) -> dict[str, File]:
    return {file.path: file for file in contribution(spec).files}


def with_tracing(spec: FleetSpec, **fields: object) -> FleetSpec:
    return spec.model_copy(update={"tracing": Tracing(**fields)})


def policies_by_type(config: dict) -> dict[str, dict]:
    return {p["type"]: p for p in config["processors"]["tail_sampling"]["policies"]}


def load_errors(tmp_path: Path, raw: dict) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return str(info.value).splitlines()


# --- the collector's tail_sampling processor ---------------------------------------------------------------
def test_defaults_keep_errors_traces_over_10ms_and_a_tenth_of_the_rest() -> None:
    spec = FleetSpec.model_validate(TINY)
    config = collector_config.collector_config(spec)
    ts = config["processors"]["tail_sampling"]
    assert (ts["decision_wait"], ts["num_traces"]) == ("10s", 50000)
    assert ts["policies"] == [
        {"name": "keep-errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "keep-slow", "type": "latency", "latency": {"threshold_ms": 10}},
        {"name": "keep-share-of-rest", "type": "probabilistic", "probabilistic": {"sampling_percentage": 10}},
    ]
    assert config["exporters"] == {"otlp/jaeger": {"endpoint": "jaeger:4317", "tls": {"insecure": True}}}


def test_the_fleet_example_s_numbers_reach_both_configs() -> None:
    spec = load_spec(EXAMPLES["fleet"])  # slow_threshold 5ms, base_ratio 0.05, decision_wait 15s
    for make in CONFIGS.values():
        config = make(spec)
        policies = policies_by_type(config)
        assert policies["latency"]["latency"] == {"threshold_ms": 5}
        assert policies["probabilistic"]["probabilistic"] == {"sampling_percentage": 5}
        assert policies["status_code"]["status_code"] == {"status_codes": ["ERROR"]}
        assert config["processors"]["tail_sampling"]["decision_wait"] == "15s"
    exporter = collector_config.collector_config(spec)["exporters"]["otlp/jaeger"]
    assert exporter["endpoint"] == "jaeger-collector.tracing:4317"


@pytest.mark.parametrize(("fields", "wait", "threshold", "percentage"), [
    ({"slow_threshold": "2.5ms"}, "10s", 2, 10),  # rounded down: no slow trace is missed
    ({"slow_threshold": 0.0004}, "10s", 1, 10),  # 0 ms would keep every trace
    ({"slow_threshold": "1s"}, "10s", 1000, 10),
    ({"tail_sampling": TailSampling(decision_wait="1500ms", base_ratio=0.333)}, "1500ms", 10, 33.3),
    ({"tail_sampling": TailSampling(decision_wait="2m", base_ratio=0)}, "120s", 10, 0),
    ({"tail_sampling": TailSampling(base_ratio=1)}, "10s", 10, 100),
])
def test_spec_values_become_the_processor_s_units(fields: dict, wait: str, threshold: int,
                                                  percentage: float) -> None:
    spec = with_tracing(FleetSpec.model_validate(TINY), **fields)
    ts = collector_config.collector_config(spec)["processors"]["tail_sampling"]
    policies = {p["type"]: p for p in ts["policies"]}
    assert ts["decision_wait"] == wait
    assert policies["latency"]["latency"]["threshold_ms"] == threshold
    assert policies["probabilistic"]["probabilistic"]["sampling_percentage"] == percentage


def test_tls_to_jaeger_is_a_spec_switch() -> None:
    spec = with_tracing(FleetSpec.model_validate(TINY), tail_sampling=TailSampling(jaeger_tls=True))
    assert collector_config.collector_config(spec)["exporters"]["otlp/jaeger"]["tls"] == {"insecure": False}


# --- structure of both configs -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", CONFIGS)
@pytest.mark.parametrize("example", EXAMPLES)
def test_pipelines_reference_only_defined_components_and_every_component_is_used(kind: str, example: str) -> None:
    config = CONFIGS[kind](load_spec(EXAMPLES[example]))
    pipelines = config["service"]["pipelines"]
    assert list(pipelines) == ["traces"]
    for section in SECTIONS:
        used = {name for pipeline in pipelines.values() for name in pipeline[section]}
        assert used == set(config[section]), section
    assert set(config["service"].get("extensions", [])) == set(config.get("extensions", {}))
    traces = pipelines["traces"]
    assert traces["receivers"] == ["otlp"] and traces["processors"][-2:] == ["tail_sampling", "batch"]
    assert config["receivers"]["otlp"]["protocols"] == {"grpc": {"endpoint": "0.0.0.0:4317"},
                                                        "http": {"endpoint": "0.0.0.0:4318"}}


def test_jaeger_v2_storage_references_are_consistent() -> None:
    config = collector_config.jaeger_v2_config(load_spec(EXAMPLES["fleet"]))
    backends = config["extensions"]["jaeger_storage"]["backends"]
    store = config["exporters"]["jaeger_storage_exporter"]["trace_storage"]
    assert store in backends and config["extensions"]["jaeger_query"]["storage"]["traces"] == store
    assert backends[store] == {"memory": {"max_traces": collector_config.JAEGER_MAX_TRACES}}
    assert config["service"]["extensions"] == ["jaeger_storage", "jaeger_query"]
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["jaeger_storage_exporter"]


def test_the_part_contributes_both_configs_under_tracing() -> None:
    spec = load_spec(EXAMPLES["small"])
    files = files_of(spec)
    assert tuple(files) == FILES
    assert files["tracing/otelcol-tail-sampling.yaml"].data == collector_config.collector_config(spec)
    assert files["tracing/jaeger-v2.yaml"].data == collector_config.jaeger_v2_config(spec)
    assert contribution(spec).part == "tracing"


@pytest.mark.parametrize("path", FILES)
def test_rendered_yaml_round_trips_under_a_generated_header(path: str) -> None:
    spec = load_spec(EXAMPLES["fleet"])
    file = files_of(spec)[path]
    text = render(file, spec.name)
    header = text[: text.index("receivers:")]
    assert header.startswith("# Generated by cachewatch from the fleet spec \"fleet\". Do not edit")
    assert all(line.startswith("#") for line in header.splitlines())
    assert "loadbalancing" in header and "traceID" in header  # how to scale out without splitting traces
    assert yaml.safe_load(text) == file.data
    assert "&id" not in text and "*id" not in text  # no YAML anchors for people to untangle


def test_the_comment_says_what_is_kept_and_when_errors_cannot_reach_the_sampler() -> None:
    small = collector_config.comment(FleetSpec.model_validate(TINY), collector_config.COLLECTOR_FILE)
    assert "longer than 10 ms" in small and "10% of the rest" in small and "head-sample 1%" in small
    assert "0.1% of ordinary traces are stored" in small and "set sample_ratio 1.0" in small
    assert not any(line.startswith("#") for line in small.splitlines())  # the writer adds the markers
    fleet = collector_config.comment(load_spec(EXAMPLES["fleet"]), collector_config.JAEGER_FILE)
    assert "every error and every slow operation reaches the sampler" in fleet


def test_generated_tracing_configs_never_contain_a_secret(tmp_path: Path) -> None:
    secret = tmp_path / "pd-key"
    secret.write_text("pd-secret-value-8c1f")
    spec = FleetSpec(
        regions=[Region(name="r", clusters=[Cluster(name="c", team="t", nodes=[Node(address="127.0.0.1:6379")])])],
        teams=[Team(name="t", channels={"pd": PagerDutyChannel(routing_key=SecretRef(file=str(secret)))},
                    escalation=Escalation(critical=["pd"]))])
    for path, file in files_of(spec).items():
        text = render(file, spec.name)
        assert "pd-secret-value-8c1f" not in text and str(secret) not in text, path
        assert "@" not in text and "password" not in text.lower(), path


# --- bad tracing / applications sections: one clear line each ----------------------------------------------
@pytest.mark.parametrize(("tracing", "path", "says"), [
    ({"sample_ratio": 1.5}, "tracing.sample_ratio", "less than or equal to 1"),
    ({"sample_ratio": -0.1}, "tracing.sample_ratio", "greater than or equal to 0"),
    ({"tail_sampling": {"base_ratio": 2}}, "tracing.tail_sampling.base_ratio", "less than or equal to 1"),
    ({"tail_sampling": {"num_traces": 0}}, "tracing.tail_sampling.num_traces", "greater than 0"),
    ({"tail_sampling": {"decision_wait": "500ms"}}, "tracing.tail_sampling.decision_wait",
     "greater than or equal to 1"),
    ({"tail_sampling": {"jaeger_endpoint": "http://jaeger:4317"}}, "tracing.tail_sampling.jaeger_endpoint",
     "pattern"),
    ({"export_queue_size": 8}, "tracing.export_queue_size", "greater than or equal to 16"),
    ({"slow_threshold": "soon"}, "tracing.slow_threshold", "not a duration"),
    ({"otlp_protocol": "thrift"}, "tracing.otlp_protocol", "'grpc' or 'http/protobuf'"),
    ({"otlp_endpoint": "udp://jaeger:6831"}, "tracing.otlp_endpoint", "pattern"),
    ({"otlp_endpoint": "http://user:hunter2@jaeger:4318"}, "tracing.otlp_endpoint", "OTEL_EXPORTER_OTLP_HEADERS"),
    ({"otlp_endpoint": "http://jaeger:99999"}, "tracing.otlp_endpoint", "Port out of range"),
    ({"otlp_protocol": "grpc"}, "tracing", "port 4318 is the OTLP http/protobuf port"),
    ({"colour": "blue"}, "tracing.colour", "Extra inputs are not permitted"),
])
def test_a_bad_tracing_value_fails_with_one_line_naming_the_field(tmp_path: Path, tracing: dict, path: str,
                                                                  says: str) -> None:
    [line] = load_errors(tmp_path, {**TINY, "tracing": tracing})
    assert f": {path}: " in line and says in line, line
    assert "hunter2" not in line or "OTEL_EXPORTER_OTLP_HEADERS" in line


def test_matching_protocol_and_port_pairs_are_accepted() -> None:
    assert Tracing(otlp_protocol="grpc", otlp_endpoint="http://otel-collector:4317").otlp_protocol == "grpc"
    assert Tracing(otlp_endpoint="https://otlp.example.com/v1").otlp_endpoint  # no port: no opinion


def test_an_application_naming_an_unknown_team_fails_clearly(tmp_path: Path) -> None:
    apps = [{"name": "checkout", "team": "payments", "targets": ["10.0.0.5:8000"]}]
    [line] = load_errors(tmp_path, {**TINY, "applications": apps})
    assert "application checkout names team 'payments'; teams: ops" in line, line


@pytest.mark.parametrize(("apps", "path", "says"), [
    ([{"name": "a", "team": "ops", "targets": []}], "applications.0.targets", "at least 1 item"),
    ([{"name": "a", "team": "ops", "targets": ["10.0.0.5"]}], "applications.0.targets.0", "pattern"),
    ([{"name": "Checkout App", "team": "ops", "targets": ["10.0.0.5:8000"]}], "applications.0.name", "pattern"),
    ([{"name": "a", "team": "ops", "targets": ["10.0.0.5:8000"], "metrics_path": "metrics"}],
     "applications.0.metrics_path", "pattern"),
    ([{"name": "a", "team": "ops", "targets": ["10.0.0.5:8000"]},
      {"name": "a", "team": "ops", "targets": ["10.0.0.6:8000"]}], "applications", "duplicate applications: 'a'"),
    ([{"name": "a", "team": "ops", "targets": ["10.0.0.5:8000"]},
      {"name": "b", "team": "ops", "targets": ["10.0.0.5:8000"]}], "applications",
     "duplicate application endpoints: '10.0.0.5:8000/metrics'"),
])
def test_a_bad_application_fails_with_one_line(tmp_path: Path, apps: list[dict], path: str, says: str) -> None:
    [line] = load_errors(tmp_path, {**TINY, "applications": apps})
    assert says in line and (path == "applications" or f": {path}: " in line), line


def test_tiny_specs_get_the_documented_defaults() -> None:
    spec = FleetSpec.model_validate(TINY)
    assert spec.applications == []
    assert spec.tracing == Tracing(service_name="cachewatch-app", sample_ratio=0.01, keep_errors_and_slow=False,
                                   slow_threshold=0.01, otlp_endpoint="http://127.0.0.1:4318",
                                   otlp_protocol="http/protobuf", export_queue_size=2048)
    assert spec.tracing.tail_sampling == TailSampling(decision_wait=10, num_traces=50000, base_ratio=0.1,
                                                      jaeger_endpoint="jaeger:4317", jaeger_tls=False)
    schema = json.loads(subprocess.run([sys.executable, "-m", "cachewatch", "spec", "schema"], capture_output=True,
                                       text=True, check=True).stdout)
    assert {"tracing", "applications"} <= set(schema["properties"])
    for model in ("Tracing", "TailSampling", "Application"):  # editors show these
        assert all(prop.get("description") for prop in schema["$defs"][model]["properties"].values()), model


# --- the applications' scrape job --------------------------------------------------------------------------
def test_each_application_is_a_static_config_with_application_and_team_labels() -> None:
    spec = load_spec(EXAMPLES["fleet"])
    [job] = contribution(spec).scrape_jobs
    assert job["job_name"] == APPS_JOB and job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [
        {"targets": app.targets,
         "labels": {"application": app.name, "team": app.team,
                    **({"__metrics_path__": app.metrics_path} if app.metrics_path != "/metrics" else {})}}
        for app in spec.applications]
    assert {s["labels"]["team"] for s in job["static_configs"]} == {"identity", "commerce"}
    assert any(s["labels"].get("__metrics_path__") == "/internal/metrics" for s in job["static_configs"])


def test_no_applications_no_apps_job() -> None:
    assert contribution(FleetSpec.model_validate(TINY)).scrape_jobs == ()


@pytest.mark.parametrize("example", EXAMPLES)
def test_promtool_accepts_the_apps_job(example: str, tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES[example])
    with_override = spec.model_copy(update={"applications": [
        *spec.applications, Application(name="odd-path", team=spec.teams[0].name, targets=["127.0.0.1:9999"],
                                        metrics_path="/custom/metrics")]})
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump({"scrape_configs": list(contribution(with_override).scrape_jobs)},
                                   sort_keys=False))
    result = subprocess.run([require_binary("promtool"), "check", "config", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
