"""Input and output records for notification events, webhooks, deliveries and the allowlist."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from ..accounts.schemas import Strict
from .models import DeliveryStatus

_SEGMENT = r"[a-z][a-z0-9_]*"
KIND_PATTERN = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})+$")
FILTER_PATTERN = re.compile(rf"^(\*|{_SEGMENT}(\.{_SEGMENT})*\.\*|{_SEGMENT}(\.{_SEGMENT})+)$")
"""A subscription's filter entry: an exact kind, `prefix.*`, or `*`."""


class WebhookCreate(Strict):
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL on an allowed host.")
    events: list[str] = Field(
        min_length=1,
        max_length=50,
        description="Event kinds to receive: exact (`submission.accepted`), "
        "a prefix (`submission.*`), or `*` for all.",
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Signing secret; default: generated and shown once in the response.",
    )

    @field_validator("events")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not FILTER_PATTERN.match(pattern):
                raise ValueError(
                    f"{pattern!r} is not an event kind (like submission.accepted), "
                    "a prefix (like submission.*) or *"
                )
        return sorted(set(value))


class WebhookOut(BaseModel):
    id: str
    org_id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    deactivated_at: datetime | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret. Shown once; stored encrypted.")


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_kind: str
    subscription_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class AllowedHostCreate(Strict):
    host: str = Field(
        min_length=1, max_length=300, description="`host`, `host:port` or `*.domain`."
    )
    note: str = Field(default="", max_length=500)


class AllowedHostOut(BaseModel):
    id: str
    host: str
    note: str
    created_at: datetime


class EventOut(BaseModel):
    id: str
    kind: str
    org_id: str
    subject_type: str
    subject_id: str
    payload: dict[str, Any]
    created_at: datetime
