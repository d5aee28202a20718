"""Sending queued webhook deliveries: signed, to allowed addresses only, retried with backoff.

Each delivery is one `POST` of the event as canonical JSON
(`{"id", "kind", "created_at", "org_id", "subject": {"type", "id"}, "payload"}`) with headers:

- `X-Predeploy-Event`: the event kind, e.g. `submission.accepted`;
- `X-Predeploy-Delivery`: the delivery id, the same on every retry (delivery is at least once,
  so receivers should ignore an id they have already processed);
- `X-Predeploy-Timestamp`: Unix seconds when this attempt was signed;
- `X-Predeploy-Signature`: `sha256=` + hex HMAC-SHA256, keyed with the webhook's secret, of
  `f"{timestamp}.{body}"`.

A receiver checks a request with `verify_signature` on the raw body bytes, before parsing them:

    from predeploy.notifications.delivery import verify_signature

    def receive(headers, raw_body: bytes) -> int:
        if not verify_signature(
            WEBHOOK_SECRET,
            headers["X-Predeploy-Timestamp"],
            raw_body,
            headers["X-Predeploy-Signature"],
        ):
            return 401
        # Refuse timestamps more than a few minutes old as replays, then process
        # json.loads(raw_body) once per X-Predeploy-Delivery id.
        return 204

A 2xx answer marks the delivery delivered. Anything else (another status, a redirect, which is
never followed, a network error, a timeout, or a refusal by the address policy in
`predeploy.notifications.netpolicy`) schedules a retry `webhook_backoff_seconds * 2**(n - 1)`
after the n-th attempt, until `webhook_max_attempts` attempts have failed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from .. import __version__
from ..audit.service import record
from ..canonical import canonical_json
from ..runtime import Context
from .models import AllowedHost, DeliveryStatus, WebhookDelivery, WebhookSubscription
from .netpolicy import (
    PolicyError,
    Resolver,
    allow_match,
    parse_url,
    resolve_checked,
    system_resolver,
)

SIGNATURE_PREFIX = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Predeploy-Signature` value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes | str, header: str) -> bool:
    """True when `header` is the signature of `body` at `timestamp` under `secret`.

    Compares in constant time. It does not judge the timestamp's age: refuse stale ones yourself.
    """
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, timestamp, raw), header.strip())


@dataclass(frozen=True)
class DeliveryReport:
    """What one `deliver_due` run did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Job:
    """Everything one attempt needs, read before the claim commits so sending touches no DB."""

    delivery_id: str
    attempt: int
    kind: str
    org_id: str
    url: str
    secret: str | None
    body: bytes
    allowed: list[str]


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(ctx: Context, attempt: int) -> timedelta:
    """How long to wait after the `attempt`-th failed attempt (1-based)."""
    return timedelta(seconds=ctx.settings.webhook_backoff_seconds * 2 ** (attempt - 1))


def event_body(delivery: WebhookDelivery) -> bytes:
    """The request body for a delivery: the same bytes on every attempt."""
    event = delivery.event
    return canonical_json(
        {
            "id": event.id,
            "kind": event.kind,
            "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
            "org_id": event.org_id,
            "subject": {"type": event.subject_type, "id": event.subject_id},
            "payload": event.payload,
        }
    )


def _give_up(ctx: Context, delivery: WebhookDelivery, org_id: str, error: str) -> None:
    """Fail a delivery without sending it."""
    delivery.status = DeliveryStatus.FAILED.value
    delivery.next_attempt_at = None
    delivery.last_error = error
    ctx.session.flush()
    record(
        ctx,
        "webhook.delivery.failed",
        "webhook_delivery",
        delivery.id,
        {"status": delivery.status, "attempts": delivery.attempts, "error": error},
        org_id=org_id,
        detail={"attempts": delivery.attempts, "error": error},
    )


def _claim(ctx: Context, delivery_id: str) -> _Job | DeliveryStatus | None:
    """Take one due delivery for this worker.

    Returns the job to send; FAILED if the delivery was given up without sending; None if it is
    no longer due (another worker took or settled it).

    The claim counts the attempt and moves `next_attempt_at` past the time the attempt can take,
    so a concurrent worker skips it and a crashed worker's attempt is retried later.
    """
    now = ctx.now()
    delivery = ctx.session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.next_attempt_at <= now,
        )
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    if delivery is None:
        return None
    sub = ctx.session.get_one(WebhookSubscription, delivery.subscription_id)
    if not sub.active:
        _give_up(ctx, delivery, sub.org_id, "webhook deleted before delivery")
        return DeliveryStatus.FAILED
    if delivery.attempts >= ctx.settings.webhook_max_attempts:
        _give_up(ctx, delivery, sub.org_id, "the last attempt was interrupted")
        return DeliveryStatus.FAILED
    delivery.attempts += 1
    lease = timedelta(seconds=4 * ctx.settings.webhook_timeout_seconds)
    delivery.next_attempt_at = now + max(backoff(ctx, delivery.attempts), lease)
    try:
        secret: str | None = ctx.runtime.secrets.decrypt(sub.secret_encrypted)
    except ValueError:
        secret = None
    ctx.session.flush()
    return _Job(
        delivery_id=delivery.id,
        attempt=delivery.attempts,
        kind=delivery.event.kind,
        org_id=sub.org_id,
        url=sub.url,
        secret=secret,
        body=event_body(delivery),
        allowed=list(ctx.session.scalars(select(AllowedHost.host))),
    )


def _attempt(client: httpx.Client, job: _Job, now: datetime, resolver: Resolver) -> _Outcome:
    """Check the destination against the policy, then send once (no redirects, no proxies)."""
    try:
        target = parse_url(job.url)
        exact = allow_match(job.allowed, target)
        if exact is None:
            raise PolicyError(f"host {target.host}:{target.port} is not on the allowlist")
        address = resolve_checked(target, exact=exact, resolver=resolver)
    except PolicyError as exc:
        return _Outcome(None, f"refused: {exc}")
    if job.secret is None:
        return _Outcome(None, "the webhook secret cannot be decrypted with this server's key")
    timestamp = str(int(now.timestamp()))
    url = httpx.URL(job.url)
    headers = {
        "Host": url.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": f"predeploy-webhooks/{__version__}",
        "X-Predeploy-Event": job.kind,
        "X-Predeploy-Delivery": job.delivery_id,
        "X-Predeploy-Timestamp": timestamp,
        "X-Predeploy-Signature": sign(job.secret, timestamp, job.body),
    }
    # Connect to the address that passed the checks, not to whatever the name resolves to next;
    # TLS still verifies the certificate against the host name.
    extensions: dict[str, Any] = {}
    if target.scheme == "https" and target.ip is None:
        extensions["sni_hostname"] = target.host
    try:
        request = client.build_request(
            "POST",
            url.copy_with(host=address.compressed),
            content=job.body,
            headers=headers,
            extensions=extensions,
        )
        response = client.send(request, stream=True)
        response.close()  # the answer's body is never read: only its status matters
    except httpx.TimeoutException:
        return _Outcome(None, "timed out")
    except httpx.HTTPError as exc:
        return _Outcome(None, f"network error ({type(exc).__name__})")
    if 200 <= response.status_code < 300:
        return _Outcome(response.status_code, None)
    return _Outcome(response.status_code, f"HTTP {response.status_code}")


def _settle(ctx: Context, job: _Job, outcome: _Outcome) -> DeliveryStatus | None:
    """Store the attempt's outcome; None if another worker took the delivery meanwhile."""
    delivery = ctx.session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == job.delivery_id)
        .with_for_update(of=WebhookDelivery)
    )
    if (
        delivery is None
        or delivery.status != DeliveryStatus.PENDING.value
        or delivery.attempts != job.attempt
    ):
        return None
    now = ctx.now()
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error[:500] if outcome.error else None
    if outcome.delivered:
        status = DeliveryStatus.DELIVERED
        delivery.status = status.value
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        action = "webhook.delivery.delivered"
    elif job.attempt >= ctx.settings.webhook_max_attempts:
        status = DeliveryStatus.FAILED
        delivery.status = status.value
        delivery.next_attempt_at = None
        action = "webhook.delivery.failed"
    else:
        status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + backoff(ctx, job.attempt)
        action = "webhook.delivery.retry"
    ctx.session.flush()
    detail = {
        "event_kind": job.kind,
        "attempt": job.attempt,
        "status_code": outcome.status_code,
        "error": delivery.last_error,
    }
    record(ctx, action, "webhook_delivery", delivery.id, detail, org_id=job.org_id, detail=detail)
    return status


def deliver_due(
    ctx: Context,
    transport: httpx.BaseTransport | None = None,
    *,
    resolver: Resolver | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Send every delivery that is due (at most `limit`), oldest first.

    Unlike other services this commits as it goes, through `ctx.session`: each claim and each
    outcome is its own transaction, so no database transaction (nor SQLite's write lock) is held
    while a request is in flight. Give it a context of its own, as the worker and CLI do.

    Args:
        ctx: a context used only for this run; its clock decides which deliveries are due.
        transport: the httpx transport to send with (default: real network).
        resolver: turns host names into addresses (default: the operating system's resolver).
        limit: most deliveries to attempt in this run.
    """
    now = ctx.now()
    due = list(
        ctx.session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
    )
    ctx.session.commit()
    counts: Counter[DeliveryStatus] = Counter()
    with httpx.Client(
        transport=transport,
        timeout=ctx.settings.webhook_timeout_seconds,
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would bypass the address checks
        # No connection reuse: two allowed names on one address must not share a TLS session
        # that was verified for the other name.
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        for delivery_id in due:
            claimed = _claim(ctx, delivery_id)
            ctx.session.commit()
            if isinstance(claimed, _Job):
                outcome = _attempt(client, claimed, ctx.now(), resolver or system_resolver)
                status = _settle(ctx, claimed, outcome)
                ctx.session.commit()
            else:
                status = claimed
            if status is not None:
                counts[status] += 1
    return DeliveryReport(
        delivered=counts[DeliveryStatus.DELIVERED],
        retrying=counts[DeliveryStatus.PENDING],
        failed=counts[DeliveryStatus.FAILED],
    )
