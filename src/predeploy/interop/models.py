"""Tables: advisories imported from other databases (OSV), every id each is known by, and the
affected packages that defender checks match components against."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import ID, Base, new_id


class ImportedAdvisory(Base):
    """An advisory from another database; records that share an id or alias are one advisory."""

    __tablename__ = "imported_advisories"
    __table_args__ = (
        Index("ix_imported_advisories_created", "created_at", "id"),
        # Feeds read the newest changes first.
        Index("ix_imported_advisories_updated", "updated_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    record_id: Mapped[str] = mapped_column(String(100), unique=True)
    """The id of the first record imported for it (e.g. `PYSEC-2021-19`)."""
    source_format: Mapped[str] = mapped_column(String(10))
    tlp: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    aliases: Mapped[list[str]] = mapped_column(JSON)
    """Every id it is known by but `record_id` (merged records' too), kept apart from `record`
    so that a check reads them without decoding the whole record."""
    cvss_vector: Mapped[str | None] = mapped_column(String(300), default=None)
    """The record's first CVSS 3.x or 4.0 vector, for the same reason."""
    modified: Mapped[datetime]
    published: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn: Mapped[datetime | None] = mapped_column(default=None)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Its first record, as imported (OSV)."""
    contributions: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The other records merged into it, by id: the aliases and affected packages each brings
    (`interop.service.merged_record` puts them together)."""
    sources: Mapped[dict[str, str]] = mapped_column(JSON)
    """Each imported record id and the `modified` last imported for it: re-imports of an
    unchanged record change nothing."""
    imported_by: Mapped[str | None] = mapped_column(ID, default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AdvisoryAlias(Base):
    """An id an imported advisory is known by: its records' ids and their aliases."""

    __tablename__ = "advisory_aliases"

    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    advisory_id: Mapped[str] = mapped_column(ForeignKey("imported_advisories.id"), index=True)


class AffectedPackage(Base):
    """A package an advisory affects, by ecosystem and normalised name, with its OSV ranges."""

    __tablename__ = "affected_packages"
    __table_args__ = (Index("ix_affected_packages_package", "name", "ecosystem"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    advisory_id: Mapped[str] = mapped_column(ForeignKey("imported_advisories.id"), index=True)
    ecosystem: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    """Normalised as the ecosystem compares names (PyPI: PEP 503)."""
    purl: Mapped[str | None] = mapped_column(String(1000), default=None)
    ranges: Mapped[list[Any]] = mapped_column(JSON)
    versions: Mapped[list[str]] = mapped_column(JSON)
    version_index: Mapped[str] = mapped_column(Text)
    """`versions` in the ecosystem's canonical form, one per line: a check looks a version up
    in it without decoding the list (`defense._versions.version_index`)."""
