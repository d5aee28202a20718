"""Rules for organisations, users and API tokens, and turning a bearer token into an Actor."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..audit.service import record
from ..clock import Clock
from ..errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from ..pagination import DEFAULT_LIMIT, Page, page_of, paginate
from ..runtime import Context
from .actor import Actor
from .models import (
    ROLES_BY_CAPACITY,
    ApiToken,
    Capacity,
    Membership,
    Organization,
    OrgCapacity,
    Role,
    Scope,
    User,
    WebSession,
)
from .schemas import (
    BootstrapResult,
    OrgCreate,
    OrgOut,
    TokenCreate,
    TokenIssued,
    TokenOut,
    UserCreate,
    UserOut,
)

TOKEN_PREFIX = "pdp"  # noqa: S105 (a public marker, not a secret)
_password_hasher = PasswordHasher()


def _org_out(org: Organization) -> OrgOut:
    return OrgOut(
        id=org.id, name=org.name, capacities=sorted(org.capacities), created_at=org.created_at
    )


def _visible_org(ctx: Context, org_id: str) -> Organization:
    org = ctx.session.get(Organization, org_id)
    actor = ctx.actor
    if org is None or not (actor.is_system or actor.is_agency or actor.in_org(org_id)):
        raise NotFound(f"organisation {org_id} not found", field="org_id")
    return org


def create_org(ctx: Context, data: OrgCreate) -> OrgOut:
    """Create an organisation (agency admins only)."""
    actor = ctx.actor
    if not (actor.is_system or actor.is_agency_admin):
        raise PermissionDenied("only agency admins create organisations")
    actor.require_scope(Scope.ADMIN)
    if ctx.session.scalar(select(Organization.id).where(Organization.name == data.name)):
        raise Conflict(f"an organisation named {data.name!r} already exists", field="name")
    org = Organization(name=data.name, created_at=ctx.now())
    org.capacity_rows = [OrgCapacity(capacity=c.value) for c in sorted(set(data.capacities))]
    ctx.session.add(org)
    ctx.session.flush()
    record(
        ctx,
        "org.create",
        "organization",
        org.id,
        data.model_dump(mode="json"),
        org_id=org.id,
        detail={"name": org.name, "capacities": sorted(c.value for c in org.capacities)},
    )
    return _org_out(org)


def list_orgs(ctx: Context, cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> Page[OrgOut]:
    """Agency users see every organisation; everyone else sees only their own."""
    query = select(Organization)
    if not (ctx.actor.is_system or ctx.actor.is_agency):
        query = query.where(Organization.id == ctx.actor.org_id)
    rows = list(
        ctx.session.scalars(
            paginate(query, Organization.created_at, Organization.id, cursor, limit)
        )
    )
    return page_of(rows, limit, _org_out)


def get_org(ctx: Context, org_id: str) -> OrgOut:
    return _org_out(_visible_org(ctx, org_id))


def _user_out(session: Session, user: User, org_id: str) -> UserOut:
    roles = session.scalars(
        select(Membership.role).where(Membership.user_id == user.id, Membership.org_id == org_id)
    )
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        org_id=org_id,
        roles=sorted(Role(r) for r in roles),
        created_at=user.created_at,
    )


def create_user(ctx: Context, data: UserCreate, *, password: str | None = None) -> UserOut:
    """Create a user in an org: agency admins in any org, an org's admins in their own."""
    actor = ctx.actor
    org = ctx.session.get(Organization, data.org_id)
    if org is None or not (actor.is_system or actor.is_agency or actor.in_org(data.org_id)):
        raise NotFound(f"organisation {data.org_id} not found", field="org_id")
    if not (
        actor.is_system
        or actor.is_agency_admin
        or (actor.in_org(org.id) and actor.has_role(Role.ADMIN))
    ):
        raise PermissionDenied("only agency admins, or this organisation's admins, add users to it")
    actor.require_scope(Scope.ADMIN)
    if password is not None:
        _check_password(password)
    allowed = frozenset().union(*(ROLES_BY_CAPACITY[c] for c in org.capacities))
    refused = sorted(set(data.roles) - allowed)
    if refused:
        raise InvalidInput(
            f"role(s) {', '.join(refused)} not available in an organisation with capacities "
            f"{', '.join(sorted(org.capacities))}; allowed: {', '.join(sorted(allowed))}",
            field="roles",
        )
    if ctx.session.scalar(select(User.id).where(User.email == data.email)):
        raise Conflict(f"a user with email {data.email} already exists", field="email")
    now = ctx.now()
    user = User(
        email=data.email,
        display_name=data.display_name,
        created_at=now,
        password_hash=_password_hasher.hash(password) if password else None,
    )
    ctx.session.add(user)
    ctx.session.flush()
    for role in sorted(set(data.roles)):
        ctx.session.add(Membership(user_id=user.id, org_id=org.id, role=role.value, created_at=now))
    ctx.session.flush()
    record(
        ctx,
        "user.create",
        "user",
        user.id,
        data.model_dump(mode="json"),
        org_id=org.id,
        detail={"roles": sorted(r.value for r in data.roles)},
    )
    return _user_out(ctx.session, user, org.id)


def list_users(
    ctx: Context, org_id: str | None = None, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> Page[UserOut]:
    """Users with their roles, newest first: an agency admin sees every organisation's (or
    `org_id`'s), an organisation's admin only their own organisation's."""
    actor = ctx.actor
    if org_id is not None:
        _visible_org(ctx, org_id)
    if not (actor.is_system or actor.is_agency_admin):
        if not actor.has_role(Role.ADMIN):
            raise PermissionDenied("only admins list users")
        org_id = actor.org_id
    actor.require_scope(Scope.ADMIN)
    query = select(User)
    if org_id is not None:
        query = query.where(
            select(Membership.id)
            .where(Membership.user_id == User.id, Membership.org_id == org_id)
            .exists()
        )
    users = list(ctx.session.scalars(paginate(query, User.created_at, User.id, cursor, limit)))
    memberships = ctx.session.execute(
        select(Membership.user_id, Membership.org_id, Membership.role)
        .where(Membership.user_id.in_([u.id for u in users[:limit]]))
        .order_by(Membership.created_at, Membership.org_id)
    ).all()

    def out(user: User) -> UserOut:
        mine = [m for m in memberships if m.user_id == user.id]
        # A user acts for the organisation of their first membership (as at sign-in).
        shown_org = org_id or (mine[0].org_id if mine else "")
        return UserOut(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            org_id=shown_org,
            roles=sorted(Role(m.role) for m in mine if m.org_id == shown_org),
            created_at=user.created_at,
        )

    return page_of(users, limit, out)


def set_password(ctx: Context, email: str, password: str) -> None:
    """Set a user's password (server-side admin command; the password never enters the log)."""
    _check_password(password)
    user = ctx.session.scalar(select(User).where(User.email == email.lower()))
    if user is None:
        raise NotFound(f"no user with email {email}", field="email")
    user.password_hash = _password_hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    # Whoever was signed in with the old password is signed out.
    ctx.session.execute(
        update(WebSession)
        .where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
        .values(ended_at=ctx.now())
    )
    record(ctx, "user.set_password", "user", user.id, {"user_id": user.id}, org_id=None)


def _check_password(password: str) -> None:
    if len(password) < 12:
        raise InvalidInput("password must be at least 12 characters", field="password")


def _user_membership(session: Session, user_id: str) -> tuple[str, frozenset[Role]]:
    rows = session.execute(
        select(Membership.org_id, Membership.role).where(Membership.user_id == user_id)
    ).all()
    if not rows:
        raise NotFound(f"user {user_id} has no organisation")
    org_id = rows[0].org_id
    return org_id, frozenset(Role(r.role) for r in rows if r.org_id == org_id)


def allowed_scopes(roles: frozenset[Role]) -> frozenset[Scope]:
    """Read for everyone; write unless viewer only; admin for admins."""
    scopes = {Scope.READ}
    if roles - {Role.VIEWER}:
        scopes.add(Scope.WRITE)
    if Role.ADMIN in roles:
        scopes.add(Scope.ADMIN)
    return frozenset(scopes)


def _hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is not open to guessing.
    return hashlib.sha256(raw.encode()).hexdigest()


def _token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        user_id=token.user_id,
        org_id=token.org_id,
        scopes=sorted(Scope(s) for s in token.scopes),
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
    )


def issue_token(ctx: Context, data: TokenCreate) -> TokenIssued:
    """Issue a token for yourself, or (org admins) for another user of your org."""
    actor = ctx.actor
    # A read-only token must not mint tokens: that would let a leaked one outlive its revocation.
    actor.require_scope(Scope.WRITE)
    user_id = data.user_id or actor.user_id
    if user_id is None:
        raise InvalidInput("user_id is required when the server issues a token", field="user_id")
    if user_id != actor.user_id and not actor.is_system:
        target = ctx.session.get(User, user_id)
        same_org = target is not None and _user_membership(ctx.session, user_id)[0] == actor.org_id
        if not same_org:
            raise NotFound(f"user {user_id} not found", field="user_id")
        if not actor.has_role(Role.ADMIN):
            raise PermissionDenied("only org admins issue tokens for other users")
        actor.require_scope(Scope.ADMIN)
    user = ctx.session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound(f"user {user_id} not found", field="user_id")
    org_id, roles = _user_membership(ctx.session, user_id)
    permitted = allowed_scopes(roles)
    if not actor.is_system and user_id == actor.user_id:
        permitted &= actor.scopes  # a token cannot mint a stronger token than itself
    scopes = frozenset(data.scopes) if data.scopes is not None else permitted
    if not scopes or not scopes <= permitted:
        raise InvalidInput(
            f"scopes must be a non-empty subset of {', '.join(sorted(permitted))}", field="scopes"
        )
    now = ctx.now()
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    days = data.expires_in_days or ctx.settings.token_default_ttl_days
    token = ApiToken(
        user_id=user_id,
        org_id=org_id,
        name=data.name,
        prefix=prefix,
        token_hash=_hash_token(raw),
        scopes=sorted(s.value for s in scopes),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    ctx.session.add(token)
    ctx.session.flush()
    record(
        ctx,
        "token.issue",
        "api_token",
        token.id,
        {"prefix": prefix, "scopes": token.scopes, "user_id": user_id},
        org_id=org_id,
        detail={"prefix": prefix, "scopes": token.scopes},
    )
    return TokenIssued(**_token_out(token).model_dump(), token=raw)


def revoke_token(ctx: Context, token_id: str) -> TokenOut:
    """Revoke a token: your own, or any of your org's as its admin."""
    actor = ctx.actor
    token = ctx.session.get(ApiToken, token_id)
    own = token is not None and token.user_id == actor.user_id
    org_admin = token is not None and actor.in_org(token.org_id) and actor.has_role(Role.ADMIN)
    if token is None or not (actor.is_system or own or org_admin):
        raise NotFound(f"token {token_id} not found")
    if not own:
        actor.require_scope(Scope.ADMIN)
    if token.revoked_at is None:
        token.revoked_at = ctx.now()
        record(
            ctx,
            "token.revoke",
            "api_token",
            token.id,
            {"token_id": token.id},
            org_id=token.org_id,
            detail={"prefix": token.prefix},
        )
    return _token_out(token)


def list_tokens(
    ctx: Context, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> Page[TokenOut]:
    """Your tokens, newest first; an org admin (with the admin scope) sees every token of the org."""
    actor = ctx.actor
    query = select(ApiToken)
    if actor.has_role(Role.ADMIN) and actor.holds(Scope.ADMIN):
        query = query.where(ApiToken.org_id == actor.org_id)
    else:
        query = query.where(ApiToken.user_id == actor.user_id)
    paged = paginate(query, ApiToken.created_at, ApiToken.id, cursor, limit)
    return page_of(list(ctx.session.scalars(paged)), limit, _token_out)


def authenticate(session: Session, clock: Clock, raw_token: str) -> Actor:
    """Resolve a bearer token to an Actor, or raise NotAuthenticated (never says which check failed).

    Runs on every request, so it is one query over plain rows: the token, its user, and one row
    per (role, capacity) pair of the user's membership in the token's organisation.
    """
    parts = raw_token.split("_", 2)
    failure = NotAuthenticated("invalid, expired or revoked token")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise failure
    rows = session.execute(
        select(
            ApiToken.id,
            ApiToken.user_id,
            ApiToken.org_id,
            ApiToken.token_hash,
            ApiToken.scopes,
            ApiToken.expires_at,
            ApiToken.revoked_at,
            User.email,
            User.is_active,
            Membership.role,
            OrgCapacity.capacity,
        )
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(
            Membership,
            (Membership.user_id == ApiToken.user_id) & (Membership.org_id == ApiToken.org_id),
        )
        .outerjoin(OrgCapacity, OrgCapacity.org_id == ApiToken.org_id)
        .where(ApiToken.prefix == parts[1])
    ).all()
    if not rows:
        raise failure
    token = rows[0]
    if not hmac.compare_digest(token.token_hash, _hash_token(raw_token)):
        raise failure
    if token.revoked_at is not None or token.expires_at <= clock.now() or not token.is_active:
        raise failure
    roles = frozenset(Role(row.role) for row in rows if row.role is not None)
    capacities = frozenset(Capacity(row.capacity) for row in rows if row.capacity is not None)
    if not capacities:
        raise failure
    return Actor(
        user_id=token.user_id,
        org_id=token.org_id,
        roles=roles,
        capacities=capacities,
        scopes=frozenset(Scope(s) for s in token.scopes) & allowed_scopes(roles),
        token_id=token.id,
        label=token.email,
    )


def bootstrap(
    ctx: Context, org_name: str, email: str, password: str | None = None
) -> BootstrapResult:
    """Create the first agency org, its admin user and an admin token (once per installation)."""
    if not ctx.actor.is_system:
        raise PermissionDenied("bootstrap runs only on the server")
    existing = ctx.session.scalar(
        select(OrgCapacity.org_id).where(OrgCapacity.capacity == Capacity.AGENCY.value)
    )
    if existing:
        raise Conflict("already bootstrapped: an agency organisation exists")
    if password is not None:
        _check_password(password)
    org = create_org(ctx, OrgCreate(name=org_name, capacities=[Capacity.AGENCY]))
    user = create_user(
        ctx, UserCreate(email=email, org_id=org.id, roles=[Role.ADMIN]), password=password
    )
    token = issue_token(ctx, TokenCreate(name="bootstrap", user_id=user.id))
    return BootstrapResult(token=token.token, org_id=org.id, user_id=user.id)
