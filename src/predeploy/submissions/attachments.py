"""Model cards, system cards and other documents attached to a submission."""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath, PureWindowsPath

from sqlalchemy import select
from sqlalchemy.orm import undefer

from ..audit.service import record
from ..errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from ..runtime import Context
from .models import Attachment
from .schemas import AttachmentKind, AttachmentOut
from .states import FINAL_STATES, State
from .views import attachment_out
from .visibility import require_developer_writer, visible_submission

# Documents only: nothing a browser would run if it ever rendered one from our origin.
MEDIA_TYPES = frozenset(
    {"application/pdf", "text/markdown", "text/plain", "application/json", "text/csv"}
)
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,254}$")


def clean_filename(filename: str) -> str:
    """The last path component of an uploaded file's name, if it is a plain one."""
    # Keep only the last path component, whatever the sender's OS.
    name = PureWindowsPath(PurePosixPath(filename.strip()).name).name
    if not _FILENAME.match(name):
        raise InvalidInput(
            "filename must be 1-255 letters, digits, spaces and . _ ( ) + - characters",
            field="filename",
        )
    return name


def clean_media_type(media_type: str, allowed: frozenset[str] = MEDIA_TYPES) -> str:
    """The media type without parameters, if it is one of `allowed`."""
    base = media_type.split(";", 1)[0].strip().lower()
    if base not in allowed:
        raise InvalidInput(
            f"media type {base or '(none)'} not accepted; use one of {', '.join(sorted(allowed))}",
            field="media_type",
        )
    return base


def add_attachment(
    ctx: Context,
    submission_id: str,
    *,
    kind: AttachmentKind,
    filename: str,
    media_type: str,
    content: bytes,
) -> AttachmentOut:
    """Attach a document (the developer, before the submission ends); stores its SHA-256."""
    sub = visible_submission(ctx, submission_id, lock=True)
    require_developer_writer(ctx.actor, sub.org_id, "attach documents")
    limit = ctx.settings.max_attachment_bytes
    if len(content) > limit:
        raise PayloadTooLarge(f"attachment exceeds {limit} bytes", field="content")
    if not content:
        raise InvalidInput("attachment is empty", field="content")
    if State(sub.state) in FINAL_STATES:
        raise Conflict(f"a {sub.state} submission takes no more attachments", field="state")
    row = Attachment(
        submission_id=sub.id,
        kind=kind.value,
        filename=clean_filename(filename),
        media_type=clean_media_type(media_type),
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        created_by=ctx.actor.user_id,
        created_at=ctx.now(),
    )
    ctx.session.add(row)
    ctx.session.flush()
    record(
        ctx,
        "submission.attachment_add",
        "submission",
        sub.id,
        {"attachment_id": row.id, "sha256": row.sha256, "kind": row.kind},
        org_id=sub.org_id,
        detail={"attachment_id": row.id, "kind": row.kind, "sha256": row.sha256},
    )
    return attachment_out(row)


def get_attachment(
    ctx: Context, submission_id: str, attachment_id: str
) -> tuple[AttachmentOut, bytes]:
    """An attachment's record and content, if the caller may see the submission."""
    sub = visible_submission(ctx, submission_id)
    row = ctx.session.scalar(
        select(Attachment)
        .options(undefer(Attachment.content))
        .where(Attachment.id == attachment_id, Attachment.submission_id == sub.id)
    )
    if row is None:
        raise NotFound(f"attachment {attachment_id} not found")
    return attachment_out(row), row.content
