"""Request and response shapes of the clearinghouse: vulnerability reports, triage, sharing."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .models import CaseState, Tlp, VendorStatus, VulnKind, VulnStatus

ID_PATTERN = r"^[A-Za-z0-9-]{1,36}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AffectedProduct(_Strict):
    """An affected product: a purl or a CPE 2.3 name, with OSV-style version ranges."""

    purl: str | None = Field(default=None, max_length=1000, examples=["pkg:pypi/django"])
    cpe: str | None = Field(default=None, max_length=1000)
    ranges: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=50,
        description="OSV ranges: {type: SEMVER|ECOSYSTEM|GIT, repo?, events: [{introduced}, ...]}.",
    )
    versions: list[str] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _one_name(self) -> Self:
        if (self.purl is None) == (self.cpe is None):
            raise ValueError("give exactly one of purl or cpe")
        return self


class ModelIdentity(_Strict):
    """The AI model a flaw was found in, as precisely as the reporter knows it."""

    developer: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, max_length=200, description="Version or checkpoint.")
    weights_digest: str | None = Field(default=None, max_length=200)
    endpoint: str | None = Field(default=None, max_length=2000)
    configuration: str | None = Field(
        default=None,
        max_length=20_000,
        description="The system prompt or guardrail configuration tested (or its digest).",
    )
    tested_on: date


class Interval(_Strict):
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    confidence: float = Field(default=0.95, gt=0, lt=1)


MAX_SAMPLING_DEPTH = 8
MAX_SAMPLING_CHARS = 20_000


def _depth(value: object) -> int:
    """How deeply JSON containers nest in `value` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


class Evidence(_Strict):
    """How the flaw was shown: for a stochastic model, the trials and their settings."""

    trials: int | None = Field(default=None, ge=1)
    successes: int | None = Field(default=None, ge=0)
    sampling: dict[str, Any] = Field(
        default_factory=dict, description="Temperature, top_p, max tokens... as used."
    )
    seed: int | None = None
    judge: str | None = Field(default=None, max_length=300, description="Who judged success.")
    interval: Interval | None = Field(
        default=None, description="Success-rate interval; Wilson 95% is computed when omitted."
    )
    steps: str | None = Field(default=None, max_length=50_000, description="How to reproduce.")

    @field_validator("sampling")
    @classmethod
    def _plain_settings(cls, sampling: dict[str, Any]) -> dict[str, Any]:
        if _depth(sampling) > MAX_SAMPLING_DEPTH:
            raise ValueError(f"sampling nests deeper than {MAX_SAMPLING_DEPTH} levels")
        if len(json.dumps(sampling)) > MAX_SAMPLING_CHARS:
            raise ValueError(f"sampling is longer than {MAX_SAMPLING_CHARS} characters as JSON")
        return sampling

    @model_validator(mode="after")
    def _counts(self) -> Self:
        if (self.trials is None) != (self.successes is None):
            raise ValueError("give trials and successes together")
        if self.trials is not None and self.successes is not None and self.successes > self.trials:
            raise ValueError("successes cannot exceed trials")
        return self


class DiscoveringSystem(_Strict):
    model: str = Field(min_length=1, max_length=300)
    harness: str = Field(min_length=1, max_length=300)
    prompt_version: str | None = Field(default=None, max_length=200)


class Provenance(_Strict):
    """Who or what found the flaw, and whether a human has verified it."""

    discovered_by: Literal["human", "ai_system"]
    system: DiscoveringSystem | None = None
    human_verified: bool

    @model_validator(mode="after")
    def _system(self) -> Self:
        if self.discovered_by == "ai_system" and self.system is None:
            raise ValueError("an AI-found flaw names its discovering system (model, harness)")
        return self


class Technique(_Strict):
    atlas: str | None = Field(default=None, description="MITRE ATLAS technique, e.g. AML.T0051.")
    owasp_llm: str | None = Field(default=None, description="OWASP LLM Top 10 (2025), e.g. LLM01.")


class Recipients(_Strict):
    """Explicit recipients: orgs (AMBER, AMBER+STRICT, or earlier than the embargo) and named
    users (the only audience of TLP:RED)."""

    orgs: list[str] = Field(default_factory=list, max_length=500)
    users: list[str] = Field(default_factory=list, max_length=500)


class Consent(_Strict):
    share: bool = Field(description="The clearinghouse may share the report beyond the agency.")
    credit: bool = Field(description="Credit the reporter by name where the report is shared.")


class VulnCreate(_Strict):
    """A vulnerability report as filed."""

    kind: VulnKind
    title: str = Field(min_length=3, max_length=300)
    description: str = Field(min_length=1, max_length=100_000)
    tlp: Tlp
    recipients: Recipients = Field(default_factory=Recipients)
    embargo_end: datetime | None = Field(
        default=None, description="Until then only explicit recipients see the report (UTC)."
    )
    cwe: str | None = Field(default=None, examples=["CWE-787"])
    cvss: str | None = Field(default=None, description="A CVSS 3.x or 4.0 vector string.")
    affected: list[AffectedProduct] = Field(default_factory=list, max_length=200)
    model: ModelIdentity | None = None
    technique: Technique = Field(default_factory=Technique)
    root_cause: str | None = Field(
        default=None, max_length=500, description="Where the flaw is: `path/file.c:function`."
    )
    evidence: Evidence = Field(default_factory=Evidence)
    provenance: Provenance
    consent: Consent

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        if self.kind is VulnKind.AI_MODEL and self.model is None:
            raise ValueError("an ai_model report names the model (model: {developer, model, ...})")
        if self.kind is VulnKind.SOFTWARE and not self.affected:
            raise ValueError("a software report lists the affected products (purl or cpe)")
        if self.kind is VulnKind.AI_SYSTEM and not (self.affected or self.model):
            raise ValueError("an ai_system report lists the affected products or the model")
        if self.embargo_end is not None and self.embargo_end.tzinfo is None:
            raise ValueError("embargo_end needs a timezone (e.g. 2026-12-01T12:00:00Z)")
        return self


class Cvss(BaseModel):
    vector: str
    version: str
    base_score: float
    severity: str


class AttachmentOut(BaseModel):
    id: str
    filename: str
    media_type: str
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the content, shown even when it is withheld.")
    proof_of_concept: bool
    created_at: datetime


class VulnOut(BaseModel):
    """A vulnerability report as the caller may see it."""

    id: str
    kind: VulnKind
    title: str
    description: str
    tlp: Tlp
    embargo_end: datetime | None
    status: VulnStatus
    close_reason: str | None
    priority: int
    assignee_id: str | None
    reporter_org_id: str | None = Field(
        description="Shown to the agency and the reporter, and to others if credit was consented."
    )
    discovered_by: Literal["human", "ai_system"]
    cwe: str | None
    cvss: Cvss | None
    affected: list[dict[str, Any]]
    model: dict[str, Any] | None
    technique: dict[str, Any]
    root_cause: str | None
    evidence: dict[str, Any]
    provenance: dict[str, Any]
    consent: Consent
    ssvc: dict[str, Any] | None
    fingerprint: str
    duplicate_of: str | None = Field(description="Only when the caller may see that report too.")
    case_id: str | None = Field(
        default=None,
        description="The coordinated-disclosure case it was taken into (whose page answers "
        "only to the case's participants).",
    )
    finding_id: str | None
    recipients: Recipients | None = Field(description="Agency and reporter only.")
    attachments: list[AttachmentOut]
    created_at: datetime
    updated_at: datetime


class TriageIn(_Strict):
    """An analyst's triage step: any of priority, assignee, SSVC decision, status."""

    priority: int | None = Field(default=None, ge=1, le=5)
    assignee_id: str | None = Field(default=None, pattern=ID_PATTERN)
    ssvc: dict[str, str] | None = Field(
        default=None, description="Coordinator Triage decision point values, by key."
    )
    status: Literal["triaged", "declined", "duplicate"] | None = None
    close_reason: str | None = Field(default=None, min_length=3, max_length=5000)
    duplicate_of: str | None = Field(default=None, pattern=ID_PATTERN)


class SimilarOut(BaseModel):
    id: str
    title: str
    status: VulnStatus
    score: float = Field(description="Text similarity, 0 to 1.")


class ExplanationOut(BaseModel):
    object: str
    org_id: str
    user_id: str | None
    visible: bool
    reasons: list[str]


class ClientsIn(_Strict):
    """The client orgs your org may pass TLP:AMBER information on to (replaces the list)."""

    client_org_ids: list[str] = Field(max_length=1000)


class FindingToVuln(_Strict):
    """File an evaluator's finding as an `ai_model` vulnerability report about the submitted model.

    By default it goes TLP:AMBER+STRICT to the developer org, the model's vendor.
    """

    finding_id: str = Field(pattern=ID_PATTERN)
    tlp: Tlp = Tlp.AMBER_STRICT
    recipients: Recipients | None = Field(
        default=None, description="Default: the developer org of the submission."
    )
    embargo_end: datetime | None = None
    technique: Technique = Field(default_factory=Technique)
    cwe: str | None = None
    cvss: str | None = None


# --- coordinated-disclosure cases -------------------------------------------------------------

CASE_NUMBER_PATTERN = r"^PDX-[0-9]{4}-[0-9]{4,}$"
CVE_PATTERN = r"^CVE-[0-9]{4}-[0-9]{4,}$"


def _aware(value: datetime | None, field: str) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{field} needs a timezone (e.g. 2026-12-01T12:00:00Z)")


class CaseCreate(_Strict):
    """Open a case from one or more vulnerability reports (agency analysts and admins)."""

    vulns: list[str] = Field(min_length=1, max_length=100, description="Report ids to link.")
    title: str = Field(min_length=3, max_length=300)
    summary: str = Field(default="", max_length=100_000)
    tlp: Tlp = Tlp.AMBER
    embargo_end: datetime | None = Field(
        default=None, description="UTC; default 45 days after opening, at 12:00 UTC."
    )

    @model_validator(mode="after")
    def _timezone(self) -> Self:
        _aware(self.embargo_end, "embargo_end")
        return self


class CaseStateIn(_Strict):
    """Move a case: open → coordinating → disclosed, or closed (with a reason) from either."""

    state: Literal["coordinating", "disclosed", "closed"]
    reason: str | None = Field(default=None, min_length=3, max_length=5000)


class EmbargoIn(_Strict):
    embargo_end: datetime = Field(description="The new embargo end (UTC), not in the past.")

    @model_validator(mode="after")
    def _timezone(self) -> Self:
        _aware(self.embargo_end, "embargo_end")
        return self


class CaseVulnerabilityIn(_Strict):
    """A vulnerability coordinated in a case, scored with CVSS 3.x and/or 4.0."""

    title: str = Field(min_length=3, max_length=300)
    cve_id: str | None = Field(default=None, pattern=CVE_PATTERN, examples=["CVE-2026-12345"])
    cwe: str | None = Field(default=None, examples=["CWE-787"])
    cvss_v3: str | None = Field(default=None, description="A CVSS 3.0 or 3.1 vector string.")
    cvss_v4: str | None = Field(default=None, description="A CVSS 4.0 vector string.")
    ssvc: dict[str, str] | None = Field(
        default=None, description="Coordinator Triage decision point values, by key."
    )


class VendorInviteIn(_Strict):
    """Invite a vendor org (one holding the vendor or developer capacity) to a case."""

    org_id: str = Field(pattern=ID_PATTERN)
    deadline: datetime | None = Field(
        default=None, description="When its answer is due (UTC); default 14 days from now."
    )

    @model_validator(mode="after")
    def _timezone(self) -> Self:
        _aware(self.deadline, "deadline")
        return self


class VendorStatusIn(_Strict):
    """A vendor's status (and statement) for one vulnerability of the case."""

    vulnerability_id: str = Field(pattern=ID_PATTERN)
    status: VendorStatus
    statement: str | None = Field(default=None, max_length=20_000)


class ApproveIn(_Strict):
    vulnerability_id: str = Field(pattern=ID_PATTERN)


class PostIn(_Strict):
    body: str = Field(min_length=1, max_length=50_000)


class CaseVulnerabilityOut(BaseModel):
    id: str
    title: str
    cve_id: str | None
    cwe: str | None
    cvss_v3: Cvss | None
    cvss_v4: Cvss | None
    ssvc: dict[str, Any] | None
    created_at: datetime


class VendorStatusOut(BaseModel):
    vulnerability_id: str
    status: VendorStatus
    statement: str | None
    approved: bool
    approved_by: str | None
    approved_at: datetime | None
    updated_at: datetime


class CaseVendorOut(BaseModel):
    org_id: str
    org_name: str
    deadline: datetime
    overdue: bool = Field(description="The deadline passed with a vulnerability not yet assessed.")
    invited_at: datetime
    statuses: list[VendorStatusOut] = Field(
        description="Unapproved ones only to the agency and the vendor itself."
    )


class EmbargoOverrideOut(BaseModel):
    requested_by: str | None
    reason: str
    requested_at: datetime


class CaseOut(BaseModel):
    """A case as the caller may see it."""

    id: str
    number: str
    title: str
    summary: str
    state: CaseState
    close_reason: str | None
    tlp: Tlp
    embargo_end: datetime = Field(description="UTC.")
    embargo_seconds_remaining: int = Field(description="0 once the embargo has ended.")
    embargo_override: EmbargoOverrideOut | None = Field(
        description="A pending request to end the embargo now, awaiting a second analyst."
    )
    owner_id: str | None
    vulns: list[str] = Field(description="The linked reports that the caller may see.")
    vulnerabilities: list[CaseVulnerabilityOut]
    vendors: list[CaseVendorOut]
    posts_count: int
    created_at: datetime
    updated_at: datetime


class PostOut(BaseModel):
    id: str
    author_id: str | None
    author_org_id: str | None
    body: str = Field(description="The latest revision's text.")
    revisions: int
    created_at: datetime
    updated_at: datetime


class EmbargoOverrideIn(_Strict):
    """Ask to end a case's embargo now; a second analyst approves (two-person rule)."""

    reason: str = Field(min_length=3, max_length=2000)


class ClearinghouseSettingsOut(BaseModel):
    """The clearinghouse's settings."""

    two_person_rule: bool = Field(
        description="Publishing an advisory and ending an embargo early need a second analyst."
    )
    updated_by: str | None
    updated_at: datetime | None


class ClearinghouseSettingsUpdate(_Strict):
    """Turn the two-person rule on or off, saying why (audited)."""

    two_person_rule: bool
    reason: str = Field(min_length=1, max_length=2000)


ALIAS_PATTERN = r"^(CVE-[0-9]{4}-[0-9]{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})$"
CREDIT_TYPES = Literal[
    "FINDER",
    "REPORTER",
    "ANALYST",
    "COORDINATOR",
    "REMEDIATION_DEVELOPER",
    "REMEDIATION_REVIEWER",
    "REMEDIATION_VERIFIER",
    "TOOL",
    "SPONSOR",
    "OTHER",
]
"""OSV's credit types (CVE JSON 5 has the same set in lower case)."""
REFERENCE_TYPES = Literal[
    "ADVISORY",
    "ARTICLE",
    "DETECTION",
    "DISCUSSION",
    "REPORT",
    "FIX",
    "INTRODUCED",
    "GIT",
    "PACKAGE",
    "EVIDENCE",
    "WEB",
]
"""OSV's reference types."""


class ModelRef(_Strict):
    """An AI model named as an affected product."""

    developer: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, max_length=200)


class AdvisoryAffected(_Strict):
    """An affected product: a purl, a CPE 2.3 name or an AI model, with OSV-style ranges."""

    purl: str | None = Field(default=None, max_length=1000)
    cpe: str | None = Field(default=None, max_length=1000)
    model: ModelRef | None = None
    ranges: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    versions: list[str] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _one_name(self) -> Self:
        if sum(name is not None for name in (self.purl, self.cpe, self.model)) != 1:
            raise ValueError("give exactly one of purl, cpe or model")
        return self


class Reference(_Strict):
    type: REFERENCE_TYPES = "WEB"
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)


class Credit(_Strict):
    name: str = Field(min_length=1, max_length=300)
    type: CREDIT_TYPES
    contact: list[str] = Field(default_factory=list, max_length=10)


class AdvisoryDraftIn(_Strict):
    """An advisory's content. Omitted aliases, affected products and credits are taken from the
    case: its vulnerabilities' CVE ids, its reports' affected products and models, and its
    reporters who consented to credit (with their AI discovering systems as `TOOL`)."""

    case: str = Field(min_length=1, max_length=36, description="Case id or PDX number.")
    title: str = Field(min_length=3, max_length=300)
    summary: str = Field(min_length=1, max_length=2000)
    details: str | None = Field(default=None, max_length=100_000)
    tlp: Tlp = Field(default=Tlp.CLEAR, description="Set by the first draft; CLEAR is public.")
    recipients: Recipients = Field(default_factory=Recipients)
    aliases: list[Annotated[str, Field(pattern=ALIAS_PATTERN)]] | None = Field(
        default=None, max_length=50
    )
    affected: list[AdvisoryAffected] | None = Field(default=None, max_length=200)
    remediation: str = Field(min_length=1, max_length=20_000)
    references: list[Reference] = Field(default_factory=list, max_length=100)
    credits: list[Credit] | None = Field(default=None, max_length=100)


class AdvisoryVulnerability(BaseModel):
    id: str
    title: str
    cve_id: str | None
    cwe: str | None
    cvss_v3: Cvss | None
    cvss_v4: Cvss | None
    ssvc: dict[str, Any] | None


class VendorStatement(BaseModel):
    vendor: str
    vulnerability_id: str
    status: VendorStatus
    statement: str | None


class AdvisoryDocument(BaseModel):
    """One revision of an advisory, exactly as approved (its SHA-256 is over these fields)."""

    format: Literal["predeploy.advisory/1"] = "predeploy.advisory/1"
    id: str = Field(description="PDXA-2026-0001")
    revision: int
    case: str
    tlp: Tlp
    title: str
    summary: str
    details: str | None
    aliases: list[str]
    vulnerabilities: list[AdvisoryVulnerability]
    affected: list[AdvisoryAffected]
    vendor_statements: list[VendorStatement] = Field(
        description="Only statements an analyst approved."
    )
    remediation: str
    references: list[Reference]
    credits: list[Credit]


class AdvisoryRevisionOut(BaseModel):
    number: int
    sha256: str = Field(description="Of the document's RFC 8785 bytes.")
    published: bool
    published_at: datetime | None
    author_id: str | None = Field(description="Shown to the agency only.")
    approved_by: str | None = Field(description="Shown to the agency only.")
    created_at: datetime
    document: AdvisoryDocument


class AdvisoryOut(BaseModel):
    """An advisory: its published revision, and (to the agency) a draft awaiting approval."""

    id: str
    number: str
    tlp: Tlp
    published_at: datetime | None
    updated_at: datetime
    current: AdvisoryRevisionOut | None = Field(description="The published revision.")
    draft: AdvisoryRevisionOut | None = Field(description="Awaiting approval; agency only.")
    revisions: list[int] = Field(description="Published revision numbers.")


class PublishIn(_Strict):
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="The digest of the draft you read and approve."
    )
