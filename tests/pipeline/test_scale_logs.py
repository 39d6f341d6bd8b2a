"""Scale mode's logs pipeline: the Redis regex against real redis-server output (a checked-in capture and a live
server), cachewatch's JSON lines against the JSON parser's settings, and the Collector, Loki and Elasticsearch
configs against their documented keys (no binary of theirs runs here)."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from cachewatch.local_redis import start_redis, start_replica
from cachewatch.logs import JsonFormatter
from cachewatch.pipeline import scale_logs, scale_logs_backend, scale_redis_log
from cachewatch.pipeline.build import build
from cachewatch.spec import FleetSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
REGIONS = ROOT / "examples" / "regions.py"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "redis-server.log"
PATTERN = re.compile(scale_redis_log.REGEX)
# The stanza severity aliases (pkg/stanza/docs/types/severity.md).
SEVERITY_ALIASES = {f"{level}{n}" for level in ("trace", "debug", "info", "warn", "error", "fatal")
                    for n in ("", "2", "3", "4")} | {"default"}
# Documented keys (opentelemetry-collector-contrib: receiver/filelogreceiver, pkg/stanza/docs/operators/*.md,
# processor/filterprocessor, processor/probabilisticsamplerprocessor, processor/memorylimiterprocessor,
# exporter/otlphttpexporter, exporter/elasticsearchexporter).
FILELOG_KEYS = {"include", "exclude", "start_at", "resource", "attributes", "operators", "include_file_path"}
OPERATOR_KEYS = {
    "json_parser": {"type", "id", "output", "parse_from", "parse_to", "on_error", "if", "timestamp", "severity"},
    "regex_parser": {"type", "id", "output", "regex", "parse_from", "parse_to", "on_error", "if", "timestamp",
                     "severity", "cache"},
    "trace_parser": {"type", "id", "output", "if", "trace_id", "span_id", "trace_flags"},
    "move": {"type", "id", "output", "if", "from", "to"},
}
PROCESSOR_KEYS = {
    "memory_limiter": {"check_interval", "limit_mib", "spike_limit_mib"},
    "filter": {"error_mode", "logs"},
    "batch": {"send_batch_size", "send_batch_max_size", "timeout"},
    "probabilistic_sampler": {"mode", "sampling_percentage", "hash_seed", "fail_closed", "sampling_precision",
                              "attribute_source", "from_attribute", "sampling_priority"},
}
EXPORTER_KEYS = {"otlphttp": {"endpoint", "compression", "headers", "retry_on_failure", "sending_queue"},
                 "elasticsearch": {"endpoints", "logs_index", "api_key", "retry"}}
OTTL_SEVERITY = re.compile(r"SEVERITY_NUMBER_(UNSPECIFIED|TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\d?\b")
LOKI_KEYS = {"auth_enabled", "server", "common", "schema_config", "limits_config", "compactor"}


def collector_time(layout: str) -> str:
    """A Collector strptime layout in Python's spelling (%L milliseconds → %f)."""
    return layout.replace("%L", "%f")


def parsed(line: str) -> dict[str, str]:
    match = PATTERN.match(line)
    assert match, f"no match: {line!r}"
    return match.groupdict()


def with_logs(spec: FleetSpec, **fields: object) -> FleetSpec:
    scale = spec.scale.model_dump()
    return FleetSpec.model_validate({**spec.model_dump(), "scale": {**scale, "logs": {**scale["logs"], **fields}}})


def collector(spec: FleetSpec, region: str = "eu-west") -> dict:
    return yaml.safe_load(build(spec).texts()[scale_logs.path(region)])


@pytest.fixture(scope="module")
def spec() -> FleetSpec:
    return load_spec(REGIONS)


# --- Redis' own log ------------------------------------------------------------------------------------------
def test_every_line_of_real_redis_output_parses() -> None:
    lines = FIXTURE.read_text().splitlines()
    assert len(lines) > 50
    fields = [parsed(line) for line in lines]
    assert {f["role"] for f in fields} == {"C", "M", "S"}
    assert {f["level"] for f in fields} == {"#", "*", "-"}
    for f in fields:
        datetime.strptime(f["time"], collector_time(scale_redis_log.TIME_LAYOUT))
        assert f["message"] and f["role"] in scale_redis_log.ROLES
    assert any(f["message"].startswith("Ready to accept connections") for f in fields)


def test_the_severity_mapping_covers_every_redis_level_with_valid_aliases() -> None:
    assert set(scale_redis_log.LEVELS.values()) == {".", "-", "*", "#"}
    assert set(scale_redis_log.LEVELS) <= SEVERITY_ALIASES


def test_a_live_redis_server_log_parses(tmp_path: Path) -> None:
    primary = start_redis("--loglevel", "debug")
    replica = None
    try:
        replica = start_replica(primary)
        primary.cli("BGSAVE")
        time.sleep(0.5)
        replica.cli("REPLICAOF", "NO", "ONE")
        lines = [line for server in (primary, replica)
                 for line in (server.workdir / "redis.log").read_text().splitlines() if line]
    finally:
        for server in (replica, primary):
            if server is not None:
                server.stop()
    levels = {parsed(line)["level"] for line in lines}
    assert {".", "-", "*", "#"} <= levels  # debug, verbose, notice and warning lines all parse


def test_a_line_the_regex_does_not_match_is_shipped_unparsed_and_never_filtered(spec: FleetSpec) -> None:
    assert PATTERN.match("=== REDIS BUG REPORT START: Cut & paste starting from here ===") is None
    config = collector(spec)
    (parser,) = [op for op in config["receivers"]["filelog/redis"]["operators"] if op["type"] == "regex_parser"]
    assert parser["on_error"] == "send_quiet"
    for name in ("filter/redis", "filter/warnings"):
        (condition,) = config["processors"][name]["logs"]["log_record"]
        assert condition.startswith("severity_number != SEVERITY_NUMBER_UNSPECIFIED and ")


# --- cachewatch's JSON lines --------------------------------------------------------------------------------
def test_cachewatch_json_lines_fit_the_json_parser_settings(spec: FleetSpec) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("cachewatch.test.scale_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("slow operation", extra={"trace_id": "0af7651916cd43dd8448eb211c80319c",
                                                "span_id": "b7ad6b7169203331"})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    (parser, trace, move) = collector(spec)["receivers"]["filelog/cachewatch"]["operators"]
    datetime.strptime(line["ts"], collector_time(parser["timestamp"]["layout"]))
    mapped = {v for values in parser["severity"]["mapping"].values() for v in ([values] if isinstance(values, str)
                                                                                 else values)}
    assert line["level"] in mapped and {"debug", "info", "warning", "error", "critical"} <= mapped
    assert set(parser["severity"]["mapping"]) <= SEVERITY_ALIASES
    assert trace["trace_id"]["parse_from"].removeprefix("attributes.") in line
    assert move["from"].removeprefix("attributes.") == "msg" and "msg" in line


# --- the Collector config -----------------------------------------------------------------------------------
def test_the_collector_config_is_whole_and_uses_documented_keys(spec: FleetSpec) -> None:
    config = collector(spec)
    pipelines = config["service"]["pipelines"]
    used = {kind: {c for p in pipelines.values() for c in p[kind]} for kind in ("receivers", "processors",
                                                                                  "exporters")}
    for kind, names in used.items():
        assert names == set(config[kind]), kind
    for receiver in config["receivers"].values():
        assert set(receiver) <= FILELOG_KEYS
        for op in receiver["operators"]:
            assert set(op) <= OPERATOR_KEYS[op["type"]], op["type"]
    for name, settings in config["processors"].items():
        assert set(settings) <= PROCESSOR_KEYS[name.split("/")[0]], name
    for name, settings in config["exporters"].items():
        assert set(settings) <= EXPORTER_KEYS[name.split("/")[0]], name
    for settings in (v for k, v in config["processors"].items() if k.startswith("filter/")):
        for condition in settings["logs"]["log_record"]:
            assert OTTL_SEVERITY.search(condition) and not re.search(r"SEVERITY_NUMBER_(?!UNSPECIFIED|TRACE|DEBUG|"
                                                                     r"INFO|WARN|ERROR|FATAL)", condition)


def test_each_region_tags_its_records_and_warnings_are_never_sampled(spec: FleetSpec) -> None:
    for region in ("eu-west", "us-east"):
        config = collector(spec, region)
        assert {r["resource"]["cloud.region"] for r in config["receivers"].values()} == {region}
    pipelines = collector(spec)["service"]["pipelines"]
    assert "probabilistic_sampler/info" not in pipelines["logs/cachewatch"]["processors"]
    assert "probabilistic_sampler/info" in pipelines["logs/cachewatch-info"]["processors"]
    assert collector(spec)["processors"]["probabilistic_sampler/info"]["sampling_percentage"] == 10


@pytest.mark.parametrize(("percent", "info_pipeline", "sampler"), [(0, False, False), (100, True, False),
                                                                   (1, True, True)])
def test_the_info_share_shapes_the_pipelines(spec: FleetSpec, percent: float, info_pipeline: bool,
                                             sampler: bool) -> None:
    config = collector(with_logs(spec, info_sample_percent=percent))
    assert ("logs/cachewatch-info" in config["service"]["pipelines"]) is info_pipeline
    assert ("probabilistic_sampler/info" in config["processors"]) is sampler


def test_loki_gets_otlp_and_keeps_the_spec_retention(spec: FleetSpec) -> None:
    config = collector(spec)
    assert config["exporters"]["otlphttp/loki"]["endpoint"] == "http://loki.monitoring:3100/otlp"
    loki = yaml.safe_load(build(spec).texts()["global/loki/loki.yaml"])
    assert set(loki) == LOKI_KEYS
    assert loki["limits_config"] == {"retention_period": "720h", "max_query_lookback": "720h",
                                     "allow_structured_metadata": True}
    assert loki["compactor"]["retention_enabled"] is True and loki["compactor"]["delete_request_store"]
    (period,) = loki["schema_config"]["configs"]
    assert (period["schema"], period["store"], period["index"]["period"]) == ("v13", "tsdb", "24h")


def test_elasticsearch_gets_a_data_stream_deleted_by_ilm_after_the_retention(spec: FleetSpec) -> None:
    spec = with_logs(spec, backend="elasticsearch", url="https://es.monitoring:9200", retention_days=14,
                     api_key="file:/etc/otelcol/es-api-key")
    texts = build(spec).texts()
    exporter = yaml.safe_load(texts[scale_logs.path("eu-west")])["exporters"]["elasticsearch"]
    assert exporter["endpoints"] == ["https://es.monitoring:9200"]
    assert exporter["logs_index"] == "logs-cachewatch-regions"
    assert exporter["api_key"] == "${file:/etc/otelcol/es-api-key}"  # read by the Collector, never written here
    policy = json.loads(texts["global/elasticsearch/ilm-policy.json"])["policy"]["phases"]
    assert policy["hot"]["actions"]["rollover"]["max_age"] == "1d"
    assert policy["delete"] == {"min_age": "13d", "actions": {"delete": {}}}  # rollover + 13 days = 14 days
    template = json.loads(texts["global/elasticsearch/index-template.json"])
    assert template["data_stream"] == {} and template["index_patterns"] == [scale_logs_backend.DATA_STREAM_PATTERN]
    assert re.fullmatch(template["index_patterns"][0].replace("*", ".*"), exporter["logs_index"])
    assert template["template"]["settings"]["index.lifecycle.name"] == "cachewatch-logs-regions"
    assert "global/loki/loki.yaml" not in texts


def test_the_docs_say_how_much_is_logged(spec: FleetSpec) -> None:
    doc = build(spec).texts()["docs/logs.md"]
    assert "**30 days**" in doc and "26 TB a day" in doc
    assert "2 application instances x 10 lines/s x 10 % = **2 lines/s**" in doc
