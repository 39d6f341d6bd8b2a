"""cachewatch.alert_rules: the fleet spec → Prometheus rules, SLOs, tests, scrape config and Alertmanager routing."""
