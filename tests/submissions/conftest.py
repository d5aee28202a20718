"""Fixtures for submissions: a developer org with every role, another developer, a vendor, the
agency's staff, and helpers that create models and submissions through the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from predeploy.accounts import Actor
from predeploy.accounts.service import authenticate
from predeploy.runtime import Context
from tests.conftest import START, Api, Caller

API_KEY = "sk-test-Zq8v3NcW1pLr7XyTg5Hd"  # a distinctive plaintext to look for at rest
RELEASE = START + timedelta(days=20)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass
class World:
    """Everyone a submission test needs, each with a token."""

    api: Api
    acme: str
    submitter: Caller
    dev_admin: Caller
    dev_viewer: Caller
    other: str
    other_submitter: Caller
    vendor: Caller
    evaluator: Caller
    analyst: Caller

    @property
    def agency_admin(self) -> Caller:
        return self.api.agency_admin

    def post(self, path: str, caller: Caller, body: dict[str, Any]) -> Any:
        return self.api.http.post(f"/api/v1{path}", json=body, headers=caller.headers)

    def get(self, path: str, caller: Caller, **params: Any) -> Any:
        return self.api.http.get(f"/api/v1{path}", params=params, headers=caller.headers)

    def patch(self, path: str, caller: Caller, body: dict[str, Any]) -> Any:
        return self.api.http.patch(f"/api/v1{path}", json=body, headers=caller.headers)

    def model(self, caller: Caller | None = None, **fields: Any) -> dict[str, Any]:
        body = {"name": "acme-m1", "version": "2026-11", **fields}
        response = self.post("/models", caller or self.submitter, body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def submission_body(self, model_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "model_id": model_id,
            "planned_release_at": iso(RELEASE),
            "access_variants": [
                {
                    "label": "production",
                    "model": "openai-api/acme/m1",
                    "base_url": "https://api.acme.example/v1",
                    "api_key": API_KEY,
                }
            ],
            "contacts": [{"name": "Ada Lovelace", "email": "ada@acme.example", "role": "safety"}],
            "declared_safeguards": ["refusal training", "input classifier"],
            **fields,
        }

    def submission(
        self, caller: Caller | None = None, model_id: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        caller = caller or self.submitter
        if model_id is None:
            model_id = self.model(caller, version=f"v-{len(self.ids)}")["id"]
        response = self.post("/submissions", caller, self.submission_body(model_id, **fields))
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        self.ids.append(result["id"])
        return result

    def move(self, submission_id: str, to: str, caller: Caller, reason: str = "") -> Any:
        return self.post(
            f"/submissions/{submission_id}/transitions", caller, {"to": to, "reason": reason}
        )

    def system(self) -> Any:
        """A transaction acting as the server itself (for system-only moves)."""
        return self.api.runtime.unit(Actor.system("test"))

    def actor(self, caller: Caller) -> Actor:
        """The Actor a caller's token authenticates as (for service-level calls)."""
        runtime = self.api.runtime
        with runtime.transaction() as session:
            return authenticate(session, runtime.clock, caller.token)

    def __post_init__(self) -> None:
        self.ids: list[str] = []


def as_system(world: World, fn: Any, *args: Any) -> Any:
    ctx: Context
    with world.system() as ctx:
        return fn(ctx, *args)


@pytest.fixture
def world(api: Api) -> World:
    acme = api.org("Acme AI", "developer", "vendor")
    other = api.org("Other AI", "developer")
    vendor_org = api.org("Vendor Co", "vendor")
    agency = api.agency_admin.org_id
    return World(
        api=api,
        acme=acme,
        submitter=api.user(acme, "submitter"),
        dev_admin=api.user(acme, "admin"),
        dev_viewer=api.user(acme, "viewer"),
        other=other,
        other_submitter=api.user(other, "submitter"),
        vendor=api.user(vendor_org, "member"),
        evaluator=api.user(agency, "evaluator"),
        analyst=api.user(agency, "analyst"),
    )
