"""Model API keys: encrypted at rest, never returned, destroyed on withdrawal and at expiry."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from predeploy.all_models import metadata
from predeploy.audit.models import AuditEvent
from predeploy.errors import Conflict, NotFound
from predeploy.submissions.models import AccessKey
from predeploy.submissions.service import expire_access, get_api_key
from tests.conftest import START
from tests.submissions.conftest import API_KEY, World, as_system, iso

DAY = timedelta(days=1)
OTHER_KEY = "sk-second-variant-Kp4mQ9wXz2"


def _accepted(world: World, **fields: object) -> dict[str, object]:
    body_variants = [
        {"label": "production", "model": "openai-api/acme/m1", "api_key": API_KEY},
        {"label": "reduced-safeguards", "model": "openai-api/acme/m1-rs", "api_key": OTHER_KEY},
    ]
    sub = world.submission(access_variants=body_variants, **fields)
    assert world.move(sub["id"], "submitted", world.submitter).status_code == 200
    response = world.move(sub["id"], "accepted", world.evaluator)
    assert response.status_code == 200
    assert API_KEY not in response.text and OTHER_KEY not in response.text
    return response.json()  # type: ignore[no-any-return]


def _variant_ids(sub: dict[str, object]) -> list[str]:
    return [v["id"] for v in sub["access_variants"]]  # type: ignore[attr-defined, index]


def _ciphertexts(world: World) -> list[bytes | None]:
    with world.system() as ctx:
        return list(ctx.session.scalars(select(AccessKey.ciphertext)))


def _database_text(world: World) -> bytes:
    """Everything the database holds, as bytes: the raw files, or a dump of every row."""
    runtime = world.api.runtime
    assert runtime.engine is not None
    url = make_url(runtime.settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        runtime.engine.dispose()  # checkpoint the WAL into the file, and read both anyway
        path = Path(url.database or "")
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    chunks = []
    with runtime.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(text(f'SELECT t::text FROM "{table.name}" t')).scalars()
            chunks.extend(row.encode() for row in rows)
    if shutil.which("pg_dump"):
        # The row dump above already covers every table; pg_dump adds the server's own view when
        # its version can talk to this server.
        host = url.host or str(url.query.get("host", "")) or None
        command = ["pg_dump", "--data-only", "-U", url.username or "postgres"]
        command += ["-h", host] if host else []
        command += ["-p", str(url.port)] if url.port else []
        env = {**os.environ, "PGPASSWORD": url.password or ""}
        dump = subprocess.run([*command, url.database or ""], capture_output=True, env=env)
        if dump.returncode == 0:
            chunks.append(dump.stdout)
    return b"\n".join(chunks)


def test_keys_are_encrypted_at_rest_and_usable_by_the_agency(world: World) -> None:
    sub = _accepted(world)
    assert all(v["has_api_key"] for v in sub["access_variants"])  # type: ignore[attr-defined]
    stored = _ciphertexts(world)
    assert len(stored) == 2 and all(c and API_KEY.encode() not in c for c in stored)
    with world.api.runtime.unit(world.actor(world.evaluator)) as ctx:
        keys = {get_api_key(ctx, variant_id) for variant_id in _variant_ids(sub)}
    assert keys == {API_KEY, OTHER_KEY}
    dump = _database_text(world)
    assert b"openai-api/acme/m1" in dump  # the dump does hold the submission
    assert API_KEY.encode() not in dump
    assert OTHER_KEY.encode() not in dump


def test_only_the_agency_or_system_reads_keys(world: World) -> None:
    sub = _accepted(world)
    variant_id = _variant_ids(sub)[0]
    for caller in (world.submitter, world.dev_admin, world.analyst, world.vendor):
        with world.api.runtime.unit(world.actor(caller)) as ctx, pytest.raises(NotFound):
            get_api_key(ctx, variant_id)
    assert as_system(world, get_api_key, variant_id) == API_KEY


def test_keys_are_not_usable_before_acceptance(world: World) -> None:
    sub = world.submission()
    world.move(sub["id"], "submitted", world.submitter)
    with pytest.raises(Conflict, match="submitted"):
        as_system(world, get_api_key, _variant_ids(sub)[0])


@pytest.mark.parametrize(
    ("path", "final"),
    [
        ([("withdrawn", "submitter")], "withdrawn"),
        ([("declined", "evaluator")], "declined"),
    ],
)
def test_keys_are_destroyed_when_the_submission_ends(
    world: World, path: list[tuple[str, str]], final: str
) -> None:
    sub = world.submission()
    world.move(sub["id"], "submitted", world.submitter)
    for to, who in path:
        response = world.move(sub["id"], to, getattr(world, who), "no longer needed")
        assert response.status_code == 200, response.text
    ended = response.json()
    variant = ended["access_variants"][0]
    assert variant["has_api_key"] is False
    assert variant["api_key_destroyed_at"] == iso(START)
    assert _ciphertexts(world) == [None]
    with pytest.raises(Conflict):
        as_system(world, get_api_key, variant["id"])
    with world.system() as ctx:
        destroyed = ctx.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "submission.keys_destroyed")
        ).one()
    assert destroyed == {"variants": ["production"], "reason": final}
    assert API_KEY.encode() not in _database_text(world)


def test_withdrawal_during_testing_destroys_keys(world: World) -> None:
    from predeploy.submissions.service import mark_testing

    sub = _accepted(world)
    as_system(world, mark_testing, sub["id"])
    response = world.move(str(sub["id"]), "withdrawn", world.submitter, "pulling out")
    assert response.status_code == 200
    assert _ciphertexts(world) == [None, None]


def test_keys_expire_with_access(world: World) -> None:
    sub = _accepted(world, access_expires_at=iso(START + 10 * DAY))
    assert any("access_expires_before_report" in w for w in sub["warnings"])  # type: ignore[attr-defined]
    unrelated = _accepted(world)  # access until the release: untouched by the sweep
    world.api.runtime.clock.advance(10 * DAY)  # type: ignore[attr-defined]
    # Expired means unusable at once, even before the sweep has run.
    with pytest.raises(Conflict, match="expired"):
        as_system(world, get_api_key, _variant_ids(sub)[0])
    assert as_system(world, expire_access) == 2
    assert as_system(world, expire_access) == 0
    shown = world.get(f"/submissions/{sub['id']}", world.submitter).json()
    assert [v["has_api_key"] for v in shown["access_variants"]] == [False, False]
    assert shown["access_variants"][0]["api_key_destroyed_at"] == iso(START + 10 * DAY)
    assert as_system(world, get_api_key, _variant_ids(unrelated)[0]) == API_KEY
    with world.system() as ctx:
        reasons = ctx.session.scalars(
            select(AccessKey.destroyed_reason).where(AccessKey.ciphertext.is_(None))
        ).all()
    assert reasons == ["access_expired", "access_expired"]


def test_expiry_sweep_is_for_the_agency_and_system_only(world: World) -> None:
    from predeploy.errors import PermissionDenied

    with (
        world.api.runtime.unit(world.actor(world.submitter)) as ctx,
        pytest.raises(PermissionDenied),
    ):
        expire_access(ctx)
