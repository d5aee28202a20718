"""The outbox: other areas `emit` events here, in their own transaction.

An emitted event is stored once (per `dedupe_key`) and one pending delivery is queued for every
active webhook subscription that should receive it: the event's own organisation's
subscriptions, plus every agency organisation's. `deliver_due` (from
`predeploy.notifications.delivery`, re-exported here) sends them.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ..accounts.actor import Actor
from ..accounts.models import Capacity, OrgCapacity, Role, Scope
from ..audit.service import record
from ..canonical import canonical_json
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..pagination import DEFAULT_LIMIT, Page, page_of, paginate
from ..runtime import Context
from .delivery import DeliveryReport, deliver_due, verify_signature
from .models import (
    AllowedHost,
    DeliveryStatus,
    NotificationEvent,
    WebhookDelivery,
    WebhookSubscription,
)
from .netpolicy import PolicyError, allow_match, normalise_entry, parse_url
from .schemas import (
    KIND_PATTERN,
    AllowedHostCreate,
    AllowedHostOut,
    DeliveryOut,
    EventOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
)

__all__ = [
    "DeliveryReport",
    "allow_host",
    "create_webhook",
    "delete_webhook",
    "deliver_due",
    "disallow_host",
    "emit",
    "get_webhook",
    "kind_matches",
    "list_allowed_hosts",
    "list_deliveries",
    "list_events",
    "list_webhooks",
    "verify_signature",
]


def kind_matches(pattern: str, kind: str) -> bool:
    """Whether a subscription's event filter entry selects `kind`.

    `*` selects every kind, `submission.*` every kind under `submission.`, anything else only
    that exact kind.
    """
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return kind.startswith(pattern[:-1])
    return pattern == kind


def emit(
    ctx: Context,
    kind: str,
    *,
    org_id: str,
    subject_type: str,
    subject_id: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
) -> None:
    """Append an event to the outbox inside the caller's transaction and queue its deliveries.

    Args:
        ctx: the caller's context; the event commits or rolls back with the caller's change.
        kind: dotted event kind, e.g. `submission.accepted`.
        org_id: the organisation the event is about; its subscriptions (and the agency's)
            receive it, and its members may list it.
        subject_type: e.g. `submission`.
        subject_id: the subject's id (a plain string: no foreign key to the subject's table).
        payload: JSON-serialisable details sent to receivers (never secrets).
        dedupe_key: if given, the event is emitted at most once for this key: a second `emit`
            with the same key (in this transaction or any other) does nothing.
    """
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"event kind {kind!r} is not a lowercase dotted name")
    canonical_json(payload)  # refuse now what could never be sent later
    session = ctx.session
    if dedupe_key is not None and session.scalar(
        select(NotificationEvent.id).where(NotificationEvent.dedupe_key == dedupe_key)
    ):
        return
    event = NotificationEvent(
        kind=kind,
        org_id=org_id,
        subject_type=subject_type,
        subject_id=subject_id,
        payload=payload,
        created_at=ctx.now(),
        dedupe_key=dedupe_key,
    )
    try:
        # A concurrent transaction may insert the same dedupe_key after our check; the savepoint
        # lets that lose quietly without aborting the caller's transaction.
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        if dedupe_key is not None and session.scalar(
            select(NotificationEvent.id).where(NotificationEvent.dedupe_key == dedupe_key)
        ):
            return
        raise  # some other constraint, e.g. an unknown org_id

    agency_orgs = select(OrgCapacity.org_id).where(OrgCapacity.capacity == Capacity.AGENCY.value)
    subscriptions = session.scalars(
        select(WebhookSubscription)
        .where(
            WebhookSubscription.active.is_(True),
            or_(
                WebhookSubscription.org_id == org_id,
                WebhookSubscription.org_id.in_(agency_orgs),
            ),
        )
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    queued = 0
    for subscription in subscriptions:
        if any(kind_matches(pattern, kind) for pattern in subscription.event_kinds):
            session.add(
                WebhookDelivery(
                    event_id=event.id,
                    subscription_id=subscription.id,
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=event.created_at,
                    created_at=event.created_at,
                )
            )
            queued += 1
    session.flush()
    record(
        ctx,
        "notification.emit",
        "notification_event",
        event.id,
        {"kind": kind, "subject_type": subject_type, "subject_id": subject_id, "payload": payload},
        org_id=org_id,
        detail={
            "kind": kind,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "deliveries": queued,
        },
    )


def _require_org_admin(actor: Actor, scope: Scope) -> str:
    """The org whose webhooks the caller manages; only that org's admins manage them."""
    if actor.org_id is None or not actor.has_role(Role.ADMIN):
        raise PermissionDenied("only an organisation's admins manage its webhooks")
    actor.require_scope(scope)
    return actor.org_id


def _require_agency_admin(actor: Actor, scope: Scope) -> None:
    if not (actor.is_system or actor.is_agency_admin):
        raise PermissionDenied("only agency admins manage the webhook allowlist")
    actor.require_scope(scope)


def _allowed_entries(ctx: Context) -> list[str]:
    return list(ctx.session.scalars(select(AllowedHost.host)))


def _webhook_out(sub: WebhookSubscription) -> WebhookOut:
    return WebhookOut(
        id=sub.id,
        org_id=sub.org_id,
        url=sub.url,
        events=sub.event_kinds,
        active=sub.active,
        created_at=sub.created_at,
        deactivated_at=sub.deactivated_at,
    )


def create_webhook(ctx: Context, data: WebhookCreate) -> WebhookCreated:
    """Subscribe the caller's organisation to events (its admins only).

    The URL's host must be on the agency's allowlist. The secret (generated unless given) is
    returned here once and stored only encrypted.
    """
    org_id = _require_org_admin(ctx.actor, Scope.ADMIN)
    try:
        target = parse_url(data.url)
    except PolicyError as exc:
        raise InvalidInput(str(exc), field="url") from exc
    if allow_match(_allowed_entries(ctx), target) is None:
        raise InvalidInput(
            f"host {target.host}:{target.port} is not on the webhook allowlist; "
            "ask an agency admin to allow it",
            field="url",
        )
    secret = data.secret or secrets.token_urlsafe(32)
    sub = WebhookSubscription(
        org_id=org_id,
        url=data.url,
        event_kinds=data.events,
        secret_encrypted=ctx.runtime.secrets.encrypt(secret),
        active=True,
        created_by=ctx.actor.user_id,
        created_at=ctx.now(),
    )
    ctx.session.add(sub)
    ctx.session.flush()
    record(
        ctx,
        "webhook.create",
        "webhook_subscription",
        sub.id,
        {"url": sub.url, "events": sub.event_kinds},
        org_id=org_id,
        detail={"host": target.host, "events": sub.event_kinds},
    )
    return WebhookCreated(**_webhook_out(sub).model_dump(), secret=secret)


def _own_webhook(ctx: Context, webhook_id: str, scope: Scope) -> WebhookSubscription:
    org_id = _require_org_admin(ctx.actor, scope)
    sub = ctx.session.get(WebhookSubscription, webhook_id)
    if sub is None or sub.org_id != org_id:
        raise NotFound(f"webhook {webhook_id} not found", field="webhook_id")
    return sub


def list_webhooks(
    ctx: Context, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> Page[WebhookOut]:
    """The caller's organisation's webhooks, newest first (its admins only)."""
    org_id = _require_org_admin(ctx.actor, Scope.READ)
    query = select(WebhookSubscription).where(WebhookSubscription.org_id == org_id)
    rows = list(
        ctx.session.scalars(
            paginate(query, WebhookSubscription.created_at, WebhookSubscription.id, cursor, limit)
        )
    )
    return page_of(rows, limit, _webhook_out)


def get_webhook(ctx: Context, webhook_id: str) -> WebhookOut:
    return _webhook_out(_own_webhook(ctx, webhook_id, Scope.READ))


def delete_webhook(ctx: Context, webhook_id: str) -> WebhookOut:
    """Deactivate a webhook: nothing more is queued for it and pending deliveries fail.

    The row stays (its deliveries refer to it); deleting it again changes nothing.
    """
    sub = _own_webhook(ctx, webhook_id, Scope.ADMIN)
    if not sub.active:
        return _webhook_out(sub)
    sub.active = False
    sub.deactivated_at = ctx.now()
    pending = ctx.session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == sub.id,
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
        )
    ).all()
    for delivery in pending:
        delivery.status = DeliveryStatus.FAILED.value
        delivery.next_attempt_at = None
        delivery.last_error = "webhook deleted before delivery"
    cancelled = len(pending)
    ctx.session.flush()
    record(
        ctx,
        "webhook.delete",
        "webhook_subscription",
        sub.id,
        {"active": False, "cancelled_deliveries": cancelled},
        org_id=sub.org_id,
        detail={"cancelled_deliveries": cancelled},
    )
    return _webhook_out(sub)


def _delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        event_kind=delivery.event.kind,
        subscription_id=delivery.subscription_id,
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


def list_deliveries(
    ctx: Context, webhook_id: str, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> Page[DeliveryOut]:
    """One webhook's deliveries, newest first."""
    sub = _own_webhook(ctx, webhook_id, Scope.READ)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
    rows = list(
        ctx.session.scalars(
            paginate(query, WebhookDelivery.created_at, WebhookDelivery.id, cursor, limit)
        )
    )
    return page_of(rows, limit, _delivery_out)


def _allowed_out(entry: AllowedHost) -> AllowedHostOut:
    return AllowedHostOut(
        id=entry.id, host=entry.host, note=entry.note, created_at=entry.created_at
    )


def allow_host(ctx: Context, data: AllowedHostCreate) -> AllowedHostOut:
    """Add a host to the webhook allowlist (agency admins)."""
    _require_agency_admin(ctx.actor, Scope.ADMIN)
    try:
        host = normalise_entry(data.host)
    except PolicyError as exc:
        raise InvalidInput(str(exc), field="host") from exc
    if ctx.session.scalar(select(AllowedHost.id).where(AllowedHost.host == host)):
        raise Conflict(f"{host} is already allowed", field="host")
    entry = AllowedHost(
        host=host, note=data.note, created_by=ctx.actor.user_id, created_at=ctx.now()
    )
    ctx.session.add(entry)
    ctx.session.flush()
    record(
        ctx,
        "webhook.allow_host",
        "webhook_allowed_host",
        entry.id,
        {"host": host, "note": data.note},
        detail={"host": host},
    )
    return _allowed_out(entry)


def list_allowed_hosts(ctx: Context) -> list[AllowedHostOut]:
    """The whole allowlist, sorted by host (agency admins)."""
    _require_agency_admin(ctx.actor, Scope.READ)
    entries = ctx.session.scalars(select(AllowedHost).order_by(AllowedHost.host))
    return [_allowed_out(entry) for entry in entries]


def disallow_host(ctx: Context, host: str) -> AllowedHostOut:
    """Remove a host from the allowlist; deliveries to it are refused from now on."""
    _require_agency_admin(ctx.actor, Scope.ADMIN)
    try:
        normalised = normalise_entry(host)
    except PolicyError as exc:
        raise InvalidInput(str(exc), field="host") from exc
    entry = ctx.session.scalar(select(AllowedHost).where(AllowedHost.host == normalised))
    if entry is None:
        raise NotFound(f"{normalised} is not on the allowlist", field="host")
    out = _allowed_out(entry)
    ctx.session.delete(entry)
    ctx.session.flush()
    record(
        ctx,
        "webhook.disallow_host",
        "webhook_allowed_host",
        entry.id,
        {"host": normalised},
        detail={"host": normalised},
    )
    return out


def _event_out(event: NotificationEvent) -> EventOut:
    return EventOut(
        id=event.id,
        kind=event.kind,
        org_id=event.org_id,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        payload=event.payload,
        created_at=event.created_at,
    )


def list_events(
    ctx: Context,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    *,
    kind: str | None = None,
) -> Page[EventOut]:
    """Outbox events, newest first: the caller's organisation's, or all of them for agency staff."""
    actor = ctx.actor
    query = select(NotificationEvent)
    if not (actor.is_system or actor.is_agency_staff):
        query = query.where(NotificationEvent.org_id == actor.org_id)
    if kind is not None:
        query = query.where(NotificationEvent.kind == kind)
    rows = list(
        ctx.session.scalars(
            paginate(query, NotificationEvent.created_at, NotificationEvent.id, cursor, limit)
        )
    )
    return page_of(rows, limit, _event_out)
