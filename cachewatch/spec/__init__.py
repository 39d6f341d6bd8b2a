"""cachewatch.spec: the fleet spec model and its loader."""

from cachewatch.spec.load import SpecError, json_schema, load_spec
from cachewatch.spec.model import (
    SLO,
    Business,
    Cluster,
    EmailChannel,
    Escalation,
    ExporterDeployment,
    FleetSpec,
    Intervals,
    Links,
    MaintenanceWindow,
    Node,
    PagerDutyChannel,
    Region,
    Retention,
    SecretRef,
    SlackChannel,
    Team,
    Thresholds,
    TimeWindow,
    WebhookChannel,
)

__all__ = ["SLO", "Business", "Cluster", "EmailChannel", "Escalation", "ExporterDeployment", "FleetSpec",
           "Intervals", "Links", "MaintenanceWindow", "Node", "PagerDutyChannel", "Region", "Retention",
           "SecretRef", "SlackChannel", "SpecError", "Team", "Thresholds", "TimeWindow", "WebhookChannel",
           "json_schema", "load_spec"]
