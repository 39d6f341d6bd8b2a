"""Security: failed logins, ACL denials by reason and user, rejected connections, risky configuration."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from cachewatch.dashboards.common import Board, Q, m, rate, thresholds
from cachewatch.spec.model import FleetSpec

UID = "cachewatch-security"
AUTH, NOT_AUTH = 'reason="auth"', 'reason!="auth"'
NOEVICTION = 'maxmemory_policy="noeviction"'


def build(spec: FleetSpec) -> dm.Dashboard:
    t = spec.thresholds
    b = Board(spec, UID, "Security", "Authentication failures, ACL denials, rejected connections and risky "
              "configuration of the selected nodes.")
    b.panel("timeseries", "Failed logins", "Failed authentications per second by user (ACL LOG, reason auth). "
            f"Alert above {t.auth_failures_per_second:g}/s.", "reqps",
            [Q(f"sum by (instance, user) ({rate('redis_acl_denials_total', extra=AUTH)})",
               "{{user}} @ {{instance}}")], key="auth",
            steps=thresholds((None, "green"), (t.auth_failures_per_second, "red")))
    b.panel("timeseries", "ACL denials", "Commands, keys and channels denied by ACL per second, by reason and user. "
            f"Alert above {t.acl_denials_per_second:g}/s.", "reqps",
            [Q(f"sum by (reason, user) ({rate('redis_acl_denials_total', extra=NOT_AUTH)})",
               "{{reason}} {{user}}")], key="acl",
            steps=thresholds((None, "green"), (t.acl_denials_per_second, "red")))
    b.panel("table", "Risky configuration", "Nodes without maxmemory (1 in 'no maxmemory') and nodes with the "
            "noeviction policy (a cache that refuses writes when full).", "none",
            [Q(f"{m('redis_memory_max_bytes')} == bool 0", instant=True, fmt="table"),
             Q(f"count by (instance, cluster) ({m('redis_instance_info', extra=NOEVICTION)})",
               instant=True, fmt="table")], key="config")
    b.panel("timeseries", "Rejected connections", "Connections rejected per second because of maxclients.", "reqps",
            [Q(rate("redis_rejected_connections_total"), "{{instance}}")])
    return b.build()
