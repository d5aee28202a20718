"""Report routes over HTTP: draft, approve, versions, the four files, findings, the two-person
rule; visibility and error answers."""

from __future__ import annotations

from typing import Any

from predeploy.reports._signing import verify_report
from tests.conftest import Caller
from tests.reports.conftest import Desk


def _report(desk: Desk, sub_id: str) -> str:
    return f"/submissions/{sub_id}/report"


def _file(desk: Desk, sub_id: str, name: str, caller: Caller) -> Any:
    return desk.world.api.http.get(
        f"/api/v1/submissions/{sub_id}/report/{name}", headers=caller.headers
    )


def _approve(desk: Desk, sub_id: str, caller: Caller) -> Any:
    """Approve the current draft as `caller`, naming the digest an evaluator reads first."""
    world = desk.world
    versions = world.get(_report(desk, sub_id), desk.second).json()["versions"]
    digest = versions[-1]["draft_sha256"] if versions else None
    body = {"draft_sha256": digest or "0" * 64}
    return world.post(f"{_report(desk, sub_id)}/approve", caller, body)


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["message"]
    return error


def test_issue_and_download_every_file(desk: Desk) -> None:
    world = desk.world
    sub_id, _ = desk.ready()
    drafted = world.post(_report(desk, sub_id), desk.evaluator, {"limitations": ["one seed"]})
    assert drafted.status_code == 201, drafted.text
    assert drafted.json()["document"]["limitations"] == ["one seed"]

    refused = _error(_approve(desk, sub_id, desk.evaluator), 409)
    assert "two-person rule" in refused["message"]
    approved = _approve(desk, sub_id, desk.second)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "issued"

    report = world.get(_report(desk, sub_id), world.dev_viewer).json()
    assert [(v["version"], v["status"]) for v in report["versions"]] == [(1, "issued")]
    expected = {
        "json": "application/json",
        "sig": "text/plain; charset=us-ascii",
        "html": "text/html; charset=utf-8",
        "pdf": "application/pdf",
    }
    files = {}
    for fmt, media_type in expected.items():
        response = _file(desk, sub_id, f"1.{fmt}", world.dev_viewer)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == media_type
        suffix = "json.sig" if fmt == "sig" else fmt
        assert response.headers["content-disposition"] == (
            f'attachment; filename="report-{sub_id}-v1.{suffix}"'
        )
        files[fmt] = response.content
    verified = verify_report(files["json"], files["sig"], report["public_key_pem"])
    assert verified.sha256 == approved.json()["sha256"]
    assert verified.key_id == report["key_id"]
    assert files["pdf"].startswith(b"%PDF")
    assert verified.sha256 in files["html"].decode()
    assert world.get(f"/submissions/{sub_id}", world.submitter).json()["state"] == "report_issued"


def test_drafts_and_other_orgs_reports_are_hidden(desk: Desk) -> None:
    world = desk.world
    sub_id, _ = desk.ready()
    world.post(_report(desk, sub_id), desk.evaluator, {})
    assert world.get(_report(desk, sub_id), world.submitter).json()["versions"] == []
    hidden = _error(_file(desk, sub_id, "1.json", world.submitter), 404)
    missing = _error(_file(desk, sub_id, "9.json", world.submitter), 404)
    assert hidden == {**missing, "message": missing["message"].replace("version 9", "version 1")}
    unsigned = _error(_file(desk, sub_id, "1.sig", desk.evaluator), 409)
    assert "draft" in unsigned["message"]
    assert _file(desk, sub_id, "1.json", desk.evaluator).status_code == 200

    _approve(desk, sub_id, desk.second)
    for outsider in (world.other_submitter, world.vendor, world.analyst):
        _error(world.get(_report(desk, sub_id), outsider), 404)
        _error(_file(desk, sub_id, "1.json", outsider), 404)
    _error(world.get(f"/submissions/{sub_id}/findings", world.submitter), 403)


def test_an_amendment_is_version_two(desk: Desk) -> None:
    world = desk.world
    sub_id, _ = desk.ready()
    world.post(_report(desk, sub_id), desk.evaluator, {})
    first = _approve(desk, sub_id, desk.second).json()
    no_reason = _error(world.post(_report(desk, sub_id), desk.evaluator, {}), 422)
    assert no_reason["field"] == "amendment_reason"
    amended = world.post(
        _report(desk, sub_id), desk.evaluator, {"amendment_reason": "added a finding"}
    )
    assert amended.status_code == 201, amended.text
    assert (amended.json()["version"], amended.json()["supersedes_id"]) == (2, first["id"])
    # The amendment is a draft: the developer still sees version 1 only.
    assert [v["version"] for v in world.get(_report(desk, sub_id), world.submitter).json()[
        "versions"
    ]] == [1]  # fmt: skip
    _approve(desk, sub_id, desk.second)
    versions = world.get(_report(desk, sub_id), world.submitter).json()
    assert [v["version"] for v in versions["versions"]] == [1, 2]
    assert versions["latest_issued"] == 2


def test_findings_and_the_two_person_rule(desk: Desk) -> None:
    world = desk.world
    sub_id, campaign_id = desk.ready()
    body = {
        "title": "Key recovery",
        "text": "Recovered the key.",
        "severity": "medium",
        "transcripts": [
            {"campaign_id": campaign_id, "sample_id": "s", "epoch": 1, "model_label": "production"}
        ],
    }
    added = world.post(f"/submissions/{sub_id}/findings", desk.evaluator, body)
    assert added.status_code == 201, added.text
    assert added.json()["vuln_id"] is None
    listed = world.get(f"/submissions/{sub_id}/findings", desk.second).json()
    assert [f["id"] for f in listed] == [added.json()["id"]]
    bad = _error(
        world.post(f"/submissions/{sub_id}/findings", desk.evaluator, {**body, "severity": "x"}),
        422,
    )
    assert bad["field"] == "severity"

    settings = "/report-settings"
    off = {"two_person_rule": False, "reason": "pilot"}
    api = world.api.http
    _error(api.put(f"/api/v1{settings}", json=off, headers=desk.evaluator.headers), 403)
    _error(api.put(f"/api/v1{settings}", json=off, headers=world.dev_admin.headers), 403)
    _error(
        api.put(f"/api/v1{settings}", json={"two_person_rule": False}, headers=world.agency_admin.headers),
        422,
    )  # fmt: skip
    changed = api.put(f"/api/v1{settings}", json=off, headers=world.agency_admin.headers)
    assert changed.status_code == 200, changed.text
    assert world.get(settings, desk.evaluator).json()["two_person_rule"] is False
    world.post(_report(desk, sub_id), desk.evaluator, {})
    alone = _approve(desk, sub_id, desk.evaluator)
    assert alone.status_code == 200, alone.text
    document = _file(desk, sub_id, "1.json", world.submitter).json()
    assert [f["title"] for f in document["findings"]] == ["Key recovery"]


def test_errors_are_4xx_with_messages(desk: Desk) -> None:
    world = desk.world
    sub_id = desk.testing_submission()
    no_results = _error(world.post(_report(desk, sub_id), desk.evaluator, {}), 409)
    assert "no completed campaign" in no_results["message"]
    _error(_approve(desk, sub_id, desk.evaluator), 409)
    _error(world.post(_report(desk, sub_id), world.submitter, {}), 403)
    _error(world.post(_report(desk, sub_id), desk.evaluator, {"limitations": "x"}), 422)
    _error(world.post(_report(desk, sub_id), desk.evaluator, {"nope": 1}), 422)
    _error(_file(desk, sub_id, "1.docx", desk.evaluator), 422)
    _error(_file(desk, sub_id, "one.json", desk.evaluator), 422)
    _error(_file(desk, sub_id, "1.json", desk.evaluator), 404)
    draft_sub = world.submission()["id"]
    early = _error(world.post(_report(desk, draft_sub), desk.evaluator, {}), 409)
    assert "testing has started" in early["message"]


def test_approve_needs_the_current_drafts_digest(desk: Desk) -> None:
    world = desk.world
    sub_id, _ = desk.ready()
    drafted = world.post(_report(desk, sub_id), desk.evaluator, {"limitations": ["first"]})
    digest = drafted.json()["draft_sha256"]
    listed = world.get(_report(desk, sub_id), desk.second).json()["versions"]
    assert [v["draft_sha256"] for v in listed] == [digest]
    served = _file(desk, sub_id, "1.json", desk.second)
    assert served.headers["X-Report-SHA256"] == digest

    approve = f"{_report(desk, sub_id)}/approve"
    assert _error(world.post(approve, desk.second, {}), 422)["field"] == "draft_sha256"
    assert _error(world.post(approve, desk.second, {"draft_sha256": "xyz"}), 422)["field"] == (
        "draft_sha256"
    )
    world.post(_report(desk, sub_id), desk.evaluator, {"limitations": ["changed"]})
    stale = _error(world.post(approve, desk.second, {"draft_sha256": digest}), 409)
    assert stale["field"] == "draft_sha256" and digest in stale["message"]
    approved = _approve(desk, sub_id, desk.second)
    assert approved.status_code == 200, approved.text
    assert _file(desk, sub_id, "1.json", world.submitter).json()["limitations"] == ["changed"]
