"""Vulnerability reports through the API: intake, validation, dedupe, search, triage, duplicates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from predeploy.clearinghouse._ssvc import decide_coordinator_triage
from predeploy.clock import FrozenClock
from tests.clearinghouse.conftest import AI_MODEL_VULN, SOFTWARE_VULN, VULNS, Community, body
from tests.conftest import START


def _listed(community: Community, **params: Any) -> list[str]:
    response = community.get(community.analyst, VULNS, **params)
    assert response.status_code == 200, response.text
    return [v["id"] for v in response.json()["items"]]


def _audit_actions(community: Community) -> list[str]:
    response = community.get(community.api.agency_admin, "/api/v1/audit")
    assert response.status_code == 200, response.text
    return [e["action"] for e in response.json()["items"]]


def test_a_software_report_is_filed_normalised_and_scored(community: Community) -> None:
    vuln = community.file(SOFTWARE_VULN)
    assert (vuln["status"], vuln["priority"], vuln["tlp"]) == ("new", 3, "AMBER")
    assert vuln["cvss"] == {
        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "version": "3.1",
        "base_score": 9.8,
        "severity": "Critical",
    }
    assert vuln["cwe"] == "CWE-787"
    assert vuln["affected"][0]["purl"] == "pkg:pypi/libexample"
    assert vuln["fingerprint"].startswith("v1:")
    assert vuln["reporter_org_id"] == community.reporter.org_id
    assert vuln["recipients"] == {"orgs": [], "users": []}
    assert vuln["discovered_by"] == "ai_system"
    assert "vuln.filed" in _audit_actions(community)


def test_an_ai_model_report_gets_a_wilson_interval_from_its_trials(community: Community) -> None:
    vuln = community.file(AI_MODEL_VULN)
    interval = vuln["evidence"]["interval"]
    assert interval["method"] == "wilson" and interval["confidence"] == 0.95
    assert interval["low"] == pytest.approx(0.4815, abs=1e-4)
    assert interval["high"] == pytest.approx(0.7414, abs=1e-4)
    assert vuln["technique"] == {"atlas": "AML.T0054", "owasp_llm": "LLM01"}


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"cvss": "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}, "cvss", "AV"),
        ({"affected": [{"purl": "pkg:/nonsense"}]}, "affected.0.purl", "purl"),
        ({"cwe": "CWE-abc"}, "cwe", "CWE"),
        ({"embargo_end": (START - timedelta(hours=1)).isoformat()}, "embargo_end", "past"),
        ({"tlp": "RED"}, "recipients.users", "named users"),
        ({"recipients": {"orgs": ["no-such-org"]}}, "recipients.orgs.0", "does not exist"),
        ({"kind": "ai_model"}, None, "names the model"),
        ({"tlp": "WHITE"}, "tlp", "CLEAR"),
        ({"evidence": {"sampling": _nested(400)}}, "evidence.sampling", "deeper than 8"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    community: Community, changes: dict[str, Any], field: str | None, words: str
) -> None:
    response = community.post(community.reporter, VULNS, body(SOFTWARE_VULN, **changes))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    if field is not None:
        assert error["field"] == field, error
    assert words in error["message"], error
    assert _listed(community) == []
    assert "vuln.filed" not in _audit_actions(community)


def test_an_exact_duplicate_is_linked_and_closed_at_once(community: Community) -> None:
    first = community.file(SOFTWARE_VULN)
    # Same product, CWE and root cause: reworded, another version range, another reporter.
    again = body(
        SOFTWARE_VULN,
        title="libexample parse_header writes past its buffer",
        affected=[{"purl": "pkg:pypi/libexample", "versions": ["2.3.0"]}],
    )
    second = community.file(again, community.participant)
    assert second["fingerprint"] == first["fingerprint"]
    assert second["status"] == "duplicate"
    assert second["close_reason"].startswith(f"exact duplicate of {first['id']}")
    # The original is not shared with the second reporter: its id is not revealed to them.
    assert second["duplicate_of"] is None
    seen_by_analyst = community.get(community.analyst, f"{VULNS}/{second['id']}").json()
    assert seen_by_analyst["duplicate_of"] == first["id"]
    other_cwe = community.file(body(SOFTWARE_VULN, cwe="CWE-125"))
    assert other_cwe["status"] == "new" and other_cwe["fingerprint"] != first["fingerprint"]


def test_filing_is_rate_limited_per_reporter_org(community: Community) -> None:
    community.api.runtime.settings.vuln_rate_limit_per_hour = 2
    for title in ("first report", "second report"):
        community.file(body(SOFTWARE_VULN, title=title, cwe=None, root_cause=title))
    refused = community.post(community.reporter, VULNS, body(SOFTWARE_VULN, root_cause="third"))
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "3600"
    assert "2 vulnerability reports in the last hour" in refused.json()["error"]["message"]
    # Another org is not held back by this one's volume; this one is, until the hour has passed.
    community.file(body(SOFTWARE_VULN, root_cause="third"), community.participant)
    clock = community.api.runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(hours=1, seconds=1))
    community.file(body(SOFTWARE_VULN, root_cause="fourth"))


def test_full_text_search_matches_stemmed_words_and_reads_no_syntax(community: Community) -> None:
    heap = community.file(SOFTWARE_VULN)
    jailbreak = community.file(AI_MODEL_VULN)
    assert _listed(community, q="overflows heap") == [heap["id"]]
    assert _listed(community, q="fictional exploit") == [jailbreak["id"]]
    assert _listed(community, q="heap fictional") == []
    # Query syntax of either database is read as words: no error, no operator.
    assert _listed(community, q='title:heap OR "x* NEAR(') == []
    empty = community.get(community.analyst, VULNS, q="***")
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "q"


def test_triage_sets_priority_assignee_ssvc_and_status(community: Community) -> None:
    vuln = community.file(SOFTWARE_VULN)
    path = f"{VULNS}/{vuln['id']}/triage"
    values = {"RP": "N", "SCON": "N", "RC": "C", "SC": "M", "SE": "A", "U": "S", "PSI": "S"}
    step = {
        "priority": 1,
        "assignee_id": community.analyst.user_id,
        "status": "triaged",
        "ssvc": values,
    }
    response = community.post(community.analyst, path, step)
    assert response.status_code == 200, response.text
    triaged = response.json()
    assert (triaged["status"], triaged["priority"]) == ("triaged", 1)
    assert triaged["assignee_id"] == community.analyst.user_id
    expected = decide_coordinator_triage(values)
    assert triaged["ssvc"]["outcome"] == expected.outcome.name
    assert triaged["ssvc"]["inputs"] == values
    bad = community.post(community.analyst, path, {"ssvc": {**values, "RP": "maybe"}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "ssvc.RP"
    queue = community.get(community.analyst, "/api/v1/clearinghouse/triage").json()
    assert [v["id"] for v in queue] == [vuln["id"]]
    # Only the agency's analysts triage: the reporter sees the report but may not triage it.
    assert community.post(community.reporter, path, {"priority": 5}).status_code == 403
    assert community.post(community.participant, path, {"priority": 5}).status_code == 404
    declined = community.post(community.analyst, path, {"status": "declined"})
    assert declined.status_code == 422 and declined.json()["error"]["field"] == "close_reason"
    closed = community.post(
        community.analyst, path, {"status": "declined", "close_reason": "vendor already fixed it"}
    )
    assert closed.status_code == 200 and closed.json()["status"] == "declined"
    assert community.post(community.analyst, path, {"priority": 2}).status_code == 409
    assert community.get(community.analyst, "/api/v1/clearinghouse/triage").json() == []


def test_merge_and_split(community: Community) -> None:
    original = community.file(SOFTWARE_VULN)
    near = community.file(body(SOFTWARE_VULN, root_cause="src/parser.c:parse_headers"))
    twin = community.file(body(SOFTWARE_VULN, root_cause="src/parser.c:read_header"))
    merged = community.post(
        community.analyst,
        f"{VULNS}/{twin['id']}/merge",
        {"into": near["id"], "reason": "same root cause"},
    ).json()
    assert merged["duplicate_of"] == near["id"]
    # Merging `near` carries its own duplicate along: no chains.
    response = community.post(
        community.analyst,
        f"{VULNS}/{near['id']}/merge",
        {"into": original["id"], "reason": "same bug, two functions named"},
    )
    assert response.status_code == 200, response.text
    twin_now = community.get(community.analyst, f"{VULNS}/{twin['id']}").json()
    assert twin_now["duplicate_of"] == original["id"]
    loop = community.post(
        community.analyst,
        f"{VULNS}/{original['id']}/merge",
        {"into": near["id"], "reason": "would make a cycle"},
    )
    assert loop.status_code == 422, loop.text
    split = community.post(
        community.analyst, f"{VULNS}/{near['id']}/split", {"reason": "different functions"}
    ).json()
    assert (split["status"], split["duplicate_of"]) == ("triaged", None)


def test_similar_reports_are_suggested(community: Community) -> None:
    original = community.file(SOFTWARE_VULN)
    reworded = community.file(
        body(
            SOFTWARE_VULN,
            title="libexample: heap overflow when parsing long headers",
            root_cause="src/parse.c:header_parse",
        )
    )
    community.file(AI_MODEL_VULN)
    response = community.get(community.analyst, f"{VULNS}/{reworded['id']}/similar")
    assert response.status_code == 200, response.text
    suggestions = response.json()
    assert [s["id"] for s in suggestions] == [original["id"]]
    assert 0 < suggestions[0]["score"] <= 1


def test_org_admins_declare_their_clients(community: Community) -> None:
    clients = "/api/v1/clearinghouse/clients"
    wanted = {"client_org_ids": [community.client.org_id]}
    response = community.api.http.put(clients, json=wanted, headers=community.recipient.headers)
    assert response.status_code == 403
    response = community.api.http.put(
        clients, json=wanted, headers=community.recipient_admin.headers
    )
    assert response.status_code == 200 and response.json() == [community.client.org_id]
    assert community.get(community.recipient, clients).json() == [community.client.org_id]
    own = {"client_org_ids": [community.recipient.org_id]}
    refused = community.api.http.put(clients, json=own, headers=community.recipient_admin.headers)
    assert refused.status_code == 422


def test_the_ssvc_table_is_published_for_analysts_and_tools(community: Community) -> None:
    response = community.get(community.reporter, "/api/v1/clearinghouse/ssvc/coordinator-triage")
    assert response.status_code == 200, response.text
    table = response.json()
    assert [p["key"] for p in table["decision_points"]] == [
        "RP", "SCON", "RC", "SC", "SE", "U", "PSI"
    ]  # fmt: skip
    assert {v["name"] for v in table["outcome"]["values"]} == {"Decline", "Track", "Coordinate"}
