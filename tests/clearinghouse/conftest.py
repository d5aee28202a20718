"""A clearinghouse community for tests: the agency, a reporter, recipients, a client, outsiders."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from httpx2 import Response
from typer.testing import CliRunner, Result

import predeploy.cli_support
from predeploy.cli import app
from predeploy.client import Client
from tests.conftest import Api, Caller

VULNS = "/api/v1/clearinghouse/vulns"

SOFTWARE_VULN: dict[str, Any] = {
    "kind": "software",
    "title": "Heap overflow in header parsing of libexample",
    "description": "A crafted header longer than 4096 bytes overflows a heap buffer in "
    "parse_header, found by an AI fuzzing harness and confirmed by hand.",
    "tlp": "AMBER",
    "cwe": "CWE-787",
    "cvss": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "affected": [
        {
            "purl": "pkg:pypi/libexample",
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.4.1"}]}],
        }
    ],
    "root_cause": "src/parser.c:parse_header",
    "provenance": {
        "discovered_by": "ai_system",
        "system": {"model": "acme/finder-2", "harness": "fuzz-agent", "prompt_version": "7"},
        "human_verified": True,
    },
    "consent": {"share": True, "credit": False},
}

AI_MODEL_VULN: dict[str, Any] = {
    "kind": "ai_model",
    "title": "Role-play framing bypasses the exploit-writing refusal",
    "description": "Asking for a working exploit inside a fictional penetration-test story "
    "makes the model comply in most trials.",
    "tlp": "GREEN",
    "model": {"developer": "Acme AI", "model": "falcon", "version": "2026-11-01",
              "tested_on": "2026-11-20"},
    "technique": {"atlas": "AML.T0054", "owasp_llm": "LLM01"},
    "evidence": {"trials": 50, "successes": 31, "sampling": {"temperature": 0.7}, "seed": 7,
                 "judge": "rule-based refusal detector"},
    "provenance": {"discovered_by": "human", "human_verified": True},
    "consent": {"share": True, "credit": True},
}  # fmt: skip


def body(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `base` with top-level fields replaced."""
    result = copy.deepcopy(base)
    result.update(changes)
    return result


@dataclass
class Community:
    """Orgs and users of a clearinghouse community, each with a token."""

    api: Api
    analyst: Caller
    evaluator: Caller
    reporter: Caller
    reporter_admin: Caller
    recipient: Caller
    recipient_admin: Caller
    client: Caller
    participant: Caller
    vendor: Caller
    developer: Caller

    def post(self, caller: Caller | None, path: str, json: Any = None) -> Response:
        headers = caller.headers if caller else {}
        return self.api.http.post(path, json=json, headers=headers)

    def get(self, caller: Caller | None, path: str, **params: Any) -> Response:
        headers = caller.headers if caller else {}
        return self.api.http.get(path, params=params, headers=headers)

    def file(self, vuln: dict[str, Any], caller: Caller | None = None) -> dict[str, Any]:
        response = self.post(caller or self.reporter, VULNS, vuln)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def community(api: Api) -> Community:
    agency = api.agency_admin.org_id
    reporter_org = api.org("Reporter Lab", "participant")
    recipient_org = api.org("Recipient CERT", "participant")
    client_org = api.org("Client Hospital", "participant")
    participant_org = api.org("Other Participant", "participant")
    vendor_org = api.org("Vendor Only Inc", "vendor")
    developer_org = api.org("Acme AI", "developer", "vendor")
    return Community(
        api=api,
        analyst=api.user(agency, "analyst"),
        evaluator=api.user(agency, "evaluator"),
        reporter=api.user(reporter_org, "member"),
        reporter_admin=api.user(reporter_org, "admin"),
        recipient=api.user(recipient_org, "member"),
        recipient_admin=api.user(recipient_org, "admin"),
        client=api.user(client_org, "member"),
        participant=api.user(participant_org, "member"),
        vendor=api.user(vendor_org, "member"),
        developer=api.user(developer_org, "submitter"),
    )


Run = Callable[..., Result]
"""Runs `predeploy ARGS...` as a caller, against the community's server."""


@pytest.fixture
def run(community: Community, monkeypatch: pytest.MonkeyPatch) -> Run:
    transport = community.api.http._transport

    def client(base_url: str, token: str | None = None) -> Client:
        return Client(base_url, token, transport=transport)

    monkeypatch.setattr(predeploy.cli_support, "Client", client)
    runner = CliRunner()

    def invoke(caller: Caller, *args: str) -> Result:
        env = {
            "PREDEPLOY_SERVER": "http://testserver",
            "PREDEPLOY_TOKEN": caller.token,
            "COLUMNS": "200",
        }
        return runner.invoke(app, list(args), env=env)

    return invoke


def cli_json(result: Result) -> Any:
    """The JSON a successful command printed."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
