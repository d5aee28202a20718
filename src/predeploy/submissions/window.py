"""The testing window, as pure functions of times and policy (no database, no clock).

A window starts when the developer grants access, at the earliest `max_window_days` before the
planned release, and the report is due `report_buffer_days` before the release.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..config import Settings
from ..errors import InvalidInput

DAY = timedelta(days=1)


class WindowState(enum.StrEnum):
    NOT_STARTED = "not_started"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class WindowPolicy:
    """The configurable limits the window rules apply."""

    max_window_days: float = 30.0
    report_buffer_days: float = 2.0
    min_window_days: float = 7.0
    max_release_ahead_days: float = 365.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WindowPolicy:
        return cls(
            max_window_days=settings.max_window_days,
            report_buffer_days=settings.report_buffer_days,
            min_window_days=settings.min_window_days,
            max_release_ahead_days=settings.max_release_ahead_days,
        )


@dataclass(frozen=True)
class Window:
    """A planned window: when testing may start, when the report is due, and any warnings."""

    window_start: datetime
    report_due_at: datetime
    compressed: bool
    warnings: tuple[str, ...]


def require_aware(value: datetime, field: str) -> datetime:
    """Refuse a naive datetime (its instant is unknowable); return the value in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{field} has no timezone: a timezone is required (e.g. 2026-12-20T00:00:00Z)",
            field=field,
        )
    return value.astimezone(UTC)


def _days(delta: timedelta) -> str:
    return f"{delta / DAY:.1f}"


def plan_window(
    policy: WindowPolicy,
    *,
    planned_release_at: datetime,
    access_granted_at: datetime,
    now: datetime,
    access_expires_at: datetime | None = None,
    opened_window_start: datetime | None = None,
) -> Window:
    """Compute the window for a release, or raise InvalidInput saying why there can be none.

    `opened_window_start` is the start of a window that has already opened (when a release is
    rescheduled): it is kept as is, so rescheduling never closes an open window.
    """
    release = require_aware(planned_release_at, "planned_release_at")
    granted = require_aware(access_granted_at, "access_granted_at")
    now = require_aware(now, "now")
    if release <= now:
        raise InvalidInput(
            f"planned_release_at {release.isoformat()} is in the past; the release must be "
            "in the future",
            field="planned_release_at",
        )
    if release - now > policy.max_release_ahead_days * DAY:
        raise InvalidInput(
            f"planned_release_at is more than {policy.max_release_ahead_days:g} days ahead; "
            "submit closer to the release",
            field="planned_release_at",
        )
    earliest = release - policy.max_window_days * DAY
    window_start = max(granted, earliest)
    if opened_window_start is not None:
        window_start = require_aware(opened_window_start, "window_start")
    report_due_at = release - policy.report_buffer_days * DAY
    if report_due_at <= now:
        raise InvalidInput(
            f"no testing window: the report would be due at {report_due_at.isoformat()}, "
            f"{policy.report_buffer_days:g} days before the release: that time has passed",
            field="planned_release_at",
        )
    if report_due_at <= window_start:
        limited_by_grant = opened_window_start is None and granted > earliest
        raise InvalidInput(
            f"no testing window: the report would be due at {report_due_at.isoformat()}, "
            f"not after the window could open at {window_start.isoformat()}",
            field="access_granted_at" if limited_by_grant else "planned_release_at",
        )
    expires = None
    if access_expires_at is not None:
        expires = require_aware(access_expires_at, "access_expires_at")
        if expires <= now:
            raise InvalidInput("access_expires_at is in the past", field="access_expires_at")
        if expires <= window_start:
            raise InvalidInput(
                "access_expires_at is not after the window opens: the model could never be tested",
                field="access_expires_at",
            )
    warnings: list[str] = []
    usable = report_due_at - max(window_start, now)
    compressed = usable < policy.min_window_days * DAY
    if compressed:
        warnings.append(
            f"compressed_window: {_days(usable)} days of testing before the report is due, "
            f"under the {policy.min_window_days:g}-day minimum"
        )
    if expires is not None and expires < report_due_at:
        warnings.append("access_expires_before_report: access ends before the report is due")
    return Window(window_start, report_due_at, compressed, tuple(warnings))


def reschedule_window(
    policy: WindowPolicy,
    *,
    current_window_start: datetime,
    planned_release_at: datetime,
    access_granted_at: datetime,
    now: datetime,
    access_expires_at: datetime | None = None,
) -> Window:
    """The window after the release moves: an already-open window keeps its start."""
    opened = current_window_start if current_window_start <= now else None
    return plan_window(
        policy,
        planned_release_at=planned_release_at,
        access_granted_at=access_granted_at,
        now=now,
        access_expires_at=access_expires_at,
        opened_window_start=opened,
    )


def window_state(
    window_start: datetime, report_due_at: datetime, now: datetime, *, ended: bool = False
) -> WindowState:
    """Not started, open, or closed (closed once the report is due or the submission has ended)."""
    if ended or now >= report_due_at:
        return WindowState.CLOSED
    if now < window_start:
        return WindowState.NOT_STARTED
    return WindowState.OPEN


def days_remaining(report_due_at: datetime, now: datetime) -> float:
    """Days left until the report is due (negative once overdue), to the hundredth."""
    return round((report_due_at - now) / DAY, 2)
