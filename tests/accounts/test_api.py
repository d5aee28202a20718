from __future__ import annotations

from tests.conftest import Api


def test_bootstrap_token_lists_the_agency(api: Api) -> None:
    response = api.http.get("/api/v1/orgs", headers=api.agency_admin.headers)
    assert response.status_code == 200
    names = [o["name"] for o in response.json()["items"]]
    assert names == ["Testing Agency"]


def test_missing_token_is_401_in_the_error_shape(api: Api) -> None:
    response = api.http.get("/api/v1/orgs")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_developer_sees_only_its_own_org(api: Api) -> None:
    acme = api.org("Acme AI", "developer")
    api.org("Other AI", "developer")
    dev = api.user(acme, "submitter")
    response = api.http.get("/api/v1/orgs", headers=dev.headers)
    assert [o["name"] for o in response.json()["items"]] == ["Acme AI"]
