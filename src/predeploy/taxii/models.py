"""Tables: the status of each request that added objects to a TAXII collection, and the outcome
of each object it carried (with the vulnerability report it became)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import ID, Base, new_id


class TaxiiStatus(Base):
    """One request that added objects to a collection (TAXII's status resource)."""

    __tablename__ = "taxii_statuses"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    collection_id: Mapped[str] = mapped_column(ID)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    """The requester's org: its members (and the agency's analysts) read the status."""
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    request_timestamp: Mapped[datetime]


class TaxiiStatusObject(Base):
    """What became of one object of a request: a vulnerability report, or a failure and why."""

    __tablename__ = "taxii_status_objects"
    __table_args__ = (
        UniqueConstraint("status_id", "position"),
        Index("ix_taxii_status_objects_object", "object_id", "version"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    status_id: Mapped[str] = mapped_column(ForeignKey("taxii_statuses.id"))
    position: Mapped[int] = mapped_column(Integer)
    """Its index in the envelope's `objects`."""
    object_id: Mapped[str] = mapped_column(String(300))
    version: Mapped[str] = mapped_column(String(40))
    success: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text)
    vuln_id: Mapped[str | None] = mapped_column(ForeignKey("vulns.id"), default=None)
    """The vulnerability report the object was filed as."""
