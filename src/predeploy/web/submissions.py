"""Pages: submissions (the list, one submission with its window and moves, the submission form).

Every page calls the submissions services with the signed-in user's context, so a developer
org's users see their own submissions only, and the buttons a page shows are the moves the
state machine and the user's role allow (`SubmissionDetail.allowed_transitions`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from ..accounts.actor import Actor
from ..accounts.models import Scope
from ..accounts.service import get_org
from ..campaigns.schemas import CampaignOut
from ..campaigns.service import list_campaigns
from ..errors import InvalidInput, PermissionDenied, PredeployError
from ..pagination import MAX_LIMIT
from ..reports.schemas import ReportVersionOut
from ..reports.service import list_versions
from ..runtime import Context
from ..submissions import service
from ..submissions.schemas import (
    ModelCreate,
    SubmissionCreate,
    SubmissionDetail,
    SubmissionSummary,
)
from ..submissions.states import ENDED_STATES, FINAL_STATES, State
from ..submissions.visibility import is_developer_writer, own_org
from ..submissions.window import WindowPolicy
from ..web_deps import call
from ._session import PageContext
from ._templates import render

router = APIRouter(include_in_schema=False)

LIST_LIMIT = 25
NEW_MODEL = "new"

STATE_LABELS: dict[State, str] = {
    State.DRAFT: "Draft",
    State.SUBMITTED: "Submitted",
    State.ACCEPTED: "Accepted",
    State.TESTING: "Testing",
    State.REPORT_ISSUED: "Report issued",
    State.CLOSED: "Closed",
    State.WITHDRAWN: "Withdrawn",
    State.DECLINED: "Declined",
}

STATE_BADGES: dict[State, str] = {
    State.DRAFT: "",
    State.SUBMITTED: "warn",
    State.ACCEPTED: "ok",
    State.TESTING: "ok",
    State.REPORT_ISSUED: "ok",
    State.CLOSED: "",
    State.WITHDRAWN: "bad",
    State.DECLINED: "bad",
}


@dataclass(frozen=True)
class MoveButton:
    """How a page offers one move: the button's words, and whether it asks why and to confirm."""

    label: str
    danger: bool = False
    reason_label: str | None = None
    confirm: str | None = None


MOVE_BUTTONS: dict[State, MoveButton] = {
    State.SUBMITTED: MoveButton("Send to the agency"),
    State.ACCEPTED: MoveButton("Accept for testing"),
    State.DECLINED: MoveButton(
        "Decline",
        danger=True,
        reason_label="Reason for declining (optional)",
        confirm="Decline this submission? This cannot be undone.",
    ),
    State.CLOSED: MoveButton("Close"),
    State.WITHDRAWN: MoveButton(
        "Withdraw",
        danger=True,
        reason_label="Reason for withdrawing (optional)",
        confirm="Withdraw this submission? Testing stops and its API keys are destroyed.",
    ),
}


def may_submit(actor: Actor) -> bool:
    """Whether the caller may register models and submit them (a developer's writer)."""
    org_id = own_org(actor)
    return org_id is not None and actor.holds(Scope.WRITE) and is_developer_writer(actor, org_id)


def _submitter_org(actor: Actor) -> str:
    """The caller's developer org, if they may submit; PermissionDenied (a 403 page) if not."""
    org_id = own_org(actor)
    if org_id is None or not may_submit(actor):
        raise PermissionDenied("only the submitters and admins of an AI developer submit models")
    return org_id


# --- the list -------------------------------------------------------------------------------


def _state_filter(value: str | None) -> State | None:
    if not value:
        return None
    try:
        return State(value)
    except ValueError:
        raise InvalidInput(f"unknown state {value!r}", field="state") from None


def _org_names(ctx: Context, items: list[SubmissionSummary]) -> dict[str, str]:
    """The names of the organisations on this page (one look-up per organisation)."""
    return {org_id: get_org(ctx, org_id).name for org_id in {s.org_id for s in items}}


@router.get("/submissions")
def list_page(
    request: Request,
    ctx: PageContext,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = LIST_LIMIT,
) -> Response:
    """The submissions the user may see, newest first, a page at a time."""
    chosen = _state_filter(state)
    page = service.list_submissions(
        ctx, state=chosen, cursor=cursor or None, limit=min(limit, MAX_LIMIT)
    )
    return render(
        request,
        "submissions/list.html.j2",
        ctx,
        page=page,
        orgs=_org_names(ctx, page.items),
        state=chosen,
        states=list(State),
        limit=limit,
        first_page=not cursor,
        may_submit=may_submit(ctx.actor),
        labels=STATE_LABELS,
        badges=STATE_BADGES,
    )


# --- the submission form --------------------------------------------------------------------

FIELD_LABELS: dict[str, str] = {
    "model_id": "Model",
    "model_name": "Model name",
    "model_version": "Version",
    "weights_digest": "Weights digest",
    "modalities": "Modalities",
    "training_flop": "Training compute",
    "planned_release_date": "Planned release date",
    "planned_release_time": "Release time",
    "access_from": "Access from",
    "access_until": "Access until",
    "variant_label": "Access label",
    "variant_model": "Inspect model string",
    "base_url": "Base URL",
    "api_key": "API key",
    "contact_name": "Contact name",
    "contact_email": "Contact email",
    "safeguards": "Declared safeguards",
}

# Where the services' and schemas' field names are on the form (the longest prefix wins).
SERVICE_FIELDS: dict[str, str] = {
    "model_id": "model_id",
    "name": "model_name",
    "version": "model_version",
    "weights_digest": "weights_digest",
    "modalities": "modalities",
    "training_flop": "training_flop",
    "planned_release_at": "planned_release_date",
    "access_granted_at": "access_from",
    "access_expires_at": "access_until",
    "access_variants": "variant_label",
    "access_variants.0.label": "variant_label",
    "access_variants.0.model": "variant_model",
    "access_variants.0.base_url": "base_url",
    "access_variants.0.api_key": "api_key",
    "contacts": "contact_name",
    "contacts.0.name": "contact_name",
    "contacts.0.email": "contact_email",
    "declared_safeguards": "safeguards",
}

# Patterns say little to a person: what each patterned field expects instead.
PATTERN_HINTS: dict[str, str] = {
    "model_name": "use printable characters only",
    "model_version": "use printable characters only",
    "modalities": "lowercase words such as text, image, audio",
    "variant_label": "lowercase letters, digits, '.', '_' or '-', e.g. production",
    "variant_model": "provider/model, e.g. openai-api/acme/m1 or anthropic/claude-x",
    "contact_email": "an email address such as ada@example.org",
}

# The sections of the form that are folded away unless one of their fields has a value.
MORE_FIELDS = ("access_from", "access_until", "contact_name", "contact_email", "safeguards")


def form_field(service_field: str | None) -> str | None:
    """The form field a service's or schema's field name refers to (None: none of them)."""
    if service_field is None:
        return None
    parts = service_field.split(".")
    for length in range(len(parts), 0, -1):
        found = SERVICE_FIELDS.get(".".join(parts[:length]))
        if found is not None:
            return found
    return None


def _schema_error(exc: ValidationError) -> InvalidInput:
    """An InvalidInput for the first problem, named after the form field and said plainly."""
    error = exc.errors()[0]
    path = ".".join(str(part) for part in error["loc"] if "[" not in str(part))
    target = form_field(path)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch" and target in PATTERN_HINTS:
        message = f"expected {PATTERN_HINTS[target]}"
    elif error["type"] in ("string_too_short", "missing"):
        message = "this is needed"
    label = FIELD_LABELS.get(target or "", path or "the form")
    return InvalidInput(f"{label}: {message}", field=target)


def _date(value: str, name: str, at: time = time(0, 0)) -> datetime | None:
    """A `YYYY-MM-DD` date (and time) in UTC; None when left empty."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{FIELD_LABELS[name]}: expected a date such as 2026-12-31", field=name
        ) from None
    return datetime.combine(day, at, tzinfo=UTC)


def _time(value: str) -> time:
    if not value.strip():
        return time(0, 0)
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            "Release time: expected a time such as 09:00 (UTC)", field="planned_release_time"
        ) from None


def _float(value: str, name: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{FIELD_LABELS[name]}: expected a number such as 3e25", field=name
        ) from None


@dataclass
class SubmissionForm:
    """What the submission form holds, as typed: every value is text except the checkboxes.

    The API key is never kept here: a form shown again never carries it back to the browser.
    """

    model_id: str = NEW_MODEL
    model_name: str = ""
    model_version: str = ""
    weights_digest: str = ""
    modalities: str = "text"
    training_flop: str = ""
    declared_frontier: bool = False
    planned_release_date: str = ""
    planned_release_time: str = "00:00"
    access_from: str = ""
    access_until: str = ""
    variant_label: str = "production"
    variant_model: str = ""
    base_url: str = ""
    contact_name: str = ""
    contact_email: str = ""
    safeguards: str = ""
    send_now: bool = True

    @classmethod
    def from_form(cls, values: FormData) -> SubmissionForm:
        """The form as sent: a checkbox left unticked is simply absent."""
        form = cls(
            declared_frontier=values.get("declared_frontier") == "on",
            send_now=values.get("send_now") == "on",
        )
        for name in TEXT_FIELDS:
            setattr(form, name, str(values.get(name) or ""))
        return form

    def opens_more(self, error_field: str | None) -> bool:
        """Whether the optional section starts unfolded (it holds a value or the error)."""
        return error_field in MORE_FIELDS or any(getattr(self, n).strip() for n in MORE_FIELDS)

    def new_model(self) -> ModelCreate | None:
        """The model to register with the submission (None: an existing one was chosen)."""
        if self.model_id != NEW_MODEL:
            return None
        modalities = [m.strip() for m in self.modalities.replace(",", " ").split() if m.strip()]
        try:
            return ModelCreate(
                name=self.model_name.strip(),
                version=self.model_version.strip(),
                weights_digest=self.weights_digest.strip() or None,
                modalities=modalities or ["text"],
                training_flop=_float(self.training_flop, "training_flop"),
                declared_frontier=self.declared_frontier,
            )
        except ValidationError as exc:
            raise _schema_error(exc) from None

    def submission(self, api_key: str) -> SubmissionCreate:
        """The submission as the service takes it (its model id is filled in once known)."""
        release = _date(
            self.planned_release_date,
            "planned_release_date",
            _time(self.planned_release_time),
        )
        if release is None:
            raise InvalidInput(
                "Planned release date: give the day the model is to be released",
                field="planned_release_date",
            )
        contacts = []
        if self.contact_name.strip() or self.contact_email.strip():
            contacts.append({"name": self.contact_name, "email": self.contact_email})
        variant = {"label": self.variant_label, "model": self.variant_model}
        if self.base_url.strip():
            variant["base_url"] = self.base_url
        if api_key:
            variant["api_key"] = api_key
        try:
            # Validated as one record, so that an error names its place (access_variants.0.model).
            return SubmissionCreate.model_validate(
                {
                    "model_id": self.model_id if self.model_id != NEW_MODEL else "",
                    "planned_release_at": release,
                    "access_granted_at": _date(self.access_from, "access_from"),
                    "access_expires_at": _date(self.access_until, "access_until"),
                    "access_variants": [variant],
                    "contacts": contacts,
                    "declared_safeguards": [s for s in self.safeguards.splitlines() if s.strip()],
                }
            )
        except ValidationError as exc:
            raise _schema_error(exc) from None


TEXT_FIELDS = tuple(f.name for f in fields(SubmissionForm) if f.type == "str")


def _form_error(error: PredeployError) -> tuple[str | None, str]:
    """The form field an error is about, and its message led by that field's label."""
    target = error.field if error.field in FIELD_LABELS else form_field(error.field)
    message = error.message
    if target is not None and not message.startswith(FIELD_LABELS[target]):
        message = f"{FIELD_LABELS[target]}: {message}"
    return target, message


def _show_form(
    request: Request,
    ctx: Context,
    form: SubmissionForm,
    status_code: int = 200,
    error: PredeployError | None = None,
) -> Response:
    org_id = _submitter_org(ctx.actor)
    models = service.list_models(ctx, org_id=org_id, limit=MAX_LIMIT).items
    target, message = _form_error(error) if error is not None else (None, None)
    return render(
        request,
        "submissions/new.html.j2",
        ctx,
        status_code=status_code,
        form=form,
        models=models,
        new_model=NEW_MODEL,
        error=message,
        error_field=target,
        labels=FIELD_LABELS,
        policy=WindowPolicy.from_settings(ctx.settings),
    )


@router.get("/submissions/new")
def new_form(request: Request, ctx: PageContext) -> Response:
    """The submission form (a developer org's submitters and admins)."""
    org_id = _submitter_org(ctx.actor)
    has_models = bool(service.list_models(ctx, org_id=org_id, limit=1).items)
    form = SubmissionForm()
    if has_models:
        # Most submissions are of a model already registered: leave the choice to the user.
        form.model_id = ""
    return _show_form(request, ctx, form)


def _create(ctx: Context, form: SubmissionForm, api_key: str) -> SubmissionDetail:
    """Register the model if asked, create the submission, and send it if asked: all or nothing.

    Everything is checked before anything is written; a refusal by a service part-way rolls the
    savepoint back, so a form shown again has created nothing.
    """
    if not form.model_id:
        raise InvalidInput(
            "Model: choose one of your models or register a new one", field="model_id"
        )
    model = form.new_model()
    data = form.submission(api_key)
    with ctx.session.begin_nested():
        if model is not None:
            data = data.model_copy(update={"model_id": service.create_model(ctx, model).id})
        created = service.create_submission(ctx, data)
        if form.send_now:
            created = service.transition(
                ctx, created.id, State.SUBMITTED, "sent with the submission form"
            )
    return created


@router.post("/submissions/new")
async def submit_form(request: Request, ctx: PageContext) -> Response:
    """Create a submission from the form; a refusal shows the form again with the reason."""
    values = await request.form()  # already parsed (and cached) by the CSRF check
    form = SubmissionForm.from_form(values)
    api_key = str(values.get("api_key") or "")
    return await call(_submit, ctx, request, form, api_key)


def _submit(ctx: Context, request: Request, form: SubmissionForm, api_key: str) -> Response:
    _submitter_org(ctx.actor)
    try:
        created = _create(ctx, form, api_key)
    except PredeployError as exc:
        return _show_form(request, ctx, form, status_code=exc.status_code, error=exc)
    return RedirectResponse(f"/submissions/{created.id}", status_code=303)


# --- one submission -------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One point on a submission's timeline: done, current, upcoming, or skipped (never reached
    because the submission ended first)."""

    label: str
    at: datetime | None
    status: str
    note: str = ""


# The step each state puts the submission at (final states add a step of their own).
CURRENT_STEP: dict[State, str] = {
    State.DRAFT: "created",
    State.SUBMITTED: "submitted",
    State.ACCEPTED: "accepted",
    State.TESTING: "testing",
    State.REPORT_ISSUED: "report",
}


def timeline(sub: SubmissionDetail, now: datetime) -> list[Step]:
    """The submission's life in order: what happened, where it is, and what is still to come."""
    reached: dict[State, datetime] = {}
    for move in sub.history:
        reached.setdefault(move.to_state, move.created_at)
    ended = sub.state in FINAL_STATES
    issued = reached.get(State.REPORT_ISSUED)
    report_label = "Report issued" if issued else "Report due"
    planned: list[tuple[str, str, datetime | None, bool]] = [
        ("created", "Created", sub.created_at, True),
        (
            "submitted",
            "Sent to the agency",
            reached.get(State.SUBMITTED),
            State.SUBMITTED in reached,
        ),
        (
            "accepted",
            "Accepted for testing",
            reached.get(State.ACCEPTED),
            State.ACCEPTED in reached,
        ),
        ("window", "Testing window opens", sub.window_start, sub.window_start <= now),
        ("testing", "Testing started", reached.get(State.TESTING), State.TESTING in reached),
        ("report", report_label, issued or sub.report_due_at, issued is not None),
        ("release", "Planned release", sub.planned_release_at, sub.planned_release_at <= now),
    ]
    current = CURRENT_STEP.get(sub.state)
    steps: list[Step] = []
    for key, label, at, done in planned:
        if key == current:
            status = "current"
        elif done:
            status = "done"
        else:
            status = "skipped" if ended and key not in ("window", "release") else "upcoming"
        note = ""
        if key == "report" and not issued and sub.report_due_at <= now and not ended:
            note = "overdue"
        steps.append(Step(label, at, status, note))
    if ended:
        steps.append(Step(STATE_LABELS[sub.state], reached.get(sub.state), "current"))
    return steps


@dataclass(frozen=True)
class WindowBar:
    """The testing window drawn to scale on a 600-unit-wide bar: before it, the window itself
    (until the report is due), the buffer to the release, and where now is."""

    window_x: float
    due_x: float
    now_x: float | None
    width: float = 600.0


def window_bar(sub: SubmissionSummary, now: datetime) -> WindowBar:
    start = min(sub.created_at, sub.window_start)
    span = (sub.planned_release_at - start).total_seconds() or 1.0

    def x(at: datetime) -> float:
        return round(600.0 * (at - start).total_seconds() / span, 1)

    inside = start <= now <= sub.planned_release_at
    return WindowBar(x(sub.window_start), x(sub.report_due_at), x(now) if inside else None)


def _campaigns(ctx: Context, submission_id: str) -> list[CampaignOut]:
    """The submission's campaigns, for agency staff (who run them)."""
    if not ctx.actor.is_agency_staff:
        return []
    return list_campaigns(ctx, submission_id=submission_id, limit=MAX_LIMIT).items


def _show_detail(
    request: Request,
    ctx: Context,
    submission_id: str,
    *,
    moved: str | None = None,
    error: PredeployError | None = None,
) -> Response:
    sub = service.get_submission(ctx, submission_id)
    now = ctx.now()
    reports: list[ReportVersionOut] = list_versions(ctx, sub.id)
    return render(
        request,
        "submissions/detail.html.j2",
        ctx,
        status_code=error.status_code if error is not None else 200,
        sub=sub,
        org=get_org(ctx, sub.org_id),
        steps=timeline(sub, now),
        bar=window_bar(sub, now),
        ended=sub.state in ENDED_STATES,
        moves=[
            (target, MOVE_BUTTONS.get(target, MoveButton(STATE_LABELS[target])))
            for target in sub.allowed_transitions
        ],
        moved=moved == sub.state.value,
        error=error.message if error is not None else None,
        campaigns=_campaigns(ctx, sub.id),
        reports=reports,
        labels=STATE_LABELS,
        badges=STATE_BADGES,
    )


@router.get("/submissions/{submission_id}")
def detail_page(
    request: Request, ctx: PageContext, submission_id: str, moved: str | None = None
) -> Response:
    """One submission: its window on a timeline, the report countdown, history and moves."""
    return _show_detail(request, ctx, submission_id, moved=moved)


@router.post("/submissions/{submission_id}/transition")
def transition_form(
    request: Request,
    ctx: PageContext,
    submission_id: str,
    to: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Make one move; a refused one (e.g. someone moved it first) shows the page and why."""
    try:
        target = State(to)
    except ValueError:
        error: PredeployError = InvalidInput(f"unknown state {to!r}", field="to")
        return _show_detail(request, ctx, submission_id, error=error)
    try:
        with ctx.session.begin_nested():
            service.transition(ctx, submission_id, target, reason.strip())
    except PredeployError as exc:
        return _show_detail(request, ctx, submission_id, error=exc)
    return RedirectResponse(f"/submissions/{submission_id}?moved={target.value}", status_code=303)
