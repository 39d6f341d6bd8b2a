"""One target's scrape: a persistent connection, one pipelined round trip, shared by concurrent callers.

Per target we keep the connection, which optional commands it refused (so a failing
probe is sent once per connection, not once per scrape), the cached CONFIG values,
the ACL LOG tracker, and the exporter's own per-target counters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from cachewatch.exporter import replies
from cachewatch.exporter.acl_log import AclLogTracker
from cachewatch.exporter.collect import (
    CONFIG_KEYS,
    EMPTY_LATENCY,
    CommandMemo,
    LatencySnapshot,
    collect,
    command_stats,
    latency_snapshot,
)
from cachewatch.exporter.connect import open_target
from cachewatch.exporter.credentials import Credentials
from cachewatch.exporter.exposition import MetricSet, labels
from cachewatch.exporter.info_parser import Info, parse_info, to_number
from cachewatch.exporter.latency_refresh import LatencyPlanner
from cachewatch.exporter.resp import (
    Command,
    Connection,
    ScrapeError,
    classify,
    encode_command,
    encode_pipeline,
    reply_error_reason,
)
from cachewatch.exporter.stats import ExporterStats
from cachewatch.exporter.targets import Target
from cachewatch.logs import LogRateLimiter, redact

log = logging.getLogger("cachewatch.exporter.scraper")

INFO_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "errorstats",
                 "cluster", "keyspace", "commandstats")
CONFIG_COMMANDS: tuple[Command, ...] = (("CONFIG", "GET", *CONFIG_KEYS), ("CONFIG", "GET", "*"))
# Every command a scrape may send, by name. INFO has two shapes: the sections every scrape needs, and
# ALL for the first scrape and servers before 7.0 (no multi-section INFO), and for INFO latencystats where
# LATENCY HISTOGRAM is refused. LATENCY HISTOGRAM's arguments (command names) are planned per scrape.
COMMANDS: dict[str, Command] = {
    # The default sections but "modules" (a list of loaded modules, which nothing here reads), and commandstats.
    "info": ("INFO", *INFO_SECTIONS),
    "info_all": ("INFO", "ALL"),
    "latency_latest": ("LATENCY", "LATEST"),
    "slowlog_len": ("SLOWLOG", "LEN"),
    "slowlog_get": ("SLOWLOG", "GET", "1"),
    "cluster_info": ("CLUSTER", "INFO"),
    "latency_histogram": ("LATENCY", "HISTOGRAM"),
    "acl_log": ("ACL", "LOG", str(AclLogTracker.PREFIX)),
    **{f"config{i}": command for i, command in enumerate(CONFIG_COMMANDS)},
}
# Commands with subcommands: INFO commandstats names them "latency|histogram".
CONTAINER_COMMANDS = frozenset({"acl", "client", "cluster", "config", "latency", "slowlog", "memory", "object",
                                "command", "function", "module", "script", "xinfo", "pubsub", "debug"})


def stat_name(args: Command) -> str:
    """The name INFO commandstats books a command under."""
    first = (args[0].decode() if isinstance(args[0], bytes) else args[0]).lower()
    if first in CONTAINER_COMMANDS and len(args) > 1:
        second = args[1].decode() if isinstance(args[1], bytes) else args[1]
        return f"{first}|{second.lower()}"
    return first


STAT_NAMES = {name: stat_name(command) for name, command in COMMANDS.items()}
HISTOGRAM_STAT = STAT_NAMES["latency_histogram"]
EVERY_SCRAPE = ("latency_latest", "slowlog_len", "cluster_info")  # and SLOWLOG GET 1 when needed (_check_slowlog)
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
    exact_latency_percentiles: bool = False  # INFO latencystats once per refresh interval, percentiles from it
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
    latency: LatencySnapshot = EMPTY_LATENCY  # INFO latencystats, only where LATENCY HISTOGRAM is refused
    latency_fetched: float = float("-inf")
    planner: LatencyPlanner = field(default_factory=lambda: LatencyPlanner(60.0))
    own_calls: Counter[str] = field(default_factory=Counter)  # commands this connection completed, by INFO name
    info_calls: int = 0  # INFO's calls as the last INFO counted them: fewer later means CONFIG RESETSTAT
    stat_resets: int = 0
    config_marker: tuple[str | None, int] | None = None  # (commandstats row of CONFIG SET, resets) at CONFIG GET
    slowlog_last: object = None  # the last SLOWLOG GET 1 reply, and the length and SLOWLOG RESET row it went with
    slowlog_marker: tuple[object, str | None] | None = None
    command_memo: CommandMemo = field(default_factory=dict)  # commandstats rows as last parsed

    def count_sent(self, names: list[str] | tuple[str, ...]) -> None:
        self.own_calls.update(STAT_NAMES[name] for name in names)


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
        """Scrape within ``timeout`` seconds; callers arriving mid-scrape share the round trip in flight.

        The first caller runs the scrape itself (no task of its own: this is the per-target hot path) and hands
        its result to those that arrived meanwhile; the result is shared, so nobody may change it."""
        timeout = min(timeout or self.settings.timeout, self.settings.timeout)
        self.last_used = time.monotonic()
        inflight = self._inflight
        if inflight is not None:
            self.stats.shared_scrapes += 1
            try:
                async with asyncio.timeout(timeout + 0.05):
                    return await asyncio.shield(inflight)
            except TimeoutError:
                return self._failed_result("timeout", timeout)
        inflight = self._inflight = asyncio.get_running_loop().create_future()
        try:
            metrics = await self._scrape_once(timeout)  # bounded by its own deadline; failures become results
        except BaseException:  # cancelled (the exporter is stopping): so are the callers waiting for it
            inflight.cancel()
            raise
        finally:
            self._inflight = None  # holding the result until the next scrape would keep every target's series
        inflight.set_result(metrics)
        return metrics

    async def command(self, args: Command, timeout: float) -> object:
        """Run one extra command (e.g. CLUSTER NODES for discovery) on the persistent connection."""
        async with self._lock, asyncio.timeout(timeout):
            conn, _ = await self._connection()
            reply = (await conn.pipeline(encode_pipeline([args]), 1))[0]
            self._state.own_calls[stat_name(args)] += 1
            return reply

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
                names, payload, batch = self._plan()
                own_before = dict(self._state.own_calls)
                try:
                    raw = await conn.pipeline(payload, len(names))
                except ScrapeError as exc:
                    if not (reused and exc.reason == "connection_closed"):
                        raise
                    # The server dropped our idle connection (its client timeout, a restart): one fresh try.
                    conn, _ = await self._connection()
                    names, payload, batch = self._plan()
                    own_before = dict(self._state.own_calls)
                    raw = await conn.pipeline(payload, len(names))
                self._state.count_sent(names)
                by_name = dict(zip(names, raw, strict=True))
                info = self._parse_info(by_name)
                stats = command_stats(info, self._state.command_memo)
                await self._refresh_latency(conn, by_name, batch, own_before, stats)
                if self.settings.acl_log and "acl_log" in by_name:
                    await self._observe_acl_log(conn, by_name["acl_log"])
                await self._check_config(conn, by_name, info, stats)
                await self._check_slowlog(conn, by_name, info)
            metrics = self._build(info, stats, by_name)
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
        self._state = TargetState(planner=LatencyPlanner(self.settings.latency_refresh_interval))
        return self._conn, False

    def _plan(self) -> tuple[tuple[str, ...], bytes, tuple[str, ...] | None]:
        """This scrape's pipeline: INFO and the cheap fixed commands always; LATENCY HISTOGRAM (first, so that
        INFO right after it dates its sum) for the commands the latency planner picks; CONFIG only when its
        cached copy is older than its refresh interval; never a refused command."""
        state, settings, now = self._state, self.settings, time.monotonic()
        histogram = "latency_histogram" not in state.unsupported
        batch = state.planner.first_batch(now) if histogram else None
        # INFO latencystats (in INFO ALL) where LATENCY HISTOGRAM is refused (NOPERM, Redis < 7), or for exact
        # percentiles when asked: once per refresh interval either way.
        info_all = not state.multi_section_info or (
            (not histogram or settings.exact_latency_percentiles)
            and now - state.latency_fetched >= settings.latency_refresh_interval)
        names = ["latency_histogram"] if batch is not None else []
        names.append("info_all" if info_all else "info")
        names += [name for name in EVERY_SCRAPE if name not in state.unsupported]
        if "slowlog_get" not in state.unsupported and self._slowlog_may_grow_unseen():
            names.append("slowlog_get")
        if settings.acl_log and "acl_log" not in state.unsupported:
            names.append("acl_log")
        # CONFIG: on a new connection; then, where INFO cannot show a CONFIG SET (Redis < 7 books every CONFIG
        # subcommand together), whenever the cached copy is config_refresh_interval old (see _check_config).
        if state.config_command < len(CONFIG_COMMANDS) and (
                state.config_fetched == float("-inf") or (not state.multi_section_info and now - state.config_fetched
                                                          >= settings.config_refresh_interval)):
            names.append(f"config{state.config_command}")
        key = tuple(names)
        rest = key[1:] if batch is not None else key
        payload = self._payloads.get(rest)
        if payload is None:
            payload = self._payloads[rest] = encode_pipeline([COMMANDS[name] for name in rest])
        if batch is not None:
            payload = encode_command((*COMMANDS["latency_histogram"], *batch)) + payload
        return key, payload, batch

    async def _refresh_latency(self, conn: Connection, by_name: dict[str, object], batch: tuple[str, ...] | None,
                               own_before: dict[str, int], stats: dict[str, tuple[int, int, tuple[str, ...]]]
                               ) -> None:
        """Store the histograms fetched before INFO, compare INFO's call counts with them, and fetch in a
        second round trip what would otherwise be served older than the refresh interval."""
        state = self._state
        planner = state.planner
        reply = by_name.get("latency_histogram")
        if batch is not None and not isinstance(reply, Exception):
            planner.store(reply, batch, own_before, time.monotonic(), stats)
        if "latency_histogram" in state.unsupported or isinstance(reply, Exception):
            return
        if batch is not None:
            own_before[HISTOGRAM_STAT] = own_before.get(HISTOGRAM_STAT, 0) + 1  # INFO ran after it
        now = time.monotonic()
        planner.observe({cmd: entry[0] for cmd, entry in stats.items()}, own_before, now)
        second = planner.second_batch(now)
        if second is None:
            return
        own = dict(state.own_calls)
        reply = (await conn.pipeline(encode_command((*COMMANDS["latency_histogram"], *second)), 1))[0]
        state.count_sent(("latency_histogram",))
        if not isinstance(reply, Exception):
            planner.store(reply, second, own, time.monotonic(), stats)

    async def _check_config(self, conn: Connection, by_name: dict[str, object], info: Info,
                            stats: dict[str, tuple[int, int, tuple[str, ...]]]) -> None:
        """Fetch CONFIG again, in a second round trip, when this scrape's INFO shows that it may have changed.

        CONFIG values change only through CONFIG SET (a restart is a new connection), and Redis 7 books CONFIG
        SET apart in commandstats, calls and failures, whoever sends it (MULTI, scripts and modules included).
        So the cached copy is current as long as that row, and the statistics' reset count, are what they were
        when it was fetched: the values are never older than the scrape that follows a change, and CONFIG GET
        is not sent otherwise."""
        state = self._state
        calls = stats["info"][0] if "info" in stats else 0
        if calls < state.info_calls:
            state.stat_resets += 1
        state.info_calls = calls
        marker = (info.commandstats.get("config|set"), state.stat_resets)
        if any(name.startswith("config") for name in by_name):  # in this scrape's pipeline, after its INFO
            state.config_marker = marker
            return
        if not state.multi_section_info or state.config_command >= len(CONFIG_COMMANDS) or (
                marker == state.config_marker):
            return
        name = f"config{state.config_command}"
        by_name[name] = (await conn.pipeline(encode_command(COMMANDS[name]), 1))[0]  # _build takes it
        state.count_sent((name,))
        state.config_marker = marker

    def _slowlog_may_grow_unseen(self) -> bool:
        """Whether SLOWLOG GET 1 goes in the pipeline: when nothing is cached yet, or when the log was full at the
        last look (a new entry then pushes the oldest out and SLOWLOG LEN stays the same)."""
        state = self._state
        if state.slowlog_marker is None or not state.multi_section_info:  # Redis < 7: no SLOWLOG RESET row
            return True
        max_len = to_number(state.config.get("slowlog-max-len", ""))
        length = state.slowlog_marker[0]
        return max_len is None or not isinstance(length, int) or length >= max_len

    async def _check_slowlog(self, conn: Connection, by_name: dict[str, object], info: Info) -> None:
        """SLOWLOG GET 1 (the newest entry: its id and duration) is sent only when the log may have changed.

        Entries are only added (each with a new id) or all removed by SLOWLOG RESET, and while the log is not
        full every addition changes SLOWLOG LEN, which is sent on every scrape. So the newest entry is the
        cached one as long as the length and the commandstats row of SLOWLOG RESET are what they were when it
        was fetched (and the log is not full); otherwise it is fetched in a second round trip. Redis < 7 books
        every SLOWLOG subcommand together: there it is sent on every scrape."""
        state = self._state
        if "slowlog_len" not in by_name or "slowlog_get" in state.unsupported:
            return
        marker = (by_name["slowlog_len"], info.commandstats.get("slowlog|reset"))
        if "slowlog_get" not in by_name:
            if marker == state.slowlog_marker:
                by_name["slowlog_get"] = state.slowlog_last
                return
            by_name["slowlog_get"] = (await conn.pipeline(encode_command(COMMANDS["slowlog_get"]), 1))[0]
            state.count_sent(("slowlog_get",))
        state.slowlog_last, state.slowlog_marker = by_name["slowlog_get"], marker

    async def _observe_acl_log(self, conn: Connection, reply: object) -> None:
        """Feed the ACL LOG prefix to the tracker; fetch the whole log only when the prefix cannot tell."""
        if isinstance(reply, Exception):
            return
        now = time.monotonic()
        elapsed = now - self._acl_seen if self._acl_seen is not None else None
        max_len = int(to_number(self._state.config.get("acllog-max-len", "")) or 128)
        if not self._acl.observe(replies.acl_log(reply), complete=False, max_len=max_len, elapsed=elapsed):
            full = await conn.pipeline(encode_pipeline([("ACL", "LOG", str(max_len))]), 1)
            self._state.count_sent(("acl_log",))
            self._acl.observe(replies.acl_log(full[0]), complete=True, max_len=max_len, elapsed=elapsed)
        self._acl_seen = now

    def _parse_info(self, by_name: dict[str, object]) -> Info:
        text = by_name["info_all" if "info_all" in by_name else "info"]
        if isinstance(text, Exception):
            raise ScrapeError(reply_error_reason(text), "INFO failed")
        if not isinstance(text, str):
            raise ScrapeError("protocol_error", "INFO reply is not text")
        info = parse_info(text)
        self._state.multi_section_info = _version(info.fields.get("redis_version", "")) >= (7, 0)
        return info

    def _build(self, info: Info, stats: dict[str, tuple[int, int, tuple[str, ...]]],
               by_name: dict[str, object]) -> MetricSet:
        state = self._state
        for name, reply in by_name.items():
            if name.startswith("config"):
                self._take_config(reply)
            elif is_unsupported(reply):
                state.unsupported.add(name)
                log.info("command not available on target; not sent again on this connection",
                         extra={"target": self.target.url, "command": name, "reply": redact(str(reply))[:120]})
        if info.latencystats:
            state.latency = latency_snapshot(info)
            state.latency_fetched = time.monotonic()
        now = time.time()
        metrics = collect(info, by_name, state.config, now, state.latency, stats, state.planner.commands)
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
