"""The first schema: episodes, their startsAt keys, events, received notifications.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "episodes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        *(sa.Column(name, sa.String(size), nullable=False, server_default="")
          for name, size in (("alertname", 200), ("team", 100), ("cluster", 200), ("region", 200), ("severity", 20))),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("generator_url", sa.Text, nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float),
        sa.Column("resolution_inferred", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("first_seen_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
        *(sa.Column(name, sa.Float) for name in ("timeout_at", "missing_since", "first_notified_at",
                                                  "last_notified_at")),
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
    )
    op.create_index("ix_episodes_fingerprint_starts", "episodes", ["fingerprint", "starts_at"])
    op.create_index("ix_episodes_team_starts", "episodes", ["team", "starts_at"])
    op.create_index("ix_episodes_state", "episodes", ["state"])
    op.create_index("ix_episodes_starts", "episodes", ["starts_at"])
    op.create_table(
        "episode_keys",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("starts_us", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("episode_id", sa.String(32), sa.ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("episode_id", sa.String(32), sa.ForeignKey("episodes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False, server_default=""),
        sa.Column("source", sa.String(16), nullable=False, server_default=""),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_episode", "events", ["episode_id", "id"])
    op.create_index("ix_events_kind_at", "events", ["kind", "at"])
    op.create_table(
        "notifications",
        sa.Column("payload_hash", sa.String(64), primary_key=True),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False, server_default=""),
        sa.Column("group_key", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default=""),
        sa.Column("alerts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("truncated_alerts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_notifications_received", "notifications", ["received_at"])


def downgrade() -> None:
    for table in ("notifications", "events", "episode_keys", "episodes"):
        op.drop_table(table)
