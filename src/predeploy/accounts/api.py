"""HTTP routes for organisations, users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, status

from ..pagination import DEFAULT_LIMIT, Page, PageLimit
from ..web_deps import CurrentContext, call
from . import service
from .schemas import OrgCreate, OrgOut, TokenCreate, TokenIssued, TokenOut, UserCreate, UserOut

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/orgs", status_code=status.HTTP_201_CREATED)
def create_org(ctx: CurrentContext, body: OrgCreate) -> OrgOut:
    """Create an organisation (agency admins)."""
    return service.create_org(ctx, body)


@router.get("/orgs")
async def list_orgs(
    ctx: CurrentContext, cursor: str | None = None, limit: PageLimit = DEFAULT_LIMIT
) -> Page[OrgOut]:
    """Organisations the caller may see: all for the agency, otherwise only the caller's own."""
    return await call(service.list_orgs, ctx, cursor, limit)


@router.get("/orgs/{org_id}")
async def get_org(ctx: CurrentContext, org_id: str) -> OrgOut:
    return await call(service.get_org, ctx, org_id)


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(ctx: CurrentContext, body: UserCreate) -> UserOut:
    """Add a user to an organisation (agency admins, or that organisation's admins)."""
    return service.create_user(ctx, body)


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def issue_token(ctx: CurrentContext, body: TokenCreate) -> TokenIssued:
    """Issue an API token. The secret is in the response once and never again."""
    return service.issue_token(ctx, body)


@router.get("/tokens")
async def list_tokens(
    ctx: CurrentContext, cursor: str | None = None, limit: PageLimit = DEFAULT_LIMIT
) -> Page[TokenOut]:
    """Your tokens (an org admin: every token of the org), without their secrets."""
    return await call(service.list_tokens, ctx, cursor, limit)


@router.delete("/tokens/{token_id}")
def revoke_token(ctx: CurrentContext, token_id: str) -> TokenOut:
    """Revoke a token (your own, or any of your organisation's as its admin)."""
    return service.revoke_token(ctx, token_id)
