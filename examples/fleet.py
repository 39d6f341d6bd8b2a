"""A realistic fleet: 3 regions, 120 nodes in primary/replica shards, 4 teams, every channel kind (one Slack
webhook URL file per channel, an EU PagerDuty account, mail through a relay with a private CA and through the
host's own MTA), the brief's four cache SLOs (one of each kind) and a team's own, maintenance windows, business hours,
two applications using cachewatch.tracing in every region, traces tail-sampled by a collector in front of Jaeger, and
the alert lifecycle service: team members who may ack, and a secondary pager for the teams whose criticals escalate
when no one acks them within 15 minutes.

Scale mode: a Prometheus HA pair per region scrapes only its region (its nodes through the region's two exporters,
its applications) and remote-writes to VictoriaMetrics (90 days); vmalert runs the fleet-level rules; one
Alertmanager cluster; a Collector per region ships logs to Loki (30 days); each region and the global ruler send their
own heartbeat to their own dead man's switch check. Secrets are references only."""

from cachewatch.spec import (
    SLO,
    AlertLifecycle,
    Application,
    Business,
    Cluster,
    EmailChannel,
    EmailTLS,
    Escalation,
    ExporterDeployment,
    FleetSpec,
    Heartbeat,
    Links,
    MaintenanceWindow,
    Node,
    PagerDutyChannel,
    Region,
    SecretRef,
    SlackChannel,
    TailSampling,
    Team,
    TimeWindow,
    Tracing,
    WebhookChannel,
)
from cachewatch.spec.scale import Logs, LongTerm, PrometheusPair, Scale

PAGERDUTY_EU = "https://events.eu.pagerduty.com/v2/enqueue"  # for accounts hosted in the EU
REGIONS = {"eu-west": 10, "us-east": 10, "ap-south": 10}  # region → shards per cluster
CLUSTERS = {"sessions": "identity", "catalog": "commerce"}  # cluster → owning team
# application → (owning team, subnet of its instances, metrics path); each runs two instances in every region
APPS = {"login": ("identity", 20, "/metrics"), "storefront": ("commerce", 30, "/internal/metrics")}
# The dead man's switch: one check per sender at the heartbeat service (healthchecks.io here; a snitch each at Dead
# Man's Snitch), so a region whose pings stop is missed by its own check. Plain URLs: Alertmanager 0.25 has no
# webhook url_file; from 0.26 give url_secret=SecretRef(file=...).
HEARTBEAT = "https://hc-ping.com/3f1d9a52-7c4e-4b8a-9e21-{}"
HEARTBEAT_CHECKS = {"global": "0a6c2f9d4e11", "eu-west": "1b7d3e0a5f22", "us-east": "2c8e4f1b6a33",
                    "ap-south": "3d9f5a2c7b44"}


def shard_nodes(region_index: int, cluster_index: int, shards: int) -> list[Node]:
    """Each shard: a primary and a replica on two hosts of the region's subnet."""
    nodes = []
    for shard in range(shards):
        base = f"10.{region_index}.{cluster_index}"
        name = f"s{shard:02d}"
        nodes.append(Node(address=f"{base}.{10 + shard}:6379", role="primary", shard=name))
        nodes.append(Node(address=f"{base}.{110 + shard}:6379", role="replica", shard=name))
    return nodes


spec = FleetSpec(
    name="fleet",
    platform_team="platform",
    regions=[
        Region(name=region, clusters=[
            Cluster(name=f"{cluster}-{region}", team=team, mode="cluster", auth_module="prod",
                    nodes=shard_nodes(r, c, shards),
                    thresholds={"memory_warning_ratio": 0.8} if cluster == "sessions" else {})
            for c, (cluster, team) in enumerate(CLUSTERS.items())
        ])
        for r, (region, shards) in enumerate(REGIONS.items())
    ],
    teams=[
        Team(name="identity",
             # identity's PagerDuty account is hosted in the EU: its events go to the EU endpoint.
             # Each Slack channel has its own webhook URL file: a Slack app's webhook posts to the channel it was
             # created for and ignores `channel`, so a shared URL would land every team in the same channel.
             channels={"pager": PagerDutyChannel(routing_key=SecretRef(file="/etc/alertmanager/secrets/pd-identity"),
                                                 url=PAGERDUTY_EU),
                       "secondary": PagerDutyChannel(
                           routing_key=SecretRef(file="/etc/alertmanager/secrets/pd-identity-secondary"),
                           url=PAGERDUTY_EU),
                       "chat": SlackChannel(channel="#identity-alerts",
                                            api_url=SecretRef(file="/etc/alertmanager/secrets/slack-identity-alerts"))},
             escalation=Escalation(critical=["pager", "chat"], warning=["chat"], info=["chat"],
                                   escalate_to=["secondary", "chat"]),
             members=["alice", "bob"]),
        Team(name="commerce",
             channels={"pager": PagerDutyChannel(routing_key=SecretRef(file="/etc/alertmanager/secrets/pd-commerce")),
                       # A relay on the network: STARTTLS required (the default off this host), its certificate
                       # signed by the company's CA, a real EHLO name.
                       "mail": EmailChannel(to=["commerce-oncall@example.com"], sender="alerts@example.com",
                                            smarthost="smtp.example.com:587", auth_username="alerts",
                                            auth_password=SecretRef(file="/etc/alertmanager/secrets/smtp"),
                                            require_tls=True,
                                            tls=EmailTLS(ca_file="/etc/ssl/certs/example-internal-ca.pem"),
                                            hello="alertmanager.example.com"),
                       "secondary": PagerDutyChannel(
                           routing_key=SecretRef(file="/etc/alertmanager/secrets/pd-commerce-secondary"))},
             escalation=Escalation(critical=["pager", "mail"], warning=["mail"], escalate_to=["secondary"]),
             members=["carol", "dave"]),
        Team(name="platform",
             channels={"chat": SlackChannel(channel="#platform",
                                            api_url=SecretRef(file="/etc/alertmanager/secrets/slack-platform")),
                       "hook": WebhookChannel(url="http://incident-bot.internal:8080/alertmanager")},
             escalation=Escalation(critical=["hook", "chat"], warning=["chat"], info=["hook"]),
             members=["erin", "frank"]),
        Team(name="security",
             channels={"siem": WebhookChannel(url="https://siem.internal:8443/alertmanager", max_alerts=50),
                       # The host's own MTA relays onwards: plain SMTP on loopback (require_tls false is the
                       # default for localhost; a local MTA's certificate is rarely valid for "localhost").
                       "mail": EmailChannel(to=["security@example.com"], smarthost="localhost:25",
                                            require_tls=False)},
             escalation=Escalation(critical=["siem", "mail"], warning=["siem"], warning_only_in_business_hours=False),
             members=["grace"]),
    ],
    slos=[
        # The brief's SLOs for the cache itself, fleet-wide, each with burn-rate pages and tickets (alert_rules/
        # slo.py) and on the SLO dashboard (cachewatch-slo): reads hit the cache at least 90% of the time (keyspace
        # lookups of read commands; with 10% of budget 14.4x is out of reach, so it pages at 5.6x over 6h & 30m),
        # 95% of calls finish within 10 ms, i.e. P95 < 10 ms (counted on the 8.454 ms LATENCY HISTOGRAM bucket: a
        # call counted fast surely was), fewer than 0.1% of calls fail, nodes are up 99.9% of the time. Windows:
        # 30d, 28d for the hit ratio (a four-week review cycle), 7d for errors (quick feedback on deploys).
        SLO(name="cache-availability", kind="availability", objective=99.9, team="platform"),
        SLO(name="cache-hit-ratio", kind="hit_ratio", objective=90.0, window="28d", team="platform",
            min_requests_per_second=50),
        SLO(name="cache-latency-p95", kind="latency", objective=95.0, latency_threshold_seconds=0.010,
            team="platform"),
        SLO(name="cache-errors", kind="error_rate", objective=99.9, window="7d", team="platform"),
        # One team's own, stricter SLO on its clusters: the session store's P99 below 2 ms.
        SLO(name="sessions-latency", kind="latency", objective=99.0, latency_threshold_seconds=0.002,
            clusters=[f"sessions-{r}" for r in REGIONS]),
    ],
    business_hours=TimeWindow(weekdays=["monday:friday"], times=["08:00-18:00"], location="Europe/Berlin"),
    maintenance=[
        MaintenanceWindow(name="eu-patching", clusters=["sessions-eu-west", "catalog-eu-west"],
                          window=TimeWindow(weekdays=["sunday"], times=["02:00-04:00"], location="Europe/Dublin")),
        MaintenanceWindow(name="fleet-freeze-check", window=TimeWindow(days_of_month=["1"], times=["00:00-00:30"])),
    ],
    business=Business(cost_per_gb_hour=0.012, cost_per_node_hour=0.08, sla_target=99.9),
    # Without scale mode (and for a region scale.exporters does not list): three exporters sharing the fleet.
    exporter=ExporterDeployment(addresses=["exporter-0.monitoring:9121", "exporter-1.monitoring:9121",
                                           "exporter-2.monitoring:9121"]),
    links=Links(runbook_base_url="https://runbooks.example.com/cachewatch",
                grafana_url="https://grafana.example.com",
                alertmanager_urls=["alertmanager-0.monitoring:9093", "alertmanager-1.monitoring:9093"],
                prometheus_external_url="https://prometheus.example.com",
                alertmanager_external_url="https://alertmanager.example.com"),
    # Alertmanager posts every alert to the service with this bearer token; sre-lead may act on every team's alerts.
    alert_lifecycle=AlertLifecycle(listen="cachewatch-alerts.monitoring:9095", admins=["sre-lead"],
                                   webhook_token=SecretRef(file="/etc/alertmanager/secrets/cachewatch-alerts-token")),
    # Apps send every trace (sample_ratio 1.0) to a collector that keeps errors, >5 ms traces and 5% of the rest.
    tracing=Tracing(sample_ratio=1.0, slow_threshold="5ms", otlp_endpoint="http://otel-collector.tracing:4318",
                    tail_sampling=TailSampling(decision_wait="15s", base_ratio=0.05,
                                               jaeger_endpoint="jaeger-collector.tracing:4317")),
    # One entry per region an application runs in: its region's Prometheus pair scrapes it, labelled region.
    applications=[
        Application(name=app, team=team, metrics_path=path, region=region,
                    targets=[f"10.{r}.{subnet}.{host}:8000" for host in (10, 11)])
        for app, (team, subnet, path) in APPS.items() for r, region in enumerate(REGIONS)
    ],
    heartbeat=Heartbeat(webhook=WebhookChannel(url=HEARTBEAT.format(HEARTBEAT_CHECKS["global"])),
                        regions={region: WebhookChannel(url=HEARTBEAT.format(HEARTBEAT_CHECKS[region]))
                                 for region in REGIONS}),
    scale=Scale(
        prometheus=PrometheusPair(replicas=2, local_retention_days=35),
        long_term=LongTerm(engine="victoriametrics", url="http://victoriametrics.monitoring:8428"),
        logs=Logs(backend="loki", url="http://loki.monitoring:3100"),
        # each region's own exporters, close to its nodes (two per region: hashmod shards the region's 40 nodes)
        exporters={region: [f"exporter-{i}.{region}.monitoring:9121" for i in range(2)] for region in REGIONS},
        home_region="eu-west",
    ),
)
