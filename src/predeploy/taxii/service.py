"""Rules of the TAXII 2.1 server: one API root (`clearinghouse`) and four collections.

| collection | holds | reads | writes |
|---|---|---|---|
| `public` | published TLP:CLEAR advisories | everyone, without a token | no one |
| `community` | published TLP:GREEN advisories | token holders (each sees what the sharing rules give them: the community's participant orgs, recipients, case participants) | no one |
| `partners` | published AMBER, AMBER+STRICT and RED advisories, and vulnerability reports | token holders (likewise) | no one |
| `reports` | an inbox: posted `vulnerability` objects become vulnerability reports in the triage queue | no one | members of participant orgs, with a write-scope token |

Every collection holds only what its reader may see (`_view`), so a collection a caller may read
never shows more than the API would. A collection that a caller may neither read nor write is
not listed to them and answers 404 (401 without a token); one they see but may not read or
write answers 403.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from ..accounts.actor import Actor
from ..accounts.models import Capacity, Scope
from ..audit.service import record
from ..clearinghouse._visibility import sees_everything
from ..clearinghouse.models import Tlp
from ..clearinghouse.service import agency_org_id, file_vuln
from ..errors import (
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PredeployError,
    first_validation_error,
)
from ..runtime import Context
from . import _filters, _view
from ._intake import LABELS, MAX_DEPTH, too_deep, vuln_create
from .models import TaxiiStatus, TaxiiStatusObject
from .protocol import STIX_MEDIA_TYPE, TAXII_MEDIA_TYPE, Malformed
from .schemas import (
    ApiRootOut,
    CollectionOut,
    CollectionsOut,
    DiscoveryOut,
    StatusDetail,
    StatusOut,
    StixVulnerabilityIn,
    taxii_time,
)

API_ROOT = "clearinghouse"
MAX_OBJECTS = 200
"""Objects one post may carry: each is filed in the request's one write transaction, so this
bounds how long a post holds it (the intake's hourly rate limit is lower still by default)."""


@dataclass(frozen=True)
class Collection:
    """A collection: which advisories it holds (by label), whether it holds vulnerability
    reports, or whether it is the inbox that posted reports go to."""

    id: str
    alias: str
    title: str
    description: str
    labels: frozenset[Tlp] = frozenset()
    reports: bool = False
    inbox: bool = False


PUBLIC = Collection(
    "74f0a475-5791-4b61-a5e8-30bab921cdea",
    "public",
    "Public advisories",
    "Published TLP:CLEAR advisories, as STIX 2.1 objects. No token needed.",
    labels=frozenset({Tlp.CLEAR}),
)
COMMUNITY = Collection(
    "da484aed-7910-41d4-a7ec-c1cf14685f12",
    "community",
    "Community advisories",
    "Published TLP:GREEN advisories, for the community's participant organisations (and the "
    "recipients and case participants of each).",
    labels=frozenset({Tlp.GREEN}),
)
PARTNERS = Collection(
    "816321fd-dd92-4594-80cb-67afdaa5ca39",
    "partners",
    "Partner advisories and vulnerability reports",
    "Published TLP:AMBER, AMBER+STRICT and RED advisories your organisation receives, and the "
    "vulnerability reports you may see; proofs of concept only for those they are released to.",
    labels=frozenset({Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED}),
    reports=True,
)
REPORTS = Collection(
    "9c4a0e09-d5e9-4a60-848f-7b3e9576f3df",
    "reports",
    "Vulnerability report inbox",
    "Post STIX 2.1 vulnerability objects here: each becomes a vulnerability report in the "
    "clearinghouse's triage queue. For members of participant organisations.",
    inbox=True,
)
COLLECTIONS = (PUBLIC, COMMUNITY, PARTNERS, REPORTS)


def can_read(actor: Actor, collection: Collection) -> bool:
    """Whether `actor` may read `collection` (what they read in it is still only what the sharing
    rules let them see)."""
    return collection is PUBLIC or (not collection.inbox and not actor.anonymous)


def can_write(actor: Actor, collection: Collection) -> bool:
    """Whether `actor` may post to `collection`: the inbox, for members of participant orgs
    holding a write-scope token."""
    return (
        collection.inbox and Capacity.PARTICIPANT in actor.capacities and actor.holds(Scope.WRITE)
    )


def _api_root_url(ctx: Context) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/taxii2/{API_ROOT}/"


def discovery(ctx: Context) -> DiscoveryOut:
    """The server's discovery resource: its one API root."""
    root = _api_root_url(ctx)
    return DiscoveryOut(
        title="predeploy TAXII server",
        description="Advisories and vulnerability reports of the AI cybersecurity "
        "clearinghouse, under TLP 2.0.",
        default=root,
        api_roots=[root],
    )


def api_root(ctx: Context) -> ApiRootOut:
    """The API root: TAXII 2.1, and the largest request body it takes."""
    return ApiRootOut(
        title="Clearinghouse",
        description="Advisories and vulnerability reports, and an inbox for new reports.",
        versions=[TAXII_MEDIA_TYPE],
        max_content_length=ctx.settings.taxii_max_content_length,
    )


def _collection_out(actor: Actor, collection: Collection) -> CollectionOut:
    return CollectionOut(
        id=collection.id,
        title=collection.title,
        description=collection.description,
        alias=collection.alias,
        can_read=can_read(actor, collection),
        can_write=can_write(actor, collection),
        media_types=[STIX_MEDIA_TYPE],
    )


def _listed(actor: Actor, collection: Collection) -> bool:
    return can_read(actor, collection) or can_write(actor, collection)


def list_collections(ctx: Context) -> CollectionsOut:
    """The collections the caller may read or write, with what they may do in each."""
    return CollectionsOut(
        collections=[_collection_out(ctx.actor, c) for c in COLLECTIONS if _listed(ctx.actor, c)]
    )


def _collection(ctx: Context, ref: str) -> Collection:
    """A collection by id or alias, if the caller may read or write it."""
    collection = next((c for c in COLLECTIONS if ref in (c.id, c.alias)), None)
    if collection is not None and not _listed(ctx.actor, collection):
        if ctx.actor.anonymous:
            raise NotAuthenticated(
                f"collection {ref} needs a bearer token: send 'Authorization: Bearer <token>'"
            )
        collection = None
    if collection is None:
        raise NotFound(f"collection {ref} not found")
    return collection


def get_collection(ctx: Context, ref: str) -> CollectionOut:
    """One collection the caller may read or write."""
    return _collection_out(ctx.actor, _collection(ctx, ref))


def _readable(ctx: Context, ref: str) -> list[_view.Entry]:
    collection = _collection(ctx, ref)
    if not can_read(ctx.actor, collection):
        raise PermissionDenied(
            f"collection {collection.alias} is an inbox: it takes vulnerability reports and "
            "serves none (read them through the API)"
        )
    return _view.entries(ctx, collection.labels, reports=collection.reports)


@dataclass(frozen=True)
class Listing:
    """A page of a TAXII listing, with the first and last `date_added` it holds."""

    body: dict[str, Any]
    first_added: str | None
    last_added: str | None


def _listing(page: _filters.Page, key: str, items: Sequence[Any]) -> Listing:
    body: dict[str, Any] = {"more": page.more}
    if page.next is not None:
        body["next"] = page.next
    if items:
        body[key] = list(items)
    if not page.items:
        return Listing(body, None, None)
    first, last = page.items[0].date_added, page.items[-1].date_added
    return Listing(body, taxii_time(first), taxii_time(last))


def get_objects(ctx: Context, ref: str, filters: _filters.Filters) -> Listing:
    """The object versions of a collection that `filters` select (an envelope)."""
    page = _filters.page(_filters.matching(_readable(ctx, ref), filters), filters)
    return _listing(page, "objects", [entry.stix for entry in page.items])


def get_manifest(ctx: Context, ref: str, filters: _filters.Filters) -> Listing:
    """What `get_objects` would serve, as manifest records."""
    page = _filters.page(_filters.matching(_readable(ctx, ref), filters), filters)
    records = [
        {
            "id": entry.id,
            "date_added": taxii_time(entry.date_added),
            "version": entry.version_text,
            "media_type": STIX_MEDIA_TYPE,
        }
        for entry in page.items
    ]
    return _listing(page, "objects", records)


def _versions_of(ctx: Context, ref: str, object_id: str) -> list[_view.Entry]:
    versions = [entry for entry in _readable(ctx, ref) if entry.id == object_id]
    if not versions:
        raise NotFound(f"object {object_id} not found in collection {ref}")
    return versions


def get_object(ctx: Context, ref: str, object_id: str, filters: _filters.Filters) -> Listing:
    """The versions of one object that `filters` select (by default its latest)."""
    versions = _versions_of(ctx, ref, object_id)
    page = _filters.page(_filters.matching(versions, filters), filters)
    return _listing(page, "objects", [entry.stix for entry in page.items])


def get_versions(ctx: Context, ref: str, object_id: str, filters: _filters.Filters) -> Listing:
    """The versions of one object, oldest first."""
    versions = _versions_of(ctx, ref, object_id)
    every = replace(filters, ids=frozenset(), types=frozenset(), versions=("all",))
    page = _filters.page(_filters.matching(versions, every), every)
    return _listing(page, "versions", [entry.version_text for entry in page.items])


# --- adding objects ---------------------------------------------------------------------------


def _envelope_objects(body: bytes) -> list[Any]:
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise Malformed("the body is not JSON (or nests deeper than JSON parsing allows)") from exc
    objects = envelope.get("objects") if isinstance(envelope, dict) else None
    if not isinstance(objects, list) or not objects:
        raise InvalidInput(
            'the body is not a TAXII envelope with objects: send {"objects": [...]}',
            field="objects",
        )
    if len(objects) > MAX_OBJECTS:
        raise InvalidInput(
            f"an envelope carries at most {MAX_OBJECTS} objects; this one has {len(objects)}: "
            "send them in several",
            field="objects",
        )
    return objects


@dataclass(frozen=True)
class _Outcome:
    object_id: str
    version: str
    message: str
    vuln_id: str | None = None
    success: bool = False


def _named(item: Any) -> tuple[str, str]:
    """The id and version an object claims, as far as it claims any (for the status)."""
    if not isinstance(item, dict):
        return "", ""
    version = item.get("modified") or item.get("created") or ""
    return str(item.get("id", ""))[:300], str(version)[:40]


def _already_filed(ctx: Context, object_id: str, version: str) -> TaxiiStatusObject | None:
    return ctx.session.scalar(
        select(TaxiiStatusObject)
        .join(TaxiiStatus, TaxiiStatus.id == TaxiiStatusObject.status_id)
        .where(
            TaxiiStatusObject.object_id == object_id,
            TaxiiStatusObject.version == version,
            TaxiiStatusObject.success.is_(True),
            TaxiiStatusObject.vuln_id.is_not(None),
            TaxiiStatus.org_id == ctx.actor.org_id,
        )
        .limit(1)
    )


def _receive(ctx: Context, item: Any) -> _Outcome:
    """File one posted object as a vulnerability report, or say why not."""
    object_id, version = _named(item)
    kind = item.get("type") if isinstance(item, dict) else None
    if kind == "marking-definition" and object_id in LABELS:
        return _Outcome(object_id, version, "a TLP 2.0 marking definition: known", success=True)
    if kind != "vulnerability":
        return _Outcome(object_id, version, f"{kind or 'an object without a type'} is not taken: "
                        "this collection files vulnerability objects")  # fmt: skip
    if too_deep(item):
        return _Outcome(object_id, version, f"the object nests deeper than {MAX_DEPTH} levels")
    try:
        stix = StixVulnerabilityIn.model_validate(item)
    except ValidationError as exc:
        return _Outcome(object_id, version, first_validation_error(exc).message)
    earlier = _already_filed(ctx, stix.id, stix.modified)
    if earlier is not None:
        return _Outcome(object_id, version, f"already filed as vulnerability report "
                        f"{earlier.vuln_id} (status {earlier.status_id})")  # fmt: skip
    try:
        data = vuln_create(stix)
        # Each object in a savepoint of its own: one refused object leaves the others filed.
        with ctx.session.begin_nested():
            vuln = file_vuln(ctx, data)
    except PredeployError as exc:
        return _Outcome(object_id, version, exc.message)
    return _Outcome(object_id, version, f"filed as vulnerability report {vuln.id}", vuln.id,
                    success=True)  # fmt: skip


def add_objects(ctx: Context, ref: str, body: bytes) -> StatusOut:
    """File the `vulnerability` objects of an envelope as vulnerability reports, each in its own
    outcome (TLP 2.0 marking definitions are known and taken as they are; anything else fails),
    and keep the status. Audited as `taxii.objects_added`, under the poster's org and the
    agency's."""
    collection = _collection(ctx, ref)
    # Whoever is shown the inbox may write to it, so only the read-only collections refuse here.
    if not can_write(ctx.actor, collection):
        raise PermissionDenied(
            f"collection {collection.alias} is read-only: post vulnerability reports to the "
            f"{REPORTS.alias} collection"
        )
    objects = _envelope_objects(body)
    actor = ctx.actor
    assert actor.org_id is not None  # a participant org's member
    status = TaxiiStatus(collection_id=collection.id, org_id=actor.org_id, user_id=actor.user_id,
                         request_timestamp=ctx.now())  # fmt: skip
    ctx.session.add(status)
    ctx.session.flush()
    rows = []
    for position, item in enumerate(objects):
        outcome = _receive(ctx, item)
        rows.append(
            TaxiiStatusObject(
                status_id=status.id,
                position=position,
                object_id=outcome.object_id,
                version=outcome.version,
                success=outcome.success,
                message=outcome.message,
                vuln_id=outcome.vuln_id,
            )
        )
    ctx.session.add_all(rows)
    ctx.session.flush()
    summary = {
        "collection": collection.alias,
        "total": len(rows),
        "succeeded": sum(row.success for row in rows),
        "failed": sum(not row.success for row in rows),
    }
    change = summary | {"objects": [[r.object_id, r.version, r.vuln_id] for r in rows]}
    record(ctx, "taxii.objects_added", "taxii_status", status.id, change, detail=summary)
    agency = agency_org_id(ctx.session)
    if agency is not None and agency != actor.org_id:
        record(ctx, "taxii.objects_added", "taxii_status", status.id, change, org_id=agency,
               detail=summary)  # fmt: skip
    return _status_out(status, rows)


def _status_out(status: TaxiiStatus, rows: Sequence[TaxiiStatusObject]) -> StatusOut:
    def details(success: bool) -> list[StatusDetail]:
        return [
            StatusDetail(id=row.object_id, version=row.version, message=row.message)
            for row in sorted(rows, key=lambda row: row.position)
            if row.success is success
        ]

    successes, failures = details(True), details(False)
    return StatusOut(
        id=status.id,
        request_timestamp=taxii_time(status.request_timestamp),
        total_count=len(rows),
        success_count=len(successes),
        successes=successes or None,
        failure_count=len(failures),
        failures=failures or None,
    )


def get_status(ctx: Context, status_id: str) -> StatusOut:
    """The status of an add request: for the poster's org and the agency's analysts."""
    status = ctx.session.get(TaxiiStatus, status_id)
    if status is None or not (sees_everything(ctx.actor) or ctx.actor.in_org(status.org_id)):
        raise NotFound(f"status {status_id} not found")
    rows = ctx.session.scalars(
        select(TaxiiStatusObject).where(TaxiiStatusObject.status_id == status.id)
    ).all()
    return _status_out(status, rows)
