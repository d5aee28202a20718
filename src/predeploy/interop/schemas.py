"""Request and response shapes of imports and exports."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, Field


class ImportFormat(enum.StrEnum):
    """The formats advisories can be imported from."""

    OSV = "osv"
    CSAF = "csaf"
    """CSAF 2.0 documents, read into the OSV shape (`interop._csaf_import`)."""


class ExportFormat(enum.StrEnum):
    """The formats an advisory can be exported in (where they apply to it)."""

    OSV = "osv"
    CVE5 = "cve5"
    CSAF = "csaf"
    """CSAF 2.0 `csaf_security_advisory`."""
    CSAF_VEX = "csaf_vex"
    """CSAF 2.0 `csaf_vex`: the vendors' statuses."""
    STIX = "stix"
    """A STIX 2.1 bundle."""
    AVID = "avid"
    """An AVID report (AI-model vulnerabilities)."""


class ExportOut(BaseModel):
    id: str
    format: ExportFormat
    content: dict[str, Any] = Field(description="The document, in the format's own JSON.")


class SkippedExportOut(BaseModel):
    id: str
    reason: str


class BulkExportOut(BaseModel):
    """Every published advisory the caller may see, in one format where it applies."""

    format: ExportFormat
    exported: list[ExportOut]
    skipped: list[SkippedExportOut] = Field(description="Advisories the format does not apply to.")


class RejectionOut(BaseModel):
    file: str = Field(description="The file (or `bundle.zip:member`) the record came from.")
    field: str | None = Field(description="Where in the record, dotted (`affected.0.ranges`).")
    message: str


class ImportOut(BaseModel):
    """What an import did, record by record."""

    imported: int = Field(description="Records that became new advisories.")
    updated: int = Field(description="Records that changed an advisory (newer, or merged).")
    unchanged: int = Field(description="Records already imported at the same `modified`.")
    rejected: list[RejectionOut]
    normalised: list[RejectionOut] = Field(
        description="Imported records that were changed to be valid OSV 1.7, and how."
    )
