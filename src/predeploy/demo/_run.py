"""The demo's flow: onboarding, submission, testing, checks and the summary.

It runs over HTTP against a real server on 127.0.0.1: the agency onboards a developer, the
developer registers a model and submits it with two access variants (`production` and
`reduced-safeguards`: the scripted baselines by default, or the model given), the agency accepts
it, the developer postpones the release, the server's periodic jobs emit deadline notifications;
then the agency tests the model and issues its signed report (`_testing`). It checks what it
promised (audit chain intact and signed; API keys not in the database file in clear) and prints
what was produced and where. Running it again on the same data dir reuses the organisations and
adds a new model version, so it never collides with its earlier runs.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from ..accounts.actor import Actor
from ..accounts.models import Capacity, Organization, OrgCapacity, Role, User
from ..accounts.schemas import OrgCreate, TokenCreate, UserCreate
from ..accounts.service import bootstrap, create_org, create_user, issue_token, set_password
from ..api import create_app
from ..audit.service import verify
from ..backup import database_files
from ..client import Client
from ..errors import InvalidInput
from ..keys import read_key_ring
from ..migrate import upgrade
from ..runtime import Runtime
from ..scheduler import Scheduler
from ..secret_scan import Secret, scan
from ._clearinghouse import ClearinghouseOutcome, Desk, run_clearinghouse
from ._containment import ContainmentOutcome, run_containment
from ._defense import DefenseOutcome, resolve_osv_source, run_defense
from ._faults import FaultsOutcome, run_faults
from ._software_flaw import run_software_flaw
from ._testing import FULL, PRODUCTION, QUICK, REDUCED, TestingOutcome, run_testing

AGENCY = "Demo Testing Agency"
AGENCY_ADMIN = "admin@agency.demo"
EVALUATOR = "evaluator@agency.demo"
REVIEWER = "reviewer@agency.demo"
ANALYST = "analyst@agency.demo"
SECURITY_CONTACT = "security@frontier-labs.demo"
DEVELOPER = "Frontier Labs (demo)"
SUBMITTER = "submitter@frontier-labs.demo"


@dataclass(frozen=True)
class DemoOptions:
    """What the demo tests: the scripted baselines (default) or a model of the user's.

    `access_model` is any Inspect model string (e.g. `openai-api/lab/model-x`) served at
    `base_url`, its key read from the environment variable `api_key_env`; both access variants
    then reach it. `quick` runs a smaller test plan (suite level 1, one seed, one epoch).
    `osv` names OSV records (a folder, file or zip) to import before the SBOM check.
    """

    quick: bool = False
    access_model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    osv: Path | None = None
    """OSV records to import for the SBOM check (default: `../shared/data/osv-pypa` if there)."""
    containment: bool = False
    """Also run an escaping agent in a campaign and check it stayed in the sandbox (selftest)."""
    faults: bool = False
    """Also run the battery's faults: a failing endpoint and killed workers (selftest)."""
    kill_seed: int | None = None
    """The seed of the moments the workers are killed at (default: a fresh one, shown)."""


@dataclass
class DemoResult:
    """What the demo produced, for the summary and for tests."""

    server_url: str = ""
    submission: dict[str, Any] = field(default_factory=dict)
    steps: list[tuple[str, str]] = field(default_factory=list)
    audit_rows: int = 0
    chain_ok: bool = False
    leaks: list[str] = field(default_factory=list)
    """Secrets of the run (model API keys, API tokens, server keys) found in clear on disk."""
    testing: TestingOutcome | None = None
    clearinghouse: ClearinghouseOutcome | None = None
    software_flaw: ClearinghouseOutcome | None = None
    defense: DefenseOutcome | None = None
    containment: ContainmentOutcome | None = None
    faults: FaultsOutcome | None = None
    produced: list[tuple[str, str]] = field(default_factory=list)
    """What was produced and where (path or id), for the summary."""

    def step(self, what: str, detail: str) -> None:
        self.steps.append((what, detail))


class LoopbackServer:
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


# The scripted baselines the demo tests by default: the guarded one ships, the unguarded expert
# is what capability elicitation gets with safeguards reduced.
SCRIPTED_VARIANTS = {PRODUCTION: "predeploy/scripted-guarded", REDUCED: "predeploy/scripted-expert"}


def _access_variants(options: DemoOptions) -> tuple[list[dict[str, Any]], list[str]]:
    """The submission's access variants, and the API keys they carry (to check them at rest)."""
    if options.access_model is None:
        # Scripted baselines need no key; random ones still show that keys are stored encrypted.
        keys = {label: f"sk-demo-{secrets.token_urlsafe(24)}" for label in SCRIPTED_VARIANTS}
        variants: list[dict[str, Any]] = [
            {"label": label, "model": model, "api_key": keys[label]}
            for label, model in SCRIPTED_VARIANTS.items()
        ]
        return variants, list(keys.values())
    key = os.environ.get(options.api_key_env) if options.api_key_env else None
    if options.api_key_env and not key:
        raise InvalidInput(
            f"environment variable {options.api_key_env} is not set or empty",
            field="api_key_env",
        )
    variants = [
        {"label": label, "model": options.access_model, "base_url": options.base_url}
        | ({"api_key": key} if key else {})
        for label in SCRIPTED_VARIANTS
    ]
    return variants, [key] if key else []


def run_demo(runtime: Runtime, console: Console, options: DemoOptions | None = None) -> DemoResult:
    """Run the main job end to end and return what it produced."""
    options = options or DemoOptions()
    result = DemoResult()
    settings = runtime.settings
    access_variants, api_keys = _access_variants(options)
    osv_source = resolve_osv_source(options.osv)
    upgrade(settings.resolved_database_url)
    agency_id, admin_token = _ensure_agency(runtime, result)
    evaluator_id = _ensure_user(runtime, EVALUATOR, agency_id, Role.EVALUATOR)
    reviewer_id = _ensure_user(runtime, REVIEWER, agency_id, Role.EVALUATOR)
    analyst_id = _ensure_user(runtime, ANALYST, agency_id, Role.ANALYST)
    developer_org = _ensure_org(runtime, DEVELOPER, [Capacity.DEVELOPER, Capacity.VENDOR])
    submitter_id = _ensure_user(runtime, SUBMITTER, developer_org, Role.SUBMITTER)
    security_id = _ensure_user(runtime, SECURITY_CONTACT, developer_org, Role.MEMBER)
    result.step(
        "onboarding",
        f"developer org {DEVELOPER!r} (submitter {SUBMITTER}, security contact "
        f"{SECURITY_CONTACT}), evaluators {EVALUATOR} and {REVIEWER}, analyst {ANALYST}",
    )

    with LoopbackServer(runtime) as url:
        result.server_url = url
        tokens = {
            name: _token_for(runtime, user_id, f"demo {name}")
            for name, user_id in (
                ("submitter", submitter_id),
                ("evaluator", evaluator_id),
                ("reviewer", reviewer_id),
                ("analyst", analyst_id),
                ("security contact", security_id),
            )
        }
        tokens["admin"] = admin_token
        submitter = Client(url, tokens["submitter"])
        evaluator = Client(url, tokens["evaluator"])
        reviewer = Client(url, tokens["reviewer"])
        analyst = Client(url, tokens["analyst"])
        security = Client(url, tokens["security contact"])
        public = Client(url)
        admin = Client(url, admin_token)
        with submitter, evaluator, reviewer, analyst, security, public, admin:
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
                access_variants=access_variants,
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
            out_dir = settings.data_dir / "demo" / draft["id"]
            testing = run_testing(
                runtime,
                evaluator,
                reviewer,
                draft["id"],
                out_dir,
                QUICK if options.quick else FULL,
                console,
            )
            result.testing = testing
            progress = testing.campaign["progress"]
            result.step(
                "campaign",
                f"{testing.campaign['id']}: {progress['jobs_total']} jobs, "
                f"{progress['samples_done']} samples in {testing.seconds:.0f} s "
                f"(bubblewrap sandbox)",
            )
            result.step("report", _report_line(testing))
            if testing.finding_id is not None:
                # The agency admin is the second analyst of the two-person rule.
                shared = run_clearinghouse(
                    evaluator, analyst, admin, security, public, testing.finding_id,
                    developer_org, out_dir / "clearinghouse",
                )  # fmt: skip
                result.clearinghouse = shared
                result.step("clearinghouse", _clearinghouse_line(shared))
            # A flaw the model found in the developer's own library: software, so OSV and CVE 5.
            desk = Desk(analyst, admin, security, public, developer_org)
            finder = {"developer": DEVELOPER, "model": model["name"], "version": model["version"]}
            software = run_software_flaw(evaluator, desk, finder, out_dir / "software-flaw")
            result.software_flaw = software
            result.step("software flaw", _software_flaw_line(software))
            if options.containment:
                contained = run_containment(runtime, submitter, evaluator, model["id"])
                result.containment = contained
                api_keys.append(contained.key)
                result.step(
                    "containment",
                    "; ".join(
                        f"{attempt}: {'contained' if ok else 'NOT CONTAINED'}"
                        for attempt, ok in contained.attempts.items()
                    ),
                )
            if options.faults:
                faults = run_faults(
                    runtime, submitter, evaluator, model["id"], out_dir / "faults",
                    options.kill_seed,
                )  # fmt: skip
                result.faults = faults
                api_keys += faults.keys
                for what, detail in faults.details.items():
                    result.step(what, detail)
            # The developer, as a defender, checks its own service's SBOM.
            defense = run_defense(analyst, submitter, out_dir / "defense", osv_source)
            result.defense = defense
            for what, detail in defense.steps():
                result.step(what, detail)
            result.submission = admin.get_submission(draft["id"])

    with runtime.unit(Actor.system("demo verify"), read_only=True) as ctx:
        verdict = verify(ctx, with_checkpoints=True)
    result.chain_ok, result.audit_rows = verdict.ok, verdict.rows_checked
    result.step(
        "audit", f"{verdict.rows_checked} events; chain and signed checkpoint verify: {verdict.ok}"
    )
    secrets_of_run = [Secret("model API key", key.encode()) for key in api_keys]
    secrets_of_run += [Secret(f"API token ({name})", t.encode()) for name, t in tokens.items()]
    secrets_of_run += _server_secrets(runtime)
    with tempfile.TemporaryDirectory(prefix="predeploy-demo-scan-") as scratch:
        database = database_files(settings, Path(scratch))
        roots = [*database, settings.data_dir]
        skip = [settings.secret_key_path, settings.signing_key_path]
        result.leaks = [str(leak) for leak in scan(roots, secrets_of_run, skip=skip)]
    result.step(
        "secrets scan",
        f"{len(secrets_of_run)} secrets of this run (model API keys, API tokens, the server's "
        "secret and signing keys) looked for in the database (SQLite's file, or a plain dump of "
        "PostgreSQL's) and every file under the data dir (Inspect logs, reports, exports): "
        + ("none in clear" if not result.leaks else "FOUND IN CLEAR: " + "; ".join(result.leaks)),
    )
    _print_summary(console, result, settings.data_dir)
    return result


DEMO_LOGINS = (
    (AGENCY_ADMIN, "agency admin"),
    (EVALUATOR, "agency evaluator"),
    (REVIEWER, "agency evaluator (second approver)"),
    (SUBMITTER, "developer submitter"),
)


def set_demo_passwords(runtime: Runtime) -> list[tuple[str, str, str]]:
    """Give each demo user a new random password for the web pages: (email, who, password).

    The passwords are shown once, by whoever calls this; only their argon2 hashes are kept, and
    every earlier web session of these users ends.
    """
    logins = []
    with runtime.unit(Actor.system("demo serve")) as ctx:
        for email, who in DEMO_LOGINS:
            password = secrets.token_urlsafe(15)
            set_password(ctx, email, password)
            logins.append((email, who, password))
    return logins


def _report_line(testing: TestingOutcome) -> str:
    """The issued report in one line: determination, safeguards and identity verdicts."""
    report = testing.report
    verdict = report["determination"]["verdict"]
    level = (
        f"{verdict['model_label']} meets {verdict['level']}"
        if verdict["status"] == "determined"
        else f"{verdict['model_label']} inconclusive"
    )
    safeguards = report.get("safeguards") or {}
    status = (safeguards.get("effective_capability") or {}).get("status")
    effective = {
        "below": "the production safeguards bring it below that level",
        "not_below": "the production safeguards do not bring it below that level",
        "inconclusive": "whether the production safeguards bring it lower is inconclusive",
        "not_applicable": "safeguards: not applicable",
    }.get(status or "", "safeguards: not tested")
    identity = ", ".join(
        f"{record['variant']} {record['drift']['verdict'] if record.get('drift') else 'start only'}"
        for record in report.get("identity", [])
    )
    return (
        f"version {report['report']['version']} issued and verified (key {testing.key_id}): "
        f"{level}; {effective}; identity: {identity}"
    )


def _clearinghouse_line(shared: ClearinghouseOutcome) -> str:
    # The server's reasons are long (they list the formats that apply): name the formats only.
    skipped = f"{', '.join(sorted(shared.skipped))} do not apply to a model's flaw"
    return (
        f"the finding became report {shared.vuln_id} (SSVC: {shared.ssvc_outcome}); case "
        f"{shared.case_number} with the developer as vendor; advisory {shared.advisory_number} "
        f"published after the embargo ended and read without a token; exported as "
        f"{', '.join(sorted(shared.files))}" + (f" ({skipped})" if shared.skipped else "")
    )


def _software_flaw_line(flaw: ClearinghouseOutcome) -> str:
    skipped = "; ".join(f"{fmt} does not apply" for fmt in sorted(flaw.skipped))
    if flaw.duplicate_id is not None:
        return (
            f"report {flaw.duplicate_id} closed as a duplicate of {flaw.vuln_id} (an earlier "
            f"run's, case {flaw.case_number}); advisory {flaw.advisory_number} exported again "
            f"as {', '.join(sorted(flaw.files))}"
        )
    return (
        f"report {flaw.vuln_id} (found by the model under test, SSVC: {flaw.ssvc_outcome}); "
        f"case {flaw.case_number}, the developer's fix approved; advisory "
        f"{flaw.advisory_number} exported as {', '.join(sorted(flaw.files))}"
        + (f" ({skipped})" if skipped else "")
    )


def _server_secrets(runtime: Runtime) -> list[Secret]:
    """The server's own keys as they must never appear outside their files: each Fernet key of
    the ring, and the signing key's PEM and raw private bytes."""
    settings = runtime.settings
    ring = [Secret("secret key", key) for key in read_key_ring(settings.secret_key_path)]
    pem = settings.signing_key_path.read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return [*ring, Secret("signing key (PEM)", pem.strip()), Secret("signing key (raw)", raw)]


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
        "days remaining": "-" if sub["days_remaining"] is None else str(sub["days_remaining"]),
        "compressed window": str(sub["compressed_window"]),
        "priority scope": sub["scope_reason"],
        "server (stopped)": result.server_url,
    }
    for key, value in rows.items():
        window.add_row(key, value)
    console.print(window)
    produced = Table(title="What the demo produced")
    produced.add_column("what")
    produced.add_column("where", overflow="fold")
    produced.add_row("database, keys, audit log", str(data_dir.resolve()))
    testing = result.testing
    if testing is not None:
        produced.add_row("campaign (results, Inspect logs)", testing.campaign["id"])
        names = {
            "json": "signed report (JSON)",
            "sig": "its Ed25519 signature",
            "html": "report (HTML)",
            "pdf": "report (PDF)",
            "public_key": "agency public key",
        }
        for fmt, what in names.items():
            produced.add_row(what, str(testing.files[fmt].resolve()))
        produced.add_row("report SHA-256", testing.sha256)
    for advisory in (result.clearinghouse, result.software_flaw):
        if advisory is not None:
            for fmt, path in sorted(advisory.files.items()):
                produced.add_row(f"{advisory.advisory_number} export ({fmt})", str(path.resolve()))
    if result.defense is not None:
        produced.add_row("SBOM (CycloneDX)", str(result.defense.sbom.resolve()))
        produced.add_row("SBOM check result", str(result.defense.check_result.resolve()))
    console.print(produced)
