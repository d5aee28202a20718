"""Organisations, users, memberships with roles, API tokens and permission checks."""

from .actor import Actor
from .models import ROLES_BY_CAPACITY, Capacity, Role, Scope

__all__ = ["ROLES_BY_CAPACITY", "Actor", "Capacity", "Role", "Scope"]
