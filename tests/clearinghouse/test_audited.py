"""Every clearinghouse action is in the audit log: one flow calls every route that changes
something, and each call must add the event named here (`AUDITED` must list every such route)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from httpx2 import Response
from sqlalchemy import func, select

from predeploy.audit.models import AuditEvent
from predeploy.clock import FrozenClock
from tests.authz_matrix import api_routes
from tests.clearinghouse.conftest import SOFTWARE_VULN, VULNS, Community, body
from tests.conftest import START

PREFIX = "/api/v1/clearinghouse"
AUDITED = {
    ("POST", "/vulns"): "vuln.filed",
    ("POST", "/vulns/from-finding"): "finding.sent",  # test_findings.py: needs a campaign
    ("POST", "/vulns/{vuln_id}/attachments"): "vuln.attachment_add",
    ("POST", "/vulns/{vuln_id}/triage"): "vuln.triaged",
    ("POST", "/vulns/{vuln_id}/merge"): "vuln.triaged",
    ("POST", "/vulns/{vuln_id}/split"): "vuln.split",
    ("PUT", "/clients"): "org.clients_set",
    ("POST", "/cases"): "case.opened",
    ("POST", "/cases/{case_id}/vulnerabilities"): "case.vulnerability_added",
    ("POST", "/cases/{case_id}/vendors"): "case.vendor_invited",
    ("POST", "/cases/{case_id}/vendors/{org_id}/status"): "case.vendor_status",
    ("POST", "/cases/{case_id}/vendors/{org_id}/approve"): "case.statement_approved",
    ("POST", "/cases/{case_id}/state"): "case.state",
    ("PATCH", "/cases/{case_id}/embargo"): "case.embargo",
    ("POST", "/cases/{case_id}/embargo/override"): "case.embargo_override_requested",
    ("POST", "/cases/{case_id}/embargo/override/approve"): "case.embargo_overridden",
    ("POST", "/cases/{case_id}/posts"): "case.post_added",
    ("PATCH", "/cases/{case_id}/posts/{post_id}"): "case.post_edited",
    ("POST", "/advisories"): "advisory.drafted",
    ("POST", "/advisories/{advisory_id}/publish"): "advisory.published",
    ("POST", "/advisories/import"): "advisories.imported",
    ("PATCH", "/settings"): "settings.change",
}
"""Each clearinghouse route that changes something, and the audit event it records."""


def _count(community: Community, action: str) -> int:
    with community.api.runtime.sessions() as session:
        found = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )
    return found or 0


def test_every_changing_route_is_listed(community: Community) -> None:
    routes = api_routes(community.api.http.app)  # type: ignore[arg-type]
    changing = {
        (method, path.removeprefix(PREFIX))
        for method, path in routes
        if path.startswith(f"{PREFIX}/") and method != "GET"
    }
    assert changing == set(AUDITED)


def test_every_clearinghouse_action_is_audited(community: Community) -> None:
    http, analyst = community.api.http, community.analyst
    second = community.api.user(community.api.agency_admin.org_id, "analyst")
    clock = community.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    done: set[tuple[str, str]] = set()

    def audited(route: tuple[str, str], call: Callable[[], Response]) -> Any:
        before = _count(community, AUDITED[route])
        response = call()
        assert response.is_success, (route, response.text)
        assert _count(community, AUDITED[route]) > before, route
        done.add(route)
        return response.json()

    def post(caller: Any, path: str, json: Any = None) -> Callable[[], Response]:
        return lambda: http.post(f"{PREFIX}{path}", json=json, headers=caller.headers)

    def patch(caller: Any, path: str, json: Any) -> Callable[[], Response]:
        return lambda: http.patch(f"{PREFIX}{path}", json=json, headers=caller.headers)

    reporter = community.reporter
    credited = body(SOFTWARE_VULN, consent={"share": True, "credit": True})
    vuln = audited(("POST", "/vulns"), post(reporter, "/vulns", credited))["id"]
    other = audited(("POST", "/vulns"),
                    post(reporter, "/vulns", body(credited, root_cause="src/b.c:g")))["id"]  # fmt: skip
    audited(("POST", "/vulns/{vuln_id}/attachments"), lambda: http.post(
        f"{VULNS}/{vuln}/attachments", content=b"poc", params={"filename": "poc.py"},
        headers={**reporter.headers, "Content-Type": "text/plain"}))  # fmt: skip
    audited(("POST", "/vulns/{vuln_id}/triage"), post(analyst, f"/vulns/{vuln}/triage",
                                                      {"priority": 1}))  # fmt: skip
    audited(("POST", "/vulns/{vuln_id}/merge"), post(analyst, f"/vulns/{other}/merge",
                                                     {"into": vuln, "reason": "same"}))  # fmt: skip
    audited(("POST", "/vulns/{vuln_id}/split"), post(analyst, f"/vulns/{other}/split",
                                                     {"reason": "not the same"}))  # fmt: skip
    audited(("PUT", "/clients"), lambda: http.put(
        f"{PREFIX}/clients", json={"client_org_ids": [community.client.org_id]},
        headers=community.recipient_admin.headers))  # fmt: skip

    case = audited(("POST", "/cases"), post(analyst, "/cases",
                                            {"vulns": [vuln], "title": "Overflow"}))["number"]  # fmt: skip
    path = f"/cases/{case}"
    added = audited(("POST", "/cases/{case_id}/vulnerabilities"),
                    post(analyst, f"{path}/vulnerabilities", {"title": "Overflow"}))  # fmt: skip
    vulnerability = added["vulnerabilities"][0]["id"]
    vendor = community.vendor.org_id
    audited(("POST", "/cases/{case_id}/vendors"),
            post(analyst, f"{path}/vendors", {"org_id": vendor}))  # fmt: skip
    audited(("POST", "/cases/{case_id}/vendors/{org_id}/status"),
            post(community.vendor, f"{path}/vendors/{vendor}/status",
                 {"vulnerability_id": vulnerability, "status": "fixed"}))  # fmt: skip
    audited(("POST", "/cases/{case_id}/vendors/{org_id}/approve"),
            post(analyst, f"{path}/vendors/{vendor}/approve",
                 {"vulnerability_id": vulnerability}))  # fmt: skip
    audited(("POST", "/cases/{case_id}/state"),
            post(analyst, f"{path}/state", {"state": "coordinating"}))  # fmt: skip
    audited(("PATCH", "/cases/{case_id}/embargo"), patch(
        analyst, f"{path}/embargo", {"embargo_end": (START + timedelta(days=9)).isoformat()}))  # fmt: skip
    audited(("POST", "/cases/{case_id}/embargo/override"),
            post(analyst, f"{path}/embargo/override", {"reason": "exploited"}))  # fmt: skip
    audited(("POST", "/cases/{case_id}/embargo/override/approve"),
            post(second, f"{path}/embargo/override/approve"))  # fmt: skip
    post_id = audited(("POST", "/cases/{case_id}/posts"),
                      post(community.vendor, f"{path}/posts", {"body": "hi"}))["id"]  # fmt: skip
    audited(("PATCH", "/cases/{case_id}/posts/{post_id}"),
            patch(community.vendor, f"{path}/posts/{post_id}", {"body": "hello"}))  # fmt: skip

    draft = audited(("POST", "/advisories"), post(analyst, "/advisories", {
        "case": case, "title": "Overflow", "summary": "An overflow.",
        "remediation": "Upgrade."}))["draft"]  # fmt: skip
    audited(("POST", "/advisories/{advisory_id}/publish"),
            post(second, "/advisories/PDXA-2026-0001/publish", {"sha256": draft["sha256"]}))  # fmt: skip
    osv = {"id": "PYSEC-2099-1", "modified": "2099-01-01T00:00:00Z"}
    audited(("POST", "/advisories/import"), lambda: http.post(
        f"{PREFIX}/advisories/import", json=osv, headers=analyst.headers))  # fmt: skip
    audited(("PATCH", "/settings"), patch(community.api.agency_admin, "/settings",
                                          {"two_person_rule": False, "reason": "test"}))  # fmt: skip
    assert set(AUDITED) - done == {("POST", "/vulns/from-finding")}
