"""Feeds of advisories, per audience: an Atom 1.0 feed (RFC 4287) and a JSON Feed 1.1.

The same URL gives each caller the advisories they may see (`_visibility.advisory_audience` and
`imported_audience`): without a token, published CLEAR advisories and CLEAR imported ones.

**Entries**: one per published advisory of ours (`updated` is when its current revision was
published, `published` when its first one was) and one per imported advisory (`updated` is
when this server last changed it, on import or on a newer record: that is when it changed for
a poller; the record's own `modified` goes with it). Drafts are never in a feed, not even the
agency's. Entries come newest change first, ties broken by row id; `updated_after` keeps only
later changes and a keyset `cursor` pages through older ones, so a poller that follows `next`
links misses nothing, even when one import changed thousands of advisories in the same instant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

from feedgen.feed import FeedGenerator  # type: ignore[import-untyped]
from feedgen.util import xml_elem  # type: ignore[import-untyped]
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, or_, select

from .. import __version__
from ..clearinghouse._visibility import advisory_audience, imported_audience
from ..clearinghouse.models import Advisory, AdvisoryRevision, Tlp
from ..clearinghouse.schemas import AdvisoryDocument
from ..errors import InvalidInput
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from ..runtime import Context
from .models import ImportedAdvisory
from .schemas import ExportFormat
from .service import agency_name, formats_for

ATOM_MEDIA_TYPE = "application/atom+xml"
JSON_FEED_MEDIA_TYPE = "application/feed+json"
FEEDS_PATH = "/api/v1/clearinghouse/feeds/advisories"
ADVISORIES_PATH = "/api/v1/clearinghouse/advisories"
TLP_SCHEME = "https://www.first.org/tlp/"
ALIAS_SCHEME = "urn:predeploy:alias"
STATUS_SCHEME = "urn:predeploy:status"

# Characters XML 1.0 cannot carry: imported records are other people's text, and one stray
# control character must not make the whole feed unrenderable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --- JSON Feed 1.1 ----------------------------------------------------------------------------


class JsonFeedAuthor(BaseModel):
    name: str


class JsonFeedAttachment(BaseModel):
    """A related document: one export of the advisory."""

    url: str
    mime_type: str
    title: str


class FeedItemExtension(BaseModel):
    """What a machine needs besides the feed's own fields (JSON Feed `_predeploy` extension)."""

    kind: Literal["advisory", "imported"]
    id: str = Field(description="`PDXA-...` for ours; the first imported record's id otherwise.")
    tlp: Tlp
    aliases: list[str]
    revision: int | None = Field(default=None, description="Ours: the published revision.")
    formats: list[ExportFormat] = Field(description="The export formats that apply.")
    modified: datetime | None = Field(
        default=None, description="Imported: the record's own `modified`."
    )
    withdrawn: datetime | None = Field(default=None, description="Imported: if withdrawn.")


class JsonFeedItem(BaseModel):
    id: str
    url: str
    title: str
    content_text: str
    summary: str | None = None
    date_published: datetime | None = None
    date_modified: datetime
    tags: list[str]
    attachments: list[JsonFeedAttachment]
    predeploy: FeedItemExtension = Field(serialization_alias="_predeploy")


class JsonFeed(BaseModel):
    """A JSON Feed 1.1 document (https://jsonfeed.org/version/1.1)."""

    version: Literal["https://jsonfeed.org/version/1.1"] = "https://jsonfeed.org/version/1.1"
    title: str
    home_page_url: str
    feed_url: str
    description: str
    next_url: str | None = None
    authors: list[JsonFeedAuthor]
    language: str = "en"
    items: list[JsonFeedItem]


# --- entries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedLink:
    href: str
    title: str


@dataclass(frozen=True)
class FeedEntry:
    """One advisory as a feed entry, whatever the feed's format."""

    row_id: str
    """The advisory's row id: the tie-break of the order, and half of a cursor."""
    urn: str
    title: str
    text: str
    summary: str | None
    updated: datetime
    published: datetime | None
    link: FeedLink
    exports: list[FeedLink]
    extension: FeedItemExtension

    @property
    def tags(self) -> list[str]:
        withdrawn = ["withdrawn"] if self.extension.withdrawn is not None else []
        return [f"TLP:{self.extension.tlp.value}", *self.extension.aliases, *withdrawn]


@dataclass(frozen=True)
class Feed:
    """The entries one caller may see, newest change first, and what a page needs to link on."""

    title: str
    author: str
    base_url: str
    updated: datetime
    entries: list[FeedEntry]
    limit: int
    updated_after: datetime | None
    next_cursor: str | None

    def url(self, suffix: str, cursor: str | None = None) -> str:
        """This feed in the format `suffix` (`atom` or `json`), at `cursor` if given."""
        params = {"limit": str(self.limit)} if self.limit != DEFAULT_LIMIT else {}
        if self.updated_after is not None:
            params["updated_after"] = self.updated_after.isoformat()
        if cursor is not None:
            params["cursor"] = cursor
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url}{FEEDS_PATH}.{suffix}{query}"


def _after(
    updated: SQLColumnExpression[Any],
    row_id: SQLColumnExpression[str],
    updated_after: datetime | None,
    cursor: tuple[datetime, str] | None,
) -> list[ColumnElement[bool]]:
    """Changed after `updated_after`, and older than the last entry of the page before."""
    conditions = [] if updated_after is None else [updated > updated_after]
    if cursor is not None:
        at, last = cursor
        conditions.append(or_(updated < at, and_(updated == at, row_id < last)))
    return conditions


def _ours(
    ctx: Context,
    base: str,
    limit: int,
    updated_after: datetime | None,
    cursor: tuple[datetime, str] | None,
) -> list[FeedEntry]:
    published_at = AdvisoryRevision.published_at
    rows = ctx.session.execute(
        select(Advisory.id, Advisory.published_at, published_at, AdvisoryRevision.content)
        .join(
            AdvisoryRevision,
            and_(
                AdvisoryRevision.advisory_id == Advisory.id,
                AdvisoryRevision.number == Advisory.published_revision,
            ),
        )
        .where(
            advisory_audience(ctx.actor, ctx.now()),
            published_at.is_not(None),
            *_after(published_at, Advisory.id, updated_after, cursor),
        )
        .order_by(published_at.desc(), Advisory.id.desc())
        .limit(limit)
    ).all()
    entries = []
    for row_id, first, updated, content in rows:
        document = AdvisoryDocument.model_validate(content)
        read = f"{base}{ADVISORIES_PATH}/{quote(document.id, safe='')}"
        formats = formats_for(document)
        text = [document.summary, document.details, f"Remediation: {document.remediation}"]
        entries.append(
            FeedEntry(
                row_id=row_id,
                urn=f"urn:predeploy:advisory:{document.id}",
                title=f"{document.id}: {document.title}",
                text="\n\n".join(part for part in text if part),
                summary=document.summary,
                updated=updated,
                published=first,
                link=FeedLink(read, "advisory"),
                exports=[FeedLink(f"{read}/export?format={f.value}", f.value) for f in formats],
                extension=FeedItemExtension(
                    kind="advisory",
                    id=document.id,
                    tlp=document.tlp,
                    aliases=document.aliases,
                    revision=document.revision,
                    formats=formats,
                ),
            )
        )
    return entries


def _imported(
    ctx: Context,
    base: str,
    limit: int,
    updated_after: datetime | None,
    cursor: tuple[datetime, str] | None,
) -> list[FeedEntry]:
    imported = ImportedAdvisory
    # Only the columns an entry shows: the stored record can be large.
    rows = ctx.session.execute(
        select(imported.id, imported.record_id, imported.tlp, imported.summary, imported.aliases,
               imported.modified, imported.published, imported.withdrawn, imported.updated_at)
        .where(imported_audience(ctx.actor),
               *_after(imported.updated_at, imported.id, updated_after, cursor))
        .order_by(imported.updated_at.desc(), imported.id.desc())
        .limit(limit)
    ).all()  # fmt: skip
    entries = []
    for row_id, record_id, tlp, summary, aliases, modified, published, withdrawn, updated in rows:
        osv = FeedLink(
            f"{base}{ADVISORIES_PATH}/{quote(record_id, safe='')}/export?format=osv", "osv"
        )
        entries.append(
            FeedEntry(
                row_id=row_id,
                urn=f"urn:predeploy:imported:{record_id}",
                title=f"{record_id}: {summary}" if summary else record_id,
                text=summary or "No summary in the imported record.",
                summary=summary,
                updated=updated,
                published=published,
                link=osv,
                exports=[osv],
                extension=FeedItemExtension(
                    kind="imported",
                    id=record_id,
                    tlp=Tlp(tlp),
                    aliases=list(aliases),
                    formats=[ExportFormat.OSV],
                    modified=modified,
                    withdrawn=withdrawn,
                ),
            )
        )
    return entries


def _order(entry: FeedEntry) -> tuple[datetime, str]:
    return entry.updated, entry.row_id


def advisory_feed(
    ctx: Context,
    *,
    limit: int = DEFAULT_LIMIT,
    updated_after: datetime | None = None,
    cursor: str | None = None,
) -> Feed:
    """The advisories the caller may see, ours and imported, newest change first: at most
    `limit`, changed after `updated_after` if given, older than `cursor` (a page's `next`)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if updated_after is not None and updated_after.tzinfo is None:
        raise InvalidInput(
            "updated_after needs a time zone offset (RFC 3339)", field="updated_after"
        )
    at = decode_cursor(cursor) if cursor else None
    base = ctx.settings.public_url.rstrip("/")
    # Each source's newest `limit + 1` under the same order hold the merged newest `limit + 1`.
    found = _ours(ctx, base, limit + 1, updated_after, at)
    found += _imported(ctx, base, limit + 1, updated_after, at)
    found.sort(key=_order, reverse=True)
    entries = found[:limit]
    more = len(found) > limit
    author = agency_name(ctx)
    return Feed(
        title=f"{author}: advisories",
        author=author,
        base_url=base,
        updated=entries[0].updated if entries else (updated_after or ctx.now()),
        entries=entries,
        limit=limit,
        updated_after=updated_after,
        next_cursor=encode_cursor(*_order(entries[-1])) if more else None,
    )


# --- renderings -------------------------------------------------------------------------------

_DESCRIPTION = (
    "Advisories published by this clearinghouse and advisories it imported, as far as you may "
    "see them, newest change first."
)


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


class _EntryLinks:
    """Writes an entry's links with their `rel`, `type` and `title`: feedgen 1.0.0 writes only
    the `href` of an entry's links (lkiesow/python-feedgen#135). A feedgen entry extension."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_atom(self, entry: Any) -> Any:
        for link in self.links:
            xml_elem("link", entry, **link)
        return entry

    def extend_rss(self, item: Any) -> Any:
        return item


def _atom_links(entry: FeedEntry) -> Iterable[dict[str, str]]:
    yield {"href": entry.link.href, "rel": "alternate", "type": "application/json",
           "title": entry.link.title}  # fmt: skip
    for export in entry.exports:
        if export != entry.link:
            yield {"href": export.href, "rel": "related", "type": "application/json",
                   "title": export.title}  # fmt: skip


def atom(feed: Feed) -> bytes:
    """`feed` as an Atom 1.0 document (RFC 4287), built with feedgen."""
    generator = FeedGenerator()
    # The feed's id is its URL without a page's parameters: the same feed, whatever the page.
    generator.id(f"{feed.base_url}{FEEDS_PATH}.atom")
    generator.title(_xml(feed.title))
    generator.subtitle(_DESCRIPTION)
    generator.updated(feed.updated)
    generator.author(name=_xml(feed.author))
    generator.generator("predeploy", version=__version__)
    generator.language("en")
    generator.link(href=feed.url("atom"), rel="self", type=ATOM_MEDIA_TYPE)
    generator.link(href=feed.url("json"), rel="alternate", type=JSON_FEED_MEDIA_TYPE)
    if feed.next_cursor is not None:
        generator.link(href=feed.url("atom", feed.next_cursor), rel="next", type=ATOM_MEDIA_TYPE)
    for entry in feed.entries:
        item = generator.add_entry(order="append")
        item.id(entry.urn)
        item.title(_xml(entry.title))
        item.updated(entry.updated)
        if entry.published is not None:
            item.published(entry.published)
        item.content(_xml(entry.text), type="text")
        if entry.summary is not None:
            item.summary(_xml(entry.summary), type="text")
        tlp = f"TLP:{entry.extension.tlp.value}"
        item.category(term=tlp, scheme=TLP_SCHEME, label=tlp)
        for alias in entry.extension.aliases:
            item.category(term=_xml(alias), scheme=ALIAS_SCHEME)
        if entry.extension.withdrawn is not None:
            item.category(term="withdrawn", scheme=STATUS_SCHEME)
        item.register_extension("predeploy_links", _EntryLinks, atom=True, rss=False)
        item.predeploy_links.links = list(_atom_links(entry))
    body: bytes = generator.atom_str(pretty=False)
    return body


def json_feed(feed: Feed) -> JsonFeed:
    """`feed` as a JSON Feed 1.1 document."""
    return JsonFeed(
        title=feed.title,
        home_page_url=feed.base_url,
        feed_url=feed.url("json"),
        description=_DESCRIPTION,
        next_url=feed.url("json", feed.next_cursor) if feed.next_cursor else None,
        authors=[JsonFeedAuthor(name=feed.author)],
        items=[
            JsonFeedItem(
                id=entry.urn,
                url=entry.link.href,
                title=entry.title,
                content_text=entry.text,
                summary=entry.summary,
                date_published=entry.published,
                date_modified=entry.updated,
                tags=entry.tags,
                attachments=[
                    JsonFeedAttachment(url=e.href, mime_type="application/json", title=e.title)
                    for e in entry.exports
                ],
                predeploy=entry.extension,
            )
            for entry in feed.entries
        ],
    )


def json_feed_bytes(feed: Feed) -> bytes:
    """`feed` as JSON Feed 1.1 bytes (optional members left out rather than null)."""
    return json_feed(feed).model_dump_json(by_alias=True, exclude_none=True).encode()
