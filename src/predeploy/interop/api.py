"""HTTP routes of advisory imports and exports, under `/api/v1/clearinghouse/advisories`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query

from ..clearinghouse.models import Tlp
from ..errors import InvalidInput
from ..web_deps import CurrentContext, PublicContext, RawBody, call
from . import _osv, service
from .schemas import ExportFormat, ExportOut, ImportOut

router = APIRouter(prefix="/api/v1/clearinghouse", tags=["clearinghouse interop"])

IMPORT_PATH = r"^/api/v1/clearinghouse/advisories/import$"
IMPORT_MEDIA_TYPES = {
    "application/json": ".json",
    "application/yaml": ".yaml",
    "application/x-yaml": ".yaml",
    "text/yaml": ".yaml",
    "application/zip": ".zip",
}


@router.post(
    "/advisories/import",
    openapi_extra={
        "requestBody": {"required": True, "content": {t: {} for t in sorted(IMPORT_MEDIA_TYPES)}}
    },
)
def import_advisories(
    ctx: CurrentContext,
    body: RawBody,
    content_type: Annotated[str, Header()],
    format: Annotated[str, Query(pattern="^osv$")] = "osv",
    tlp: Tlp = Tlp.CLEAR,
    filename: Annotated[str, Query(max_length=255)] = "upload",
) -> ImportOut:
    """Import OSV records (agency analysts and admins): one record or a list as JSON, a YAML
    record, or a zip bundle of record files (like OSV's `all.zip`). Labelled CLEAR (public) or
    GREEN. Bad records are listed by file and field; the others import."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    suffix = IMPORT_MEDIA_TYPES.get(media_type)
    if suffix is None:
        raise InvalidInput(
            f"Content-Type {media_type or '(none)'} is not one of "
            f"{', '.join(sorted(IMPORT_MEDIA_TYPES))}",
            field="Content-Type",
        )
    name = filename if filename.lower().endswith(suffix) else f"{filename}{suffix}"
    items = _osv.read_zip(name, body) if suffix == ".zip" else _osv.parse(name, body)
    return service.import_osv(ctx, items, tlp=tlp)


@router.get("/advisories/{advisory_id}/export")
async def export_advisory(
    ctx: PublicContext,
    advisory_id: str,
    format: ExportFormat = ExportFormat.OSV,
    cve: Annotated[str | None, Query(pattern=r"^CVE-[0-9]{4}-[0-9]{4,}$")] = None,
) -> ExportOut:
    """One advisory in a format that applies to it: ours by `PDXA-...` number, an imported one
    by any of its ids or aliases. `cve5` is one CVE's record (`cve=` picks it when the advisory
    covers several). Public advisories need no token."""
    return await call(service.export, ctx, advisory_id, format, cve=cve)
