"""Alertmanager's wire formats → Observations: the webhook payload (version 4) and API v2 alerts.

Parsing is strict where a mistake would lose or corrupt history (version, status, times) and bounded where a
sender could exhaust memory (label counts and sizes); anything else Alertmanager adds later is ignored.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cachewatch.alert_lifecycle.model import Observation, Source, parse_time

MAX_LABELS = 64
MAX_VALUE = 4096
MAX_ALERTS = 1000


class PayloadError(ValueError):
    """A payload we refuse, with a reason fit for a 4xx body."""


def _bounded(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_LABELS:
        raise ValueError(f"more than {MAX_LABELS} entries")
    for key, text in value.items():
        if len(key) > 256 or len(text) > MAX_VALUE:
            raise ValueError(f"{key[:40]!r}: name over 256 or value over {MAX_VALUE} characters")
    return value


LabelSet = Annotated[dict[str, str], Field(default_factory=dict)]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WebhookAlert(_Loose):
    status: Literal["firing", "resolved"]
    labels: LabelSet
    annotations: LabelSet
    startsAt: str
    endsAt: str = ""
    generatorURL: str = Field("", max_length=MAX_VALUE)
    fingerprint: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-zA-Z]+$")

    _labels = field_validator("labels", "annotations")(_bounded)

    @field_validator("startsAt")
    @classmethod
    def _starts(cls, value: str) -> str:
        if parse_time(value) is None:
            raise ValueError("startsAt is required")
        return value

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _time(cls, value: str) -> str:
        try:
            parse_time(value)
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not an RFC 3339 time") from None
        return value


class WebhookPayload(_Loose):
    version: Literal["4"]
    groupKey: str = Field("", max_length=MAX_VALUE)
    truncatedAlerts: int = Field(0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = Field("", max_length=256)
    externalURL: str = Field("", max_length=MAX_VALUE)
    alerts: list[WebhookAlert] = Field(max_length=MAX_ALERTS)


def parse_webhook(body: bytes, seen_at: float) -> tuple[list[Observation], dict]:
    """One webhook body → its observations and the payload record (hash and header) for replay detection."""
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise PayloadError(f"{where}: {first['msg']}" + (f" (and {exc.error_count() - 1} more problems)"
                                                          if exc.error_count() > 1 else "")) from None
    detail = {"receiver": payload.receiver, "group_key": payload.groupKey[:200]}
    observations = [
        Observation(fingerprint=a.fingerprint, labels=a.labels, annotations=a.annotations,
                    starts_at=parse_time(a.startsAt) or seen_at, status=a.status, seen_at=seen_at,
                    source=Source.WEBHOOK, ends_at=parse_time(a.endsAt) if a.status == "resolved" else None,
                    notified=True, generator_url=a.generatorURL, detail=detail)
        for a in payload.alerts
    ]
    record = {"payload_hash": hashlib.sha256(body).hexdigest(), "received_at": seen_at,
              "receiver": payload.receiver[:200], "group_key": payload.groupKey, "status": payload.status,
              "alerts": len(payload.alerts), "truncated": payload.truncatedAlerts}
    return observations, record


def from_api_alert(alert: dict, seen_at: float) -> Observation:
    """One ``GET /api/v2/alerts`` entry (always unresolved there) → a firing observation whose endsAt is the
    time Alertmanager would time it out."""
    status = alert.get("status") or {}
    return Observation(
        fingerprint=alert["fingerprint"], labels=dict(alert.get("labels") or {}),
        annotations=dict(alert.get("annotations") or {}), starts_at=parse_time(alert["startsAt"]) or seen_at,
        status="firing", seen_at=seen_at, source=Source.RECONCILER, timeout_at=parse_time(alert.get("endsAt")),
        generator_url=alert.get("generatorURL", ""),
        detail={"state": status.get("state", ""), "silenced_by": status.get("silencedBy") or [],
                "inhibited_by": status.get("inhibitedBy") or []})
