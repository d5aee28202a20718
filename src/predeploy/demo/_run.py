"""`predeploy demo`: the main job end to end on the embedded default (SQLite in the data dir).

It runs the pre-release submission flow the way its users would, over HTTP against a real server
on 127.0.0.1: the agency onboards a developer, the developer registers a model and submits it
with two access variants, the agency accepts it, the developer postpones the release, and the
server's periodic jobs emit deadline notifications and sign an audit checkpoint. It then checks
what it promised (chain intact and signed; API keys not in the database file in clear) and prints
a summary. Running it again on the same data dir reuses the organisations and adds a new model
version, so it never collides with its earlier runs.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from .accounts.actor import Actor
from .accounts.models import Capacity, Organization, OrgCapacity, Role, User
from .accounts.schemas import OrgCreate, TokenCreate, UserCreate
from .accounts.service import bootstrap, create_org, create_user, issue_token
from .api import create_app
from .audit.service import verify
from .client import Client
from .migrate import upgrade
from .runtime import Runtime
from .scheduler import Scheduler

AGENCY = "Demo Testing Agency"
AGENCY_ADMIN = "admin@agency.demo"
EVALUATOR = "evaluator@agency.demo"
DEVELOPER = "Frontier Labs (demo)"
SUBMITTER = "submitter@frontier-labs.demo"


@dataclass
class DemoResult:
    """What the demo produced, for the summary and for tests."""

    server_url: str = ""
    submission: dict[str, Any] = field(default_factory=dict)
    steps: list[tuple[str, str]] = field(default_factory=list)
    audit_rows: int = 0
    chain_ok: bool = False
    keys_absent_from_db: bool = False

    def step(self, what: str, detail: str) -> None:
        self.steps.append((what, detail))


class _LoopbackServer:
    """The real app served by uvicorn on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, runtime: Runtime) -> None:
        config = uvicorn.Config(
            create_app(runtime), host="127.0.0.1", port=0, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="demo-server", daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the demo server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _user_id(runtime: Runtime, email: str) -> str | None:
    with runtime.transaction(read_only=True) as session:
        return session.scalar(select(User.id).where(User.email == email))


def _token_for(runtime: Runtime, user_id: str, name: str) -> str:
    """Issue a token out of band, as an operator onboarding a user would."""
    with runtime.unit(Actor.system("demo onboarding")) as ctx:
        return issue_token(ctx, TokenCreate(user_id=user_id, name=name, expires_in_days=1)).token


def _ensure_agency(runtime: Runtime, result: DemoResult) -> tuple[str, str]:
    """The agency's id and an admin token: bootstrapped on a fresh data dir, reused otherwise."""
    with runtime.unit(Actor.system("demo bootstrap")) as ctx:
        agency_id = ctx.session.scalar(
            select(OrgCapacity.org_id).where(OrgCapacity.capacity == Capacity.AGENCY.value)
        )
        if agency_id is None:
            bootstrapped = bootstrap(ctx, AGENCY, AGENCY_ADMIN)
    if agency_id is None:
        result.step("agency", f"bootstrapped {AGENCY} with admin {AGENCY_ADMIN}")
        return bootstrapped.org_id, bootstrapped.token
    result.step("agency", "reused the agency already bootstrapped in this data dir")
    admin_id = _ensure_user(runtime, AGENCY_ADMIN, agency_id, Role.ADMIN)
    return agency_id, _token_for(runtime, admin_id, "demo admin")


def _ensure_org(runtime: Runtime, name: str, capacities: list[Capacity]) -> str:
    with runtime.unit(Actor.system("demo onboarding")) as ctx:
        existing = ctx.session.scalar(select(Organization.id).where(Organization.name == name))
        return existing or create_org(ctx, OrgCreate(name=name, capacities=capacities)).id


def _ensure_user(runtime: Runtime, email: str, org_id: str, role: Role) -> str:
    user_id = _user_id(runtime, email)
    if user_id is not None:
        return user_id
    with runtime.unit(Actor.system("demo onboarding")) as ctx:
        return create_user(ctx, UserCreate(email=email, org_id=org_id, roles=[role])).id


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def run_demo(runtime: Runtime, console: Console) -> DemoResult:
    """Run the submission flow end to end and return what it produced."""
    result = DemoResult()
    settings = runtime.settings
    upgrade(settings.resolved_database_url)
    agency_id, admin_token = _ensure_agency(runtime, result)
    evaluator_id = _ensure_user(runtime, EVALUATOR, agency_id, Role.EVALUATOR)
    developer_org = _ensure_org(runtime, DEVELOPER, [Capacity.DEVELOPER, Capacity.VENDOR])
    submitter_id = _ensure_user(runtime, SUBMITTER, developer_org, Role.SUBMITTER)
    result.step(
        "onboarding", f"developer org {DEVELOPER!r}, submitter {SUBMITTER}, evaluator {EVALUATOR}"
    )
    api_keys = {
        label: f"sk-demo-{secrets.token_urlsafe(24)}"
        for label in ("production", "reduced-safeguards")
    }

    with _LoopbackServer(runtime) as url:
        result.server_url = url
        submitter = Client(url, _token_for(runtime, submitter_id, "demo submitter"))
        evaluator = Client(url, _token_for(runtime, evaluator_id, "demo evaluator"))
        admin = Client(url, admin_token)
        with submitter, evaluator, admin:
            version = f"demo-{len(submitter.list_models()) + 1}"
            model = submitter.create_model(
                name="frontier-demo",
                version=version,
                weights_digest="sha256:" + secrets.token_hex(32),
                modalities=["text", "code"],
                training_flop=2.5e26,
            )
            result.step(
                "model", f"registered frontier-demo {version} (in scope: {model['in_scope']})"
            )
            now = runtime.clock.now()
            draft = submitter.create_submission(
                model_id=model["id"],
                planned_release_at=_iso(now + timedelta(days=24)),
                access_variants=[
                    {
                        "label": label,
                        "model": f"openai-api/frontier-labs/{label}",
                        "base_url": "https://models.frontier-labs.demo/v1",
                        "api_key": key,
                    }
                    for label, key in api_keys.items()
                ],
                contacts=[
                    {"name": "Safety Lead", "email": "safety@frontier-labs.demo", "role": "safety"}
                ],
                declared_safeguards=["refusal training", "cyber misuse classifier"],
            )
            submitter.request(
                "POST",
                f"/submissions/{draft['id']}/attachments",
                params={"kind": "model_card", "filename": "model-card.md"},
                content=f"# frontier-demo {version}\n\nModel card for the demo.\n".encode(),
                headers={"Content-Type": "text/markdown"},
            )
            result.step(
                "submission", f"draft {draft['id']} with 2 access variants and a model card"
            )
            submitter.transition(draft["id"], "submitted", "ready for pre-release testing")
            evaluator.transition(
                draft["id"], "accepted", "in scope: declared compute above 1e26 FLOP"
            )
            result.step("review", "developer submitted; agency evaluator accepted")
            before = submitter.get_submission(draft["id"])
            postponed = submitter.update_submission(
                draft["id"],
                planned_release_at=_iso(now + timedelta(days=31)),
                reason="launch moved one week",
            )
            result.step(
                "postponed",
                f"release +7 days: window start kept at {before['window_start']}, "
                f"report due {before['report_due_at']} -> {postponed['report_due_at']}",
            )
            due = admin.due_submissions()
            result.step("due list", f"{len(due)} open submission(s), nearest deadline first")
            outcomes = Scheduler(runtime).run_due(force=True)
            result.step("periodic jobs", ", ".join(f"{k}: {v}" for k, v in outcomes.items()))
            kinds = sorted({e["kind"] for e in admin.request("GET", "/notifications")["items"]})
            result.step("notifications", ", ".join(kinds))
            result.submission = admin.get_submission(draft["id"])

    with runtime.unit(Actor.system("demo verify"), read_only=True) as ctx:
        verdict = verify(ctx, with_checkpoints=True)
    result.chain_ok, result.audit_rows = verdict.ok, verdict.rows_checked
    result.step(
        "audit", f"{verdict.rows_checked} events; chain and signed checkpoint verify: {verdict.ok}"
    )
    result.keys_absent_from_db = _keys_absent(settings.resolved_database_url, api_keys.values())
    result.step(
        "keys at rest",
        "encrypted: no plaintext API key in the database files"
        if result.keys_absent_from_db
        else "PLAINTEXT API KEY FOUND in the database files",
    )
    _print_summary(console, result, settings.data_dir)
    return result


def _keys_absent(database_url: str, keys: Iterable[str]) -> bool:
    """True when no plaintext key appears in the SQLite database or its WAL."""
    if not database_url.startswith("sqlite:///"):
        return True
    path = Path(database_url.removeprefix("sqlite:///"))
    blobs = [p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    return not any(key.encode() in blob for key in keys for blob in blobs)


def _print_summary(console: Console, result: DemoResult, data_dir: Path) -> None:
    steps = Table(title="predeploy demo: pre-release submission flow")
    steps.add_column("step")
    steps.add_column("what happened")
    for what, detail in result.steps:
        steps.add_row(what, detail)
    console.print(steps)
    sub = result.submission
    window = Table(title="Testing window", show_header=False)
    window.add_column("field")
    window.add_column("value")
    rows = {
        "submission": sub["id"],
        "state": sub["state"],
        "window": sub["window_state"],
        "window start": sub["window_start"],
        "report due": sub["report_due_at"],
        "planned release": sub["planned_release_at"],
        "days remaining": str(sub["days_remaining"]),
        "compressed window": str(sub["compressed_window"]),
        "priority scope": sub["scope_reason"],
        "server (stopped)": result.server_url,
    }
    for key, value in rows.items():
        window.add_row(key, value)
    console.print(window)
    console.print(f"data dir: {data_dir.resolve()} (database, keys, audit log)")
