"""The exporter's routes and wiring: settings → credentials → target pool → HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import gc
import json
import logging
import signal
import time

from cachewatch.exporter import family_filter, replies
from cachewatch.exporter.credentials import (
    NO_CREDENTIALS,
    CredentialError,
    Credentials,
    CredentialStore,
    PasswordFile,
    TlsClient,
    read_secret_env,
    read_secret_file,
)
from cachewatch.exporter.exposition import CONTENT_TYPE, MetricSet
from cachewatch.exporter.http_server import HttpServer, Request, Response
from cachewatch.exporter.options import ExporterSettings, TlsSettings
from cachewatch.exporter.pool import TargetPool
from cachewatch.exporter.probe_route import DEFAULT_KIND, DEFAULT_MODULE, Prober, bad_argument, run_probe
from cachewatch.exporter.resp import classify
from cachewatch.exporter.scrape_jobs import PROBE_PATH, SCRAPE_PATH
from cachewatch.exporter.scraper import ScrapeSettings
from cachewatch.exporter.stats import ExporterStats
from cachewatch.exporter.targets import Allowlist, Target, TargetError, parse_target
from cachewatch.exporter.webconfig import WebConfig
from cachewatch.logs import redact, register_secret

log = logging.getLogger("cachewatch.exporter")
TIMEOUT_HEADER = "x-prometheus-scrape-timeout-seconds"
INDEX = """<html><head><title>cachewatch exporter</title></head><body><h1>cachewatch Redis exporter</h1>
<ul><li><a href="{metrics}">{metrics}</a>: the configured target and the exporter's own metrics</li>
<li>/scrape?target=redis://host:port[&amp;auth_module=NAME]: one allowlisted target</li>
<li>/probe?target=redis://host:port&amp;module=health|replication|config[&amp;kind=cache|store][&amp;auth_module=NAME]:
an active probe of one allowlisted target (connect, TLS, AUTH, PING timings; health checks; replication
heartbeat)</li>
<li>/discover-cluster-nodes[?target=…]: Prometheus http_sd targets from CLUSTER NODES</li>
<li><a href="/health">/health</a></li></ul></body></html>"""


def _tls_client(tls: TlsSettings | None) -> TlsClient | None:
    if tls is None or tls == TlsSettings():
        return None
    return TlsClient(ca_file=tls.ca_file, cert_file=tls.cert_file, key_file=tls.key_file,
                     server_name=tls.server_name, insecure_skip_verify=tls.insecure_skip_verify)


def build_credentials(settings: ExporterSettings) -> tuple[Target | None, CredentialStore]:
    """Read every secret the settings reference; errors name the setting, never the secret."""
    main_target: Target | None = None
    main = NO_CREDENTIALS
    default_tls = None
    if settings.tls.ca_file or settings.tls.server_name:  # a CA is not a credential: usable for every target
        default_tls = TlsClient(ca_file=settings.tls.ca_file, server_name=settings.tls.server_name)
    if settings.redis_addr:
        main_target, url_password = parse_target(settings.redis_addr, allow_password=True)
        register_secret(url_password)
        password = url_password
        if settings.redis_password_file:
            password = read_secret_file(settings.redis_password_file, "redis_password_file")
        elif settings.redis_password_env:
            password = read_secret_env(settings.redis_password_env, "redis password")
        main = Credentials(username=settings.redis_user or main_target.username or None, password=password,
                           tls=_tls_client(settings.tls))
    modules = {}
    for name, module in settings.auth_modules.items():
        password = None
        if module.password_file:
            password = read_secret_file(module.password_file, f"auth_modules.{name}.password_file")
        elif module.password_env:
            password = read_secret_env(module.password_env, f"auth_modules.{name}.password_env")
        modules[name] = Credentials(username=module.user, password=password,
                                    tls=_tls_client(module.tls) or default_tls)
    password_file = PasswordFile.load(settings.password_file) if settings.password_file else None
    return main_target, CredentialStore(main_target=main_target, main_credentials=main,
                                        password_file=password_file, auth_modules=modules, default_tls=default_tls)


def scrape_timeout(request: Request, configured: float, cap: float | None = None) -> float:
    """Honour Prometheus' own timeout header, keeping a margin to answer before it gives up; at most ``cap``
    (default: ``configured``, which also stands in for a missing or bad header)."""
    header = request.headers.get(TIMEOUT_HEADER)
    try:
        offered = float(header) if header else configured
    except ValueError:
        offered = configured
    if offered != offered or offered <= 0:  # NaN or nonsense
        offered = configured
    return max(0.05, min(configured if cap is None else cap, offered - min(0.5, offered * 0.1)))


# A probe waits as long as its Prometheus job allows (blackbox_exporter's rule): the heartbeat reports a stalled
# replica's delay as the time it waited, so capping it at the exporter's scrape_timeout would hide delays above
# that (spec intervals.probe_timeout may exceed it). Bounded so a bad header cannot hold a probe for minutes.
PROBE_TIMEOUT_CAP = 60.0


class Exporter:
    def __init__(self, settings: ExporterSettings, web_config: WebConfig | None = None,
                 prober: Prober | None = None) -> None:
        self.settings = settings
        self.prober = prober  # the top floor's probe hook (probe_route.py); None: /probe answers 404
        self.web_config = web_config or WebConfig.empty()
        self.stats = ExporterStats()
        self.render = family_filter.renderer(settings.series)  # MetricSet.render unless families are reduced
        # (target, auth_module) of a request → what _resolve made of it; emptied when credentials are reloaded
        self._resolved: dict[tuple[str, str | None], tuple[Target, Credentials, str]] = {}
        self.main_target, self.credentials = build_credentials(settings)
        self.allowlist = Allowlist(tuple(settings.allow_targets), settings.allow_any_target)
        scrape = ScrapeSettings(timeout=settings.scrape_timeout, connect_timeout=settings.connect_timeout,
                                config_refresh_interval=settings.config_refresh_interval,
                                latency_refresh_interval=settings.latency_refresh_interval,
                                exact_latency_percentiles=settings.exact_latency_percentiles,
                                max_reply_bytes=settings.max_reply_bytes,
                                client_name=settings.client_name if settings.set_client_name else None,
                                acl_log=settings.acl_log, acl_log_max_users=settings.acl_log_max_users)
        self.pool = TargetPool(scrape, self.stats, idle_ttl=settings.idle_target_ttl,
                               max_targets=settings.max_targets, sampler_factory=self._sampler_for)
        self.routes = {
            settings.telemetry_path: self.metrics,
            SCRAPE_PATH: self.scrape,
            PROBE_PATH: self.probe,
            "/health": self.health,
            "/discover-cluster-nodes": self.discover,
            "/-/reload": self.reload,
            "/": self.index,
        }
        self.server = HttpServer(self.handle, extra_headers=self.web_config.headers)

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> None:
        self.pool.start()
        await self.server.start(host, port, self.web_config.ssl_context())
        log.info("exporter listening", extra={"address": f"{host or '0.0.0.0'}:{self.port}",
                                              "target": self.main_target.url if self.main_target else None,
                                              "tls": self.web_config.tls is not None,
                                              "basic_auth": self.web_config.auth_required})

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        await self.server.close()
        await self.pool.close()

    def _sampler_for(self, target: Target, credentials: Credentials):
        sampling = self.settings.key_sampling
        if not sampling.enabled:
            return None
        patterns = sampling.targets
        if patterns:
            if not any(fnmatch.fnmatchcase(target.hostport, p) for p in patterns):
                return None
        elif target != self.main_target:
            return None
        from cachewatch.exporter.key_sampler import KeySampler  # opt-in feature: import only when used

        return KeySampler(target, credentials, sampling, max_reply_bytes=self.settings.max_reply_bytes)

    # --- routing --------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        route = request.path if request.path in self.routes else "other"
        if self.web_config.auth_required and not await asyncio.to_thread(
                self.web_config.check_basic_auth, request.headers.get("authorization")):  # bcrypt off the loop
            response = Response(401, "unauthorized\n", headers={"WWW-Authenticate": WebConfig.WWW_AUTHENTICATE})
        elif route == "other":
            response = Response(404, "not found\n")
        elif request.method not in ("GET", "HEAD") and route != "/-/reload":
            response = Response(405, "method not allowed\n", headers={"Allow": "GET, HEAD"})
        else:
            response = await self.routes[route](request)
        self.stats.http_requests[(route, response.status)] += 1
        return response

    async def index(self, request: Request) -> Response:
        return Response(200, INDEX.format(metrics=self.settings.telemetry_path), "text/html; charset=utf-8")

    async def health(self, request: Request) -> Response:
        return Response(200, "ok\n")

    async def metrics(self, request: Request) -> Response:
        out = MetricSet()
        if self.main_target is not None:
            scraper = self.pool.get(self.main_target, self.credentials.main_credentials)
            out = await scraper.scrape(scrape_timeout(request, self.settings.scrape_timeout))
        own = MetricSet()  # the scrape's result is shared with concurrent callers: add to a merged set
        self.stats.add_metrics(own)
        return Response(200, self.render(out.merged(own)), CONTENT_TYPE)

    def _resolve(self, request: Request) -> tuple[Target, Credentials, str] | Response:
        """The target of a /scrape-style request, checked against the allowlist, with its credentials."""
        text = request.arg("target")
        if text is None:
            if self.main_target is None:
                return self._reject(400, "missing target parameter")
            return self.main_target, self.credentials.main_credentials, ""
        key = (text, request.arg("auth_module"))
        resolved = self._resolved.get(key)
        if resolved is None:
            resolved = self._resolve_new(text, request)
            if not isinstance(resolved, Response):
                if len(self._resolved) >= self.settings.max_targets:
                    self._resolved.clear()
                self._resolved[key] = resolved
        return resolved

    def _resolve_new(self, text: str, request: Request) -> tuple[Target, Credentials, str] | Response:
        """Parse, check against the allowlist, find the credentials: the work _resolve's cache saves."""
        try:
            target, _ = parse_target(text)
        except TargetError as exc:
            return self._reject(400, f"bad target: {exc}")
        if not self.allowlist.allows(target) and target != self.main_target:
            return self._reject(403, f"target {target.hostport} is not allowed; add it with --allow-target")
        profile = request.arg("auth_module") or ""
        try:
            creds = self.credentials.for_target(target, profile or None)
        except CredentialError as exc:
            return self._reject(400, str(exc))
        return target, creds, profile

    def _reject(self, status: int, message: str) -> Response:
        self.stats.rejected_scrape_requests += 1
        return Response(status, message + "\n")

    async def scrape(self, request: Request) -> Response:
        if self.settings.disable_scrape_endpoint:
            return Response(404, "the /scrape endpoint is disabled\n")
        if request.arg("target") is None:
            return self._reject(400, "missing target parameter")
        resolved = self._resolve(request)
        if isinstance(resolved, Response):
            return resolved
        target, creds, profile = resolved
        out = await self.pool.get(target, creds, profile).scrape(
            scrape_timeout(request, self.settings.scrape_timeout))
        return Response(200, self.render(out), CONTENT_TYPE)

    async def probe(self, request: Request) -> Response:
        """One active probe of an allowlisted target (same credentials as /scrape), within the deadline of
        Prometheus' scrape-timeout header; the node's failures are ``redis_probe_success 0``, never an error."""
        if self.prober is None:
            return Response(404, "probing is not enabled\n")
        if request.arg("target") is None:
            return self._reject(400, "missing target parameter")
        module, kind = request.arg("module") or DEFAULT_MODULE, request.arg("kind") or DEFAULT_KIND
        problem = bad_argument(self.prober, module, kind)
        if problem:
            return self._reject(400, problem)
        resolved = self._resolve(request)
        if isinstance(resolved, Response):
            return resolved
        target, creds, _ = resolved
        text = await run_probe(self.prober, target, creds, module=module, kind=kind,
                               timeout=scrape_timeout(request, self.settings.scrape_timeout, PROBE_TIMEOUT_CAP))
        return Response(200, text, CONTENT_TYPE)

    async def discover(self, request: Request) -> Response:
        """Prometheus http_sd JSON: one group per healthy node, with role and shard as __meta_ labels."""
        resolved = self._resolve(request)
        if isinstance(resolved, Response):
            return resolved
        target, creds, profile = resolved
        scraper = self.pool.get(target, creds, profile)
        try:
            reply = await scraper.command(("CLUSTER", "NODES"), scrape_timeout(request, self.settings.scrape_timeout))
        except Exception as exc:  # any failure becomes a bounded reason for the caller
            return Response(502, f"cluster discovery failed: {classify(exc)}\n")
        if isinstance(reply, Exception):
            return Response(502, "cluster discovery failed: target answered an error (not a cluster?)\n")
        nodes = replies.cluster_nodes(reply)
        groups = []
        for node in nodes:
            if not node.healthy:
                continue
            node_target = Target(target.scheme, node.host, node.port, target.username)
            shard = node.node_id if node.is_primary else node.master_id
            groups.append({"targets": [node_target.url], "labels": {
                "__meta_redis_cluster_node_id": node.node_id,
                "__meta_redis_cluster_role": "primary" if node.is_primary else "replica",
                "__meta_redis_cluster_shard": shard,
                "__meta_redis_cluster_slots": str(node.slots),
            }})
        return Response(200, json.dumps(groups), "application/json")

    async def reload(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, "use POST to reload credentials\n", headers={"Allow": "POST"})
        try:
            self.main_target, self.credentials = build_credentials(self.settings)
            self._resolved.clear()
        except (CredentialError, OSError) as exc:
            log.error("reload failed; keeping the previous credentials", extra={"error": str(exc)})
            return Response(500, f"reload failed: {redact(str(exc))}\n")
        log.info("credentials reloaded")
        return Response(200, "reloaded\n")


async def serve(settings: ExporterSettings, web_config: WebConfig | None = None,
                ready: asyncio.Event | None = None, prober: Prober | None = None) -> None:
    """Run the exporter until cancelled."""
    exporter = Exporter(settings, web_config, prober)
    host, _, port = settings.listen.rpartition(":")
    await exporter.start(host.strip("[]"), int(port))
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await exporter.close()
        log.info("exporter stopped", extra={"uptime_seconds": round(time.time() - exporter.stats.started, 1)})


def run(settings: ExporterSettings, web_config: WebConfig | None = None, prober: Prober | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then close every connection and return (the process's main loop)."""

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        await serve(settings, web_config, prober=prober)

    # What start-up built (modules, the catalog, settings) lives as long as the process: out of the collector's
    # way, so that its full passes walk only what the targets and connections hold.
    gc.collect()
    gc.freeze()
    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(main())
