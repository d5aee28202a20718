"""Who is calling: the authenticated user, the org they act for, their roles and token scopes."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PermissionDenied
from .models import Capacity, Role, Scope


@dataclass(frozen=True)
class Actor:
    """The caller of a service function.

    Built from an API token (or a CLI admin command run on the server). `system` actors are the
    server itself: the scheduler, workers, and server-side admin commands.
    """

    user_id: str | None
    org_id: str | None
    roles: frozenset[Role] = field(default_factory=frozenset)
    capacities: frozenset[Capacity] = field(default_factory=frozenset)
    scopes: frozenset[Scope] = field(default_factory=lambda: frozenset(Scope))
    token_id: str | None = None
    session_id: str | None = None
    """Set when the caller signed in through the web pages (their web session's id)."""
    label: str = ""
    anonymous: bool = False
    """A caller without a token, on the few routes open to the public (published advisories)."""

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        """The server acting on its own behalf (never from an HTTP request)."""
        return cls(user_id=None, org_id=None, label=label)

    @classmethod
    def public(cls) -> Actor:
        """Anyone, without a token: no org, no role, read only."""
        return cls(
            user_id=None,
            org_id=None,
            scopes=frozenset({Scope.READ}),
            label="public",
            anonymous=True,
        )

    @property
    def is_system(self) -> bool:
        return self.user_id is None and not self.anonymous

    def has_role(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def is_agency(self) -> bool:
        return Capacity.AGENCY in self.capacities

    @property
    def is_agency_admin(self) -> bool:
        return self.is_agency and Role.ADMIN in self.roles

    @property
    def is_agency_staff(self) -> bool:
        """Agency admins and evaluators: they see every submission."""
        return self.is_agency and self.has_role(Role.ADMIN, Role.EVALUATOR)

    def in_org(self, org_id: str) -> bool:
        return self.org_id is not None and self.org_id == org_id

    def holds(self, scope: Scope) -> bool:
        """Whether the caller's token carries `scope` (the server itself holds every scope)."""
        return self.is_system or scope in self.scopes

    def require_scope(self, scope: Scope) -> None:
        """Refuse a token that lacks `scope`."""
        if not self.holds(scope):
            raise PermissionDenied(f"this token lacks the '{scope.value}' scope")
