"""Scale mode on a small two-region fleet: a Prometheus HA pair per region, each scraping only its region through
the region's own exporters and remote-writing to VictoriaMetrics (90 days), vmalert with the fleet-level rules, a
two-member Alertmanager cluster, and a Collector per region shipping logs to Loki (30 days). Secrets are references
only."""

from cachewatch.spec import (
    SLO,
    Application,
    Cluster,
    Escalation,
    FleetSpec,
    Links,
    Node,
    Region,
    SecretRef,
    SlackChannel,
    Team,
    WebhookChannel,
)
from cachewatch.spec.scale import Logs, LongTerm, PrometheusPair, Scale

REGIONS = ("eu-west", "us-east")


def shard_nodes(region_index: int, shards: int = 3) -> list[Node]:
    """Each shard: a primary and a replica on two hosts of the region's subnet."""
    nodes = []
    for shard in range(shards):
        nodes.append(Node(address=f"10.{region_index}.0.{10 + shard}:6379", role="primary", shard=f"s{shard}"))
        nodes.append(Node(address=f"10.{region_index}.0.{110 + shard}:6379", role="replica", shard=f"s{shard}"))
    return nodes


spec = FleetSpec(
    name="regions",
    regions=[Region(name=region, clusters=[Cluster(name=f"sessions-{region}", team="platform",
                                                   nodes=shard_nodes(r))])
             for r, region in enumerate(REGIONS)],
    teams=[
        Team(name="platform",
             channels={"chat": SlackChannel(channel="#cache-alerts",
                                            api_url=SecretRef(file="/etc/alertmanager/secrets/slack-cache-alerts")),
                       "hook": WebhookChannel(url="http://pager-bridge.monitoring:8080/alerts")},
             escalation=Escalation(critical=["hook", "chat"], warning=["chat"])),
    ],
    slos=[SLO(name="sessions-availability", kind="availability", objective=99.95)],
    links=Links(alertmanager_urls=["alertmanager-0.monitoring:9093", "alertmanager-1.monitoring:9093"],
                grafana_url="https://grafana.example.com",
                prometheus_external_url="https://prometheus.example.com",
                alertmanager_external_url="https://alertmanager.example.com"),
    # one entry per region the application runs in: each region's pair scrapes its own instances
    applications=[Application(name="login", team="platform", region=region, targets=[f"10.{r}.20.10:8000"])
                  for r, region in enumerate(REGIONS)],
    scale=Scale(
        prometheus=PrometheusPair(replicas=2, local_retention_days=35),
        long_term=LongTerm(engine="victoriametrics", url="http://victoriametrics.monitoring:8428"),
        logs=Logs(backend="loki", url="http://loki.monitoring:3100"),
        exporters={region: [f"exporter-{region}.monitoring:9121"] for region in REGIONS},
    ),
)
