"""`predeploy.client`: the Python SDK for a predeploy server.

Example:
    ```python
    from predeploy.client import Client

    with Client("http://127.0.0.1:8000", token="pdp_...") as client:
        model = client.create_model(name="acme-m1", version="2026-11")
        submission = client.create_submission(
            model_id=model["id"],
            planned_release_at="2026-12-20T00:00:00Z",
            access_variants=[{"label": "production", "model": "openai-api/acme/m1"}],
        )
        client.transition(submission["id"], "submitted")
    ```
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import quote

import httpx2

__all__ = ["ApiError", "Client"]


class ApiError(Exception):
    """An error answer from the server, in its one error shape."""

    def __init__(self, status_code: int, code: str, message: str, field: str | None) -> None:
        super().__init__(
            f"{status_code} {code}: {message}" + (f" (field: {field})" if field else "")
        )
        self.status_code = status_code
        self.code = code
        self.message = message
        self.field = field


def _raise_api_error(response: httpx2.Response) -> NoReturn:
    """Raise the ApiError an error answer carries (for routes that answer other than JSON)."""
    try:
        error = response.json()["error"]
        code, message, field = error["code"], error["message"], error.get("field")
    except (ValueError, KeyError, TypeError):
        raise ApiError(response.status_code, "http_error", response.text[:200], None) from None
    raise ApiError(response.status_code, code, message, field)


class Client:
    """A synchronous client for the predeploy HTTP API (`/api/v1`)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx2.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; return the decoded JSON, or raise ApiError."""
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            try:
                error = response.json()["error"]
                raise ApiError(
                    response.status_code, error["code"], error["message"], error.get("field")
                )
            except (ValueError, KeyError, TypeError):
                raise ApiError(
                    response.status_code, "http_error", response.text[:200], None
                ) from None
        return response.json() if response.content else None

    def paginate(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following `next_cursor` page by page."""
        query = {k: v for k, v in params.items() if v is not None}
        while True:
            page = self.request("GET", path, params=query)
            yield from page["items"]
            if not page["next_cursor"]:
                return
            query["cursor"] = page["next_cursor"]

    # organisations, users, tokens
    def create_org(self, name: str, capacities: list[str]) -> dict[str, Any]:
        return self.request("POST", "/orgs", json={"name": name, "capacities": capacities})  # type: ignore[no-any-return]

    def list_orgs(self) -> list[dict[str, Any]]:
        return list(self.paginate("/orgs"))

    def create_user(
        self, email: str, org_id: str, roles: list[str], display_name: str = ""
    ) -> dict[str, Any]:
        body = {"email": email, "org_id": org_id, "roles": roles, "display_name": display_name}
        return self.request("POST", "/users", json=body)  # type: ignore[no-any-return]

    def issue_token(self, **fields: Any) -> dict[str, Any]:
        """Issue a token (fields: name, scopes, expires_in_days, user_id)."""
        return self.request("POST", "/tokens", json=fields)  # type: ignore[no-any-return]

    def list_tokens(self) -> list[dict[str, Any]]:
        return list(self.paginate("/tokens"))

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/tokens/{token_id}")  # type: ignore[no-any-return]

    # models and submissions
    def create_model(self, **fields: Any) -> dict[str, Any]:
        """Register a model (fields: name, version, weights_digest, modalities, training_flop, ...)."""
        return self.request("POST", "/models", json=fields)  # type: ignore[no-any-return]

    def list_models(self) -> list[dict[str, Any]]:
        return list(self.paginate("/models"))

    def create_submission(self, **fields: Any) -> dict[str, Any]:
        """Submit a model for pre-release testing (see the API docs for the fields)."""
        return self.request("POST", "/submissions", json=fields)  # type: ignore[no-any-return]

    def list_submissions(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.paginate("/submissions", **filters))

    def get_submission(self, submission_id: str) -> dict[str, Any]:
        return self.request("GET", f"/submissions/{submission_id}")  # type: ignore[no-any-return]

    def update_submission(self, submission_id: str, **fields: Any) -> dict[str, Any]:
        """Change a submission (e.g. postpone `planned_release_at`)."""
        return self.request("PATCH", f"/submissions/{submission_id}", json=fields)  # type: ignore[no-any-return]

    def transition(self, submission_id: str, to: str, reason: str = "") -> dict[str, Any]:
        body = {"to": to, "reason": reason}
        return self.request("POST", f"/submissions/{submission_id}/transitions", json=body)  # type: ignore[no-any-return]

    def due_submissions(self) -> list[dict[str, Any]]:
        return self.request("GET", "/submissions/due")  # type: ignore[no-any-return]

    # test plans
    def import_plan(self, plan: str | dict[str, Any]) -> dict[str, Any]:
        """Import a test plan: YAML text, or its fields as a dict (sent as JSON).

        The answer's `created` is False when the latest version already had this content.
        """
        if isinstance(plan, str):
            headers = {"Content-Type": "application/yaml"}
            return self.request("POST", "/plans", content=plan.encode(), headers=headers)  # type: ignore[no-any-return]
        return self.request("POST", "/plans", json=plan)  # type: ignore[no-any-return]

    def list_plans(self) -> list[dict[str, Any]]:
        """The latest version of every test plan."""
        return self.request("GET", "/plans")  # type: ignore[no-any-return]

    def get_plan(self, ref: str) -> dict[str, Any]:
        """One plan version: `ref` is NAME (latest version), NAME@VERSION or a plan id."""
        return self.request("GET", f"/plans/{quote(ref, safe='@')}")  # type: ignore[no-any-return]

    def plan_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of a plan, oldest first."""
        return self.request("GET", f"/plans/{quote(name, safe='')}/versions")  # type: ignore[no-any-return]

    def export_plan(self, ref: str) -> str:
        """The plan as YAML text (importing it again changes nothing)."""
        response = self._http.get(f"/plans/{quote(ref, safe='@')}/export")
        if response.is_error:
            _raise_api_error(response)
        return response.text

    # audit
    def list_audit(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.paginate("/audit", **filters))

    # campaigns
    def start_campaign(self, submission_id: str, plan: str) -> dict[str, Any]:
        """Queue a test plan against an accepted submission."""
        body = {"submission_id": submission_id, "plan": plan}
        result: dict[str, Any] = self.request("POST", "/campaigns", json=body)
        return result

    def list_campaigns(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.paginate("/campaigns", **filters))

    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        """The campaign with its jobs, counts, errors and ETA."""
        result: dict[str, Any] = self.request("GET", f"/campaigns/{quote(campaign_id)}")
        return result

    def cancel_campaign(self, campaign_id: str, reason: str = "") -> dict[str, Any]:
        path = f"/campaigns/{quote(campaign_id)}/cancel"
        result: dict[str, Any] = self.request("POST", path, json={"reason": reason})
        return result

    def campaign_results(self, campaign_id: str, model: str | None = None) -> list[dict[str, Any]]:
        """One row per sample and epoch (agency staff only)."""
        params = {"model": model} if model else {}
        path = f"/campaigns/{quote(campaign_id)}/results"
        result: list[dict[str, Any]] = self.request("GET", path, params=params)
        return result

    # campaign logs and transcripts (agency staff)
    def campaign_logs(self, campaign_id: str) -> list[dict[str, Any]]:
        """Every file of a campaign's Inspect logs: job_id, name, size, sha256."""
        result: list[dict[str, Any]] = self.request("GET", f"/campaigns/{quote(campaign_id)}/logs")
        return result

    def download_campaign_log(self, campaign_id: str, job_id: str, name: str) -> Iterator[bytes]:
        """One log file's bytes, chunk by chunk (`job_id` and `name` as `campaign_logs` lists)."""
        path = (
            f"/campaigns/{quote(campaign_id)}/logs/{quote(job_id, safe='')}/{quote(name, safe='')}"
        )
        with self._http.stream("GET", path) as response:
            if response.is_error:
                response.read()
                _raise_api_error(response)
            yield from response.iter_bytes()

    def sample_transcript(
        self, campaign_id: str, job_id: str, sample_id: str, epoch: int = 1
    ) -> dict[str, Any]:
        """One sample's transcript (messages, events, scores) as Inspect logged it."""
        params = {"job": job_id, "sample": sample_id, "epoch": epoch}
        path = f"/campaigns/{quote(campaign_id)}/samples"
        result: dict[str, Any] = self.request("GET", path, params=params)
        return result

    # reports and findings
    def draft_report(
        self,
        submission_id: str,
        limitations: list[str] | None = None,
        amendment_reason: str | None = None,
    ) -> dict[str, Any]:
        """Draft (or re-draft) the submission's report from its completed campaigns."""
        body: dict[str, Any] = {"limitations": limitations or []}
        if amendment_reason is not None:
            body["amendment_reason"] = amendment_reason
        path = f"/submissions/{quote(submission_id)}/report"
        result: dict[str, Any] = self.request("POST", path, json=body)
        return result

    def approve_report(self, submission_id: str, draft_sha256: str) -> dict[str, Any]:
        """Approve the draft whose JSON has SHA-256 `draft_sha256` (its `draft_sha256`): the
        server signs and issues it, or refuses (409) if the draft changed since it was read."""
        path = f"/submissions/{quote(submission_id)}/report/approve"
        body = {"draft_sha256": draft_sha256}
        result: dict[str, Any] = self.request("POST", path, json=body)
        return result

    def get_report(self, submission_id: str) -> dict[str, Any]:
        """The report's versions you may see and the agency's public key."""
        result: dict[str, Any] = self.request("GET", f"/submissions/{quote(submission_id)}/report")
        return result

    def report_file(self, submission_id: str, version: int, fmt: str) -> bytes:
        """One version's file: `json` (signed bytes), `sig`, `html` or `pdf`."""
        path = f"/submissions/{quote(submission_id)}/report/{int(version)}.{quote(fmt, safe='')}"
        response = self._http.get(path)
        if response.is_error:
            _raise_api_error(response)
        return response.content

    def add_finding(self, submission_id: str, **fields: Any) -> dict[str, Any]:
        """Record a finding (fields: title, text, severity, transcripts)."""
        path = f"/submissions/{quote(submission_id)}/findings"
        result: dict[str, Any] = self.request("POST", path, json=fields)
        return result

    def list_findings(self, submission_id: str) -> list[dict[str, Any]]:
        path = f"/submissions/{quote(submission_id)}/findings"
        result: list[dict[str, Any]] = self.request("GET", path)
        return result

    def report_settings(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/report-settings")
        return result

    def set_two_person_rule(self, enabled: bool, reason: str) -> dict[str, Any]:
        """Turn the two-person rule for issuing reports on or off (agency admins)."""
        body = {"two_person_rule": enabled, "reason": reason}
        result: dict[str, Any] = self.request("PUT", "/report-settings", json=body)
        return result

    # clearinghouse
    def file_vuln(self, vuln: dict[str, Any]) -> dict[str, Any]:
        """File a vulnerability report (the body's fields: kind, title, description, tlp, ...)."""
        result: dict[str, Any] = self.request("POST", "/clearinghouse/vulns", json=vuln)
        return result

    def list_vulns(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every vulnerability report you may see (filters: status, kind, tlp, q)."""
        return self.paginate("/clearinghouse/vulns", **filters)

    def get_vuln(self, vuln_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/clearinghouse/vulns/{quote(vuln_id)}")
        return result

    def triage_vuln(self, vuln_id: str, **fields: Any) -> dict[str, Any]:
        """Record a triage step (priority, assignee_id, ssvc, status, close_reason, duplicate_of)."""
        path = f"/clearinghouse/vulns/{quote(vuln_id)}/triage"
        result: dict[str, Any] = self.request("POST", path, json=fields)
        return result

    # clearinghouse cases
    def _case_path(self, case: str, *rest: str) -> str:
        return "/".join([f"/clearinghouse/cases/{quote(case)}", *(quote(p) for p in rest)])

    def open_case(self, **fields: Any) -> dict[str, Any]:
        """Open a case (fields: vulns, title, summary, tlp, embargo_end) (agency analysts)."""
        result: dict[str, Any] = self.request("POST", "/clearinghouse/cases", json=fields)
        return result

    def list_cases(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every case you may see (filter: state)."""
        return self.paginate("/clearinghouse/cases", **filters)

    def get_case(self, case: str) -> dict[str, Any]:
        """One case, by id or `PDX-...` number."""
        result: dict[str, Any] = self.request("GET", self._case_path(case))
        return result

    def move_case(self, case: str, state: str, reason: str | None = None) -> dict[str, Any]:
        """Move a case to coordinating, disclosed or closed (with a reason) (analysts)."""
        body = {"state": state, "reason": reason}
        result: dict[str, Any] = self.request("POST", self._case_path(case, "state"), json=body)
        return result

    def set_case_embargo(self, case: str, embargo_end: str) -> dict[str, Any]:
        """Move a case's embargo end (ISO 8601 with a timezone), never into the past."""
        body = {"embargo_end": embargo_end}
        result: dict[str, Any] = self.request("PATCH", self._case_path(case, "embargo"), json=body)
        return result

    def add_case_vulnerability(self, case: str, **fields: Any) -> dict[str, Any]:
        """Add a vulnerability (title, cve_id, cwe, cvss_v3, cvss_v4, ssvc) to a case."""
        path = self._case_path(case, "vulnerabilities")
        result: dict[str, Any] = self.request("POST", path, json=fields)
        return result

    def invite_vendor(self, case: str, org_id: str, deadline: str | None = None) -> dict[str, Any]:
        """Invite a vendor org to a case, with a response deadline (default 14 days)."""
        body = {"org_id": org_id, "deadline": deadline}
        result: dict[str, Any] = self.request("POST", self._case_path(case, "vendors"), json=body)
        return result

    def set_vendor_status(
        self,
        case: str,
        org_id: str,
        vulnerability_id: str,
        status: str,
        statement: str | None = None,
    ) -> dict[str, Any]:
        """Set your org's status and statement for one vulnerability of a case."""
        body = {"vulnerability_id": vulnerability_id, "status": status, "statement": statement}
        path = self._case_path(case, "vendors", org_id, "status")
        result: dict[str, Any] = self.request("POST", path, json=body)
        return result

    def approve_vendor_statement(
        self, case: str, org_id: str, vulnerability_id: str
    ) -> dict[str, Any]:
        """Approve a vendor's status and statement for publication (analysts)."""
        path = self._case_path(case, "vendors", org_id, "approve")
        body = {"vulnerability_id": vulnerability_id}
        result: dict[str, Any] = self.request("POST", path, json=body)
        return result

    def request_embargo_override(self, case: str, reason: str) -> dict[str, Any]:
        """Ask to end a case's embargo now (a second analyst approves, under the two-person
        rule)."""
        path = self._case_path(case, "embargo", "override")
        result: dict[str, Any] = self.request("POST", path, json={"reason": reason})
        return result

    def approve_embargo_override(self, case: str) -> dict[str, Any]:
        """End a case's embargo now, as another analyst asked."""
        path = self._case_path(case, "embargo", "override", "approve")
        result: dict[str, Any] = self.request("POST", path)
        return result

    def list_case_posts(self, case: str) -> list[dict[str, Any]]:
        """A case's discussion posts, oldest first, with their latest text."""
        result: list[dict[str, Any]] = self.request("GET", self._case_path(case, "posts"))
        return result

    def add_case_post(self, case: str, body: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "POST", self._case_path(case, "posts"), json={"body": body}
        )
        return result

    def edit_case_post(self, case: str, post_id: str, body: str) -> dict[str, Any]:
        """Edit your own post (a new revision; the earlier ones are kept)."""
        path = self._case_path(case, "posts", post_id)
        result: dict[str, Any] = self.request("PATCH", path, json={"body": body})
        return result

    # clearinghouse advisories
    def _advisory_path(self, advisory: str, *rest: str) -> str:
        return "/".join([f"/clearinghouse/advisories/{quote(advisory)}", *(quote(p) for p in rest)])

    def draft_advisory(self, **fields: Any) -> dict[str, Any]:
        """Draft a case's advisory or a new revision (fields: case, title, summary, details,
        tlp, recipients, aliases, affected, remediation, references, credits) (analysts)."""
        result: dict[str, Any] = self.request("POST", "/clearinghouse/advisories", json=fields)
        return result

    def publish_advisory(self, advisory: str, sha256: str) -> dict[str, Any]:
        """Publish the draft whose SHA-256 you read (a second analyst, under the two-person
        rule)."""
        path = self._advisory_path(advisory, "publish")
        result: dict[str, Any] = self.request("POST", path, json={"sha256": sha256})
        return result

    def list_advisories(self) -> Iterator[dict[str, Any]]:
        """Every advisory you may see (without a token: the public ones)."""
        return self.paginate("/clearinghouse/advisories")

    def get_advisory(self, advisory: str, revision: int | None = None) -> dict[str, Any]:
        """An advisory by id or `PDXA-...` number; with `revision`, that published revision."""
        path = (
            self._advisory_path(advisory)
            if revision is None
            else self._advisory_path(advisory, "revisions", str(revision))
        )
        result: dict[str, Any] = self.request("GET", path)
        return result

    def import_advisories(
        self, content: bytes, media_type: str, filename: str, tlp: str = "CLEAR", fmt: str = "osv"
    ) -> dict[str, Any]:
        """Import advisories (analysts): OSV records (a JSON or YAML record file) or CSAF 2.0
        documents (JSON), or a zip bundle of them."""
        result: dict[str, Any] = self.request(
            "POST",
            "/clearinghouse/advisories/import",
            content=content,
            params={"format": fmt, "tlp": tlp, "filename": filename},
            headers={"Content-Type": media_type},
        )
        return result

    def export_advisories(self, fmt: str) -> bytes:
        """Every published advisory you may see in `fmt`, where it applies, as a zip bundle
        (one `ID.FMT.json` each, and `index.json`)."""
        response = self._http.get("/clearinghouse/exports", params={"format": fmt})
        if response.is_error:
            _raise_api_error(response)
        return response.content

    def export_advisory(self, advisory: str, fmt: str, cve: str | None = None) -> dict[str, Any]:
        """An advisory (ours by PDXA number, an imported one by any id) in `fmt` (osv, cve5,
        csaf, csaf_vex, stix, avid; `cve` picks one CVE's record)."""
        path = self._advisory_path(advisory, "export")
        params = {"format": fmt, **({"cve": cve} if cve else {})}
        result: dict[str, Any] = self.request("GET", path, params=params)
        return result

    def check(self, inventory: bytes) -> dict[str, Any]:
        """Which components of an SBOM (CycloneDX or SPDX JSON) or requirements file are
        affected by the advisories you may see."""
        media_type = "application/json" if inventory.lstrip().startswith(b"{") else "text/plain"
        result: dict[str, Any] = self.request(
            "POST", "/check", content=inventory, headers={"Content-Type": media_type}
        )
        return result
