"""Tables: AI models, submissions, access variants and their encrypted keys, attachments, history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import ID, Base, new_id


class AiModel(Base):
    """A model a developer org registers; one row per (name, version or checkpoint)."""

    __tablename__ = "ai_models"
    __table_args__ = (
        UniqueConstraint("org_id", "name", "version"),
        Index("ix_ai_models_org_created", "org_id", "created_at", "id"),
        Index("ix_ai_models_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    weights_digest: Mapped[str | None] = mapped_column(String(200), default=None)
    modalities: Mapped[list[str]]
    training_flop: Mapped[float | None] = mapped_column(Float, default=None)
    declared_frontier: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]


class Submission(Base):
    """A model offered for pre-release testing, with its window and access."""

    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_org_created", "org_id", "created_at", "id"),
        Index("ix_submissions_created", "created_at", "id"),
        Index("ix_submissions_state_due", "state", "report_due_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    model_id: Mapped[str] = mapped_column(ForeignKey("ai_models.id"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    planned_release_at: Mapped[datetime]
    access_granted_at: Mapped[datetime]
    access_expires_at: Mapped[datetime]
    window_start: Mapped[datetime]
    report_due_at: Mapped[datetime]
    compressed_window: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by campaigns: the running plans' estimated time exceeds the time left to the deadline.
    at_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    at_risk_reason: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[list[str]]
    in_scope: Mapped[bool] = mapped_column(Boolean)
    scope_reason: Mapped[str] = mapped_column(String(300))
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    declared_safeguards: Mapped[list[str]]
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Which deadline notifications went out, so the scan skips them without asking the outbox.
    notified_window_open: Mapped[bool] = mapped_column(Boolean, default=False)
    notified_due_soon_for: Mapped[datetime | None] = mapped_column(default=None)
    notified_overdue_for: Mapped[datetime | None] = mapped_column(default=None)

    # Joined rather than selected separately: every read of a submission needs its model and
    # each variant's key state, and on PostgreSQL each extra query is a round trip.
    model: Mapped[AiModel] = relationship(lazy="joined", innerjoin=True)
    variants: Mapped[list[AccessVariant]] = relationship(
        lazy="selectin", order_by="AccessVariant.label"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        lazy="selectin", order_by="Attachment.created_at"
    )

    @property
    def default_variant(self) -> AccessVariant | None:
        """The variant a plan item tests unless it names one: the first given (by label on a
        tie, as variants given together share their time)."""
        ordered = sorted(self.variants, key=lambda v: (v.created_at, v.label))
        return ordered[0] if ordered else None


class AccessVariant(Base):
    """One way to reach the submitted model: a label, an Inspect model string, a base URL."""

    __tablename__ = "access_variants"
    __table_args__ = (UniqueConstraint("submission_id", "label"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(300))
    base_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    created_at: Mapped[datetime]

    key: Mapped[AccessKey | None] = relationship(lazy="joined")


class AccessKey(Base):
    """A variant's API key, encrypted with the server's secret key; destroyed by overwriting.

    Kept apart from the variant, and the ciphertext deferred, so that showing variants never
    loads it: `destroyed_at` says whether a key is still there.
    """

    __tablename__ = "access_keys"

    variant_id: Mapped[str] = mapped_column(ForeignKey("access_variants.id"), primary_key=True)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    created_at: Mapped[datetime]
    destroyed_at: Mapped[datetime | None] = mapped_column(default=None)
    destroyed_reason: Mapped[str | None] = mapped_column(String(50), default=None)


class Attachment(Base):
    """A model card, system card or other document attached to a submission."""

    __tablename__ = "submission_attachments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Deferred: listing submissions must never pull documents into memory.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]


class SubmissionTransition(Base):
    """One state change of a submission, with who made it and why (append-only)."""

    __tablename__ = "submission_transitions"
    # `seq` orders a submission's history: under a frozen or coarse clock, times tie.
    __table_args__ = (UniqueConstraint("submission_id", "seq"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"))
    seq: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_user_id: Mapped[str | None] = mapped_column(ID, default=None)
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
