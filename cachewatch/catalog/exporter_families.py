"""Exporter families that are not a single INFO field: labelled, derived, security, sampling, self-health."""

from __future__ import annotations

from cachewatch.catalog.model import Family, MetricType, Source

G, C, H, S = MetricType.GAUGE, MetricType.COUNTER, MetricType.HISTOGRAM, MetricType.SUMMARY
SELF = Source.EXPORTER_SELF


def _f(name: str, kind: MetricType, help_: str, labels: tuple[str, ...] = (), unit: str = "", *,
       peer: bool = False, compat: str = "", group: str, source: Source = Source.EXPORTER) -> Family:
    return Family(name=name, type=kind, help=help_, labels=labels, unit=unit, peer=peer, compat=compat,
                  group=group, source=source)


SLAVE = ("slave_ip", "slave_port", "slave_state")
MASTER = ("master_host", "master_port")
INSTANCE_INFO_LABELS = ("role", "redis_version", "redis_build_id", "redis_mode", "os", "maxmemory_policy",
                        "tcp_port", "run_id", "process_id")

EXPORTER_FAMILIES: tuple[Family, ...] = (
    # --- server identity -------------------------------------------------------------------------------
    _f("redis_up", G, "1 when the last scrape of this Redis succeeded, else 0 (see redis_exporter_last_scrape_error).",
       peer=True, group="server"),
    _f("redis_instance_info", G, "Always 1; labels describe the Redis instance.", INSTANCE_INFO_LABELS, peer=True,
       group="server"),
    _f("redis_start_time_seconds", G, "Start time of the Redis instance since unix epoch in seconds.",
       unit="seconds", peer=True, group="server"),
    # --- keyspace ---------------------------------------------------------------------------------------
    _f("redis_db_keys", G, "Keys per database (0 for empty databases below CONFIG databases).", ("db",),
       peer=True, group="keyspace"),
    _f("redis_db_keys_expiring", G, "Keys with an expiry per database.", ("db",), peer=True, group="keyspace"),
    _f("redis_db_avg_ttl_seconds", G, "Average TTL of keys with an expiry, per database.", ("db",), "seconds",
       peer=True, group="keyspace"),
    # --- commands, latency, errors ----------------------------------------------------------------------
    _f("redis_commands_total", C, "Calls per command (INFO commandstats).", ("cmd",), peer=True,
       group="commands"),
    _f("redis_commands_duration_seconds_total", C, "Time spent per command (INFO commandstats usec).", ("cmd",),
       "seconds", peer=True, group="commands"),
    _f("redis_commands_rejected_calls_total", C, "Calls rejected before execution per command.", ("cmd",),
       peer=True, group="commands"),
    _f("redis_commands_failed_calls_total", C, "Calls that failed during execution per command.", ("cmd",),
       peer=True, group="commands"),
    _f("redis_latency_percentiles_usec", S, "Latency percentiles per command, read off LATENCY HISTOGRAM's "
       "power-of-two buckets (INFO latencystats where that is refused); quantile labels are redis_exporter's "
       "50/99/99.9.", ("cmd",), "microseconds", peer=True,
       compat="non-base unit and percent-style quantiles: redis_exporter's name and labels", group="commands"),
    _f("redis_commands_latencies_usec", H, "Latency histogram per command (LATENCY HISTOGRAM).", ("cmd",),
       "microseconds", compat="non-base unit: redis_exporter's name and buckets", group="commands"),
    _f("redis_errors_total", C, "Error replies per error prefix (INFO errorstats).", ("err",), group="commands"),
    _f("redis_latency_spike_last", G, "Unix time of the latest latency spike per event (LATENCY LATEST).",
       ("event_name",), "seconds", group="commands"),
    _f("redis_latency_spike_duration_seconds", G, "Duration of the latest latency spike per event.",
       ("event_name",), "seconds", group="commands"),
    _f("redis_slowlog_length", G, "Entries in the slow log.", peer=True, group="commands"),
    _f("redis_slowlog_last_id", G, "Id of the newest slow log entry.", peer=True, group="commands"),
    _f("redis_last_slow_execution_duration_seconds", G, "Duration of the newest slow log entry.", unit="seconds",
       peer=True, group="commands"),
    # --- replication ------------------------------------------------------------------------------------
    _f("redis_connected_slave_offset_bytes", G, "Replication offset acknowledged by each replica.", SLAVE,
       "bytes", peer=True, group="replication"),
    _f("redis_connected_slave_lag_seconds", G, "Seconds since each replica last acknowledged.", SLAVE, "seconds",
       peer=True, group="replication"),
    _f("redis_master_link_up", G, "1 when this replica's link to its master is up.", MASTER, peer=True,
       group="replication"),
    _f("redis_master_last_io_seconds_ago", G, "Seconds since this replica last heard from its master.", MASTER,
       "seconds", peer=True, group="replication"),
    _f("redis_master_sync_in_progress", G, "1 while this replica syncs from its master.", MASTER, peer=True,
       group="replication"),
    _f("redis_slave_repl_offset", G, "Replication offset of this replica.", MASTER, peer=True,
       group="replication"),
    _f("redis_slave_info", G, "Always 1 on a replica; labels name its master.", (*MASTER, "read_only"), peer=True,
       group="replication"),
    # --- configuration (CONFIG GET, cached) -------------------------------------------------------------
    _f("redis_config_maxmemory", G, "CONFIG maxmemory.", unit="bytes", peer=True, group="config"),
    _f("redis_config_maxclients", G, "CONFIG maxclients.", peer=True, group="config"),
    _f("redis_config_io_threads", G, "CONFIG io-threads.", peer=True, group="config"),
    _f("redis_config_repl_backlog_size", G, "CONFIG repl-backlog-size.", unit="bytes", group="config"),
    _f("redis_config_client_output_buffer_limit_bytes", G, "CONFIG client-output-buffer-limit per class.",
       ("class", "limit"), "bytes", group="config"),
    _f("redis_config_client_output_buffer_limit_overcome_seconds", G, "Seconds a soft output buffer limit may "
       "be exceeded before the client is dropped.", ("class", "limit"), "seconds", group="config"),
    # --- security (ACL LOG), no peer has these ----------------------------------------------------------
    _f("redis_acl_denials_total", C, "Denials recorded in ACL LOG since the exporter started watching, by "
       "reason (auth = failed authentication, command, key, channel) and context; each log entry counted once.",
       ("reason", "context", "user"), group="security"),
    _f("redis_acl_log_entries", G, "Entries currently held in ACL LOG.", group="security"),
    # --- access patterns (opt-in background sampling) ---------------------------------------------------
    _f("redis_key_sample_memory_usage_bytes", G, "Biggest sampled keys by MEMORY USAGE (top N; names redacted "
       "unless raw names are enabled).", ("db", "key", "type"), "bytes", group="sampling"),
    _f("redis_key_sample_frequency", G, "Hottest sampled keys by OBJECT FREQ (LFU policies only; top N).",
       ("db", "key"), group="sampling"),
    _f("redis_key_sample_keys_scanned", G, "Keys examined by the last sampling run.", group="sampling"),
    _f("redis_key_sample_last_run_timestamp_seconds", G, "Unix time the last sampling run finished.",
       unit="seconds", group="sampling"),
    _f("redis_key_sample_age_seconds", G, "Seconds since the last sampling run finished (staleness).",
       unit="seconds", group="sampling"),
    _f("redis_key_sample_duration_seconds", G, "Duration of the last sampling run.", unit="seconds",
       group="sampling"),
    _f("redis_last_key_groups_scrape_duration_milliseconds", G, "Duration of the last background key "
       "sampling run in milliseconds (0 when sampling is off); redis_exporter's key-group name.",
       unit="milliseconds", peer=True, compat="non-base unit: redis_exporter's name", group="sampling"),
    # --- active probes (/probe?module=health|replication|config) -----------------------------------------
    _f("redis_probe_success", G, "1 when the probe reached the node and ran its module, else 0 (the failing phase "
       "is the last redis_probe_duration_seconds phase).", group="probe"),
    _f("redis_probe_duration_seconds", G, "Time each phase of the probe took on the prober's clock: connect, tls, "
       "auth, ping, then the module's own phase (checks, heartbeat).", ("phase",), "seconds", group="probe"),
    _f("redis_health_state", G, "1 for the node's health state by the check table (healthy, degraded, unhealthy, "
       "unknown), 0 for the others.", ("state",), group="probe"),
    _f("redis_health_check_status", G, "1 when the check reached this severity (info, warning, critical) on the "
       "last probe; every check of the module has one series per severity, so a resolved check reads 0.",
       ("check", "category", "severity"), group="probe"),
    _f("redis_replication_probe_delay_seconds", G, "Seconds from the heartbeat write on the primary to its value "
       "arriving on each replica, on the prober's clock (the real replication delay, unlike INFO's lag).",
       ("replica",), "seconds", group="probe"),
    _f("redis_replication_probe_success", G, "1 when the heartbeat reached this replica before the probe's deadline, "
       "else 0 (a replica that missed it reports the time waited as its delay; one that was not online or not "
       "reachable reports no delay).", ("replica",), group="probe"),
    # --- exporter health, per target --------------------------------------------------------------------
    _f("redis_exporter_last_scrape_error", G, "1 with a bounded reason in err when the last scrape failed, "
       "else 0 with err=\"\".", ("err",), peer=True, group="exporter"),
    _f("redis_exporter_last_scrape_duration_seconds", G, "Duration of the last scrape of this target.",
       unit="seconds", peer=True, group="exporter"),
    _f("redis_exporter_last_scrape_connect_time_seconds", G, "Duration of the most recent (re)connect to this "
       "target; the connection is persistent, so this changes only when it reconnects.", unit="seconds",
       peer=True, group="exporter"),
    _f("redis_exporter_scrapes_total", C, "Scrapes of this target served.", peer=True, group="exporter"),
    _f("redis_exporter_scrape_duration_seconds", S, "Durations of scrapes of this target.", unit="seconds",
       peer=True, group="exporter"),
    _f("redis_target_scrape_request_errors_total", C, "Rejected /scrape requests (bad or not allowed target).",
       peer=True, group="exporter", source=SELF),
    # --- exporter health, process-wide (/metrics only) --------------------------------------------------
    _f("redis_exporter_targets", G, "Targets with a persistent connection slot.", group="exporter",
       source=SELF),
    _f("redis_exporter_connects_total", C, "Connection attempts to targets, by result.", ("result",),
       group="exporter", source=SELF),
    _f("redis_exporter_target_scrapes_total", C, "Scrapes of all targets, by result (ok or a bounded error "
       "reason).", ("result",), group="exporter", source=SELF),
    _f("redis_exporter_shared_scrapes_total", C, "Scrapes answered by joining a round trip already in flight "
       "for the same target.", group="exporter", source=SELF),
    _f("redis_exporter_config_refreshes_total", C, "CONFIG GET refreshes sent (CONFIG is cached between them).",
       group="exporter", source=SELF),
    _f("redis_exporter_http_requests_total", C, "HTTP requests served, by route and status code.",
       ("route", "code"), group="exporter", source=SELF),
    _f("redis_exporter_build_info", G, "Always 1; labels name the cachewatch version and Python.",
       ("version", "python_version"), group="exporter", source=SELF),
    _f("process_cpu_seconds_total", C, "User and system CPU time of the exporter process.", unit="seconds",
       group="process", source=SELF),
    _f("process_resident_memory_bytes", G, "Resident memory of the exporter process.", unit="bytes",
       group="process", source=SELF),
    _f("process_open_fds", G, "Open file descriptors of the exporter process.", group="process", source=SELF),
    _f("process_max_fds", G, "File descriptor limit of the exporter process.", group="process", source=SELF),
    _f("process_start_time_seconds", G, "Start time of the exporter process since unix epoch.", unit="seconds",
       group="process", source=SELF),
)
