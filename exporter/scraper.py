"""One target's scrape: a persistent connection, one pipelined round trip, shared by concurrent callers.

Per target we keep the connection, which optional commands it refused (so a failing
probe is sent once per connection, not once per scrape), the cached CONFIG values,
the ACL LOG tracker, and the exporter's own per-target counters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cachewatch.exporter import replies
from cachewatch.exporter.acl_log import AclLogTracker
from cachewatch.exporter.collect import CONFIG_KEYS, EMPTY_LATENCY, LatencySnapshot, collect, latency_snapshot
from cachewatch.exporter.connect import open_target
from cachewatch.exporter.credentials import Credentials
from cachewatch.exporter.exposition import MetricSet, labels
from cachewatch.exporter.info_parser import parse_info, to_number
from cachewatch.exporter.resp import (
    Command,
    Connection,
    ScrapeError,
    classify,
    encode_pipeline,
    reply_error_reason,
)
from cachewatch.exporter.stats import ExporterStats
from cachewatch.exporter.targets import Target
from cachewatch.logs import LogRateLimiter, redact

log = logging.getLogger("cachewatch.exporter.scraper")

CONFIG_COMMANDS: tuple[Command, ...] = (("CONFIG", "GET", *CONFIG_KEYS), ("CONFIG", "GET", "*"))
# Every command a scrape may send, by name. INFO has two shapes: the sections every scrape needs, and
# ALL (which adds latencystats) for latency refreshes and for servers before 7.0 (no multi-section INFO).
COMMANDS: dict[str, Command] = {
    "info": ("INFO", "default", "commandstats"),
    "info_all": ("INFO", "ALL"),
    "latency_latest": ("LATENCY", "LATEST"),
    "slowlog_len": ("SLOWLOG", "LEN"),
    "slowlog_get": ("SLOWLOG", "GET", "1"),
    "cluster_info": ("CLUSTER", "INFO"),
    "latency_histogram": ("LATENCY", "HISTOGRAM"),
    "acl_log": ("ACL", "LOG", str(AclLogTracker.PREFIX)),
    **{f"config{i}": command for i, command in enumerate(CONFIG_COMMANDS)},
}
EVERY_SCRAPE = ("latency_latest", "slowlog_len", "slowlog_get", "cluster_info")
# Error replies that mean "this server will never answer this command": stop sending it.
UNSUPPORTED_PREFIXES = ("ERR unknown command", "ERR unknown subcommand", "NOPERM", "ERR This instance has cluster "
                        "support disabled", "ERR wrong number of arguments", "ERR Unknown subcommand")
LOG_REPEAT_SECONDS = 300.0


def is_unsupported(reply: object) -> bool:
    return isinstance(reply, Exception) and str(reply).startswith(UNSUPPORTED_PREFIXES)


@dataclass
class ScrapeSettings:
    timeout: float = 10.0
    connect_timeout: float = 5.0
    config_refresh_interval: float = 60.0
    latency_refresh_interval: float = 60.0
    max_reply_bytes: int = 16 << 20
    client_name: str | None = "cachewatch"
    acl_log: bool = True
    acl_log_max_users: int = 20


@dataclass
class TargetState:
    """What we learned about a target; reset on every reconnect (the server may have changed)."""

    unsupported: set[str] = field(default_factory=set)
    config_command: int = 0  # index into CONFIG_COMMANDS; past the end = CONFIG refused
    config: dict[str, str] = field(default_factory=dict)
    config_fetched: float = float("-inf")
    multi_section_info: bool = False  # Redis >= 7.0, learned from the first INFO
    latency: LatencySnapshot = EMPTY_LATENCY
    latency_fetched: float = float("-inf")


class TargetScraper:
    def __init__(self, target: Target, credentials: Credentials, settings: ScrapeSettings, stats: ExporterStats,
                 extra_metrics: Callable[[MetricSet, float], None] | None = None) -> None:
        self.target = target
        self.credentials = credentials
        self.settings = settings
        self.stats = stats
        self.extra_metrics = extra_metrics
        self.last_used = time.monotonic()
        self._conn: Connection | None = None
        self._state = TargetState()
        self._acl = AclLogTracker(max_users=settings.acl_log_max_users)
        self._inflight: asyncio.Future[MetricSet] | None = None
        self._scrapes = 0
        self._duration_sum = 0.0
        self._connect_time = 0.0
        self._failures_logged = LogRateLimiter(interval=LOG_REPEAT_SECONDS, burst=1)  # keyed by reason
        self._payloads: dict[tuple[str, ...], bytes] = {}
        self._acl_seen: float | None = None
        self._lock = asyncio.Lock()  # one user of the connection at a time

    # --- public ---------------------------------------------------------------------------------------
    async def scrape(self, timeout: float | None = None) -> MetricSet:
        """Scrape within ``timeout`` seconds; callers arriving mid-scrape share the round trip in flight."""
        timeout = min(timeout or self.settings.timeout, self.settings.timeout)
        self.last_used = time.monotonic()
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._scrape_once(timeout))
        else:
            self.stats.shared_scrapes += 1
        try:
            return await asyncio.wait_for(asyncio.shield(self._inflight), timeout + 0.05)
        except TimeoutError:
            return self._failed_result("timeout", timeout)

    async def command(self, args: Command, timeout: float) -> object:
        """Run one extra command (e.g. CLUSTER NODES for discovery) on the persistent connection."""
        async with self._lock, asyncio.timeout(timeout):
            conn, _ = await self._connection()
            return (await conn.pipeline(encode_pipeline([args]), 1))[0]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- one scrape -----------------------------------------------------------------------------------
    async def _scrape_once(self, timeout: float) -> MetricSet:
        start = time.perf_counter()
        try:
            async with self._lock, asyncio.timeout(timeout):
                conn, reused = await self._connection()  # first: a new connection starts a new TargetState
                names, payload = self._plan()
                try:
                    raw = await conn.pipeline(payload, len(names))
                except ScrapeError as exc:
                    if not (reused and exc.reason == "connection_closed"):
                        raise
                    # The server dropped our idle connection (its client timeout, a restart): one fresh try.
                    conn, _ = await self._connection()
                    names, payload = self._plan()
                    raw = await conn.pipeline(payload, len(names))
                by_name = dict(zip(names, raw, strict=True))
                if self.settings.acl_log and "acl_log" in by_name:
                    await self._observe_acl_log(conn, by_name["acl_log"])
            metrics = self._build(by_name)
        except Exception as exc:  # every failure becomes redis_up 0 with a bounded reason
            reason = classify(exc)
            self._log_failure(reason, exc)
            if reason in ("timeout", "reply_too_large", "internal_error"):
                self.close()
            return self._failed_result(reason, time.perf_counter() - start)
        duration = time.perf_counter() - start
        self.stats.count_scrape("ok")
        self._add_self_metrics(metrics, up=1, error="", duration=duration)
        return metrics

    async def _connection(self) -> tuple[Connection, bool]:
        """The persistent connection (and True), or a new one (and False)."""
        if self._conn is not None:
            if self._conn.usable:
                return self._conn, True
            self.close()
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.connect_timeout):
                self._conn = await open_target(self.target, self.credentials, client_name=self.settings.client_name,
                                               max_reply_bytes=self.settings.max_reply_bytes)
        except Exception as exc:
            self.stats.count_connect(classify(exc))
            raise
        self._connect_time = time.perf_counter() - start
        self.stats.count_connect("ok")
        self._state = TargetState()
        return self._conn, False

    def _plan(self) -> tuple[tuple[str, ...], bytes]:
        """This scrape's pipeline: INFO and the cheap fixed commands always; the latency data and CONFIG
        only when their cached copies are older than their refresh intervals; never a refused command."""
        state, settings, now = self._state, self.settings, time.monotonic()
        refresh_latency = now - state.latency_fetched >= settings.latency_refresh_interval
        names = ["info" if state.multi_section_info and not refresh_latency else "info_all"]
        names += [name for name in EVERY_SCRAPE if name not in state.unsupported]
        if refresh_latency and "latency_histogram" not in state.unsupported:
            names.append("latency_histogram")
        if settings.acl_log and "acl_log" not in state.unsupported:
            names.append("acl_log")
        if now - state.config_fetched >= settings.config_refresh_interval and state.config_command < len(
                CONFIG_COMMANDS):
            names.append(f"config{state.config_command}")
        key = tuple(names)
        payload = self._payloads.get(key)
        if payload is None:
            payload = self._payloads[key] = encode_pipeline([COMMANDS[name] for name in names])
        return key, payload

    async def _observe_acl_log(self, conn: Connection, reply: object) -> None:
        """Feed the ACL LOG prefix to the tracker; fetch the whole log only when the prefix cannot tell."""
        if isinstance(reply, Exception):
            return
        now = time.monotonic()
        elapsed = now - self._acl_seen if self._acl_seen is not None else None
        max_len = int(to_number(self._state.config.get("acllog-max-len", "")) or 128)
        if not self._acl.observe(replies.acl_log(reply), complete=False, max_len=max_len, elapsed=elapsed):
            full = await conn.pipeline(encode_pipeline([("ACL", "LOG", str(max_len))]), 1)
            self._acl.observe(replies.acl_log(full[0]), complete=True, max_len=max_len, elapsed=elapsed)
        self._acl_seen = now

    def _build(self, by_name: dict[str, object]) -> MetricSet:
        full_info = "info_all" in by_name
        text = by_name["info_all" if full_info else "info"]
        if isinstance(text, Exception):
            raise ScrapeError(reply_error_reason(text), "INFO failed")
        if not isinstance(text, str):
            raise ScrapeError("protocol_error", "INFO reply is not text")
        info = parse_info(text)
        state = self._state
        state.multi_section_info = _version(info.fields.get("redis_version", "")) >= (7, 0)
        for name, reply in by_name.items():
            if name.startswith("config"):
                self._take_config(reply)
            elif is_unsupported(reply):
                state.unsupported.add(name)
                log.info("command not available on target; not sent again on this connection",
                         extra={"target": self.target.url, "command": name, "reply": redact(str(reply))[:120]})
        if full_info:
            state.latency = latency_snapshot(info, by_name.get("latency_histogram"))
            state.latency_fetched = time.monotonic()
        now = time.time()
        metrics = collect(info, by_name, state.config, now, state.latency)
        if self.settings.acl_log and "acl_log" not in state.unsupported:
            self._acl.add_metrics(metrics)
        if self.extra_metrics is not None:
            self.extra_metrics(metrics, now)
        else:
            metrics.add("redis_last_key_groups_scrape_duration_milliseconds", 0)  # sampling off: no run
        return metrics

    def _take_config(self, reply: object) -> None:
        state = self._state
        if isinstance(reply, Exception):
            state.config_command += 1  # multi-key CONFIG GET unknown (Redis < 7) → '*'; then give up
            return
        state.config = replies.config_pairs(reply)
        state.config_fetched = time.monotonic()
        self.stats.config_refreshes += 1

    # --- results --------------------------------------------------------------------------------------
    def _failed_result(self, reason: str, duration: float) -> MetricSet:
        self.stats.count_scrape(reason)
        metrics = MetricSet()
        self._add_self_metrics(metrics, up=0, error=reason, duration=duration)
        return metrics

    def _add_self_metrics(self, out: MetricSet, *, up: int, error: str, duration: float) -> None:
        self._scrapes += 1
        self._duration_sum += duration
        out.add("redis_up", up)
        out.add("redis_exporter_last_scrape_error", 1 if error else 0, labels(("err", error)))
        out.add("redis_exporter_last_scrape_duration_seconds", round(duration, 6))
        out.add("redis_exporter_last_scrape_connect_time_seconds", round(self._connect_time, 6))
        out.add("redis_exporter_scrapes_total", self._scrapes)
        out.add("redis_exporter_scrape_duration_seconds", round(self._duration_sum, 6), "", "_sum")
        out.add("redis_exporter_scrape_duration_seconds", self._scrapes, "", "_count")

    def _log_failure(self, reason: str, exc: BaseException) -> None:
        """At most one line per reason every few minutes: dead targets must not flood the logs."""
        suppressed = self._failures_logged.admit(reason)
        if suppressed is None:
            return
        detail = exc.detail if isinstance(exc, ScrapeError) else str(exc)
        extra: dict[str, object] = {"target": self.target.url, "reason": reason, "detail": redact(detail)[:200]}
        if suppressed:
            extra["suppressed"] = suppressed
        log.warning("scrape failed", extra=extra, exc_info=reason == "internal_error")


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:2]:
        if not part.isdigit():
            return (0,)
        parts.append(int(part))
    return tuple(parts)
