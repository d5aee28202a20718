"""Verification walks the chain and names the first modified, deleted, inserted or moved row."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from predeploy.accounts import Actor
from predeploy.accounts.schemas import OrgCreate, TokenCreate, UserCreate
from predeploy.accounts.service import bootstrap, create_org, create_user, issue_token, revoke_token
from predeploy.audit import service
from predeploy.audit.models import GENESIS_HASH
from predeploy.audit.schemas import VerifyResult
from predeploy.errors import PermissionDenied
from predeploy.runtime import Runtime
from tests.audit import tampering
from tests.audit.tampering import append_events, attacker

SYSTEM = Actor.system("tests")
CHAIN_LENGTH = 60
TRIES = 12


def verify(runtime: Runtime) -> VerifyResult:
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        return service.verify(ctx)


def test_empty_chain_verifies(runtime: Runtime) -> None:
    result = verify(runtime)
    assert result.ok
    assert (result.rows_checked, result.head_seq, result.head_hash) == (0, 0, GENESIS_HASH)


def test_chain_is_intact_after_many_service_calls(runtime: Runtime) -> None:
    with runtime.unit(SYSTEM) as ctx:
        agency = bootstrap(ctx, "Agency", "admin@agency.example")
    for n in range(15):
        with runtime.unit(SYSTEM) as ctx:
            org = create_org(ctx, OrgCreate(name=f"Org {n}", capacities=["developer"]))
            user = create_user(
                ctx, UserCreate(email=f"u{n}@org.example", org_id=org.id, roles=["submitter"])
            )
            token = issue_token(ctx, TokenCreate(user_id=user.id))
            revoke_token(ctx, token.id)
    result = verify(runtime)
    assert result.ok, result.reason
    assert result.rows_checked == result.head_seq == 3 + 15 * 4
    with runtime.unit(SYSTEM, read_only=True) as ctx:
        page = service.list_events(ctx, limit=1)
    assert page.items[0].row_hash == result.head_hash
    assert agency.org_id


def test_an_intact_chain_verifies_across_batches(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("predeploy.audit._verify.BATCH_SIZE", 7)
    append_events(runtime, CHAIN_LENGTH)
    result = verify(runtime)
    assert result.ok, result.reason
    assert result.rows_checked == CHAIN_LENGTH


def _tamper_and_check(runtime: Runtime, seed: int, tamper: str) -> None:
    rng = random.Random(seed)
    for _ in range(TRIES):
        # Rows strictly inside the chain: removing or altering the last row is a truncated tail,
        # which only a checkpoint reveals (tested there).
        seq = rng.randrange(2, CHAIN_LENGTH)
        with attacker(runtime, commit=False) as ctx:
            expected = seq
            if tamper == "modify":
                tampering.modify(ctx.session, seq, rng)
            elif tamper == "modify_and_rehash":
                tampering.modify_and_rehash(ctx.session, seq)
                expected = seq + 1  # the row itself is consistent; its successor's link is not
            elif tamper == "delete":
                tampering.delete_row(ctx.session, seq)
            elif tamper == "insert":
                tampering.insert_at(ctx.session, seq)
                expected = seq + 1  # the forged row is well-formed; the relinked row is not
            elif tamper == "reorder":
                other = rng.randrange(1, CHAIN_LENGTH + 1)
                while other == seq:
                    other = rng.randrange(1, CHAIN_LENGTH + 1)
                tampering.swap(ctx.session, seq, other)
                expected = min(seq, other)
            result = service.verify(ctx)
        assert not result.ok, (tamper, seq)
        assert result.first_bad_seq == expected, (tamper, seq, result.reason)
        assert result.reason and f"row {expected}" in result.reason
        assert result.rows_checked == expected - 1
    assert verify(runtime).ok, "the rolled-back tampering left the chain as it was"


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("tamper", ["modify", "modify_and_rehash", "delete", "insert", "reorder"])
def test_tampering_is_detected_at_the_first_bad_row(
    runtime: Runtime, tamper: str, seed: int
) -> None:
    append_events(runtime, CHAIN_LENGTH, seed=seed)
    _tamper_and_check(runtime, seed, tamper)


def _delete_two(session: Session) -> None:
    tampering.delete_row(session, 3)
    tampering.delete_row(session, 4)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (partial(tampering.delete_row, seq=1), 1),
        (partial(tampering.swap, first=1, second=2), 1),
        (partial(tampering.swap, first=9, second=10), 9),
        (_delete_two, 3),
        (tampering.insert_before_first, 0),
        (partial(tampering.modify, seq=1, rng=random.Random(3)), 1),
    ],
    ids=[
        "delete-first",
        "swap-first",
        "swap-last",
        "delete-two",
        "insert-before-first",
        "modify-first",
    ],
)
def test_edges_of_the_chain(
    runtime: Runtime, tamper: Callable[[Session], None], expected: int
) -> None:
    append_events(runtime, 10)
    with attacker(runtime, commit=False) as ctx:
        tamper(ctx.session)
        result = service.verify(ctx)
    assert (result.ok, result.first_bad_seq) == (False, expected), result.reason


def test_committed_tampering_is_reported_later(runtime: Runtime) -> None:
    append_events(runtime, 20)
    with attacker(runtime) as ctx:
        tampering.delete_row(ctx.session, 7)
    result = verify(runtime)
    assert (result.ok, result.first_bad_seq, result.rows_checked) == (False, 7, 6)
    assert result.reason == "row 7 is missing (the next row is 8)"


def test_only_agency_admins_verify(runtime: Runtime) -> None:
    from predeploy.accounts.models import Capacity, Role

    developer_admin = Actor(
        user_id="u",
        org_id="o",
        roles=frozenset({Role.ADMIN}),
        capacities=frozenset({Capacity.DEVELOPER}),
    )
    with runtime.unit(developer_admin, read_only=True) as ctx, pytest.raises(PermissionDenied):
        service.verify(ctx)


def test_long_actor_labels_are_cut_to_fit_and_still_verify(runtime: Runtime) -> None:
    long_email = "a" * 300 + "@example.org"
    actor = Actor(user_id="u", org_id="o", label=long_email)
    with runtime.unit(actor) as ctx:
        event = service.record(ctx, "user.login", "user", "u", {})
    assert event.actor_label == long_email[:100]
    assert verify(runtime).ok


def test_unreadable_values_are_reported_not_crashed_on(runtime: Runtime) -> None:
    append_events(runtime, 6)
    assert runtime.engine is not None
    if runtime.engine.dialect.name == "sqlite":
        # SQLite keeps whatever text it is given, readable or not.
        attacks = [
            ["UPDATE audit_events SET created_at = 'garbage' WHERE seq = 3"],
            ["UPDATE audit_events SET detail = '{not json' WHERE seq = 3"],
        ]
    else:
        attacks = [
            [
                f"ALTER TABLE audit_events ALTER COLUMN {column} DROP NOT NULL",
                f"UPDATE audit_events SET {column} = NULL WHERE seq = 3",
            ]
            for column in ("created_at", "actor_label")
        ]
    for statements in attacks:
        with attacker(runtime, commit=False) as ctx:
            for statement in statements:
                ctx.session.execute(text(statement))
            result = service.verify(ctx)
        assert (result.ok, result.first_bad_seq) == (False, 3), statements
        assert result.reason and result.reason.startswith("row 3 holds a value that cannot be read")
