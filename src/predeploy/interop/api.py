"""HTTP routes of advisory imports and exports, under `/api/v1/clearinghouse/advisories`."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ..clearinghouse.models import Tlp
from ..errors import InvalidInput
from ..web_deps import CurrentContext, PublicContext, RawBody, call, download
from . import _csaf_import, _osv, service
from .schemas import BulkExportOut, ExportFormat, ExportOut, ImportFormat, ImportOut

router = APIRouter(prefix="/api/v1/clearinghouse", tags=["clearinghouse interop"])

IMPORT_PATH = r"^/api/v1/clearinghouse/advisories/import$"
IMPORT_MEDIA_TYPES = {
    "application/json": ".json",
    "application/yaml": ".yaml",
    "application/x-yaml": ".yaml",
    "text/yaml": ".yaml",
    "application/zip": ".zip",
}
CSAF_MEDIA_TYPES = {"application/json": ".json", "application/zip": ".zip"}


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
    format: ImportFormat = ImportFormat.OSV,
    tlp: Tlp = Tlp.CLEAR,
    filename: Annotated[str, Query(max_length=255)] = "upload",
) -> ImportOut:
    """Import advisories (agency analysts and admins), labelled CLEAR (public) or GREEN.
    `format=osv`: one record or a list as JSON, a YAML record, or a zip bundle of record files
    (like OSV's `all.zip`). `format=csaf`: a CSAF 2.0 document as JSON, or a zip of them. Bad
    records are listed by file and field; the others import."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    accepted = IMPORT_MEDIA_TYPES if format is ImportFormat.OSV else CSAF_MEDIA_TYPES
    suffix = accepted.get(media_type)
    if suffix is None:
        raise InvalidInput(
            f"Content-Type {media_type or '(none)'} is not one of "
            f"{', '.join(sorted(accepted))} (for format={format.value})",
            field="Content-Type",
        )
    name = filename if filename.lower().endswith(suffix) else f"{filename}{suffix}"
    parse_file = (
        _osv.parse if format is ImportFormat.OSV else partial(_csaf_import.parse, label=tlp)
    )
    items = _osv.read_zip(name, body, parse_file) if suffix == ".zip" else parse_file(name, body)
    return service.import_records(ctx, items, tlp=tlp, source_format=format.value)


@router.get(
    "/exports",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "A zip bundle."}},
)
async def export_advisories(
    ctx: PublicContext, format: ExportFormat = ExportFormat.OSV
) -> Response:
    """Every published advisory you may see, in `format` where it applies, as a zip: one
    `ID.FORMAT.json` file each (a CVE record per CVE) and `index.json` listing what was exported
    and what was left out and why. Public advisories need no token."""
    bundle = await call(service.export_all, ctx, format)
    content = export_zip(bundle)
    name = f"predeploy-advisories.{format.value}.zip"
    return download(content, "application/zip", name, hashlib.sha256(content).hexdigest())


def export_zip(bundle: BulkExportOut) -> bytes:
    """A bulk export as a zip bundle (see `export_advisories`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in bundle.exported:
            text = json.dumps(item.content, indent=2, ensure_ascii=False) + "\n"
            archive.writestr(f"{item.id}.{bundle.format.value}.json", text)
        index = {
            "format": bundle.format.value,
            "exported": [item.id for item in bundle.exported],
            "skipped": [s.model_dump() for s in bundle.skipped],
        }
        archive.writestr("index.json", json.dumps(index, indent=2) + "\n")
    return buffer.getvalue()


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
