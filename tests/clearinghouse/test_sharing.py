"""The clearinghouse's sharing matrix: every vulnerability-report route x principal x TLP label x
embargo (none, before its end, after it) x reporter consent, against an oracle written from the
rules in `docs/clearinghouse.md` independently of the code.

It proves threats T30 (a report reaches an org its TLP label does not allow), T31 (embargoed
content reaches the community early), T32 (a hidden report's existence leaks through a 403, an
error body, a listing, a search or a duplicate link) and T33 (the visibility explanation says
something else than what is enforced) of `docs/threat-model.md`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from predeploy.clock import FrozenClock
from tests.clearinghouse.conftest import SOFTWARE_VULN, VULNS, Community, body
from tests.conftest import START, Caller

COVERED_ROUTES = {
    ("POST", "/api/v1/clearinghouse/vulns"): "test_vulns.py (who files; bad input)",
    ("GET", "/api/v1/clearinghouse/vulns"): "test_every_principal_sees_exactly_what_...",
    ("GET", "/api/v1/clearinghouse/vulns/{vuln_id}"): "test_every_principal_sees_exactly_...",
    ("POST", "/api/v1/clearinghouse/vulns/{vuln_id}/triage"): "test_analyst_routes_refuse_...",
    ("POST", "/api/v1/clearinghouse/vulns/{vuln_id}/merge"): "test_analyst_routes_refuse_...",
    ("POST", "/api/v1/clearinghouse/vulns/{vuln_id}/split"): "test_analyst_routes_refuse_...",
    ("GET", "/api/v1/clearinghouse/vulns/{vuln_id}/similar"): "test_analyst_routes_refuse_...",
    ("POST", "/api/v1/clearinghouse/vulns/{vuln_id}/attachments"): "test_attachments.py",
    (
        "GET",
        "/api/v1/clearinghouse/vulns/{vuln_id}/attachments/{attachment_id}/content",
    ): "test_attachments.py",
    ("POST", "/api/v1/clearinghouse/vulns/from-finding"): "test_findings.py",
    ("GET", "/api/v1/clearinghouse/triage"): "test_analyst_only_lists",
    ("GET", "/api/v1/clearinghouse/visibility/explain"): "test_explain_is_for_agency_...",
    ("GET", "/api/v1/clearinghouse/clients"): "test_vulns.py::test_org_admins_declare_...",
    ("PUT", "/api/v1/clearinghouse/clients"): "test_vulns.py::test_org_admins_declare_...",
    ("GET", "/api/v1/clearinghouse/ssvc/coordinator-triage"): "test_analyst_only_lists",
    ("POST", "/api/v1/clearinghouse/cases"): "test_cases.py::test_who_may_do_what_on_a_case",
    ("GET", "/api/v1/clearinghouse/cases"): "test_cases.py::test_a_case_is_seen_by_its_...",
    ("GET", "/api/v1/clearinghouse/cases/{case_id}"): "test_cases.py::test_a_case_is_seen_by_...",
    ("POST", "/api/v1/clearinghouse/cases/{case_id}/state"): "test_cases.py::test_who_may_do_...",
    ("PATCH", "/api/v1/clearinghouse/cases/{case_id}/embargo"): "test_cases.py::test_who_may_...",
    (
        "POST",
        "/api/v1/clearinghouse/cases/{case_id}/vulnerabilities",
    ): "test_cases.py::test_who_may_do_what_on_a_case",
    ("POST", "/api/v1/clearinghouse/cases/{case_id}/vendors"): "test_cases.py::test_who_may_...",
    (
        "POST",
        "/api/v1/clearinghouse/cases/{case_id}/vendors/{org_id}/status",
    ): "test_cases.py::test_who_may_do_what_on_a_case",
    (
        "POST",
        "/api/v1/clearinghouse/cases/{case_id}/vendors/{org_id}/approve",
    ): "test_cases.py::test_who_may_do_what_on_a_case",
    ("GET", "/api/v1/clearinghouse/cases/{case_id}/posts"): "test_cases.py::test_a_case_is_...",
    ("POST", "/api/v1/clearinghouse/cases/{case_id}/posts"): "test_cases.py::test_who_may_...",
    (
        "PATCH",
        "/api/v1/clearinghouse/cases/{case_id}/posts/{post_id}",
    ): "test_cases.py::test_who_may_do_what_on_a_case",
}
"""Every clearinghouse route, and the test that proves who may call it (the general matrix in
`tests/test_authorization.py` leaves these routes to the clearinghouse's own)."""

LABELS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
EMBARGO_END = START + timedelta(days=1)

PRINCIPALS = (
    "analyst", "evaluator", "reporter", "recipient", "client", "participant", "named", "developer"
)  # fmt: skip
"""`named` is a vendor-only org's member who is a named user recipient of every report;
`recipient` belongs to the recipient org, whose declared client is `client`'s org; `participant`
belongs to another participant org; `evaluator` is the agency's (no clearinghouse role);
`developer` belongs to a developer/vendor org that is neither participant nor recipient."""

PARTICIPANT_ORGS = frozenset({"reporter", "recipient", "client", "participant"})


@dataclass(frozen=True)
class Shared:
    """One filed report and the conditions it was filed under."""

    id: str
    word: str
    tlp: str
    embargoed: bool
    consent: bool


def sees(principal: str, report: Shared, *, embargo_over: bool) -> bool:
    """The oracle: the sharing rules as the documentation states them."""
    if principal in ("analyst", "reporter"):
        return True
    if not report.consent:
        return False
    if principal == "named":
        return True
    released = not report.embargoed or embargo_over
    recipient_org = principal == "recipient"
    if report.tlp == "RED":
        return False
    if report.tlp == "AMBER+STRICT":
        return recipient_org
    if report.tlp == "AMBER":
        return recipient_org or principal == "client"
    if report.tlp == "GREEN":
        return recipient_org or (principal in PARTICIPANT_ORGS and released)
    return recipient_org or released


def _callers(community: Community) -> dict[str, Caller]:
    return {
        "analyst": community.analyst,
        "evaluator": community.evaluator,
        "reporter": community.reporter,
        "recipient": community.recipient,
        "client": community.client,
        "participant": community.participant,
        "named": community.vendor,
        "developer": community.developer,
    }


def _file_every_combination(community: Community) -> list[Shared]:
    declared = community.api.http.put(
        "/api/v1/clearinghouse/clients",
        json={"client_org_ids": [community.client.org_id]},
        headers=community.recipient_admin.headers,
    )
    assert declared.status_code == 200, declared.text
    reports = []
    for tlp in LABELS:
        for embargoed in (False, True):
            for consent in (True, False):
                word = f"marker{uuid.uuid4().hex[:10]}"
                filed = community.file(
                    body(
                        SOFTWARE_VULN,
                        title=f"{tlp} report {word}",
                        tlp=tlp,
                        root_cause=f"src/{word}.c:f",
                        embargo_end=EMBARGO_END.isoformat() if embargoed else None,
                        consent={"share": consent, "credit": False},
                        recipients={
                            "orgs": [community.recipient.org_id],
                            "users": [community.vendor.user_id],
                        },
                    )
                )
                reports.append(Shared(filed["id"], word, tlp, embargoed, consent))
    return reports


def _not_found_body(community: Community, caller: Caller, vuln_id: str, suffix: str = "") -> Any:
    response = community.get(caller, f"{VULNS}/{vuln_id}{suffix}")
    assert response.status_code == 404
    return response.json()


def test_every_principal_sees_exactly_what_the_rules_allow(community: Community) -> None:
    reports = _file_every_combination(community)
    callers = _callers(community)
    clock = community.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    mismatches = []
    for embargo_over in (False, True):
        if embargo_over:
            clock.set(EMBARGO_END + timedelta(seconds=1))
        for principal, caller in callers.items():
            listed = {
                v["id"]
                for v in community.api.http.get(
                    VULNS, params={"limit": 500}, headers=caller.headers
                ).json()["items"]
            }
            missing = str(uuid.uuid4())
            absent = _not_found_body(community, caller, missing)
            for report in reports:
                expected = sees(principal, report, embargo_over=embargo_over)
                where = (principal, report.tlp, report.embargoed, report.consent, embargo_over)
                one = community.get(caller, f"{VULNS}/{report.id}")
                searched = community.get(caller, VULNS, q=report.word).json()["items"]
                got = {
                    "get": one.status_code == 200,
                    "list": report.id in listed,
                    "search": [v["id"] for v in searched] == [report.id],
                }
                if any(value != expected for value in got.values()):
                    mismatches.append((where, expected, got))
                if not expected:
                    # Hidden and missing are indistinguishable, and nothing names the report.
                    assert one.status_code == 404, where
                    assert one.json() == _swap(absent, missing, report.id), where
                    assert searched == [], where
                explained = community.get(
                    community.analyst,
                    "/api/v1/clearinghouse/visibility/explain",
                    object=f"vuln:{report.id}",
                    org=caller.org_id,
                    user=caller.user_id,
                ).json()
                if explained["visible"] != expected:
                    mismatches.append((where, expected, {"explain": explained}))
    assert mismatches == []


def _swap(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    if isinstance(value, str):
        return value.replace(old, new)
    return value


@pytest.mark.parametrize(
    ("route", "payload"),
    [
        ("triage", {"priority": 1}),
        ("merge", {"into": "placeholder", "reason": "same bug"}),
        ("split", {"reason": "not the same"}),
        ("similar", None),
    ],
)
def test_analyst_routes_refuse_others_by_what_they_can_see(
    community: Community, route: str, payload: dict[str, Any] | None
) -> None:
    shared = community.file(body(SOFTWARE_VULN, tlp="AMBER+STRICT",
                                 recipients={"orgs": [community.recipient.org_id]}))  # fmt: skip
    other = community.file(body(SOFTWARE_VULN, root_cause="src/other.c:g"))
    if payload is not None and "into" in payload:
        payload = {**payload, "into": other["id"]}
    path = f"{VULNS}/{shared['id']}/{route}"
    for caller, status in (
        (community.reporter, 403),
        (community.recipient, 403),
        (community.participant, 404),
        (community.developer, 404),
        (community.evaluator, 404),
    ):
        response = (
            community.get(caller, path)
            if payload is None
            else community.post(caller, path, payload)
        )
        assert response.status_code == status, (caller, route, response.text)
    anonymous = (
        community.get(None, path) if payload is None else community.post(None, path, payload)
    )
    assert anonymous.status_code == 401


def test_explain_is_for_agency_analysts_and_says_why(community: Community) -> None:
    vuln = community.file(body(SOFTWARE_VULN, tlp="AMBER",
                               recipients={"orgs": [community.recipient.org_id]}))  # fmt: skip
    params = {"object": f"vuln:{vuln['id']}", "org": community.participant.org_id}
    path = "/api/v1/clearinghouse/visibility/explain"
    for caller in (community.reporter, community.recipient, community.evaluator):
        assert community.get(caller, path, **params).status_code == 403
    answer = community.get(community.analyst, path, **params).json()
    assert answer["visible"] is False, answer
    assert answer["reasons"] == [
        "TLP:AMBER: Other Participant is neither a recipient org nor a client of one"
    ]
    params["org"] = community.recipient.org_id
    answer = community.get(community.analyst, path, **params).json()
    assert answer == {
        "object": f"vuln:{vuln['id']}",
        "org_id": community.recipient.org_id,
        "user_id": None,
        "visible": True,
        "reasons": ["TLP:AMBER: Recipient CERT is a recipient org"],
    }


def test_analyst_only_lists(community: Community) -> None:
    community.file(SOFTWARE_VULN)
    queue = "/api/v1/clearinghouse/triage"
    assert community.get(community.analyst, queue).status_code == 200
    for caller in (community.reporter, community.evaluator, community.participant):
        assert community.get(caller, queue).status_code == 403
    assert community.get(None, queue).status_code == 401
    table = "/api/v1/clearinghouse/ssvc/coordinator-triage"
    assert community.get(community.participant, table).status_code == 200
    assert community.get(None, table).status_code == 401
    for path in (VULNS, "/api/v1/clearinghouse/clients"):
        assert community.get(None, path).status_code == 401
