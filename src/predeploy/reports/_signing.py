"""The signed report's bytes: RFC 8785 canonical JSON, an Ed25519 detached signature, verification.

What is signed is exactly what is written to REPORT.json, so anyone holding the agency's public key
can check the file offline, byte for byte, without predeploy's database or settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import rfc8785
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from ..errors import InvalidInput, PredeployError, first_validation_error
from ..keys import SigningKey, public_key_id, verify_signature
from .schemas import REPORT_SCHEMA_IDS, ReportDocument

SIGNATURE_BYTES = 64
# JSON numbers are IEEE 754 doubles (RFC 8785 section 3.2.2.3): integers beyond this are read as
# floats, exactly as the canonical form treats them.
_SAFE_INTEGER = 2**53 - 1


class ReportVerificationError(PredeployError):
    """A report, its signature or the public key does not check out; `field` names which."""

    status_code = 422
    code = "report_invalid"


@dataclass(frozen=True)
class SignedReport:
    """A report's canonical bytes and their detached signature."""

    data: bytes
    signature: str
    """Base64 of the 64-byte Ed25519 signature of `data`: the content of the .sig file."""
    key_id: str
    sha256: str


@dataclass(frozen=True)
class VerifiedReport:
    """A report whose bytes are canonical and whose signature verifies with the given key."""

    document: dict[str, Any]
    sha256: str
    key_id: str


@dataclass(frozen=True)
class ReportFiles:
    """Where `write_signed_report` put the report and its detached signature."""

    report: Path
    signature: Path


def report_bytes(document: Mapping[str, Any]) -> bytes:
    """The canonical bytes (RFC 8785) of `document`: what REPORT.json holds and what is signed."""
    try:
        return rfc8785.dumps(_plain(document))
    except rfc8785.CanonicalizationError as exc:
        raise InvalidInput(
            f"report cannot be written as canonical JSON (RFC 8785): {exc}", field="report"
        ) from exc


def sign_report(document: Mapping[str, Any], key: SigningKey) -> SignedReport:
    """Canonicalise `document` and sign its bytes with `key`."""
    named = _issuer_key_id(document, InvalidInput)
    if named is not None and named != key.key_id:
        raise InvalidInput(
            f"report names issuer key {named!r} but would be signed with key {key.key_id!r}",
            field="issuer.key_id",
        )
    data = report_bytes(document)
    return SignedReport(
        data=data,
        signature=key.sign(data),
        key_id=key.key_id,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def verify_report(
    data: bytes, signature: str | bytes, public_key_pem: str | bytes
) -> VerifiedReport:
    """Check `data` is a canonical JSON report signed by the key in `public_key_pem`: an issued
    report of a published report schema (`REPORT_SCHEMA_IDS`), not anything else the key signed.

    Raises `ReportVerificationError` naming the first problem found.
    """
    public_key = _load_public_key(public_key_pem)
    key_id = public_key_id(public_key)
    signature_b64 = _parse_signature(signature)
    try:
        document = _parse_report(data)
        canonical = rfc8785.dumps(document)
    except rfc8785.CanonicalizationError as exc:
        raise ReportVerificationError(
            f"report has no canonical form (RFC 8785): {exc}", field="report"
        ) from exc
    except RecursionError as exc:
        # Only hostile input nests this deep; a report's structure is a few levels.
        raise ReportVerificationError(
            "report is nested too deeply to be read: it is not a report", field="report"
        ) from exc
    if canonical != data:
        _not_canonical(data, canonical)
    if not verify_signature(public_key, data, signature_b64):
        raise ReportVerificationError(
            f"signature does not verify with key {key_id}: the report was changed after signing, "
            "or it was signed with another key",
            field="signature",
        )
    named = _issuer_key_id(document, ReportVerificationError)
    if named is not None and named != key_id:
        raise ReportVerificationError(
            f"report names issuer key {named!r} but the given public key is {key_id!r}",
            field="issuer.key_id",
        )
    # The agency's key signs other things too (audit checkpoints): a valid signature alone does
    # not make the file a report.
    _require_issued_report(document)
    return VerifiedReport(document=document, sha256=hashlib.sha256(data).hexdigest(), key_id=key_id)


def write_signed_report(signed: SignedReport, directory: Path, stem: str) -> ReportFiles:
    """Write `{stem}.json` and `{stem}.json.sig` into `directory`, each atomically, mode 0644."""
    if Path(stem).name != stem or stem in {"", ".", ".."}:
        raise InvalidInput(f"{stem!r} is not a plain file name", field="stem")
    directory.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(report=directory / f"{stem}.json", signature=directory / f"{stem}.json.sig")
    _write_atomic(files.report, signed.data)
    _write_atomic(files.signature, f"{signed.signature}\n".encode("ascii"))
    _fsync_directory(directory)
    return files


def _plain(value: Any) -> Any:
    # rfc8785 serialises dicts and lists only; a report may be built from other mappings.
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _issuer_key_id(document: Mapping[str, Any], error: type[PredeployError]) -> Any:
    """The key id the report names as its issuer's (`issuer.key_id`), or None if it names none."""
    issuer = document.get("issuer")
    if issuer is None:
        return None
    if not isinstance(issuer, Mapping):
        raise error("report's issuer is not an object", field="issuer")
    return issuer.get("key_id")


def _load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    raw = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ReportVerificationError(
            f"public key is not a PEM public key: {exc}", field="public_key"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ReportVerificationError(
            f"public key is not an Ed25519 key (it is {type(key).__name__})", field="public_key"
        )
    return key


def _parse_signature(signature: str | bytes) -> str:
    """The signature's base64 text, if it is canonical base64 of exactly 64 bytes."""
    try:
        text = signature.decode("ascii") if isinstance(signature, bytes) else signature
    except UnicodeDecodeError as exc:
        raise ReportVerificationError(
            "signature is not base64 text (non-ASCII bytes)", field="signature"
        ) from exc
    # The .sig file ends with one newline; anything else around the base64 is an alteration.
    text = text.removesuffix("\n").removesuffix("\r")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ReportVerificationError(
            f"signature is not valid base64: {exc}", field="signature"
        ) from exc
    if len(raw) != SIGNATURE_BYTES:
        raise ReportVerificationError(
            f"signature decodes to {len(raw)} bytes, an Ed25519 signature is {SIGNATURE_BYTES}",
            field="signature",
        )
    # Base64 ignores the unused low bits of its last character: without this check two different
    # .sig files would carry the same signature.
    if base64.b64encode(raw).decode("ascii") != text:
        raise ReportVerificationError("signature is not canonical base64", field="signature")
    return text


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _json_integer(text: str) -> int | float:
    number = int(text)
    return number if -_SAFE_INTEGER <= number <= _SAFE_INTEGER else float(text)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _parse_report(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportVerificationError(
            f"report is not valid UTF-8 (byte {exc.start})", field="report"
        ) from exc
    try:
        document = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_int=_json_integer,
            parse_constant=_reject_constant,
        )
    except _DuplicateKeyError as exc:
        raise ReportVerificationError(
            f"report has a duplicate object key {exc.key!r}", field="report"
        ) from exc
    except ValueError as exc:
        raise ReportVerificationError(f"report is not valid JSON: {exc}", field="report") from exc
    if not isinstance(document, dict):
        raise ReportVerificationError(
            f"report is a JSON {type(document).__name__}, not an object", field="report"
        )
    return document


def _require_issued_report(document: dict[str, Any]) -> None:
    """Refuse a signed document that is not an issued report of a published schema."""
    schema_id = document.get("$schema")
    if schema_id not in REPORT_SCHEMA_IDS:
        known = ", ".join(sorted(REPORT_SCHEMA_IDS))
        raise ReportVerificationError(
            f"the signed document is not a report: its $schema is {schema_id!r}, not one of the "
            f"published report schemas ({known})",
            field="report",
        )
    try:
        report = ReportDocument.model_validate(document)
    except ValidationError as exc:
        problem = first_validation_error(exc)
        raise ReportVerificationError(
            f"the signed document is not a valid report: {problem.message}", field="report"
        ) from exc
    if report.report.status != "issued":
        raise ReportVerificationError(
            f"the signed document is a report {report.report.status}, not an issued report",
            field="report",
        )


def _not_canonical(data: bytes, canonical: bytes) -> NoReturn:
    offset = next(
        (i for i, (a, b) in enumerate(zip(data, canonical, strict=False)) if a != b),
        min(len(data), len(canonical)),
    )
    raise ReportVerificationError(
        f"report is not in canonical form (RFC 8785): it differs from its canonical bytes at "
        f"byte {offset}; it was re-formatted or edited after signing: verify the file exactly "
        "as issued",
        field="report",
    )


def _write_atomic(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary_path = Path(temporary)
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp creates 0600; reports and signatures are deliverables anyone may read.
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary_path.replace(path)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


def _fsync_directory(directory: Path) -> None:
    # The renames are durable only once the directory entry itself is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
