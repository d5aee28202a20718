"""Tables: report versions (drafts and signed issues), evaluators' findings, agency settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import ID, Base, new_id


class Report(Base):
    """One version of a submission's report: a draft, or an issued (signed, immutable) version.

    A draft holds the `ReportDocument` it would issue; issuing stores the exact canonical bytes
    that were signed, so every download is byte for byte what the signature covers.
    """

    __tablename__ = "reports"
    # The unique constraint also serves every lookup by submission (its leading column).
    __table_args__ = (UniqueConstraint("submission_id", "version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("reports.id"), default=None)
    amendment_reason: Mapped[str | None] = mapped_column(Text, default=None)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set when issued; deferred so that listing versions never loads the signed bytes.
    signed_bytes: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    signature: Mapped[str | None] = mapped_column(String(100), default=None)
    key_id: Mapped[str | None] = mapped_column(String(32), default=None)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    approver_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime]
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    issued_at: Mapped[datetime | None] = mapped_column(default=None)


class Finding(Base):
    """An evaluator's finding about a submission's model; it goes into the next report draft."""

    __tablename__ = "report_findings"
    __table_args__ = (
        Index("ix_report_findings_submission_created", "submission_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"))
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10))
    transcripts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # The clearinghouse vulnerability report this finding was sent as (the vuln links back).
    vuln_id: Mapped[str | None] = mapped_column(String(36), default=None)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]


class AgencySetting(Base):
    """One setting agency admins change at run time (e.g. the two-person rule); audited."""

    __tablename__ = "agency_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(ID, default=None)
    updated_at: Mapped[datetime]
