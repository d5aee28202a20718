"""The object versions of a collection, as one caller sees them.

Objects come from *sources*, each with the time its content became what it is:

- every published revision of an advisory the caller may see (`advisory_audience`) with one of
  the collection's labels: its STIX bundle (`interop._stix`), at the time it was published;
- in `partners`, every vulnerability report the caller may see (`vuln_audience`), as a STIX
  `vulnerability` (`interop._stix_reports`) with the marking definitions it names and, when it
  carries a proof of concept, predeploy's extension definition. Its one version is its latest
  change: filing or triage, a proof-of-concept attachment (for those who receive it), the end of
  its embargo (when the community and the public start to see a CLEAR or GREEN report), or a
  change to its case (a vendor invited, a CVE added), for those who may see the case.

A version is an object id with its `modified` (else `created`; objects with neither, such as
`software`, have one version, named by the time they were first added). Its `date_added` is the
time of the earliest source that holds it, so it never changes while the caller's view stays the
same, and a newer version is always added later than the one before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..clearinghouse._visibility import advisory_audience, case_audience, vuln_audience
from ..clearinghouse.attachments import may_read_payload
from ..clearinghouse.models import (
    Advisory,
    AdvisoryRevision,
    Case,
    CaseVulnerability,
    Tlp,
    Vuln,
    VulnAttachment,
)
from ..clearinghouse.schemas import AdvisoryDocument
from ..interop._stix import advisory_to_stix, tlp_marking
from ..interop._stix_reports import report_extension, report_to_stix, withhold_proof_of_concept
from ..interop.service import stix_agency
from ..runtime import Context
from ._intake import LABELS
from .schemas import taxii_time


@dataclass(frozen=True)
class Entry:
    """One version of one object in a collection."""

    date_added: datetime
    id: str
    version: datetime
    version_text: str
    """As written in the object (`modified` or `created`), or `date_added` for objects with
    neither."""
    stix: dict[str, Any]

    @property
    def type(self) -> str:
        return self.id.split("--", 1)[0]

    @property
    def spec_version(self) -> str:
        return str(self.stix["spec_version"])

    @property
    def key(self) -> tuple[datetime, str, datetime]:
        """Its place in a collection: by `date_added`, then id and version."""
        return (self.date_added, self.id, self.version)


@dataclass(frozen=True)
class _Source:
    time: datetime
    objects: list[dict[str, Any]]


def _advisory_sources(ctx: Context, labels: frozenset[Tlp]) -> Iterator[_Source]:
    rows = ctx.session.execute(
        select(Advisory.published_at, AdvisoryRevision.published_at, AdvisoryRevision.content)
        .join(AdvisoryRevision, AdvisoryRevision.advisory_id == Advisory.id)
        .where(
            advisory_audience(ctx.actor, ctx.now()),
            Advisory.tlp.in_([label.value for label in labels]),
            AdvisoryRevision.published_at.is_not(None),
        )
        .order_by(AdvisoryRevision.published_at, AdvisoryRevision.id)
    ).all()
    agency = stix_agency(ctx)
    for first, published, content in rows:
        # A published revision means a published advisory: both times are set.
        assert first is not None and published is not None
        document = AdvisoryDocument.model_validate(content)
        bundle = advisory_to_stix(document, published=first, modified=published,
                                  agency=agency)  # fmt: skip
        yield _Source(published, bundle["objects"])


def _report_sources(ctx: Context) -> Iterator[_Source]:
    now, actor, session = ctx.now(), ctx.actor, ctx.session
    vulns = session.scalars(
        select(Vuln).where(vuln_audience(actor, now)).order_by(Vuln.created_at, Vuln.id)
    ).all()
    files: dict[str, list[VulnAttachment]] = {}
    for file in session.scalars(
        select(VulnAttachment)
        .where(
            VulnAttachment.vuln_id.in_(select(Vuln.id).where(vuln_audience(actor, now))),
            VulnAttachment.proof_of_concept.is_(True),
        )
        .order_by(VulnAttachment.created_at, VulnAttachment.id)
    ):
        files.setdefault(file.vuln_id, []).append(file)
    case_ids = {vuln.case_id for vuln in vulns if vuln.case_id is not None}
    cases = dict(
        session.execute(
            select(Case.id, Case.updated_at).where(Case.id.in_(case_ids), case_audience(actor))
        ).all()
    )
    cves: dict[str, list[str]] = {}
    for case_id, cve in session.execute(
        select(CaseVulnerability.case_id, CaseVulnerability.cve_id)
        .where(CaseVulnerability.case_id.in_(cases), CaseVulnerability.cve_id.is_not(None))
        .order_by(CaseVulnerability.created_at, CaseVulnerability.id)
    ).all():
        cves.setdefault(case_id, []).append(str(cve))
    agency = stix_agency(ctx).name
    for vuln in vulns:
        proof = files.get(vuln.id, [])
        entitled = bool(proof or vuln.evidence.get("steps")) and may_read_payload(ctx, vuln)
        changes = [vuln.updated_at]
        if entitled and proof:
            changes.append(proof[-1].created_at)
        if vuln.embargo_end is not None and vuln.embargo_end <= now:
            changes.append(vuln.embargo_end)
        case = vuln.case_id or ""
        if case in cases:
            changes.append(cases[case])
        stix = report_to_stix(vuln, proof_of_concept_files=proof, cve_ids=cves.get(case, []),
                              modified=max(changes))  # fmt: skip
        if not entitled:
            stix = withhold_proof_of_concept(stix)
        yield _Source(max(changes), [*_supporting(stix, agency), stix])


def _supporting(stix: dict[str, Any], agency: str) -> list[dict[str, Any]]:
    """The marking definitions `stix` names, and the definition of the extension it uses."""
    refs = list(stix["object_marking_refs"])
    refs += [marking["marking_ref"] for marking in stix.get("granular_markings", [])]
    objects = [tlp_marking(LABELS[ref]) for ref in dict.fromkeys(refs)]
    if "extensions" in stix:
        objects.append(report_extension(agency))
    return objects


def entries(ctx: Context, labels: frozenset[Tlp], *, reports: bool) -> list[Entry]:
    """Every object version the caller sees among the advisories labelled `labels` (and, with
    `reports`, the vulnerability reports), in `date_added` order."""
    sources = list(_advisory_sources(ctx, labels))
    if reports:
        sources += _report_sources(ctx)
    sources.sort(key=lambda source: source.time)
    found: dict[tuple[str, str | None], Entry] = {}
    for source in sources:
        for stix in source.objects:
            named: str | None = stix.get("modified") or stix.get("created")
            key = (stix["id"], named)
            if key in found:
                continue
            text = named or taxii_time(source.time)
            found[key] = Entry(source.time, stix["id"], datetime.fromisoformat(text), text, stix)
    return sorted(found.values(), key=lambda entry: entry.key)
