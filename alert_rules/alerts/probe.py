"""probe.yml: what the exporter's active probes (``/probe``, job ``redis-probe``) see and the ``redis`` job cannot:
a probe that fails, replication delay measured by the heartbeat, and health checks at critical.

``RedisHealthCheckCritical`` is the generic alert for checks the exporter's metrics cannot express. A check with
``metrics`` already has its own alerts in checks-*.yml (alert_rules/check_alerts.py), at the severity its row chose
(some page only as a warning: a critical level is above the warning one, so that alert fires too), and
``net.connect`` is also the probe failing itself (RedisProbeFailing): all are left out here, derived from the
check table, so no check alerts twice. RedisDown inhibits every ``scope="node"`` alert of its instance
(alertmanager.py), these included, so a dead node pages once.
"""

from __future__ import annotations

from cachewatch.alert_rules.alerts.rows import Ctx, Row
from cachewatch.checks import CHECKS, Check
from cachewatch.promql import PROBE, PROBE_JOB, num, selector
from cachewatch.rulefmt import Series, Severity

SUCCESS, DELAY, CHECK_STATUS = ("redis_probe_success", "redis_replication_probe_delay_seconds",
                                "redis_health_check_status")
CONNECT_CHECK = "net.connect"  # judged by the prober: its failure is redis_probe_success == 0
HEALTH, REPLICATION = {"job": PROBE_JOB, "module": "health"}, {"job": PROBE_JOB, "module": "replication"}
ITS_REPLICA = {"replica": "10.9.9.2:6379"}  # the replica the test primary's heartbeat reaches
PANEL = "cachewatch-health"
CRITICAL = 'severity="critical"'


def alerted_elsewhere() -> list[str]:
    """Check ids with an alert of their own: those with metrics (checks-*.yml) and the probe's connect check."""
    return sorted({CONNECT_CHECK, *(check.id for check in CHECKS.values() if check.metrics is not None)})


def generic_check() -> Check:
    """A check that can reach critical and has no alert of its own: the fire case of the generic alert."""
    return next(c for c in CHECKS.values() if c.thresholds.critical is not None and c.id not in alerted_elsewhere())


def m(c: Ctx, name: str, *extra: str) -> str:
    """``name{job="redis-probe", <variant>, <extra>}``: the probe's series, as ``Ctx.m`` selects the redis job's."""
    return selector(name, PROBE, c.sel, *extra)


def rows(c: Ctx) -> list[Row]:
    return [
        Row(name="RedisProbeFailing", severity="warning", scope="node", for_="3m", panel=f"{PANEL}/probe",
            expr=f"{m(c, SUCCESS)} == 0", summary="The health probe of a Redis node fails",
            description="The {{ $labels.module }} probe of {{ $labels.instance }} ({{ $labels.cluster }}/"
                        "{{ $labels.shard }}, {{ $labels.role }}) fails: see the probe phases panel for the "
                        "phase that failed (the last one with a duration).",
            runbook_text="The exporter cannot connect, finish TLS or AUTH, get a PING answer, or (module "
                         "replication) write and read back the heartbeat key within the probe's timeout. A slow "
                         "phase points at the network or an overloaded node; a failed auth at the auth_module's "
                         "credentials; a failed heartbeat at the ACL of the exporter's user, which needs SET on "
                         "the heartbeat key on primaries and GET on replicas.",
            test=c.case(fire=[c.series(SUCCESS, "1 0x20", **HEALTH)], quiet=[c.series(SUCCESS, "1x20", **HEALTH)],
                        labels=HEALTH)),
        delay(c, name="RedisReplicationDelayHigh", level=c.t.replication_delay_warning_seconds, for_="5m",
              severity="warning"),
        # for: 0s. One heartbeat above the critical level is already a sustained observation: the write did not
        # reach the replica for that many seconds (10 s by default), far more than two scrapes agreeing. A failed
        # probe (the replica restarting, syncing, refusing the GET) has no delay series, so it cannot fire this. A
        # ``for`` of one more probe would add 15 s and break the minute (docs/alert-latency.md); keep_firing_for
        # one probe stops a single good probe mid-fault from resolving and re-paging it.
        delay(c, name="RedisReplicationDelayHighCritical", level=c.t.replication_delay_critical_seconds, for_="0s",
              severity="critical", keep_firing_for=c.one_probe),
        check_critical(c),
    ]


def delay(c: Ctx, *, name: str, level: float, for_: str, severity: Severity, keep_firing_for: str = "") -> Row:
    labels = {**REPLICATION, **ITS_REPLICA}
    return Row(
        name=name, severity=severity, scope="node", twin="replication-delay", for_=for_, panel=f"{PANEL}/delay",
        keep_firing_for=keep_firing_for,
        expr=f"{m(c, DELAY)} > {num(level)}", summary="Writes reach a Redis replica late",
        description='A heartbeat written on {{ $labels.instance }} took {{ $value | printf "%.2f" }}s to reach '
                    "replica {{ $labels.replica }}.",
        runbook_text="The replica serves data this far behind the primary (measured end to end, unlike INFO's "
                     "lag). Check the replica's CPU, disk (AOF fsync) and network, and big writes or slow commands "
                     "on the primary (RedisReplicationLagBytes, the slowlog).",
        # above the level (twice it); the quiet case sits just below it, above the lower level for the critical
        test=c.case(fire=[c.series(DELAY, f"{num(level * 2)}x20", **labels)],
                    quiet=[c.series(DELAY, f"{num(level * 0.9)}x20", **labels)], value=level * 2, labels=labels),
    )


def check_critical(c: Ctx) -> Row:
    fire = generic_check()
    own = next((check for check in CHECKS.values() if check.metrics is not None), CHECKS[CONNECT_CHECK])
    excluded = "|".join(check_id.replace(".", "[.]") for check_id in alerted_elsewhere())  # exact ids
    not_elsewhere = f'check!~"{excluded}"'

    def status(check: Check, critical: str) -> list[Series]:
        return [c.series(CHECK_STATUS, values, **HEALTH, check=check.id, category=check.category.value,
                         severity=severity) for severity, values in (("critical", critical), ("warning", "0x20"))]

    labels = {**HEALTH, "check": fire.id, "category": fire.category.value, "severity": "critical"}
    return Row(
        # for: 0s, keep_firing_for one probe: the probe judges a check from one consistent snapshot of the node, and
        # a failed probe reports no check at all, so a failed probe cannot fire this; the critical levels it pages
        # for are no normal cache behaviour (a command that blocked every client for 0.5 s, a user without a
        # password). A ``for`` of one more probe (15 s) would break the minute (docs/alert-latency.md).
        name="RedisHealthCheckCritical", severity="critical", scope="node", for_="0s", keep_firing_for=c.one_probe,
        panel=f"{PANEL}/checks",
        expr=f"{m(c, CHECK_STATUS, CRITICAL, not_elsewhere)} == 1",
        summary="A Redis health check is critical",
        description="{{ $labels.instance }}: health check {{ $labels.check }} ({{ $labels.category }}) is "
                    "critical.",
        runbook_text="Look the check id (the alert's check label) up in docs/checks.md: what it measures, why it "
                     "matters and the fix; `cachewatch diagnose` on the node prints the numbers it saw.",
        # quiet: the check resolved, and a check with its own alert at critical (it must not alert twice)
        test=c.case(fire=status(fire, "1x20"),
                    quiet=[*status(fire, "1 0x20"), *status(own, "1x20")], labels=labels),
    )
