"""The demo's fleet spec: exactly the local stack (a primary and a replica, one exporter, one Alertmanager, the
lifecycle service, one application), on the free ports picked for this run, with short intervals so that a
fault pages within seconds. Everything else is the product's defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from cachewatch.local_redis import free_port
from cachewatch.spec import FleetSpec

TEAM, USER, APP = "platform", "demo", "demo-app"
CLUSTER, REGION, SHARD = "demo-cache", "local", "s0"
RECEIVER_PATH = "/alerts"

# Seconds. The product's defaults (10 s scrapes and evaluations, 15 s probes) page within a minute; the demo
# scrapes and evaluates every 2 s so a killed node pages within about ten. A probe's deadline must stay above the
# replication heartbeat's critical delay (the spec refuses it otherwise), so both are lowered together.
INTERVALS = {"scrape": 2, "scrape_timeout": 1.5, "evaluation": 2, "group_wait": 1, "group_interval": 5,
             "probe": 5, "probe_timeout": 4}
THRESHOLDS = {"replication_delay_warning_seconds": 1, "replication_delay_critical_seconds": 3}
# The service polls Alertmanager every second and concludes a resolve 5 s after an alert is gone (the silenced,
# acked alert's resolve reaches it only that way); the product's 30 s / 90 s suit a real network.
LIFECYCLE = {"reconcile_interval": 1, "absent_grace": 5}


@dataclass(frozen=True)
class Ports:
    """host:port of every listener of the demo, free when picked."""

    primary: str
    replica: str
    exporter: str
    prometheus: str
    alertmanager: str
    victoria_metrics: str
    lifecycle: str
    app: str
    receiver: str

    @classmethod
    def pick(cls, primary: str, replica: str) -> Ports:
        """The Redis servers' addresses (they listen already) and a free port for everything else."""
        ports: set[int] = set()
        while len(ports) < len(fields(cls)) - 2:
            ports.add(free_port())
        return cls(primary, replica, *(f"127.0.0.1:{port}" for port in sorted(ports)))


def raw_spec(ports: Ports) -> dict[str, Any]:
    """The spec as a user would write it in YAML (the demo writes it to spec.yaml for the lifecycle service)."""
    return {
        "name": "demo",
        "regions": [{"name": REGION, "clusters": [{
            "name": CLUSTER, "team": TEAM, "kind": "cache",
            "nodes": [{"address": ports.primary, "role": "primary", "shard": SHARD},
                      {"address": ports.replica, "role": "replica", "shard": SHARD}]}]}],
        "teams": [{"name": TEAM, "members": [USER],
                   "channels": {"demo-receiver": {"kind": "webhook",
                                                  "url": f"http://{ports.receiver}{RECEIVER_PATH}"}},
                   "escalation": {"critical": ["demo-receiver"], "warning": ["demo-receiver"]}}],
        "intervals": INTERVALS,
        "thresholds": THRESHOLDS,
        "exporter": {"addresses": [ports.exporter]},
        "links": {"alertmanager_urls": [ports.alertmanager],
                  "prometheus_external_url": f"http://{ports.prometheus}",
                  "alertmanager_external_url": f"http://{ports.alertmanager}"},
        "alert_lifecycle": {"listen": ports.lifecycle, **LIFECYCLE},
        "applications": [{"name": APP, "team": TEAM, "targets": [ports.app]}],
    }


def demo_spec(ports: Ports) -> FleetSpec:
    return FleetSpec.model_validate(raw_spec(ports))
