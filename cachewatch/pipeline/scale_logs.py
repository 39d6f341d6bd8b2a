"""Scale mode's logs pipeline: ``regions/<region>/otelcol-logs.yaml``, an OpenTelemetry Collector (contrib) per
region, and ``docs/logs.md``, which says what is shipped and how much.

Two sources, tailed from files (``filelog``):
- cachewatch's JSON lines (cachewatch/logs.py: ts, level, msg, logger, trace_id/span_id inside a span): the
  timestamp, severity and trace context are lifted into the log record, the message becomes the body;
- redis-server's own log, through a regex parser (scale_redis_log.py). A line it does not match (a crash report)
  is still shipped, unparsed (``on_error: send_quiet``): severity unspecified, never filtered out.
Each record carries the resource attributes ``service.name``, ``service.namespace`` (the fleet) and
``cloud.region``, which Loki indexes by default.

What is kept (filters drop a record when a condition holds):
- Redis: notices and warnings; its debug and verbose lines (every client connect) never leave the host;
- cachewatch: warnings and errors always; INFO sampled (``scale.logs.info_sample_percent``, consistently by trace
  id, so a trace keeps all its lines or none); DEBUG never.
"""

from __future__ import annotations

from cachewatch.artifacts import File, Json
from cachewatch.pipeline import scale_logs_backend, scale_redis_log
from cachewatch.promql import num
from cachewatch.spec import FleetSpec
from cachewatch.spec.scale import logs_retention_days, scale_of

UNSPECIFIED = "severity_number != SEVERITY_NUMBER_UNSPECIFIED"  # an unparsed line: always kept
# cachewatch/logs.py writes logging's level names in lower case.
CACHEWATCH_LEVELS = {"debug": "debug", "info": "info", "warn": ["warning", "warn"], "error": "error",
                     "fatal": "critical"}
JSON_TIME_LAYOUT = "%Y-%m-%dT%H:%M:%S.%LZ"  # cachewatch.logs.iso_time: 2026-11-28T09:07:41.786Z
LINE_BYTES = 298  # a cachewatch JSON line with trace ids, measured (../shared/reference/scale.md §4)
CLIENT_LINES_PER_SECOND = 10  # cachewatch.tracing's LogRateLimiter: at most 10 lines/s per process
GZIP_RATIO = 6.9  # measured on cachewatch lines in 256 KB blocks


def path(region: str) -> str:
    return f"regions/{region}/otelcol-logs.yaml"


def receivers(spec: FleetSpec, region: str) -> Json:
    logs = scale_of(spec).logs
    resource = {"service.namespace": spec.name, "cloud.region": region}
    return {
        "filelog/cachewatch": {
            "include": list(logs.cachewatch_paths), "start_at": "end",
            "resource": {"service.name": "cachewatch", **resource},
            "operators": [
                {"type": "json_parser", "on_error": "send_quiet",
                 "timestamp": {"parse_from": "attributes.ts", "layout": JSON_TIME_LAYOUT, "location": "UTC"},
                 "severity": {"parse_from": "attributes.level", "preset": "none", "mapping": CACHEWATCH_LEVELS}},
                {"type": "trace_parser", "if": "attributes.trace_id != nil",
                 "trace_id": {"parse_from": "attributes.trace_id"}, "span_id": {"parse_from": "attributes.span_id"}},
                {"type": "move", "if": "attributes.msg != nil", "from": "attributes.msg", "to": "body"},
            ]},
        "filelog/redis": {
            "include": list(logs.redis_paths), "start_at": "end",
            "resource": {"service.name": "redis-server", **resource},
            "operators": [
                {"type": "regex_parser", "regex": scale_redis_log.REGEX, "on_error": "send_quiet",
                 "timestamp": {"parse_from": "attributes.time", "layout": scale_redis_log.TIME_LAYOUT},
                 "severity": {"parse_from": "attributes.level", "preset": "none",
                              "mapping": dict(scale_redis_log.LEVELS)}},
                {"type": "move", "if": "attributes.message != nil", "from": "attributes.message", "to": "body"},
            ]},
    }


def processors(spec: FleetSpec) -> Json:
    percent = scale_of(spec).logs.info_sample_percent
    out: Json = {
        "memory_limiter": {"check_interval": "1s", "limit_mib": 512, "spike_limit_mib": 128},
        "filter/redis": {"error_mode": "ignore", "logs": {"log_record": [
            f"{UNSPECIFIED} and severity_number < SEVERITY_NUMBER_INFO"]}},
        "filter/warnings": {"error_mode": "ignore", "logs": {"log_record": [
            f"{UNSPECIFIED} and severity_number < SEVERITY_NUMBER_WARN"]}},
        "filter/info": {"error_mode": "ignore", "logs": {"log_record": [
            "severity_number < SEVERITY_NUMBER_INFO", "severity_number >= SEVERITY_NUMBER_WARN"]}},
        "batch": {"send_batch_size": 8192, "timeout": "5s"},
    }
    if 0 < percent < 100:
        out["probabilistic_sampler/info"] = {"sampling_percentage": percent, "attribute_source": "traceID",
                                             "from_attribute": "ts", "fail_closed": False}
    return out


def pipelines(spec: FleetSpec, exporter_id: str) -> Json:
    percent = scale_of(spec).logs.info_sample_percent
    out: Json = {
        "logs/redis": {"receivers": ["filelog/redis"], "processors": ["memory_limiter", "filter/redis", "batch"],
                       "exporters": [exporter_id]},
        "logs/cachewatch": {"receivers": ["filelog/cachewatch"],
                            "processors": ["memory_limiter", "filter/warnings", "batch"], "exporters": [exporter_id]},
    }
    if percent > 0:
        sampler = ["probabilistic_sampler/info"] if percent < 100 else []
        out["logs/cachewatch-info"] = {"receivers": ["filelog/cachewatch"],
                                       "processors": ["memory_limiter", "filter/info", *sampler, "batch"],
                                       "exporters": [exporter_id]}
    return out


def collector_config(spec: FleetSpec, region: str) -> Json:
    exporter_id, exporter = scale_logs_backend.exporter(spec)
    return {"receivers": receivers(spec, region), "processors": processors(spec),
            "exporters": {exporter_id: exporter},
            "service": {"pipelines": pipelines(spec, exporter_id)}}


def app_instances(spec: FleetSpec) -> int:
    return sum(len(app.targets) for app in spec.applications)


def volume_markdown(spec: FleetSpec) -> str:
    """docs/logs.md: what is shipped, the limits, and the worst-case volume for this spec."""
    logs = scale_of(spec).logs
    days = logs_retention_days(spec)
    instances = app_instances(spec)
    worst = instances * CLIENT_LINES_PER_SECOND * logs.info_sample_percent / 100
    per_day_gb = worst * LINE_BYTES * 86400 / 1e9
    stored_gb = per_day_gb / GZIP_RATIO * days
    info = f"{num(logs.info_sample_percent)} % of INFO"
    rows = [("source", "limit at the source", "shipped"), ("---", "---", "---"),
            ("applications (cachewatch.tracing)", f"errors and slow operations only, at most "
             f"{CLIENT_LINES_PER_SECOND} lines/s per process (the rest counted in the next line)",
             f"warnings and errors; {info}, by trace id"),
            ("exporter", "a failing scrape: one line per reason every 5 minutes, not per scrape",
             f"warnings and errors; {info}"),
            ("alert lifecycle service", "a line per alert event (alert volume, not request volume)",
             f"warnings and errors; {info}"),
            ("redis-server", "its `loglevel` (default: notice)", "notices and warnings; debug and verbose never"),
            ("anything unparsed (a crash report)", "", "always")]
    table = "".join(f"| {' | '.join(row)} |\n" for row in rows)
    backend = ("Loki (global/loki/loki.yaml)" if logs.backend == "loki" else
               "Elasticsearch (load global/elasticsearch/ilm-policy.json with PUT _ilm/policy/"
               f"{scale_logs_backend.policy_name(spec)}, then index-template.json with PUT _index_template/"
               f"{scale_logs_backend.policy_name(spec)})")
    return f"""# Logs

Generated by `cachewatch generate` from the spec "{spec.name}" (scale mode).

An OpenTelemetry Collector (contrib distribution) in each region (`regions/<region>/otelcol-logs.yaml`) tails
cachewatch's JSON logs ({", ".join(f"`{p}`" for p in logs.cachewatch_paths)}) and redis-server's own log
({", ".join(f"`{p}`" for p in logs.redis_paths)}) and sends them to {backend}, which keeps them
**{days} days**.

## What is logged, and how much

Logging every request is out of the question: at 1M requests/s a 298-byte line each is 298 MB/s, about 26 TB a day.
Per-request detail belongs in traces (tail-sampled: tracing/otelcol-tail-sampling.yaml). What reaches the logs:

{table}
Worst case of INFO lines for this spec: {instances} application instances x {CLIENT_LINES_PER_SECOND} lines/s x \
{num(logs.info_sample_percent)} % = **{num(round(worst, 1))} lines/s**, {num(round(per_day_gb, 2))} GB/day raw, \
about **{num(round(stored_gb, 1))} GB** compressed for {days} days (gzip {GZIP_RATIO}x, measured on these lines).
Warnings and errors come on top; during an outage they are bounded by the same per-process limit.
"""


def files(spec: FleetSpec) -> list[File]:
    out = [File(path(region.name), collector_config(spec, region.name), comment=(
        f"\nThe logs pipeline of region {region.name}: an OpenTelemetry Collector (contrib: filelog, filter, "
        "probabilistic_sampler).\nRun it on every host with Redis or cachewatch logs. What is kept and how much: "
        "docs/logs.md.\n")) for region in spec.regions]
    return [*out, File("docs/logs.md", volume_markdown(spec)), *scale_logs_backend.files(spec)]
