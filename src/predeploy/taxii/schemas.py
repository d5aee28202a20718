"""TAXII 2.1's resources as this server writes them, and the STIX `vulnerability` it takes in.

Timestamps are written as TAXII's text (`2026-11-30T12:00:00.000000Z`), never left to a JSON
encoder; optional properties without a value are left out, as TAXII and STIX ask.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

STIX_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"


def taxii_time(when: datetime) -> str:
    """A timestamp as TAXII writes `date_added`: UTC, to the microsecond."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DiscoveryOut(BaseModel):
    title: str
    description: str
    default: str
    api_roots: list[str]


class ApiRootOut(BaseModel):
    title: str
    description: str
    versions: list[str]
    max_content_length: int


class CollectionOut(BaseModel):
    id: str
    title: str
    description: str
    alias: str
    can_read: bool
    can_write: bool
    media_types: list[str]


class CollectionsOut(BaseModel):
    collections: list[CollectionOut]


class StatusDetail(BaseModel):
    id: str
    version: str
    message: str


class StatusOut(BaseModel):
    """What became of the objects of one add request; every object is processed before the
    answer, so a status is always `complete`."""

    id: str
    status: Literal["complete"] = "complete"
    request_timestamp: str
    total_count: int
    success_count: int
    successes: list[StatusDetail] | None
    failure_count: int
    failures: list[StatusDetail] | None
    pending_count: int = 0


class ExternalReferenceIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    source_name: str = Field(min_length=1, max_length=300)
    external_id: str | None = Field(default=None, max_length=300)


class StixVulnerabilityIn(BaseModel):
    """A STIX 2.1 `vulnerability` posted to the `reports` inbox. STIX properties that a
    vulnerability report has no place for are accepted and left aside."""

    model_config = ConfigDict(extra="allow")

    type: Literal["vulnerability"]
    spec_version: Literal["2.1"]
    id: str = Field(pattern=f"^vulnerability--{_UUID}$")
    created: str = Field(pattern=STIX_TIMESTAMP)
    modified: str = Field(pattern=STIX_TIMESTAMP)
    name: str
    description: str | None = None
    external_references: list[ExternalReferenceIn] = Field(default_factory=list, max_length=500)
    object_marking_refs: list[str] = Field(default_factory=list, max_length=50)
    x_predeploy_report: dict[str, Any] = Field(
        default_factory=dict,
        description="The report's fields STIX has no property for, as the API takes them.",
    )

    @model_validator(mode="after")
    def _versions(self) -> Self:
        if datetime.fromisoformat(self.modified) < datetime.fromisoformat(self.created):
            raise ValueError("modified is earlier than created")
        return self
