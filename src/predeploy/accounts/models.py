"""Tables: organisations and their capacities, users, memberships with roles, API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import ID, Base, new_id


class Capacity(enum.StrEnum):
    """What an organisation is to predeploy; one org may hold several."""

    AGENCY = "agency"
    DEVELOPER = "developer"
    VENDOR = "vendor"
    PARTICIPANT = "participant"


class Role(enum.StrEnum):
    """A user's role inside one organisation."""

    ADMIN = "admin"
    EVALUATOR = "evaluator"
    ANALYST = "analyst"
    SUBMITTER = "submitter"
    MEMBER = "member"
    VIEWER = "viewer"


class Scope(enum.StrEnum):
    """What an API token may be used for, on top of its user's roles."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ROLES_BY_CAPACITY: dict[Capacity, frozenset[Role]] = {
    Capacity.AGENCY: frozenset({Role.ADMIN, Role.EVALUATOR, Role.ANALYST, Role.VIEWER}),
    Capacity.DEVELOPER: frozenset({Role.ADMIN, Role.SUBMITTER, Role.VIEWER}),
    Capacity.VENDOR: frozenset({Role.ADMIN, Role.MEMBER, Role.VIEWER}),
    Capacity.PARTICIPANT: frozenset({Role.ADMIN, Role.MEMBER, Role.VIEWER}),
}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]

    capacity_rows: Mapped[list[OrgCapacity]] = relationship(
        back_populates="org", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def capacities(self) -> frozenset[Capacity]:
        return frozenset(Capacity(row.capacity) for row in self.capacity_rows)


class OrgCapacity(Base):
    __tablename__ = "org_capacities"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    capacity: Mapped[str] = mapped_column(String(20), primary_key=True)

    org: Mapped[Organization] = relationship(back_populates="capacity_rows")


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    """Failed sign-ins since the last successful one."""
    locked_until: Mapped[datetime | None] = mapped_column(default=None)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "org_id", "role"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored; the prefix finds the row without a scan."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(Base):
    """A signed-in browser. Only the SHA-256 of its cookie is stored, as for API tokens."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    """The absolute end (`session_max_hours` after sign-in); idleness ends it sooner."""
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
