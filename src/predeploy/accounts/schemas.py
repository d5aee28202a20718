"""Input and output records for organisations, users and tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .models import Capacity, Role, Scope


class Strict(BaseModel):
    """Input records reject unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrgCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    capacities: list[Capacity] = Field(min_length=1)


class OrgOut(BaseModel):
    id: str
    name: str
    capacities: list[Capacity]
    created_at: datetime


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    org_id: str
    roles: list[Role] = Field(min_length=1)
    display_name: str = Field(default="", max_length=200)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UserOut(BaseModel):
    id: str
    email: str
    display_name: str
    org_id: str
    roles: list[Role]
    created_at: datetime


class TokenCreate(Strict):
    name: str = Field(default="", max_length=200)
    scopes: list[Scope] | None = Field(
        default=None, description="Default: every scope the user's roles allow."
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=366)
    user_id: str | None = Field(
        default=None, description="Issue for another user of your org (org admins only)."
    )


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    user_id: str
    org_id: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenIssued(TokenOut):
    token: str = Field(description="The secret. Shown once; only its hash is stored.")


class BootstrapResult(BaseModel):
    token: str
    org_id: str
    user_id: str
