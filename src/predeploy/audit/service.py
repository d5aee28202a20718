"""The audit log: appending (`record`), reading, verifying and signing checkpoints."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..accounts.models import Role
from ..canonical import digest
from ..errors import Conflict, InvalidInput, PermissionDenied
from ..keys import public_key_id
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from ..runtime import Context
from ._verify import START, Position, bad_signature, verify_connection, walk
from .chain import checkpoint_message, row_hash
from .models import GENESIS_HASH, AuditCheckpoint, AuditEvent
from .schemas import AuditActor, AuditEventOut, AuditObject, CheckpointOut, VerifyResult

__all__ = [
    "ChainBroken",
    "checkpoint",
    "checkpoint_if_due",
    "latest_checkpoint",
    "list_events",
    "record",
    "verify",
]

# Arbitrary constant naming the PostgreSQL advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x70726564
_LABEL_MAX = AuditEvent.__table__.c.actor_label.type.length  # type: ignore[attr-defined]


class ChainBroken(Conflict):
    """The chain is damaged, so the server refuses to sign a checkpoint over it (HTTP 409)."""

    code = "audit_chain_broken"


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
        # The label (an email can be 320 characters) is hashed as stored, so cut it to fit first.
        "actor_label": actor.label[:_LABEL_MAX],
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


def _event_out(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        seq=event.seq,
        time=event.created_at,
        actor=AuditActor(user_id=event.actor_user_id, label=event.actor_label),
        org_id=event.org_id,
        action=event.action,
        object=AuditObject(type=event.object_type, id=event.object_id),
        change_digest=event.change_digest,
        detail=event.detail,
        prev_hash=event.prev_hash,
        row_hash=event.row_hash,
    )


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"audit|{seq}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        kind, seq = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        if kind == "audit":
            return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise InvalidInput("cursor is not one this server issued", field="cursor")


def list_events(
    ctx: Context,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[AuditEventOut]:
    """Audit events, newest first: all of them for agency admins, their org's for org admins."""
    actor = ctx.actor
    query = select(AuditEvent)
    if not (actor.is_system or actor.is_agency_admin):
        if not (actor.has_role(Role.ADMIN) and actor.org_id):
            raise PermissionDenied(
                "only agency admins, and organisation admins for their own organisation, "
                "may read the audit log"
            )
        query = query.where(AuditEvent.org_id == actor.org_id)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    for column, value in (
        (AuditEvent.object_type, object_type),
        (AuditEvent.object_id, object_id),
        (AuditEvent.action, action),
    ):
        if value is not None:
            query = query.where(column == value)
    if cursor:
        query = query.where(AuditEvent.seq < _decode_cursor(cursor))
    rows = list(ctx.session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[_event_out(row) for row in rows],
        next_cursor=_encode_cursor(rows[-1].seq) if more else None,
    )


def verify(
    ctx: Context,
    *,
    with_checkpoints: bool = False,
    public_key: Ed25519PublicKey | None = None,
) -> VerifyResult:
    """Walk the whole chain in seq order, recomputing every hash; stop at the first bad row.

    Detects modified, deleted, inserted and reordered rows. With `with_checkpoints`, every signed
    checkpoint must verify with `public_key` (default: the agency key it names, current or
    retired by a rotation) and the chain
    must pass through each checkpoint's head with its row count, which also reveals a truncated
    tail or a rewrite with recomputed hashes; having no checkpoint at all then fails too.
    """
    if not (ctx.actor.is_system or ctx.actor.is_agency_admin):
        raise PermissionDenied("only agency admins verify the audit log")
    public_keys = (
        {public_key_id(public_key): public_key}
        if public_key is not None
        else ctx.runtime.public_keys
    )
    return verify_connection(
        ctx.session.connection(), with_checkpoints=with_checkpoints, public_keys=public_keys
    )


def _checkpoint_out(checkpoint: AuditCheckpoint) -> CheckpointOut:
    return CheckpointOut(
        seq=checkpoint.seq,
        head_hash=checkpoint.head_hash,
        row_count=checkpoint.row_count,
        signed_at=checkpoint.signed_at,
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
    )


def _latest(session: Session) -> AuditCheckpoint | None:
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    return session.scalars(query).first()


def latest_checkpoint(ctx: Context) -> CheckpointOut | None:
    """The most recent signed checkpoint, if any."""
    latest = _latest(ctx.session)
    return _checkpoint_out(latest) if latest else None


def _verified_head(ctx: Context, previous: AuditCheckpoint | None) -> Position:
    """The chain's head, after checking every row since `previous` (or since the start)."""
    start = START
    if previous is not None:
        problem = bad_signature(previous, ctx.runtime.public_keys)
        if problem is not None:
            raise ChainBroken(f"{problem.reason}; refusing to sign a new checkpoint")
        anchored = ctx.session.scalar(
            select(AuditEvent.row_hash).where(AuditEvent.seq == previous.seq)
        )
        if anchored != previous.head_hash:
            raise ChainBroken(
                f"row {previous.seq} is missing or differs from the last signed checkpoint; "
                "refusing to sign a new one (run `predeploy audit verify --checkpoint`)"
            )
        start = Position(previous.seq, previous.head_hash, previous.row_count)
    result = walk(ctx.session.connection(), start)
    if result.problem is not None:
        raise ChainBroken(
            f"the audit chain is broken: {result.problem.reason}; refusing to sign a checkpoint "
            "over it (run `predeploy audit verify`)"
        )
    return result.end


def _require_signer(ctx: Context) -> None:
    if not (ctx.actor.is_system or ctx.actor.is_agency_staff):
        raise PermissionDenied("only the server and agency staff sign audit checkpoints")


def checkpoint(ctx: Context) -> CheckpointOut:
    """Sign the chain's head and row count with the agency key, and record that in the chain.

    The checkpoint's own audit event is appended first, so the checkpoint covers it. Rows since
    the previous checkpoint are verified before signing (that checkpoint vouches for the rest),
    so a damaged chain is never signed: ChainBroken (409) instead. Runs inside the caller's
    transaction, e.g. the one that issues a report.
    """
    _require_signer(ctx)
    session = ctx.session
    _lock_chain(session)
    session.flush()
    previous = _latest(session)
    head = _verified_head(ctx, previous)
    seq = head.seq + 1
    previous_seq = previous.seq if previous else None
    event = record(
        ctx,
        "audit.checkpoint",
        "audit_checkpoint",
        str(seq),
        {"seq": seq, "after_hash": head.hash, "previous_checkpoint_seq": previous_seq},
        detail={"previous_checkpoint_seq": previous_seq},
    )
    assert event.seq == seq, "the chain lock is held, so nothing else can append"
    key = ctx.runtime.signing_key
    signed_at = ctx.now()
    row_count = head.rows + 1
    signed = AuditCheckpoint(
        seq=seq,
        head_hash=event.row_hash,
        row_count=row_count,
        signed_at=signed_at,
        key_id=key.key_id,
        signature=key.sign(checkpoint_message(seq, event.row_hash, row_count, signed_at)),
    )
    session.add(signed)
    session.flush()
    return _checkpoint_out(signed)


def checkpoint_if_due(
    ctx: Context, interval: timedelta = timedelta(hours=1)
) -> CheckpointOut | None:
    """Sign a checkpoint if the last one is at least `interval` old and the chain has grown since.

    An idle log is not re-signed every hour: the last checkpoint already covers it (including
    its own event). Safe to call from several server processes at once.
    """
    _require_signer(ctx)
    _lock_chain(ctx.session)
    previous = _latest(ctx.session)
    if previous is not None:
        if ctx.now() - previous.signed_at < interval:
            return None
        head_seq = ctx.session.scalar(select(func.max(AuditEvent.seq)))
        if head_seq is None or head_seq <= previous.seq:
            return None
    return checkpoint(ctx)
