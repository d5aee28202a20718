"""Fixtures for notifications: an agency allowlist, a developer org with an admin, a fake DNS."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from predeploy.accounts import Actor
from predeploy.config import Settings
from predeploy.notifications.service import emit
from tests.conftest import Api, Caller

PUBLIC_IP = "93.184.216.34"
HOOK_HOST = "hooks.example.com"
HOOK_URL = f"https://{HOOK_HOST}/predeploy"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    # Few attempts and a round backoff keep retry schedules short and easy to check.
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        webhook_max_attempts=3,
        webhook_backoff_seconds=10,
        webhook_timeout_seconds=2,
    )


@dataclass
class FakeDns:
    """A resolver for tests: no lookup leaves the process."""

    answers: dict[str, list[str]] = field(default_factory=lambda: {HOOK_HOST: [PUBLIC_IP]})
    asked: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return self.answers[host]


@dataclass
class World:
    """An API with the hook host allowed and a developer org whose admin can add webhooks."""

    api: Api
    dev_org: str
    dev_admin: Caller
    dns: FakeDns

    def add_webhook(
        self, caller: Caller | None = None, url: str = HOOK_URL, **fields: Any
    ) -> dict[str, Any]:
        body = {"url": url, "events": ["submission.*"], **fields}
        response = self.api.http.post(
            "/api/v1/webhooks", json=body, headers=(caller or self.dev_admin).headers
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def allow(self, host: str) -> None:
        response = self.api.http.post(
            "/api/v1/webhooks/allowlist",
            json={"host": host},
            headers=self.api.agency_admin.headers,
        )
        assert response.status_code == 201, response.text

    def emit(
        self,
        org_id: str | None = None,
        kind: str = "submission.accepted",
        *,
        dedupe_key: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        with self.api.runtime.unit(Actor.system("test")) as ctx:
            emit(
                ctx,
                kind,
                org_id=org_id or self.dev_org,
                subject_type="submission",
                subject_id="sub-1",
                payload=payload if payload is not None else {"model": "acme-m1"},
                dedupe_key=dedupe_key,
            )

    def deliveries(self, webhook_id: str, caller: Caller | None = None) -> list[dict[str, Any]]:
        response = self.api.http.get(
            f"/api/v1/webhooks/{webhook_id}/deliveries",
            headers=(caller or self.dev_admin).headers,
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
def world(api: Api) -> World:
    dev_org = api.org("Acme Labs", "developer")
    w = World(api=api, dev_org=dev_org, dev_admin=api.user(dev_org, "admin"), dns=FakeDns())
    w.allow(HOOK_HOST)
    return w
