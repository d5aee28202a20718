"""Admin pages: organisations, their users, and API tokens.

Agency admins see every organisation; an organisation's admin sees their own. The accounts
service decides who may do what (the same rules as the JSON API); these pages only send
non-admins away up front, so that nobody sees forms they could never use.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from ..accounts.models import ROLES_BY_CAPACITY, Capacity, Role
from ..accounts.schemas import OrgCreate, TokenCreate, UserCreate
from ..accounts.service import (
    create_org,
    create_user,
    get_org,
    issue_token,
    list_orgs,
    list_tokens,
    list_users,
    revoke_token,
)
from ..errors import PermissionDenied, PredeployError, first_validation_error
from ..pagination import MAX_LIMIT
from ..runtime import Context
from ._session import PageContext
from ._templates import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
Text = Annotated[str, Form(max_length=400)]
Choices = Annotated[list[str] | None, Form()]


def _require_admin(ctx: Context) -> None:
    if not ctx.actor.has_role(Role.ADMIN):
        raise PermissionDenied("only admins open the admin pages")


def _failed(ctx: Context, exc: ValidationError | PredeployError) -> PredeployError:
    """The error to show on the form. The request's transaction would commit when the page
    is sent, so whatever the failed call wrote is rolled back first."""
    ctx.session.rollback()
    return first_validation_error(exc) if isinstance(exc, ValidationError) else exc


def _org_names(ctx: Context) -> dict[str, str]:
    """Names of the organisations the caller may see (the agency's admins: every one)."""
    return {org.id: org.name for org in list_orgs(ctx, limit=MAX_LIMIT).items}


def _allowed_roles(capacities: list[Capacity]) -> list[Role]:
    allowed: set[Role] = set()
    for capacity in capacities:
        allowed |= ROLES_BY_CAPACITY[capacity]
    return sorted(allowed)


# --- overview ------------------------------------------------------------------------------------


@router.get("/admin")
def overview(request: Request, ctx: PageContext) -> Response:
    """Links to the admin pages, and the caller's own organisation."""
    _require_admin(ctx)
    org = get_org(ctx, ctx.actor.org_id) if ctx.actor.org_id else None
    return render(request, "admin/overview.html.j2", ctx, org=org)


# --- organisations -------------------------------------------------------------------------------


def _orgs_page(
    request: Request,
    ctx: Context,
    *,
    cursor: str | None = None,
    form: dict[str, Any] | None = None,
    error: PredeployError | None = None,
) -> Response:
    return render(
        request,
        "admin/orgs.html.j2",
        ctx,
        status_code=error.status_code if error else 200,
        orgs=list_orgs(ctx, cursor, PAGE_SIZE),
        capacities=list(Capacity),
        may_create=ctx.actor.is_agency_admin,
        form=form or {"name": "", "capacities": []},
        error=error,
    )


@router.get("/admin/orgs")
def orgs(request: Request, ctx: PageContext, cursor: str | None = None) -> Response:
    """Organisations the caller may see, and (agency admins) a form to create one."""
    _require_admin(ctx)
    return _orgs_page(request, ctx, cursor=cursor)


@router.post("/admin/orgs")
def create_org_form(
    request: Request, ctx: PageContext, name: Text = "", capacities: Choices = None
) -> Response:
    """Create an organisation, then show it."""
    _require_admin(ctx)
    chosen = capacities or []
    try:
        org = create_org(ctx, OrgCreate.model_validate({"name": name, "capacities": chosen}))
    except (ValidationError, PredeployError) as exc:
        form = {"name": name, "capacities": chosen}
        return _orgs_page(request, ctx, form=form, error=_failed(ctx, exc))
    return RedirectResponse(f"/admin/orgs/{org.id}", status_code=303)


@router.get("/admin/orgs/{org_id}")
def org_detail(
    request: Request,
    ctx: PageContext,
    org_id: str,
    cursor: str | None = None,
    added: str | None = None,
) -> Response:
    """One organisation and its users with their roles."""
    _require_admin(ctx)
    org = get_org(ctx, org_id)
    users = list_users(ctx, org_id=org.id, cursor=cursor, limit=PAGE_SIZE)
    return render(
        request,
        "admin/org.html.j2",
        ctx,
        org=org,
        users=users,
        allowed_roles=_allowed_roles(org.capacities),
        added=next((user for user in users.items if user.id == added), None),
    )


# --- users ---------------------------------------------------------------------------------------


def _users_page(
    request: Request,
    ctx: Context,
    *,
    cursor: str | None = None,
    form: dict[str, Any],
    error: PredeployError | None = None,
) -> Response:
    names = _org_names(ctx)
    users = list_users(ctx, cursor=cursor, limit=PAGE_SIZE)
    return render(
        request,
        "admin/users.html.j2",
        ctx,
        status_code=error.status_code if error else 200,
        users=users,
        org_names=names,
        roles=list(Role),
        form=form,
        error=error,
    )


def _user_form(
    org_id: str = "", email: str = "", display_name: str = "", roles: list[str] | None = None
) -> dict[str, Any]:
    """The new-user form's values to show again (never the password)."""
    return {"org_id": org_id, "email": email, "display_name": display_name, "roles": roles or []}


@router.get("/admin/users")
def users(
    request: Request, ctx: PageContext, cursor: str | None = None, org_id: str = ""
) -> Response:
    """Users the caller may manage, and a form to add one (`org_id` preselects its org)."""
    _require_admin(ctx)
    return _users_page(
        request, ctx, cursor=cursor, form=_user_form(org_id or ctx.actor.org_id or "")
    )


@router.post("/admin/users")
def create_user_form(
    request: Request,
    ctx: PageContext,
    email: Text = "",
    display_name: Text = "",
    org_id: Text = "",
    roles: Choices = None,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Add a user to an organisation, with an optional first password, then show the org."""
    _require_admin(ctx)
    chosen = roles or []
    data = {"email": email, "display_name": display_name, "org_id": org_id, "roles": chosen}
    try:
        user = create_user(ctx, UserCreate.model_validate(data), password=password or None)
    except (ValidationError, PredeployError) as exc:
        form = _user_form(org_id, email, display_name, chosen)
        return _users_page(request, ctx, form=form, error=_failed(ctx, exc))
    return RedirectResponse(f"/admin/orgs/{user.org_id}?added={user.id}", status_code=303)


# --- API tokens ----------------------------------------------------------------------------------


def _emails(ctx: Context) -> dict[str, str]:
    """Emails of the caller's organisation's users, to name each token's holder."""
    page = list_users(ctx, org_id=ctx.actor.org_id, limit=MAX_LIMIT)
    return {user.id: user.email for user in page.items}


def _tokens_page(
    request: Request,
    ctx: Context,
    *,
    cursor: str | None = None,
    revoked: str | None = None,
    form: dict[str, Any] | None = None,
    error: PredeployError | None = None,
) -> Response:
    tokens = list_tokens(ctx, cursor, PAGE_SIZE)
    scopes = sorted(ctx.actor.scopes)
    return render(
        request,
        "admin/tokens.html.j2",
        ctx,
        status_code=error.status_code if error else 200,
        tokens=tokens,
        emails=_emails(ctx),
        revoked=next((token for token in tokens.items if token.id == revoked), None),
        scopes=scopes,
        form=form
        or {
            "name": "",
            "scopes": [s.value for s in scopes],
            "expires_in_days": str(ctx.settings.token_default_ttl_days),
        },
        error=error,
    )


@router.get("/admin/tokens")
def tokens(
    request: Request, ctx: PageContext, cursor: str | None = None, revoked: str | None = None
) -> Response:
    """The caller's tokens (an org admin: the org's), without their secrets; issue or revoke."""
    _require_admin(ctx)
    return _tokens_page(request, ctx, cursor=cursor, revoked=revoked)


@router.post("/admin/tokens")
def issue_token_form(
    request: Request,
    ctx: PageContext,
    name: Text = "",
    scopes: Choices = None,
    expires_in_days: Text = "",
) -> Response:
    """Issue a token to the caller and show its secret, this once (only its hash is kept)."""
    _require_admin(ctx)
    chosen = scopes or []
    data = {"name": name, "scopes": chosen, "expires_in_days": expires_in_days.strip() or None}
    try:
        issued = issue_token(ctx, TokenCreate.model_validate(data))
    except (ValidationError, PredeployError) as exc:
        form = {"name": name, "scopes": chosen, "expires_in_days": expires_in_days}
        return _tokens_page(request, ctx, form=form, error=_failed(ctx, exc))
    # Rendered, not redirected: the secret must not travel in a URL or be stored to show later.
    return render(request, "admin/token_issued.html.j2", ctx, status_code=201, issued=issued)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token_form(request: Request, ctx: PageContext, token_id: str) -> Response:
    """Revoke a token (the caller's own, or as an org admin any of the org's)."""
    _require_admin(ctx)
    revoke_token(ctx, token_id)
    return RedirectResponse(f"/admin/tokens?revoked={token_id}", status_code=303)
