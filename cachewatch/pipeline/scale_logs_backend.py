"""Scale mode's logs backend, with the retention from the spec (``retention.logs_days`` unless
``scale.logs.retention_days``), and the Collector exporter that feeds it.

- loki: ``global/loki/loki.yaml``, a single-binary Loki 3 (tsdb index, schema v13, 24 h index period: retention
  needs it) whose compactor deletes what is older than the retention (``retention_enabled``, with the
  ``delete_request_store`` it requires); ``max_query_lookback`` = the retention, so nothing older is queried; OTLP
  ingestion with structured metadata (trace_id and span_id land there). Storage is the local filesystem: replace
  ``common.storage`` with your object store for more than one Loki.
- elasticsearch: ``global/elasticsearch/ilm-policy.json`` (roll over daily, delete ``retention - 1`` days after the
  rollover: ``min_age`` counts from the rollover, so a document lives at most about the retention) and
  ``index-template.json`` binding it to the data stream the Collector writes.
"""

from __future__ import annotations

from cachewatch.artifacts import File, Json
from cachewatch.spec import FleetSpec
from cachewatch.spec.scale import logs_retention_days, scale_of

LOKI_DATA = "/var/lib/loki"
ROLLOVER_DAYS = 1
DATA_STREAM_PATTERN = "logs-cachewatch-*"


def index_name(spec: FleetSpec) -> str:
    """The Elasticsearch data stream the Collector writes: logs-<dataset>-<namespace>."""
    return f"logs-cachewatch-{spec.name}"


def loki_config(spec: FleetSpec) -> Json:
    hours = f"{logs_retention_days(spec) * 24}h"
    return {
        "auth_enabled": False,
        "server": {"http_listen_port": 3100},
        "common": {"path_prefix": LOKI_DATA, "replication_factor": 1, "ring": {"kvstore": {"store": "inmemory"}},
                   "storage": {"filesystem": {"chunks_directory": f"{LOKI_DATA}/chunks",
                                              "rules_directory": f"{LOKI_DATA}/rules"}}},
        "schema_config": {"configs": [{"from": "2024-01-01", "store": "tsdb", "object_store": "filesystem",
                                       "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}]},
        "limits_config": {"retention_period": hours, "max_query_lookback": hours,
                          "allow_structured_metadata": True},
        "compactor": {"working_directory": f"{LOKI_DATA}/compactor", "retention_enabled": True,
                      "retention_delete_delay": "2h", "delete_request_store": "filesystem"},
    }


def ilm_policy(spec: FleetSpec) -> Json:
    delete_after = max(logs_retention_days(spec) - ROLLOVER_DAYS, 0)
    return {"policy": {"phases": {
        "hot": {"actions": {"rollover": {"max_age": f"{ROLLOVER_DAYS}d", "max_primary_shard_size": "50gb"}}},
        "delete": {"min_age": f"{delete_after}d", "actions": {"delete": {}}},
    }}}


def index_template(spec: FleetSpec) -> Json:
    return {"index_patterns": [DATA_STREAM_PATTERN], "data_stream": {}, "priority": 200,
            "template": {"settings": {"index.lifecycle.name": policy_name(spec)}}}


def policy_name(spec: FleetSpec) -> str:
    return f"cachewatch-logs-{spec.name}"


def _secret(reference: str) -> str:
    """``env:NAME`` / ``file:/path`` → the Collector's config expansion, read when it starts."""
    return f"${{{reference}}}"


def exporter(spec: FleetSpec) -> tuple[str, Json]:
    """The Collector exporter's id and settings for the backend."""
    logs = scale_of(spec).logs
    if logs.backend == "loki":
        settings: Json = {"endpoint": f"{logs.url}/otlp", "compression": "gzip",
                          "retry_on_failure": {"enabled": True, "max_elapsed_time": "300s"},
                          "sending_queue": {"enabled": True, "queue_size": 5000}}
        if logs.api_key:
            settings["headers"] = {"Authorization": f"Bearer {_secret(logs.api_key)}"}
        return "otlphttp/loki", settings
    settings = {"endpoints": [logs.url], "logs_index": index_name(spec),
                "retry": {"enabled": True, "max_requests": 5}}
    if logs.api_key:
        settings["api_key"] = _secret(logs.api_key)
    return "elasticsearch", settings


def files(spec: FleetSpec) -> list[File]:
    days = logs_retention_days(spec)
    if scale_of(spec).logs.backend == "loki":
        return [File("global/loki/loki.yaml", loki_config(spec), comment=(
            f"\nLoki 3, single binary, {days} days of logs: the compactor deletes older chunks "
            "(run it as a singleton).\nReplace common.storage with your object store for more than one Loki.\n"))]
    return [File("global/elasticsearch/ilm-policy.json", ilm_policy(spec)),
            File("global/elasticsearch/index-template.json", index_template(spec))]
