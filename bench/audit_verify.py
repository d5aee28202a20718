"""Benchmark: verify a 100,000-event audit chain (goal: <= 2 s).

Builds the chain quickly by bulk-inserting precomputed rows (hashed with `predeploy.audit.chain`,
exactly as `record` hashes them) into a fresh, migrated database, then times:

- baseline: reading every row in seq order, in the same keyset batches, and decoding its
  datetime and JSON as the application does, without hashing;
- verify: `predeploy.audit.service.verify` (the walk `predeploy audit verify` runs);
- verify --checkpoint: the same plus checking the signed checkpoints.

Best of 3 each. Usage:
    .venv/bin/python bench/audit_verify.py [--rows 100000] [--postgres URL]

`--postgres URL` points at a server (e.g. `postgresql+psycopg://postgres@/postgres?host=/var/run/postgresql`);
a temporary database is created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, create_engine, insert, text
from sqlalchemy.engine import make_url

from _result import emit_result
from predeploy.accounts import Actor
from predeploy.audit import service
from predeploy.audit._verify import BATCH_SIZE, _Decoder, _rows_after
from predeploy.audit.chain import row_hash
from predeploy.audit.models import GENESIS_HASH, AuditEvent
from predeploy.canonical import digest
from predeploy.config import Settings
from predeploy.migrate import upgrade
from predeploy.runtime import Runtime

GOAL_SECONDS = 2.0
ACTIONS = [
    ("submission.create", "submission"),
    ("submission.transition", "submission"),
    ("model.create", "model"),
    ("token.issue", "api_token"),
    ("user.create", "user"),
]


def synthetic_rows(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` chained rows that look like real traffic: a few orgs and users, varied details."""
    rng = random.Random(seed)
    orgs = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20)]
    users = [(str(uuid.UUID(int=rng.getrandbits(128))), f"user{i}@example.org") for i in range(200)]
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        moment += timedelta(microseconds=rng.randrange(1, 60_000_000))
        action, object_type = rng.choice(ACTIONS)
        user_id, label = rng.choice(users)
        object_id = str(uuid.UUID(int=rng.getrandbits(128)))
        fields: dict[str, Any] = {
            "seq": seq,
            "prev_hash": prev,
            "created_at": moment,
            "actor_user_id": user_id,
            "actor_label": label,
            "org_id": rng.choice(orgs),
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "change_digest": digest({"id": object_id, "n": seq}),
            "detail": {"from": "draft", "to": "submitted"} if seq % 3 else {"name": f"m{seq}"},
        }
        fields["row_hash"] = prev = row_hash(fields)
        yield fields


def build_chain(runtime: Runtime, count: int) -> None:
    """Bulk-insert `count` precomputed rows, then sign a checkpoint over them."""
    assert runtime.engine is not None
    rows = synthetic_rows(count)
    with runtime.engine.begin() as connection:
        while batch := [row for _, row in zip(range(10_000), rows, strict=False)]:
            connection.execute(insert(cast(Table, AuditEvent.__table__)), batch)
    with runtime.unit(Actor.system("bench")) as ctx:
        service.checkpoint(ctx)


def best_of(runs: int, action: Callable[[], object]) -> tuple[float, object]:
    best, outcome = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        outcome = action()
        best = min(best, time.perf_counter() - started)
    return best, outcome


def measure(runtime: Runtime) -> dict[str, float]:
    """Best-of-3 seconds for the baseline read, verify, and verify with checkpoints."""
    system = Actor.system("bench")

    def read_only() -> int:
        with runtime.unit(system, read_only=True) as ctx:
            connection = ctx.session.connection()
            decode = _Decoder(connection.dialect)
            return sum(1 for row in _rows_after(connection, None) if decode(row))

    def verify(with_checkpoints: bool) -> Callable[[], object]:
        def run() -> object:
            with runtime.unit(system, read_only=True) as ctx:
                result = service.verify(ctx, with_checkpoints=with_checkpoints)
            assert result.ok, result.reason
            return result

        return run

    baseline, _ = best_of(3, read_only)
    plain, _ = best_of(3, verify(False))
    anchored, _ = best_of(3, verify(True))
    return {"baseline": baseline, "verify": plain, "verify --checkpoint": anchored}


@contextmanager
def database(postgres: str | None, workdir: Path) -> Iterator[str]:
    """A fresh database URL: SQLite in `workdir`, or a temporary PostgreSQL database."""
    if postgres is None:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    name = f"predeploy_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL instead of SQLite")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="predeploy-bench-") as tmp,
        database(args.postgres, Path(tmp)) as url,
    ):
        upgrade(url)
        runtime = Runtime(settings=Settings(data_dir=Path(tmp) / "data", database_url=url))
        started = time.perf_counter()
        build_chain(runtime, args.rows)
        built = time.perf_counter() - started
        times = measure(runtime)
        assert runtime.engine is not None
        runtime.engine.dispose()
    backend = "postgresql" if args.postgres else "sqlite"
    rows = args.rows + 1  # the checkpoint's own event
    print(f"audit chain verify: {rows:,} events on {backend}, batches of {BATCH_SIZE:,}")
    print(f"(chain built in {built:.1f} s; best of 3 runs each)\n")
    print(f"{'measurement':<22}{'seconds':>9}{'rows/s':>12}{'/ baseline':>12}{'/ 2 s goal':>12}")
    for label, seconds in times.items():
        print(
            f"{label:<22}{seconds:>9.3f}{rows / seconds:>12,.0f}"
            f"{seconds / times['baseline']:>12.2f}{seconds / GOAL_SECONDS:>12.2f}"
        )
    verdict = "meets" if times["verify --checkpoint"] <= GOAL_SECONDS else "MISSES"
    print(
        f"\njudged ratio: verify --checkpoint time / 2 s goal = "
        f"{times['verify --checkpoint'] / GOAL_SECONDS:.2f} ({verdict} the goal)"
    )
    judged = times["verify --checkpoint"]
    emit_result(
        __file__,
        figure=f"verify --checkpoint {judged:.3f} s ({backend})",
        goal=f"<= {GOAL_SECONDS:g} s",
        ratio=judged / GOAL_SECONDS,
        met=judged <= GOAL_SECONDS,
    )


if __name__ == "__main__":
    main()
