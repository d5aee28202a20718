"""The database itself refuses to change or remove audit rows and checkpoints."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from predeploy.accounts import Actor
from predeploy.audit import service
from predeploy.audit.models import AuditCheckpoint, AuditEvent
from predeploy.runtime import Runtime
from tests.audit.tampering import CHECKPOINTS, EVENTS, append_events, attacker

STATEMENTS = {
    "update event": update(EVENTS).where(EVENTS.c.seq == 2).values(action="x"),
    "delete event": delete(EVENTS).where(EVENTS.c.seq == 3),
    "delete all events": delete(EVENTS),
    "update checkpoint": update(CHECKPOINTS).values(row_count=1),
    "delete checkpoint": delete(CHECKPOINTS),
}


@pytest.fixture
def chain(runtime: Runtime) -> Runtime:
    append_events(runtime, 4)
    with runtime.unit(Actor.system("tests")) as ctx:
        service.checkpoint(ctx)
    return runtime


def _counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.unit(Actor.system("tests"), read_only=True) as ctx:
        events = len(ctx.session.scalars(select(AuditEvent.seq)).all())
        checkpoints = len(ctx.session.scalars(select(AuditCheckpoint.seq)).all())
    return events, checkpoints


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_update_and_delete_are_rejected(chain: Runtime, name: str) -> None:
    assert chain.engine is not None
    with pytest.raises(DBAPIError, match="append-only"), chain.engine.begin() as connection:
        connection.execute(STATEMENTS[name])
    assert _counts(chain) == (5, 1)
    with chain.unit(Actor.system("tests"), read_only=True) as ctx:
        assert service.verify(ctx, with_checkpoints=True).ok


@pytest.mark.postgres_only
def test_truncate_is_rejected_on_postgresql(chain: Runtime) -> None:
    assert chain.engine is not None
    assert chain.engine.dialect.name == "postgresql"
    for table in ("audit_events", "audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"), chain.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {table}"))
    assert _counts(chain) == (5, 1)


def test_triggers_are_back_after_the_test_attacker_leaves(chain: Runtime) -> None:
    with attacker(chain) as ctx:
        ctx.session.execute(update(EVENTS).where(EVENTS.c.seq == 1).values(action="x"))
    assert chain.engine is not None
    with pytest.raises(DBAPIError, match="append-only"), chain.engine.begin() as connection:
        connection.execute(delete(EVENTS))
