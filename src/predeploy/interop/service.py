"""Rules for importing advisories from other databases and exporting ours and theirs.

**Import** (OSV, and CSAF read into the OSV shape by `_csaf_import`): records that share an id or an alias are one advisory (a PYSEC record and the
GHSA record for the same CVE merge; a record that links two advisories merges them). Importing
a record again changes nothing unless its `modified` is newer; a newer one replaces the content
it brought. Bad records are reported by file and field while the good ones import; the whole
import is one transaction, and every record is checked before anything is written, so no record
is ever half-written.

**Export**: a published advisory, or an imported one, in a format that applies to it; asking for
one that does not is refused naming those that do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import delete, insert, select, update

from ..accounts.models import Organization
from ..audit.service import record as audit
from ..clearinghouse._visibility import imported_audience
from ..clearinghouse.advisories import (
    published_advisories,
    published_revisions,
    visible_advisory,
)
from ..clearinghouse.models import Advisory, AdvisoryRevision, Tlp
from ..clearinghouse.schemas import AdvisoryDocument
from ..clearinghouse.service import _require_analyst, agency_org_id
from ..db import new_id
from ..defense._versions import normalise_name, version_index
from ..errors import Conflict, InvalidInput, NotFound
from ..runtime import Context
from ._avid import advisory_to_avid, avid_applies
from ._csaf import Revision, advisory_to_csaf
from ._csaf_checks import mandatory_problems
from ._cve5 import cve_affected, cve_ids, cve_record
from ._osv import Item, OsvRecord, Rejection, timestamp
from ._osv_export import UNREGISTERED_PREFIX, advisory_to_osv, osv_affected
from ._stix import Agency, advisory_to_stix
from .models import AdvisoryAlias, AffectedPackage, ImportedAdvisory
from .schemas import (
    BulkExportOut,
    ExportFormat,
    ExportOut,
    ImportOut,
    RejectionOut,
    SkippedExportOut,
)

BATCH = 500
"""Records checked and written together (one alias lookup per batch)."""
IMPORT_LABELS = frozenset({Tlp.CLEAR, Tlp.GREEN})


@dataclass
class _Counts:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    normalised: list[Rejection] = field(default_factory=list)


def _batches(items: Iterable[Item]) -> Iterator[list[Item]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def import_records(
    ctx: Context, items: Iterable[Item], *, tlp: Tlp = Tlp.CLEAR, source_format: str = "osv"
) -> ImportOut:
    """Import records read from OSV or CSAF files (agency analysts and admins), labelled CLEAR
    (public) or GREEN."""
    _require_analyst(ctx.actor, "import advisories")
    if tlp not in IMPORT_LABELS:
        raise InvalidInput(
            "imported advisories are labelled CLEAR or GREEN: they carry no recipients",
            field="tlp",
        )
    counts = _Counts()
    for batch in _batches(items):
        records = []
        for item in batch:
            if isinstance(item, Rejection):
                counts.rejected.append(item)
            else:
                records.append(item)
                counts.normalised.extend(item.warnings)
        _import_batch(ctx, records, tlp, counts)
    summary = ImportOut(
        imported=counts.imported,
        updated=counts.updated,
        unchanged=counts.unchanged,
        rejected=[_out(r) for r in counts.rejected],
        normalised=[_out(r) for r in counts.normalised],
    )
    change = summary.model_dump(exclude={"rejected", "normalised"}) | {
        "format": source_format,
        "tlp": tlp.value,
        "rejected": len(counts.rejected),
        "normalised": len(counts.normalised),
    }
    audit(ctx, "advisories.imported", "imported_advisory", source_format, change,
          org_id=agency_org_id(ctx.session), detail=change)  # fmt: skip
    return summary


def _out(rejection: Rejection) -> RejectionOut:
    return RejectionOut(file=rejection.file, field=rejection.field, message=rejection.message)


def _import_batch(ctx: Context, records: list[OsvRecord], tlp: Tlp, counts: _Counts) -> None:
    session, now = ctx.session, ctx.now()
    wanted = set().union(*(r.ids for r in records)) if records else set()
    by_alias: dict[str, ImportedAdvisory] = {}
    if wanted:
        rows = session.execute(
            select(AdvisoryAlias.alias, ImportedAdvisory)
            .join(ImportedAdvisory, ImportedAdvisory.id == AdvisoryAlias.advisory_id)
            .where(AdvisoryAlias.alias.in_(wanted))
        ).all()
        by_alias = {alias: advisory for alias, advisory in rows}
    new_aliases: dict[str, str] = {}
    touched: dict[str, ImportedAdvisory] = {}
    created: list[ImportedAdvisory] = []
    for record in records:
        groups = list({id(a): a for i in record.ids if (a := by_alias.get(i))}.values())
        if not groups:
            advisory = ImportedAdvisory(
                id=new_id(),
                record_id=record.id,
                source_format=record.source_format,
                tlp=tlp.value,
                summary=record.data.get("summary"),
                aliases=list(record.data.get("aliases") or []),
                cvss_vector=cvss_vector(record.data),
                modified=record.modified,
                published=record.published,
                withdrawn=record.withdrawn,
                record=record.data,
                contributions={},
                sources={record.id: record.data["modified"]},
                imported_by=ctx.actor.user_id,
                created_at=now,
                updated_at=now,
            )
            created.append(advisory)
            counts.imported += 1
        else:
            advisory, *others = sorted(groups, key=lambda a: (a.created_at, a.record_id))
            for other in others:
                _absorb(ctx, advisory, other, by_alias, new_aliases, touched, created)
            seen = advisory.sources.get(record.id)
            if seen is not None and _not_newer(record, seen) and not others:
                counts.unchanged += 1
                continue
            _apply(advisory, record, now)
            counts.updated += 1
        touched[advisory.id] = advisory
        for alias in record.ids:
            if alias not in by_alias:
                by_alias[alias] = advisory
                new_aliases[alias] = advisory.id
    session.add_all(created)
    session.flush()
    existing = [a.id for a in touched.values() if a not in created]
    if existing:
        session.execute(delete(AffectedPackage).where(AffectedPackage.advisory_id.in_(existing)))
    if new_aliases:
        session.execute(
            insert(AdvisoryAlias),
            [{"alias": alias, "advisory_id": owner} for alias, owner in new_aliases.items()],
        )
    packages = [row for advisory in touched.values() for row in _package_rows(advisory)]
    if packages:
        session.execute(insert(AffectedPackage), packages)


def _not_newer(record: OsvRecord, seen: str) -> bool:
    return record.modified <= timestamp(seen)


def _contribution(data: dict[str, Any]) -> dict[str, Any]:
    """What another database's record adds to an advisory: its ids and affected packages."""
    return {
        "aliases": list(data.get("aliases") or []),
        "affected": list(data.get("affected") or []),
    }


def merged_record(advisory: ImportedAdvisory) -> dict[str, Any]:
    """The advisory as one OSV record: its first record as imported, with the ids and affected
    packages that the records merged into it bring."""
    if not advisory.contributions:
        return advisory.record
    data = dict(advisory.record)
    ids = set(data.get("aliases") or [])
    affected = list(data.get("affected") or [])
    known = {_affected_key(a) for a in affected}
    for record_id, contribution in sorted(advisory.contributions.items()):
        ids |= {record_id, *contribution["aliases"]}
        for entry in contribution["affected"]:
            if _affected_key(entry) not in known:
                known.add(_affected_key(entry))
                affected.append(entry)
    data["aliases"] = sorted(ids - {advisory.record_id})
    data["affected"] = affected
    return data


def _apply(advisory: ImportedAdvisory, record: OsvRecord, now: datetime) -> None:
    """Bring `record` into `advisory`: a newer version of its first record replaces that record;
    another database's record for the same vulnerability is kept as a contribution, so that
    either can be updated without losing what the other brought."""
    if record.id == advisory.record_id:
        advisory.record = record.data
        advisory.summary = record.data.get("summary")
        advisory.modified, advisory.published = record.modified, record.published
        advisory.withdrawn = record.withdrawn
    else:
        advisory.contributions = {**advisory.contributions,
                                  record.id: _contribution(record.data)}  # fmt: skip
        advisory.modified = max(advisory.modified, record.modified)
    advisory.sources = {**advisory.sources, record.id: record.data["modified"]}
    advisory.updated_at = now
    _sync_columns(advisory)


def _absorb(
    ctx: Context,
    advisory: ImportedAdvisory,
    other: ImportedAdvisory,
    by_alias: dict[str, ImportedAdvisory],
    new_aliases: dict[str, str],
    touched: dict[str, ImportedAdvisory],
    created: list[ImportedAdvisory],
) -> None:
    """Merge `other` into `advisory`: a record has shown they are the same vulnerability."""
    session = ctx.session
    advisory.contributions = {
        **other.contributions,
        other.record_id: _contribution(other.record),
        **advisory.contributions,
    }
    advisory.sources = {**other.sources, **advisory.sources}
    _sync_columns(advisory)
    for alias, owner in list(by_alias.items()):
        if owner is other:
            by_alias[alias] = advisory
    for alias, owner_id in list(new_aliases.items()):
        if owner_id == other.id:
            new_aliases[alias] = advisory.id
    touched.pop(other.id, None)
    if other in created:
        created.remove(other)
        return
    session.execute(
        update(AdvisoryAlias)
        .where(AdvisoryAlias.advisory_id == other.id)
        .values(advisory_id=advisory.id)
    )
    session.execute(delete(AffectedPackage).where(AffectedPackage.advisory_id == other.id))
    session.delete(other)


def cvss_vector(record: dict[str, Any]) -> str | None:
    """An OSV record's first CVSS 3.x or 4.0 vector."""
    for entry in record.get("severity") or []:
        if entry.get("type") in ("CVSS_V3", "CVSS_V4") and len(entry.get("score", "")) <= 300:
            vector: str = entry["score"]
            return vector
    return None


def _sync_columns(advisory: ImportedAdvisory) -> None:
    advisory.aliases = list(merged_record(advisory).get("aliases") or [])
    advisory.cvss_vector = cvss_vector(advisory.record)


def _affected_key(affected: dict[str, Any]) -> str:
    package = affected.get("package") or {}
    return f"{package.get('ecosystem')}\x00{package.get('name')}\x00{affected.get('ranges')}"


def _package_rows(advisory: ImportedAdvisory) -> Iterator[dict[str, Any]]:
    for affected in merged_record(advisory).get("affected") or []:
        package = affected.get("package")
        if not package:
            continue
        yield {
            "id": new_id(),
            "advisory_id": advisory.id,
            "ecosystem": package["ecosystem"],
            "name": normalise_name(package["ecosystem"], package["name"]),
            "purl": package.get("purl"),
            "ranges": affected.get("ranges") or [],
            "versions": affected.get("versions") or [],
            "version_index": version_index(package["ecosystem"], affected.get("versions") or []),
        }


# --- export -----------------------------------------------------------------------------------


def _imported(ctx: Context, ref: str) -> ImportedAdvisory:
    advisory = ctx.session.scalar(
        select(ImportedAdvisory)
        .join(AdvisoryAlias, AdvisoryAlias.advisory_id == ImportedAdvisory.id)
        .where(AdvisoryAlias.alias == ref, imported_audience(ctx.actor))
    )
    if advisory is None:
        raise NotFound(f"advisory {ref} not found")
    return advisory


def export(ctx: Context, ref: str, fmt: ExportFormat, *, cve: str | None = None) -> ExportOut:
    """One advisory the caller may see (ours by `PDXA-...` number, an imported one by any of
    its ids) in `fmt`, if that format applies to it. A CVE record is one CVE's: `cve` picks it
    when the advisory covers several."""
    ref = ref.removeprefix(UNREGISTERED_PREFIX)
    if not ref.upper().startswith("PDXA-"):
        imported = _imported(ctx, ref)
        _require_applicable(ref, fmt, [ExportFormat.OSV])
        return ExportOut(id=imported.record_id, format=fmt, content=merged_record(imported))
    published = _Published.of(ctx, visible_advisory(ctx, ref))
    document = published.document
    if fmt is ExportFormat.CVE5 and _cve_applies(document):
        chosen = _chosen_cve(document, cve)
        if not document.references:
            raise InvalidInput(
                f"a CVE record needs at least one reference: add one to {document.id}",
                field="references",
            )
        return _cve_record(ctx, published, chosen)
    _require_applicable(ref, fmt, formats_for(document))
    return _export(ctx, published, fmt)


def export_all(ctx: Context, fmt: ExportFormat) -> BulkExportOut:
    """Every published advisory of ours the caller may see, in `fmt` where it applies (a CVE
    record per CVE), and the others with the reason they were left out."""
    exported: list[ExportOut] = []
    skipped: list[SkippedExportOut] = []
    for advisory in published_advisories(ctx):
        published = _Published.of(ctx, advisory)
        document = published.document
        if fmt not in formats_for(document):
            reason = f"{fmt.value} does not apply: {_NOT_APPLICABLE[fmt]}"
            skipped.append(SkippedExportOut(id=document.id, reason=reason))
            continue
        try:
            if fmt is ExportFormat.CVE5:
                exported += [_cve_record(ctx, published, c) for c in cve_ids(document)]
            else:
                exported.append(_export(ctx, published, fmt))
        except Conflict as exc:
            skipped.append(SkippedExportOut(id=document.id, reason=exc.message))
    return BulkExportOut(format=fmt, exported=exported, skipped=skipped)


@dataclass(frozen=True)
class _Published:
    """A published advisory's current revision, and the published revisions up to it."""

    advisory: Advisory
    document: AdvisoryDocument
    revisions: list[AdvisoryRevision]
    published_at: datetime
    modified: datetime

    @classmethod
    def of(cls, ctx: Context, advisory: Advisory) -> _Published:
        revisions = published_revisions(ctx.session, advisory.id)
        current = next((r for r in revisions if r.number == advisory.published_revision), None)
        if current is None or current.published_at is None or advisory.published_at is None:
            raise NotFound(f"advisory {advisory.number} has no published revision to export")
        return cls(
            advisory=advisory,
            document=AdvisoryDocument.model_validate(current.content),
            revisions=[r for r in revisions if r.number <= current.number],
            published_at=advisory.published_at,
            modified=current.published_at,
        )


def _export(ctx: Context, published: _Published, fmt: ExportFormat) -> ExportOut:
    document = published.document
    if fmt is ExportFormat.OSV:
        content = advisory_to_osv(document, published.published_at, published.modified)
    elif fmt in (ExportFormat.CSAF, ExportFormat.CSAF_VEX):
        content = _csaf(ctx, published, fmt)
    elif fmt is ExportFormat.STIX:
        content = advisory_to_stix(document, published=published.published_at,
                                   modified=published.modified, agency=stix_agency(ctx))  # fmt: skip
    else:
        content = advisory_to_avid(document, published.published_at)
    return ExportOut(id=document.id, format=fmt, content=content)


def _cve_record(ctx: Context, published: _Published, cve_id: str) -> ExportOut:
    org_id, short_name = _cna(ctx)
    record = cve_record(published.document, cve_id, published.published_at, published.modified,
                        org_id, short_name)  # fmt: skip
    return ExportOut(id=cve_id, format=ExportFormat.CVE5, content=record)


def _csaf(ctx: Context, published: _Published, fmt: ExportFormat) -> dict[str, Any]:
    document = published.document
    revisions = [
        Revision(r.number, r.published_at, "Initial release" if r.number == 1 else
                 f"Revision {r.number}")
        for r in published.revisions
        if r.published_at is not None
    ]  # fmt: skip
    content = advisory_to_csaf(
        document,
        vex=fmt is ExportFormat.CSAF_VEX,
        publisher_name=agency_name(ctx),
        publisher_namespace=ctx.settings.public_url,
        revisions=revisions,
    )
    problems = mandatory_problems(content)
    if problems:
        raise Conflict(f"the CSAF document of {document.id} would fail CSAF's mandatory test "
                       f"{problems[0]}", field="format")  # fmt: skip
    return content


def _agency(ctx: Context) -> Organization | None:
    agency_id = agency_org_id(ctx.session)
    return ctx.session.get(Organization, agency_id) if agency_id else None


def agency_name(ctx: Context) -> str:
    """The agency's name, as publisher of what the clearinghouse shares."""
    agency = _agency(ctx)
    return agency.name if agency else "predeploy"


def stix_agency(ctx: Context) -> Agency:
    """The agency as the STIX identity of what the clearinghouse shares."""
    agency = _agency(ctx)
    if agency is None:
        return Agency("predeploy", datetime(2026, 1, 1, tzinfo=UTC))
    return Agency(agency.name, agency.created_at)


def _chosen_cve(document: AdvisoryDocument, cve: str | None) -> str:
    ids = cve_ids(document)
    if cve is not None:
        if cve not in ids:
            raise InvalidInput(f"{document.id} covers {', '.join(ids)}, not {cve}", field="cve")
        return cve
    if len(ids) > 1:
        raise InvalidInput(
            f"{document.id} covers {', '.join(ids)}: choose one with cve=", field="cve"
        )
    return ids[0]


def _cna(ctx: Context) -> tuple[str, str]:
    """The CNA's organisational UUID and short name: as configured, else the agency's (a CVE
    record is only exported from a published advisory, so the agency exists)."""
    settings = ctx.settings
    agency = _agency(ctx)
    if agency is None:
        raise Conflict("CVE records need the agency's org: bootstrap the agency first")
    org_id = settings.cve_cna_org_id or agency.id
    name = settings.cve_cna_short_name or re.sub(r"[^A-Za-z0-9_-]+", "-", agency.name)
    return org_id, name.strip("-")[:32] or "predeploy"


def _cve_applies(document: AdvisoryDocument) -> bool:
    """Software named by a purl or CPE, and a CVE id (a reference is needed too)."""
    return bool(cve_affected(document.affected) and cve_ids(document))


def formats_for(document: AdvisoryDocument) -> list[ExportFormat]:
    """The formats that apply to a published advisory."""
    formats = [ExportFormat.STIX]
    if document.affected:
        formats += [ExportFormat.CSAF, ExportFormat.CSAF_VEX]
    if osv_affected(document.affected):
        formats.append(ExportFormat.OSV)
    if _cve_applies(document) and document.references:
        formats.append(ExportFormat.CVE5)
    if avid_applies(document):
        formats.append(ExportFormat.AVID)
    return formats


_NOT_APPLICABLE = {
    ExportFormat.OSV: "OSV describes open-source packages, and this advisory names none "
    "by a purl of an OSV ecosystem (an AI model or a CPE-named product is not one)",
    ExportFormat.STIX: "",
    ExportFormat.CSAF: "it names no affected product",
    ExportFormat.CSAF_VEX: "it names no affected product",
    ExportFormat.CVE5: "a CVE record is for software named by a purl or CPE, with a CVE id "
    "assigned to one of the case's vulnerabilities (CVEs are not for a model's statistical "
    "behaviour), and needs at least one reference",
    ExportFormat.AVID: "AVID reports are for AI-model vulnerabilities, and this advisory names "
    "no AI model",
}


def _require_applicable(ref: str, fmt: ExportFormat, applicable: list[ExportFormat]) -> None:
    if fmt in applicable:
        return
    names = ", ".join(f.value for f in applicable) or "none yet"
    raise InvalidInput(f"{fmt.value} does not apply to {ref}: {_NOT_APPLICABLE[fmt]}; formats "
                       f"that apply: {names}", field="format")  # fmt: skip
