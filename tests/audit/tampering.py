"""What an attacker with write access to the database does to the audit log.

Each helper works inside one transaction. `attacker` first disables the append-only triggers in
that transaction (dropping them on SQLite, DISABLE TRIGGER USER on PostgreSQL), as someone with
database access would; `commit=False` rolls everything back, triggers included, so one test can
try many tamperings on the same chain.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from predeploy.accounts import Actor
from predeploy.audit.chain import row_hash
from predeploy.audit.models import AuditCheckpoint, AuditEvent
from predeploy.audit.service import record
from predeploy.db import append_only_statements
from predeploy.runtime import Context, Runtime

EVENTS = cast(Table, AuditEvent.__table__)
CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)
TABLES = ("audit_events", "audit_checkpoints")


class _Rollback(Exception):
    pass


@contextmanager
def attacker(runtime: Runtime, *, commit: bool = True) -> Iterator[Context]:
    """A transaction with the append-only triggers out of the way."""
    try:
        with runtime.unit(Actor.system("attacker")) as ctx:
            dialect = ctx.session.get_bind().dialect.name
            for table in TABLES:
                if dialect == "sqlite":
                    for verb in ("update", "delete"):
                        ctx.session.execute(text(f"DROP TRIGGER {table}_no_{verb}"))
                else:
                    ctx.session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield ctx
            ctx.session.flush()
            for table in TABLES:
                if dialect == "sqlite":
                    for statement in append_only_statements(dialect, table):
                        ctx.session.execute(text(statement))
                else:
                    ctx.session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
            if not commit:
                raise _Rollback
    except _Rollback:
        pass


def append_events(runtime: Runtime, count: int, *, seed: int = 0) -> None:
    """Append `count` varied events through `record` (several transactions, like real traffic)."""
    rng = random.Random(seed)
    details: list[dict[str, Any]] = [{}, {"from": "draft", "to": "submitted"}, {"n": 0}]
    done = 0
    while done < count:
        with runtime.unit(Actor.system("tests")) as ctx:
            for _ in range(min(rng.randint(1, 7), count - done)):
                done += 1
                record(
                    ctx,
                    rng.choice(["submission.transition", "model.create", "token.issue"]),
                    rng.choice(["submission", "model", "api_token"]),
                    f"obj-{rng.randrange(10_000)}",
                    {"n": done, "note": 'é"\\\n✓'},
                    org_id=rng.choice([None, "org-a", "org-b"]),
                    detail=rng.choice(details),
                )


def head_seq(session: Session) -> int:
    return int(session.scalar(select(func.max(EVENTS.c.seq))) or 0)


def rows(session: Session, from_seq: int = 1) -> list[dict[str, Any]]:
    query = select(EVENTS).where(EVENTS.c.seq >= from_seq).order_by(EVENTS.c.seq)
    return [dict(row._mapping) for row in session.execute(query)]


def modify(session: Session, seq: int, rng: random.Random) -> None:
    """Change one hashed field of row `seq`, leaving its hash as it was."""
    row = rows(session, seq)[0]
    field, value = rng.choice(
        [
            ("action", "org.delete"),
            ("object_id", row["object_id"] + "x"),
            ("detail", {**row["detail"], "forged": True}),
            ("org_id", "org-evil"),
            ("actor_label", "someone-else"),
            ("change_digest", "f" * 64),
            ("created_at", row["created_at"] + timedelta(microseconds=1)),
        ]
    )
    session.execute(update(EVENTS).where(EVENTS.c.seq == seq).values({field: value}))


def modify_and_rehash(session: Session, seq: int) -> None:
    """Change row `seq` and recompute its own hash (but not the rows after it)."""
    row = rows(session, seq)[0]
    row["action"] = "org.delete"
    session.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seq)
        .values(action=row["action"], row_hash=row_hash(row))
    )


def delete_row(session: Session, seq: int) -> None:
    session.execute(delete(EVENTS).where(EVENTS.c.seq == seq))


def truncate_from(session: Session, seq: int) -> None:
    """Delete row `seq` and every row after it."""
    session.execute(delete(EVENTS).where(EVENTS.c.seq >= seq))


def _shift_from(session: Session, seq: int) -> None:
    # Through negative numbers: the primary key is checked row by row.
    session.execute(update(EVENTS).where(EVENTS.c.seq >= seq).values(seq=-EVENTS.c.seq))
    session.execute(update(EVENTS).where(EVENTS.c.seq < 0).values(seq=1 - EVENTS.c.seq))


def insert_at(session: Session, seq: int) -> None:
    """Insert a well-formed row at `seq` (renumbering the rest) and relink the row after it."""
    before = rows(session, seq - 1)[0]
    _shift_from(session, seq)
    forged = {**before, "seq": seq, "prev_hash": before["row_hash"], "action": "org.create"}
    forged["row_hash"] = row_hash(forged)
    session.execute(
        update(EVENTS).where(EVENTS.c.seq == seq + 1).values(prev_hash=forged["row_hash"])
    )
    session.execute(insert(EVENTS).values(forged))


def insert_before_first(session: Session) -> None:
    """Insert a row with seq 0, ahead of the genesis row."""
    first = rows(session)[0]
    forged = {**first, "seq": 0, "prev_hash": "1" * 64, "row_hash": "2" * 64}
    session.execute(insert(EVENTS).values(forged))


def swap(session: Session, first: int, second: int) -> None:
    """Exchange the places of two rows."""
    session.execute(update(EVENTS).where(EVENTS.c.seq == first).values(seq=-1))
    session.execute(update(EVENTS).where(EVENTS.c.seq == second).values(seq=first))
    session.execute(update(EVENTS).where(EVENTS.c.seq == -1).values(seq=second))


def rewrite_from(session: Session, seq: int) -> None:
    """Alter row `seq` and recompute every hash from there on: the chain alone stays consistent."""
    prev = rows(session, seq - 1)[0]["row_hash"] if seq > 1 else "0" * 64
    for row in rows(session, seq):
        if row["seq"] == seq:
            row["action"] = "org.delete"
        row["prev_hash"] = prev
        row["row_hash"] = prev = row_hash(row)
        session.execute(
            update(EVENTS)
            .where(EVENTS.c.seq == row["seq"])
            .values(action=row["action"], prev_hash=row["prev_hash"], row_hash=row["row_hash"])
        )
