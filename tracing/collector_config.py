"""The fleet spec → trace-pipeline configs: an OpenTelemetry Collector and a Jaeger v2 that tail-sample.

Why tail sampling: an application's head sampler (``ParentBased(TraceIdRatioBased(tracing.sample_ratio))``)
decides when a trace starts, before anyone knows whether it will fail or run long. Other languages can let
Jaeger steer that decision remotely, but OpenTelemetry Python has no Jaeger remote sampler (only AWS X-Ray's).
So the decision that keeps every error and every slow trace is made where whole traces are visible: the
Collector's ``tail_sampling`` processor (otel-collector-contrib, beta), which Jaeger v2 embeds as well.

Three policies, any match keeps the trace:
  - ``status_code`` ERROR: every trace with a failed span;
  - ``latency``: every trace longer than ``tracing.slow_threshold`` (whole milliseconds, rounded down);
  - ``probabilistic``: ``tracing.tail_sampling.base_ratio`` of the ordinary rest.

The collector only decides about what it receives. To see every error, applications send more than their
head-sampled share: ``sample_ratio`` 1.0 (the standard recipe; ``base_ratio`` then sets the stored share), or
``keep_errors_and_slow`` (errors and slow spans of unsampled traces are exported too, as partial traces).

All spans of one trace must reach the same collector instance, or each instance decides on fragments. One
instance is fine for most fleets; to scale out, put a first tier of collectors with the ``loadbalancing``
exporter (``routing_key: traceID``) in front of these.

The collector's pipeline is ``memory_limiter`` (refuse data before the process runs out of memory; the apps'
bounded export queues absorb it), ``tail_sampling`` (holds ``num_traces`` for ``decision_wait``), ``batch``.

Two outputs, pick one: ``otelcol-tail-sampling.yaml`` for ``otelcol-contrib`` in front of any Jaeger (it
forwards over OTLP gRPC), or ``jaeger-v2.yaml`` for a single Jaeger v2 that receives, samples and stores
(in memory: a starting point; swap the ``jaeger_storage`` backend for production). Pure functions of the spec:
each file as data plus the explanation that goes under the generated header; :mod:`.contribution` hands them to
the generate pipeline, whose writer adds the header and the YAML.
"""

from __future__ import annotations

import math
from copy import deepcopy

from cachewatch.promql import go_duration
from cachewatch.spec import FleetSpec, Tracing

RECEIVERS = {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"},  # the ports apps and Jaeger use
                                    "http": {"endpoint": "0.0.0.0:4318"}}}}
BATCH = {}  # defaults: 8192 spans or 200ms, whichever comes first
MEMORY_LIMITER = {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20}
JAEGER_EXPORTER = "otlp/jaeger"  # type otlp (gRPC; newer collectors also call it otlp_grpc), instance name jaeger
STORE = "cachewatch_store"
JAEGER_MAX_TRACES = 100_000  # in-memory store size of the Jaeger v2 config; older traces are evicted
COLLECTOR_FILE, JAEGER_FILE = "otelcol-tail-sampling.yaml", "jaeger-v2.yaml"


def threshold_ms(tracing: Tracing) -> int:
    """The latency policy takes whole milliseconds: rounded down so no slow trace is missed, at least 1 (0 would
    keep every trace)."""
    return max(1, math.floor(round(tracing.slow_threshold * 1000, 6)))


def percent(ratio: float) -> float | int:
    """0.1 → 10 (not 10.000000000000002): what people write in sampling_percentage."""
    value = round(ratio * 100, 6)
    return int(value) if value.is_integer() else value


def policies(tracing: Tracing) -> list[dict]:
    """Keep errors, keep slow traces, keep a share of the rest; the names show up in the collector's metrics."""
    return [
        {"name": "keep-errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "keep-slow", "type": "latency", "latency": {"threshold_ms": threshold_ms(tracing)}},
        {"name": "keep-share-of-rest", "type": "probabilistic",
         "probabilistic": {"sampling_percentage": percent(tracing.tail_sampling.base_ratio)}},
    ]


def tail_sampling(tracing: Tracing) -> dict:
    return {"decision_wait": go_duration(tracing.tail_sampling.decision_wait),
            "num_traces": tracing.tail_sampling.num_traces,
            "policies": policies(tracing)}


def pipeline(processors: dict, exporter: str) -> dict:
    return {"receivers": list(RECEIVERS), "processors": list(processors), "exporters": [exporter]}


def collector_config(spec: FleetSpec) -> dict:
    """otelcol-contrib: receive OTLP, bound memory, tail-sample, batch, forward the kept traces to Jaeger."""
    ts = spec.tracing.tail_sampling
    processors = {"memory_limiter": MEMORY_LIMITER, "tail_sampling": tail_sampling(spec.tracing), "batch": BATCH}
    return deepcopy({  # fresh dicts: callers may edit the result without touching the module's constants
        "receivers": RECEIVERS,
        "processors": processors,
        "exporters": {JAEGER_EXPORTER: {"endpoint": ts.jaeger_endpoint, "tls": {"insecure": not ts.jaeger_tls}}},
        "service": {"pipelines": {"traces": pipeline(processors, JAEGER_EXPORTER)}},
    })


def jaeger_v2_config(spec: FleetSpec, max_traces: int = JAEGER_MAX_TRACES) -> dict:
    """Jaeger v2 (built on the collector): the same receivers and sampling, stored by its own extensions."""
    processors = {"tail_sampling": tail_sampling(spec.tracing), "batch": BATCH}
    return deepcopy({
        "receivers": RECEIVERS,
        "processors": processors,
        "exporters": {"jaeger_storage_exporter": {"trace_storage": STORE}},
        "extensions": {"jaeger_storage": {"backends": {STORE: {"memory": {"max_traces": max_traces}}}},
                       "jaeger_query": {"storage": {"traces": STORE}}},
        "service": {"extensions": ["jaeger_storage", "jaeger_query"],
                    "pipelines": {"traces": pipeline(processors, "jaeger_storage_exporter")}},
    })


COMMENT = """
{what}
Run: {run}

Tail sampling keeps every trace with an ERROR span, every trace longer than {slow} ms (tracing.slow_threshold)
and {base}% of the rest (tracing.tail_sampling.base_ratio), deciding {wait} after a trace's first span.
Applications head-sample {head}% (tracing.sample_ratio){keep}, so {stored}% of ordinary traces are stored;
{sees}
All spans of a trace must reach the same instance: to scale out, put collectors with the loadbalancing
exporter (routing_key: traceID) in front."""

WHAT = {
    COLLECTOR_FILE: ("OpenTelemetry Collector (contrib distribution: tail_sampling is not in the core build) "
                     "between the\napplications and Jaeger; kept traces go to {endpoint} over OTLP gRPC.",
                     "otelcol-contrib --config otelcol-tail-sampling.yaml"),
    JAEGER_FILE: ("Jaeger v2 receiving OTLP itself (4317 gRPC, 4318 HTTP), tail-sampling, and storing in "
                  "memory\n(at most {max_traces} traces; use a persistent jaeger_storage backend in production).",
                  "jaeger --config jaeger-v2.yaml   (UI on :16686)"),
}
KEEP = {True: " and also export errors and slow operations of the rest (keep_errors_and_slow)", False: ""}
SEES = {True: "every error and every slow operation reaches the sampler.",
        False: "errors outside the head-sampled share never reach it: set sample_ratio 1.0 or keep_errors_and_slow."}
CONFIGS = {COLLECTOR_FILE: collector_config, JAEGER_FILE: jaeger_v2_config}


def comment(spec: FleetSpec, file: str) -> str:
    """What the file is, how to run it and what it keeps: the text under the generated header (the writer adds
    the comment markers; the first, empty line separates it from the header)."""
    tracing = spec.tracing
    what, run = WHAT[file]
    return COMMENT.format(
        run=run,
        what=what.format(endpoint=tracing.tail_sampling.jaeger_endpoint, max_traces=JAEGER_MAX_TRACES),
        slow=threshold_ms(tracing), base=percent(tracing.tail_sampling.base_ratio),
        wait=go_duration(tracing.tail_sampling.decision_wait), head=percent(tracing.sample_ratio),
        keep=KEEP[tracing.keep_errors_and_slow],
        stored=percent(tracing.sample_ratio * tracing.tail_sampling.base_ratio),
        sees=SEES[tracing.sample_ratio == 1 or tracing.keep_errors_and_slow])
