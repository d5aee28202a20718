"""The secrets scan finds a secret in clear in a file, inside a compressed zip member (Inspect's
`.eval` logs) and in a SQLite database, names where and what, and never prints the secret."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

from predeploy.backup import database_files
from predeploy.secret_scan import Secret, scan
from tests.conftest import Api

KEY = Secret("model API key", b"sk-scan-test-7Hq2Lw9Xv")
TOKEN = Secret("API token", b"pd_tok_scan_Rm5Kd8")


def test_every_place_a_secret_is_in_clear_is_found(tmp_path: Path) -> None:
    (tmp_path / "server.log").write_bytes(b"calling model with key " + KEY.value + b"\n")
    with zipfile.ZipFile(tmp_path / "job.eval", "w", compression=zipfile.ZIP_DEFLATED) as log:
        log.writestr("samples/1_epoch_1.json", b'{"auth": "' + TOKEN.value + b'"}' * 50)
    nested = tmp_path / "exports"
    nested.mkdir()
    (nested / "clean.json").write_text('{"nothing": "here"}')
    with sqlite3.connect(tmp_path / "predeploy.db") as database:
        database.execute("CREATE TABLE t (v BLOB)")
        database.execute("INSERT INTO t VALUES (?)", (KEY.value,))
    database.close()

    leaks = scan([tmp_path], [KEY, TOKEN])

    found = sorted((leak.path.name, leak.member, leak.kind) for leak in leaks)
    assert found == [
        ("job.eval", "samples/1_epoch_1.json", "API token"),
        ("predeploy.db", None, "model API key"),
        ("server.log", None, "model API key"),
    ]
    # The compressed member does not hold the token's bytes as such: only reading it finds it.
    assert TOKEN.value not in (tmp_path / "job.eval").read_bytes()
    assert all(KEY.value.decode() not in str(leak) for leak in leaks)
    assert "model API key in" in str(leaks[0]) or "API token in" in str(leaks[0])


def test_files_meant_to_hold_a_secret_are_skipped_and_empty_secrets_ignored(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(KEY.value)
    (tmp_path / "notes.txt").write_text("no secret")

    assert scan([tmp_path], [KEY, Secret("empty", b"")], skip=[key_file]) == []
    assert [leak.path for leak in scan([tmp_path], [KEY])] == [key_file]


def test_the_database_is_scanned_whichever_engine_holds_it(api: Api, tmp_path: Path) -> None:
    api.org(f"Leaky Lab {KEY.value.decode()}", "developer")
    settings = api.runtime.settings
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    files = database_files(settings, scratch)
    leaks = scan([*files, settings.data_dir], [KEY])

    # SQLite's own file (wherever it is); PostgreSQL's data read through a plain dump.
    if settings.resolved_database_url.startswith("postgresql"):
        assert files == [scratch / "database.sql"]
        assert files[0].stat().st_mode & 0o777 == 0o600
    else:
        assert files[0].name == "predeploy.db" and not files[0].is_relative_to(settings.data_dir)
    assert leaks and {leak.path for leak in leaks} <= set(files)
    assert {leak.kind for leak in leaks} == {"model API key"}


def test_binary_secrets_are_matched_whole_in_a_database(tmp_path: Path) -> None:
    # A raw key may hold newlines: each of its lines alone is no leak, the whole key is one.
    raw = Secret("signing key (raw)", b"\x8f\x01\nA\x00\x9c\nZ" + bytes(range(200, 224)))
    with sqlite3.connect(tmp_path / "predeploy.db") as database:
        database.execute("CREATE TABLE t (v BLOB)")
        database.execute("INSERT INTO t VALUES (?)", (b"A\x00\x9c and Z, apart",))
    database.close()
    assert scan([tmp_path], [raw]) == []

    with sqlite3.connect(tmp_path / "predeploy.db") as database:
        database.execute("INSERT INTO t VALUES (?)", (b"key: " + raw.value,))
    database.close()
    (leak,) = scan([tmp_path], [raw])
    assert (leak.path.name, leak.kind) == ("predeploy.db", "signing key (raw)")
