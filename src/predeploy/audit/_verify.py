"""Walking the audit chain: recompute every row's hash, check every link, hold it to its checkpoints.

The walk reads the table with SQLAlchemy Core in keyset batches (constant memory, index range
scans) and stops at the first row that is missing, altered, out of place or contradicts a signed
checkpoint, naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Dialect, select, type_coerce
from sqlalchemy.types import NullType

from ..keys import public_key_id, verify_signature
from .chain import HASHED_FIELDS, checkpoint_message, row_hash_of, timestamp_text
from .models import GENESIS_HASH, AuditCheckpoint, AuditEvent
from .schemas import VerifyResult

BATCH_SIZE = 5_000

_events = AuditEvent.__table__
_checkpoints = AuditCheckpoint.__table__
# Columns whose stored form needs decoding (text to datetime, JSON text to dict). They are read
# raw and decoded row by row with the columns' own result processors: the verifier sees exactly
# what the application reads, and a value that cannot be decoded is reported as a bad row
# instead of aborting the whole walk.
_DECODED = ("created_at", "detail")
_ROW_QUERY = select(
    *(
        type_coerce(_events.c[name], NullType()) if name in _DECODED else _events.c[name]
        for name in HASHED_FIELDS
    ),
    _events.c.row_hash,
)
_SEQ, _PREV, _HASH = 0, HASHED_FIELDS.index("prev_hash"), len(HASHED_FIELDS)
_CREATED, _DETAIL = (HASHED_FIELDS.index(name) for name in _DECODED)


@dataclass(frozen=True)
class Position:
    """Where a walk stands: the last row accepted, its hash, and how many rows led to it."""

    seq: int
    hash: str
    rows: int


START = Position(seq=0, hash=GENESIS_HASH, rows=0)


@dataclass(frozen=True)
class Problem:
    """The first bad row (or bad checkpoint) and why."""

    reason: str
    seq: int | None = None
    checkpoint_seq: int | None = None


@dataclass(frozen=True)
class Walk:
    """Where a walk ended and, if it stopped early, the problem that stopped it."""

    end: Position
    problem: Problem | None


def _rows_after(connection: Connection, after: int | None) -> Iterator[Sequence[Any]]:
    """Every row in seq order (all of them when `after` is None), fetched in keyset batches."""
    query = _ROW_QUERY.order_by(_events.c.seq).limit(BATCH_SIZE)
    while True:
        page = query if after is None else query.where(_events.c.seq > after)
        batch = connection.execute(page).all()
        yield from batch
        if len(batch) < BATCH_SIZE:
            return
        after = batch[-1][_SEQ]


def walk(
    connection: Connection,
    start: Position = START,
    anchors: Mapping[int, AuditCheckpoint] | None = None,
) -> Walk:
    """Walk the rows after `start`, checking each one and each checkpoint (`anchors`) passed.

    From START the walk also meets rows with seq <= 0, which an attacker may have inserted.
    """
    anchors = anchors or {}
    decode = _Decoder(connection.dialect)
    expected, prev, rows = start.seq + 1, start.hash, start.rows
    last_seq = start.seq
    for row in _rows_after(connection, None if start is START else start.seq):
        seq = row[_SEQ]
        problem = _check_row(row, seq, expected, prev, decode)
        if problem is not None:
            return Walk(Position(last_seq, prev, rows), problem)
        prev, rows, last_seq, expected = str(row[_HASH]), rows + 1, seq, seq + 1
        anchor = anchors.get(seq)
        if anchor is not None and (anchor.head_hash != prev or anchor.row_count != rows):
            return Walk(
                Position(last_seq, prev, rows),
                Problem(
                    f"row {seq} (row count {rows}) is not the head signed in the checkpoint of "
                    f"{timestamp_text(anchor.signed_at)} (hash {anchor.head_hash[:12]}..., "
                    f"row count {anchor.row_count}): the chain up to row {seq} was rewritten",
                    seq=seq,
                    checkpoint_seq=anchor.seq,
                ),
            )
    end = Position(last_seq, prev, rows)
    beyond = [a for a in anchors.values() if a.seq > last_seq]
    if beyond:
        anchor = max(beyond, key=lambda a: a.seq)
        return Walk(
            end,
            Problem(
                f"the chain ends at row {last_seq} but the checkpoint of "
                f"{timestamp_text(anchor.signed_at)} covers rows up to {anchor.seq} "
                f"(row count {anchor.row_count}): rows were removed from the tail",
                seq=last_seq + 1,
                checkpoint_seq=anchor.seq,
            ),
        )
    return Walk(end, None)


class _Decoder:
    """Turns a raw row into the HASHED_FIELDS values the application would read."""

    def __init__(self, dialect: Dialect) -> None:
        def processor(name: str) -> Callable[[Any], Any]:
            process = _events.c[name].type.dialect_impl(dialect).result_processor(dialect, None)
            return process or (lambda value: value)

        self._created_at = processor("created_at")
        self._detail = processor("detail")

    def __call__(self, row: Sequence[Any]) -> list[Any]:
        values = list(row[:_HASH])
        values[_CREATED] = self._created_at(values[_CREATED])
        values[_DETAIL] = self._detail(values[_DETAIL])
        return values


def _check_row(
    row: Sequence[Any], seq: int, expected: int, prev: str, decode: _Decoder
) -> Problem | None:
    if seq < expected:
        return Problem(f"row {seq} is out of sequence (expected row {expected})", seq=seq)
    if seq > expected:
        missing = f"row {expected} is" if seq == expected + 1 else f"rows {expected}-{seq - 1} are"
        return Problem(f"{missing} missing (the next row is {seq})", seq=expected)
    if row[_PREV] != prev:
        return Problem(
            f"row {seq}'s prev_hash does not match row {seq - 1}'s hash: a row was inserted, "
            "removed or moved here",
            seq=seq,
        )
    try:
        computed = row_hash_of(*decode(row))
    except (TypeError, ValueError, AttributeError) as exc:
        return Problem(
            f"row {seq} holds a value that cannot be read ({type(exc).__name__}): it was modified",
            seq=seq,
        )
    if computed != row[_HASH]:
        return Problem(f"row {seq}'s hash does not match its contents: it was modified", seq=seq)
    return None


def load_checkpoints(connection: Connection) -> list[AuditCheckpoint]:
    """Every checkpoint, oldest first (as detached objects: nothing here is ever written back)."""
    rows = connection.execute(select(_checkpoints).order_by(_checkpoints.c.seq)).all()
    return [AuditCheckpoint(**row._asdict()) for row in rows]


def bad_signature(
    checkpoint: AuditCheckpoint, public_keys: Mapping[str, Ed25519PublicKey]
) -> Problem | None:
    """A Problem when `checkpoint` is not signed by the key it names among `public_keys` (the
    agency's keys by key id: the current one and those retired by rotations)."""
    public_key = public_keys.get(checkpoint.key_id)
    if public_key is None:
        known = ", ".join(sorted(public_keys)) or "none"
        return Problem(
            f"the checkpoint at row {checkpoint.seq} names key {checkpoint.key_id}, which is not "
            f"one of the agency keys checked ({known}): it was forged or altered, or signed by "
            "a key whose public half is missing",
            checkpoint_seq=checkpoint.seq,
        )
    message = checkpoint_message(
        checkpoint.seq, checkpoint.head_hash, checkpoint.row_count, checkpoint.signed_at
    )
    if verify_signature(public_key, message, checkpoint.signature):
        return None
    return Problem(
        f"the checkpoint at row {checkpoint.seq} does not verify with the agency key "
        f"{public_key_id(public_key)}: it was forged or altered",
        checkpoint_seq=checkpoint.seq,
    )


def verify_connection(
    connection: Connection,
    *,
    with_checkpoints: bool = False,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
) -> VerifyResult:
    """Verify the whole chain read through `connection` (see `service.verify`)."""
    checkpoints: list[AuditCheckpoint] = []
    problem: Problem | None = None
    if with_checkpoints:
        assert public_keys is not None, "checking checkpoints needs the agency public keys"
        checkpoints = load_checkpoints(connection)
        problem = next(
            (p for c in checkpoints if (p := bad_signature(c, public_keys)) is not None), None
        )
    result = walk(connection, START, {c.seq: c for c in checkpoints})
    problem = problem or result.problem
    if problem is None and with_checkpoints and not checkpoints:
        problem = Problem("there is no signed checkpoint: run `predeploy audit checkpoint`")
    return VerifyResult(
        ok=problem is None,
        rows_checked=result.end.rows,
        head_seq=result.end.seq,
        head_hash=result.end.hash,
        first_bad_seq=problem.seq if problem else None,
        bad_checkpoint_seq=problem.checkpoint_seq if problem else None,
        reason=problem.reason if problem else None,
        checkpoints_checked=len(checkpoints),
        last_checkpoint_seq=checkpoints[-1].seq if checkpoints else None,
    )
