"""cachewatch.spec: the fleet spec model and its loader."""

from cachewatch.spec.load import SpecError, json_schema, load_spec
from cachewatch.spec.model import (
    SLO,
    AlertLifecycle,
    Application,
    Business,
    CheckLevels,
    Cluster,
    EmailChannel,
    EmailTLS,
    Escalation,
    ExporterDeployment,
    FleetSpec,
    Intervals,
    Links,
    MaintenanceWindow,
    Node,
    PagerDutyChannel,
    RedisCredentials,
    Region,
    Retention,
    SecretRef,
    SlackChannel,
    TailSampling,
    Team,
    Thresholds,
    TimeWindow,
    Tracing,
    WebhookChannel,
)

__all__ = ["SLO", "AlertLifecycle", "Application", "Business", "CheckLevels", "Cluster", "EmailChannel", "EmailTLS",
           "Escalation", "ExporterDeployment", "FleetSpec", "Intervals", "Links", "MaintenanceWindow", "Node",
           "PagerDutyChannel", "RedisCredentials", "Region", "Retention", "SecretRef", "SlackChannel", "SpecError",
           "TailSampling", "Team", "Thresholds", "TimeWindow", "Tracing", "WebhookChannel", "json_schema", "load_spec"]
