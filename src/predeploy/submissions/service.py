"""Rules for models and submissions: registration, the window, the state machine, deadlines.

Who may see what is in `visibility`; how things are shown is in `views`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from ..accounts.models import Scope
from ..audit.service import record
from ..errors import Conflict, InvalidInput, PermissionDenied
from ..notifications.service import emit
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, page_of, paginate
from ..runtime import Context
from . import access
from .access import expire_access as expire_access
from .access import get_api_key as get_api_key
from .models import AiModel, Submission, SubmissionTransition
from .schemas import (
    ModelCreate,
    ModelOut,
    SubmissionCreate,
    SubmissionDetail,
    SubmissionSummary,
    SubmissionUpdate,
)
from .scope import decide_scope
from .states import (
    ACTIVE_STATES,
    EDITABLE_STATES,
    FINAL_STATES,
    Party,
    State,
    describe_allowed,
    move_for,
)
from .views import (
    event_payload,
    iso,
    model_out,
    submission_detail,
    submission_summary,
    summary_query,
)
from .visibility import (
    may_act_as,
    own_org,
    require_developer_writer,
    scoped,
    visible_model,
    visible_submission,
)
from .window import Window, WindowPolicy, days_remaining, plan_window, reschedule_window

DUE_SOON = timedelta(hours=72)


# --- models ---------------------------------------------------------------------------------


def create_model(ctx: Context, data: ModelCreate) -> ModelOut:
    """Register a model of the caller's developer org (its submitters and admins)."""
    actor = ctx.actor
    org_id = own_org(actor)
    if org_id is None:
        raise PermissionDenied("only developer organisations register models")
    require_developer_writer(actor, org_id, "register models")
    taken = ctx.session.scalar(
        select(AiModel.id).where(
            AiModel.org_id == org_id, AiModel.name == data.name, AiModel.version == data.version
        )
    )
    if taken:
        raise Conflict(
            f"model {data.name!r} version {data.version!r} is already registered", field="version"
        )
    model = AiModel(
        org_id=org_id,
        name=data.name,
        version=data.version,
        weights_digest=data.weights_digest,
        modalities=data.modalities,
        training_flop=data.training_flop,
        declared_frontier=data.declared_frontier,
        created_by=actor.user_id,
        created_at=ctx.now(),
    )
    ctx.session.add(model)
    ctx.session.flush()
    record(
        ctx,
        "model.create",
        "ai_model",
        model.id,
        data.model_dump(mode="json"),
        org_id=org_id,
        detail={"name": model.name, "version": model.version},
    )
    return model_out(ctx, model)


def list_models(
    ctx: Context,
    *,
    name: str | None = None,
    version: str | None = None,
    org_id: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[ModelOut]:
    """Models the caller may see, newest first, optionally filtered."""
    query = scoped(ctx.actor, select(AiModel), AiModel.org_id)
    for column, value in ((AiModel.name, name), (AiModel.version, version)):
        if value is not None:
            query = query.where(column == value)
    if org_id is not None:
        query = query.where(AiModel.org_id == org_id)
    rows = list(ctx.session.scalars(paginate(query, AiModel.created_at, AiModel.id, cursor, limit)))
    return page_of(rows, limit, lambda m: model_out(ctx, m))


def get_model(ctx: Context, model_id: str) -> ModelOut:
    """One model, if the caller may see it."""
    return model_out(ctx, visible_model(ctx, model_id))


# --- submissions ----------------------------------------------------------------------------


def _policy(ctx: Context) -> WindowPolicy:
    return WindowPolicy.from_settings(ctx.settings)


def _add_history(ctx: Context, sub: Submission, source: State | None, reason: str) -> None:
    last = ctx.session.scalar(
        select(func.max(SubmissionTransition.seq)).where(
            SubmissionTransition.submission_id == sub.id
        )
    )
    ctx.session.add(
        SubmissionTransition(
            submission_id=sub.id,
            seq=(last or 0) + 1,
            from_state=source.value if source else None,
            to_state=sub.state,
            reason=reason,
            actor_user_id=ctx.actor.user_id,
            actor_label=ctx.actor.label,
            created_at=ctx.now(),
        )
    )


def create_submission(ctx: Context, data: SubmissionCreate) -> SubmissionDetail:
    """Offer one of the caller's models for testing; the submission starts as a draft."""
    actor = ctx.actor
    actor.require_scope(Scope.WRITE)
    model = visible_model(ctx, data.model_id, field="model_id")
    require_developer_writer(actor, model.org_id, "submit models")
    now = ctx.now()
    granted = data.access_granted_at or now
    expires = data.access_expires_at or data.planned_release_at
    window = plan_window(
        _policy(ctx),
        planned_release_at=data.planned_release_at,
        access_granted_at=granted,
        now=now,
        access_expires_at=expires,
    )
    scope = decide_scope(
        model.training_flop, model.declared_frontier, ctx.settings.scope_min_training_flop
    )
    sub = Submission(
        org_id=model.org_id,
        model_id=model.id,
        state=State.DRAFT.value,
        planned_release_at=data.planned_release_at,
        access_granted_at=granted,
        access_expires_at=expires,
        in_scope=scope.in_scope,
        scope_reason=scope.reason,
        contacts=[c.model_dump() for c in data.contacts],
        declared_safeguards=data.declared_safeguards,
        created_by=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    _apply_window(sub, window)
    ctx.session.add(sub)
    ctx.session.flush()
    for item in data.access_variants:
        access.add_variant(ctx, sub, item)
    _add_history(ctx, sub, None, "created")
    ctx.session.flush()
    record(
        ctx,
        "submission.create",
        "submission",
        sub.id,
        data.model_dump(mode="json", exclude={"access_variants": {"__all__": {"api_key"}}}),
        org_id=sub.org_id,
        detail={
            "model_id": model.id,
            "planned_release_at": sub.planned_release_at.isoformat(),
            "in_scope": sub.in_scope,
            "variants": [v.label for v in data.access_variants],
        },
    )
    ctx.session.refresh(sub)
    return submission_detail(ctx, sub)


def list_submissions(
    ctx: Context,
    *,
    state: State | None = None,
    org_id: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[SubmissionSummary]:
    """Submissions the caller may see, newest first (summaries: one query, no related objects)."""
    query = scoped(ctx.actor, summary_query(), Submission.org_id)
    if state is not None:
        query = query.where(Submission.state == state.value)
    if org_id is not None:
        query = query.where(Submission.org_id == org_id)
    paged = paginate(query, Submission.created_at, Submission.id, cursor, limit)
    rows = list(ctx.session.execute(paged))
    return page_of(rows, limit, lambda row: submission_summary(ctx, row))


def get_submission(ctx: Context, submission_id: str) -> SubmissionDetail:
    """One submission with its history, if the caller may see it."""
    return submission_detail(ctx, visible_submission(ctx, submission_id))


def due_submissions(ctx: Context, limit: int = 100) -> list[SubmissionSummary]:
    """Submissions that still owe a report, the nearest deadline first (overdue ones lead)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    query = scoped(ctx.actor, summary_query(), Submission.org_id).where(
        Submission.state.in_([s.value for s in ACTIVE_STATES])
    )
    rows = ctx.session.execute(query.order_by(Submission.report_due_at, Submission.id).limit(limit))
    return [submission_summary(ctx, row) for row in rows]


def update_submission(ctx: Context, submission_id: str, data: SubmissionUpdate) -> SubmissionDetail:
    """Change a submission (the developer): reschedule the release, extend access, contacts.

    A new release date recomputes the window, but a window that has already opened keeps its
    start: rescheduling never closes it.
    """
    sub = visible_submission(ctx, submission_id, lock=True)
    require_developer_writer(ctx.actor, sub.org_id, "change a submission")
    given = data.model_fields_set - {"reason"}
    if not given:
        raise InvalidInput("nothing to change: give at least one field")
    for name in sorted(given):
        if getattr(data, name) is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    if State(sub.state) not in EDITABLE_STATES:
        raise Conflict(f"a submission in state {sub.state} can no longer be changed", field="state")
    now = ctx.now()
    before = {
        "planned_release_at": iso(sub.planned_release_at),
        "access_expires_at": iso(sub.access_expires_at),
        "window_start": iso(sub.window_start),
        "report_due_at": iso(sub.report_due_at),
    }
    release = data.planned_release_at or sub.planned_release_at
    expires = data.access_expires_at or sub.access_expires_at
    if {"planned_release_at", "access_expires_at"} & given:
        _replan(ctx, sub, release=release, expires=expires)
    if data.contacts is not None:
        sub.contacts = [c.model_dump() for c in data.contacts]
    if data.declared_safeguards is not None:
        sub.declared_safeguards = data.declared_safeguards
    sub.updated_at = now
    after = {key: iso(getattr(sub, key)) for key in before}
    changed = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    record(
        ctx,
        "submission.update",
        "submission",
        sub.id,
        data.model_dump(mode="json", exclude_unset=True),
        org_id=sub.org_id,
        detail={"fields": sorted(given), "changes": changed},
    )
    return submission_detail(ctx, sub)


def _apply_window(sub: Submission, window: Window) -> None:
    sub.window_start = window.window_start
    sub.report_due_at = window.report_due_at
    sub.compressed_window = window.compressed
    sub.warnings = list(window.warnings)


def _replan(ctx: Context, sub: Submission, *, release: datetime, expires: datetime) -> None:
    """Recompute the window for a new release or access end; a window already open keeps its start."""
    window = reschedule_window(
        _policy(ctx),
        current_window_start=sub.window_start,
        planned_release_at=release,
        access_granted_at=sub.access_granted_at,
        now=ctx.now(),
        access_expires_at=expires,
    )
    sub.planned_release_at = release
    sub.access_expires_at = expires
    _apply_window(sub, window)


# --- the state machine ----------------------------------------------------------------------


def _enter(ctx: Context, sub: Submission, target: State, reason: str) -> None:
    """Apply a legal move's side effects, history and audit event."""
    source = State(sub.state)
    now = ctx.now()
    if target is State.SUBMITTED:
        # Time has passed since the draft was written: the window must still be possible.
        _replan(ctx, sub, release=sub.planned_release_at, expires=sub.access_expires_at)
    sub.state = target.value
    sub.updated_at = now
    _add_history(ctx, sub, source, reason)
    record(
        ctx,
        "submission.transition",
        "submission",
        sub.id,
        {"from": source.value, "to": target.value, "reason": reason},
        org_id=sub.org_id,
        detail={"from": source.value, "to": target.value},
    )
    if target in FINAL_STATES:
        # Campaigns import submissions, so the dependency is resolved late; both changes commit
        # with the move, and from then on no runner starts another model call.
        from ..campaigns.service import cancel_for_submission

        cancel_for_submission(ctx, sub, target)
        access.destroy_keys(ctx, sub, reason=target.value)
    if target is State.ACCEPTED:
        emit(
            ctx,
            "submission.accepted",
            org_id=sub.org_id,
            subject_type="submission",
            subject_id=sub.id,
            payload=event_payload(sub),
            dedupe_key=f"submission.accepted:{sub.id}",
        )


def transition(
    ctx: Context, submission_id: str, target: State, reason: str = ""
) -> SubmissionDetail:
    """Move a submission by request; illegal moves (and system-only ones) are a Conflict."""
    sub = visible_submission(ctx, submission_id, lock=True)
    ctx.actor.require_scope(Scope.WRITE)
    _move(ctx, sub, target, reason)
    return submission_detail(ctx, sub)


def _move(ctx: Context, sub: Submission, target: State, reason: str) -> None:
    """Check that the caller may make this move now, then make it (`sub` is locked)."""
    actor = ctx.actor
    source = State(sub.state)
    move = move_for(source, target)
    if move is None or (move.party is Party.SYSTEM and not actor.is_system):
        why = (
            f"{target.value} is set only by the system"
            if move is not None
            else f"cannot move from {source.value} to {target.value}"
        )
        raise Conflict(
            f"{why}; allowed from {source.value}: {describe_allowed(source)}", field="to"
        )
    if not may_act_as(actor, move.party, sub.org_id):
        raise PermissionDenied(
            f"only the {move.party.value} may move a submission from {source.value} to "
            f"{target.value}",
            field="to",
        )
    _enter(ctx, sub, target, reason)


def _system_move(ctx: Context, submission_id: str, target: State, reason: str) -> SubmissionDetail:
    if not ctx.actor.is_system:
        raise PermissionDenied(f"only the system sets {target.value}")
    sub = visible_submission(ctx, submission_id, lock=True)
    # Repeating a system move (a second campaign starting) changes nothing.
    if sub.state != target.value:
        _move(ctx, sub, target, reason)
    return submission_detail(ctx, sub)


def mark_testing(
    ctx: Context, submission_id: str, reason: str = "first campaign started"
) -> SubmissionDetail:
    """The first campaign started (system only); later campaigns change nothing."""
    return _system_move(ctx, submission_id, State.TESTING, reason)


def mark_report_issued(
    ctx: Context, submission_id: str, reason: str = "report issued"
) -> SubmissionDetail:
    """The report was issued (system only); issuing it again changes nothing."""
    return _system_move(ctx, submission_id, State.REPORT_ISSUED, reason)


# --- deadlines ------------------------------------------------------------------------------


def scan_deadlines(ctx: Context) -> list[str]:
    """Emit window-opened, report-due-soon (72 h ahead) and overdue events, once each.

    Run periodically by the system. A rescheduled deadline gets its own due-soon and overdue
    events. Returns the kinds emitted, in order.
    """
    if not (ctx.actor.is_system or ctx.actor.is_agency_staff):
        raise PermissionDenied("only the system or agency staff scan deadlines")
    ctx.actor.require_scope(Scope.WRITE)
    now = ctx.now()
    due_col = Submission.report_due_at
    candidates = ctx.session.scalars(
        select(Submission)
        .where(
            Submission.state.in_([s.value for s in ACTIVE_STATES]),
            or_(
                Submission.notified_window_open.is_(False) & (Submission.window_start <= now),
                (due_col <= now + DUE_SOON)
                & (
                    Submission.notified_due_soon_for.is_(None)
                    | (Submission.notified_due_soon_for != due_col)
                ),
                (due_col <= now)
                & (
                    Submission.notified_overdue_for.is_(None)
                    | (Submission.notified_overdue_for != due_col)
                ),
            ),
        )
        .order_by(due_col, Submission.id)
    ).all()
    emitted: list[str] = []
    for sub in candidates:
        due = sub.report_due_at
        due_key = iso(due)
        kinds: list[tuple[str, str]] = []
        if not sub.notified_window_open and sub.window_start <= now:
            sub.notified_window_open = True
            if now < due:
                kinds.append(("submission.window_opened", f"{sub.id}"))
        if now >= due:
            # A missed due-soon is not sent late: overdue says more.
            sub.notified_due_soon_for = due
            if sub.notified_overdue_for != due:
                sub.notified_overdue_for = due
                kinds.append(("submission.overdue", f"{sub.id}:{due_key}"))
        elif now >= due - DUE_SOON and sub.notified_due_soon_for != due:
            sub.notified_due_soon_for = due
            kinds.append(("submission.report_due_soon", f"{sub.id}:{due_key}"))
        for kind, key in kinds:
            emit(
                ctx,
                kind,
                org_id=sub.org_id,
                subject_type="submission",
                subject_id=sub.id,
                payload={**event_payload(sub), "days_remaining": days_remaining(due, now)},
                dedupe_key=f"{kind}:{key}",
            )
            emitted.append(kind)
    return emitted
