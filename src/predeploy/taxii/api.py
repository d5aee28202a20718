"""HTTP routes of the TAXII 2.1 server, under `/taxii2/`.

Every route answers `application/taxii+json;version=2.1` and asks for it in `Accept` (406
otherwise); objects are posted as a TAXII envelope (415 for any other `Content-Type`), no larger
than the API root's `max_content_length` (413, enforced by the app's body limit on `PATH`).
Errors are TAXII error message resources (`protocol.TaxiiErrors`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from ..web_deps import CurrentContext, PublicContext, RawBody, call
from . import _filters, service
from .protocol import (
    ERROR_RESPONSES,
    TaxiiResponse,
    require_accept,
    require_content_type,
    taxii_response,
)

router = APIRouter(
    prefix="/taxii2",
    tags=["taxii"],
    default_response_class=TaxiiResponse,
    responses=ERROR_RESPONSES,
)

PATH = r"^/taxii2/"
"""Request bodies under this path may be as large as `taxii_max_content_length`."""
ROOT = f"/{service.API_ROOT}"
COLLECTION = ROOT + "/collections/{collection_id}"


async def _accepts(accept: Annotated[str | None, Header()] = None) -> None:
    require_accept(accept)


Accepting = Annotated[None, Depends(_accepts)]


async def _filters_of(
    added_after: str | None = None,
    limit: str | None = None,
    next: str | None = None,
    match_id: Annotated[list[str] | None, Query(alias="match[id]")] = None,
    match_type: Annotated[list[str] | None, Query(alias="match[type]")] = None,
    match_version: Annotated[list[str] | None, Query(alias="match[version]")] = None,
    match_spec_version: Annotated[list[str] | None, Query(alias="match[spec_version]")] = None,
) -> _filters.Filters:
    return _filters.parse(
        added_after=added_after,
        limit=limit,
        next=next,
        match_id=match_id,
        match_type=match_type,
        match_version=match_version,
        match_spec_version=match_spec_version,
    )


Filtered = Annotated[_filters.Filters, Depends(_filters_of)]


def _listing(listing: service.Listing) -> JSONResponse:
    headers = {}
    if listing.first_added is not None and listing.last_added is not None:
        headers["X-TAXII-Date-Added-First"] = listing.first_added
        headers["X-TAXII-Date-Added-Last"] = listing.last_added
    return taxii_response(listing.body, headers=headers)


@router.get("/")
async def discovery(_: Accepting, ctx: PublicContext) -> JSONResponse:
    """TAXII discovery: the server's API root."""
    return taxii_response((await call(service.discovery, ctx)).model_dump())


@router.get(ROOT + "/")
async def api_root(_: Accepting, ctx: PublicContext) -> JSONResponse:
    """The API root: TAXII version and the largest request body it takes."""
    return taxii_response((await call(service.api_root, ctx)).model_dump())


@router.get(ROOT + "/collections/")
async def collections(_: Accepting, ctx: PublicContext) -> JSONResponse:
    """The collections you may read or write (without a token: `public`)."""
    return taxii_response((await call(service.list_collections, ctx)).model_dump())


@router.get(COLLECTION + "/")
async def collection(_: Accepting, ctx: PublicContext, collection_id: str) -> JSONResponse:
    """One collection (by id or alias), with `can_read` and `can_write` for you."""
    return taxii_response((await call(service.get_collection, ctx, collection_id)).model_dump())


@router.get(COLLECTION + "/objects/")
async def objects(
    _: Accepting, ctx: PublicContext, collection_id: str, filters: Filtered
) -> JSONResponse:
    """An envelope of the collection's objects you may see, filtered and paged."""
    return _listing(await call(service.get_objects, ctx, collection_id, filters))


@router.post(
    COLLECTION + "/objects/",
    status_code=202,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/taxii+json;version=2.1": {}}}
    },
)
async def add_objects(
    _: Accepting,
    ctx: CurrentContext,
    collection_id: str,
    body: RawBody,
    content_type: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Post an envelope of STIX objects to the `reports` inbox: 202 with the status of each
    object (every one is processed before the answer)."""
    require_content_type(content_type)
    status = await call(service.add_objects, ctx, collection_id, body)
    return taxii_response(status.model_dump(exclude_none=True), 202)


@router.get(COLLECTION + "/objects/{object_id}/")
async def one_object(
    _: Accepting, ctx: PublicContext, collection_id: str, object_id: str, filters: Filtered
) -> JSONResponse:
    """The versions of one object you may see (by default its latest), as an envelope."""
    return _listing(await call(service.get_object, ctx, collection_id, object_id, filters))


@router.get(COLLECTION + "/objects/{object_id}/versions/")
async def versions(
    _: Accepting, ctx: PublicContext, collection_id: str, object_id: str, filters: Filtered
) -> JSONResponse:
    """The versions of one object, oldest first."""
    return _listing(await call(service.get_versions, ctx, collection_id, object_id, filters))


@router.get(COLLECTION + "/manifest/")
async def manifest(
    _: Accepting, ctx: PublicContext, collection_id: str, filters: Filtered
) -> JSONResponse:
    """What the objects route would serve, as manifest records."""
    return _listing(await call(service.get_manifest, ctx, collection_id, filters))


@router.get(ROOT + "/status/{status_id}/")
async def status(_: Accepting, ctx: CurrentContext, status_id: str) -> JSONResponse:
    """The status of one of your organisation's add requests."""
    out = await call(service.get_status, ctx, status_id)
    return taxii_response(out.model_dump(exclude_none=True))
