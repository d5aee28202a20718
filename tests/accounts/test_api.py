from __future__ import annotations

from datetime import timedelta

import pytest

from predeploy.accounts import Actor, Scope
from predeploy.accounts.schemas import TokenCreate
from predeploy.accounts.service import issue_token
from predeploy.clock import FrozenClock
from predeploy.errors import InvalidInput
from tests.conftest import Api


def test_bootstrap_token_lists_the_agency(api: Api) -> None:
    response = api.http.get("/api/v1/orgs", headers=api.agency_admin.headers)
    assert response.status_code == 200
    assert [o["name"] for o in response.json()["items"]] == ["Testing Agency"]


def test_missing_token_is_401_in_the_error_shape(api: Api) -> None:
    response = api.http.get("/api/v1/orgs")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_garbage_token_is_401(api: Api) -> None:
    for token in ("nonsense", "pdp_x_y", api.agency_admin.token + "x"):
        response = api.http.get("/api/v1/orgs", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


def test_developer_sees_only_its_own_org(api: Api) -> None:
    acme = api.org("Acme AI", "developer")
    other = api.org("Other AI", "developer")
    dev = api.user(acme, "submitter")
    response = api.http.get("/api/v1/orgs", headers=dev.headers)
    assert [o["name"] for o in response.json()["items"]] == ["Acme AI"]
    assert api.http.get(f"/api/v1/orgs/{other}", headers=dev.headers).status_code == 404
    assert api.http.get(f"/api/v1/orgs/{acme}", headers=dev.headers).status_code == 200


def test_only_agency_admins_create_orgs(api: Api) -> None:
    acme = api.org("Acme AI", "developer")
    dev_admin = api.user(acme, "admin")
    response = api.http.post(
        "/api/v1/orgs", json={"name": "Sneaky", "capacities": ["agency"]}, headers=dev_admin.headers
    )
    assert response.status_code == 403
    names = [
        o["name"]
        for o in api.http.get("/api/v1/orgs", headers=api.agency_admin.headers).json()["items"]
    ]
    assert "Sneaky" not in names


def test_duplicate_org_name_is_409(api: Api) -> None:
    api.org("Acme AI", "developer")
    response = api.http.post(
        "/api/v1/orgs",
        json={"name": "Acme AI", "capacities": ["vendor"]},
        headers=api.agency_admin.headers,
    )
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "name"


def test_role_must_fit_the_org_capacity(api: Api) -> None:
    acme = api.org("Acme AI", "developer")
    response = api.http.post(
        "/api/v1/users",
        json={"email": "x@acme.example", "org_id": acme, "roles": ["evaluator"]},
        headers=api.agency_admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "roles"
    assert "evaluator" in response.json()["error"]["message"]


def test_org_admin_adds_users_only_to_its_own_org(api: Api) -> None:
    acme = api.org("Acme AI", "developer")
    other = api.org("Other AI", "developer")
    acme_admin = api.user(acme, "admin")
    own = api.http.post(
        "/api/v1/users",
        json={"email": "new@acme.example", "org_id": acme, "roles": ["submitter"]},
        headers=acme_admin.headers,
    )
    assert own.status_code == 201
    foreign = api.http.post(
        "/api/v1/users",
        json={"email": "new@other.example", "org_id": other, "roles": ["submitter"]},
        headers=acme_admin.headers,
    )
    assert foreign.status_code == 404


def test_submitter_cannot_add_users(api: Api) -> None:
    acme = api.org("Acme AI", "developer")
    submitter = api.user(acme, "submitter")
    response = api.http.post(
        "/api/v1/users",
        json={"email": "new@acme.example", "org_id": acme, "roles": ["submitter"]},
        headers=submitter.headers,
    )
    assert response.status_code == 403


def test_token_is_shown_once_and_stored_hashed(api: Api) -> None:
    response = api.http.post(
        "/api/v1/tokens", json={"name": "ci"}, headers=api.agency_admin.headers
    )
    assert response.status_code == 201
    issued = response.json()
    assert issued["token"].startswith("pdp_")
    listed = api.http.get("/api/v1/tokens", headers=api.agency_admin.headers).json()["items"]
    assert all("token" not in t for t in listed)
    assert any(t["id"] == issued["id"] for t in listed)
    new_headers = {"Authorization": f"Bearer {issued['token']}"}
    assert api.http.get("/api/v1/orgs", headers=new_headers).status_code == 200


def test_read_scope_token_cannot_write(api: Api) -> None:
    issued = api.http.post(
        "/api/v1/tokens", json={"scopes": ["read"]}, headers=api.agency_admin.headers
    ).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert api.http.get("/api/v1/orgs", headers=headers).status_code == 200
    response = api.http.post(
        "/api/v1/orgs", json={"name": "X", "capacities": ["vendor"]}, headers=headers
    )
    assert response.status_code == 403


def test_token_cannot_mint_a_stronger_token(api: Api) -> None:
    issued = api.http.post(
        "/api/v1/tokens", json={"scopes": ["read", "write"]}, headers=api.agency_admin.headers
    ).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    response = api.http.post("/api/v1/tokens", json={"scopes": ["read", "admin"]}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "scopes"


def test_read_only_token_cannot_mint_tokens(api: Api) -> None:
    issued = api.http.post(
        "/api/v1/tokens", json={"scopes": ["read"]}, headers=api.agency_admin.headers
    ).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    response = api.http.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=headers)
    assert response.status_code == 403
    assert "write" in response.json()["error"]["message"]


def test_viewer_gets_only_the_read_scope(api: Api) -> None:
    acme = api.org("Acme AI", "developer")
    viewer = api.user(acme, "viewer")
    with api.runtime.unit(Actor.system("test")) as ctx:
        scopes = issue_token(ctx, TokenCreate(user_id=viewer.user_id)).scopes
    assert scopes == [Scope.READ]
    with pytest.raises(InvalidInput), api.runtime.unit(Actor.system("test")) as ctx:
        issue_token(ctx, TokenCreate(user_id=viewer.user_id, scopes=[Scope.WRITE]))


def test_revoked_token_stops_working(api: Api) -> None:
    issued = api.http.post("/api/v1/tokens", json={}, headers=api.agency_admin.headers).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    response = api.http.delete(f"/api/v1/tokens/{issued['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert api.http.get("/api/v1/orgs", headers=headers).status_code == 401


def test_other_orgs_token_cannot_be_revoked(api: Api) -> None:
    acme = api.org("Acme AI", "developer")
    acme_admin = api.user(acme, "admin")
    agency_token = api.http.post("/api/v1/tokens", json={}, headers=api.agency_admin.headers).json()
    response = api.http.delete(f"/api/v1/tokens/{agency_token['id']}", headers=acme_admin.headers)
    assert response.status_code == 404


def test_expired_token_is_401(api: Api) -> None:
    issued = api.http.post(
        "/api/v1/tokens", json={"expires_in_days": 1}, headers=api.agency_admin.headers
    ).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert api.http.get("/api/v1/orgs", headers=headers).status_code == 200
    clock = api.runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(days=1, seconds=1))
    assert api.http.get("/api/v1/orgs", headers=headers).status_code == 401


def test_pagination_walks_every_org_once(api: Api) -> None:
    for i in range(7):
        api.org(f"Org {i}", "participant")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = api.http.get("/api/v1/orgs", params=params, headers=api.agency_admin.headers).json()
        seen += [o["name"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted([f"Org {i}" for i in range(7)] + ["Testing Agency"])


def test_bad_cursor_and_limit_are_422(api: Api) -> None:
    headers = api.agency_admin.headers
    assert (
        api.http.get("/api/v1/orgs", params={"cursor": "%%%"}, headers=headers).status_code == 422
    )
    response = api.http.get("/api/v1/orgs", params={"limit": 0}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "limit"


def test_write_only_token_cannot_read_anything(api: Api) -> None:
    issued = api.http.post(
        "/api/v1/tokens", json={"scopes": ["write"]}, headers=api.agency_admin.headers
    ).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    for path in ("/api/v1/orgs", "/api/v1/tokens", "/api/v1/submissions", "/api/v1/notifications"):
        response = api.http.get(path, headers=headers)
        assert response.status_code == 403, path
        assert "read" in response.json()["error"]["message"]
