"""Machinery behind the authorization matrix in `tests/test_authorization.py`.

- `api_routes`: every (METHOD, path) the app serves, walking included routers.
- `parse_matrix`: the readable table -> `Row`s of expected `Outcome`s.
- `build_world`: the principals (one token each) and, for orgs A and B, one object of every kind
  (campaigns, and the agency's test plan, are made when a row first needs them).
- `TARGETS`: what a row acts on, for each case ("own" = org A's object, "other" = org B's).
- `REQUESTS`: how each route is called (body, query) given the target's references.
- `check_row`: calls a row's route for every principal and case, returning every mismatch.

Org A's users are the "own" side; org B is the other developer. Org B's object is foreign to A's
users (and A's object to B's submitter); vendors and participants belong to neither.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from httpx2 import Response
from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSample, EvalSpec, write_eval_log
from inspect_ai.model import ChatMessageUser, ModelOutput

from predeploy.accounts import Actor
from predeploy.campaigns.models import Job
from predeploy.runtime import Runtime
from predeploy.submissions.service import mark_testing
from predeploy.web import is_page
from tests.conftest import START, Api, Caller
from tests.reports.conftest import store_completed_campaign

PREFIX = "/api/v1"
NOT_API = frozenset({"/api/docs", "/api/openapi.json", "/api/health", "/docs/oauth2-redirect"})

PRINCIPALS = (
    "anon", "ag_adm", "ag_eval", "ag_anal", "ag_view",
    "a_adm", "a_sub", "a_sub_ro", "a_view", "b_sub", "vendor", "p_adm",
)  # fmt: skip
"""Table columns. `a_sub_ro` is org A's submitter holding a read-scope token."""

AS_ANON = ("revoked", "garbage")
"""Also called on every row, expecting exactly what `anon` gets: a revoked and a forged token."""

AGENCY_PRINCIPALS = frozenset({"ag_adm", "ag_eval", "ag_anal", "ag_view"})
PRINCIPAL_ORG = {
    **{p: "agency" for p in AGENCY_PRINCIPALS},
    **{p: "A" for p in ("a_adm", "a_sub", "a_sub_ro", "a_view")},
    "b_sub": "B",
    "vendor": "V",
    "p_adm": "P",
}
CASE_ORG = {"own": "A", "other": "B", "-": None}
OWN_OTHER = ("own", "other")
DEVELOPERS = ("A", "B")
HOOK_HOST = "hooks.example.com"
RELEASE = START + timedelta(days=20)
PLAN_NAME = "matrix-plan"
LOG_NAME = "matrix.eval"
SAMPLE_ID = "matrix-sample"


# --- routes ---------------------------------------------------------------------------------


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path) of every API route, from the route tree and from the OpenAPI schema.

    Newer FastAPI keeps an included router as one entry with `effective_candidates()`; older
    ones flatten it into `app.routes`. Both are walked. A route without methods (e.g. a mount)
    is reported as ("*", path) so that it too must be placed in the matrix.
    """
    found: set[tuple[str, str]] = set()

    def walk(routes: Iterable[Any]) -> None:
        for route in routes:
            nested = getattr(route, "effective_candidates", None)
            if nested is not None:
                walk(nested())
                continue
            path: str = route.path
            methods = getattr(getattr(route, "original_route", route), "methods", None)
            for method in sorted(set(methods or {"*"}) - {"HEAD"}):
                found.add((method, path))

    walk(app.routes)
    for path, operations in app.openapi()["paths"].items():
        found.update((method.upper(), path) for method in operations)
    # Web pages (and their static files) have their own access tests in tests/web.
    return {(m, p) for m, p in found if p not in NOT_API and not is_page(p) and p != "/static"}


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """An expected answer: a status and, on list routes, whether the target's object is listed."""

    status: int
    listed: bool | None = None

    def __str__(self) -> str:
        if self.listed is None:
            return str(self.status)
        return f"{self.status} {'listing' if self.listed else 'not listing'} the object"


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    target: str
    expect: dict[str, tuple[Outcome, ...]]

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_list(self) -> bool:
        return _is_list(self.method, self.path)

    @property
    def path_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


def _is_list(method: str, path: str) -> bool:
    """A GET of a collection, which may or may not hold the target's object. A route under a
    named object (`/campaigns/{campaign_id}/logs`) answers for that object: not a listing."""
    return method == "GET" and "{" not in path


def _cell(text: str, is_list: bool, cases: int, where: str) -> tuple[Outcome, ...]:
    """`403` (every case), `200/404` (own/other); on list routes `200` is listed, `hid` not."""
    values = text.split("/")
    if len(values) == 1:
        values *= cases
    if len(values) != cases or ("hid" in values and not is_list):
        raise ValueError(f"{where}: {text!r} does not fit {cases} case(s) of this route")
    return tuple(
        Outcome(200, listed=False)
        if value == "hid"
        else Outcome(int(value), listed=True if is_list and value == "200" else None)
        for value in values
    )


def parse_matrix(table: str) -> list[Row]:
    """Parse the whitespace-aligned table: header line, then one line per route and target."""
    lines = [line.split() for line in table.strip().splitlines() if line.strip()]
    header, body = lines[0], lines[1:]
    if tuple(header[3:]) != PRINCIPALS:
        raise ValueError(f"matrix columns must be {PRINCIPALS}, got {header[3:]}")
    rows = []
    for cells in body:
        method, path, target, *outcomes = cells
        where = f"{method} {path} [{target}]"
        if len(outcomes) != len(PRINCIPALS):
            raise ValueError(f"{where}: {len(outcomes)} cells for {len(PRINCIPALS)} principals")
        if target not in TARGETS:
            raise ValueError(f"{where}: unknown target {target!r}")
        cases = len(TARGETS[target].cases)
        expect = {
            principal: _cell(text, _is_list(method, path), cases, f"{where} {principal}")
            for principal, text in zip(PRINCIPALS, outcomes, strict=True)
        }
        rows.append(Row(method, PREFIX + path, target, expect))
    return rows


# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    """Orgs A and B with one object of every kind each, and a token for every principal."""

    api: Api
    tokens: dict[str, str | None] = field(default_factory=dict)
    objects: dict[str, dict[str, str]] = field(default_factory=dict)
    markers: dict[str, set[str]] = field(default_factory=lambda: {o: set() for o in DEVELOPERS})
    writers: dict[str, Caller] = field(default_factory=dict)
    plan_id: str | None = None
    report_author: Caller | None = None
    _serial: Iterator[int] = field(default_factory=itertools.count)

    def n(self) -> int:
        """A number unique in this world, for names that must not repeat."""
        return next(self._serial)

    def call(self, caller: Caller, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **caller.headers}
        response = self.api.http.request(method, PREFIX + path, headers=headers, **kwargs)
        assert response.status_code == expect, (method, path, response.text)
        return response.json()

    def mark(self, org: str, *values: str) -> None:
        """Record strings that identify org `org`'s data (see the leak checks)."""
        self.markers[org].update(values)

    def fresh_draft(self, org: str) -> str:
        """A new draft submission of `org`'s model (for routes whose success changes it)."""
        body = submission_body(self.objects[org]["model_id"])
        sub = self.call(self.writers[org], "POST", "/submissions", 201, json=body)
        self.mark(org, sub["id"])
        return str(sub["id"])

    def fresh_submitted(self, org: str) -> str:
        sub_id = self.fresh_draft(org)
        self.call(
            self.writers[org], "POST", f"/submissions/{sub_id}/transitions", 200,
            json={"to": "submitted"},
        )  # fmt: skip
        return sub_id

    def fresh_host(self) -> str:
        host = f"gone-{self.n()}.example.net"
        self.call(self.api.agency_admin, "POST", "/webhooks/allowlist", 201, json={"host": host})
        return host

    def plan(self) -> str:
        """The agency's test plan `PLAN_NAME` (imported on first use): its id."""
        if self.plan_id is None:
            body = {
                "name": PLAN_NAME,
                "estimated_duration": 3600,
                "items": [{"task": "predeploy/cyber_suite"}],
            }
            plan = self.call(self.api.agency_admin, "POST", "/plans", 201, json=body)
            self.plan_id = str(plan["id"])
        return self.plan_id

    def fresh_campaign(self, org: str) -> dict[str, str]:
        """A new queued campaign of the plan on `org`'s accepted submission (for routes whose
        success changes it): its id and the id of its plan item's job (the others are its
        identity probes)."""
        body = {"submission_id": self.objects[org]["submission_id"], "plan": self.plan()}
        campaign = self.call(self.api.agency_admin, "POST", "/campaigns", 201, json=body)
        (job,) = [job for job in campaign["jobs"] if job["item_index"] == 0]
        self.mark(org, campaign["id"], *(j["id"] for j in campaign["jobs"]))
        return {"campaign_id": str(campaign["id"]), "job_id": str(job["id"])}

    def campaign(self, org: str) -> dict[str, str]:
        """`org`'s campaign (made on first use), whose job has logged sample `SAMPLE_ID` in the
        log file `LOG_NAME`: its id, its job's id and the file's name."""
        objects = self.objects[org]
        if "campaign_id" not in objects:
            made = self.fresh_campaign(org)
            write_log(self.api.runtime, made["job_id"])
            objects.update(made)
        return {
            "campaign_id": objects["campaign_id"],
            "job_id": objects["job_id"],
            "name": LOG_NAME,
        }

    def report_ready(self, org: str) -> dict[str, str]:
        """A new submission of `org` in testing with a completed campaign (ready to draft)."""
        sub_id = self.fresh_submitted(org)
        self.call(self.api.agency_admin, "POST", f"/submissions/{sub_id}/transitions", 200,
                  json={"to": "accepted"})  # fmt: skip
        with self.api.runtime.unit(Actor.system("matrix")) as ctx:
            mark_testing(ctx, sub_id)
        self.mark(org, store_completed_campaign(self.api.runtime, sub_id))
        return {"submission_id": sub_id}

    def report_draft(self, org: str) -> dict[str, str]:
        """A report-ready submission of `org` with a draft by an evaluator who is no principal
        (so that every principal may be its second person), and the draft's digest (what an
        approval names)."""
        refs = self.report_ready(org)
        if self.report_author is None:
            self.report_author = self.api.user(self.api.agency_admin.org_id, "evaluator")
        draft = self.call(self.report_author, "POST", f"/submissions/{refs['submission_id']}"
                          "/report", 201, json={})  # fmt: skip
        self.mark(org, draft["id"])
        return {**refs, "draft_sha256": draft["draft_sha256"]}

    def issued_report(self, org: str) -> dict[str, str]:
        """`org`'s submission with an issued report (made on first use)."""
        objects = self.objects[org]
        if "report_submission_id" not in objects:
            draft = self.report_draft(org)
            sub_id = draft["submission_id"]
            self.call(self.api.agency_admin, "POST", f"/submissions/{sub_id}/report/approve", 200,
                      json={"draft_sha256": draft["draft_sha256"]})  # fmt: skip
            objects["report_submission_id"] = sub_id
        return {"submission_id": objects["report_submission_id"], "name": "1.json"}


def submission_body(model_id: str) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "planned_release_at": RELEASE.isoformat(),
        "access_variants": [{"label": "production", "model": "openai-api/lab/m1"}],
    }


def write_log(runtime: Runtime, job_id: str) -> None:
    """An Inspect log holding one sample, in the job's log directory, as its runner would write
    it (no worker runs in the matrix's world)."""
    with runtime.unit(Actor.system("matrix")) as ctx:
        log_dir = ctx.session.get_one(Job, job_id).log_dir
    spec = EvalSpec(
        created=START.isoformat(),
        task="matrix",
        dataset=EvalDataset(),
        model="mockllm/model",
        config=EvalConfig(),
    )
    sample = EvalSample(
        id=SAMPLE_ID,
        epoch=1,
        input="hello",
        target="",
        messages=[ChatMessageUser(content="hello")],
        output=ModelOutput(),
    )
    write_eval_log(EvalLog(eval=spec, samples=[sample]), f"{log_dir}/{LOG_NAME}")


def _developer(world: World, org: str, name: str, slug: str) -> dict[str, Caller]:
    """Org `org` (A or B) with its users, a model, an accepted submission with an attachment,
    a webhook (created before the acceptance, so it has a delivery) and a spare token."""
    api = world.api
    org_id = api.org(name, "developer")
    users = {
        role: api.user(org_id, role, email=f"{role}@{slug}.example")
        for role in ("admin", "submitter", "viewer")
    }
    writer, admin = users["submitter"], users["admin"]
    world.writers[org] = writer
    hook = world.call(
        admin, "POST", "/webhooks", 201,
        json={"url": f"https://{HOOK_HOST}/{slug}", "events": ["submission.*"]},
    )  # fmt: skip
    model = world.call(writer, "POST", "/models", 201, json={"name": f"{slug}-m1", "version": "1"})
    world.objects[org] = {"org_id": org_id, "model_id": model["id"]}
    sub_id = world.fresh_submitted(org)
    world.call(api.agency_admin, "POST", f"/submissions/{sub_id}/transitions", 200,
               json={"to": "accepted"})  # fmt: skip
    attachment = world.call(
        writer, "POST", f"/submissions/{sub_id}/attachments", 201,
        params={"kind": "model_card", "filename": f"{slug}-card.md"},
        content=f"# {slug} model card".encode(), headers={"Content-Type": "text/markdown"},
    )  # fmt: skip
    spare = world.call(writer, "POST", "/tokens", 201, json={"name": f"{slug}-spare"})
    world.objects[org].update(
        submission_id=sub_id,
        attachment_id=attachment["id"],
        webhook_id=hook["id"],
        token_id=spare["id"],
        user_id=writer.user_id,
    )
    world.mark(org, name, slug, *world.objects[org].values(), spare["prefix"], hook["url"])
    for user in users.values():
        world.mark(org, user.user_id)
    return users


def build_world(api: Api) -> World:
    """Create every principal and object the matrix needs."""
    world = World(api=api)
    agency = api.agency_admin.org_id
    world.call(api.agency_admin, "POST", "/webhooks/allowlist", 201, json={"host": HOOK_HOST})
    a_users = _developer(world, "A", "Aurora Models", "aurora")
    b_users = _developer(world, "B", "Borealis Systems", "borealis")
    vendor_org = api.org("Vantage Vendor", "vendor")
    participant_org = api.org("Pinnacle Participant", "participant")
    a_sub = a_users["submitter"]
    read_only = world.call(a_sub, "POST", "/tokens", 201, json={"scopes": ["read"]})
    revoked = world.call(a_users["admin"], "POST", "/tokens", 201, json={})
    world.call(a_users["admin"], "DELETE", f"/tokens/{revoked['id']}", 200)
    callers = {
        "ag_adm": api.agency_admin,
        "ag_eval": api.user(agency, "evaluator"),
        "ag_anal": api.user(agency, "analyst"),
        "ag_view": api.user(agency, "viewer"),
        "a_adm": a_users["admin"],
        "a_sub": a_sub,
        "a_view": a_users["viewer"],
        "b_sub": b_users["submitter"],
        "vendor": api.user(vendor_org, "member"),
        "p_adm": api.user(participant_org, "admin"),
    }
    world.tokens = {
        "anon": None,
        "revoked": revoked["token"],
        "garbage": "pdp_0123456789ab_" + "x" * 43,
        "a_sub_ro": read_only["token"],
        **{name: caller.token for name, caller in callers.items()},
    }
    return world


# --- targets and requests -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a row acts on: per case, the references (ids) its request uses.

    `primary` names the reference that identifies the object: list routes must (not) list it,
    and a foreign one must be answered exactly like a random id in its place.
    """

    cases: tuple[str, ...]
    refs: Callable[[World, str | None], dict[str, str]]
    primary: str | None = None


def _static(key: str) -> Target:
    return Target(OWN_OTHER, lambda w, org: {key: w.objects[str(org)][key]}, key)


def _other(org: str | None) -> str:
    return "B" if org == "A" else "A"


def _plan_name(w: World, org: str | None) -> dict[str, str]:
    w.plan()  # imported, so that the name exists
    return {"name": PLAN_NAME}


TARGETS: dict[str, Target] = {
    "-": Target(("-",), lambda w, org: {}),
    "host": Target(("-",), lambda w, org: {"host": HOOK_HOST}, "host"),
    "fresh_host": Target(("-",), lambda w, org: {"host": w.fresh_host()}, "host"),
    **{
        kind: _static(f"{kind}_id")
        for kind in ("org", "user", "token", "model", "webhook", "submission")
    },
    "attachment": Target(
        OWN_OTHER,
        lambda w, org: {
            "submission_id": w.objects[str(org)]["submission_id"],
            "attachment_id": w.objects[str(org)]["attachment_id"],
        },
        "attachment_id",
    ),
    # The case's submission with the other org's attachment: ids from two orgs never combine.
    "foreign_attachment": Target(
        OWN_OTHER,
        lambda w, org: {
            "submission_id": w.objects[str(org)]["submission_id"],
            "attachment_id": w.objects[_other(org)]["attachment_id"],
        },
        "attachment_id",
    ),
    "submit_draft": Target(
        OWN_OTHER,
        lambda w, org: {"submission_id": w.fresh_draft(str(org)), "to": "submitted"},
        "submission_id",
    ),
    "accept_submitted": Target(
        OWN_OTHER,
        lambda w, org: {"submission_id": w.fresh_submitted(str(org)), "to": "accepted"},
        "submission_id",
    ),
    "set_testing": Target(
        OWN_OTHER,
        lambda w, org: {"submission_id": w.objects[str(org)]["submission_id"], "to": "testing"},
        "submission_id",
    ),
    "plan": Target(("-",), lambda w, org: {"ref": w.plan()}, "ref"),
    "plan_name": Target(("-",), _plan_name, "name"),
    "campaign": Target(OWN_OTHER, lambda w, org: w.campaign(str(org)), "campaign_id"),
    "fresh_campaign": Target(OWN_OTHER, lambda w, org: w.fresh_campaign(str(org)), "campaign_id"),
    # The case's campaign with the other org's job (and its log file's name).
    "report_ready": Target(OWN_OTHER, lambda w, org: w.report_ready(str(org)), "submission_id"),
    "report_draft": Target(OWN_OTHER, lambda w, org: w.report_draft(str(org)), "submission_id"),
    "issued_report": Target(OWN_OTHER, lambda w, org: w.issued_report(str(org)), "submission_id"),
    "foreign_job": Target(
        OWN_OTHER,
        lambda w, org: {
            **w.campaign(_other(org)),
            "campaign_id": w.campaign(str(org))["campaign_id"],
        },
        "job_id",
    ),
}

Request = Callable[[World, dict[str, str]], dict[str, Any]]
ALL = {"params": {"limit": 500}}  # lists: every object on one page


def _new_token(w: World, refs: dict[str, str]) -> dict[str, Any]:
    return {"json": {"user_id": refs["user_id"]} if "user_id" in refs else {}}


REQUESTS: dict[str, Request] = {
    "POST /orgs": lambda w, r: {"json": {"name": f"New Org {w.n()}", "capacities": ["vendor"]}},
    "GET /orgs": lambda w, r: ALL,
    "GET /orgs/{org_id}": lambda w, r: {},
    "POST /users": lambda w, r: {
        "json": {"email": f"new-{w.n()}@example.org", "org_id": r["org_id"], "roles": ["viewer"]}
    },
    "POST /tokens": _new_token,
    "GET /tokens": lambda w, r: {},
    "DELETE /tokens/{token_id}": lambda w, r: {},
    "GET /audit": lambda w, r: {"params": {"object_id": r["model_id"]}},
    "POST /webhooks": lambda w, r: {
        "json": {"url": f"https://{HOOK_HOST}/new-{w.n()}", "events": ["*"]}
    },
    "GET /webhooks": lambda w, r: ALL,
    "POST /webhooks/allowlist": lambda w, r: {"json": {"host": f"new-{w.n()}.example.net"}},
    "GET /webhooks/allowlist": lambda w, r: {},
    "DELETE /webhooks/allowlist/{host}": lambda w, r: {},
    "GET /webhooks/{webhook_id}": lambda w, r: {},
    "DELETE /webhooks/{webhook_id}": lambda w, r: {},
    "GET /webhooks/{webhook_id}/deliveries": lambda w, r: ALL,
    "GET /notifications": lambda w, r: ALL,
    "POST /models": lambda w, r: {"json": {"name": f"new-{w.n()}", "version": "1"}},
    "GET /models": lambda w, r: ALL,
    "GET /models/{model_id}": lambda w, r: {},
    "POST /submissions": lambda w, r: {"json": submission_body(r["model_id"])},
    "GET /submissions": lambda w, r: ALL,
    "GET /submissions/due": lambda w, r: ALL,
    "GET /submissions/{submission_id}": lambda w, r: {},
    "PATCH /submissions/{submission_id}": lambda w, r: {
        "json": {"declared_safeguards": ["input classifier"], "reason": "matrix"}
    },
    "POST /submissions/{submission_id}/transitions": lambda w, r: {
        "json": {"to": r["to"], "reason": "matrix"}
    },
    "POST /submissions/{submission_id}/attachments": lambda w, r: {
        "params": {"kind": "other", "filename": "notes.md"},
        "content": b"# notes",
        "headers": {"Content-Type": "text/markdown"},
    },
    "GET /submissions/{submission_id}/attachments/{attachment_id}/content": lambda w, r: {},
    "POST /plans": lambda w, r: {
        "json": {"name": f"new-{w.n()}", "estimated_duration": 60, "items": [{"task": "a/b"}]}
    },
    "GET /plans": lambda w, r: {},
    "POST /check": lambda w, r: {
        "content": b"django==3.2.0\n",
        "headers": {"Content-Type": "text/plain"},
    },
    "GET /plans/{ref}": lambda w, r: {},
    "GET /plans/{name}/versions": lambda w, r: {},
    "GET /plans/{ref}/export": lambda w, r: {},
    "POST /campaigns": lambda w, r: {
        "json": {"submission_id": r["submission_id"], "plan": w.plan()}
    },
    "GET /campaigns": lambda w, r: ALL,
    "GET /campaigns/{campaign_id}": lambda w, r: {},
    "POST /campaigns/{campaign_id}/cancel": lambda w, r: {"json": {"reason": "matrix"}},
    "GET /campaigns/{campaign_id}/results": lambda w, r: {},
    "GET /campaigns/{campaign_id}/logs": lambda w, r: {},
    "GET /campaigns/{campaign_id}/logs/{job_id}/{name}": lambda w, r: {},
    "GET /campaigns/{campaign_id}/samples": lambda w, r: {
        "params": {"job": r["job_id"], "sample": SAMPLE_ID}
    },
    "POST /submissions/{submission_id}/report": lambda w, r: {"json": {"limitations": ["m"]}},
    "POST /submissions/{submission_id}/report/approve": lambda w, r: {
        "json": {"draft_sha256": r["draft_sha256"]}
    },
    "GET /submissions/{submission_id}/report": lambda w, r: {},
    "GET /submissions/{submission_id}/report/{name}": lambda w, r: {},
    "POST /submissions/{submission_id}/findings": lambda w, r: {
        "json": {"title": "matrix", "text": "matrix", "severity": "low"}
    },
    "GET /submissions/{submission_id}/findings": lambda w, r: {},
    "GET /report-settings": lambda w, r: {},
    # Left on, as every other line expects.
    "PUT /report-settings": lambda w, r: {"json": {"two_person_rule": True, "reason": "matrix"}},
    # A queued campaign's stream would last an hour: it is closed after its first event.
    "GET /campaigns/{campaign_id}/events": lambda w, r: {"params": {"max_seconds": 0.01}},
}


# --- running a row --------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _send(
    world: World, row: Row, principal: str, refs: dict[str, str]
) -> tuple[Response, set[str]]:
    """Call the row's route as `principal`; also return the strings the request itself carried."""
    spec = dict(REQUESTS[row.route.replace(PREFIX, "", 1)](world, refs))
    token = world.tokens[principal]
    headers = dict(spec.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    path = row.path.format(**{name: refs[name] for name in row.path_params})
    response = world.api.http.request(row.method, path, headers=headers, **spec)
    sent = {refs[name] for name in row.path_params} | set(_strings(spec))
    return response, sent


def _leaks(text: str, sent: set[str], markers: set[str]) -> list[str]:
    # The caller's own input echoed back (e.g. "submission <id> not found") discloses nothing.
    for value in sorted(sent, key=len, reverse=True):
        if len(value) >= 8:
            text = text.replace(value, "")
    return sorted(m for m in markers if m in text)


def _foreign(principal: str, org: str | None) -> bool:
    """Whether the case's object belongs to an org the (non-agency) principal is not in."""
    own = PRINCIPAL_ORG.get(principal)
    return org is not None and own is not None and own != "agency" and own != org


def _leak_problems(world: World, principal: str, org: str | None, expected: Outcome,
                   text: str, sent: set[str]) -> list[str]:  # fmt: skip
    """A refusal or hidden listing carries nothing of an outsider's org; a non-agency caller
    never gets anything of another developer org, whatever the route."""
    own = PRINCIPAL_ORG.get(principal, "anon")
    refused = expected.status >= 400 or expected.listed is False
    guarded = {org} if refused and org is not None and own != org else set()
    if own not in ("agency", "anon"):
        guarded |= {o for o in DEVELOPERS if o != own}
    return [
        f"the answer carries org {o}'s {leaked}"
        for o in sorted(guarded)
        if (leaked := _leaks(text, sent, world.markers[o]))
    ]


def check_call(world: World, row: Row, principal: str, case: str, expected: Outcome) -> list[str]:
    """Make one call and return what went wrong (empty when the answer is as expected)."""
    target = TARGETS[row.target]
    org = CASE_ORG[case]
    refs = target.refs(world, org)
    response, sent = _send(world, row, principal, refs)
    text = response.text
    key = target.primary
    primary = refs[key] if key else None
    listed = None
    if expected.listed is not None and response.status_code == 200:
        listed = primary is not None and primary in text
    got = Outcome(response.status_code, listed)
    problems = []
    if got != expected:
        detail = f" ({text[:160]})" if response.status_code != expected.status else ""
        problems.append(f"expected {expected} got {got}{detail}")
    problems += _leak_problems(world, principal, org, expected, text, sent)
    hidden = expected.status == 404 or _foreign(principal, org)
    if key and primary and hidden and not row.is_list and expected.status != 401:
        # A hidden object must be indistinguishable from one that does not exist.
        missing = str(uuid.uuid4())
        twin, _ = _send(world, row, principal, {**refs, key: missing})
        answer = (response.status_code, text.replace(primary, "<id>"))
        if (twin.status_code, twin.text.replace(missing, "<id>")) != answer:
            problems.append(
                f"answered {response.status_code} {text[:120]} but a missing id gets "
                f"{twin.status_code} {twin.text[:120]}"
            )
    return [f"{row.route} {principal} {case}: {problem}" for problem in problems]


def check_row(world: World, row: Row) -> list[str]:
    """Every principal (and every unauthenticated variant) against every case of the row."""
    problems: list[str] = []
    cases = TARGETS[row.target].cases
    for principal in (*PRINCIPALS, *AS_ANON):
        outcomes = row.expect[principal if principal in row.expect else "anon"]
        for case, expected in zip(cases, outcomes, strict=True):
            problems.extend(check_call(world, row, principal, case, expected))
    return problems
