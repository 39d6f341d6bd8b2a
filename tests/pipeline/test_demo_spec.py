"""The demo's embedded spec describes exactly the local stack it starts: what ``cachewatch generate`` writes for it
points Prometheus at the demo's exporter, lifecycle service and application, and Alertmanager at its receiver and
the lifecycle webhook, with the short intervals the demo announces."""

from __future__ import annotations

import yaml

from cachewatch.pipeline.build import build
from cachewatch.pipeline.demo.spec import INTERVALS, RECEIVER_PATH, USER, Ports, demo_spec, raw_spec
from cachewatch.spec import FleetSpec
from cachewatch.spec.types import parse_duration

PORTS = Ports(*(f"127.0.0.1:{port}" for port in range(7001, 7010)))


def generated() -> dict[str, dict]:
    texts = build(demo_spec(PORTS)).texts()
    return {name: yaml.safe_load(texts[f"{name}.yml"])
            for name in ("prometheus/prometheus", "alertmanager/alertmanager")}


def test_the_yaml_the_demo_writes_loads_as_the_same_spec() -> None:
    assert FleetSpec.model_validate(yaml.safe_load(yaml.safe_dump(raw_spec(PORTS)))) == demo_spec(PORTS)


def test_prometheus_scrapes_the_demo_stack_at_its_short_intervals() -> None:
    config = generated()["prometheus/prometheus"]
    assert config["global"]["scrape_interval"] == f"{INTERVALS['scrape']}s"
    assert config["global"]["evaluation_interval"] == f"{INTERVALS['evaluation']}s"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [PORTS.alertmanager]
    targets = {job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
               for job in config["scrape_configs"]}
    assert targets["redis"] == [PORTS.primary, PORTS.replica]
    assert targets["cachewatch-exporter"] == [PORTS.exporter]
    assert targets["cachewatch-alerts"] == [PORTS.lifecycle]
    assert targets["cachewatch-apps"] == [PORTS.app]


def test_alertmanager_pages_the_demo_receiver_and_records_every_alert_in_the_lifecycle_service() -> None:
    config = generated()["alertmanager/alertmanager"]
    hooks = {r["name"]: [h["url"] for h in r.get("webhook_configs", [])] for r in config["receivers"]}
    assert hooks["cachewatch-history"] == [f"http://{PORTS.lifecycle}/webhook"]
    assert hooks["platform-critical"] == [f"http://{PORTS.receiver}{RECEIVER_PATH}"]
    critical = next(r for team in config["route"]["routes"] for r in team.get("routes", [])
                    if r["receiver"] == "platform-critical")
    assert parse_duration(critical["group_wait"]) == INTERVALS["group_wait"]


def test_the_demo_user_may_ack_the_teams_alerts() -> None:
    assert [team.members for team in demo_spec(PORTS).teams] == [[USER]]
