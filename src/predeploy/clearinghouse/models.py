"""Tables: vulnerability reports (`vulns`), their attachments, who they are shared with, and the
client organisations that TLP:AMBER lets a recipient pass them on to."""

from __future__ import annotations

import enum
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
from sqlalchemy.orm import Mapped, mapped_column

from ..db import ID, Base, new_id


class Tlp(enum.StrEnum):
    """Traffic Light Protocol 2.0 labels (FIRST), as written in capitals without spaces."""

    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER+STRICT"
    RED = "RED"


class VulnKind(enum.StrEnum):
    """What a vulnerability report is about."""

    AI_MODEL = "ai_model"
    """A flaw in an AI model: a jailbreak or safeguard bypass, prompt injection, data leakage."""
    SOFTWARE = "software"
    """A flaw in software (often one that an AI model found)."""
    AI_SYSTEM = "ai_system"
    """A flaw in an agent framework or a tool integration around a model."""


class VulnStatus(enum.StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    DUPLICATE = "duplicate"
    DECLINED = "declined"
    CASE_OPENED = "case_opened"


class SharedObject(enum.StrEnum):
    """The kinds of object that carry a TLP label and explicit recipients."""

    VULN = "vuln"


class Vuln(Base):
    """A vulnerability report filed with the clearinghouse."""

    __tablename__ = "vulns"
    __table_args__ = (
        Index("ix_vulns_created", "created_at", "id"),
        Index("ix_vulns_reporter_created", "reporter_org_id", "created_at", "id"),
        Index("ix_vulns_status_priority", "status", "priority", "created_at"),
        Index("ix_vulns_fingerprint", "fingerprint"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    tlp: Mapped[str] = mapped_column(String(20))
    embargo_end: Mapped[datetime | None] = mapped_column(default=None)
    """Until then only explicit recipients (and the reporter and the agency) see the report."""
    status: Mapped[str] = mapped_column(String(20))
    close_reason: Mapped[str | None] = mapped_column(Text, default=None)
    priority: Mapped[int] = mapped_column(Integer)
    """1 (most urgent) to 5."""
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    reporter_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    reporter_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    share_consent: Mapped[bool] = mapped_column(Boolean)
    """The reporter lets the clearinghouse share the report itself beyond the agency."""
    credit_consent: Mapped[bool] = mapped_column(Boolean)
    """The reporter wants to be credited by name."""
    cwe: Mapped[str | None] = mapped_column(String(20), default=None)
    cvss_vector: Mapped[str | None] = mapped_column(String(300), default=None)
    cvss_version: Mapped[str | None] = mapped_column(String(5), default=None)
    cvss_score: Mapped[float | None] = mapped_column(Float, default=None)
    cvss_severity: Mapped[str | None] = mapped_column(String(20), default=None)
    affected: Mapped[list[Any]] = mapped_column(JSON)
    model: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    technique: Mapped[dict[str, Any]] = mapped_column(JSON)
    root_cause: Mapped[str | None] = mapped_column(String(500), default=None)
    """Where the flaw lives in code (`path/file.c:function`), for software; part of dedupe."""
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    ssvc: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The analyst's SSVC Coordinator Triage decision: inputs, outcome, table version."""
    fingerprint: Mapped[str] = mapped_column(String(80))
    duplicate_of_id: Mapped[str | None] = mapped_column(ForeignKey("vulns.id"), default=None)
    finding_id: Mapped[str | None] = mapped_column(ForeignKey("report_findings.id"), default=None)
    """The evaluator's finding this report was filed from, if any."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class VulnAttachment(Base):
    """A file attached to a vulnerability report; proof-of-concept content is encrypted."""

    __tablename__ = "vuln_attachments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    vuln_id: Mapped[str] = mapped_column(ForeignKey("vulns.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    """Of the plaintext: visible to everyone who sees the report, so a payload can be matched
    without being seen."""
    proof_of_concept: Mapped[bool] = mapped_column(Boolean)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]


class ShareRecipient(Base):
    """An explicit recipient of a shared object: an organisation, or (for TLP:RED) a user."""

    __tablename__ = "share_recipients"
    __table_args__ = (
        UniqueConstraint("object_type", "object_id", "org_id", "user_id"),
        Index("ix_share_recipients_org", "org_id", "object_type", "object_id"),
        Index("ix_share_recipients_user", "user_id", "object_type", "object_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[str] = mapped_column(ID)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    added_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]


class OrgClient(Base):
    """An organisation's declared client: TLP:AMBER lets the org share with it (need to know)."""

    __tablename__ = "org_clients"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    client_org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id"), primary_key=True, index=True
    )
    declared_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]
