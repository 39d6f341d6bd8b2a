"""The fleet spec: one typed model from which every operational artifact is generated.

Every threshold has a documented default, so a tiny spec is valid. Secrets are only ever
references (``SecretRef``: an environment variable or a file), never values.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from cachewatch.checks import CHECKS
from cachewatch.spec import time_ranges
from cachewatch.spec.scale import Scale, application_problems, application_region, heartbeat_problems, scale_problems
from cachewatch.spec.series import SeriesReduction
from cachewatch.spec.types import Duration, Strict

NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=NAME, description="lower-case letters, digits and dashes")]
Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
ADDRESS = r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$"
Address = Annotated[str, Field(pattern=ADDRESS, description="host:port")]


class SecretRef(Strict):
    """Where a secret lives; exactly one of ``env`` or ``file``. Generated files reference ``file`` paths."""

    env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self


# --- fleet topology -----------------------------------------------------------------------------------
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_]*$", description="a Prometheus label name")]
Labels = dict[LabelName, str]


class CheckLevels(Strict):
    """Override of one health check's thresholds (cachewatch/checks): the value at which it reports each severity."""

    info: float | None = None
    warning: float | None = None
    critical: float | None = None

    def given(self) -> dict[str, float | None]:
        """Only the levels the spec sets (``warning: null`` switches that level off; unset ones keep the table's)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def _known_checks(value: dict[str, CheckLevels]) -> dict[str, CheckLevels]:
    unknown = sorted(set(value) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; allowed: {', '.join(sorted(CHECKS))}")
    return value


CheckOverrides = Annotated[dict[str, CheckLevels], AfterValidator(_known_checks)]


class Node(Strict):
    address: str = Field(pattern=ADDRESS, description="host:port of the Redis server")
    role: Literal["primary", "replica"] = "primary"
    shard: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]+$", description="shard name; default: the address")
    labels: Labels = Field(default_factory=dict)


class RedisCredentials(Strict):
    """How cachewatch's own tools (health, diagnose, the monitor) log in to a cluster's nodes: an ACL user and a
    secret reference, read when a command runs, never copied into generated files. The exporter keeps its
    ``auth_module`` profiles: its secrets live in its own settings."""

    user: str | None = Field(None, pattern=r"^[^\s]+$")
    password: SecretRef | None = None


class Cluster(Strict):
    """A set of Redis nodes owned by one team; ``mode`` says how they relate."""

    name: Name
    team: Name
    mode: Literal["standalone", "replicated", "cluster"] = "replicated"
    nodes: list[Node] = Field(min_length=1)
    tls: bool = False
    auth_module: str | None = Field(None, description="exporter credential profile for these nodes")
    labels: Labels = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict, description="overrides of fleet thresholds")
    kind: Literal["cache", "store"] = Field("cache", description="cache: data the origin can rebuild (eviction "
                                            "is normal, persistence is waste); store: the data must not be lost")
    checks: CheckOverrides = Field(default_factory=dict, description="health-check thresholds for this cluster")
    credentials: RedisCredentials | None = Field(None, description="login for cachewatch health and diagnose")

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(Thresholds.model_fields))
        if unknown:
            raise ValueError(f"unknown thresholds {unknown}; allowed: {', '.join(sorted(Thresholds.model_fields))}")
        return value


class Region(Strict):
    name: Name
    clusters: list[Cluster] = Field(min_length=1)


# --- teams and notification ---------------------------------------------------------------------------
# Hosts Go's net/smtp treats as this machine: PLAIN auth may go unencrypted only to these.
SMTP_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
SMTP_IMPLICIT_TLS_PORT = "465"  # Alertmanager speaks TLS from the first byte on this port, STARTTLS elsewhere


class EmailTLS(Strict):
    """How Alertmanager checks the relay's certificate (its email ``tls_config``), after STARTTLS or on port 465."""

    ca_file: str | None = Field(None, description="PEM file of the CA that signed the relay's certificate (a "
                                "private CA); default: the system's CAs")
    server_name: str | None = Field(None, pattern=r"^[A-Za-z0-9.\-]+$", description="the name the certificate "
                                    "must carry; default: the smarthost's host")
    insecure_skip_verify: bool = Field(False, description="accept any certificate: still encrypted, but open to a "
                                       "man in the middle; prefer ca_file")


class EmailChannel(Strict):
    """Mail through an SMTP relay. Alertmanager upgrades the connection with STARTTLS when ``require_tls`` is true
    and speaks TLS from the first byte on port 465; ``tls`` says how the relay's certificate is checked."""

    kind: Literal["email"] = "email"
    to: list[str] = Field(min_length=1)
    sender: str = "alertmanager@localhost"
    smarthost: str = Field("localhost:25", pattern=ADDRESS, description="host:port of the SMTP relay; port 465 "
                           "is TLS from the first byte (SMTPS), any other port is plain text until STARTTLS")
    auth_username: str | None = None
    auth_password: SecretRef | None = Field(None, description="Alertmanager 0.25 sends the file's bytes as they "
                                            "are: write it without a trailing newline (printf %s ...)")
    require_tls: bool | None = Field(None, description="STARTTLS before AUTH and DATA; a relay that does not offer "
                                     "it gets no mail. Default: false for a relay on this host (localhost, "
                                     "127.0.0.1, ::1: the mail does not cross the network, and a local MTA's "
                                     "certificate is usually self-signed for another name) and on port 465 (TLS "
                                     "already); true otherwise, as Alertmanager's own default")
    tls: EmailTLS = Field(default_factory=EmailTLS, description="how the relay's certificate is checked")
    hello: str | None = Field(None, pattern=r"^[A-Za-z0-9.\-\[\]:]+$", description="the name Alertmanager "
                              "sends in EHLO; default: localhost, which some relays refuse")

    @property
    def host(self) -> str:
        return self.smarthost.rsplit(":", 1)[0].strip("[]")

    @property
    def implicit_tls(self) -> bool:
        return self.smarthost.rsplit(":", 1)[1] == SMTP_IMPLICIT_TLS_PORT

    @property
    def starttls(self) -> bool:
        """``require_tls`` as written to alertmanager.yml: the spec's, or the default for this relay."""
        if self.require_tls is not None:
            return self.require_tls
        return not (self.host in SMTP_LOCAL_HOSTS or self.implicit_tls)

    @model_validator(mode="after")
    def _tls_fits_the_relay(self) -> EmailChannel:
        encrypted = self.starttls or self.implicit_tls
        problems = []
        if self.implicit_tls and self.require_tls:
            problems.append("require_tls: true on port 465: the connection is TLS from the first byte, and "
                            "Alertmanager 0.25 then still asks for STARTTLS, which such relays do not offer, so "
                            "every mail fails; allowed on port 465: require_tls unset or false")
        if self.tls != EmailTLS() and not encrypted:
            problems.append(f"tls is set but no TLS is used: require_tls is false (the default for a relay on "
                            f"this host) and the port is not {SMTP_IMPLICIT_TLS_PORT}; set require_tls: true")
        if self.auth_password and not self.auth_username:
            problems.append("auth_password is set without auth_username: Alertmanager then does not log in")
        if self.auth_password and not encrypted and self.host not in SMTP_LOCAL_HOSTS:
            problems.append(f"auth_password would cross the network in clear text to {self.host} (Alertmanager's "
                            "PLAIN login refuses to send it); set require_tls: true, or use port 465")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class SlackChannel(Strict):
    """One Slack incoming webhook. A Slack app's webhook posts to the channel it was created for and ignores
    ``channel``: give every channel its own URL file."""

    kind: Literal["slack"] = "slack"
    channel: str = Field(pattern=r"^[#@][\w.\-]+$")
    api_url: SecretRef


class PagerDutyChannel(Strict):
    kind: Literal["pagerduty"] = "pagerduty"
    routing_key: SecretRef
    url: str | None = Field(None, pattern=r"^https?://", description="the Events API v2 endpoint; default: "
                            "Alertmanager's https://events.pagerduty.com/v2/enqueue. EU accounts: "
                            "https://events.eu.pagerduty.com/v2/enqueue; or a proxy")


class WebhookChannel(Strict):
    kind: Literal["webhook"] = "webhook"
    url: str | None = Field(None, pattern=r"^https?://")
    url_secret: SecretRef | None = None
    max_alerts: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannel:
        if (self.url is None) == (self.url_secret is None):
            raise ValueError("give exactly one of url or url_secret")
        return self


Channel = Annotated[EmailChannel | SlackChannel | PagerDutyChannel | WebhookChannel, Field(discriminator="kind")]


AckMode = Literal["silence", "notify"]
UserName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@\-]{0,127}$",
                                description="a login: letters, digits, . _ @ -")]


class Escalation(Strict):
    """Which channels each severity reaches, and how often an unresolved alert is re-sent."""

    critical: list[str] = Field(default_factory=list)
    warning: list[str] = Field(default_factory=list)
    info: list[str] = Field(default_factory=list)
    repeat_critical: Duration = 3600.0
    repeat_warning: Duration = 4 * 3600.0
    repeat_info: Duration = 24 * 3600.0
    warning_only_in_business_hours: bool = True
    ack_timeout_critical: Duration | None = Field(
        900.0, description="an episode still unacked this long after it fired escalates to escalate_to (the alert "
        "lifecycle service posts CachewatchAckTimeout); null: never")
    ack_timeout_warning: Duration | None = None
    ack_timeout_info: Duration | None = None
    escalate_to: list[str] = Field(default_factory=list, description="channels of this team that an ack timeout "
                                   "reaches; empty: no escalation")
    ack_mode_critical: AckMode = Field("silence", description="silence: an ack is a leased Alertmanager silence "
                                       "(notifications stop until it resolves); notify: an ack is recorded and "
                                       "notifications keep flowing (tickets)")
    ack_mode_warning: AckMode = "silence"
    ack_mode_info: AckMode = "notify"

    def ack_timeout(self, severity: str) -> float | None:
        return getattr(self, f"ack_timeout_{severity}", None)

    def ack_mode(self, severity: str) -> AckMode:
        return getattr(self, f"ack_mode_{severity}", "notify")


class Team(Strict):
    name: Name
    channels: dict[str, Channel] = Field(min_length=1)
    escalation: Escalation
    members: list[UserName] = Field(default_factory=list, description="user names who may acknowledge and close "
                                    "this team's alerts in the alert lifecycle service")

    @model_validator(mode="after")
    def _channels_exist(self) -> Team:
        named = [(f"escalation.{severity}", channel) for severity in SEVERITIES
                 for channel in getattr(self.escalation, severity)]
        named += [("escalation.escalate_to", channel) for channel in self.escalation.escalate_to]
        for where, channel in named:
            if channel not in self.channels:
                raise ValueError(f"{where} names channel {channel!r}; defined: {', '.join(sorted(self.channels))}")
        return self


class TimeWindow(Strict):
    """An Alertmanager time interval: weekdays (``monday:friday``), times (``09:00-17:00``), days of the month,
    months, a location; each entry checked as Alertmanager 0.25 checks it (cachewatch/spec/time_ranges.py)."""

    weekdays: list[Annotated[str, AfterValidator(time_ranges.weekday_range)]] = Field(
        default_factory=list, description="sunday … saturday, or start:end in that order: the week starts on "
        "sunday, so monday:sunday is refused (write monday:saturday and sunday)")
    times: list[Annotated[str, AfterValidator(time_ranges.time_range)]] = Field(
        default_factory=list, description="HH:MM-HH:MM, 00:00 … 24:00, not crossing midnight")
    days_of_month: list[Annotated[str, AfterValidator(time_ranges.day_of_month_range)]] = Field(
        default_factory=list, description="1 … 31 or -31 … -1 (from the month's end), or start:end")
    months: list[Annotated[str, AfterValidator(time_ranges.month_range)]] = Field(
        default_factory=list, description="january … december or 1 … 12, or start:end")
    location: Annotated[str, AfterValidator(time_ranges.location)] = Field(
        "UTC", description="UTC, Local, or a time zone database name (Europe/Berlin)")


class MaintenanceWindow(Strict):
    name: Name
    window: TimeWindow
    clusters: list[Name] = Field(default_factory=list, description="empty: the whole fleet")


# --- thresholds and SLOs ------------------------------------------------------------------------------
class Thresholds(Strict):
    """Alert thresholds; every one has a default. Ratios are 0..1, relative to configured limits."""

    memory_warning_ratio: float = Field(0.85, gt=0, le=1, description="used_memory / maxmemory")
    memory_critical_ratio: float = Field(0.95, gt=0, le=1)
    fragmentation_ratio: float = Field(1.5, gt=1)
    fragmentation_min_bytes: int = Field(100 << 20, ge=0, description="ignore fragmentation of small instances")
    evictions_per_second: float = Field(100.0, gt=0)
    eviction_ratio: float = Field(0.05, gt=0, le=1, description="evicted / (hits + misses)")
    connections_warning_ratio: float = Field(0.8, gt=0, le=1, description="connected_clients / maxclients")
    connections_critical_ratio: float = Field(0.95, gt=0, le=1)
    blocked_clients: int = Field(50, gt=0)
    replication_lag_seconds: float = Field(30.0, gt=0)
    replication_delay_warning_seconds: float = Field(1.0, gt=0, description="heartbeat delay to a replica "
                                                     "(/probe?module=replication)")
    replication_delay_critical_seconds: float = Field(10.0, gt=0)
    no_backup_hours: float | None = Field(None, gt=0, description="alert when no RDB save for this long; None: off")
    latency_p95_seconds: float = Field(0.002, gt=0)
    latency_p99_seconds: float = Field(0.010, gt=0)
    error_replies_per_second: float = Field(5.0, gt=0)
    slowlog_entries_per_second: float = Field(1.0, gt=0)
    hit_ratio_min: float = Field(0.80, gt=0, lt=1)
    hit_ratio_min_requests_per_second: float = Field(10.0, ge=0, description="low-traffic guard")
    acl_denials_per_second: float = Field(1.0, gt=0)
    auth_failures_per_second: float = Field(0.5, gt=0)
    exporter_scrape_seconds: float = Field(1.0, gt=0, description="exporter slow above this")

    @model_validator(mode="before")
    @classmethod
    def _replaced(cls, data: object) -> object:
        if isinstance(data, dict) and "replication_lag_bytes" in data:
            raise ValueError("replication_lag_bytes was replaced by the health check repl.lag_bytes, a share of "
                             "repl-backlog-size (past 1 the next reconnect is a full resync): set "
                             "checks: {repl.lag_bytes: {warning: 0.5}} instead")
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        for low, high in (("memory_warning_ratio", "memory_critical_ratio"),
                          ("connections_warning_ratio", "connections_critical_ratio"),
                          ("latency_p95_seconds", "latency_p99_seconds"),
                          ("replication_delay_warning_seconds", "replication_delay_critical_seconds")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high}")
        return self


class SLO(Strict):
    """A service level objective over a set of clusters (empty: all), with multi-window burn-rate alerts."""

    name: Name
    kind: Literal["availability", "hit_ratio", "latency", "error_rate"]
    objective: float = Field(gt=0, lt=100, description="percent, e.g. 99.9")
    window: Literal["7d", "28d", "30d"] = "30d"
    clusters: list[Name] = Field(default_factory=list)
    latency_threshold_seconds: float | None = Field(None, ge=1e-6, description="latency SLOs: good means faster "
                                                    "(at least 1µs, the smallest LATENCY HISTOGRAM bucket)")
    min_requests_per_second: float = Field(1.0, ge=0, description="low-traffic guard: no burn alert below it")
    team: Name | None = Field(None, description="who is paged; default: the owners of the clusters")

    @model_validator(mode="after")
    def _latency(self) -> SLO:
        if self.kind == "latency" and self.latency_threshold_seconds is None:
            raise ValueError("a latency SLO needs latency_threshold_seconds")
        return self


class Business(Strict):
    cost_per_gb_hour: float = Field(0.0, ge=0, description="currency units per GB of used memory and hour")
    cost_per_node_hour: float = Field(0.0, ge=0)
    sla_target: float = Field(99.9, gt=0, lt=100, description="percent availability promised")
    currency: str = "USD"


class Intervals(Strict):
    """How often Prometheus scrapes, probes and evaluates, and how long Alertmanager waits before a page.

    The defaults are chosen so that every critical alert the fault matrix exercises reaches its receiver within
    60 s in the worst case and 45 s typically (docs/alert-latency.md computes each alert's budget from these
    values: sample + measurement + evaluation + ``for`` + group_wait + delivery). Each ``for`` still covers a single
    failed scrape (a critical gauge alert holds over at least one more scrape), so the speed is not bought with
    false pages."""

    # 10 s, not Prometheus' usual 15 s: a sample and an evaluation are the two waits no ``for`` can remove, and at
    # 15 s + 15 s a node hung in a scrape plus a ``for`` of one more scrape is already past a minute. The cost is
    # 1.5x the scrapes: one pipelined round trip per node every 10 s, negligible for Redis and the exporter.
    scrape: Duration = 10.0
    # A healthy node answers a scrape in milliseconds; one that needs 5 s is down for its clients already (client
    # timeouts are well below a second). A hung node (SIGSTOP, a blocked event loop) is reported down by the
    # exporter just before this deadline, so the hung-node page waits for it: 10 s would cost that much more.
    scrape_timeout: Duration = 5.0
    # As often as the scrape: an evaluation that comes less often than the samples wastes their freshness.
    evaluation: Duration = 10.0

    @model_validator(mode="after")
    def _timeout_fits(self) -> Intervals:
        if self.scrape_timeout > self.scrape:
            raise ValueError("scrape_timeout must not exceed scrape (Prometheus refuses it)")
        return self

    # Critical leaves wait this long for more alerts of their group before the first notification. Prometheus
    # sends every alert of one evaluation in one batch, so 5 s already collects a shard-wide fault into one page;
    # warnings and info are batched for at least 30 s anyway (alert_rules/alertmanager.py TIMING).
    group_wait: Duration = Field(5.0, le=30, description="critical alerts must be delivered within a minute: the "
                                 "first notification of a new group waits this long")
    group_interval: Duration = 30.0
    # 15 s, not 30 s: the replication heartbeat's critical delay is seen only by a probe that waits for it, so its
    # page costs a probe interval plus the probe's deadline; at 30 s it could not meet the minute.
    probe: Duration = Field(15.0, description="how often Prometheus probes each node (/probe: health checks, "
                                              "replication heartbeat)")
    # Above thresholds.replication_delay_critical_seconds (10 s; the spec refuses a deadline at or below it: a
    # probe cannot measure a delay longer than its deadline), below the probe interval.
    probe_timeout: Duration = Field(12.0, description="deadline of one probe (at most probe)")

    @model_validator(mode="after")
    def _probe_timeout_fits(self) -> Intervals:
        if self.probe_timeout > self.probe:
            raise ValueError("probe_timeout must not exceed probe (Prometheus refuses it)")
        return self


class Heartbeat(Strict):
    """The dead man's switch: ``CachewatchWatchdog`` always fires, and Alertmanager re-sends it to this webhook every
    ``repeat_interval``. A heartbeat service (healthchecks.io, Dead Man's Snitch, Opsgenie heartbeats, a
    PagerDuty heartbeat proxy) pages when the pings stop: a silent Prometheus, rule evaluation, Alertmanager or
    network path is then itself detected. Without a webhook the alert still fires and is routed to a receiver
    with no integrations, so adding one later is a one-line change. In scale mode every region's Prometheus pair
    and the global ruler each send their own Watchdog, to their own URL (``regions``, ``webhook``)."""

    webhook: WebhookChannel | None = Field(None, description="where the heartbeat is posted; a URL that is itself a "
                                           "secret (healthchecks.io's ping URL) as url_secret (Alertmanager 0.26+). "
                                           "In scale mode: the global rule path's heartbeat (the ruler on the "
                                           "long-term store)")
    regions: dict[Name, WebhookChannel] = Field(
        default_factory=dict, description="scale mode: region → that region's own heartbeat URL (one check per "
        "region at the heartbeat service, as each healthchecks.io check or snitch has its own URL). Each region's "
        "Prometheus pair sends its own Watchdog; on a shared URL the other regions' pings would hide a silent one, "
        "so once any heartbeat is set every region needs its own")
    repeat_interval: Duration = Field(300.0, ge=60, le=3600, description="the heartbeat's period: the service "
                                      "should alarm after about twice this without a ping")


class Retention(Strict):
    metrics_days: int = Field(90, gt=0)
    logs_days: int = Field(30, gt=0)


class ExporterDeployment(Strict):
    """Where the cachewatch exporters run; with several, Prometheus shards targets by hashmod."""

    addresses: list[str] = Field(default_factory=lambda: ["127.0.0.1:9121"], min_length=1)
    series: SeriesReduction = Field(SeriesReduction(), description="families the exporters drop or aggregate at "
                                    "the source (written to exporter/cachewatch-exporter.yml; docs/capacity.md)")


class Links(Strict):
    runbook_base_url: str = Field("https://github.com/cachewatch/cachewatch/blob/main/docs/runbooks.md",
                                  pattern=r"^https?://")
    grafana_url: str = Field("http://localhost:3000", pattern=r"^https?://")
    alertmanager_urls: list[str] = Field(default_factory=lambda: ["127.0.0.1:9093"], min_length=1)
    prometheus_external_url: str = Field(
        "http://localhost:9090", pattern=r"^https?://", description="where people reach Prometheus (its "
        "--web.external-url): every alert's generatorURL, the source link in notifications, points there")
    alertmanager_external_url: str = Field(
        "http://localhost:9093", pattern=r"^https?://", description="where people reach Alertmanager (its "
        "--web.external-url): the links in Slack, PagerDuty and email notifications point there")


class AlertLifecycle(Strict):
    """The alert lifecycle service (``cachewatch alerts serve``): episodes, acks, escalation, history, analytics.
    Alertmanager sends it every alert through a first route (``continue: true``); Prometheus scrapes it."""

    enabled: bool = Field(True, description="generate the history route, the escalation routes and the scrape job")
    listen: Address = Field("127.0.0.1:9095", description="host:port the service listens on; Alertmanager posts "
                            "to http://<listen>/webhook and Prometheus scrapes /metrics there")
    admins: list[UserName] = Field(default_factory=list, description="users who may act on every team's alerts")
    webhook_token: SecretRef | None = Field(None, description="bearer token Alertmanager sends with each webhook "
                                            "(a file: Alertmanager reads credentials_file)")
    ack_lease: Duration = Field(1800.0, ge=60, description="an ack's silence lasts this long and is renewed while "
                                "the alert fires")
    ack_max: Duration = Field(12 * 3600.0, ge=60, description="an ack is not renewed past this age: the alert pages "
                              "again on purpose")
    merge_grace: Duration = Field(300.0, ge=0, description="a new startsAt of the same alert within this long of "
                                  "the episode's last sighting continues it (a Prometheus restart), not a new one")
    reconcile_interval: Duration = Field(30.0, ge=1, description="how often Alertmanager's alerts and silences are "
                                         "polled to catch what webhooks never carry")
    absent_grace: Duration = Field(90.0, ge=1, description="an alert gone from every Alertmanager this long is "
                                   "resolved; longer than Prometheus' resend delay (--rules.alert.resend-delay, 1m), "
                                   "so an Alertmanager restart that lost its alerts does not fake a resolve")
    flap_window: Duration = Field(3600.0, description="episodes of one alert inside this window count as flapping")
    flap_episodes: int = Field(3, ge=2, description="this many episodes inside flap_window make an alert flapping")
    retention_days: int | None = Field(None, gt=0, description="closed episodes older than this are deleted; "
                                       "default: retention.metrics_days")

    @model_validator(mode="after")
    def _lease_fits(self) -> AlertLifecycle:
        if self.ack_lease > self.ack_max:
            raise ValueError("ack_lease must not exceed ack_max")
        return self


# --- tracing and instrumented applications ------------------------------------------------------------
OTLP_PORTS = {"4317": "grpc", "4318": "http/protobuf"}  # the OTLP receivers' standard ports (Jaeger, Collector)
OTLP_PORT_OF = {protocol: port for port, protocol in OTLP_PORTS.items()}


class TailSampling(Strict):
    """What the OpenTelemetry Collector (or Jaeger v2) keeps once a trace is complete: every trace with an error,
    every trace slower than ``Tracing.slow_threshold``, and ``base_ratio`` of the rest. Python has no Jaeger
    remote sampler, so outcome-based sampling happens here (cachewatch.tracing.collector_config)."""

    decision_wait: Duration = Field(10.0, ge=1, description="seconds the collector buffers a trace before deciding; "
                                    "longer than your slowest request, shorter than memory allows")
    num_traces: int = Field(50_000, gt=0, description="traces held in memory while deciding")
    base_ratio: float = Field(0.1, ge=0, le=1, description="share of ordinary (neither error nor slow) traces kept "
                              "among those that reach the collector; 0 keeps only errors and slow traces")
    jaeger_endpoint: str = Field("jaeger:4317", pattern=ADDRESS,
                                 description="host:port of Jaeger's OTLP gRPC receiver the collector forwards to")
    jaeger_tls: bool = Field(False, description="TLS (system CAs) to Jaeger; off: plaintext inside the network")


class Tracing(Strict):
    """Settings for applications using cachewatch.tracing, and for the trace pipeline behind them."""

    service_name: str = Field("cachewatch-app", min_length=1, max_length=255,
                              description="OpenTelemetry resource service.name when the app sets none")
    sample_ratio: float = Field(0.01, ge=0, le=1, description="head sampling: ParentBased(TraceIdRatioBased(r)); "
                                "1.0 when a collector does tail sampling, so that it sees every trace")
    keep_errors_and_slow: bool = Field(False, description="opt-in: record every operation and export errors and "
                                       "slow ones even when the head sampler said no (partial traces)")
    slow_threshold: Duration = Field(0.01, description="seconds; slower operations are logged, kept in "
                                     "keep_errors_and_slow mode, and kept by tail sampling's latency policy")
    otlp_endpoint: str = Field("http://127.0.0.1:4318", pattern=r"^https?://[^\s/]+(/\S*)?$",
                               description="base URL of the OTLP receiver (Jaeger or a Collector: 4317 gRPC, 4318 "
                               "HTTP), as in OTEL_EXPORTER_OTLP_ENDPOINT")
    otlp_protocol: Literal["grpc", "http/protobuf"] = Field("http/protobuf", description="OTLP transport; must "
                                                            "match the endpoint's port when it is 4317 or 4318")
    export_queue_size: int = Field(2048, ge=16, le=1_000_000,
                                   description="spans buffered for export; bounds memory while Jaeger is down")
    tail_sampling: TailSampling = Field(TailSampling(), description="what a collector in front of Jaeger keeps")

    @field_validator("otlp_endpoint")
    @classmethod
    def _usable_endpoint(cls, value: str) -> str:
        """Credentials in a URL leak into logs and generated files; OTLP authentication belongs in headers."""
        parts = urlsplit(value)
        if "@" in parts.netloc:
            raise ValueError("no user:password@ in the endpoint (it would end up in files and logs); give "
                             "credentials as OTEL_EXPORTER_OTLP_HEADERS")
        _ = parts.port  # raises "Port out of range 0-65535" here, where the error names this field
        return value

    @model_validator(mode="after")
    def _port_matches_protocol(self) -> Tracing:
        port = str(urlsplit(self.otlp_endpoint).port or "")
        other = OTLP_PORTS.get(port, self.otlp_protocol)
        if other != self.otlp_protocol:
            raise ValueError(f"otlp_endpoint port {port} is the OTLP {other} port but otlp_protocol is "
                             f"{self.otlp_protocol}; use port {OTLP_PORT_OF[self.otlp_protocol]} or otlp_protocol "
                             f"{other}")
        return self


class Application(Strict):
    """A service using cachewatch.tracing; Prometheus scrapes its prometheus_client endpoint (job cachewatch-apps),
    in scale mode from its region's Prometheus pair (a cross-region scrape would put a WAN link in its alerts)."""

    name: Name = Field(description="value of the application label (bounded: one per service, not per instance)")
    team: Name = Field(description="owning team; must be one of the spec's teams")
    targets: list[Address] = Field(min_length=1, description="host:port of each instance's metrics endpoint")
    metrics_path: str = Field("/metrics", pattern=r"^/[^\s?#]*$", description="HTTP path of the metrics endpoint")
    region: Name | None = Field(None, description="the region its instances run in (one of the spec's regions): the "
                                "label region on its series and, in scale mode, the region whose Prometheus pair "
                                "scrapes it (default there: scale.home_region). An application deployed in several "
                                "regions has one entry per region, under the same name and team")


class FleetSpec(Strict):
    name: Name = "cachewatch"
    platform_team: Name | None = Field(None, description="owns fleet-wide alerts (exporter); default: first team")
    regions: list[Region] = Field(min_length=1)
    teams: list[Team] = Field(min_length=1)
    thresholds: Thresholds = Thresholds()
    slos: list[SLO] = Field(default_factory=list)
    business_hours: TimeWindow | None = None
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    business: Business = Business()
    intervals: Intervals = Intervals()
    heartbeat: Heartbeat = Field(default_factory=Heartbeat, description="the dead man's switch: where "
                                 "CachewatchWatchdog is sent")
    retention: Retention = Retention()
    exporter: ExporterDeployment = ExporterDeployment()
    links: Links = Links()
    alert_lifecycle: AlertLifecycle = AlertLifecycle()
    tracing: Tracing = Tracing()
    applications: list[Application] = Field(default_factory=list)
    checks: CheckOverrides = Field(default_factory=dict, description="health-check thresholds for every cluster")
    scale: Scale | None = Field(None, description="scale mode: a Prometheus HA pair per region, a long-term "
                                "store, an Alertmanager cluster, a logs pipeline; unset: one prometheus.yml")

    def checks_for(self, cluster: Cluster) -> dict[str, CheckLevels]:
        """The health-check overrides in force for ``cluster``: the cluster's levels over the fleet's, level by
        level (a level neither sets keeps the check table's)."""
        out = dict(self.checks)
        for check_id, levels in cluster.checks.items():
            fleet = self.checks.get(check_id)
            out[check_id] = CheckLevels(**{**(fleet.given() if fleet else {}), **levels.given()})
        return out

    @model_validator(mode="after")
    def _references(self) -> FleetSpec:
        teams = {t.name for t in self.teams}
        clusters = [c for r in self.regions for c in r.clusters]
        problems = []
        _unique("teams", [t.name for t in self.teams], problems)
        _unique("clusters", [c.name for c in clusters], problems)
        _unique("node addresses", [n.address for c in clusters for n in c.nodes], problems)
        _unique("slos", [s.name for s in self.slos], problems)
        _unique("maintenance windows", [m.name for m in self.maintenance], problems)
        _unique("applications", [_app_key(self, a) for a in self.applications], problems)
        _unique("application endpoints", [f"{t}{a.metrics_path}" for a in self.applications for t in a.targets],
                problems)
        names = {c.name for c in clusters}
        for cluster in clusters:
            if cluster.team not in teams:
                known = ", ".join(sorted(teams))
                problems.append(f"cluster {cluster.name} names team {cluster.team!r}; teams: {known}")
        for app in self.applications:
            if app.team not in teams:
                known = ", ".join(sorted(teams))
                problems.append(f"application {app.name} names team {app.team!r}; teams: {known}")
        problems += application_problems(self)
        for slo in self.slos:
            problems += [f"slo {slo.name} names unknown cluster {c!r}" for c in slo.clusters if c not in names]
            if slo.team and slo.team not in teams:
                problems.append(f"slo {slo.name} names unknown team {slo.team!r}")
        if self.thresholds.replication_delay_critical_seconds >= self.intervals.probe_timeout:
            problems.append("thresholds.replication_delay_critical_seconds must be below intervals.probe_timeout: "
                            "a probe cannot measure a delay longer than its deadline")
        for team in self.teams:
            if team.escalation.escalate_to and not any(team.escalation.ack_timeout(s) for s in SEVERITIES):
                problems.append(f"team {team.name}: escalation.escalate_to is set but no ack_timeout_* is")
        problems += scale_problems(self) + heartbeat_problems(self)
        if self.platform_team and self.platform_team not in teams:
            problems.append(f"platform_team names unknown team {self.platform_team!r}")
        for window in self.maintenance:
            problems += [f"maintenance {window.name} names unknown cluster {c!r}" for c in window.clusters
                         if c not in names]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def clusters(self) -> list[tuple[Region, Cluster]]:
        return [(region, cluster) for region in self.regions for cluster in region.clusters]

    @property
    def owner_of_fleet(self) -> str:
        return self.platform_team or self.teams[0].name

    def thresholds_for(self, cluster: Cluster) -> Thresholds:
        """Fleet thresholds with the cluster's overrides applied (and validated together)."""
        if not cluster.thresholds:
            return self.thresholds
        return Thresholds.model_validate({**self.thresholds.model_dump(), **cluster.thresholds})


def _app_key(spec: FleetSpec, app: Application) -> str:
    """An application is one (name, region): one entry per region it runs in."""
    region = application_region(spec, app)
    return f"{app.name} in {region}" if region else app.name


def _unique(what: str, values: list[str], problems: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            problems.append(f"duplicate {what}: {value!r}")
        seen.add(value)



def team_members(spec: FleetSpec) -> dict[str, set[str]]:
    """team → the users who may act on its alerts (its members and the lifecycle admins)."""
    admins = set(spec.alert_lifecycle.admins)
    return {team.name: set(team.members) | admins for team in spec.teams}
