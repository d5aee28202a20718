"""Response shapes of defender checks."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ComponentOut(BaseModel):
    ref: str = Field(description="Where it is in the inventory (bom-ref, SPDX id, `line N`).")
    ecosystem: str
    name: str
    version: str
    purl: str | None


class SeverityOut(BaseModel):
    vector: str
    base_score: float
    rating: str


class FindingOut(BaseModel):
    """A component that an advisory you may see affects (or might: `undetermined`)."""

    component: ComponentOut
    advisory: str = Field(description="The advisory's id.")
    aliases: list[str]
    summary: str | None
    severity: SeverityOut | None = Field(description="From the advisory's first CVSS vector.")
    fixed: list[str] = Field(description="Versions that fix it, from the advisory's ranges.")


class SkippedOut(BaseModel):
    ref: str
    name: str
    reason: str


class CheckOut(BaseModel):
    """Which components of an inventory are affected."""

    format: str = Field(description="cyclonedx, spdx or requirements.")
    components: int = Field(description="Components checked.")
    affected: list[FindingOut]
    undetermined: list[FindingOut] = Field(
        description="Components an advisory names whose version could not be ordered against "
        "its ranges (a GIT range, an ecosystem without a known order, an unparseable version)."
    )
    skipped: list[SkippedOut] = Field(description="Components that could not be checked.")
