"""The exporter's process-wide health counters, rendered on /metrics only."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections import Counter
from dataclasses import dataclass, field

from cachewatch import __version__
from cachewatch.exporter.exposition import MetricSet, labels

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ExporterStats:
    started: float = field(default_factory=time.time)
    connects: Counter[str] = field(default_factory=Counter)
    scrapes: Counter[str] = field(default_factory=Counter)
    http_requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    shared_scrapes: int = 0
    config_refreshes: int = 0
    rejected_scrape_requests: int = 0
    targets: int = 0

    def count_connect(self, result: str) -> None:
        self.connects[result] += 1

    def count_scrape(self, result: str) -> None:
        self.scrapes[result] += 1

    def add_metrics(self, out: MetricSet) -> None:
        out.add("redis_exporter_targets", self.targets)
        for result, n in sorted(self.connects.items()):
            out.add("redis_exporter_connects_total", n, labels(("result", result)))
        for result, n in sorted(self.scrapes.items()):
            out.add("redis_exporter_target_scrapes_total", n, labels(("result", result)))
        out.add("redis_exporter_shared_scrapes_total", self.shared_scrapes)
        out.add("redis_exporter_config_refreshes_total", self.config_refreshes)
        out.add("redis_target_scrape_request_errors_total", self.rejected_scrape_requests)
        for (route, code), n in sorted(self.http_requests.items()):
            out.add("redis_exporter_http_requests_total", n, labels(("route", route), ("code", str(code))))
        out.family("redis_exporter_build_info").append(_BUILD_INFO)
        add_process_metrics(out, self.started)


_BUILD_LABELS = labels(("version", __version__), ("python_version", platform.python_version()))
_BUILD_INFO = f"redis_exporter_build_info{_BUILD_LABELS} 1\n"
_statm_fd: int | None = None  # /proc/self/statm, kept open: procfs regenerates it on every read from offset 0


def _resident_bytes() -> int:
    global _statm_fd
    if _statm_fd is None:
        _statm_fd = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
    return int(os.pread(_statm_fd, 128, 0).split()[1]) * _PAGE_SIZE


def add_process_metrics(out: MetricSet, started: float) -> None:
    """The usual process_* families, read from /proc (Linux) without extra dependencies."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.add("process_cpu_seconds_total", round(usage.ru_utime + usage.ru_stime, 6))
    try:
        out.add("process_resident_memory_bytes", _resident_bytes())
        out.add("process_open_fds", len(os.listdir("/proc/self/fd")))
    except OSError:
        pass
    out.add("process_max_fds", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    out.add("process_start_time_seconds", round(started, 3))
