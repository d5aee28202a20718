"""The dashboard (`/`): what needs the signed-in user's attention, by role.

Each section comes from one service call made with the user's own context, so it holds only
what that user may see; a section appears only for the roles that act on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..accounts.actor import Actor
from ..accounts.models import Capacity, Role
from ..campaigns.schemas import CampaignOut, CampaignState
from ..campaigns.service import list_campaigns
from ..clearinghouse.cases import list_cases
from ..clearinghouse.models import CaseState, VendorStatus
from ..clearinghouse.schemas import CaseOut, VulnOut
from ..clearinghouse.service import triage_queue
from ..runtime import Context
from ..submissions.schemas import SubmissionSummary
from ..submissions.service import due_submissions, list_submissions
from ..submissions.states import FINAL_STATES
from ._session import PageContext
from ._templates import render

router = APIRouter(include_in_schema=False)

SECTION_LIMIT = 10
"""Items per section: the dashboard points at what is next; the area pages list the rest."""
ACTIVE_CASE_STATES = (CaseState.OPEN, CaseState.COORDINATING)


@dataclass(frozen=True)
class VendorCase:
    """A case as its vendor sees it on the dashboard: the case and the vendor's own deadline."""

    case: CaseOut
    response_due: datetime | None
    """None when the org reported the case's vulnerability rather than being invited."""
    overdue: bool
    answered: bool
    """Every vulnerability of the case has the vendor's answer."""

    @property
    def next_deadline(self) -> datetime:
        """The earlier of an open response deadline and the embargo end (what to sort by)."""
        if self.response_due is None or self.answered:
            return self.case.embargo_end
        return min(self.response_due, self.case.embargo_end)


@dataclass
class Dashboard:
    """The sections shown to one user; None means the section is not for this user's roles."""

    due: list[SubmissionSummary] | None = None
    campaigns: list[CampaignOut] | None = None
    triage: list[VulnOut] | None = None
    embargoes: list[CaseOut] | None = None
    submissions: list[SubmissionSummary] | None = None
    vendor_cases: list[VendorCase] | None = None

    @property
    def submission_names(self) -> dict[str, str]:
        """`model version` of the listed submissions, to name the campaigns' submissions."""
        return {s.id: f"{s.model_name} {s.model_version}" for s in self.due or []}

    @property
    def empty(self) -> bool:
        """True when no section holds anything to act on."""
        sections = (
            self.due,
            self.campaigns,
            self.triage,
            self.embargoes,
            self.submissions,
            self.vendor_cases,
        )
        return not any(sections)


def _is_evaluator(actor: Actor) -> bool:
    return actor.is_agency_staff


def _is_analyst(actor: Actor) -> bool:
    return actor.is_agency and actor.has_role(Role.ADMIN, Role.ANALYST)


def _is_developer(actor: Actor) -> bool:
    return not actor.is_agency and Capacity.DEVELOPER in actor.capacities


def _is_participant(actor: Actor) -> bool:
    """Vendors and participants; a developer org is one too when a flaw in its model is coordinated."""
    return not actor.is_agency and actor.org_id is not None


def _active_cases(ctx: Context) -> list[CaseOut]:
    found = []
    for state in ACTIVE_CASE_STATES:
        found += list_cases(ctx, state=state, limit=SECTION_LIMIT).items
    return sorted(found, key=lambda case: case.embargo_end)


def _vendor_cases(ctx: Context) -> list[VendorCase]:
    own = ctx.actor.org_id
    shown = []
    for case in _active_cases(ctx):
        # A reporting org sees the case too, without a vendor deadline of its own.
        mine = next((vendor for vendor in case.vendors if vendor.org_id == own), None)
        shown.append(
            VendorCase(
                case=case,
                response_due=mine.deadline if mine else None,
                overdue=mine.overdue if mine else False,
                answered=mine is not None
                and bool(mine.statuses)
                and all(s.status != VendorStatus.NOT_YET_ASSESSED for s in mine.statuses),
            )
        )
    return sorted(shown, key=lambda item: item.next_deadline)


def build_dashboard(ctx: Context) -> Dashboard:
    """The sections for the caller's roles, each from a service call with the caller's context."""
    actor = ctx.actor
    board = Dashboard()
    if _is_evaluator(actor):
        board.due = due_submissions(ctx, limit=SECTION_LIMIT)
        board.campaigns = [
            campaign
            for state in (CampaignState.RUNNING, CampaignState.QUEUED)
            for campaign in list_campaigns(ctx, state=state, limit=SECTION_LIMIT).items
        ]
    if _is_analyst(actor):
        board.triage = triage_queue(ctx, limit=SECTION_LIMIT)
        board.embargoes = _active_cases(ctx)
    if _is_developer(actor):
        recent = list_submissions(ctx, limit=SECTION_LIMIT).items
        board.submissions = [sub for sub in recent if sub.state not in FINAL_STATES]
    if _is_participant(actor):
        board.vendor_cases = _vendor_cases(ctx)
    return board


@router.get("/")
def dashboard(request: Request, ctx: PageContext) -> Response:
    """What needs the signed-in user's attention."""
    return render(request, "dashboard.html.j2", ctx, board=build_dashboard(ctx))
