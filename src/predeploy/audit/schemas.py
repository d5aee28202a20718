"""Output records for audit events, checkpoints and chain verification."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditActor(BaseModel):
    user_id: str | None = Field(description="Null when the server itself acted.")
    label: str = Field(description="The user's email, or what the server was doing.")


class AuditObject(BaseModel):
    type: str
    id: str


class AuditEventOut(BaseModel):
    """One audit event as the API shows it."""

    seq: int
    time: datetime
    actor: AuditActor
    org_id: str | None
    action: str
    object: AuditObject
    change_digest: str = Field(description="SHA-256 of the canonical JSON of the change.")
    detail: dict[str, Any]
    prev_hash: str
    row_hash: str = Field(description="sha256(prev_hash + canonical JSON of the row).")


class CheckpointOut(BaseModel):
    """A signed checkpoint: keep a copy off the server to anchor the chain independently."""

    seq: int
    head_hash: str
    row_count: int
    signed_at: datetime
    key_id: str
    signature: str = Field(description="Base64 Ed25519 signature of the canonical JSON message.")


class VerifyResult(BaseModel):
    """The outcome of walking the chain (and, if asked, checking it against its checkpoints)."""

    ok: bool
    rows_checked: int
    head_seq: int = Field(description="Last row accepted (0 for an empty chain).")
    head_hash: str
    first_bad_seq: int | None = Field(
        description="First row that is missing, altered, out of place or contradicts a checkpoint."
    )
    bad_checkpoint_seq: int | None = Field(
        default=None, description="The checkpoint that is forged or that the chain contradicts."
    )
    reason: str | None
    checkpoints_checked: int = 0
    last_checkpoint_seq: int | None = None
