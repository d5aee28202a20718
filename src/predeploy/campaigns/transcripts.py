"""A campaign's eval logs: listing, download, one sample's transcript, and their retention.

Logs hold an unreleased model's transcripts and working exploits, so they follow the results'
rules: agency staff read them; the developer org, which sees its campaigns' progress, is refused
(403); anyone else is told the campaign does not exist (404). They are served only through the
authenticated API, never by an `inspect view` server. A set period after the submission's report
(or its withdrawal or decline) the logs and the answers stored with the results (proofs of
concept) are deleted, and the deletion is audited; after that the logs are 410 Gone. Every
download of a log file and every transcript read is audited too, under the developer org's
events: who read an unreleased model's transcripts stays on record.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import fsspec
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update

from ..accounts.actor import Actor
from ..accounts.models import ApiToken, Scope, User
from ..accounts.sessions import still_signed_in
from ..audit.service import record
from ..errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PredeployError,
)
from ..runtime import Context, Runtime
from ..submissions.models import Submission, SubmissionTransition
from ..submissions.states import State
from . import _artifacts
from .models import Campaign, Job, SampleResult
from .schemas import CampaignOut
from .service import get_campaign, visible_campaign

log = logging.getLogger("predeploy.campaigns.transcripts")

CHUNK_BYTES = 1 << 20

# Retention starts when the submission reaches one of these: the report was issued, or testing
# ended without one. `closed` is reached only after `report_issued`, so it adds nothing.
RETENTION_STARTS = (State.REPORT_ISSUED, State.WITHDRAWN, State.DECLINED)


class Gone(PredeployError):
    """The object existed but was deleted on purpose (HTTP 410)."""

    status_code = 410
    code = "gone"


class LogFileOut(BaseModel):
    """One file of a job's log directory, as stored."""

    job_id: str
    name: str
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex SHA-256 of the file's bytes.")


class TranscriptOut(BaseModel):
    """One sample (and epoch) of a job, as Inspect logged it."""

    campaign_id: str
    job_id: str
    task: str
    model_label: str
    log: str = Field(description="The log file it was read from (in the job's log directory).")
    sample_id: str
    epoch: int
    sample: dict[str, Any] = Field(
        description="Inspect's EvalSample (messages, events, scores, output, error, ...), "
        "attachments resolved."
    )


@dataclass(frozen=True)
class LogFile:
    """A log file the caller may download, and how to read it from the store."""

    job_id: str
    name: str
    size: int
    fs: Any  # an fsspec filesystem (fsspec is untyped)
    location: str

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes, a chunk at a time."""
        with self.fs.open(self.location, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk


# --- who may read ----------------------------------------------------------------------------


def readable_campaign(ctx: Context, campaign_id: str) -> Campaign:
    """The campaign if the caller may read its logs: 404 unless its submission is visible to
    the caller, 403 for anyone but agency staff, 410 once its transcripts were deleted."""
    actor = ctx.actor
    campaign = visible_campaign(ctx, campaign_id)
    if not (actor.is_system or actor.is_agency_staff):
        raise PermissionDenied("only agency evaluators and admins read logs and transcripts")
    actor.require_scope(Scope.READ)
    if campaign.transcripts_deleted_at is not None:
        raise Gone(
            f"the logs and transcripts of campaign {campaign.id} were deleted at "
            f"{campaign.transcripts_deleted_at.isoformat()} under the retention policy; "
            "its scores remain in the results"
        )
    return campaign


def _job_of(ctx: Context, campaign: Campaign, job_id: str, field: str) -> Job:
    job = ctx.session.scalar(select(Job).where(Job.id == job_id, Job.campaign_id == campaign.id))
    if job is None:
        raise NotFound(f"job {job_id} is not a job of campaign {campaign.id}", field=field)
    return job


def _check_file_name(name: str) -> None:
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise InvalidInput(
            "a log file name is a plain file name from the campaign's log listing "
            "(no '/', no '..')",
            field="name",
        )


# --- listing and download --------------------------------------------------------------------


def _sha256(fs: Any, location: str) -> str:
    digest = hashlib.sha256()
    with fs.open(location, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _job_files(campaign: Campaign) -> tuple[Any, list[tuple[str, str, str, int]]]:
    """Every file directly in a job directory under the campaign's log root:
    (job_id, name, location in the store, size), in path order.

    Inspect writes an eval set's logs flat into its log dir, so nothing deeper is expected.
    """
    fs, root = fsspec.core.url_to_fs(campaign.log_root)
    prefix = root.rstrip("/") + "/"
    files = []
    for location, info in sorted(fs.find(root, detail=True).items()):
        job_id, _, name = location.removeprefix(prefix).partition("/")
        if name and "/" not in name:
            files.append((job_id, name, location, int(info["size"])))
    return fs, files


def list_logs(ctx: Context, campaign_id: str) -> list[LogFileOut]:
    """Every log file of a campaign's jobs, with its size and SHA-256 (agency staff)."""
    campaign = readable_campaign(ctx, campaign_id)
    job_ids = set(ctx.session.scalars(select(Job.id).where(Job.campaign_id == campaign.id)))
    fs, files = _job_files(campaign)
    return [
        LogFileOut(job_id=job_id, name=name, size=size, sha256=_sha256(fs, location))
        for job_id, name, location, size in files
        if job_id in job_ids
    ]


def open_log_file(ctx: Context, campaign_id: str, job_id: str, name: str) -> LogFile:
    """One log file of one of the campaign's jobs (agency staff).

    `job_id` must be a job of this campaign and `name` a file of that job's log directory, as
    listed: the file is looked up in the listing, never built from the caller's text.
    """
    campaign = readable_campaign(ctx, campaign_id)
    _check_file_name(name)
    job = _job_of(ctx, campaign, job_id, field="job_id")
    fs, directory = fsspec.core.url_to_fs(job.log_dir)
    try:
        entries = fs.ls(directory, detail=True)
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if entry["type"] == "file" and posixpath.basename(entry["name"]) == name:
            _record_read(ctx, campaign, "campaign.log_download", {"job_id": job.id, "name": name})
            return LogFile(
                job_id=job.id, name=name, size=int(entry["size"]), fs=fs, location=entry["name"]
            )
    raise NotFound(f"job {job.id} has no log file named {name!r}", field="name")


def _record_read(ctx: Context, campaign: Campaign, action: str, detail: dict[str, Any]) -> None:
    """Audit a read, in a transaction of its own: the read's own transaction is read-only."""
    with ctx.runtime.unit(ctx.actor) as write:
        sub = write.session.get_one(Submission, campaign.submission_id)
        detail = {"submission_id": sub.id, **detail}
        record(write, action, "campaign", campaign.id, detail, org_id=sub.org_id, detail=detail)


# --- transcripts -----------------------------------------------------------------------------


def sample_transcript(
    ctx: Context, campaign_id: str, job_id: str, sample_id: str, epoch: int = 1
) -> TranscriptOut:
    """One sample's transcript (messages, events, scores) from a job's Inspect logs (agency
    staff). A resumed job has several logs: the newest that holds the sample wins."""
    campaign = readable_campaign(ctx, campaign_id)
    job = _job_of(ctx, campaign, job_id, field="job")
    if epoch < 1:
        raise InvalidInput("epoch starts at 1", field="epoch")
    # Imported here: the scheduler imports this module, and every `predeploy` command imports
    # the scheduler; Inspect costs about 2 s to import.
    from inspect_ai.log import list_eval_logs, read_eval_log_sample

    for info in list_eval_logs(job.log_dir, recursive=False):
        try:
            sample = read_eval_log_sample(info, sample_id, epoch, resolve_attachments=True)
        except IndexError:
            continue
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise Conflict(
                f"log {posixpath.basename(info.name)} of job {job.id} cannot be read now "
                f"({type(exc).__name__}); is the job still writing it?",
                field="job",
            ) from None
        _record_read(
            ctx,
            campaign,
            "campaign.transcript_read",
            {"job_id": job.id, "sample_id": str(sample.id), "epoch": sample.epoch},
        )
        return TranscriptOut(
            campaign_id=campaign.id,
            job_id=job.id,
            task=job.task,
            model_label=job.model_label,
            log=posixpath.basename(info.name),
            sample_id=str(sample.id),
            epoch=sample.epoch,
            sample=sample.model_dump(mode="json", exclude_none=True),
        )
    raise NotFound(
        f"sample {sample_id!r} (epoch {epoch}) is in no log of job {job.id}", field="sample"
    )


# --- progress snapshots for event streams ----------------------------------------------------


def campaign_snapshot(runtime: Runtime, actor: Actor, campaign_id: str) -> CampaignOut:
    """The campaign as `actor` may see it now, read in a short transaction of its own.

    Event streams outlive their request's transaction, so each poll checks again that the
    caller's token (or web session) is still valid (NotAuthenticated once revoked, expired or its user disabled)
    and that the campaign is still visible to the caller.
    """
    with runtime.unit(actor, read_only=True) as ctx:
        if actor.token_id is not None:
            token = ctx.session.execute(
                select(ApiToken.revoked_at, ApiToken.expires_at, User.is_active)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.id == actor.token_id)
            ).first()
            if (
                token is None
                or token.revoked_at is not None
                or token.expires_at <= ctx.now()
                or not token.is_active
            ):
                raise NotAuthenticated("invalid, expired or revoked token")
        if actor.session_id is not None and not still_signed_in(
            ctx.session, ctx.clock, ctx.settings, actor.session_id
        ):
            raise NotAuthenticated("your session has ended: sign in again")
        return get_campaign(ctx, campaign_id)


# --- retention -------------------------------------------------------------------------------


def _tree_size(location: str) -> tuple[int, int]:
    """How many files, and bytes, are stored under `location`."""
    fs, root = fsspec.core.url_to_fs(location)
    found = fs.find(root, detail=True)
    return len(found), sum(int(info.get("size") or 0) for info in found.values())


# Score metadata that can quote the model's output (a judge's rationale cites the text its rules
# fired on): removed with the transcripts. Labels, framings and answer hashes stay.
QUOTING_SCORE_METADATA = frozenset({"rationale"})


def _drop_quoted_output(ctx: Context, campaign_id: str) -> None:
    rows = ctx.session.scalars(
        select(SampleResult).where(
            SampleResult.campaign_id == campaign_id, SampleResult.score_metadata.is_not(None)
        )
    )
    for row in rows:
        meta = row.score_metadata
        if isinstance(meta, dict) and QUOTING_SCORE_METADATA & meta.keys():
            row.score_metadata = {
                key: value for key, value in meta.items() if key not in QUOTING_SCORE_METADATA
            }


def purge_expired_transcripts(ctx: Context, *, limit: int = 100) -> int:
    """Delete the logs and proofs of concept of campaigns past their retention (system only).

    A campaign's retention starts when its submission's report is issued, or when the
    submission is withdrawn or declined; `transcript_retention_days` later its log root is
    deleted, the answers stored with its results are cleared (scores and counts stay), and an
    audit event records how many files and bytes went. At most `limit` campaigns per call
    (the scheduler calls again). A campaign whose files cannot be deleted is left as it was,
    to be tried again, and does not hold up the others. Returns how many campaigns were purged.
    """
    if not ctx.actor.is_system:
        raise PermissionDenied("only the system deletes transcripts")
    now = ctx.now()
    days = ctx.settings.transcript_retention_days
    cutoff = now - timedelta(days=days)
    ended = select(SubmissionTransition.submission_id).where(
        SubmissionTransition.to_state.in_([s.value for s in RETENTION_STARTS]),
        SubmissionTransition.created_at < cutoff,
    )
    campaigns = ctx.session.scalars(
        select(Campaign)
        .where(Campaign.transcripts_deleted_at.is_(None), Campaign.submission_id.in_(ended))
        .order_by(Campaign.created_at, Campaign.id)
        .limit(limit)
        .with_for_update()
    ).all()
    purged = 0
    for campaign in campaigns:
        try:
            files, size = _tree_size(campaign.log_root)
            # The marks and the audit event are undone if the files cannot be deleted.
            with ctx.session.begin_nested():
                with_answer = (
                    SampleResult.campaign_id == campaign.id,
                    SampleResult.answer.is_not(None),
                )
                answers = (
                    ctx.session.scalar(
                        select(func.count()).select_from(SampleResult).where(*with_answer)
                    )
                    or 0
                )
                ctx.session.execute(
                    update(SampleResult)
                    .where(*with_answer)
                    .values(answer=None)
                    .execution_options(synchronize_session=False)
                )
                _drop_quoted_output(ctx, campaign.id)
                campaign.transcripts_deleted_at = now
                campaign.updated_at = now
                sub = ctx.session.get_one(Submission, campaign.submission_id)
                record(
                    ctx,
                    "campaign.transcripts_deleted",
                    "campaign",
                    campaign.id,
                    {"files": files, "bytes": size, "answers_cleared": answers},
                    org_id=sub.org_id,
                    detail={
                        "submission_id": sub.id,
                        "files": files,
                        "bytes": size,
                        "answers_cleared": answers,
                        "retention_days": days,
                    },
                )
                ctx.session.flush()
                _artifacts.delete_tree(campaign.log_root)
        except Exception:
            log.exception("could not delete the transcripts of campaign %s", campaign.id)
            continue
        purged += 1
    return purged
