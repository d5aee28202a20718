"""Bad input gets a clear 4xx in one error shape and changes nothing."""

from __future__ import annotations

import pytest

from predeploy.accounts import Actor
from predeploy.accounts.models import Organization
from tests.conftest import Api


def _org_names(api: Api) -> list[str]:
    with api.runtime.unit(Actor.system("test"), read_only=True) as ctx:
        return sorted(o.name for o in ctx.session.query(Organization))


def test_unknown_field_is_422_naming_it(api: Api) -> None:
    response = api.http.post(
        "/api/v1/orgs",
        json={"name": "Acme", "capacities": ["developer"], "colour": "red"},
        headers=api.agency_admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "unknown field 'colour'",
        "field": "colour",
    }
    assert _org_names(api) == ["Testing Agency"]


def test_invalid_enum_names_the_field(api: Api) -> None:
    response = api.http.post(
        "/api/v1/orgs",
        json={"name": "Acme", "capacities": ["wizard"]},
        headers=api.agency_admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "capacities.0"


def test_malformed_json_is_422(api: Api) -> None:
    response = api.http.post(
        "/api/v1/orgs",
        content=b'{"name": ',
        headers=api.agency_admin.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]["message"]


def test_oversized_body_is_413(api: Api) -> None:
    limit = api.runtime.settings.max_request_bytes
    response = api.http.post(
        "/api/v1/orgs",
        json={"name": "x" * (limit + 10), "capacities": ["developer"]},
        headers=api.agency_admin.headers,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert _org_names(api) == ["Testing Agency"]


def test_oversized_chunked_body_is_413(api: Api) -> None:
    limit = api.runtime.settings.max_request_bytes

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "'
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000
        yield b'", "capacities": ["developer"]}'

    response = api.http.post(
        "/api/v1/orgs",
        content=chunks(),
        headers=api.agency_admin.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_unknown_route_uses_the_error_shape(api: Api) -> None:
    response = api.http.get("/api/v1/nothing-here", headers=api.agency_admin.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_failed_unit_of_work_changes_nothing(api: Api) -> None:
    from predeploy.accounts import Capacity
    from predeploy.accounts.schemas import OrgCreate
    from predeploy.accounts.service import create_org

    with pytest.raises(RuntimeError), api.runtime.unit(Actor.system("test")) as ctx:
        create_org(ctx, OrgCreate(name="Half Done", capacities=[Capacity.VENDOR]))
        raise RuntimeError("crash after the write")
    assert "Half Done" not in _org_names(api)
