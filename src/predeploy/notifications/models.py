"""Tables: the outbox of events, webhook subscriptions, their deliveries, and the host allowlist."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import ID, Base, new_id


class DeliveryStatus(enum.StrEnum):
    """Where one webhook delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class NotificationEvent(Base):
    """One event in the outbox, written in the same transaction as the change it reports.

    Subject ids are plain strings (no foreign key) so that any area may emit events about its
    own objects without this table depending on theirs.
    """

    __tablename__ = "notification_events"
    __table_args__ = (
        Index("ix_notification_events_org_created", "org_id", "created_at", "id"),
        Index("ix_notification_events_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    subject_type: Mapped[str] = mapped_column(String(50))
    subject_id: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)


class WebhookSubscription(Base):
    """An organisation's endpoint for events; the signing secret is stored encrypted."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_kinds: Mapped[list[str]]
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]
    deactivated_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookDelivery(Base):
    """One event sent (or to be sent) to one subscription, with its retry state."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(ForeignKey("notification_events.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)

    event: Mapped[NotificationEvent] = relationship(lazy="joined", innerjoin=True)


class AllowedHost(Base):
    """A webhook destination the agency allows: `host`, `host:port`, or `*.domain`."""

    __tablename__ = "webhook_allowed_hosts"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    host: Mapped[str] = mapped_column(String(300), unique=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]
