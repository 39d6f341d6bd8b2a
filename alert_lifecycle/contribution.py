"""What the alert lifecycle service adds to ``cachewatch generate``: Alertmanager's history route and receiver,
and Prometheus' scrape job for the service's /metrics.

Why the history route looks like this (../shared/reference/alert-lifecycle.md §4 pitfalls, §5.1 point 5):
- the first child of the root, ``continue: true``: every alert reaches it before a team route
  (``continue: false``) ends the walk, and it takes nothing away from the team routes below it. Its one matcher
  leaves out ``CachewatchWatchdog``, the dead man's switch that always fires: it is the pipeline's pulse, not an
  incident, and as an episode it would never resolve and count as the longest outage in every analytic.
- ``group_by: ['...']``: one alert per group, so each post is about one alert with its own timing; a grouped post
  carries the whole group again and again (pitfall 1).
- ``group_wait: 0s``: the firing is recorded when it happens, not one group wait later.
- ``group_interval: 30s``: resolves wait for the next group_interval tick (pitfall 4) and a fire-and-resolve inside
  one interval is never sent (pitfall 3); short keeps both small. MTTR comes from ``endsAt``, not receive time.
- ``repeat_interval: 12h``: a repeat carries nothing new (pitfall 7); the reconciler, polling Alertmanager's API,
  checks liveness and catches what a webhook never carries (silenced or inhibited alerts, pitfall 2).
- receiver: ``send_resolved: true`` or episodes never close from the webhook (pitfall 5); ``max_alerts: 0`` never
  truncates a post (pitfall 6); the bearer token as ``credentials_file``: Alertmanager expands no environment
  variables, and the token itself never lands in a generated file.
- no time intervals: the history records maintenance and off-hours alerts too.
"""

from __future__ import annotations

from typing import Any

from cachewatch.artifacts import Alerting, Contribution, Json
from cachewatch.promql import ALERTS_JOB, HISTORY_RECEIVER, NOT_WATCHDOG
from cachewatch.spec import FleetSpec, SpecError
from cachewatch.spec.model import AlertLifecycle

PART = "alert_lifecycle"
WEBHOOK_PATH, METRICS_PATH = "/webhook", "/metrics"
# A bind-all address is where the service listens, not where Alertmanager and Prometheus can reach it.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "[::]", "::"})
HISTORY_ROUTE: Json = {"receiver": HISTORY_RECEIVER, "matchers": [NOT_WATCHDOG], "continue": True, "group_by": ["..."],
                       "group_wait": "0s", "group_interval": "30s", "repeat_interval": "12h"}


def _problems(lifecycle: AlertLifecycle) -> list[str]:
    out = []
    host = lifecycle.listen.rsplit(":", 1)[0]
    if host in WILDCARD_HOSTS:
        out.append(f"alert_lifecycle.listen: {lifecycle.listen!r} is a bind-all address, which Alertmanager and "
                   "Prometheus cannot reach; give the host:port they reach the service at")
    token = lifecycle.webhook_token
    if token is not None and token.file is None:
        out.append(f"alert_lifecycle.webhook_token: SecretRef(env={token.env!r}) cannot be used by Alertmanager, "
                   "which does not expand environment variables in its config; give SecretRef(file=...)")
    return out


def history_receiver(lifecycle: AlertLifecycle) -> Json:
    """The webhook to the service; the token is a file Alertmanager reads (and trims) on each post."""
    webhook: dict[str, Any] = {"url": f"http://{lifecycle.listen}{WEBHOOK_PATH}", "send_resolved": True,
                               "max_alerts": 0}
    if lifecycle.webhook_token is not None:
        webhook["http_config"] = {"authorization": {"credentials_file": lifecycle.webhook_token.file}}
    return {"name": HISTORY_RECEIVER, "webhook_configs": [webhook]}


def scrape_job(lifecycle: AlertLifecycle) -> Json:
    """The service's own metrics: the cachewatch_alert_* families the cachewatch-alerts dashboard reads."""
    return {"job_name": ALERTS_JOB, "metrics_path": METRICS_PATH,
            "static_configs": [{"targets": [lifecycle.listen]}]}


def scrape_comment(lifecycle: AlertLifecycle) -> str:
    return (f'Job "{ALERTS_JOB}": the alert lifecycle service (cachewatch alerts serve) at {lifecycle.listen}: '
            "episodes, MTTA/MTTR histograms,\nclassifications, escalations and its intake (cachewatch_alert_*).\n")


def contribution(spec: FleetSpec) -> Contribution:
    """Nothing when the service is disabled; raises SpecError (one line per problem) rather than write an address
    or a secret Alertmanager cannot use.

    No route tests of its own: every case of the alert rules' routing (which names the team receivers) also lists
    ``cachewatch-history`` while this part is enabled, and those cases run against the whole alertmanager.yml."""
    lifecycle = spec.alert_lifecycle
    if not lifecycle.enabled:
        return Contribution(part=PART)
    problems = _problems(lifecycle)
    if problems:
        raise SpecError("\n".join(problems))
    return Contribution(part=PART, scrape_jobs=(scrape_job(lifecycle),), scrape_comment=scrape_comment(lifecycle),
                        alerting=Alerting(routes=(dict(HISTORY_ROUTE),), receivers=(history_receiver(lifecycle),)))
