"""How one audit row hashes: shared by the writer and the verifier so they cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..canonical import canonical_json, sha256_hex

HASHED_FIELDS = (
    "seq",
    "prev_hash",
    "created_at",
    "actor_user_id",
    "actor_label",
    "org_id",
    "action",
    "object_type",
    "object_id",
    "change_digest",
    "detail",
)


def timestamp_text(moment: datetime) -> str:
    """UTC, microsecond precision, `Z` suffix: the same text on SQLite and PostgreSQL."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(fields: dict[str, Any]) -> str:
    """`sha256(prev_hash + canonical JSON of the row)` for a row given as a mapping."""
    body = {name: fields[name] for name in HASHED_FIELDS}
    body["created_at"] = timestamp_text(body["created_at"])
    return sha256_hex(fields["prev_hash"].encode() + canonical_json(body))
