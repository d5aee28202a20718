"""GET /api/v1/audit: agency admins read everything, an org's admins their org's, nobody else."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conftest import Api, Caller


def events(api: Api, caller: Caller, **params: Any) -> list[dict[str, Any]]:
    """Every event the caller may read, following the cursor two at a time."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 2, **params}
    while True:
        response = api.http.get("/api/v1/audit", params=query, headers=caller.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        query["cursor"] = page["next_cursor"]


@pytest.fixture
def orgs(api: Api) -> dict[str, Caller]:
    acme = api.org("Acme AI", "developer")
    other = api.org("Other AI", "developer")
    partner = api.org("Partner CERT", "participant")
    return {
        "acme_admin": api.user(acme, "admin"),
        "acme_submitter": api.user(acme, "submitter"),
        "other_admin": api.user(other, "admin"),
        "partner_member": api.user(partner, "member"),
        "agency_evaluator": api.user(api.agency_admin.org_id, "evaluator"),
    }


def test_agency_admin_reads_every_event_newest_first(api: Api, orgs: dict[str, Caller]) -> None:
    seen = events(api, api.agency_admin)
    seqs = [e["seq"] for e in seen]
    assert seqs == list(range(len(seen), 0, -1)), "every event, newest first, no gaps"
    org_ids = {e["org_id"] for e in seen}
    assert {orgs["acme_admin"].org_id, orgs["other_admin"].org_id} <= org_ids
    first = seen[-1]
    assert set(first) == {
        "seq",
        "time",
        "actor",
        "org_id",
        "action",
        "object",
        "change_digest",
        "detail",
        "prev_hash",
        "row_hash",
    }
    assert first["prev_hash"] == "0" * 64
    assert first["time"].endswith("Z") or first["time"].endswith("+00:00")
    assert all(newer["prev_hash"] == older["row_hash"] for newer, older in itertools.pairwise(seen))


def test_org_admin_reads_only_its_own_org(api: Api, orgs: dict[str, Caller]) -> None:
    acme = orgs["acme_admin"]
    seen = events(api, acme)
    assert seen, "an org admin sees its org's events"
    assert {e["org_id"] for e in seen} == {acme.org_id}
    created = {e["object"]["id"] for e in seen if e["action"] == "user.create"}
    assert orgs["acme_submitter"].user_id in created
    assert orgs["other_admin"].user_id not in created


@pytest.mark.parametrize("who", ["acme_submitter", "partner_member", "agency_evaluator"])
def test_everyone_else_is_refused(api: Api, orgs: dict[str, Caller], who: str) -> None:
    response = api.http.get("/api/v1/audit", headers=orgs[who].headers)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "audit log" in error["message"]


def test_anonymous_is_401(api: Api) -> None:
    assert api.http.get("/api/v1/audit").status_code == 401


def test_filters(api: Api, orgs: dict[str, Caller]) -> None:
    submitter = orgs["acme_submitter"]
    about_user = events(api, api.agency_admin, object_type="user", object_id=submitter.user_id)
    assert [e["action"] for e in about_user] == ["user.create"]
    tokens = events(api, api.agency_admin, action="token.issue")
    assert tokens and {e["object"]["type"] for e in tokens} == {"api_token"}
    own_tokens = events(api, orgs["other_admin"], action="token.issue")
    assert {e["org_id"] for e in own_tokens} == {orgs["other_admin"].org_id}
    assert events(api, api.agency_admin, action="no.such.action") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"cursor": "not-a-cursor"}, "cursor"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit")],
)
def test_bad_paging_input_is_422(api: Api, params: dict[str, Any], field: str) -> None:
    response = api.http.get("/api/v1/audit", params=params, headers=api.agency_admin.headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
