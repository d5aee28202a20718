"""HTTP routes for models, submissions, their transitions and attachments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from ..pagination import DEFAULT_LIMIT, Page, PageLimit
from ..web_deps import CurrentContext, RawBody, call, download
from . import attachments, service
from .schemas import (
    AttachmentKind,
    AttachmentOut,
    ModelCreate,
    ModelOut,
    SubmissionCreate,
    SubmissionDetail,
    SubmissionSummary,
    SubmissionUpdate,
    TransitionIn,
)
from .states import State

router = APIRouter(prefix="/api/v1", tags=["submissions"])

ATTACHMENTS_PATH = r"^/api/v1/submissions/[^/]+/attachments$"
"""Uploads to this path may be as large as `max_attachment_bytes` (see `predeploy.api`)."""


@router.post("/models", status_code=status.HTTP_201_CREATED)
def create_model(ctx: CurrentContext, body: ModelCreate) -> ModelOut:
    """Register a model of your developer organisation (submitters and admins)."""
    return service.create_model(ctx, body)


@router.get("/models")
async def list_models(
    ctx: CurrentContext,
    name: str | None = None,
    version: str | None = None,
    org: str | None = None,
    cursor: str | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Page[ModelOut]:
    """Models you may see: your organisation's, or all of them for agency staff."""
    return await call(
        service.list_models, ctx, name=name, version=version, org_id=org, cursor=cursor, limit=limit
    )


@router.get("/models/{model_id}")
async def get_model(ctx: CurrentContext, model_id: str) -> ModelOut:
    return await call(service.get_model, ctx, model_id)


@router.post("/submissions", status_code=status.HTTP_201_CREATED)
def create_submission(ctx: CurrentContext, body: SubmissionCreate) -> SubmissionDetail:
    """Offer a model for pre-release testing (starts as a draft; move it to `submitted`)."""
    return service.create_submission(ctx, body)


@router.get("/submissions")
async def list_submissions(
    ctx: CurrentContext,
    state: State | None = None,
    org: str | None = None,
    cursor: str | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Page[SubmissionSummary]:
    """Submissions you may see, newest first."""
    return await call(
        service.list_submissions, ctx, state=state, org_id=org, cursor=cursor, limit=limit
    )


@router.get("/submissions/due")
async def due_submissions(ctx: CurrentContext, limit: PageLimit = 100) -> list[SubmissionSummary]:
    """Submissions that still owe a report, by time left to the deadline (overdue first)."""
    return await call(service.due_submissions, ctx, limit)


@router.get("/submissions/{submission_id}")
async def get_submission(ctx: CurrentContext, submission_id: str) -> SubmissionDetail:
    return await call(service.get_submission, ctx, submission_id)


@router.patch("/submissions/{submission_id}")
def update_submission(
    ctx: CurrentContext, submission_id: str, body: SubmissionUpdate
) -> SubmissionDetail:
    """Reschedule the release, change access expiry, contacts or safeguards (the developer)."""
    return service.update_submission(ctx, submission_id, body)


@router.post("/submissions/{submission_id}/transitions")
def transition(ctx: CurrentContext, submission_id: str, body: TransitionIn) -> SubmissionDetail:
    """Move the submission to another state; 409 lists the moves allowed from here."""
    return service.transition(ctx, submission_id, body.to, body.reason)


@router.post(
    "/submissions/{submission_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {} for t in sorted(attachments.MEDIA_TYPES)},
        }
    },
)
def add_attachment(
    ctx: CurrentContext,
    submission_id: str,
    content: RawBody,
    kind: AttachmentKind,
    filename: Annotated[str, Query(max_length=255)],
    content_type: Annotated[str, Header()] = "",
) -> AttachmentOut:
    """Upload a model card, system card or other document: the raw bytes are the body and
    `Content-Type` is its media type."""
    return attachments.add_attachment(
        ctx,
        submission_id,
        kind=kind,
        filename=filename,
        media_type=content_type,
        content=content,
    )


@router.get(
    "/submissions/{submission_id}/attachments/{attachment_id}/content",
    response_class=Response,
    responses={200: {"content": {t: {} for t in sorted(attachments.MEDIA_TYPES)}}},
)
async def get_attachment_content(
    ctx: CurrentContext, submission_id: str, attachment_id: str
) -> Response:
    """Download an attachment as it was uploaded (its SHA-256 is in the submission)."""
    meta, content = await call(attachments.get_attachment, ctx, submission_id, attachment_id)
    return download(content, meta.media_type, meta.filename, meta.sha256)
