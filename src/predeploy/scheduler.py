"""Periodic server-side jobs: audit checkpoints, deadline notifications, key expiry, webhooks,
old web sessions.

`run_due` runs every job whose interval has passed, each in its own transaction as the system
actor, so one failing job neither blocks the others nor leaves half its work behind. `predeploy
serve` runs the loop in a background thread; `predeploy tick` runs it once (e.g. from cron, or in
deployments that run the scheduler as its own process).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .accounts.actor import Actor
from .accounts.sessions import purge_sessions
from .audit.service import checkpoint_if_due
from .campaigns.service import refresh_all_at_risk
from .campaigns.transcripts import purge_expired_transcripts
from .notifications.service import deliver_due
from .runtime import Context, Runtime
from .submissions.service import expire_access, scan_deadlines

log = logging.getLogger("predeploy.scheduler")


@dataclass(frozen=True)
class Job:
    """One periodic job."""

    name: str
    interval: timedelta
    run: Callable[[Context], object]


def maintenance_jobs() -> list[Job]:
    """The jobs the server runs on its own, in the order they run."""
    return [
        # Destroy keys first, so nothing later in the same tick can use an expired key.
        Job("expire-access", timedelta(minutes=1), expire_access),
        Job("scan-deadlines", timedelta(minutes=5), scan_deadlines),
        Job("campaigns-at-risk", timedelta(minutes=5), refresh_all_at_risk),
        Job("purge-transcripts", timedelta(hours=1), purge_expired_transcripts),
        Job("purge-web-sessions", timedelta(hours=1), purge_sessions),
        Job("deliver-webhooks", timedelta(seconds=30), deliver_due),
        Job(
            "audit-checkpoint",
            timedelta(minutes=5),
            lambda ctx: checkpoint_if_due(ctx, timedelta(hours=1)),
        ),
    ]


@dataclass
class Scheduler:
    """Runs `jobs` when due; `run_due` is safe to call from tests with a frozen clock."""

    runtime: Runtime
    jobs: list[Job] = field(default_factory=maintenance_jobs)
    last_run: dict[str, datetime] = field(default_factory=dict)

    def run_due(self, *, force: bool = False) -> dict[str, str]:
        """Run every job that is due (all of them with `force`); returns each job's outcome."""
        outcomes: dict[str, str] = {}
        for job in self.jobs:
            now = self.runtime.clock.now()
            last = self.last_run.get(job.name)
            if not force and last is not None and now - last < job.interval:
                continue
            try:
                with self.runtime.unit(Actor.system(f"scheduler:{job.name}")) as ctx:
                    job.run(ctx)
                outcomes[job.name] = "ok"
            except Exception as exc:
                log.exception("scheduled job %s failed", job.name)
                outcomes[job.name] = f"failed: {type(exc).__name__}"
            self.last_run[job.name] = now
        return outcomes

    def run_forever(self, stop: threading.Event, poll_seconds: float = 5.0) -> None:
        """Loop until `stop` is set (the server sets it on shutdown)."""
        while not stop.is_set():
            self.run_due()
            stop.wait(poll_seconds)

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_forever, args=(stop,), name="predeploy-scheduler", daemon=True
        )
        thread.start()
        return thread, stop
