"""The HTTP API: who may manage webhooks and the allowlist, input checks, and scoping."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Caller

from .conftest import HOOK_HOST, HOOK_URL, World


def _post_webhook(world: World, body: dict[str, Any], caller: Caller | None = None) -> Any:
    return world.api.http.post(
        "/api/v1/webhooks", json=body, headers=(caller or world.dev_admin).headers
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://elsewhere.example.net/hook", "not on the webhook allowlist"),
        (f"https://user:pw@{HOOK_HOST}/hook", "user name or password"),
        (f"ftp://{HOOK_HOST}/hook", "http"),
        ("https://169.254.169.254/latest/meta-data", "not on the webhook allowlist"),
    ],
)
def test_webhook_url_is_checked_at_creation(world: World, url: str, message: str) -> None:
    response = _post_webhook(world, {"url": url, "events": ["*"]})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "url"
    assert message in error["message"]
    listed = world.api.http.get("/api/v1/webhooks", headers=world.dev_admin.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": HOOK_URL, "events": []}, "events"),
        ({"url": HOOK_URL, "events": ["Submission Accepted"]}, "events"),
        ({"url": HOOK_URL, "events": ["*"], "secret": "short"}, "secret"),
        ({"url": HOOK_URL, "events": ["*"], "active": False}, "active"),
    ],
)
def test_bad_webhook_input_names_the_field(world: World, body: dict[str, Any], field: str) -> None:
    response = _post_webhook(world, body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_port_specific_entry_allows_only_that_port(world: World) -> None:
    world.allow("api.example.org:8443")
    assert (
        _post_webhook(world, {"url": "https://api.example.org:8443/h", "events": ["*"]}).status_code
        == 201
    )
    refused = _post_webhook(world, {"url": "https://api.example.org/h", "events": ["*"]})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "url"


def test_only_org_admins_manage_webhooks(world: World) -> None:
    submitter = world.api.user(world.dev_org, "submitter")
    response = _post_webhook(world, {"url": HOOK_URL, "events": ["*"]}, submitter)
    assert response.status_code == 403
    assert world.api.http.get("/api/v1/webhooks", headers=submitter.headers).status_code == 403


def test_other_orgs_webhooks_answer_404(world: World) -> None:
    hook = world.add_webhook()
    world.emit()
    other_org = world.api.org("Other Labs", "developer")
    intruder = world.api.user(other_org, "admin")
    base = f"/api/v1/webhooks/{hook['id']}"
    for method, path in [("GET", base), ("DELETE", base), ("GET", f"{base}/deliveries")]:
        response = world.api.http.request(method, path, headers=intruder.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["field"] == "webhook_id"
    listed = world.api.http.get("/api/v1/webhooks", headers=intruder.headers).json()
    assert listed["items"] == []
    # The agency does not manage developers' webhooks either.
    agency = world.api.http.delete(base, headers=world.api.agency_admin.headers)
    assert agency.status_code == 404
    assert world.deliveries(hook["id"])[0]["status"] == "pending"


def test_allowlist_is_for_agency_admins(world: World) -> None:
    dev = world.api.http.post(
        "/api/v1/webhooks/allowlist", json={"host": "x.example"}, headers=world.dev_admin.headers
    )
    assert dev.status_code == 403
    evaluator = world.api.user(world.api.agency_admin.org_id, "evaluator")
    assert (
        world.api.http.get("/api/v1/webhooks/allowlist", headers=evaluator.headers).status_code
        == 403
    )

    admin = world.api.agency_admin.headers
    added = world.api.http.post(
        "/api/v1/webhooks/allowlist",
        json={"host": "Receiver.Example.net:8443", "note": "Acme's receiver"},
        headers=admin,
    )
    assert added.status_code == 201
    assert added.json()["host"] == "receiver.example.net:8443"
    again = world.api.http.post(
        "/api/v1/webhooks/allowlist", json={"host": "receiver.example.net:8443"}, headers=admin
    )
    assert again.status_code == 409
    bad = world.api.http.post(
        "/api/v1/webhooks/allowlist", json={"host": "https://x.example/"}, headers=admin
    )
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "host")

    hosts = [
        e["host"] for e in world.api.http.get("/api/v1/webhooks/allowlist", headers=admin).json()
    ]
    assert hosts == [HOOK_HOST, "receiver.example.net:8443"]

    path = "/api/v1/webhooks/allowlist/receiver.example.net:8443"
    assert world.api.http.delete(path, headers=admin).status_code == 200
    assert world.api.http.delete(path, headers=admin).status_code == 404


def test_notifications_are_scoped_to_the_callers_org(world: World) -> None:
    api = world.api
    other_org = api.org("Other Labs", "developer")
    other_viewer = api.user(other_org, "viewer")
    own_viewer = api.user(world.dev_org, "viewer")
    world.emit(kind="submission.accepted")
    world.emit(org_id=other_org, kind="submission.overdue")

    def kinds(caller: Caller, **params: str) -> list[str]:
        response = api.http.get("/api/v1/notifications", params=params, headers=caller.headers)
        assert response.status_code == 200, response.text
        return [e["kind"] for e in response.json()["items"]]

    assert kinds(own_viewer) == ["submission.accepted"]
    assert kinds(other_viewer) == ["submission.overdue"]
    assert sorted(kinds(api.agency_admin)) == ["submission.accepted", "submission.overdue"]
    assert kinds(api.agency_admin, kind="submission.overdue") == ["submission.overdue"]
    agency_analyst = api.user(api.agency_admin.org_id, "analyst")
    assert kinds(agency_analyst) == []


def test_notifications_page_through(world: World) -> None:
    for n in range(3):
        world.emit(dedupe_key=f"k{n}")
    first = world.api.http.get(
        "/api/v1/notifications", params={"limit": 2}, headers=world.dev_admin.headers
    ).json()
    second = world.api.http.get(
        "/api/v1/notifications",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=world.dev_admin.headers,
    ).json()
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3
    assert second["next_cursor"] is None
