"""Alert quality at the spec's default intervals, the short versions of bench/alert_quality.py's quiet fleet and
fault matrix, on one real stack (tests/support/alert_stack.py: redis-servers, the exporter, a Prometheus HA pair and
an Alertmanager cluster of two configured by ``cachewatch generate``, the alert lifecycle service, fake
email/Slack/PagerDuty/webhook receivers):

- the healthy fleet under steady traffic, through a replica's full resync, evictions and a planned restart inside the
  spec's maintenance window, notifies no one, and no alert fires but the restarted node's (muted);
- then each fault pages the owning team at every receiver within 60 s, at its severity, and no other team:
  the exporter killed (RedisExporterDown to the platform team, no node's team paged for the nodes it hides), a
  replica that stops applying the replication stream (the /probe heartbeat: RedisReplicationDelayHighCritical), a
  killed node (RedisDown).

Each test judges one part with the bench's own rules (imported from it, so the two cannot drift). The Redis Cluster
is left out, the quiet run lasts 90 s instead of 30 minutes, a critical row waits at most just over the minute it
must meet, and no row waits for its resolved notification, only for its alerts to clear.
"""

from __future__ import annotations

import pytest

from bench.alert_quality import BY_NAME, CRITICAL_BUDGET, Row, run_matrix, table
from bench.quiet_fleet import RESTARTED, QuietReport, maintenance_window, quiet_run
from tests.support.alert_stack import running_alert_stack

pytestmark = pytest.mark.e2e

FAULTS = ("exporter-killed", "replica-lagging", "node-killed")
QUIET, RESTART_AT, DOWN = 90.0, 20.0, 25.0  # the planned restart's node is down long enough for RedisDown to fire
TIMEOUT = CRITICAL_BUDGET + 5  # later than the minute fails anyway; the bench waits longer to say how late


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[QuietReport, dict[str, Row]]:
    with running_alert_stack(tmp_path_factory.mktemp("alert-quality"), redis_cluster=False,
                             maintenance=[maintenance_window(120 + QUIET)]) as stack:
        quiet = quiet_run(stack, QUIET, restart_at=RESTART_AT, down=DOWN)
        rows = run_matrix(stack, [BY_NAME[name] for name in FAULTS], timeout=TIMEOUT, hold=0, resolve_timeout=0,
                          settle_limit=60)
    print(f"\n{quiet.summary()}\n{table(rows)}")
    return quiet, {row.fault: row for row in rows}


def judged(row: Row) -> str:
    return f"{row.fault}: {'; '.join(row.reasons)}\n{table([row])}"


def test_the_healthy_fleet_under_traffic_notifies_no_one(runs: tuple[QuietReport, dict[str, Row]]) -> None:
    quiet, _ = runs
    assert not quiet.notifications, quiet.summary()
    assert not quiet.fired, quiet.summary()


def test_the_planned_restart_fired_in_prometheus_and_was_muted_by_the_window(
        runs: tuple[QuietReport, dict[str, Row]]) -> None:
    quiet, _ = runs
    assert any(name.startswith("RedisDown{") for name in quiet.fired_planned), quiet.summary()
    assert RESTARTED in " ".join(quiet.events)


def test_a_killed_exporter_pages_the_platform_team_and_no_node_owner(
        runs: tuple[QuietReport, dict[str, Row]]) -> None:
    row = runs[1]["exporter-killed"]
    assert row.passed, judged(row)


def test_a_lagging_replica_pages_its_team_everywhere_within_a_minute(
        runs: tuple[QuietReport, dict[str, Row]]) -> None:
    row = runs[1]["replica-lagging"]
    assert row.passed, judged(row)


def test_a_killed_node_pages_its_team_everywhere_within_a_minute(runs: tuple[QuietReport, dict[str, Row]]) -> None:
    row = runs[1]["node-killed"]
    assert row.passed, judged(row)
