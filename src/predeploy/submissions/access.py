"""Model access keys: encrypted at rest, decrypted only for the agency while access lasts,
destroyed (the ciphertext overwritten) on withdrawal, on any final state and at access expiry.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from ..accounts.models import Scope
from ..audit.service import record
from ..errors import Conflict, NotFound, PermissionDenied
from ..runtime import Context
from .models import AccessKey, AccessVariant, Submission
from .schemas import AccessVariantIn
from .states import ACCESS_STATES, FINAL_STATES, State


def add_variant(ctx: Context, sub: Submission, data: AccessVariantIn) -> AccessVariant:
    """Store an access variant; its API key (if any) only ever as ciphertext."""
    now = ctx.now()
    variant = AccessVariant(
        submission_id=sub.id,
        label=data.label,
        model=data.model,
        base_url=data.base_url,
        created_at=now,
    )
    ctx.session.add(variant)
    ctx.session.flush()
    if data.api_key is not None:
        ciphertext = ctx.runtime.secrets.encrypt(data.api_key.get_secret_value())
        ctx.session.add(AccessKey(variant_id=variant.id, ciphertext=ciphertext, created_at=now))
    return variant


def destroy_keys(ctx: Context, sub: Submission, *, reason: str) -> list[str]:
    """Overwrite every remaining key of `sub` with NULL; returns the labels whose key went."""
    now = ctx.now()
    keys = ctx.session.execute(
        select(AccessVariant.label, AccessKey)
        .join(AccessKey, AccessKey.variant_id == AccessVariant.id)
        .where(AccessVariant.submission_id == sub.id, AccessKey.ciphertext.is_not(None))
        .order_by(AccessVariant.label)
    ).all()
    labels = []
    for label, key in keys:
        key.ciphertext = None
        key.destroyed_at = now
        key.destroyed_reason = reason
        labels.append(label)
    if labels:
        ctx.session.flush()
        record(
            ctx,
            "submission.keys_destroyed",
            "submission",
            sub.id,
            {"variants": labels, "reason": reason},
            org_id=sub.org_id,
            detail={"variants": labels, "reason": reason},
        )
    return labels


def expire_access(ctx: Context) -> int:
    """Destroy the keys of every submission whose access has expired or that has ended.

    Run periodically by the system; returns how many keys were destroyed.
    """
    actor = ctx.actor
    if not (actor.is_system or actor.is_agency_staff):
        raise PermissionDenied("only the system or agency staff expire access")
    actor.require_scope(Scope.WRITE)
    now = ctx.now()
    subs = ctx.session.scalars(
        select(Submission)
        .where(
            Submission.id.in_(
                select(AccessVariant.submission_id)
                .join(AccessKey, AccessKey.variant_id == AccessVariant.id)
                .where(AccessKey.ciphertext.is_not(None))
            ),
            or_(
                Submission.access_expires_at <= now,
                Submission.state.in_([s.value for s in FINAL_STATES]),
            ),
        )
        .order_by(Submission.access_expires_at, Submission.id)
    ).all()
    destroyed = 0
    for sub in subs:
        reason = "access_expired" if sub.access_expires_at <= now else sub.state
        destroyed += len(destroy_keys(ctx, sub, reason=reason))
    return destroyed


def get_api_key(ctx: Context, variant_id: str) -> str:
    """Decrypt a variant's API key for a test run (agency staff or the system only).

    Refused once access has expired, before it is granted, outside accepted/testing, and after
    destruction. Every use is in the audit log.
    """
    actor = ctx.actor
    if not (actor.is_system or actor.is_agency_staff):
        raise NotFound(f"access variant {variant_id} not found")
    variant = ctx.session.get(AccessVariant, variant_id)
    if variant is None:
        raise NotFound(f"access variant {variant_id} not found")
    sub = ctx.session.get_one(Submission, variant.submission_id)
    now = ctx.now()
    if now >= sub.access_expires_at:
        raise Conflict("model access has expired; the key is no longer usable")
    if now < sub.access_granted_at:
        raise Conflict("model access has not been granted yet")
    if State(sub.state) not in ACCESS_STATES:
        raise Conflict(f"model access is not available while the submission is {sub.state}")
    key = ctx.session.get(AccessKey, variant_id)
    if key is None or key.ciphertext is None:
        raise Conflict(f"access variant {variant.label} has no API key (none given, or destroyed)")
    plaintext = ctx.runtime.secrets.decrypt(key.ciphertext)
    record(
        ctx,
        "access_variant.key_use",
        "access_variant",
        variant.id,
        {"variant_id": variant.id},
        org_id=sub.org_id,
        detail={"submission_id": sub.id, "label": variant.label},
    )
    return plaintext
