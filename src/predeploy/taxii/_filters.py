"""TAXII 2.1's filters and paging over a collection's object versions.

`match[id]`, `match[type]` and `match[spec_version]` keep the versions whose property is one of
the comma-separated values; `match[version]` picks versions of each object: `last` (the default),
`first`, `all`, or those whose version is one of the given timestamps; `added_after` then keeps
those added after it. Pages follow `date_added`, oldest first; `next` is an opaque cursor on the
last version served, so a page never repeats or skips a version.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ._view import Entry
from .protocol import Malformed
from .schemas import STIX_TIMESTAMP

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
"""A larger `limit` is served as this many (TAXII lets the server return fewer)."""
_KEYWORDS = frozenset({"first", "last", "all"})


@dataclass(frozen=True)
class Filters:
    """A request's filters; an empty set matches everything."""

    added_after: datetime | None = None
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    versions: tuple[str, ...] = ("last",)
    spec_versions: frozenset[str] = frozenset()
    limit: int = DEFAULT_LIMIT
    next: str | None = None


def _timestamp(text: str, name: str) -> datetime:
    problem = Malformed(f"{name}: {text!r} is not a timestamp like 2026-11-30T12:00:00.000Z",
                        field=name)  # fmt: skip
    if not re.match(STIX_TIMESTAMP, text):
        raise problem
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:  # well-formed, but no such time (month 13)
        raise problem from exc


def _values(raw: Sequence[str] | None) -> frozenset[str]:
    return frozenset(v.strip() for item in raw or () for v in item.split(",") if v.strip())


def parse(
    *,
    added_after: str | None = None,
    limit: str | None = None,
    next: str | None = None,
    match_id: Sequence[str] | None = None,
    match_type: Sequence[str] | None = None,
    match_version: Sequence[str] | None = None,
    match_spec_version: Sequence[str] | None = None,
) -> Filters:
    """The filters of a request, checked; Malformed names the parameter that is wrong."""
    count = DEFAULT_LIMIT
    if limit is not None:
        if not re.fullmatch(r"[1-9][0-9]{0,8}", limit):
            raise Malformed(f"limit: {limit!r} is not a number of objects from 1 to 999999999",
                            field="limit")  # fmt: skip
        count = min(int(limit), MAX_LIMIT)
    versions = tuple(sorted(_values(match_version))) or ("last",)
    for version in versions:
        if version not in _KEYWORDS:
            _timestamp(version, "match[version]")
    if next is not None:
        _decode(next)
    return Filters(
        added_after=_timestamp(added_after, "added_after") if added_after else None,
        ids=_values(match_id),
        types=_values(match_type),
        versions=versions,
        spec_versions=_values(match_spec_version),
        limit=count,
        next=next,
    )


def _picked(versions: list[Entry], wanted: tuple[str, ...]) -> Iterable[Entry]:
    ordered = sorted(versions, key=lambda e: e.version)
    if "all" in wanted:
        return ordered
    stamps = {datetime.fromisoformat(w) for w in wanted if w not in _KEYWORDS}
    return [
        entry
        for index, entry in enumerate(ordered)
        if ("first" in wanted and index == 0)
        or ("last" in wanted and index == len(ordered) - 1)
        or entry.version in stamps
    ]


def matching(entries: Sequence[Entry], filters: Filters) -> list[Entry]:
    """The versions `filters` select, in `date_added` order."""
    by_id: dict[str, list[Entry]] = {}
    for entry in entries:
        if (
            (not filters.ids or entry.id in filters.ids)
            and (not filters.types or entry.type in filters.types)
            and (not filters.spec_versions or entry.spec_version in filters.spec_versions)
        ):
            by_id.setdefault(entry.id, []).append(entry)
    picked = [e for versions in by_id.values() for e in _picked(versions, filters.versions)]
    if filters.added_after is not None:
        picked = [e for e in picked if e.date_added > filters.added_after]
    return sorted(picked, key=lambda e: e.key)


def _encode(entry: Entry) -> str:
    position = [entry.date_added.isoformat(), entry.id, entry.version.isoformat()]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _decode(cursor: str) -> tuple[datetime, str, datetime]:
    problem = Malformed("next: not a cursor this server gave", field="next")
    try:
        added, object_id, version = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        position = datetime.fromisoformat(added), str(object_id), datetime.fromisoformat(version)
    except (ValueError, TypeError, RecursionError, binascii.Error) as exc:
        raise problem from exc
    if position[0].tzinfo is None or position[2].tzinfo is None:
        raise problem
    return position


@dataclass(frozen=True)
class Page:
    """One page of versions, and the cursor of the next one (None: this is the last)."""

    items: list[Entry]
    next: str | None

    @property
    def more(self) -> bool:
        return self.next is not None


def page(selected: Sequence[Entry], filters: Filters) -> Page:
    """The page of `selected` (in `date_added` order) that `filters.next` and `limit` ask for."""
    rest = list(selected)
    if filters.next is not None:
        after = _decode(filters.next)
        rest = [e for e in rest if e.key > after]
    items = rest[: filters.limit]
    more = len(rest) > filters.limit
    return Page(items, _encode(items[-1]) if more else None)
