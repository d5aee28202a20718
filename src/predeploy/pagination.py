"""Keyset pagination shared by every list endpoint: stable under inserts, cheap at any depth."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from .errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

PageLimit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}.")
]
"""The `limit` query parameter of a list endpoint, its bounds in the OpenAPI schema."""


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one (null: no more)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_text, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(created_text), row_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not one this server issued", field="cursor") from exc


def paginate(
    query: Select[Any],
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[str],
    cursor: str | None,
    limit: int,
) -> Select[Any]:
    """Order `query` newest first and apply the cursor; fetches one extra row to detect a next page."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(
            or_(created_col < created_at, and_(created_col == created_at, id_col < row_id))
        )
    return query.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def page_of(rows: list[Any], limit: int, convert: Any) -> Page[Any]:
    """Build a Page from rows fetched by `paginate` (`rows` may hold one extra row)."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more else None
    return Page(items=[convert(row) for row in rows], next_cursor=next_cursor)
