"""HTTP routes of the CSAF provider, under `/.well-known/csaf` (see `_csaf_provider`).

The provider metadata, the public key and the `white` directory need no token; the `green`,
`amber` and `red` directories answer 401 without one, and only what the caller may see.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ..web_deps import PublicContext, call, get_runtime
from . import _csaf_provider as provider

# Each route documents the media types it serves (`_file`), and no other.
router = APIRouter(
    prefix=provider.BASE_PATH, tags=["CSAF provider"], default_response_class=Response
)


def _file(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a route serving files of `media_types`."""
    return {200: {"description": "The file.", "content": {t: {} for t in media_types}}}


def _response(served: provider.Served, *, public: bool) -> Response:
    # Public files may be read by browser-based CSAF clients on any origin (CSAF 2.1's
    # requirement 25); restricted ones must not be kept by shared caches.
    headers = (
        {"Access-Control-Allow-Origin": "*"} if public else {"Cache-Control": "private, no-store"}
    )
    return Response(served.content, media_type=served.media_type, headers=headers)


@router.get("/provider-metadata.json", responses=_file("application/json"))
async def provider_metadata(ctx: PublicContext) -> Response:
    """The provider metadata: publisher, directories, signing key, role."""
    key = await run_in_threadpool(provider.signing_key, ctx.runtime)
    return _response(await call(provider.provider_metadata, ctx, key), public=True)


@router.get("/openpgp/{name}", responses=_file("application/pgp-keys"))
async def public_key(request: Request, name: str) -> Response:
    """The public OpenPGP key that signs the documents, ASCII-armored."""
    key = await run_in_threadpool(provider.signing_key, get_runtime(request))
    return _response(provider.public_key_file(key, name), public=True)


@router.get("/{label}/", responses=_file("text/html"))
async def directory(ctx: PublicContext, label: str) -> Response:
    """A directory's listing: `index.txt`, `changes.csv` and its year folders."""
    served = await call(provider.directory_page, ctx, label)
    return _response(served, public=label == provider.PUBLIC)


@router.get("/{label}/index.txt", responses=_file("text/plain"))
async def index_txt(ctx: PublicContext, label: str) -> Response:
    """The documents of a directory the caller may see, one path a line."""
    served = await call(provider.index_txt, ctx, label)
    return _response(served, public=label == provider.PUBLIC)


@router.get("/{label}/changes.csv", responses=_file("text/csv"))
async def changes_csv(ctx: PublicContext, label: str) -> Response:
    """The documents of a directory the caller may see, with their last change, newest first."""
    served = await call(provider.changes_csv, ctx, label)
    return _response(served, public=label == provider.PUBLIC)


@router.get("/{label}/{year}/", responses=_file("text/html"))
async def year_folder(ctx: PublicContext, label: str, year: str) -> Response:
    """A year folder's listing: each document with its hashes and signature."""
    served = await call(provider.directory_page, ctx, label, year)
    return _response(served, public=label == provider.PUBLIC)


@router.get(
    "/{label}/{year}/{name}",
    responses=_file("application/json", "text/plain", "application/pgp-signature"),
)
async def document_file(ctx: PublicContext, label: str, year: str, name: str) -> Response:
    """A CSAF document (`.json`), its `.sha256` or `.sha512` hash, or its `.asc` signature."""
    requested = await call(provider.requested_file, ctx, label, year, name)
    served = await run_in_threadpool(provider.rendered, ctx.runtime, requested)
    return _response(served, public=label == provider.PUBLIC)
