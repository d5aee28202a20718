"""Input and output records for models, submissions, access variants and attachments."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ..accounts.schemas import Strict
from .states import Party, State
from .window import WindowState


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "timezone_required",
            "a timezone is required (e.g. 2026-12-20T00:00:00Z or +01:00); naive times are "
            "ambiguous",
        )
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]
"""A datetime that must carry a timezone; naive ones are refused with a message saying so."""

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


WEIGHTS_DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


class ModelCreate(Strict):
    name: Name
    version: Name = Field(description="Version or checkpoint id.")
    weights_digest: str | None = Field(
        default=None, description="Digest of the weights, e.g. `sha256:<64 hex digits>`."
    )
    modalities: list[
        Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")]
    ] = Field(default_factory=lambda: ["text"], min_length=1, max_length=16)
    training_flop: float | None = Field(
        default=None, gt=0, le=1e40, allow_inf_nan=False, description="Declared training FLOP."
    )
    declared_frontier: bool = Field(
        default=False, description="The developer declares the model a frontier model."
    )

    @field_validator("weights_digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lower()
        if not WEIGHTS_DIGEST.match(value):
            raise PydanticCustomError(
                "weights_digest",
                "expected sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>",
            )
        return value

    @field_validator("modalities")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class ModelOut(BaseModel):
    id: str
    org_id: str
    name: str
    version: str
    weights_digest: str | None
    modalities: list[str]
    training_flop: float | None
    declared_frontier: bool
    in_scope: bool = Field(description="Under the current scope policy.")
    scope_reason: str
    created_at: datetime


LABEL = r"^[a-z0-9][a-z0-9._-]{0,63}$"
# Inspect model strings: provider/model, where model may have further slashes (openai-api/acme/m1).
INSPECT_MODEL = r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9_.:@+=-]+)+$"


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("base_url", "must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        # Credentials in a URL would be stored and shown in clear: they belong in api_key.
        raise PydanticCustomError("base_url", "must not contain credentials; use api_key")
    try:
        parts.port  # noqa: B018 (urlsplit validates the port lazily)
    except ValueError as exc:
        raise PydanticCustomError("base_url", "has an invalid port") from exc
    return value


class AccessVariantIn(Strict):
    label: str = Field(
        pattern=LABEL, description="e.g. `production`, `reduced-safeguards` (lowercase)."
    )
    model: str = Field(
        max_length=300,
        pattern=INSPECT_MODEL,
        description="Inspect model string, e.g. `openai-api/acme/m1`.",
    )
    base_url: Annotated[str | None, AfterValidator(_base_url)] = Field(
        default=None, max_length=2000
    )
    api_key: SecretStr | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Encrypted at rest, never returned; destroyed on withdrawal and at expiry.",
    )


class Contact(Strict):
    name: Name
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=50)


Safeguard = Annotated[str, Field(min_length=1, max_length=1000)]


class SubmissionCreate(Strict):
    model_id: str = Field(max_length=36)
    planned_release_at: AwareDatetime
    access_granted_at: AwareDatetime | None = Field(default=None, description="Default: now.")
    access_expires_at: AwareDatetime | None = Field(
        default=None, description="Default: the planned release."
    )
    access_variants: list[AccessVariantIn] = Field(min_length=1, max_length=20)
    contacts: list[Contact] = Field(default_factory=list, max_length=20)
    declared_safeguards: list[Safeguard] = Field(default_factory=list, max_length=50)

    @field_validator("access_variants")
    @classmethod
    def _unique_labels(cls, value: list[AccessVariantIn]) -> list[AccessVariantIn]:
        labels = [v.label for v in value]
        if len(set(labels)) != len(labels):
            raise PydanticCustomError("duplicate_label", "access variant labels must be unique")
        return value


class SubmissionUpdate(Strict):
    """A change by the developer; only the fields given change."""

    planned_release_at: AwareDatetime | None = None
    access_expires_at: AwareDatetime | None = None
    contacts: list[Contact] | None = Field(default=None, max_length=20)
    declared_safeguards: list[Safeguard] | None = Field(default=None, max_length=50)
    reason: str = Field(default="", max_length=2000, description="Why (kept in the audit log).")


class TransitionIn(Strict):
    to: State
    reason: str = Field(default="", max_length=2000)


class VariantOut(BaseModel):
    id: str
    label: str
    model: str
    base_url: str | None
    has_api_key: bool
    api_key_destroyed_at: datetime | None
    created_at: datetime


class AttachmentKind(enum.StrEnum):
    MODEL_CARD = "model_card"
    SYSTEM_CARD = "system_card"
    OTHER = "other"


class AttachmentOut(BaseModel):
    id: str
    kind: AttachmentKind
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class TransitionOut(BaseModel):
    from_state: State | None
    to_state: State
    party: Party
    reason: str
    created_at: datetime


class SubmissionSummary(BaseModel):
    """A submission as lists show it: identity, state and window (the detail has the rest)."""

    id: str
    org_id: str
    model_id: str
    model_name: str
    model_version: str
    state: State
    planned_release_at: datetime
    window_start: datetime
    report_due_at: datetime
    days_remaining: float | None = Field(description="Until the report is due; null once ended.")
    window_state: WindowState
    compressed_window: bool
    at_risk: bool = Field(
        description="The test plans still to run are estimated to need more than the time left."
    )
    in_scope: bool
    created_at: datetime
    updated_at: datetime


class SubmissionDetail(SubmissionSummary):
    """A submission with its access, contacts, documents, history and what the caller may do next."""

    access_granted_at: datetime
    access_expires_at: datetime
    warnings: list[str]
    at_risk_reason: str
    scope_reason: str
    access_variants: list[VariantOut]
    contacts: list[Contact]
    declared_safeguards: list[str]
    attachments: list[AttachmentOut]
    allowed_transitions: list[State] = Field(
        description="States the caller may move this submission to now."
    )
    history: list[TransitionOut]
