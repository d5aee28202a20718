"""On/off settings that agency admins change at run time (the two-person rules), each change
audited with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .accounts.models import Scope
from .audit.service import record
from .errors import PermissionDenied
from .reports.models import AgencySetting
from .runtime import Context


@dataclass(frozen=True)
class Flag:
    """A setting's value, and who last changed it."""

    value: bool
    updated_by: str | None
    updated_at: datetime | None


def read_flag(ctx: Context, key: str, *, default: bool) -> Flag:
    """The setting `key`, or `default` if no admin ever set it."""
    row = ctx.session.get(AgencySetting, key)
    if row is None:
        return Flag(default, None, None)
    return Flag(bool(row.value), row.updated_by, row.updated_at)


def write_flag(ctx: Context, key: str, value: bool, reason: str, *, default: bool) -> Flag:
    """Set `key` (agency admins with the admin scope), audited with `reason`."""
    actor = ctx.actor
    if not (actor.is_system or actor.is_agency_admin):
        raise PermissionDenied(f"only agency admins change {key}")
    actor.require_scope(Scope.ADMIN)
    before = read_flag(ctx, key, default=default).value
    now = ctx.now()
    row = ctx.session.get(AgencySetting, key)
    if row is None:
        row = AgencySetting(key=key, value=value, updated_at=now)
        ctx.session.add(row)
    row.value, row.updated_by, row.updated_at = value, actor.user_id, now
    ctx.session.flush()
    record(
        ctx,
        "settings.change",
        "agency_setting",
        key,
        {"key": key, "value": value, "reason": reason},
        detail={"key": key, "from": before, "to": value, "reason": reason},
    )
    return Flag(value, row.updated_by, row.updated_at)
