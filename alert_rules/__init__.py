"""cachewatch.alert_rules: the fleet spec → Prometheus alerts, SLOs, business records, their promtool tests, and
Alertmanager routing (``contribution.contribution(spec)`` for the generate pipeline)."""
