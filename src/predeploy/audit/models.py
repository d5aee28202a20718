"""Tables: the append-only, hash-chained audit log and its signed checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import ID, Base

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    """One state change. `row_hash = sha256(prev_hash + canonical JSON of the row)`.

    Rows are only ever inserted: there is no update or delete path in the code, and database
    triggers refuse UPDATE and DELETE.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_seq", "org_id", "seq"),
        Index("ix_audit_events_object_seq", "object_type", "object_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    actor_user_id: Mapped[str | None] = mapped_column(ID)
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    org_id: Mapped[str | None] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(100))
    change_digest: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class AuditCheckpoint(Base):
    """The chain's head hash and row count at `seq`, signed with the agency's Ed25519 key.

    A chain alone cannot reveal a truncated tail or a rewrite with recomputed hashes; a signed
    checkpoint can, because nobody without the private key can sign the rewritten head. The
    table is append-only too (database triggers).
    """

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    signed_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))
