"""The clearinghouse's sharing matrix: every vulnerability-report route x principal x TLP label x
embargo (none, before its end, after it) x reporter consent x taken into a case (with the
principal's org invited as its vendor) or not; the case itself; and every advisory route x
principal (and the public, without a token) x TLP label x draft or published. Each is checked
against an oracle written from the rules in `docs/clearinghouse.md` independently of the code.

It proves threats T30 (a report or advisory reaches an org its TLP label does not allow), T31
(embargoed content reaches the community or the public early), T32 (a hidden object's existence
leaks through a 403, an error body, a listing, a search or a duplicate link) and T33 (the
visibility explanation says something else than what is enforced) of `docs/threat-model.md`.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from predeploy.clock import FrozenClock
from tests.authz_matrix import api_routes
from tests.clearinghouse.conftest import SOFTWARE_VULN, VULNS, Community, body
from tests.conftest import START, Caller
from tests.interop.test_feeds import feed_ids

CASES = "/api/v1/clearinghouse/cases"
ADVISORIES = "/api/v1/clearinghouse/advisories"

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
    (
        "POST",
        "/api/v1/clearinghouse/cases/{case_id}/embargo/override",
    ): "test_advisories.py::test_ending_an_embargo_early_needs_a_second_analyst",
    (
        "POST",
        "/api/v1/clearinghouse/cases/{case_id}/embargo/override/approve",
    ): "test_advisories.py::test_ending_an_embargo_early_needs_a_second_analyst",
    ("POST", "/api/v1/clearinghouse/advisories"): "test_advisories.py::test_bad_advisory_...",
    ("GET", "/api/v1/clearinghouse/advisories"): "test_every_principal_sees_exactly_the_...",
    (
        "GET",
        "/api/v1/clearinghouse/advisories/{advisory_id}",
    ): "test_every_principal_sees_exactly_the_advisories_the_rules_allow",
    (
        "GET",
        "/api/v1/clearinghouse/advisories/{advisory_id}/revisions/{number}",
    ): "test_every_principal_sees_exactly_the_advisories_the_rules_allow",
    (
        "POST",
        "/api/v1/clearinghouse/advisories/{advisory_id}/publish",
    ): "test_every_principal_sees_exactly_the_advisories_the_rules_allow",
    ("POST", "/api/v1/clearinghouse/advisories/import"): "tests/interop/test_osv.py::test_who_...",
    ("GET", "/api/v1/clearinghouse/exports"): "tests/interop/test_bulk_export.py::test_only_...",
    (
        "GET",
        "/api/v1/clearinghouse/advisories/{advisory_id}/export",
    ): "tests/interop/test_osv.py::test_green_imports_reach_the_community_only",
    (
        "GET",
        "/api/v1/clearinghouse/feeds/advisories.atom",
    ): "test_every_principal_sees_exactly_the_advisories_the_rules_allow; test_feeds.py",
    (
        "GET",
        "/api/v1/clearinghouse/feeds/advisories.json",
    ): "test_every_principal_sees_exactly_the_advisories_the_rules_allow; test_feeds.py",
    ("GET", "/api/v1/clearinghouse/settings"): "test_advisories.py::test_the_two_person_rule_...",
    ("PATCH", "/api/v1/clearinghouse/settings"): "test_advisories.py::test_the_two_person_...",
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
`developer` belongs to a developer/vendor org that is neither participant nor recipient, and is
the invited vendor of every case."""

PARTICIPANT_ORGS = frozenset({"reporter", "recipient", "client", "participant"})
CASE_PARTICIPANTS = frozenset({"analyst", "reporter", "developer"})
"""Who sees a case: the agency's analysts, the reporting org, the invited vendor."""


@dataclass(frozen=True)
class Shared:
    """One filed report and the conditions it was filed under."""

    id: str
    word: str
    tlp: str
    embargoed: bool
    consent: bool
    case: str | None
    """The case the report was taken into, if any."""


def sees(principal: str, report: Shared, *, embargo_over: bool) -> bool:
    """The oracle: the sharing rules as the documentation states them."""
    if principal in ("analyst", "reporter"):
        return True
    if not report.consent:
        return False
    if principal == "named" or (principal == "developer" and report.case is not None):
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
    for tlp, embargoed, consent, in_case in itertools.product(
        LABELS, (False, True), (True, False), (False, True)
    ):
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
        case = _open_case(community, filed["id"]) if in_case else None
        reports.append(Shared(filed["id"], word, tlp, embargoed, consent, case))
    return reports


def _open_case(community: Community, vuln_id: str) -> str:
    """A case of `vuln_id`, with the developer org invited as its vendor."""
    opened = community.post(community.analyst, CASES, {"vulns": [vuln_id], "title": "a case"})
    assert opened.status_code == 201, opened.text
    number: str = opened.json()["number"]
    invited = community.post(
        community.analyst, f"{CASES}/{number}/vendors", {"org_id": community.developer.org_id}
    )
    assert invited.status_code == 201, invited.text
    return number


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
                if report.case is not None:
                    case_seen = community.get(caller, f"{CASES}/{report.case}").status_code
                    if case_seen != (200 if principal in CASE_PARTICIPANTS else 404):
                        mismatches.append((where, "case", case_seen))
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


def sees_advisory(principal: str, tlp: str, *, published: bool) -> bool:
    """The oracle for advisories: the agency sees drafts; once published, the case's
    participants, the named user, and the label's audience (`public` has no token)."""
    if principal == "analyst":
        return True
    if not published:
        return False
    if principal in CASE_PARTICIPANTS or principal == "named":
        return True
    audience = {
        "RED": set(),
        "AMBER+STRICT": {"recipient"},
        "AMBER": {"recipient", "client"},
        "GREEN": {"recipient"} | PARTICIPANT_ORGS,
        "CLEAR": set(PRINCIPALS) | {"public"},
    }
    return principal in audience[tlp]


def _draft_every_label(community: Community) -> dict[str, tuple[str, str]]:
    """One advisory per label, drafted from a coordinating case (the developer org invited)
    whose embargo ends at EMBARGO_END; by label, the advisory's and the case's numbers."""
    declared = community.api.http.put(
        "/api/v1/clearinghouse/clients",
        json={"client_org_ids": [community.client.org_id]},
        headers=community.recipient_admin.headers,
    )
    assert declared.status_code == 200, declared.text
    numbers = {}
    for tlp in LABELS:
        word = uuid.uuid4().hex[:10]
        vuln = community.file(body(SOFTWARE_VULN, tlp="AMBER", root_cause=f"src/{word}.c:f"))
        case = _open_case(community, vuln["id"])
        embargo = {"embargo_end": EMBARGO_END.isoformat()}
        moved = community.api.http.patch(
            f"{CASES}/{case}/embargo", json=embargo, headers=community.analyst.headers
        )
        assert moved.status_code == 200, moved.text
        coordinating = community.post(
            community.analyst, f"{CASES}/{case}/state", {"state": "coordinating"}
        )
        assert coordinating.status_code == 200, coordinating.text
        recipients = {"orgs": [community.recipient.org_id], "users": [community.vendor.user_id]}
        drafted = community.post(community.analyst, ADVISORIES, {
            "case": case, "title": f"{tlp} advisory", "summary": f"about {word}",
            "remediation": "Upgrade.", "tlp": tlp, "recipients": recipients})  # fmt: skip
        assert drafted.status_code == 201, drafted.text
        numbers[tlp] = (drafted.json()["number"], case)
    return numbers


def _publish_drafts(
    community: Community, numbers: dict[str, tuple[str, str]], approver: Caller
) -> None:
    for number, _ in numbers.values():
        draft = community.get(community.analyst, f"{ADVISORIES}/{number}").json()["draft"]
        published = community.post(
            approver, f"{ADVISORIES}/{number}/publish", {"sha256": draft["sha256"]}
        )
        assert published.status_code == 200, published.text


def test_every_principal_sees_exactly_the_advisories_the_rules_allow(
    community: Community,
) -> None:
    numbers = _draft_every_label(community)
    callers: dict[str, Caller | None] = {**_callers(community), "public": None}
    second = community.api.user(community.api.agency_admin.org_id, "analyst")
    clock = community.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    mismatches = []
    for published in (False, True):
        if published:
            clock.set(EMBARGO_END + timedelta(seconds=1))
            _publish_drafts(community, numbers, second)
        for principal, caller in callers.items():
            listed = {
                a["number"] for a in community.get(caller, ADVISORIES, limit=500).json()["items"]
            }
            fed = set(feed_ids(community, caller, limit=500))
            absent = community.get(caller, f"{ADVISORIES}/PDXA-2026-9999")
            assert absent.status_code == 404
            for tlp, (number, _) in numbers.items():
                expected = sees_advisory(principal, tlp, published=published)
                where = (principal, tlp, published)
                one = community.get(caller, f"{ADVISORIES}/{number}")
                first = community.get(caller, f"{ADVISORIES}/{number}/revisions/1")
                got = {
                    "get": one.status_code == 200,
                    "list": number in listed,
                    # A draft's revision is the agency's alone, like the draft itself.
                    "revision": first.status_code == 200,
                }
                if any(value != expected for value in got.values()):
                    mismatches.append((where, expected, got))
                # Feeds (Atom and JSON) carry published advisories only: drafts in no one's.
                if (number in fed) != (expected and published):
                    mismatches.append((where, expected and published, {"feed": number in fed}))
                if not expected:
                    assert one.json() == _swap(absent.json(), "PDXA-2026-9999", number), where
                if caller is not None:
                    explained = community.get(
                        community.analyst,
                        "/api/v1/clearinghouse/visibility/explain",
                        object=f"advisory:{number}",
                        org=caller.org_id,
                        user=caller.user_id,
                    ).json()
                    if explained["visible"] != expected:
                        mismatches.append((where, expected, {"explain": explained}))
    assert mismatches == []

    # Publishing is the agency's: those who see the advisory are refused, the rest see nothing.
    for tlp, (number, case) in numbers.items():
        redraft = community.post(community.analyst, ADVISORIES, {
            "case": case, "title": "revised", "summary": "revised",
            "remediation": "Upgrade now.", "tlp": tlp})  # fmt: skip
        assert redraft.status_code == 201, redraft.text
        sha256 = redraft.json()["draft"]["sha256"]
        for principal, caller in callers.items():
            if principal == "analyst":
                continue
            response = community.post(caller, f"{ADVISORIES}/{number}/publish", {"sha256": sha256})
            if caller is None:
                expected_status = 401
            elif sees_advisory(principal, tlp, published=True):
                expected_status = 403
            else:
                expected_status = 404
            assert response.status_code == expected_status, (principal, tlp, response.text)


PUBLIC_ROUTES = {
    ("GET", "/api/v1/clearinghouse/advisories"),
    ("GET", "/api/v1/clearinghouse/advisories/{advisory_id}"),
    ("GET", "/api/v1/clearinghouse/advisories/{advisory_id}/revisions/{number}"),
    ("GET", "/api/v1/clearinghouse/advisories/{advisory_id}/export"),
    ("GET", "/api/v1/clearinghouse/exports"),
    ("GET", "/api/v1/clearinghouse/feeds/advisories.atom"),
    ("GET", "/api/v1/clearinghouse/feeds/advisories.json"),
}
"""The only routes that answer without a token (as the public)."""


def test_only_advisory_reads_answer_without_a_token(community: Community) -> None:
    routes = api_routes(community.api.http.app)  # type: ignore[arg-type]
    clearinghouse = {r for r in routes if r[1].startswith("/api/v1/clearinghouse/")}
    assert clearinghouse >= PUBLIC_ROUTES
    for method, path in sorted(clearinghouse):
        url = re.sub(r"\{number\}", "1", path)
        url = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), url)
        response = community.api.http.request(method, url, json={})
        if (method, path) in PUBLIC_ROUTES:
            assert response.status_code in (200, 404), (method, path, response.text)
        else:
            assert response.status_code == 401, (method, path, response.text)
