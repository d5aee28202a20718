"""Files attached to vulnerability reports: evidence, and proof-of-concept payloads.

Everyone who may see a report sees its attachments' names, sizes and SHA-256, so a payload can be
matched without being seen. A proof of concept is dual-use: its content is encrypted at rest with
the server's secret key and released only to the agency's analysts and admins, the reporting
org, and the vendors invited to the report's case.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import undefer

from ..accounts.models import Role, Scope
from ..audit.service import record
from ..errors import InvalidInput, NotFound, PayloadTooLarge, PermissionDenied
from ..runtime import Context
from ..submissions.attachments import MEDIA_TYPES, clean_filename, clean_media_type
from ._visibility import invited_vendor, sees_everything
from .models import Vuln, VulnAttachment
from .schemas import AttachmentOut
from .service import visible_vuln

VULN_MEDIA_TYPES = MEDIA_TYPES | frozenset(
    {"application/octet-stream", "application/zip", "text/x-python", "text/x-c"}
)
"""Documents, plus what proofs of concept come as. Downloads are always served as attachments,
with `nosniff`, so no browser runs one from our origin."""


def may_read_payload(ctx: Context, vuln: Vuln) -> bool:
    """Whether the caller gets a report's proof of concept: the reporting org, the agency's
    analysts and admins, and the vendors invited to its case."""
    # The vendors invited to the report's case are participants: they need the payload to fix it.
    return (
        sees_everything(ctx.actor)
        or vuln.reporter_org_id == ctx.actor.org_id
        or invited_vendor(ctx.session, vuln.case_id, ctx.actor.org_id)
    )


def add_attachment(
    ctx: Context,
    vuln_id: str,
    *,
    filename: str,
    media_type: str,
    content: bytes,
    proof_of_concept: bool,
) -> AttachmentOut:
    """Attach a file (the reporting org's members, and agency analysts and admins)."""
    vuln = visible_vuln(ctx, vuln_id, lock=True)
    actor = ctx.actor
    actor.require_scope(Scope.WRITE)
    reporter = vuln.reporter_org_id == actor.org_id and not actor.has_role(Role.VIEWER)
    if not (reporter or (sees_everything(actor) and not actor.is_system)):
        raise PermissionDenied("only the reporting org and the agency's analysts attach files")
    limit = ctx.settings.max_attachment_bytes
    if len(content) > limit:
        raise PayloadTooLarge(f"attachment exceeds {limit} bytes", field="content")
    if not content:
        raise InvalidInput("attachment is empty", field="content")
    stored = ctx.runtime.secrets.encrypt_bytes(content) if proof_of_concept else content
    row = VulnAttachment(
        vuln_id=vuln.id,
        filename=clean_filename(filename),
        media_type=clean_media_type(media_type, VULN_MEDIA_TYPES),
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        proof_of_concept=proof_of_concept,
        content=stored,
        created_by=actor.user_id,
        created_at=ctx.now(),
    )
    ctx.session.add(row)
    ctx.session.flush()
    detail = {"attachment_id": row.id, "sha256": row.sha256, "proof_of_concept": proof_of_concept}
    record(ctx, "vuln.attachment_add", "vuln", vuln.id, detail, detail=detail)
    return AttachmentOut.model_validate(row, from_attributes=True)


def get_attachment(ctx: Context, vuln_id: str, attachment_id: str) -> tuple[AttachmentOut, bytes]:
    """An attachment and its content, if the caller may see the report (and, for a proof of
    concept, may receive its payload)."""
    vuln = visible_vuln(ctx, vuln_id)
    row = ctx.session.scalar(
        select(VulnAttachment)
        .options(undefer(VulnAttachment.content))
        .where(VulnAttachment.id == attachment_id, VulnAttachment.vuln_id == vuln.id)
    )
    if row is None:
        raise NotFound(f"attachment {attachment_id} not found")
    if not row.proof_of_concept:
        return AttachmentOut.model_validate(row, from_attributes=True), row.content
    if not may_read_payload(ctx, vuln):
        raise PermissionDenied(
            "proof-of-concept payloads go only to the reporter, the agency's analysts and the "
            "vendors of the report's case; "
            f"its SHA-256 is {row.sha256}"
        )
    content = ctx.runtime.secrets.decrypt_bytes(row.content)
    # In a transaction of its own: a download's own transaction is read-only.
    with ctx.runtime.unit(ctx.actor) as write:
        detail = {"attachment_id": row.id, "sha256": row.sha256}
        record(write, "vuln.payload_read", "vuln", vuln.id, detail, detail=detail)
    return AttachmentOut.model_validate(row, from_attributes=True), content
