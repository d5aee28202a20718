"""Full-text search over vulnerability reports' titles and descriptions, in the database.

PostgreSQL matches `plainto_tsquery('english', q)` against an expression index on the
`to_tsvector` of title and description; SQLite matches an FTS5 index (`vulns_fts`, kept in step
by triggers). Both are made by migration 0008. A query is words only: every word must occur
(stemmed), and the text can never be read as query syntax.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, bindparam, func, literal_column, text
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from .models import Vuln

MAX_QUERY_CHARS = 500
_WORD = re.compile(r"\w+", re.UNICODE)


def search_words(q: str) -> list[str]:
    """The words of a query, or InvalidInput if it has none (or is too long)."""
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q: at most {MAX_QUERY_CHARS} characters", field="q")
    words = _WORD.findall(q)
    if not words:
        raise InvalidInput("q: give at least one word to search for", field="q")
    return words


def document() -> ColumnElement[str]:
    """What is searched, exactly as the PostgreSQL index is built (so the planner uses it)."""
    return Vuln.title.concat(" ").concat(Vuln.description)


def matches(session: Session, q: str) -> ColumnElement[bool]:
    """A condition on `Vuln`: every word of `q` occurs in its title or description."""
    words = search_words(q)
    if session.get_bind().dialect.name == "postgresql":
        config: ColumnElement[str] = literal_column("'english'::regconfig")
        vector = func.to_tsvector(config, document())
        return vector.op("@@")(func.plainto_tsquery(config, " ".join(words)))
    # Each word quoted, so FTS5 reads no operator (AND, NEAR, *, column filters) in user text.
    fts_query = " ".join('"' + word.replace('"', '""') + '"' for word in words)
    matching_rows = text("SELECT rowid FROM vulns_fts WHERE vulns_fts MATCH :fts_query").bindparams(
        bindparam("fts_query", fts_query)
    )
    return literal_column("vulns.rowid").in_(matching_rows)
