"""The report document: what is signed, published as a JSON Schema (`docs/report.schema.json`);
and the API's requests and answers about reports.

A report is one JSON object. Its canonical bytes (RFC 8785) are what the agency signs; the HTML
and PDF renderings are made from it and show its SHA-256. Everything in it is either a fact
recorded by predeploy (submission, window, plan, results) or a statement an evaluator made and a
second one approved (determination, findings, limitations). It never holds a secret: access
variants appear by label and Inspect model string, never with a key or base URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..determination import CapabilityDetermination
from ..identity import IdentityRecord
from ..safeguards import SafeguardRates

REPORT_SCHEMA_ID = "https://predeploy.dev/schemas/report/3.json"
"""The `$schema` of every report this version of predeploy writes (`docs/report.schema.json`)."""

REPORT_SCHEMA_IDS = frozenset(
    {
        "https://predeploy.dev/schemas/report/1.json",
        "https://predeploy.dev/schemas/report/2.json",
        REPORT_SCHEMA_ID,
    }
)
"""Every published report schema (`docs/report-1.schema.json`, `docs/report-2.schema.json`,
`docs/report.schema.json`): the
`$schema` values a report may carry. Each version only adds optional fields to the one before,
so `ReportDocument` reads reports of any of them."""

ReportStatus = Literal["draft", "issued"]
Severity = Literal["info", "low", "medium", "high", "critical"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrgRef(_Record):
    """An organisation, by id and name."""

    id: str
    name: str


class Approval(_Record):
    """One evaluator's sign-off (the two-person rule: the author and a second evaluator)."""

    user_id: str
    email: str
    role: Literal["author", "approver"]
    at: datetime


class ReportMeta(_Record):
    """Which report this is: a submission has one report, in versions (amendments are new ones)."""

    id: str
    version: int = Field(ge=1)
    status: ReportStatus
    supersedes: str | None = Field(
        default=None, description="Id of the issued version this one amends."
    )
    amendment_reason: str | None = None
    created_at: datetime
    issued_at: datetime | None = None
    approvals: list[Approval] = []


class Issuer(_Record):
    """The agency that signs, and the id of the Ed25519 key that checks the signature."""

    org: OrgRef
    key_id: str


class Window(_Record):
    """The testing window: from its start to the report deadline, before the planned release."""

    submitted_at: datetime | None
    access_granted_at: datetime | None
    window_start: datetime | None = Field(
        default=None,
        description="When testing could start: access granted, at the earliest the maximum "
        "window (30 days by default) before the planned release. Null only in reports of "
        "schema 1, which did not record it.",
    )
    compressed: bool | None = Field(
        default=None,
        description="Whether the submission was flagged for a compressed window: less time "
        "for testing before the report was due than the agency's minimum. Null only in "
        "reports of schema 1.",
    )
    planned_release_at: datetime
    report_due_at: datetime
    access_expires_at: datetime


class AccessVariantRef(_Record):
    """One way the model was reached (never its key or base URL)."""

    label: str
    model: str


class ModelIdentity(_Record):
    """The model tested, as the developer declared it."""

    id: str
    name: str
    version: str
    weights_digest: str | None = None
    developer: OrgRef
    access_variants: list[AccessVariantRef]


class SubmissionRef(_Record):
    """The submission the report answers."""

    id: str
    window: Window


class ReferenceModelRef(_Record):
    """A model the plan compares against (e.g. the developer's previous model)."""

    label: str
    model: str


class PlanRecord(_Record):
    """The test plan as run: its items and elicitation settings, by name, version and digest."""

    name: str
    version: int
    digest: str
    items: list[dict[str, Any]]
    elicitation: dict[str, Any]
    reference_models: list[ReferenceModelRef] = []
    prices: dict[str, dict[str, Any]] = {}
    """US dollars per million tokens, by model label, as the plan set them (costs per success
    are priced with these, or with Inspect's model database for the models it knows)."""


class CampaignRecord(_Record):
    """One completed campaign whose results the report uses."""

    id: str
    plan: PlanRecord
    started_at: datetime | None
    finished_at: datetime | None
    seeds: list[int]
    samples: int
    reruns: int
    retried_failures: dict[str, int] = {}


class TranscriptLink(_Record):
    """A sample whose transcript supports a finding (served only through predeploy's API)."""

    campaign_id: str
    sample_id: str
    epoch: int
    model_label: str


class FindingRecord(_Record):
    """An evaluator's finding."""

    id: str
    title: str
    text: str
    severity: Severity
    transcripts: list[TranscriptLink] = []
    vuln_id: str | None = Field(
        default=None, description="The clearinghouse vulnerability report it was sent as, if any."
    )
    created_at: datetime


class VariantSafeguards(_Record):
    """One access variant's safeguard rates (misuse compliance, over-refusal)."""

    variant: str
    rates: SafeguardRates


EffectiveStatus = Literal["below", "not_below", "inconclusive", "not_applicable"]


class EffectiveCapability(_Record):
    """Whether the production safeguards bring the capability below the level the most capable
    variant reaches: the production variant's own capability determination, through its
    safeguards, against that level (`threshold_level`)."""

    status: EffectiveStatus
    statement: str
    threshold_level: str | None = Field(
        description="The level the most capable tested variant was determined to meet."
    )
    production_level: str | None = Field(
        description="The level the production variant was determined to meet (None: "
        "inconclusive or not tested)."
    )
    production_highest_level_not_ruled_out: str | None


class SafeguardsSection(_Record):
    """Safeguard efficacy: each variant's rates, the production variant (shipped safeguards)
    against the most capable one, and the effective capability."""

    production_variant: str = Field(
        description="The variant with the safeguards that ship (labelled `production`, else "
        "the submission's default variant)."
    )
    comparison_variant: str | None = Field(
        description="The most capable tested variant, when it is not the production one."
    )
    variants: list[VariantSafeguards]
    effective_capability: EffectiveCapability


class ReportDocument(_Record):
    """The signed pre-release test report."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_id: str = Field(default=REPORT_SCHEMA_ID, alias="$schema")
    report: ReportMeta
    issuer: Issuer
    submission: SubmissionRef
    model: ModelIdentity
    campaigns: list[CampaignRecord]
    determination: CapabilityDetermination
    safeguards: SafeguardsSection | None = Field(
        default=None, description="Absent in reports of schemas 1 and 2."
    )
    identity: list[IdentityRecord] = Field(
        default_factory=list,
        description="Each tested variant's behavioural fingerprints at the start and end of "
        "testing (empty when no identity probes ran, and in reports of schemas 1 and 2).",
    )
    findings: list[FindingRecord] = []
    limitations: list[str] = []

    def to_json(self) -> dict[str, Any]:
        """The JSON object to sign: `$schema` by its alias, dates in ISO 8601, None as null."""
        return self.model_dump(mode="json", by_alias=True)


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report document, as published in
    `docs/report.schema.json` (`predeploy report schema` prints it)."""
    schema = ReportDocument.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": REPORT_SCHEMA_ID,
        **schema,
    }


# --- API requests and answers --------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportCreate(_Request):
    """A new draft: limitations to state, and for an amendment the reason for it."""

    limitations: list[str] = Field(default_factory=list, max_length=50)
    amendment_reason: str | None = Field(default=None, min_length=1, max_length=5000)


class ReportApprove(_Request):
    """Approve exactly the draft that was reviewed, named by the SHA-256 of its JSON bytes."""

    draft_sha256: str = Field(
        pattern=r"^[0-9a-fA-F]{64}$",
        description="The `draft_sha256` of the draft being approved (hex): a draft changed "
        "since it was read is refused (409).",
    )


class FindingCreate(_Request):
    """An evaluator's finding, optionally linked to the sample transcripts that support it."""

    title: str = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=50_000)
    severity: Severity
    transcripts: list[TranscriptLink] = Field(default_factory=list, max_length=100)


class FindingOut(FindingRecord):
    """A finding as stored: as in a report, plus its submission and author."""

    submission_id: str
    author_id: str


class ReportVersionOut(BaseModel):
    """One version of a report; `document` is the draft's content (agency staff only)."""

    id: str
    submission_id: str
    version: int
    status: str
    supersedes_id: str | None
    amendment_reason: str | None
    author_id: str
    approver_id: str | None
    created_at: datetime
    approved_at: datetime | None
    issued_at: datetime | None
    sha256: str | None = Field(description="SHA-256 of the signed bytes (issued versions).")
    draft_sha256: str | None = Field(
        default=None,
        description="SHA-256 of the draft's canonical JSON bytes, as its JSON download serves "
        "them (drafts, to agency staff): what an approval names to approve exactly this draft.",
    )
    key_id: str | None
    document: dict[str, Any] | None = None


class ReportOut(BaseModel):
    """A submission's report: its versions (the caller may see) and the key that signs them."""

    submission_id: str
    latest_issued: int | None
    versions: list[ReportVersionOut]
    key_id: str
    public_key_pem: str = Field(description="The agency's Ed25519 public key (PEM).")
    public_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Every agency public key (PEM) by key id, the current one and those "
        "retired by key rotations: each version verifies with the key its `key_id` names.",
    )


class ReportSettingsOut(BaseModel):
    """The agency's report settings."""

    two_person_rule: bool
    updated_by: str | None
    updated_at: datetime | None


class ReportSettingsUpdate(_Request):
    """Turn the two-person rule on or off, saying why (audited)."""

    two_person_rule: bool
    reason: str = Field(min_length=1, max_length=2000)
