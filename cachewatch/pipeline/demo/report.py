"""What the demo prints: one ``==>`` line per step, indented details, and short samples of what the exporter and
the instrumented application export (a handful of lines each: the whole exposition is a URL away)."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterable
from datetime import datetime

_print_lock = threading.Lock()  # the receiver prints from its own thread

EXPORTER_SAMPLE = ("redis_up ", "redis_connected_slaves", "redis_memory_used_bytes", "redis_keyspace_hits_total",
                   'redis_commands_total{cmd="get"}', 'redis_commands_latencies_usec_count{cmd="get"}')
PROBE_SAMPLE = {"health": ("redis_health_state", "redis_probe_success"),
                "replication": ("redis_replication_probe_delay_seconds",)}
CLIENT_SAMPLE = ('cache_requests_total{cache="users"', "db_client_operation_duration_seconds_count",
                 "cache_pool_connections")
LIGHT_SAMPLE = ("redis_instance_info", *EXPORTER_SAMPLE, "redis_connected_clients ", 'redis_db_keys{db="db0"}',
                "redis_acl_denials_total", "redis_exporter_last_scrape_duration_seconds",
                "redis_exporter_last_scrape_error")


EVENT_DETAILS = ("receiver", "status", "comment", "silence_id", "why")


def say(text: str, *, indent: bool = False) -> None:
    with _print_lock:
        print(f"    {text}" if indent else f"==> {text}", flush=True)


def series(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def names(lines: Iterable[str]) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in lines}


def sample(lines: Iterable[str], prefixes: tuple[str, ...], *, nonzero: bool = False, limit: int = 8,
           label: str = "") -> None:
    """Print the lines that start with one of ``prefixes`` (with a non-zero value when asked), at most ``limit``,
    after ``label``."""
    shown = 0
    for line in lines:
        if shown < limit and line.startswith(prefixes) and not (nonzero and float(line.rsplit(" ", 1)[1]) == 0):
            say(f"{label}{line}", indent=True)
            shown += 1


def clock(iso: str | None) -> str:
    """An RFC 3339 time → HH:MM:SS (the demo's events all happen within minutes)."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S")


def timeline(events: Iterable[dict]) -> None:
    """Events of an episode, oldest first, as ``cachewatch alerts show`` lists them (the details people read)."""
    for event in events:
        who = f" by {event['actor']}" if event.get("actor") else ""
        detail = {k: v for k, v in (event.get("detail") or {}).items() if k in EVENT_DETAILS and v}
        extra = "".join(f"; {k}: {v}" for k, v in detail.items())
        say(f"{clock(event['at'])}  {event['kind']}{who} (via {event.get('source') or '-'}){extra}", indent=True)
