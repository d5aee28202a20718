"""Signed checkpoints reveal what a chain alone cannot: a truncated tail or a rewritten history."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import insert, select, update

from predeploy.accounts import Actor, Capacity, Role
from predeploy.audit import service
from predeploy.audit.chain import checkpoint_message
from predeploy.audit.models import AuditCheckpoint, AuditEvent
from predeploy.audit.schemas import CheckpointOut, VerifyResult
from predeploy.clock import FrozenClock
from predeploy.errors import PermissionDenied
from predeploy.keys import SigningKey, verify_signature
from predeploy.runtime import Runtime
from tests.audit import tampering
from tests.audit.tampering import CHECKPOINTS, append_events, attacker

SYSTEM = Actor.system("tests")


def sign(runtime: Runtime) -> CheckpointOut:
    with runtime.unit(SYSTEM) as ctx:
        return service.checkpoint(ctx)


def verify(runtime: Runtime, public_key: Ed25519PublicKey | None = None) -> VerifyResult:
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        return service.verify(ctx, with_checkpoints=True, public_key=public_key)


def test_checkpoint_signs_the_head_including_its_own_event(runtime: Runtime) -> None:
    append_events(runtime, 10)
    signed = sign(runtime)
    assert (signed.seq, signed.row_count) == (11, 11)
    assert signed.key_id == runtime.signing_key.key_id
    message = checkpoint_message(signed.seq, signed.head_hash, signed.row_count, signed.signed_at)
    assert verify_signature(runtime.signing_key.public_key, message, signed.signature)
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        event = service.list_events(ctx, limit=1).items[0]
    assert (event.seq, event.action, event.object.id) == (11, "audit.checkpoint", "11")
    assert event.row_hash == signed.head_hash
    result = verify(runtime)
    assert result.ok, result.reason
    assert (result.checkpoints_checked, result.last_checkpoint_seq) == (1, 11)


def test_checkpoint_on_an_empty_chain_covers_its_own_event(runtime: Runtime) -> None:
    assert sign(runtime).seq == 1
    assert verify(runtime).ok


def test_without_any_checkpoint_the_checkpoint_check_fails(runtime: Runtime) -> None:
    append_events(runtime, 3)
    result = verify(runtime)
    assert not result.ok
    assert result.reason and "no signed checkpoint" in result.reason


def test_rewrite_with_recomputed_hashes_is_caught_by_the_checkpoint(runtime: Runtime) -> None:
    append_events(runtime, 20)
    first = sign(runtime)  # row 21
    append_events(runtime, 10)
    second = sign(runtime)  # row 32
    append_events(runtime, 5)
    with attacker(runtime) as ctx:
        tampering.rewrite_from(ctx.session, 15)
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        assert service.verify(ctx).ok, "a consistent rewrite fools the chain alone"
    result = verify(runtime)
    assert not result.ok
    assert (result.first_bad_seq, result.bad_checkpoint_seq) == (first.seq, first.seq)
    assert result.reason and "rewritten" in result.reason
    assert second.seq == 32


def test_rewrite_after_the_last_checkpoint_is_beyond_its_reach(runtime: Runtime) -> None:
    append_events(runtime, 5)
    sign(runtime)
    append_events(runtime, 5)
    with attacker(runtime) as ctx:
        tampering.rewrite_from(ctx.session, 8)
    assert verify(runtime).ok
    # ...but the next checkpoint refuses to sign over rows that no longer link to the last one.
    with attacker(runtime) as ctx:
        tampering.modify(ctx.session, 9, random.Random(1))
    with runtime.unit(SYSTEM) as ctx, pytest.raises(service.ChainBroken, match="row 9"):
        service.checkpoint(ctx)


def test_truncated_tail_is_caught_by_the_checkpoint(runtime: Runtime) -> None:
    append_events(runtime, 12)
    signed = sign(runtime)  # row 13
    append_events(runtime, 4)
    with attacker(runtime) as ctx:
        tampering.truncate_from(ctx.session, 9)
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        assert service.verify(ctx).ok, "a clean cut fools the chain alone"
    result = verify(runtime)
    assert not result.ok
    assert (result.first_bad_seq, result.bad_checkpoint_seq) == (9, signed.seq)
    assert result.reason and "removed from the tail" in result.reason


def test_forged_checkpoint_signature_is_detected(runtime: Runtime) -> None:
    append_events(runtime, 8)
    sign(runtime)
    append_events(runtime, 3)
    with attacker(runtime) as ctx:
        tampering.rewrite_from(ctx.session, 4)
        head = tampering.rows(ctx.session, 12)[0]
        # The attacker signs the rewritten head with a key of their own...
        forger = SigningKey(Ed25519PrivateKey.generate())
        at = ctx.now()
        ctx.session.execute(
            insert(CHECKPOINTS).values(
                seq=12,
                head_hash=head["row_hash"],
                row_count=12,
                signed_at=at,
                key_id=runtime.signing_key.key_id,
                signature=forger.sign(checkpoint_message(12, head["row_hash"], 12, at)),
            )
        )
        # ...and re-points the genuine checkpoint at the rewritten chain.
        ctx.session.execute(
            update(CHECKPOINTS)
            .where(CHECKPOINTS.c.seq == 9)
            .values(head_hash=tampering.rows(ctx.session, 9)[0]["row_hash"])
        )
    result = verify(runtime)
    assert not result.ok
    assert result.bad_checkpoint_seq == 9
    assert result.reason and "forged or altered" in result.reason


def test_checkpoints_verify_only_with_the_agency_key(runtime: Runtime) -> None:
    append_events(runtime, 4)
    sign(runtime)
    assert verify(runtime, public_key=runtime.signing_key.public_key).ok
    stranger = Ed25519PrivateKey.generate().public_key()
    result = verify(runtime, public_key=stranger)
    assert not result.ok
    assert (result.first_bad_seq, result.bad_checkpoint_seq) == (None, 5)


def test_checkpoint_refuses_to_sign_a_broken_chain(runtime: Runtime) -> None:
    append_events(runtime, 10)
    with attacker(runtime) as ctx:
        tampering.delete_row(ctx.session, 4)
    with runtime.unit(SYSTEM) as ctx, pytest.raises(service.ChainBroken, match="row 4"):
        service.checkpoint(ctx)
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        assert ctx.session.scalar(select(AuditCheckpoint.seq)) is None


def test_checkpoint_refuses_when_its_anchor_row_changed(runtime: Runtime) -> None:
    append_events(runtime, 5)
    sign(runtime)
    with attacker(runtime) as ctx:
        tampering.rewrite_from(ctx.session, 2)
    with runtime.unit(SYSTEM) as ctx, pytest.raises(service.ChainBroken, match="row 6"):
        service.checkpoint(ctx)


def test_checkpoint_if_due(runtime: Runtime, clock: FrozenClock) -> None:
    def due() -> CheckpointOut | None:
        with runtime.unit(SYSTEM) as ctx:
            return service.checkpoint_if_due(ctx)

    first = due()
    assert first is not None and first.seq == 1, "no checkpoint yet: one is due at once"
    append_events(runtime, 3)
    clock.advance(timedelta(minutes=59))
    assert due() is None, "younger than the interval"
    clock.advance(timedelta(minutes=1))
    second = due()
    assert second is not None and second.seq == 5
    clock.advance(timedelta(hours=5))
    assert due() is None, "nothing happened since the last checkpoint"
    append_events(runtime, 1)
    with runtime.unit(SYSTEM) as ctx:
        third = service.checkpoint_if_due(ctx, interval=timedelta(hours=6))
    assert third is None
    clock.advance(timedelta(hours=1))
    assert due() is not None
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        assert service.latest_checkpoint(ctx) is not None
    assert verify(runtime).checkpoints_checked == 3


def test_who_may_sign_checkpoints(runtime: Runtime) -> None:
    evaluator = Actor(
        user_id="u1",
        org_id="agency",
        roles=frozenset({Role.EVALUATOR}),
        capacities=frozenset({Capacity.AGENCY}),
    )
    with runtime.unit(evaluator) as ctx:
        assert service.checkpoint(ctx).seq == 1
    developer_admin = Actor(
        user_id="u2",
        org_id="dev",
        roles=frozenset({Role.ADMIN}),
        capacities=frozenset({Capacity.DEVELOPER}),
    )
    with runtime.unit(developer_admin) as ctx, pytest.raises(PermissionDenied):
        service.checkpoint(ctx)


def test_checkpoint_event_commits_or_rolls_back_with_the_checkpoint(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), runtime.unit(SYSTEM) as ctx:
        service.checkpoint(ctx)
        raise RuntimeError("the report failed to issue")
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        assert ctx.session.scalar(select(AuditEvent.seq)) is None
        assert service.latest_checkpoint(ctx) is None
