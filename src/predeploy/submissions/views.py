"""How models and submissions are shown: output records and event payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..accounts.actor import Actor
from ..accounts.models import Scope
from ..runtime import Context
from .models import AccessVariant, AiModel, Submission, SubmissionTransition
from .schemas import (
    AttachmentOut,
    Contact,
    ModelOut,
    SubmissionDetail,
    SubmissionOut,
    TransitionOut,
    VariantOut,
)
from .scope import decide_scope
from .states import FINAL_STATES, Party, State, move_for, moves_from
from .visibility import may_act_as
from .window import days_remaining, window_state

# The window is closed, and no time is left, once the report is issued or the submission ended.
ENDED_STATES = FINAL_STATES | {State.REPORT_ISSUED}


def model_out(ctx: Context, model: AiModel) -> ModelOut:
    """The model, with its scope under the current policy."""
    scope = decide_scope(
        model.training_flop, model.declared_frontier, ctx.settings.scope_min_training_flop
    )
    return ModelOut(
        id=model.id,
        org_id=model.org_id,
        name=model.name,
        version=model.version,
        weights_digest=model.weights_digest,
        modalities=model.modalities,
        training_flop=model.training_flop,
        declared_frontier=model.declared_frontier,
        in_scope=scope.in_scope,
        scope_reason=scope.reason,
        created_at=model.created_at,
    )


def _variant_out(variant: AccessVariant) -> VariantOut:
    key = variant.key
    return VariantOut(
        id=variant.id,
        label=variant.label,
        model=variant.model,
        base_url=variant.base_url,
        has_api_key=key is not None and key.destroyed_at is None,
        api_key_destroyed_at=key.destroyed_at if key is not None else None,
        created_at=variant.created_at,
    )


def allowed_targets(actor: Actor, sub: Submission) -> list[State]:
    """States `actor` may move `sub` to by request (system-only moves are never listed)."""
    if not (actor.is_system or Scope.WRITE in actor.scopes):
        return []
    return [
        m.target
        for m in moves_from(State(sub.state), include_system=False)
        if may_act_as(actor, m.party, sub.org_id)
    ]


def submission_out(ctx: Context, sub: Submission) -> SubmissionOut:
    """The submission as the caller sees it, with the window as of now."""
    now = ctx.now()
    ended = State(sub.state) in ENDED_STATES
    return SubmissionOut(
        id=sub.id,
        org_id=sub.org_id,
        model_id=sub.model_id,
        model_name=sub.model.name,
        model_version=sub.model.version,
        state=State(sub.state),
        planned_release_at=sub.planned_release_at,
        access_granted_at=sub.access_granted_at,
        access_expires_at=sub.access_expires_at,
        window_start=sub.window_start,
        report_due_at=sub.report_due_at,
        days_remaining=None if ended else days_remaining(sub.report_due_at, now),
        window_state=window_state(sub.window_start, sub.report_due_at, now, ended=ended),
        compressed_window=sub.compressed_window,
        warnings=sub.warnings,
        in_scope=sub.in_scope,
        scope_reason=sub.scope_reason,
        access_variants=[_variant_out(v) for v in sub.variants],
        contacts=[Contact.model_validate(c) for c in sub.contacts],
        declared_safeguards=sub.declared_safeguards,
        attachments=[
            AttachmentOut.model_validate(a, from_attributes=True) for a in sub.attachments
        ],
        allowed_transitions=allowed_targets(ctx.actor, sub),
        created_at=sub.created_at,
        updated_at=sub.updated_at,
    )


def submission_detail(ctx: Context, sub: Submission) -> SubmissionDetail:
    """The submission with its state history."""
    rows = ctx.session.scalars(
        select(SubmissionTransition)
        .where(SubmissionTransition.submission_id == sub.id)
        .order_by(SubmissionTransition.seq)
    )
    history = []
    for row in rows:
        source = State(row.from_state) if row.from_state else None
        move = move_for(source, State(row.to_state)) if source else None
        history.append(
            TransitionOut(
                from_state=source,
                to_state=State(row.to_state),
                party=move.party if move else Party.DEVELOPER,
                reason=row.reason,
                created_at=row.created_at,
            )
        )
    return SubmissionDetail(**submission_out(ctx, sub).model_dump(), history=history)


def iso(value: datetime) -> str:
    """A time as ISO 8601 text (for audit details and event payloads)."""
    return value.isoformat()


def event_payload(sub: Submission) -> dict[str, Any]:
    """What a notification about `sub` carries: no secrets, no contacts."""
    return {
        "submission_id": sub.id,
        "model_name": sub.model.name,
        "model_version": sub.model.version,
        "state": sub.state,
        "planned_release_at": iso(sub.planned_release_at),
        "window_start": iso(sub.window_start),
        "report_due_at": iso(sub.report_due_at),
    }
