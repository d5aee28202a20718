"""Signed reports: canonical bytes (RFC 8785), detached Ed25519 signatures, offline verification."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from predeploy.audit.chain import checkpoint_message
from predeploy.canonical import canonical_json
from predeploy.config import Settings
from predeploy.errors import InvalidInput
from predeploy.keys import SigningKey
from predeploy.reports._signing import (
    ReportVerificationError,
    SignedReport,
    report_bytes,
    sign_report,
    verify_report,
    write_signed_report,
)
from predeploy.reports.verify_cli import verify
from tests.reports.factories import small_report

runner = CliRunner()


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def document(key: SigningKey) -> dict[str, Any]:
    return small_report(key.key_id)


def _with_elicitation(document: dict[str, Any], elicitation: Any) -> dict[str, Any]:
    """The report with one campaign whose plan's elicitation settings (free-form JSON) are
    `elicitation`: a place in a valid report for any JSON value."""
    campaign: dict[str, Any] = {
        "id": "c",
        "plan": {
            "name": "p",
            "version": 1,
            "digest": "d",
            "items": [],
            "elicitation": elicitation,
            "reference_models": [],
            "prices": {},
        },
        "started_at": None,
        "finished_at": None,
        "seeds": [],
        "samples": 0,
        "reruns": 0,
        "retried_failures": {},
    }
    return {**document, "campaigns": [campaign]}


@pytest.fixture(scope="module")
def signed(document: dict[str, Any], key: SigningKey) -> SignedReport:
    return sign_report(document, key)


def _failure(data: bytes, signature: str | bytes, pem: str | bytes) -> ReportVerificationError:
    with pytest.raises(ReportVerificationError) as caught:
        verify_report(data, signature, pem)
    return caught.value


def test_a_signed_report_verifies(
    document: dict[str, Any], key: SigningKey, signed: SignedReport
) -> None:
    assert signed.data == report_bytes(document)
    assert signed.sha256 == hashlib.sha256(signed.data).hexdigest()
    assert signed.key_id == key.key_id
    assert len(base64.b64decode(signed.signature, validate=True)) == 64
    verified = verify_report(signed.data, signed.signature, key.public_pem())
    assert verified.document == document
    assert (verified.sha256, verified.key_id) == (signed.sha256, key.key_id)
    # As read from disk: the .sig file's bytes with their newline, the PEM as bytes.
    from_files = verify_report(
        signed.data, f"{signed.signature}\n".encode(), key.public_pem().encode()
    )
    assert from_files.document == document


def test_flipping_any_byte_of_the_report_fails(key: SigningKey, signed: SignedReport) -> None:
    pem = key.public_pem()
    for index in range(len(signed.data)):
        for mask in (0x01, 0x20, 0x80, 0xFF):
            tampered = bytearray(signed.data)
            tampered[index] ^= mask
            with pytest.raises(ReportVerificationError):
                verify_report(bytes(tampered), signed.signature, pem)


def test_flipping_any_byte_of_the_signature_fails(key: SigningKey, signed: SignedReport) -> None:
    pem = key.public_pem()
    raw = base64.b64decode(signed.signature)
    for index in range(len(raw)):
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        error = _failure(signed.data, base64.b64encode(bytes(tampered)).decode(), pem)
        assert error.field == "signature"
        assert "does not verify" in error.message
    sig_file = f"{signed.signature}\n".encode()
    for index in range(len(sig_file)):
        for mask in (0x01, 0x40):
            tampered = bytearray(sig_file)
            tampered[index] ^= mask
            assert _failure(signed.data, bytes(tampered), pem).field == "signature"


def test_a_signature_with_altered_padding_bits_is_rejected(
    key: SigningKey, signed: SignedReport
) -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    text = signed.signature
    assert text.endswith("==")
    # The last data character carries 2 bits of the signature and 4 unused bits.
    last = alphabet[alphabet.index(text[-3]) ^ 0b0001]
    altered = text[:-3] + last + "=="
    assert base64.b64decode(altered) == base64.b64decode(text)
    error = _failure(signed.data, altered, key.public_pem())
    assert "not canonical base64" in error.message


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (base64.b64encode(b"\x00" * 63).decode(), "decodes to 63 bytes"),
        (base64.b64encode(b"\x00" * 65).decode(), "decodes to 65 bytes"),
        ("not base64!", "not valid base64"),
        ("", "decodes to 0 bytes"),
        ("é".encode(), "non-ASCII"),
    ],
)
def test_a_malformed_signature_is_named(
    key: SigningKey, signed: SignedReport, signature: str | bytes, message: str
) -> None:
    error = _failure(signed.data, signature, key.public_pem())
    assert error.field == "signature"
    assert message in error.message


def test_a_reindented_copy_fails_as_not_canonical(key: SigningKey, signed: SignedReport) -> None:
    pretty = json.dumps(json.loads(signed.data), indent=2, ensure_ascii=False).encode()
    for copy in (pretty, signed.data + b"\n", b" " + signed.data):
        error = _failure(copy, signed.signature, key.public_pem())
        assert error.field == "report"
        assert "not in canonical form" in error.message


def test_duplicate_keys_fail(key: SigningKey, signed: SignedReport) -> None:
    doubled = signed.data[:-1] + b',"limitations":[]}'
    error = _failure(doubled, signed.signature, key.public_pem())
    assert "duplicate object key 'limitations'" in error.message
    nested = b'{"issuer":{"name":"A","name":"A"}}'
    assert (
        "duplicate object key 'name'"
        in _failure(nested, signed.signature, key.public_pem()).message
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff{}", "not valid UTF-8"),
        (b'{"a":', "not valid JSON"),
        (b'{"a":NaN}', "not valid JSON"),
        (b"[1,2]", "not an object"),
        (b'{"a":1e400}', "no canonical form"),
        (b'{"a":1.0}', "not in canonical form"),
        (b'{"b":1,"a":2}', "not in canonical form"),
        (b'{"a":"\\u0041"}', "not in canonical form"),
    ],
)
def test_malformed_report_bytes_are_named(
    key: SigningKey, signed: SignedReport, data: bytes, message: str
) -> None:
    error = _failure(data, signed.signature, key.public_pem())
    assert error.field == "report"
    assert message in error.message


def test_another_keys_pem_fails(other_key: SigningKey, signed: SignedReport) -> None:
    error = _failure(signed.data, signed.signature, other_key.public_pem())
    assert error.field == "signature"
    assert f"does not verify with key {other_key.key_id}" in error.message


def test_a_pem_that_is_not_an_ed25519_public_key_fails(signed: SignedReport) -> None:
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    private_pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for pem, message in (
        (rsa_pem, "not an Ed25519 key"),
        (private_pem, "not a PEM public key"),
        (b"hello", "not a PEM public key"),
    ):
        error = _failure(signed.data, signed.signature, pem)
        assert error.field == "public_key"
        assert message in error.message


def test_a_report_naming_another_issuer_key_fails(
    document: dict[str, Any], key: SigningKey, other_key: SigningKey
) -> None:
    claims_other = {**document, "issuer": {"name": "Testing Agency", "key_id": other_key.key_id}}
    with pytest.raises(InvalidInput, match="names issuer key"):
        sign_report(claims_other, key)
    # Signed by `key` anyway (not through sign_report): the signature is good, the claim is not.
    data = report_bytes(claims_other)
    error = _failure(data, key.sign(data), key.public_pem())
    assert error.field == "issuer.key_id"
    assert other_key.key_id in error.message and key.key_id in error.message
    # A report always names its issuer: without one, a good signature is not a report.
    no_issuer = {k: v for k, v in document.items() if k != "issuer"}
    error = _failure(*_signed_triple(no_issuer, key))
    assert error.field == "report"
    assert "not a valid report" in error.message and "issuer" in error.message


def _signed_triple(document: dict[str, Any], key: SigningKey) -> tuple[bytes, str, str]:
    signed = sign_report(document, key)
    return signed.data, signed.signature, key.public_pem()


def test_rfc8785_numbers_strings_and_literals() -> None:
    # RFC 8785 section 3.2.2 sample input and its canonical form.
    document = json.loads(
        '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],'
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        '"literals":[null,true,false]}'
    )
    assert (
        report_bytes(document)
        == (
            '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
            '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
        ).encode()
    )


def test_keys_sort_by_utf16_code_units_not_code_points(key: SigningKey) -> None:
    # RFC 8785 section 3.2.3 sample: U+1F600 (surrogates D83D DE00) sorts before U+FB33.
    document = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    data = report_bytes(document)
    order = [value for value in json.loads(data).values()]
    assert order == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]
    # Python's sort_keys orders by code point: a different byte string, so not a valid report.
    report = _with_elicitation(small_report(key.key_id), document)
    python_sorted = canonical_json(report)
    data = report_bytes(report)
    assert python_sorted != data
    assert (
        "not in canonical form"
        in _failure(python_sorted, key.sign(python_sorted), key.public_pem()).message
    )
    assert verify_report(data, key.sign(data), key.public_pem()).document == report


def test_floats_unicode_and_nesting_round_trip(key: SigningKey) -> None:
    document: dict[str, Any] = {
        "floats": [0.1, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, -2.5, 1e20, 100.0],
        "integers": [0, -1, 2**53 - 1, -(2**53 - 1)],
        "unicode": 'naïve — 日本語 😀 \u0000\t"quoted"',
        "nested": MappingProxyType({"b": [{"z": None, "a": [True, False]}], "a": {}}),
    }
    data = report_bytes(_with_elicitation(small_report(key.key_id), document))
    assert b'"elicitation":{"floats":[0.1,1e+21,1e-7,5e-324,1.7976931348623157e+308,-2.5,' in data
    assert b'"nested":{"a":{},"b":[{"a":[true,false],"z":null}]}' in data
    assert "日本語 😀".encode() in data and b'\\u0000\\t\\"quoted\\"' in data
    verified = verify_report(data, key.sign(data), key.public_pem())
    elicitation = verified.document["campaigns"][0]["plan"]["elicitation"]
    assert elicitation["floats"] == document["floats"]
    assert elicitation["integers"] == document["integers"]
    assert elicitation["unicode"] == document["unicode"]
    assert elicitation["nested"] == dict(document["nested"])
    assert report_bytes(verified.document) == data


@pytest.mark.parametrize(
    "document",
    [{"x": math.nan}, {"x": math.inf}, {"x": 2**53}, {"x": {1: "a"}}, {"x": b"bytes"}],
)
def test_documents_without_a_canonical_form_are_refused(
    document: dict[str, Any], key: SigningKey
) -> None:
    with pytest.raises(InvalidInput, match="canonical JSON") as caught:
        sign_report(document, key)
    assert caught.value.field == "report"


def test_write_signed_report_writes_both_files_0644_atomically(
    tmp_path: Path, key: SigningKey, signed: SignedReport
) -> None:
    previous = os.umask(0o077)
    try:
        files = write_signed_report(signed, tmp_path / "out", "REPORT")
        again = write_signed_report(signed, tmp_path / "out", "REPORT")
    finally:
        os.umask(previous)
    assert again == files
    assert (files.report.name, files.signature.name) == ("REPORT.json", "REPORT.json.sig")
    assert files.report.read_bytes() == signed.data
    assert files.signature.read_text(encoding="ascii") == signed.signature + "\n"
    for path in (files.report, files.signature):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "REPORT.json",
        "REPORT.json.sig",
    ]
    verified = verify_report(
        files.report.read_bytes(), files.signature.read_bytes(), key.public_pem()
    )
    assert verified.sha256 == signed.sha256


@pytest.mark.parametrize("stem", ["", ".", "..", "a/b", "../REPORT"])
def test_write_signed_report_refuses_a_stem_that_is_not_a_file_name(
    tmp_path: Path, signed: SignedReport, stem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        write_signed_report(signed, tmp_path, stem)
    assert caught.value.field == "stem"
    assert list(tmp_path.iterdir()) == []


# The command, as the lead registers it: `predeploy report verify`.
report_app = typer.Typer()
report_app.command("verify")(verify)
cli = typer.Typer()
cli.add_typer(report_app, name="report")


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working dir with no settings: the data dir must not appear, Settings must not be built."""
    data_dir = tmp_path / "must-not-exist"
    monkeypatch.setenv("PREDEPLOY_DATA_DIR", str(data_dir))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def no_settings(*args: object, **kwargs: object) -> None:
        raise AssertionError("report verify read the settings")

    monkeypatch.setattr(Settings, "__init__", no_settings)
    yield work
    assert not data_dir.exists()


@pytest.fixture
def triple(offline: Path, key: SigningKey, signed: SignedReport) -> tuple[Path, Path, Path]:
    files = write_signed_report(signed, offline, "REPORT")
    pem = offline / "agency.pem"
    pem.write_text(key.public_pem())
    return files.report, files.signature, pem


def _verify(report: Path, signature: Path, pem: Path, *extra: str) -> Any:
    return runner.invoke(
        cli,
        [
            "report",
            "verify",
            str(report),
            "--signature",
            str(signature),
            "--public-key",
            str(pem),
            *extra,
        ],
    )


def test_cli_accepts_a_good_triple(
    triple: tuple[Path, Path, Path], key: SigningKey, signed: SignedReport
) -> None:
    result = _verify(*triple)
    assert result.exit_code == 0, result.output
    assert f"valid: sha256 {signed.sha256}, key {key.key_id}" in result.stdout
    as_json = _verify(*triple, "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == {
        "valid": True,
        "sha256": signed.sha256,
        "key_id": key.key_id,
    }


def test_cli_rejects_each_bad_triple(
    triple: tuple[Path, Path, Path], offline: Path, other_key: SigningKey, signed: SignedReport
) -> None:
    report, signature, pem = triple
    edited = offline / "edited.json"
    edited.write_bytes(signed.data.replace(b'"name":"M"', b'"name":"N"'))
    pretty = offline / "pretty.json"
    pretty.write_text(json.dumps(json.loads(signed.data), indent=2))
    flipped = offline / "flipped.sig"
    raw = bytearray(base64.b64decode(signed.signature))
    raw[0] ^= 0x01
    flipped.write_text(base64.b64encode(bytes(raw)).decode() + "\n")
    other_pem = offline / "other.pem"
    other_pem.write_text(other_key.public_pem())
    cases = [
        ((edited, signature, pem), "does not verify", "--signature"),
        ((pretty, signature, pem), "not in canonical form", "REPORT"),
        ((report, flipped, pem), "does not verify", "--signature"),
        ((report, signature, other_pem), "does not verify", "--signature"),
        ((report, signature, report), "not a PEM public key", "--public-key"),
    ]
    for paths, message, field in cases:
        result = _verify(*paths)
        assert result.exit_code == 1, (paths, result.output)
        assert "NOT valid" in result.output and message in result.output
        as_json = _verify(*paths, "--json")
        assert as_json.exit_code == 1
        outcome = json.loads(as_json.stdout)
        assert outcome["valid"] is False and message in outcome["error"]
        assert outcome["field"] == field


def test_cli_missing_files_exit_2_naming_the_option(
    triple: tuple[Path, Path, Path], offline: Path
) -> None:
    report, signature, pem = triple
    missing = offline / "missing"
    for paths, option in (
        ((missing, signature, pem), "REPORT"),
        ((report, missing, pem), "--signature"),
        ((report, signature, missing), "--public-key"),
    ):
        result = _verify(*paths)
        assert result.exit_code == 2, result.output
        assert f"cannot read {option} file {missing}" in result.output
    no_option = runner.invoke(cli, ["report", "verify", str(report), "--public-key", str(pem)])
    assert no_option.exit_code == 2
    assert "--signature" in no_option.output


# --- only an issued report of a published schema verifies -----------------------------------

V1_SCHEMA = Path(__file__).parents[2] / "docs" / "report-1.schema.json"


def test_a_signed_audit_checkpoint_is_not_a_report(key: SigningKey) -> None:
    # The agency's key also signs the audit log's checkpoints, as canonical JSON too.
    message = checkpoint_message(7, "ab" * 32, 42, datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    signature = key.sign(message)
    error = _failure(message, signature, key.public_pem())
    assert error.field == "report"
    assert "not a report" in error.message and "$schema" in error.message


def test_the_cli_says_a_signed_checkpoint_is_not_valid(offline: Path, key: SigningKey) -> None:
    message = checkpoint_message(1, "cd" * 32, 3, datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    signed = SignedReport(
        data=message, signature=key.sign(message), key_id=key.key_id, sha256="unused"
    )
    files = write_signed_report(signed, offline, "CHECKPOINT")
    pem = offline / "agency.pem"
    pem.write_text(key.public_pem())
    result = _verify(files.report, files.signature, pem)
    assert result.exit_code == 1, result.output
    assert "NOT valid" in result.output and "not a report" in result.output
    as_json = _verify(files.report, files.signature, pem, "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["valid"] is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"$schema": "https://predeploy.dev/schemas/report/9.json"}, "not a report"),
        ({"$schema": None}, "not a report"),
        ({"surprise": 1}, "not a valid report"),
        ({"limitations": "one string"}, "not a valid report"),
    ],
)
def test_a_signed_document_that_is_no_report_fails(
    document: dict[str, Any], key: SigningKey, change: dict[str, Any], message: str
) -> None:
    error = _failure(*_signed_triple({**document, **change}, key))
    assert error.field == "report"
    assert message in error.message


def test_a_signed_draft_is_not_an_issued_report(key: SigningKey) -> None:
    draft = small_report(key.key_id, status="draft")
    error = _failure(*_signed_triple(draft, key))
    assert error.field == "report"
    assert "draft" in error.message and "not an issued report" in error.message


def _prune(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """`value` without what `schema` (a published report schema) does not define."""
    if "$ref" in schema:
        return _prune(value, root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root)
    for branch in schema.get("anyOf", []):
        if value is not None and branch.get("type") != "null":
            return _prune(value, branch, root)
    if isinstance(value, dict) and "properties" in schema:
        return {
            name: _prune(item, schema["properties"][name], root)
            for name, item in value.items()
            if name in schema["properties"]
        }
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(item, schema["items"], root) for item in value]
    return value


def test_a_report_of_schema_1_still_verifies(document: dict[str, Any], key: SigningKey) -> None:
    # Schema 2 only added fields: a report written under schema 1 carries none of them.
    v1_schema = json.loads(V1_SCHEMA.read_text())
    old = _prune({**document, "$schema": v1_schema["$id"]}, v1_schema, v1_schema)
    assert list(jsonschema.Draft202012Validator(v1_schema).iter_errors(old)) == []
    assert "window_start" not in old["submission"]["window"]
    verified = verify_report(*_signed_triple(old, key))
    assert verified.document["$schema"] == "https://predeploy.dev/schemas/report/1.json"


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"a":' + b"[" * 100_000, b'{"a":' * 50_000])
def test_deeply_nested_json_is_a_verification_error(
    key: SigningKey, signed: SignedReport, data: bytes
) -> None:
    error = _failure(data, signed.signature, key.public_pem())
    assert error.field == "report"
    assert "nested too deeply" in error.message


def test_the_cli_refuses_deeply_nested_json(triple: tuple[Path, Path, Path], offline: Path) -> None:
    _, signature, pem = triple
    deep = offline / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    result = _verify(deep, signature, pem)
    assert result.exit_code == 1, result.output
    assert "NOT valid" in result.output and "nested too deeply" in result.output
    as_json = _verify(deep, signature, pem, "--json")
    assert as_json.exit_code == 1, as_json.output
    assert json.loads(as_json.stdout) == {
        "valid": False,
        "error": "report is nested too deeply to be read: it is not a report",
        "field": "REPORT",
    }
