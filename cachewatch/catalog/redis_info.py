"""Families read straight from one INFO (or CLUSTER INFO) field: field → name is a table.

Names follow oliver006/redis_exporter so that existing dashboards and alerts keep
working; ``peer=True`` marks the ones Debian's redis_exporter 1.45 emits on Redis 7.0.
Types are the peer's, including its oddities (counters without ``_total``, gauges
with it); each such name carries a ``compat`` note and is listed in README.
"""

from __future__ import annotations

from dataclasses import replace

from cachewatch.catalog.model import Family, MetricType

G, C = MetricType.GAUGE, MetricType.COUNTER
NO_TOTAL = "counter without _total: redis_exporter's name, kept so dashboards keep working"
GAUGE_TOTAL = "gauge named _total: redis_exporter's name and type, kept for compatibility"
NON_BASE_UNIT = "non-base unit in the name: redis_exporter's name, kept for compatibility"


def _row(field: str, name: str, kind: MetricType, help_: str, unit: str = "", *, peer: bool = True,
         compat: str = "", scale: float = 1.0, group: str = "") -> Family:
    return Family(name=f"redis_{name}", type=kind, help=help_, unit=unit, info_field=field, scale=scale,
                  peer=peer, compat=compat, group=group)


def _group(group: str, *rows: Family) -> tuple[Family, ...]:
    return tuple(r if r.group else replace(r, group=group) for r in rows)


INFO_FAMILIES: tuple[Family, ...] = (
    *_group(
        "server",
        _row("uptime_in_seconds", "uptime_in_seconds", G, "Seconds since the Redis server started.", "seconds"),
        _row("process_id", "process_id", G, "Process id of the Redis server."),
        _row("io_threads_active", "io_threads_active", G, "1 when I/O threads are active."),
        _row("hz", "hz", G, "Current frequency of Redis background tasks (Hz).", peer=False),
        _row("configured_hz", "configured_hz", G, "Configured frequency of Redis background tasks (Hz).",
             peer=False),
    ),
    *_group(
        "clients",
        _row("connected_clients", "connected_clients", G, "Client connections, replicas excluded."),
        _row("cluster_connections", "cluster_connections", G, "Sockets used by the cluster bus."),
        _row("maxclients", "max_clients", G, "Configured maximum number of client connections.", peer=False),
        _row("blocked_clients", "blocked_clients", G, "Clients blocked in BLPOP, WAIT and similar calls."),
        _row("tracking_clients", "tracking_clients", G, "Clients with client-side caching tracking on."),
        _row("clients_in_timeout_table", "clients_in_timeout_table", G, "Blocked clients with a timeout."),
        _row("pubsub_clients", "pubsub_clients", G, "Clients in pub/sub mode (Redis ≥ 7.4).", peer=False),
        _row("watching_clients", "watching_clients", G, "Clients in WATCH (Redis ≥ 7.4).", peer=False),
        _row("total_watched_keys", "total_watched_keys", G, "Keys being watched (Redis ≥ 7.4).", peer=False),
        _row("total_blocking_keys", "total_blocking_keys", G, "Keys clients are blocked on (Redis ≥ 7.2).",
             peer=False),
        _row("total_blocking_keys_on_nokey", "total_blocking_keys_on_nokey", G,
             "Keys clients are blocked on until deleted (Redis ≥ 7.2).", peer=False),
        _row("client_recent_max_output_buffer", "client_recent_max_output_buffer_bytes", G,
             "Biggest output buffer among current clients.", "bytes"),
        _row("client_recent_max_input_buffer", "client_recent_max_input_buffer_bytes", G,
             "Biggest input buffer among current clients.", "bytes"),
        _row("client_longest_output_list", "client_longest_output_list", G,
             "Longest output list among current clients (Redis < 5).", peer=False),
        _row("client_biggest_input_buf", "client_biggest_input_buf", G,
             "Biggest input buffer among current clients (Redis < 5).", peer=False),
    ),
    *_group(
        "memory",
        _row("used_memory", "memory_used_bytes", G, "Bytes allocated by Redis (INFO used_memory).", "bytes"),
        _row("used_memory_rss", "memory_used_rss_bytes", G, "Resident set size of the Redis process.", "bytes"),
        _row("used_memory_peak", "memory_used_peak_bytes", G, "Peak of used_memory.", "bytes"),
        _row("used_memory_lua", "memory_used_lua_bytes", G, "Memory used by the Lua engine.", "bytes"),
        _row("used_memory_vm_eval", "memory_used_vm_eval_bytes", G, "Memory used by the EVAL engine.", "bytes",
             peer=False),
        _row("used_memory_scripts_eval", "memory_used_scripts_eval_bytes", G, "Overhead of EVAL scripts.",
             "bytes", peer=False),
        _row("used_memory_vm_functions", "memory_used_vm_functions_bytes", G, "Memory used by the function "
             "engine.", "bytes", peer=False),
        _row("used_memory_functions", "memory_used_functions_bytes", G, "Overhead of functions.", "bytes",
             peer=False),
        _row("used_memory_vm_total", "memory_used_vm_total", G, "used_memory_vm_eval + used_memory_vm_functions.",
             "bytes", peer=False, compat="no _bytes suffix: redis_exporter's name, kept for compatibility"),
        _row("used_memory_scripts", "memory_used_scripts_bytes", G, "Overhead of scripts and functions.", "bytes"),
        _row("used_memory_overhead", "memory_used_overhead_bytes", G, "Memory for internal data structures.",
             "bytes"),
        _row("used_memory_startup", "memory_used_startup_bytes", G, "Memory used at startup.", "bytes"),
        _row("used_memory_dataset", "memory_used_dataset_bytes", G, "Memory used by the dataset.", "bytes"),
        _row("number_of_cached_scripts", "number_of_cached_scripts", G, "Cached EVAL scripts."),
        _row("number_of_functions", "number_of_functions", G, "Loaded functions.", peer=False),
        _row("number_of_libraries", "number_of_libraries", G, "Loaded function libraries.", peer=False),
        _row("maxmemory", "memory_max_bytes", G, "Configured maxmemory; 0 means no limit.", "bytes"),
        _row("total_system_memory", "total_system_memory_bytes", G, "Total memory of the Redis host.", "bytes",
             peer=False),
        _row("allocator_active", "allocator_active_bytes", G, "Bytes in the allocator's active pages.", "bytes"),
        _row("allocator_allocated", "allocator_allocated_bytes", G, "Bytes allocated by the allocator.", "bytes"),
        _row("allocator_resident", "allocator_resident_bytes", G, "Bytes resident in the allocator.", "bytes"),
        _row("allocator_frag_ratio", "allocator_frag_ratio", G, "Allocator fragmentation ratio."),
        _row("allocator_frag_bytes", "allocator_frag_bytes", G, "Allocator fragmentation in bytes.", "bytes"),
        _row("allocator_muzzy", "allocator_muzzy_bytes", G, "Allocator muzzy pages.", "bytes", peer=False),
        _row("allocator_rss_ratio", "allocator_rss_ratio", G, "Allocator RSS ratio."),
        _row("allocator_rss_bytes", "allocator_rss_bytes", G, "Allocator RSS overhead in bytes.", "bytes"),
        _row("mem_fragmentation_ratio", "mem_fragmentation_ratio", G, "used_memory_rss / used_memory."),
        _row("mem_fragmentation_bytes", "mem_fragmentation_bytes", G, "used_memory_rss - used_memory.", "bytes"),
        _row("mem_not_counted_for_evict", "mem_not_counted_for_eviction_bytes", G,
             "Memory not counted for maxmemory (AOF and replica buffers).", "bytes"),
        _row("mem_clients_slaves", "mem_clients_slaves", G, "Memory used by replica client buffers.", "bytes",
             compat="no _bytes suffix: redis_exporter's name, kept for compatibility"),
        _row("mem_clients_normal", "mem_clients_normal", G, "Memory used by normal client buffers.", "bytes",
             compat="no _bytes suffix: redis_exporter's name, kept for compatibility"),
        _row("mem_cluster_links", "mem_cluster_links_bytes", G, "Memory used by cluster bus links.", "bytes",
             peer=False),
        _row("mem_aof_buffer", "mem_aof_buffer_bytes", G, "Memory used by the AOF buffer.", "bytes", peer=False),
        _row("mem_replication_backlog", "mem_replication_backlog_bytes", G, "Memory used by the replication "
             "backlog.", "bytes", peer=False),
        _row("mem_total_replication_buffers", "mem_total_replication_buffers_bytes", G,
             "Total memory of replication buffers.", "bytes", peer=False),
        _row("mem_overhead_db_hashtable_rehashing", "mem_overhead_db_hashtable_rehashing_bytes", G,
             "Temporary memory of rehashing main dictionaries (Redis ≥ 7.4).", "bytes", peer=False),
        _row("expired_stale_perc", "expired_stale_percentage", G, "Estimated percentage of expired keys not yet "
             "reclaimed."),
        _row("lazyfree_pending_objects", "lazyfree_pending_objects", G, "Objects waiting to be freed lazily."),
        _row("lazyfreed_objects", "lazyfreed_objects", G, "Objects freed lazily.", peer=False),
        _row("active_defrag_running", "active_defrag_running", G, "1 while active defragmentation runs."),
        _row("migrate_cached_sockets", "migrate_cached_sockets_total", G, "Sockets open for MIGRATE.",
             compat=GAUGE_TOTAL),
        _row("active_defrag_hits", "defrag_hits", G, "Value reallocations done by active defragmentation."),
        _row("active_defrag_misses", "defrag_misses", G, "Aborted value reallocations of active defrag."),
        _row("active_defrag_key_hits", "defrag_key_hits", G, "Keys actively defragmented."),
        _row("active_defrag_key_misses", "defrag_key_misses", G, "Keys skipped by active defragmentation."),
    ),
    *_group(
        "persistence",
        _row("loading", "loading_dump_file", G, "1 while a dump file is loading."),
        _row("async_loading", "async_loading", G, "1 while loading asynchronously.", peer=False),
        _row("rdb_changes_since_last_save", "rdb_changes_since_last_save", G, "Changes since the last dump."),
        _row("rdb_bgsave_in_progress", "rdb_bgsave_in_progress", G, "1 while an RDB save runs."),
        _row("rdb_last_save_time", "rdb_last_save_timestamp_seconds", G, "Unix time of the last successful RDB "
             "save.", "seconds"),
        _row("rdb_last_bgsave_status", "rdb_last_bgsave_status", G, "1 if the last RDB save succeeded."),
        _row("rdb_last_bgsave_time_sec", "rdb_last_bgsave_duration_sec", G, "Duration of the last RDB save.",
             "seconds", compat=NON_BASE_UNIT),
        _row("rdb_current_bgsave_time_sec", "rdb_current_bgsave_duration_sec", G, "Duration of the running RDB "
             "save.", "seconds", compat=NON_BASE_UNIT),
        _row("rdb_saves", "rdb_saves_total", G, "RDB saves since start.", peer=False, compat=GAUGE_TOTAL),
        _row("rdb_last_cow_size", "rdb_last_cow_size_bytes", G, "Copy-on-write memory of the last RDB save.",
             "bytes"),
        _row("rdb_last_load_keys_expired", "rdb_last_load_expired_keys", G, "Expired keys skipped by the last "
             "load.", peer=False),
        _row("rdb_last_load_keys_loaded", "rdb_last_load_loaded_keys", G, "Keys loaded by the last load.",
             peer=False),
        _row("aof_enabled", "aof_enabled", G, "1 when AOF is on."),
        _row("aof_rewrite_in_progress", "aof_rewrite_in_progress", G, "1 while an AOF rewrite runs."),
        _row("aof_rewrite_scheduled", "aof_rewrite_scheduled", G, "1 when an AOF rewrite is scheduled."),
        _row("aof_last_rewrite_time_sec", "aof_last_rewrite_duration_sec", G, "Duration of the last AOF rewrite.",
             "seconds", compat=NON_BASE_UNIT),
        _row("aof_current_rewrite_time_sec", "aof_current_rewrite_duration_sec", G, "Duration of the running AOF "
             "rewrite.", "seconds", compat=NON_BASE_UNIT),
        _row("aof_last_cow_size", "aof_last_cow_size_bytes", G, "Copy-on-write memory of the last AOF rewrite.",
             "bytes"),
        _row("aof_current_size", "aof_current_size_bytes", G, "Current AOF size.", "bytes"),
        _row("aof_base_size", "aof_base_size_bytes", G, "AOF size at the last rewrite.", "bytes"),
        _row("aof_pending_rewrite", "aof_pending_rewrite", G, "1 when an AOF rewrite is pending."),
        _row("aof_buffer_length", "aof_buffer_length", G, "Size of the AOF buffer."),
        _row("aof_rewrite_buffer_length", "aof_rewrite_buffer_length", G, "Size of the AOF rewrite buffer."),
        _row("aof_pending_bio_fsync", "aof_pending_bio_fsync", G, "fsync jobs pending in the background queue."),
        _row("aof_delayed_fsync", "aof_delayed_fsync", G, "Delayed fsync counter."),
        _row("aof_last_bgrewrite_status", "aof_last_bgrewrite_status", G, "1 if the last AOF rewrite succeeded."),
        _row("aof_last_write_status", "aof_last_write_status", G, "1 if the last AOF write succeeded."),
        _row("module_fork_in_progress", "module_fork_in_progress", G, "1 while a module fork runs."),
        _row("module_fork_last_cow_size", "module_fork_last_cow_size", G, "Copy-on-write memory of the last "
             "module fork.", "bytes", compat="no _bytes suffix: redis_exporter's name, kept for compatibility"),
    ),
    *_group(
        "stats",
        _row("total_connections_received", "connections_received_total", C, "Connections accepted."),
        _row("total_commands_processed", "commands_processed_total", C, "Commands processed."),
        _row("rejected_connections", "rejected_connections_total", C, "Connections rejected for maxclients."),
        _row("total_net_input_bytes", "net_input_bytes_total", C, "Bytes read from the network.", "bytes"),
        _row("total_net_output_bytes", "net_output_bytes_total", C, "Bytes written to the network.", "bytes"),
        _row("total_net_repl_input_bytes", "net_repl_input_bytes_total", C, "Bytes read for replication.",
             "bytes", peer=False),
        _row("total_net_repl_output_bytes", "net_repl_output_bytes_total", C, "Bytes written for replication.",
             "bytes", peer=False),
        _row("expired_keys", "expired_keys_total", C, "Keys expired."),
        _row("expired_subkeys", "expired_subkeys_total", C, "Hash fields expired (Redis ≥ 7.4).", peer=False),
        _row("expired_time_cap_reached_count", "expired_time_cap_reached_total", C,
             "Active expire cycles stopped early by their time cap."),
        _row("expire_cycle_cpu_milliseconds", "expire_cycle_cpu_time_ms_total", C, "CPU time spent in active "
             "expiry.", "milliseconds", peer=False, compat=NON_BASE_UNIT),
        _row("evicted_keys", "evicted_keys_total", C, "Keys evicted because of maxmemory."),
        _row("evicted_clients", "evicted_clients_total", C, "Clients evicted because of maxmemory-clients.",
             peer=False),
        _row("evicted_scripts", "evicted_scripts_total", C, "Scripts evicted (Redis ≥ 7.4).", peer=False),
        _row("total_eviction_exceeded_time", "eviction_exceeded_time_ms_total", C, "Time used_memory stayed above "
             "maxmemory.", "milliseconds", peer=False, compat=NON_BASE_UNIT),
        _row("current_eviction_exceeded_time", "current_eviction_exceeded_time_ms", G, "Time used_memory has been "
             "above maxmemory.", "milliseconds", peer=False, compat=NON_BASE_UNIT),
        _row("keyspace_hits", "keyspace_hits_total", C, "Successful key lookups."),
        _row("keyspace_misses", "keyspace_misses_total", C, "Failed key lookups."),
        _row("pubsub_channels", "pubsub_channels", G, "Channels with subscribers."),
        _row("pubsub_patterns", "pubsub_patterns", G, "Patterns with subscribers."),
        _row("pubsubshard_channels", "pubsubshard_channels", G, "Shard channels with subscribers.", peer=False),
        _row("latest_fork_usec", "latest_fork_seconds", G, "Duration of the latest fork.", "seconds",
             scale=1e-6),
        _row("tracking_total_keys", "tracking_total_keys", G, "Keys tracked for client-side caching."),
        _row("tracking_total_items", "tracking_total_items", G, "Client-key pairs tracked."),
        _row("tracking_total_prefixes", "tracking_total_prefixes", G, "Prefixes tracked in broadcast mode."),
        _row("unexpected_error_replies", "unexpected_error_replies", C, "Unexpected error replies (AOF load, "
             "replication).", compat=NO_TOTAL),
        _row("total_error_replies", "total_error_replies", C, "Error replies sent to clients.", compat=NO_TOTAL),
        _row("dump_payload_sanitizations", "dump_payload_sanitizations", C, "Deep integrity validations of "
             "RESTORE payloads.", compat=NO_TOTAL),
        _row("total_reads_processed", "total_reads_processed", C, "Read events processed.", compat=NO_TOTAL),
        _row("total_writes_processed", "total_writes_processed", C, "Write events processed.", compat=NO_TOTAL),
        _row("io_threaded_reads_processed", "io_threaded_reads_processed", C, "Reads done by I/O threads.",
             compat=NO_TOTAL),
        _row("io_threaded_writes_processed", "io_threaded_writes_processed", C, "Writes done by I/O threads.",
             compat=NO_TOTAL),
        _row("client_query_buffer_limit_disconnections", "client_query_buffer_limit_disconnections_total", C,
             "Clients dropped for exceeding the query buffer limit.", peer=False),
        _row("client_output_buffer_limit_disconnections", "client_output_buffer_limit_disconnections_total", C,
             "Clients dropped for exceeding the output buffer limit.", peer=False),
        _row("reply_buffer_shrinks", "reply_buffer_shrinks_total", C, "Reply buffer shrinks.", peer=False),
        _row("reply_buffer_expands", "reply_buffer_expands_total", C, "Reply buffer expansions.", peer=False),
        _row("eventloop_cycles", "eventloop_cycles_total", C, "Event loop cycles.", peer=False),
        _row("eventloop_duration_sum", "eventloop_duration_sum_usec_total", C, "Time spent in the event loop.",
             "microseconds", peer=False, compat=NON_BASE_UNIT),
        _row("eventloop_duration_cmd_sum", "eventloop_duration_cmd_sum_usec_total", C, "Time spent executing "
             "commands.", "microseconds", peer=False, compat=NON_BASE_UNIT),
        _row("instantaneous_eventloop_cycles_per_sec", "instantaneous_eventloop_cycles_per_sec", G,
             "Event loop cycles per second.", peer=False, compat=NON_BASE_UNIT),
        _row("instantaneous_eventloop_duration_usec", "instantaneous_eventloop_duration_usec", G,
             "Mean event loop cycle duration.", "microseconds", peer=False, compat=NON_BASE_UNIT),
        _row("acl_access_denied_auth", "acl_access_denied_auth_total", C, "Failed authentications (Redis ≥ 7.2).",
             peer=False, group="security"),
        _row("acl_access_denied_cmd", "acl_access_denied_cmd_total", C, "Commands denied by ACL (Redis ≥ 7.2).",
             peer=False, group="security"),
        _row("acl_access_denied_key", "acl_access_denied_key_total", C, "Key accesses denied by ACL "
             "(Redis ≥ 7.2).", peer=False, group="security"),
        _row("acl_access_denied_channel", "acl_access_denied_channel_total", C, "Channel accesses denied by ACL "
             "(Redis ≥ 7.2).", peer=False, group="security"),
    ),
    *_group(
        "replication",
        _row("connected_slaves", "connected_slaves", G, "Connected replicas."),
        _row("repl_backlog_size", "replication_backlog_bytes", G, "Size of the replication backlog.", "bytes"),
        _row("repl_backlog_active", "repl_backlog_is_active", G, "1 when the replication backlog is active."),
        _row("repl_backlog_first_byte_offset", "repl_backlog_first_byte_offset", G, "Master offset of the "
             "backlog's first byte."),
        _row("repl_backlog_histlen", "repl_backlog_history_bytes", G, "Bytes of data in the backlog.", "bytes"),
        _row("master_repl_offset", "master_repl_offset", G, "Replication offset of this server."),
        _row("second_repl_offset", "second_repl_offset", G, "Offset up to which replication ids are accepted."),
        _row("slave_expires_tracked_keys", "slave_expires_tracked_keys", G, "Keys tracked for expiry on a "
             "writable replica."),
        _row("slave_priority", "slave_priority", G, "Replica priority for failover."),
        _row("sync_full", "replica_resyncs_full", G, "Full resynchronisations with replicas."),
        _row("sync_partial_ok", "replica_partial_resync_accepted", G, "Accepted partial resync requests."),
        _row("sync_partial_err", "replica_partial_resync_denied", G, "Denied partial resync requests."),
    ),
    *_group(
        "cpu",
        _row("used_cpu_sys", "cpu_sys_seconds_total", C, "System CPU used by Redis.", "seconds"),
        _row("used_cpu_user", "cpu_user_seconds_total", C, "User CPU used by Redis.", "seconds"),
        _row("used_cpu_sys_children", "cpu_sys_children_seconds_total", C, "System CPU used by child processes.",
             "seconds"),
        _row("used_cpu_user_children", "cpu_user_children_seconds_total", C, "User CPU used by child processes.",
             "seconds"),
        _row("used_cpu_sys_main_thread", "cpu_sys_main_thread_seconds_total", C, "System CPU used by the main "
             "thread.", "seconds"),
        _row("used_cpu_user_main_thread", "cpu_user_main_thread_seconds_total", C, "User CPU used by the main "
             "thread.", "seconds"),
    ),
    *_group(
        "cluster",
        _row("cluster_enabled", "cluster_enabled", G, "1 when cluster mode is on."),
        _row("cluster_state", "cluster_state", G, "1 when CLUSTER INFO reports cluster_state:ok."),
        _row("cluster_slots_assigned", "cluster_slots_assigned", G, "Slots assigned to a node."),
        _row("cluster_slots_ok", "cluster_slots_ok", G, "Slots whose node is reachable."),
        _row("cluster_slots_pfail", "cluster_slots_pfail", G, "Slots whose node is possibly failing."),
        _row("cluster_slots_fail", "cluster_slots_fail", G, "Slots whose node is failing."),
        _row("cluster_known_nodes", "cluster_known_nodes", G, "Nodes known to this node."),
        _row("cluster_size", "cluster_size", G, "Primaries serving at least one slot."),
        _row("cluster_current_epoch", "cluster_current_epoch", G, "Cluster current epoch."),
        _row("cluster_my_epoch", "cluster_my_epoch", G, "Config epoch of this node."),
        _row("cluster_stats_messages_sent", "cluster_messages_sent_total", G, "Cluster bus messages sent.",
             compat=GAUGE_TOTAL),
        _row("cluster_stats_messages_received", "cluster_messages_received_total", G, "Cluster bus messages "
             "received.", compat=GAUGE_TOTAL),
        *(
            _row(f"cluster_stats_messages_{kind}_{direction}",
                 f"cluster_stats_messages_{kind.replace('-', '_')}_{direction}", G,
                 f"Cluster bus {kind} messages {direction}.", peer=kind in {"ping", "pong", "meet"})
            for kind in ("ping", "pong", "meet", "fail", "publish", "publishshard", "auth-req", "auth-ack",
                         "update", "mfstart", "module")
            for direction in ("sent", "received")
        ),
    ),
)
