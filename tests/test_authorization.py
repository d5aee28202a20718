"""The authorization matrix: every API route x every principal x own/other organisation.

Each line of MATRIX is one route acting on one target; each cell is what one principal gets.

Principals (columns):
  anon      no token (a revoked and a forged token are also tried on every line, and must get
            exactly what anon gets)
  ag_adm ag_eval ag_anal ag_view   the agency's admin, evaluator, analyst, viewer
  a_adm a_sub a_view               developer org A's admin, submitter, viewer
  a_sub_ro                         org A's submitter with a read-scope token
  b_sub                            developer org B's submitter (the "other org")
  vendor p_adm                     a vendor org's member, a participant org's admin

Targets: the object the call names. For most, two cases: "own" is org A's object, "other" is
org B's (so "other" is b_sub's own, and "own" is foreign to it). `-` names no object; `host` and
`fresh_host` name the agency's webhook allowlist entry. `submit_draft`, `accept_submitted` and
`set_testing` are transitions of a fresh draft, a fresh submitted and the accepted submission;
`foreign_attachment` is the case's submission with the other org's attachment id. `plan` (by id)
and `plan_name` name the agency's test plan. `campaign` is the org's campaign of that plan on its
accepted submission, with a log file holding one sample; `fresh_campaign` is a new one (to
cancel); `foreign_job` is the case's campaign with the other org's job. `report_ready` is a new
submission in testing with a completed campaign, `report_draft` one with a report draft by an
evaluator who is not a principal, `issued_report` the org's submission with an issued report.
See `tests/authz_matrix.py` for how each target is made and each route is called.

Cells: one outcome for every case, or `own/other`. A status code; on list routes (a GET whose
path names no object) `200` means "200 and the target's object is listed" and `hid` means "200 and
it is not listed".

Besides the statuses, every call is checked for leaks: a refusal or a hidden listing carries
nothing of the case's org (ids, names, emails) beyond what the request itself sent; a developer,
vendor or participant never receives anything of another developer org; and an object hidden
from the caller answers exactly (status and body) as a random, non-existent id does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from predeploy.api import create_app
from predeploy.config import Settings
from predeploy.runtime import Runtime
from tests.authz_matrix import (
    AGENCY_PRINCIPALS,
    CASE_ORG,
    PREFIX,
    PRINCIPAL_ORG,
    PRINCIPALS,
    REQUESTS,
    TARGETS,
    Row,
    api_routes,
    build_world,
    check_row,
    parse_matrix,
)
from tests.clearinghouse.test_sharing import COVERED_ROUTES as CLEARINGHOUSE_ROUTES
from tests.conftest import Api
from tests.interop.test_csaf_provider import COVERED_ROUTES as CSAF_PROVIDER_ROUTES
from tests.taxii.test_discovery import COVERED_ROUTES as TAXII_ROUTES

MATRIX = """
method path                                                            target             anon  ag_adm  ag_eval ag_anal ag_view a_adm   a_sub   a_sub_ro a_view  b_sub   vendor  p_adm
POST   /orgs                                                           -                  401   201     403     403     403     403     403     403      403     403     403     403
GET    /orgs                                                           org                401   200     200     200     200     200/hid 200/hid 200/hid  200/hid hid/200 hid     hid
GET    /orgs/{org_id}                                                  org                401   200     200     200     200     200/404 200/404 200/404  200/404 404/200 404     404
POST   /users                                                          org                401   201     403     403     403     201/404 403/404 403/404  403/404 404/403 404     404
POST   /tokens                                                         -                  401   201     201     201     403     201     201     403      403     201     201     201
POST   /tokens                                                         user               401   404     404     404     403     201/404 201/404 403      403     404/201 404     404
GET    /tokens                                                         token              401   hid     hid     hid     hid     200/hid 200/hid 200/hid  hid     hid/200 hid     hid
DELETE /tokens/{token_id}                                              token              401   404     404     404     404     200/404 200/404 200/404  404     404/200 404     404
GET    /audit                                                          model              401   200     403     403     403     200/hid 403     403      403     403     403     hid
POST   /webhooks                                                       -                  401   201     403     403     403     201     403     403      403     403     403     201
GET    /webhooks                                                       webhook            401   hid     403     403     403     200/hid 403     403      403     403     403     hid
POST   /webhooks/allowlist                                             -                  401   201     403     403     403     403     403     403      403     403     403     403
GET    /webhooks/allowlist                                             host               401   200     403     403     403     403     403     403      403     403     403     403
DELETE /webhooks/allowlist/{host}                                      fresh_host         401   200     403     403     403     403     403     403      403     403     403     403
GET    /webhooks/{webhook_id}                                          webhook            401   404     403     403     403     200/404 403     403      403     403     403     404
DELETE /webhooks/{webhook_id}                                          webhook            401   404     403     403     403     200/404 403     403      403     403     403     404
GET    /webhooks/{webhook_id}/deliveries                               webhook            401   404     403     403     403     200/404 403     403      403     403     403     404
GET    /notifications                                                  submission         401   200     200     hid     hid     200/hid 200/hid 200/hid  200/hid hid/200 hid     hid
POST   /models                                                         -                  401   403     403     403     403     201     201     403      403     201     403     403
GET    /models                                                         model              401   200     200     hid     hid     200/hid 200/hid 200/hid  200/hid hid/200 hid     hid
GET    /models/{model_id}                                              model              401   200     200     404     404     200/404 200/404 200/404  200/404 404/200 404     404
POST   /submissions                                                    model              401   403     403     404     403     201/404 201/404 403      403     404/201 404     404
GET    /submissions                                                    submission         401   200     200     hid     hid     200/hid 200/hid 200/hid  200/hid hid/200 hid     hid
GET    /submissions/due                                                submission         401   200     200     hid     hid     200/hid 200/hid 200/hid  200/hid hid/200 hid     hid
GET    /submissions/{submission_id}                                    submission         401   200     200     404     404     200/404 200/404 200/404  200/404 404/200 404     404
PATCH  /submissions/{submission_id}                                    submission         401   403     403     404     404     200/404 200/404 403/404  403/404 404/200 404     404
POST   /submissions/{submission_id}/transitions                        submit_draft       401   403     403     404     404     200/404 200/404 403/404  403/404 404/200 404     404
POST   /submissions/{submission_id}/transitions                        accept_submitted   401   200     200     404     404     403/404 403/404 403/404  403/404 404/403 404     404
POST   /submissions/{submission_id}/transitions                        set_testing        401   409     409     404     404     409/404 409/404 403/404  403/404 404/409 404     404
POST   /submissions/{submission_id}/attachments                        submission         401   403     403     404     404     201/404 201/404 403/404  403/404 404/201 404     404
GET    /submissions/{submission_id}/attachments/{attachment_id}/content attachment         401   200     200     404     404     200/404 200/404 200/404  200/404 404/200 404     404
GET    /submissions/{submission_id}/attachments/{attachment_id}/content foreign_attachment 401   404     404     404     404     404     404     404      404     404     404     404
POST   /submissions/{submission_id}/report                             report_ready       401   201     201     404     404     403/404 403/404 403/404  403/404 404/403 404     404
POST   /submissions/{submission_id}/report/approve                     report_draft       401   200     200     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /submissions/{submission_id}/report                             issued_report      401   200     200     404     404     200/404 200/404 200/404  200/404 404/200 404     404
GET    /submissions/{submission_id}/report/{name}                      issued_report      401   200     200     404     404     200/404 200/404 200/404  200/404 404/200 404     404
POST   /submissions/{submission_id}/findings                           submission         401   201     201     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /submissions/{submission_id}/findings                           submission         401   200     200     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /report-settings                                                -                  401   hid     hid     403     403     403     403     403      403     403     403     403
PUT    /report-settings                                                -                  401   200     403     403     403     403     403     403      403     403     403     403
POST   /plans                                                          -                  401   201     201     403     403     403     403     403      403     403     403     403
GET    /plans                                                          plan               401   200     200     403     403     403     403     403      403     403     403     403
GET    /plans/{ref}                                                    plan               401   200     200     404     404     404     404     404      404     404     404     404
GET    /plans/{name}/versions                                          plan_name          401   200     200     404     404     404     404     404      404     404     404     404
GET    /plans/{ref}/export                                             plan               401   200     200     404     404     404     404     404      404     404     404     404
POST   /campaigns                                                      submission         401   201     201     403     403     403     403     403      403     403     403     403
GET    /campaigns                                                      campaign           401   200     200     hid     hid     200/hid 200/hid 200/hid  200/hid hid/200 hid     hid
GET    /campaigns/{campaign_id}                                        campaign           401   200     200     404     404     200/404 200/404 200/404  200/404 404/200 404     404
POST   /campaigns/{campaign_id}/cancel                                 fresh_campaign     401   200     200     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /campaigns/{campaign_id}/results                                campaign           401   200     200     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /campaigns/{campaign_id}/logs                                   campaign           401   200     200     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /campaigns/{campaign_id}/logs/{job_id}/{name}                   campaign           401   200     200     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /campaigns/{campaign_id}/logs/{job_id}/{name}                   foreign_job        401   404     404     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /campaigns/{campaign_id}/samples                                campaign           401   200     200     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /campaigns/{campaign_id}/samples                                foreign_job        401   404     404     404     404     403/404 403/404 403/404  403/404 404/403 404     404
GET    /campaigns/{campaign_id}/events                                 campaign           401   200     200     404     404     200/404 200/404 200/404  200/404 404/200 404     404
POST   /check                                                          -                  401   200     200     200     200     200     200     200      200     200     200     200
"""

ROWS = parse_matrix(MATRIX)


def _route_key(row: Row) -> tuple[str, str]:
    return (row.method, row.path)


def test_every_api_route_is_in_the_matrix(tmp_path: Path) -> None:
    """A new route fails here until its line is added; a removed one until its line goes."""
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    every_route = api_routes(create_app(Runtime(settings=settings)))
    # The clearinghouse's routes have a matrix of their own (labels, embargoes, recipients).
    clearinghouse = {r for r in every_route if r[1].startswith(f"{PREFIX}/clearinghouse/")}
    assert clearinghouse == set(CLEARINGHOUSE_ROUTES), "clearinghouse routes without a test"
    # The CSAF provider's directories and the TAXII server are tested by labels and tokens in
    # their own modules.
    provider = {r for r in every_route if r[1].startswith("/.well-known/csaf/")}
    assert provider == set(CSAF_PROVIDER_ROUTES), "CSAF provider routes without a test"
    taxii = {r for r in every_route if r[1].startswith("/taxii2/")}
    assert taxii == set(TAXII_ROUTES), "TAXII routes without a test"
    served = every_route - clearinghouse - provider - taxii
    in_matrix = {_route_key(row) for row in ROWS}
    assert sorted(served - in_matrix) == [], "routes missing from MATRIX"
    assert sorted(in_matrix - served) == [], "MATRIX lines for routes the app does not serve"
    assert {f"{m} {p.removeprefix('/api/v1')}" for m, p in served} == set(REQUESTS)


def test_the_table_states_the_rules() -> None:
    """The table itself may not contradict the rules it is meant to check."""
    assert len({(row.route, row.target) for row in ROWS}) == len(ROWS), "duplicate lines"
    for row in ROWS:
        cases = TARGETS[row.target].cases
        assert set(row.expect) == set(PRINCIPALS)
        assert all(o.status == 401 for o in row.expect["anon"]), row.route
        for principal, outcomes in row.expect.items():
            own_org = PRINCIPAL_ORG.get(principal)
            for case, outcome in zip(cases, outcomes, strict=True):
                org = CASE_ORG[case]
                if org is None or principal == "anon" or principal in AGENCY_PRINCIPALS:
                    continue
                if own_org != org:
                    # Another org's object is never served nor listed. (403 only where the
                    # route refuses the principal whatever the id: the run checks that.)
                    refused = outcome.status in (403, 404) or outcome.listed is False
                    assert refused, (row.route, principal, case)


AREAS = {
    "accounts": ("/api/v1/orgs", "/api/v1/users", "/api/v1/tokens"),
    "audit": ("/api/v1/audit",),
    "campaigns": ("/api/v1/campaigns",),
    "defense": ("/api/v1/check",),
    "notifications": ("/api/v1/webhooks", "/api/v1/notifications"),
    "plans": ("/api/v1/plans",),
    "reports": ("/api/v1/report-settings",),
    "submissions": ("/api/v1/models", "/api/v1/submissions"),
}


def test_areas_cover_the_matrix() -> None:
    for row in ROWS:
        assert sum(row.path.startswith(AREAS[a]) for a in AREAS) == 1, row.route


@pytest.mark.parametrize("area", sorted(AREAS))
def test_authorization_matrix(api: Api, area: str) -> None:
    """Every line of the area, for every principal and case, over real HTTP calls."""
    world = build_world(api)
    problems = [
        problem
        for row in ROWS
        if row.path.startswith(AREAS[area])
        for problem in check_row(world, row)
    ]
    assert problems == [], "\n".join(["", *problems])
