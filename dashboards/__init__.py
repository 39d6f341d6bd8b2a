"""Grafana dashboards and provisioning generated from the fleet spec (import name ``cachewatch.dashboards``).

Built with grafana-foundation-sdk's typed builders; ``generate.dashboards(spec)`` returns JSON-ready dicts and
``contribution.contribution(spec)`` hands them, with Grafana provisioning, to the generate pipeline.
"""
