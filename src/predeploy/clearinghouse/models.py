"""Tables: vulnerability reports (`vulns`), their attachments, who they are shared with, the
client organisations that TLP:AMBER lets a recipient pass them on to, coordinated-disclosure
cases (their vulnerabilities, invited vendors and their statuses, and discussion posts), and the
advisories published from cases with every revision kept."""

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
    ADVISORY = "advisory"


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
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    """The coordinated-disclosure case the report was taken into, if any."""


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


class CaseState(enum.StrEnum):
    """Where a coordinated-disclosure case is: open → coordinating → disclosed | closed."""

    OPEN = "open"
    COORDINATING = "coordinating"
    DISCLOSED = "disclosed"
    CLOSED = "closed"


class VendorStatus(enum.StrEnum):
    """A vendor's answer about one vulnerability of a case (CERT/CC VINCE's set)."""

    NOT_YET_ASSESSED = "not_yet_assessed"
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    FIXED = "fixed"
    UNDER_INVESTIGATION = "under_investigation"


class CaseCounter(Base):
    """The last case number given out in a year (`PDX-2026-0001`...), upserted atomically."""

    __tablename__ = "case_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class Case(Base):
    """A coordinated-disclosure case: linked reports, vulnerabilities, vendors, an embargo."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_created", "created_at", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    close_reason: Mapped[str | None] = mapped_column(Text, default=None)
    tlp: Mapped[str] = mapped_column(String(20))
    embargo_end: Mapped[datetime]
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    override_requested_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    """An analyst asked to end the embargo now; a second analyst must approve it."""
    override_reason: Mapped[str | None] = mapped_column(Text, default=None)
    override_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CaseVulnerability(Base):
    """One vulnerability coordinated in a case, with its scores."""

    __tablename__ = "case_vulnerabilities"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    cve_id: Mapped[str | None] = mapped_column(String(30), default=None)
    cwe: Mapped[str | None] = mapped_column(String(20), default=None)
    cvss_v3_vector: Mapped[str | None] = mapped_column(String(300), default=None)
    cvss_v3_score: Mapped[float | None] = mapped_column(Float, default=None)
    cvss_v3_severity: Mapped[str | None] = mapped_column(String(20), default=None)
    cvss_v4_vector: Mapped[str | None] = mapped_column(String(300), default=None)
    cvss_v4_score: Mapped[float | None] = mapped_column(Float, default=None)
    cvss_v4_severity: Mapped[str | None] = mapped_column(String(20), default=None)
    ssvc: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]


class CaseVendor(Base):
    """A vendor org invited to a case, and when its answer is due."""

    __tablename__ = "case_vendors"
    __table_args__ = (UniqueConstraint("case_id", "org_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    deadline: Mapped[datetime]
    invited_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]


class CaseVendorStatus(Base):
    """A vendor's status and statement for one case vulnerability; published once approved."""

    __tablename__ = "case_vendor_statuses"
    __table_args__ = (UniqueConstraint("vulnerability_id", "org_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    vulnerability_id: Mapped[str] = mapped_column(ForeignKey("case_vulnerabilities.id"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(30))
    statement: Mapped[str | None] = mapped_column(Text, default=None)
    updated_by: Mapped[str | None] = mapped_column(ID, default=None)
    updated_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    """Cleared by any later change: a new status or statement needs approving again."""


class CasePost(Base):
    """A discussion post in a case; its text lives in its revisions."""

    __tablename__ = "case_posts"
    __table_args__ = (Index("ix_case_posts_case_created", "case_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    author_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    author_org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    revisions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CasePostRevision(Base):
    """One text of a post: every edit adds one, none is ever changed."""

    __tablename__ = "case_post_revisions"
    __table_args__ = (UniqueConstraint("post_id", "number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    post_id: Mapped[str] = mapped_column(ForeignKey("case_posts.id"))
    number: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]


class Advisory(Base):
    """The advisory published from a case (one per case); its content lives in its revisions."""

    __tablename__ = "advisories"
    __table_args__ = (Index("ix_advisories_published", "published_at", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    """`PDXA-2026-0001`, from its case's number."""
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), unique=True)
    tlp: Mapped[str] = mapped_column(String(20))
    embargo_end: Mapped[datetime | None] = mapped_column(default=None)
    """The case's embargo end when the first revision was published (it had ended by then)."""
    published_revision: Mapped[int] = mapped_column(Integer)
    """The revision readers get; 0 until the first one is approved."""
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    """When revision 1 was published."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AdvisoryRevision(Base):
    """One version of an advisory's content, fixed by its SHA-256 once drafted; published when a
    second analyst approves that digest."""

    __tablename__ = "advisory_revisions"
    __table_args__ = (UniqueConstraint("advisory_id", "number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    advisory_id: Mapped[str] = mapped_column(ForeignKey("advisories.id"))
    number: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    """Of the content's RFC 8785 bytes: what the approver read."""
    author_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
