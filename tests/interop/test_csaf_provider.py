"""The clearinghouse as a CSAF 2.0 trusted provider under `/.well-known/csaf/`: provider metadata
valid against OASIS's provider schema; published CLEAR advisories (and only those) in the public
`white` directory, each valid CSAF with a `sha256sum`-checkable hash and an OpenPGP signature
that `gpg` verifies with the served key; `index.txt` and `changes.csv` exactly and in order; a
new revision re-signed; GREEN/AMBER documents behind a token and the visibility rules; bad paths
404; the key made once per data dir, protected at rest and never logged.

It proves threats T41 and T42 of `docs/threat-model.md`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import gnupg
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from httpx2 import Response
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from predeploy.api import create_app
from predeploy.config import Settings
from predeploy.interop._csaf_checks import mandatory_problems
from predeploy.interop._openpgp import PASSPHRASE_FILE, OpenPgpKey
from predeploy.keys import SecretBox
from predeploy.runtime import Runtime
from tests.authz_matrix import api_routes
from tests.clearinghouse.conftest import AI_MODEL_VULN, SOFTWARE_VULN, Community, body
from tests.clearinghouse.conftest import community as community
from tests.clearinghouse.test_advisories import (
    EMBARGO_END,
    _clock,
    _coordinating_case,
    _draft,
    _ok,
    _second_analyst,
)
from tests.conftest import Caller
from tests.interop.test_csaf import SCHEMAS, errors
from tests.interop.test_csaf import csaf_schema as csaf_schema
from tests.shared_data import shared_data

CSAF = "/.well-known/csaf"
COVERED_ROUTES = {
    ("GET", f"{CSAF}/provider-metadata.json"): "test_provider_metadata_is_valid_and_names_...",
    ("GET", f"{CSAF}/openpgp/{{name}}"): "test_provider_metadata_is_valid_and_names_...",
    ("GET", f"{CSAF}/{{label}}/"): "test_published_clear_documents_..., test_restricted_...",
    ("GET", f"{CSAF}/{{label}}/index.txt"): "test_published_clear_..., test_restricted_...",
    ("GET", f"{CSAF}/{{label}}/changes.csv"): "test_published_clear_..., test_restricted_...",
    ("GET", f"{CSAF}/{{label}}/{{year}}/"): "test_published_clear_..., test_restricted_...",
    ("GET", f"{CSAF}/{{label}}/{{year}}/{{name}}"): "test_published_clear_..., test_restricted_...",
}
"""The provider's routes and the tests that hold who may read them (its own matrix: the public
directory, each restricted label, the visibility rules)."""
ADVISORIES = "/api/v1/clearinghouse/advisories"
YEAR = f"{EMBARGO_END:%Y}"
"""The year of every initial release here (the case numbers carry the year they were opened)."""


def _stop_agent(home: Path) -> None:
    """Stop the gpg-agent that gpg started for `home` (only that one)."""
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False,
                   capture_output=True)  # fmt: skip


@pytest.fixture(scope="session")
def session_key() -> Iterator[tuple[Path, bytes]]:
    """One OpenPGP home for the session (making a key takes a second or two) and the server
    secret key that seals its passphrase, copied into each test's data dir."""
    root = Path(tempfile.mkdtemp(prefix="pdcsaf-"))
    yield root / "openpgp", Fernet.generate_key()
    _stop_agent(root / "openpgp")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def settings(tmp_path: Path, db_url: str, session_key: tuple[Path, bytes]) -> Settings:
    home, secret = session_key
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret.key").write_bytes(secret)
    return Settings(data_dir=data_dir, database_url=db_url, csaf_openpgp_home=home)


@pytest.fixture(scope="module")
def provider_schema() -> Draft202012Validator:
    shared_data("schemas/csaf-2.0")
    first = SCHEMAS / "referenced_schema" / "first"
    schemas = SCHEMAS / "json_schema"
    contents = {
        f"https://www.first.org/cvss/{name}.json": first / f"{name}.json"
        for name in ("cvss-v2.0", "cvss-v3.0", "cvss-v3.1")
    } | {"https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json":
         schemas / "csaf_json_schema.json"}  # fmt: skip
    registry: Registry[Any] = Registry().with_resources(
        (url, Resource.from_contents(json.loads(path.read_text())))
        for url, path in contents.items()
    )
    schema = json.loads((schemas / "provider_json_schema.json").read_text())
    return Draft202012Validator(schema, registry=registry)


# --- helpers ----------------------------------------------------------------------------------


def _get(community: Community, caller: Caller | None, path: str) -> Response:
    return community.get(caller, path)


def _text(response: Response) -> str:
    assert response.status_code == 200, response.text
    return response.text


def _vuln(community: Community, where: str) -> str:
    """A new report (its own root cause, so it is no duplicate), in a coordinating case (made
    before any publication: its embargo ends at EMBARGO_END)."""
    return _coordinating_case(community, community.file(body(SOFTWARE_VULN, root_cause=where)))


def _publish(community: Community, case: str, hours: int, **fields: Any) -> str:
    """Draft and publish (by a second analyst) a revision of the case's advisory, `hours`
    after the embargo ended."""
    _clock(community).set(EMBARGO_END + timedelta(hours=hours))
    draft = _ok(_draft(community, case, **fields), 201)
    approver = _second_analyst(community)
    _ok(community.post(approver, f"{ADVISORIES}/{draft['number']}/publish",
                       {"sha256": draft["draft"]["sha256"]}))  # fmt: skip
    number: str = draft["number"]
    return number


def _path(number: str) -> str:
    return f"{YEAR}/{number.lower()}.json"


def _changes(text: str) -> list[tuple[str, str]]:
    return [(path, when) for path, when in csv.reader(io.StringIO(text))]


@contextmanager
def _fresh_gpg() -> Iterator[gnupg.GPG]:
    """A gpg with an empty keyring, as a consumer who only has the served public key."""
    home = Path(tempfile.mkdtemp(prefix="pdverify-"))
    try:
        yield gnupg.GPG(gnupghome=str(home))
    finally:
        _stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def _verify(public_key: str, document: bytes, signature: bytes) -> tuple[bool, str | None]:
    """`gpg --verify document.json.asc` of `document`, in a fresh keyring holding the key."""
    with _fresh_gpg() as gpg:
        assert gpg.import_keys(public_key).count == 1
        path = Path(gpg.gnupghome) / "document.json.asc"
        path.write_bytes(signature)
        result = gpg.verify_data(str(path), document)
        return bool(result.valid), result.fingerprint


def _sums_check(tmp: Path, name: str, document: bytes, sums: dict[str, bytes]) -> list[int]:
    """`sha256sum -c` and `sha512sum -c` of the served hash files, beside `document`."""
    (tmp / name).write_bytes(document)
    codes = []
    for algorithm, content in sums.items():
        (tmp / f"{name}.{algorithm}").write_bytes(content)
        checked = subprocess.run([f"{algorithm}sum", "-c", f"{name}.{algorithm}"], cwd=tmp,
                                 capture_output=True, check=False)  # fmt: skip
        codes.append(checked.returncode)
    return codes


def _metadata(community: Community) -> dict[str, Any]:
    response = _get(community, None, f"{CSAF}/provider-metadata.json")
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    metadata: dict[str, Any] = response.json()
    return metadata


def _public_key(community: Community) -> tuple[str, str]:
    (key,) = _metadata(community)["public_openpgp_keys"]
    url: str = key["url"]
    served = _text(_get(community, None, url.removeprefix("http://127.0.0.1:8000")))
    assert served.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    return key["fingerprint"], served


# --- tests ------------------------------------------------------------------------------------


def test_every_provider_route_is_covered(settings: Settings) -> None:
    routes = api_routes(create_app(Runtime(settings=settings)))
    assert {r for r in routes if r[1].startswith(CSAF)} == set(COVERED_ROUTES)


def test_provider_metadata_is_valid_and_names_directories_key_and_publisher(
    community: Community, provider_schema: Draft202012Validator
) -> None:
    metadata = _metadata(community)
    assert errors(provider_schema, metadata) == []
    assert errors(provider_schema, {**metadata, "role": "csaf_aggregator"}) != []
    base = "http://127.0.0.1:8000/.well-known/csaf"
    assert metadata["canonical_url"] == f"{base}/provider-metadata.json"
    assert metadata["distributions"] == [
        {"directory_url": f"{base}/{label}/"} for label in ("white", "green", "amber", "red")
    ]
    assert (metadata["metadata_version"], metadata["role"]) == ("2.0", "csaf_trusted_provider")
    assert metadata["list_on_CSAF_aggregators"] and metadata["mirror_on_CSAF_aggregators"]
    fingerprint, public_key = _public_key(community)
    with _fresh_gpg() as gpg:
        assert gpg.import_keys(public_key).fingerprints == [fingerprint]
    wrong = _get(community, None, f"{CSAF}/openpgp/{'0' * 40}.asc")
    assert wrong.status_code == 404 and fingerprint in wrong.json()["error"]["message"]

    # The publisher is the one every document names; last_updated follows the public documents.
    number = _publish(community, _vuln(community, "src/a.c:f"), hours=1)
    document = _get(community, None, f"{CSAF}/white/{_path(number)}").json()
    after = _metadata(community)
    assert after["publisher"] == document["document"]["publisher"]
    assert after["publisher"]["name"] == "Testing Agency"
    assert after["last_updated"] == document["document"]["tracking"]["current_release_date"]


def test_published_clear_documents_are_listed_hashed_and_signed(
    community: Community, csaf_schema: Draft202012Validator, tmp_path: Path
) -> None:
    cases = [_vuln(community, where) for where in ("src/a.c:f", "src/b.c:g", "src/c.c:h")]
    drafted = _coordinating_case(community, community.file(AI_MODEL_VULN))
    first = _publish(community, cases[0], hours=1)
    second = _publish(community, cases[1], hours=2)
    recipients = {"orgs": [community.recipient.org_id], "users": []}
    amber = _publish(community, cases[2], hours=3, tlp="AMBER", recipients=recipients)
    _ok(_draft(community, drafted), 201)

    # Listed: the published CLEAR documents only (not the AMBER one, not the draft), newest first.
    assert _text(_get(community, None, f"{CSAF}/white/index.txt")) == (
        f"{_path(second)}\n{_path(first)}\n"
    )
    changes = _changes(_text(_get(community, None, f"{CSAF}/white/changes.csv")))
    assert [path for path, _ in changes] == [_path(second), _path(first)]
    # The analyst who sees drafts and every label gets the same public directory.
    assert _text(_get(community, community.analyst, f"{CSAF}/white/index.txt")).split() == [
        _path(second), _path(first)]  # fmt: skip
    assert _get(community, None, f"{CSAF}/white/{_path(amber)}").status_code == 404

    fingerprint, public_key = _public_key(community)
    for (path, when), number in zip(changes, (second, first), strict=True):
        response = _get(community, None, f"{CSAF}/white/{path}")
        assert response.status_code == 200 and response.headers["content-type"] == (
            "application/json")  # fmt: skip
        document = response.content
        csaf = json.loads(document)
        assert errors(csaf_schema, csaf) == [] and mandatory_problems(csaf) == []
        tracking = csaf["document"]["tracking"]
        assert (tracking["id"], tracking["current_release_date"]) == (number, when)
        assert csaf["document"]["distribution"]["tlp"]["label"] == "WHITE"
        # The served bytes are the ones hashed and signed.
        name = path.split("/")[1]
        sums = {a: _get(community, None, f"{CSAF}/white/{path}.{a}").content
                for a in ("sha256", "sha512")}  # fmt: skip
        assert sums["sha256"].decode().endswith(f"  {name}\n")
        assert _sums_check(tmp_path, name, document, sums) == [0, 0]
        assert _sums_check(tmp_path, name, document.replace(b"WHITE", b"GREEN"), sums) == [1, 1]
        signature = _get(community, None, f"{CSAF}/white/{path}.asc")
        assert signature.headers["content-type"] == "application/pgp-signature"
        assert signature.text.startswith("-----BEGIN PGP SIGNATURE-----")
        assert _verify(public_key, document, signature.content) == (True, fingerprint)
        assert _verify(public_key, document + b" ", signature.content)[0] is False
        assert _get(community, None, f"{CSAF}/white/{path}.asc").content == signature.content

    # Directory listings, for people browsing.
    listing = _text(_get(community, None, f"{CSAF}/white/"))
    assert all(f'href="{n}"' in listing for n in ("index.txt", "changes.csv", f"{YEAR}/"))
    year = _text(_get(community, None, f"{CSAF}/white/{YEAR}/"))
    assert f'href="{first.lower()}.json.asc"' in year and amber.lower() not in year

    # A new revision changes the document, its place in changes.csv, and is signed anew.
    old = _get(community, None, f"{CSAF}/white/{_path(first)}").content
    old_signature = _get(community, None, f"{CSAF}/white/{_path(first)}.asc").content
    _publish(community, first.replace("PDXA", "PDX"), hours=4, title="Heap overflow, revised")
    changes = _changes(_text(_get(community, None, f"{CSAF}/white/changes.csv")))
    assert [path for path, _ in changes] == [_path(first), _path(second)]
    new = _get(community, None, f"{CSAF}/white/{_path(first)}").content
    tracking = json.loads(new)["document"]["tracking"]
    assert (tracking["version"], tracking["current_release_date"]) == ("2", changes[0][1])
    assert tracking["initial_release_date"] != tracking["current_release_date"]
    signature = _get(community, None, f"{CSAF}/white/{_path(first)}.asc").content
    assert new != old and signature != old_signature
    assert _verify(public_key, new, signature) == (True, fingerprint)
    assert _verify(public_key, new, old_signature)[0] is False


def test_restricted_documents_need_a_token_and_follow_the_visibility_rules(
    community: Community, csaf_schema: Draft202012Validator
) -> None:
    cases = [_vuln(community, where) for where in ("src/c.c:h", "src/d.c:i", "src/e.c:j")]
    recipients = {"orgs": [community.recipient.org_id], "users": []}
    amber = _publish(community, cases[0], hours=1, tlp="AMBER", recipients=recipients)
    green = _publish(community, cases[1], hours=2, tlp="GREEN")
    clear = _publish(community, cases[2], hours=3)
    files = [f"{CSAF}/amber/{_path(amber)}{suffix}" for suffix in ("", ".sha256", ".asc")]

    # No token: 401 on the restricted directories, whatever is asked there.
    for path in [f"{CSAF}/amber/index.txt", f"{CSAF}/green/changes.csv", f"{CSAF}/red/",
                 f"{CSAF}/amber/{YEAR}/", *files]:  # fmt: skip
        refused = _get(community, None, path)
        assert refused.status_code == 401, path
        assert "Authorization: Bearer" in refused.json()["error"]["message"]
    # Never in the public directory, even for its recipient.
    for caller in (None, community.recipient):
        assert _text(_get(community, caller, f"{CSAF}/white/index.txt")) == f"{_path(clear)}\n"
        assert _get(community, caller, f"{CSAF}/white/{_path(amber)}").status_code == 404

    # An org the advisory is not shared with: an empty listing and 404, as for no document.
    outsider = community.participant
    assert _text(_get(community, outsider, f"{CSAF}/amber/index.txt")) == ""
    assert _text(_get(community, outsider, f"{CSAF}/amber/changes.csv")) == ""
    for path in files:
        hidden = _get(community, outsider, path)
        missing = _get(community, outsider, path.replace(amber.lower(), "pdxa-2026-9999"))
        assert hidden.status_code == 404
        assert hidden.json()["error"]["message"].replace(amber.lower(), "X") == (
            missing.json()["error"]["message"].replace("pdxa-2026-9999", "X"))  # fmt: skip

    # The recipient: listed, served, valid, signed; not private to shared caches.
    assert _text(_get(community, community.recipient, f"{CSAF}/amber/index.txt")) == (
        f"{_path(amber)}\n")  # fmt: skip
    response = _get(community, community.recipient, files[0])
    assert response.status_code == 200 and response.headers["cache-control"] == "private, no-store"
    document = json.loads(response.content)
    assert errors(csaf_schema, document) == [] and document["document"]["tracking"]["id"] == amber
    assert document["document"]["distribution"]["tlp"]["label"] == "AMBER"
    fingerprint, public_key = _public_key(community)
    signature = _get(community, community.recipient, files[2]).content
    assert _verify(public_key, response.content, signature) == (True, fingerprint)
    # In its own label's directory only.
    assert _get(community, community.recipient, f"{CSAF}/red/{_path(amber)}").status_code == 404
    assert _get(community, community.analyst, f"{CSAF}/amber/{_path(clear)}").status_code == 404

    # GREEN: the community's participant orgs; not an org outside the community.
    assert _text(_get(community, outsider, f"{CSAF}/green/index.txt")) == f"{_path(green)}\n"
    assert _get(community, outsider, f"{CSAF}/green/{_path(green)}").status_code == 200
    assert _text(_get(community, community.developer, f"{CSAF}/green/index.txt")) == ""
    assert _get(community, community.developer, f"{CSAF}/green/{_path(green)}").status_code == (
        404)  # fmt: skip


def test_bad_paths_answer_404_with_a_message_and_reach_no_file(community: Community) -> None:
    number = _publish(community, _vuln(community, "src/a.c:f"), hours=1)
    name = number.lower()
    for path in (
        f"{CSAF}/purple/index.txt",
        f"{CSAF}/purple/{YEAR}/{name}.json",
        f"{CSAF}/white/27/{name}.json",
        f"{CSAF}/white/2026/{name}.json",
        f"{CSAF}/white/{YEAR}/{name}.txt",
        f"{CSAF}/white/{YEAR}/{name}.json.md5",
        f"{CSAF}/white/{YEAR}/{number}.json",
        f"{CSAF}/white/{YEAR}/{name}",
        f"{CSAF}/white/{YEAR}/pdxa-2026-9999.json",
        f"{CSAF}/white/{YEAR}/..%2F..%2F..%2Fsecret.key",
        f"{CSAF}/white/..%2F..%2Fsecret.key",
        f"{CSAF}/white/{YEAR}/%2e%2e",
        f"{CSAF}/openpgp/..%2Fopenpgp%2F{PASSPHRASE_FILE}",
        f"{CSAF}/openpgp/{PASSPHRASE_FILE}",
        f"{CSAF}/white/2030/",
    ):
        response = _get(community, None, path)
        assert response.status_code == 404, path
        assert response.json()["error"]["message"], path
    message = _get(community, None, f"{CSAF}/purple/index.txt").json()["error"]["message"]
    assert message == (
        "no CSAF directory 'purple': the directories are white (public), green, amber and red"
    )
    assert _get(community, None, f"{CSAF}/white/{YEAR}/{name}.json").status_code == 200


def test_the_key_is_made_once_per_data_dir_and_kept_across_restarts(
    tmp_path: Path, db_url: str
) -> None:
    data_dir = tmp_path / "a-data-dir-deep-enough-that-gpg-agent-sockets-would-not-fit-in-it"
    home = data_dir / "openpgp"
    runtime = Runtime(settings=Settings(data_dir=data_dir, database_url=db_url))
    try:
        with TestClient(create_app(runtime)) as http:
            response = http.get(f"{CSAF}/provider-metadata.json")
        assert response.status_code == 200, response.text
        (key,) = response.json()["public_openpgp_keys"]
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        # Another process on the same data dir (a restart): the same key, not a second one.
        predeploy = Path(sys.executable).with_name("predeploy")
        env = {**os.environ, "PREDEPLOY_DATA_DIR": str(data_dir)}
        exported = subprocess.run([str(predeploy), "keys", "export-openpgp", "--json"], env=env,
                                  capture_output=True, text=True, check=False)  # fmt: skip
        assert exported.returncode == 0, exported.stderr
        assert json.loads(exported.stdout)["fingerprint"] == key["fingerprint"]
        listed = gnupg.GPG(gnupghome=str(home)).list_keys(secret=True)
        assert [k["fingerprint"] for k in listed] == [key["fingerprint"]]
    finally:
        _stop_agent(home)
        assert runtime.engine is not None
        runtime.engine.dispose()


def test_the_private_key_is_sealed_at_rest_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "openpgp"
    box = SecretBox(Fernet.generate_key())
    caplog.set_level(logging.DEBUG)
    try:
        key = OpenPgpKey.load(home, box, "predeploy CSAF provider test")
        signature = key.sign(b'{"document": {}}')
        assert OpenPgpKey.load(home, box, "another name").fingerprint == key.fingerprint
        logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
        assert any(r.name == "gnupg" for r in caplog.records)  # gpg's exchanges were logged

        sealed = home / PASSPHRASE_FILE
        assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
        passphrase = box.decrypt(sealed.read_bytes())
        gpg = gnupg.GPG(gnupghome=str(home))
        secret_key = gpg.export_keys(key.fingerprint, secret=True, passphrase=passphrase)
        assert "PRIVATE KEY BLOCK" in secret_key
        secret_lines = [line for line in secret_key.splitlines() if len(line) > 40]
        assert secret_lines and not any(line in logged for line in secret_lines)
        assert passphrase not in logged and "PRIVATE KEY" not in logged
        assert "BEGIN PGP SIGNATURE" in signature

        # On disk: the key only in gpg-agent's passphrase-protected form; the passphrase only
        # sealed with the server key. Without the passphrase gpg cannot sign.
        stored = [p.read_bytes() for p in home.rglob("*") if p.is_file()]
        assert not any(passphrase.encode() in content for content in stored)
        keys = list((home / "private-keys-v1.d").glob("*.key"))
        assert keys and all(b"(protected-private-key" in p.read_bytes() for p in keys)
        assert not any(b"(private-key" in p.read_bytes() for p in keys)
        refused = gpg.sign(b"x", keyid=key.fingerprint, passphrase="not-the-passphrase",
                           detach=True)  # fmt: skip
        assert not refused.data
    finally:
        _stop_agent(home)
