"""Appending to the audit log. Every state-changing service call goes through `record`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..canonical import digest
from ..runtime import Context
from .chain import row_hash
from .models import GENESIS_HASH, AuditEvent

# Arbitrary constant naming the PostgreSQL advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x70726564


def _lock_chain(session: Session) -> None:
    """Serialise appenders so the chain never forks.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback. SQLite: every
    transaction already starts with BEGIN IMMEDIATE (see `predeploy.db`), which holds the write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})


def record(
    ctx: Context,
    action: str,
    object_type: str,
    object_id: str,
    change: dict[str, Any],
    *,
    org_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    Args:
        ctx: the caller's context; the event commits or rolls back with the change itself, and
            its actor and clock say who and when.
        action: dotted verb, e.g. `submission.transition`.
        object_type: e.g. `submission`.
        object_id: the changed object's id.
        change: the change; only its SHA-256 digest is stored, so it may hold values that must
            not be kept in the log (never pass secrets all the same).
        org_id: the organisation the event belongs to (whose admins may read it); defaults to
            the actor's org.
        detail: a small, non-secret summary kept in clear (e.g. `{"from": "draft", "to": "submitted"}`).
    """
    session, actor = ctx.session, ctx.actor
    _lock_chain(session)
    session.flush()
    head = session.execute(
        select(AuditEvent.seq, AuditEvent.row_hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (head.seq + 1, head.row_hash) if head else (1, GENESIS_HASH)
    fields: dict[str, Any] = {
        "seq": seq,
        "prev_hash": prev_hash,
        "created_at": ctx.now(),
        "actor_user_id": actor.user_id,
        "actor_label": actor.label,
        "org_id": org_id if org_id is not None else actor.org_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "change_digest": digest(change),
        "detail": detail or {},
    }
    event = AuditEvent(**fields, row_hash=row_hash(fields))
    session.add(event)
    session.flush()
    return event
