"""The clearinghouse's settings: the two-person rule for publishing and embargo overrides."""

from __future__ import annotations

from ..agency_settings import read_flag, write_flag
from ..errors import PermissionDenied
from ..runtime import Context
from ._visibility import sees_everything
from .schemas import ClearinghouseSettingsOut, ClearinghouseSettingsUpdate

TWO_PERSON_RULE = "clearinghouse.two_person_rule"
"""The agency setting: publishing an advisory and ending an embargo early each need a second
analyst (on unless an admin turned it off)."""


def two_person_rule(ctx: Context) -> bool:
    """Whether publishing and embargo overrides need a second analyst."""
    return read_flag(ctx, TWO_PERSON_RULE, default=True).value


def get_settings(ctx: Context) -> ClearinghouseSettingsOut:
    """The clearinghouse's settings (the agency's analysts and admins)."""
    if not sees_everything(ctx.actor):
        raise PermissionDenied("only the agency's analysts and admins read these settings")
    flag = read_flag(ctx, TWO_PERSON_RULE, default=True)
    return ClearinghouseSettingsOut(
        two_person_rule=flag.value, updated_by=flag.updated_by, updated_at=flag.updated_at
    )


def set_settings(ctx: Context, data: ClearinghouseSettingsUpdate) -> ClearinghouseSettingsOut:
    """Turn the clearinghouse's two-person rule on or off (agency admins, admin scope)."""
    write_flag(ctx, TWO_PERSON_RULE, data.two_person_rule, data.reason, default=True)
    return get_settings(ctx)
