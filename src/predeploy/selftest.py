"""`predeploy selftest`: the main job and the sandbox's containment, checked on this deployment.

It runs the quick demo (submission, a campaign in the sandbox, the signed report verified
offline, the clearinghouse, exports, the SBOM check, the audit chain and the secrets scan), an
agent that tries to break out of the sandbox inside a real campaign, and the reliability
battery's faults (a model endpoint failing 30% of calls; worker processes SIGKILLed at random
moments of a campaign), against the configured database, data dir and workers' sandbox. It writes organisations, submissions, reports and
advisories, so it refuses a database that holds anything it did not make itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from sqlalchemy import select

from .accounts.models import Organization
from .demo import DemoOptions, DemoResult, run_demo
from .demo._run import AGENCY, DEVELOPER
from .errors import Conflict
from .migrate import upgrade
from .runtime import Runtime

SELFTEST_ORGS = frozenset({AGENCY, DEVELOPER})
"""The organisations the self-test (and the demo) make: a database with any other is in use."""


@dataclass(frozen=True)
class SelftestResult:
    """Each check and whether it passed."""

    checks: dict[str, bool]
    demo: DemoResult

    @property
    def passed(self) -> bool:
        return all(self.checks.values())


def require_scratch_database(runtime: Runtime) -> None:
    """Refuse a database with organisations the self-test did not make (real data)."""
    with runtime.transaction(read_only=True) as session:
        names = set(session.scalars(select(Organization.name)).all())
    foreign = sorted(names - SELFTEST_ORGS)
    if foreign:
        shown = ", ".join(repr(name) for name in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise Conflict(
            f"the database holds real data ({len(foreign)} organisation(s) the self-test did "
            f"not make: {shown}{more}); run the self-test on a scratch database and data dir "
            "(PREDEPLOY_DATABASE_URL, PREDEPLOY_DATA_DIR)",
            field="database_url",
        )


def run_selftest(
    runtime: Runtime, console: Console, kill_seed: int | None = None
) -> SelftestResult:
    """Check that the database is a scratch one, then run the checks (module docstring).

    `kill_seed` replays the moments a failed run killed its workers at (it is in the summary).
    """
    upgrade(runtime.settings.resolved_database_url)
    require_scratch_database(runtime)
    options = DemoOptions(quick=True, containment=True, faults=True, kill_seed=kill_seed)
    demo = run_demo(runtime, console, options)
    testing = demo.testing
    checks = {
        "campaign completed in the sandbox": testing is not None
        and testing.campaign["state"] == "completed",
        "signed report verified offline": testing is not None and bool(testing.sha256),
        "advisory published and exported": demo.clearinghouse is not None
        and bool(demo.clearinghouse.files),
        "SBOM checked": demo.defense is not None,
        "audit chain and signed checkpoint": demo.chain_ok,
        "no secret in clear on disk": not demo.leaks,
        "sandbox containment": demo.containment is not None and demo.containment.contained,
    }
    if demo.faults is None:
        checks["fault scenarios ran"] = False
    else:
        checks.update(demo.faults.checks)
    return SelftestResult(checks=checks, demo=demo)
