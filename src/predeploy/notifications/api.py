"""HTTP routes for webhooks, their deliveries, the host allowlist, and the event outbox."""

from __future__ import annotations

from fastapi import APIRouter, status

from ..pagination import DEFAULT_LIMIT, Page, PageLimit
from ..web_deps import CurrentContext, call
from . import service
from .schemas import (
    AllowedHostCreate,
    AllowedHostOut,
    DeliveryOut,
    EventOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
)

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.post("/webhooks", status_code=status.HTTP_201_CREATED)
def create_webhook(ctx: CurrentContext, body: WebhookCreate) -> WebhookCreated:
    """Subscribe your organisation to events (org admins). The secret is shown once."""
    return service.create_webhook(ctx, body)


@router.get("/webhooks")
async def list_webhooks(
    ctx: CurrentContext, cursor: str | None = None, limit: PageLimit = DEFAULT_LIMIT
) -> Page[WebhookOut]:
    """Your organisation's webhooks, newest first (org admins)."""
    return await call(service.list_webhooks, ctx, cursor, limit)


# The allowlist routes come before `/webhooks/{webhook_id}` so that "allowlist" is not an id.
@router.post("/webhooks/allowlist", status_code=status.HTTP_201_CREATED)
def allow_host(ctx: CurrentContext, body: AllowedHostCreate) -> AllowedHostOut:
    """Allow webhooks to a host, `host:port` or `*.domain` (agency admins)."""
    return service.allow_host(ctx, body)


@router.get("/webhooks/allowlist")
async def list_allowed_hosts(ctx: CurrentContext) -> list[AllowedHostOut]:
    """The webhook allowlist (agency admins)."""
    return await call(service.list_allowed_hosts, ctx)


@router.delete("/webhooks/allowlist/{host}")
def disallow_host(ctx: CurrentContext, host: str) -> AllowedHostOut:
    """Remove an allowlist entry (agency admins); deliveries to it are refused from now on."""
    return service.disallow_host(ctx, host)


@router.get("/webhooks/{webhook_id}")
async def get_webhook(ctx: CurrentContext, webhook_id: str) -> WebhookOut:
    return await call(service.get_webhook, ctx, webhook_id)


@router.delete("/webhooks/{webhook_id}")
def delete_webhook(ctx: CurrentContext, webhook_id: str) -> WebhookOut:
    """Deactivate a webhook; its pending deliveries are cancelled."""
    return service.delete_webhook(ctx, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries")
async def list_deliveries(
    ctx: CurrentContext,
    webhook_id: str,
    cursor: str | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Page[DeliveryOut]:
    """A webhook's deliveries with their retry state, newest first."""
    return await call(service.list_deliveries, ctx, webhook_id, cursor, limit)


@router.get("/notifications")
async def list_events(
    ctx: CurrentContext,
    kind: str | None = None,
    cursor: str | None = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Page[EventOut]:
    """Events about your organisation, newest first (agency staff: every organisation's)."""
    return await call(service.list_events, ctx, cursor, limit, kind=kind)
