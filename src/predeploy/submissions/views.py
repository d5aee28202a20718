"""How models and submissions are shown: output records and event payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, select

from ..accounts.actor import Actor
from ..accounts.models import Scope
from ..runtime import Context
from .models import AccessVariant, AiModel, Attachment, Submission, SubmissionTransition
from .schemas import (
    AttachmentOut,
    Contact,
    ModelOut,
    SubmissionDetail,
    SubmissionSummary,
    TransitionOut,
    VariantOut,
)
from .scope import decide_scope
from .states import ENDED_STATES, Party, State, move_for, moves_from
from .visibility import may_act_as
from .window import days_remaining, window_state


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
    if not actor.holds(Scope.WRITE):
        return []
    return [
        m.target
        for m in moves_from(State(sub.state), include_system=False)
        if may_act_as(actor, m.party, sub.org_id)
    ]


def attachment_out(row: Attachment) -> AttachmentOut:
    return AttachmentOut.model_validate(row, from_attributes=True)


SUMMARY_COLUMNS = (
    Submission.id,
    Submission.org_id,
    Submission.model_id,
    AiModel.name.label("model_name"),
    AiModel.version.label("model_version"),
    Submission.state,
    Submission.planned_release_at,
    Submission.window_start,
    Submission.report_due_at,
    Submission.compressed_window,
    Submission.at_risk,
    Submission.in_scope,
    Submission.created_at,
    Submission.updated_at,
)
"""What `submission_summary` reads: one joined row per submission, no related objects."""


def summary_query() -> Select[Any]:
    # Typed loosely on purpose: rows are read by column name in `submission_summary`.
    query = cast("Select[Any]", select(*SUMMARY_COLUMNS))
    return query.join(AiModel, AiModel.id == Submission.model_id)


def submission_summary(ctx: Context, row: Row[Any]) -> SubmissionSummary:
    """A list item from a row of `summary_query()`, with the window as of now."""
    return _summary(ctx, row, model_name=row.model_name, model_version=row.model_version)


def _summary(
    ctx: Context, source: Row[Any] | Submission, *, model_name: str, model_version: str
) -> SubmissionSummary:
    now = ctx.now()
    state = State(source.state)
    ended = state in ENDED_STATES
    # Built without validation: every value comes from typed columns (lists are the hot path).
    return SubmissionSummary.model_construct(
        id=source.id,
        org_id=source.org_id,
        model_id=source.model_id,
        model_name=model_name,
        model_version=model_version,
        state=state,
        planned_release_at=source.planned_release_at,
        window_start=source.window_start,
        report_due_at=source.report_due_at,
        days_remaining=None if ended else days_remaining(source.report_due_at, now),
        window_state=window_state(source.window_start, source.report_due_at, now, ended=ended),
        compressed_window=source.compressed_window,
        at_risk=source.at_risk,
        in_scope=source.in_scope,
        created_at=source.created_at,
        updated_at=source.updated_at,
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
    summary = _summary(ctx, sub, model_name=sub.model.name, model_version=sub.model.version)
    return SubmissionDetail(
        **dict(summary),
        access_granted_at=sub.access_granted_at,
        access_expires_at=sub.access_expires_at,
        warnings=sub.warnings,
        at_risk_reason=sub.at_risk_reason,
        scope_reason=sub.scope_reason,
        access_variants=[_variant_out(v) for v in sub.variants],
        contacts=[Contact.model_validate(c) for c in sub.contacts],
        declared_safeguards=sub.declared_safeguards,
        attachments=[attachment_out(a) for a in sub.attachments],
        allowed_transitions=allowed_targets(ctx.actor, sub),
        history=history,
    )


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
