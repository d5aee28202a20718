"""Schema-driven fuzzing of the whole API (schemathesis), as every role in turn.

For each role (the agency's admin, evaluator and analyst, a developer org's submitter and admin,
a vendor org's member, a participant org's member, and no token at all), schemathesis generates
requests for every operation of the app's OpenAPI schema from the schema itself, with the role's
bearer token, and every answer is checked: no 5xx, a documented status code, a documented content
type, and a body that matches the documented schema.

The database is seeded first (`_api_seed.seed`), and where a path, a query parameter or a body
field names an object, the generated value is, most of the time (SEEDED_SHARE), replaced by the
id of a seeded one, so that a good share of calls reach existing objects and succeed; the rest
keep their random values. Generation is derandomized: every run sends the same requests.

Kept away from the shared objects, and why (nothing is excluded):
- The routes whose success destroys or moves on what they name are fuzzed on objects made for
  them before each role's run (`Seeded.refresh_victims`), not on the shared ones the other roles
  read: DELETE of a webhook, a token or an allowlisted host; a submission's PATCH and
  transitions (on new drafts); a campaign's cancel; a case's state. The caller's own token is
  never named, so no role revokes itself.
- Event streams (`.../events`) are read up to their first event: an open campaign's stream
  lasts until its `max_seconds`, which the schema allows up to an hour.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.clearinghouse.conftest import SOFTWARE_VULN, VULNS, Community
from tests.clearinghouse.conftest import community as community
from tests.conftest import Api
from tests.reliability._api_seed import CLEARINGHOUSE, ROLES, TAXII, Seeded, seed

Operation = schemathesis.APIOperation[Any, Any, Any, Any]

MAX_EXAMPLES = 10
"""Generated requests per operation and role."""
SEEDED_SHARE = 7
"""Out of SEEDED_SHARE + 1 generated values that name objects (path parameters, query
parameters, body fields), how many are swapped for seeded objects' ids (and, under `/taxii2/`,
how many requests ask for TAXII's media type)."""
MIN_SUCCESS_SHARE = 0.30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CONFIG = schemathesis.Config.from_dict(
    {
        # A stream is cut after its first event (see the module's docstring).
        "max-stream-events": 1,
        "request-timeout": 60,
    }
)


@dataclass
class Outcomes:
    """Status classes counted per role, and every check that failed."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def record(self, role: str, operation: str, status: int) -> None:
        self.by_operation.setdefault(operation, Counter())[status] += 1
        counts = self.counts.setdefault(role, Counter())
        counts["calls"] += 1
        counts[f"{status // 100}xx"] += 1

    def total(self, key: str) -> int:
        return sum(c[key] for c in self.counts.values())

    def table(self) -> str:
        columns = ("calls", "2xx", "3xx", "4xx", "5xx")
        rows: list[tuple[str, ...]] = [("role", *columns)]
        rows += [(role, *(str(c[k]) for k in columns)) for role, c in self.counts.items()]
        rows.append(("all", *(str(self.total(k)) for k in columns)))
        return "\n".join(f"{r[0]:<20}" + "".join(f"{v:>8}" for v in r[1:]) for r in rows)


def _with_seeded_fields(value: Any, seeded_values: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """A strategy giving `value` (a generated mapping) with, most of the time, its fields that
    name objects set to seeded values."""
    named = [key for key in value if key in seeded_values] if isinstance(value, dict) else []
    if not named:
        return st.just(value)
    fields = st.fixed_dictionaries({key: st.sampled_from(seeded_values[key]) for key in named})
    return st.integers(0, SEEDED_SHARE).flatmap(
        lambda n: fields.map(lambda v: {**value, **v}) if n < SEEDED_SHARE else st.just(value)
    )


def _load_schema(seeded: Seeded) -> schemathesis.BaseSchema:
    """The app's OpenAPI schema, with hooks that put seeded values in the generated requests."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", seeded.api.http.app, config=CONFIG)

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, path_parameters: dict[str, Any]
    ) -> st.SearchStrategy[Any]:
        """Mostly seeded objects' ids, sometimes the generated (random) ones."""
        operation = context.operation
        assert operation is not None
        real = seeded.path_parameters(operation.method.upper(), operation.path)
        if not real:
            return st.just(path_parameters)
        return st.integers(0, SEEDED_SHARE).flatmap(
            lambda n: st.sampled_from(real) if n < SEEDED_SHARE else st.just(path_parameters)
        )

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        """Mostly seeded objects' ids in the body fields that name objects."""
        return _with_seeded_fields(body, seeded.body_values)

    @schema.hook
    def flatmap_query(context: schemathesis.HookContext, query: Any) -> st.SearchStrategy[Any]:
        """Mostly seeded objects' ids in the query parameters that name objects."""
        return _with_seeded_fields(query, seeded.query_values)

    @schema.hook
    def flatmap_headers(
        context: schemathesis.HookContext, headers: dict[str, Any] | None
    ) -> st.SearchStrategy[Any]:
        """TAXII answers only clients that accept its media type: mostly send it."""
        if context.operation is None or not context.operation.path.startswith("/taxii2/"):
            return st.just(headers)
        return st.integers(0, SEEDED_SHARE).map(
            lambda n: {**(headers or {}), "accept": TAXII} if n < SEEDED_SHARE else headers
        )

    return schema


def _fuzz(operation: Operation, role: str, token: str | None, outcomes: Outcomes) -> None:
    """Send MAX_EXAMPLES generated requests to `operation` as `role`, recording the answers."""
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=operation.as_strategy())
    def run(case: schemathesis.Case[Operation]) -> None:
        if not token and case.headers:
            # Schemathesis makes up a bearer token for the declared security scheme.
            for name in [n for n in case.headers if n.lower() == "authorization"]:
                del case.headers[name]
        # The case's own headers are passed again, their names as the session's defaults spell
        # them: otherwise those defaults (`Accept: */*`) win over a generated `accept` header.
        headers = {name.title(): value for name, value in (case.headers or {}).items()} | auth
        try:
            response = case.call(headers=headers)
        except Exception as exc:
            # The app raised (a 500 that the test client re-raises): reported, and the run goes on.
            outcomes.record(role, label, 500)
            detail = f"{role}: {type(exc).__name__}: {str(exc)[:600]}"
            outcomes.failures.setdefault((label, "Unhandled exception", "500"), detail)
            return
        outcomes.record(role, label, response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                key = (label, failure.title, str(response.status_code))
                outcomes.failures.setdefault(
                    key, f"{role}: {failure.message[:300]} | {response.text[:300]}"
                )

    run()


@pytest.mark.slow
def test_every_operation_as_every_role_has_no_server_error_and_matches_the_schema(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed(api)
    schema = _load_schema(seeded)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    app = seeded.api.http.app
    assert isinstance(app, FastAPI)
    assert len(operations) == sum(len(methods) for methods in app.openapi()["paths"].values())
    outcomes = Outcomes()
    for role in ROLES:
        seeded.refresh_victims()
        token = seeded.token(role)
        for operation in operations:
            _fuzz(operation, role, token, outcomes)

    with capsys.disabled():
        print(f"\n{len(operations)} operations x {len(ROLES)} roles\n{outcomes.table()}")
        print("Operations that no role got a 2xx from (statuses: calls):")
        for op, statuses in sorted(outcomes.by_operation.items()):
            if not any(200 <= status < 300 for status in statuses):
                print(f"  {op} {dict(sorted(statuses.items()))}")
    problems = [
        f"{op} [{status}] {title}: {detail}"
        for (op, title, status), detail in sorted(outcomes.failures.items())
    ]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert outcomes.total("5xx") == 0
    assert outcomes.total("2xx") >= MIN_SUCCESS_SHARE * outcomes.total("calls"), outcomes.table()


# Regressions: 500s the run above found, each now a 422.


def test_a_merge_into_a_malformed_id_is_refused_naming_the_field(community: Community) -> None:
    # The id went unchecked into the triage model, whose validation error was not handled.
    vuln = community.file(SOFTWARE_VULN)
    path = f"{VULNS}/{vuln['id']}"
    merged = community.post(community.analyst, f"{path}/merge", {"into": "0.1.0", "reason": "dup"})
    assert merged.status_code == 422, merged.text
    assert merged.json()["error"]["field"] == "into"
    assert community.get(community.analyst, path).json()["status"] == vuln["status"]


def test_the_triage_queue_refuses_a_limit_out_of_range(community: Community) -> None:
    # PostgreSQL refuses a negative LIMIT (SQLite took it for no limit at all).
    for limit in (-1, 0, 501):
        refused = community.get(community.analyst, f"{CLEARINGHOUSE}/triage", limit=limit)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "limit"


@pytest.mark.postgres_only
def test_a_nul_character_is_refused_as_invalid_not_a_server_error(api: Api) -> None:
    # PostgreSQL's text cannot hold NUL, in a comparison (a path's id) or in a stored value.
    headers = api.agency_admin.headers
    missing = api.http.get("/api/v1/orgs/a%00b", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (422, "invalid")
    body = {"name": "Nul\x00Org", "capacities": ["vendor"]}
    created = api.http.post("/api/v1/orgs", json=body, headers=headers)
    assert (created.status_code, created.json()["error"]["code"]) == (422, "invalid")
    listed = api.http.get("/api/v1/orgs", params={"limit": 500}, headers=headers).json()
    assert all(not org["name"].startswith("Nul") for org in listed["items"])
