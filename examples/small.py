"""The smallest useful fleet: one primary and one replica on this machine, one team, one webhook, and one
application using cachewatch.tracing whose prometheus_client metrics are on port 8000. Tracing on defaults."""

from cachewatch.spec import Application, Cluster, Escalation, FleetSpec, Node, Region, Team, WebhookChannel

spec = FleetSpec(
    name="small",
    regions=[
        Region(name="local", clusters=[
            Cluster(name="cache", team="platform", nodes=[
                Node(address="127.0.0.1:6379", role="primary", shard="s0"),
                Node(address="127.0.0.1:6380", role="replica", shard="s0"),
            ]),
        ]),
    ],
    teams=[
        Team(name="platform",
             channels={"oncall-hook": WebhookChannel(url="http://127.0.0.1:5001/alerts")},
             escalation=Escalation(critical=["oncall-hook"], warning=["oncall-hook"])),
    ],
    applications=[Application(name="demo-app", team="platform", targets=["127.0.0.1:8000"])],
)
