"""The row hash is exactly `sha256(prev_hash + canonical JSON of the row)`, as the issue defines it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from predeploy.audit.chain import HASHED_FIELDS, checkpoint_message, row_hash, timestamp_text
from predeploy.canonical import canonical_json

text = st.text(max_size=40)
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
rows = st.fixed_dictionaries(
    {
        "seq": st.integers(min_value=1, max_value=2**62),
        "prev_hash": hex64,
        "created_at": moments,
        "actor_user_id": st.none() | text,
        "actor_label": text,
        "org_id": st.none() | text,
        "action": text,
        "object_type": text,
        "object_id": text,
        "change_digest": hex64,
        "detail": st.dictionaries(text, json_values, max_size=4),
    }
)


def reference_hash(fields: dict[str, Any]) -> str:
    body = {name: fields[name] for name in HASHED_FIELDS}
    body["created_at"] = fields["created_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return hashlib.sha256(fields["prev_hash"].encode() + canonical_json(body)).hexdigest()


@given(rows)
def test_row_hash_is_sha256_of_prev_hash_and_canonical_json(fields: dict[str, Any]) -> None:
    assert row_hash(fields) == reference_hash(fields)


@given(moments, offsets)
def test_timestamps_are_utc_microseconds_whatever_the_offset(
    moment: datetime, offset: timezone
) -> None:
    shown = timestamp_text(moment.astimezone(offset))
    assert shown == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert datetime.fromisoformat(shown) == moment


def test_every_hashed_field_changes_the_hash() -> None:
    base: dict[str, Any] = {
        "seq": 1,
        "prev_hash": "0" * 64,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "actor_user_id": None,
        "actor_label": "system",
        "org_id": None,
        "action": "a",
        "object_type": "t",
        "object_id": "i",
        "change_digest": "c" * 64,
        "detail": {},
    }
    altered: dict[str, Any] = {
        "seq": 2,
        "prev_hash": "1" * 64,
        "created_at": base["created_at"] + timedelta(microseconds=1),
        "actor_user_id": "",
        "actor_label": "system ",
        "org_id": "",
        "action": "b",
        "object_type": "u",
        "object_id": "j",
        "change_digest": "d" * 64,
        "detail": {"k": None},
    }
    hashes = {row_hash({**base, name: altered[name]}) for name in HASHED_FIELDS}
    assert len(hashes | {row_hash(base)}) == len(HASHED_FIELDS) + 1


def test_checkpoint_message_is_canonical_json_of_the_signed_fields() -> None:
    at = datetime(2026, 11, 30, 12, 0, 0, 5, tzinfo=UTC)
    assert checkpoint_message(7, "ab" * 32, 7, at) == canonical_json(
        {
            "seq": 7,
            "head_hash": "ab" * 32,
            "row_count": 7,
            "signed_at": "2026-11-30T12:00:00.000005Z",
        }
    )
