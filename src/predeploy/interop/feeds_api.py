"""HTTP routes of the advisory feeds, under `/api/v1/clearinghouse/feeds`.

Public like the advisory read routes: without a token they serve the public's feed, with one
the caller's. A poller sends back the `ETag` it got in `If-None-Match` and gets 304 while nothing
it may see has changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from ..pagination import DEFAULT_LIMIT, PageLimit
from ..runtime import Context
from ..web_deps import PublicContext, call
from . import feeds
from .feeds import ATOM_MEDIA_TYPE, JSON_FEED_MEDIA_TYPE, Feed, JsonFeed

router = APIRouter(prefix="/api/v1/clearinghouse/feeds", tags=["clearinghouse feeds"])

UpdatedAfter = Annotated[
    AwareDatetime | None,
    Query(description="Only advisories changed after this instant (RFC 3339, with an offset): "
          "pass the `updated` of the last feed you read."),
]  # fmt: skip
Cursor = Annotated[str | None, Query(description="The next page, as the `next` link gives it.")]
IfNoneMatch = Annotated[str | None, Header(description="The `ETag` of the feed you last read.")]
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Nothing you may see changed since that `ETag`."}
}


class _AtomResponse(Response):
    media_type = ATOM_MEDIA_TYPE


class _JsonFeedResponse(JSONResponse):
    """A JSON Feed, already encoded: a JSON response, so that OpenAPI shows its schema."""

    media_type = JSON_FEED_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return bytes(content)


@router.get(
    "/advisories.atom",
    response_class=_AtomResponse,
    responses=_NOT_MODIFIED,
)
async def atom_feed(
    ctx: PublicContext,
    limit: PageLimit = DEFAULT_LIMIT,
    updated_after: UpdatedAfter = None,
    cursor: Cursor = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The advisories you may see as an Atom 1.0 feed, newest change first (no token: the
    public ones)."""
    feed, body = await call(_page, ctx, feeds.atom, limit, updated_after, cursor)
    return _conditional(_AtomResponse, body, feed, if_none_match, private=not ctx.actor.anonymous)


@router.get(
    "/advisories.json",
    response_class=_JsonFeedResponse,
    responses={200: {"model": JsonFeed}, **_NOT_MODIFIED},
)
async def json_feed(
    ctx: PublicContext,
    limit: PageLimit = DEFAULT_LIMIT,
    updated_after: UpdatedAfter = None,
    cursor: Cursor = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The advisories you may see as a JSON Feed 1.1, newest change first (no token: the public
    ones)."""
    feed, body = await call(_page, ctx, feeds.json_feed_bytes, limit, updated_after, cursor)
    return _conditional(_JsonFeedResponse, body, feed, if_none_match,
                        private=not ctx.actor.anonymous)  # fmt: skip


def _page(
    ctx: Context,
    render: Callable[[Feed], bytes],
    limit: int,
    updated_after: datetime | None,
    cursor: str | None,
) -> tuple[Feed, bytes]:
    # Rendered where the query runs: 500 Atom entries take tens of milliseconds, which must not
    # stall the event loop when the database work runs in a thread.
    feed = feeds.advisory_feed(ctx, limit=limit, updated_after=updated_after, cursor=cursor)
    return feed, render(feed)


def _conditional(
    kind: type[Response], body: bytes, feed: Feed, if_none_match: str | None, *, private: bool
) -> Response:
    """The feed, or 304 if the caller already holds exactly these bytes. The answer depends on
    the token, so shared caches must key it by `Authorization` and keep a token's to itself."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Vary": "Authorization",
        "Cache-Control": "private, no-cache" if private else "no-cache",
    }
    if feed.entries:
        headers["Last-Modified"] = format_datetime(feed.entries[0].updated, usegmt=True)
    if if_none_match is not None:
        held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if "*" in held or etag in held:
            return Response(status_code=304, headers=headers)
    return kind(body, headers=headers)
