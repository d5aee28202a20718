"""The pages' Jinja2 environment: autoescaped templates, with filters for times in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..accounts.actor import Actor
from ..accounts.models import Capacity, Role
from ..runtime import Context
from ._session import csrf_for_request, set_login_csrf_cookie

environment = Environment(
    loader=PackageLoader("predeploy.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def utc(value: datetime | None) -> str:
    """A time as `2026-12-01 09:40 UTC` (every time on the pages is in UTC)."""
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def duration(value: timedelta) -> str:
    """A duration as `3 d 4 h`, `4 h 12 min` or `12 min`; negative ones as `… ago`."""
    seconds = int(value.total_seconds())
    suffix = " ago" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return text + suffix


environment.filters["utc"] = utc
environment.filters["duration"] = duration


def _nav(actor: Actor) -> list[tuple[str, str]]:
    """The menu: only the areas this user can use."""
    if actor.anonymous:
        return [("/advisories", "Advisories"), ("/reports/verify", "Verify a report")]
    items = [("/", "Dashboard")]
    # Only agency staff and developer orgs have submissions (submissions.visibility.scoped).
    if actor.is_agency_staff or Capacity.DEVELOPER in actor.capacities:
        items.append(("/submissions", "Submissions"))
        items.append(("/campaigns", "Campaigns"))
        items.append(("/reports", "Reports"))
    items.append(("/clearinghouse/reports", "Vulnerability reports"))
    items.append(("/clearinghouse/cases", "Cases"))
    items.append(("/advisories", "Advisories"))
    items.append(("/reports/verify", "Verify a report"))
    if actor.has_role(Role.ADMIN):
        items.append(("/admin", "Admin"))
    return items


def render(
    request: Request,
    template: str,
    ctx: Context,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a page for the caller of `ctx`."""
    return render_page(request, template, ctx.actor, status_code, now=ctx.now(), **values)


def render_page(
    request: Request,
    template: str,
    actor: Actor,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a page for `actor` (the layout shows their menu and the form's CSRF token)."""
    values.setdefault("now", request.app.state.runtime.clock.now())
    html = environment.get_template(template).render(
        request=request,
        actor=actor,
        nav=_nav(actor),
        path=request.url.path,
        csrf_token=csrf_for_request(request),
        **values,
    )
    response = HTMLResponse(html, status_code=status_code)
    set_login_csrf_cookie(request, response)
    return response
