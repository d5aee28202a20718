"""Web sign-in: passwords checked with argon2, browsers kept signed in by a session cookie.

The cookie holds 256 random bits; the database keeps only their SHA-256, so a copy of the
database signs nobody in. A form's CSRF token is derived from the cookie (an HMAC of it), so it
needs no storage and changes with every session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from ..audit.service import record
from ..clock import Clock
from ..config import Settings
from ..errors import NotAuthenticated, RateLimited
from ..runtime import Context
from .actor import Actor
from .models import Capacity, Membership, OrgCapacity, Role, User, WebSession
from .service import allowed_scopes

_hasher = PasswordHasher()
# Checked against when the email is unknown, so that an unknown address takes as long to
# refuse as a wrong password (no user enumeration by timing).
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_hex(16))
_SEEN_EVERY = timedelta(seconds=60)
"""How stale `last_seen_at` may get before a request writes it again."""

_failure = "wrong email or password"


@dataclass(frozen=True)
class SignedIn:
    """A new web session: the cookie value (shown to the browser only) and its end."""

    cookie: str
    expires_at: datetime
    actor: Actor


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def csrf_token(cookie: str) -> str:
    """The CSRF token of the session whose cookie is `cookie`."""
    return hmac.new(cookie.encode(), b"predeploy csrf", hashlib.sha256).hexdigest()


def csrf_valid(cookie: str, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(csrf_token(cookie), submitted)


def sign_in(ctx: Context, email: str, password: str) -> SignedIn:
    """Check a password and open a web session, or raise NotAuthenticated (never saying which
    of the email and the password was wrong) or RateLimited (the account is locked)."""
    settings = ctx.settings
    now = ctx.now()
    user = ctx.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or user.password_hash is None:
        _verify(_UNKNOWN_USER_HASH, password)
        raise NotAuthenticated(_failure)
    if user.locked_until is not None and user.locked_until > now:
        seconds = int((user.locked_until - now).total_seconds()) + 1
        raise RateLimited(
            "too many failed sign-ins: this account is locked; try again later",
            retry_after_seconds=seconds,
        )
    if not _verify(user.password_hash, password) or not user.is_active:
        user.failed_logins += 1
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
            record(ctx, "user.locked", "user", user.id, {"user_id": user.id}, org_id=None)
        # The failure count must persist although the caller's transaction is about to fail.
        ctx.session.commit()
        raise NotAuthenticated(_failure)
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    org_id, roles, capacities = _membership(ctx.session, user.id)
    cookie = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=settings.session_max_hours)
    web_session = WebSession(
        token_hash=_hash(cookie),
        user_id=user.id,
        org_id=org_id,
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
    )
    ctx.session.add(web_session)
    ctx.session.flush()
    actor = _actor(user, org_id, roles, capacities, web_session.id)
    record(
        replace(ctx, actor=actor),
        "user.sign_in",
        "web_session",
        web_session.id,
        {"user_id": user.id},
        org_id=org_id,
    )
    return SignedIn(cookie=cookie, expires_at=expires_at, actor=actor)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _membership(session: Session, user_id: str) -> tuple[str, frozenset[Role], frozenset[Capacity]]:
    rows = session.execute(
        select(Membership.org_id, Membership.role, OrgCapacity.capacity)
        .join(OrgCapacity, OrgCapacity.org_id == Membership.org_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Membership.org_id)
    ).all()
    if not rows:
        raise NotAuthenticated(_failure)
    org_id = rows[0].org_id
    mine = [row for row in rows if row.org_id == org_id]
    return (
        org_id,
        frozenset(Role(row.role) for row in mine),
        frozenset(Capacity(row.capacity) for row in mine),
    )


def _actor(
    user: User,
    org_id: str,
    roles: frozenset[Role],
    capacities: frozenset[Capacity],
    session_id: str,
) -> Actor:
    return Actor(
        user_id=user.id,
        org_id=org_id,
        roles=roles,
        capacities=capacities,
        scopes=allowed_scopes(roles),
        label=user.email,
        session_id=session_id,
    )


def session_actor(
    session: Session, clock: Clock, settings: Settings, cookie: str
) -> tuple[Actor, bool]:
    """The signed-in user of a session cookie, and whether the session's last-seen time is
    stale enough to write again (`touch`); NotAuthenticated when the session is unknown, ended,
    idle too long or past its end, or its user is disabled."""
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _hash(cookie)))
    now = clock.now()
    if row is None or not _alive(row, now, settings):
        raise NotAuthenticated("your session has ended: sign in again")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("your session has ended: sign in again")
    roles = frozenset(
        Role(r)
        for r in session.scalars(
            select(Membership.role).where(
                Membership.user_id == row.user_id, Membership.org_id == row.org_id
            )
        )
    )
    capacities = frozenset(
        Capacity(c)
        for c in session.scalars(
            select(OrgCapacity.capacity).where(OrgCapacity.org_id == row.org_id)
        )
    )
    stale = now - row.last_seen_at >= _SEEN_EVERY
    return _actor(user, row.org_id, roles, capacities, row.id), stale


def _alive(row: WebSession, now: datetime, settings: Settings) -> bool:
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    return row.ended_at is None and row.expires_at > now and now - row.last_seen_at < idle_limit


def still_signed_in(session: Session, clock: Clock, settings: Settings, session_id: str) -> bool:
    """Whether a web session is still valid (for event streams that outlive their request)."""
    row = session.get(WebSession, session_id)
    if row is None or not _alive(row, clock.now(), settings):
        return False
    user = session.get(User, row.user_id)
    return user is not None and user.is_active


def touch(session: Session, clock: Clock, session_id: str) -> None:
    """Note that a session is in use, at most once a minute (it keeps it from going idle)."""
    now = clock.now()
    session.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.last_seen_at < now - _SEEN_EVERY)
        .values(last_seen_at=now)
    )


def sign_out(ctx: Context) -> None:
    """End the caller's web session."""
    session_id = ctx.actor.session_id
    if session_id is None:
        return
    row = ctx.session.get(WebSession, session_id)
    if row is None or row.ended_at is not None:
        return
    row.ended_at = ctx.now()
    record(ctx, "user.sign_out", "web_session", row.id, {"user_id": row.user_id}, org_id=row.org_id)


def purge_sessions(ctx: Context) -> int:
    """Delete sessions that ended (or could no longer be used) a day ago or more; returns how
    many. The audit log keeps who signed in and out."""
    cutoff = ctx.now() - timedelta(days=1)
    idle = timedelta(minutes=ctx.settings.session_idle_minutes)
    result = ctx.session.execute(
        delete(WebSession).where(
            or_(
                WebSession.ended_at < cutoff,
                WebSession.expires_at < cutoff,
                WebSession.last_seen_at < cutoff - idle,
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
