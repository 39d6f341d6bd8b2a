"""The lifecycle store's tables, in SQLAlchemy Core: one schema for SQLite and PostgreSQL.

Times are float epoch seconds (UTC); the episode key's ``starts_us`` is an integer so that equality is exact.
Labels and annotations are JSON (TEXT on SQLite, JSON on PostgreSQL); the columns queries filter on
(alertname, team, cluster, region, severity, state) are copied out of the labels and indexed.
The migrations (store/migrations/versions) create exactly these tables; a test compares the two.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

episodes = sa.Table(
    "episodes", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("alertname", sa.String(200), nullable=False, server_default=""),
    sa.Column("team", sa.String(100), nullable=False, server_default=""),
    sa.Column("cluster", sa.String(200), nullable=False, server_default=""),
    sa.Column("region", sa.String(200), nullable=False, server_default=""),
    sa.Column("severity", sa.String(20), nullable=False, server_default=""),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("annotations", sa.JSON, nullable=False),
    sa.Column("generator_url", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("starts_at", sa.Float, nullable=False),
    sa.Column("ends_at", sa.Float),
    sa.Column("resolution_inferred", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("first_seen_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Column("timeout_at", sa.Float),  # the endsAt Alertmanager's API last showed for the firing alert
    sa.Column("missing_since", sa.Float),  # first reconciliation that found it in no Alertmanager
    sa.Column("first_notified_at", sa.Float),
    sa.Column("last_notified_at", sa.Float),
    sa.Column("last_notified_status", sa.String(16)),
    sa.Column("notifications", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_ack_at", sa.Float),
    sa.Column("first_ack_by", sa.String(128)),
    sa.Column("acked_at", sa.Float),
    sa.Column("acked_by", sa.String(128)),
    sa.Column("ack_silence_id", sa.String(64)),
    sa.Column("ack_silence_ends_at", sa.Float),
    sa.Column("escalated_at", sa.Float),
    sa.Column("escalation_active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("closed_at", sa.Float),
    sa.Column("closed_by", sa.String(128)),
    sa.Column("classification", sa.String(32)),
    sa.Column("close_notes", sa.Text),
    sa.Column("closed_while_firing", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reopened_from", sa.String(32)),
    sa.Column("flapping", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_episodes_fingerprint_starts", "fingerprint", "starts_at"),
    sa.Index("ix_episodes_team_starts", "team", "starts_at"),
    sa.Index("ix_episodes_state", "state"),
    sa.Index("ix_episodes_starts", "starts_at"),
)

# Every startsAt an episode answers to: its own, and the ones merged in (restarts). Unique, so two writers
# (replicas, HA duplicates on two connections) can never open the same episode twice.
episode_keys = sa.Table(
    "episode_keys", metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("starts_us", sa.BigInteger, primary_key=True),
    sa.Column("episode_id", sa.String(32), sa.ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("episode_id", sa.String(32), sa.ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False, server_default=""),
    sa.Column("source", sa.String(16), nullable=False, server_default=""),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Index("ix_events_episode", "episode_id", "id"),
    sa.Index("ix_events_kind_at", "kind", "at"),
)

# One row per webhook payload received (its hash): an exact replay is recognised before any work.
notifications = sa.Table(
    "notifications", metadata,
    sa.Column("payload_hash", sa.String(64), primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("receiver", sa.String(200), nullable=False, server_default=""),
    sa.Column("group_key", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False, server_default=""),
    sa.Column("alerts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("truncated_alerts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_notifications_received", "received_at"),
)
