"""How one audit row hashes: shared by the writer and the verifier so they cannot drift apart.

`row_hash = sha256(prev_hash + canonical JSON of the row's HASHED_FIELDS)`, where the canonical
JSON is `predeploy.canonical.canonical_json` (sorted keys, no whitespace, UTF-8) and `created_at`
is written as `timestamp_text`. The verifier hashes 100,000 rows in well under a second, so this
file spells that JSON out for the row's fixed set of fields instead of building a dict and
sorting it each time; a property test holds it byte-for-byte equal to `canonical_json`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..canonical import canonical_json

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

# The string encoder `json.dumps(..., ensure_ascii=False)` uses, so strings come out exactly as
# in `canonical_json`; `_canonical` is `canonical_json` as text, built once.
_string = json.encoder.encode_basestring
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def timestamp_text(moment: datetime) -> str:
    """UTC, microsecond precision, `Z` suffix: the same text on SQLite and PostgreSQL."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def _nullable(value: str | None) -> str:
    return "null" if value is None else _string(value)


def row_hash_of(
    seq: int,
    prev_hash: str,
    created_at: datetime,
    actor_user_id: str | None,
    actor_label: str,
    org_id: str | None,
    action: str,
    object_type: str,
    object_id: str,
    change_digest: str,
    detail: dict[str, Any],
) -> str:
    """The row hash from the HASHED_FIELDS values, in that order (the verifier's fast path)."""
    if type(seq) is not int:
        raise TypeError(f"seq must be an int, not {type(seq).__name__}")
    # Keys in sorted order, as canonical_json would put them.
    text = (
        f'{prev_hash}{{"action":{_string(action)},"actor_label":{_string(actor_label)},'
        f'"actor_user_id":{_nullable(actor_user_id)},"change_digest":{_string(change_digest)},'
        f'"created_at":"{timestamp_text(created_at)}","detail":{_canonical(detail)},'
        f'"object_id":{_string(object_id)},"object_type":{_string(object_type)},'
        f'"org_id":{_nullable(org_id)},"prev_hash":{_string(prev_hash)},"seq":{seq}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


def row_hash(fields: Mapping[str, Any]) -> str:
    """`sha256(prev_hash + canonical JSON of the row)` for a row given as a mapping."""
    return row_hash_of(*(fields[name] for name in HASHED_FIELDS))


def checkpoint_message(seq: int, head_hash: str, row_count: int, signed_at: datetime) -> bytes:
    """The bytes a checkpoint signature covers: canonical JSON of its four signed fields."""
    return canonical_json(
        {
            "seq": seq,
            "head_hash": head_hash,
            "row_count": row_count,
            "signed_at": timestamp_text(signed_at),
        }
    )
