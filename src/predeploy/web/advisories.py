"""Pages: advisories. The published advisories anyone may read (no sign-in: the public sees the
TLP:CLEAR ones once published, which the service allows only after the case's embargo), and for
the clearinghouse's analysts the draft awaiting publication, with the publish button.

What each caller sees is the advisory service's decision (`_visibility.advisory_audience`): an
advisory the caller may not see is the not-found page, exactly as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from ..clearinghouse import advisories, cases
from ..clearinghouse.models import Tlp
from ..clearinghouse.schemas import AdvisoryDocument, AdvisoryOut, AdvisoryRevisionOut, Cvss
from ..clearinghouse.settings import two_person_rule
from ..errors import PredeployError
from ..interop.service import formats_for
from ..runtime import Context
from ._session import PageContext, PublicPageContext
from ._templates import render

router = APIRouter(include_in_schema=False)

EXPORT_LABELS = {
    "osv": "OSV",
    "cve5": "CVE JSON 5",
    "csaf": "CSAF 2.0",
    "csaf_vex": "CSAF 2.0 VEX",
    "stix": "STIX 2.1",
    "avid": "AVID",
}


def severity(document: AdvisoryDocument) -> Cvss | None:
    """The highest CVSS score among the advisory's vulnerabilities (4.0 preferred to 3.x)."""
    scores = [v.cvss_v4 or v.cvss_v3 for v in document.vulnerabilities]
    known = [score for score in scores if score is not None]
    return max(known, key=lambda score: score.base_score, default=None)


def _shown(advisory: AdvisoryOut) -> AdvisoryRevisionOut | None:
    """The revision a list shows: the published one, else (analysts) the draft."""
    return advisory.current or advisory.draft


@router.get("/advisories")
def advisory_list(request: Request, ctx: PublicPageContext, cursor: str | None = None) -> Response:
    """The advisories the caller may see, newest first."""
    page = advisories.list_advisories(ctx, cursor=cursor)
    rows = [(a, revision) for a in page.items if (revision := _shown(a)) is not None]
    return render(
        request,
        "advisories/list.html.j2",
        ctx,
        rows=rows,
        next_cursor=page.next_cursor,
        severity=severity,
    )


def _advisory_page(
    request: Request,
    ctx: Context,
    advisory_id: str,
    revision: int | None = None,
    failure: PredeployError | None = None,
) -> Response:
    advisory = advisories.get_advisory(ctx, advisory_id)
    shown = advisories.get_revision(ctx, advisory_id, revision) if revision else advisory.current
    draft = advisory.draft
    # Only the agency sees a draft; it also sees every case, so the embargo can be shown.
    case = cases.get_case(ctx, draft.document.case) if draft else None
    public = advisory.tlp is Tlp.CLEAR and shown is not None and shown.published
    return render(
        request,
        "advisories/advisory.html.j2",
        ctx,
        status_code=failure.status_code if failure else 200,
        advisory=advisory,
        shown=shown,
        draft=draft,
        case=case,
        two_person=two_person_rule(ctx) if draft else False,
        exports=[f.value for f in formats_for(shown.document)] if public and shown else [],
        export_labels=EXPORT_LABELS,
        severity=severity,
        failure=failure,
    )


@router.get("/advisories/{advisory_id}")
def advisory_detail(
    request: Request,
    ctx: PublicPageContext,
    advisory_id: str,
    revision: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """One advisory: its published revision (or an earlier one), and for analysts its draft."""
    return _advisory_page(request, ctx, advisory_id, revision)


@router.post("/advisories/{advisory_id}/publish")
def publish(
    request: Request,
    ctx: PageContext,
    advisory_id: str,
    sha256: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Publish the draft the analyst read, named by its SHA-256 (a second analyst under the
    two-person rule, once the case's embargo has ended)."""
    try:
        published = advisories.publish_advisory(ctx, advisory_id, sha256)
    except PredeployError as exc:
        # Undo anything the refused publication wrote before showing the advisory again.
        ctx.session.rollback()
        return _advisory_page(request, ctx, advisory_id, failure=exc)
    return RedirectResponse(f"/advisories/{published.number}", status_code=303)
