"""Who may act on which alert, and how acks and escalation behave per team and severity: read from the spec."""

from __future__ import annotations

from dataclasses import dataclass

from cachewatch.spec import FleetSpec
from cachewatch.spec.model import SEVERITIES, AckMode, team_members


@dataclass(frozen=True)
class TeamPolicy:
    members: frozenset[str]
    ack_modes: dict[str, AckMode]
    ack_timeouts: dict[str, float | None]
    escalates: bool


@dataclass(frozen=True)
class Policy:
    teams: dict[str, TeamPolicy]
    admins: frozenset[str]
    ack_lease: float = 1800.0
    ack_max: float = 12 * 3600.0
    merge_grace: float = 300.0
    reconcile_interval: float = 30.0
    absent_grace: float = 90.0
    flap_window: float = 3600.0
    flap_episodes: int = 3
    retention_days: int = 90

    @classmethod
    def from_spec(cls, spec: FleetSpec) -> Policy:
        life = spec.alert_lifecycle
        members = team_members(spec)
        teams = {
            team.name: TeamPolicy(
                members=frozenset(members[team.name]),
                ack_modes={s: team.escalation.ack_mode(s) for s in SEVERITIES},
                ack_timeouts={s: team.escalation.ack_timeout(s) for s in SEVERITIES},
                escalates=bool(team.escalation.escalate_to))
            for team in spec.teams}
        return cls(teams=teams, admins=frozenset(life.admins), ack_lease=life.ack_lease, ack_max=life.ack_max,
                   merge_grace=life.merge_grace, reconcile_interval=life.reconcile_interval,
                   absent_grace=life.absent_grace,
                   flap_window=life.flap_window, flap_episodes=life.flap_episodes,
                   retention_days=life.retention_days or spec.retention.metrics_days)

    @property
    def users(self) -> frozenset[str]:
        return self.admins.union(*(t.members for t in self.teams.values()))

    def may_act(self, user: str, team: str) -> bool:
        """Members of the alert's team and admins; an alert of an unknown team only admins."""
        policy = self.teams.get(team)
        return user in self.admins or (policy is not None and user in policy.members)

    def teams_of(self, user: str) -> frozenset[str]:
        if user in self.admins:
            return frozenset(self.teams)
        return frozenset(name for name, t in self.teams.items() if user in t.members)

    def ack_mode(self, team: str, severity: str) -> AckMode:
        policy = self.teams.get(team)
        return policy.ack_modes.get(severity, "notify") if policy else "silence"

    def ack_timeout(self, team: str, severity: str) -> float | None:
        policy = self.teams.get(team)
        if policy is None or not policy.escalates:
            return None
        return policy.ack_timeouts.get(severity)
