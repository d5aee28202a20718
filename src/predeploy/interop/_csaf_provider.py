"""The clearinghouse as a CSAF 2.0 provider (CSAF 2.0 section 7): its published advisories as
`csaf_security_advisory` documents, in the directory layout that CSAF aggregators and
downloaders read.

Under `/.well-known/csaf/`:

- `provider-metadata.json`: the publisher (the agency), one directory per TLP label, and the
  OpenPGP key that signs the documents (`openpgp/<fingerprint>.asc`);
- `<label>/`, for the labels `white` (TLP:CLEAR, which CSAF 2.0 calls WHITE), `green`, `amber`
  (AMBER, and AMBER+STRICT, which CSAF 2.0 writes AMBER) and `red`: `<YYYY>/<file>.json` (the
  year of the initial release; the file named from the tracking id by section 5.1), with its
  `.sha256`, `.sha512` and `.asc` beside it, and an `index.txt` and a `changes.csv` (newest
  first) of the directory.

Only `white` is public. The others need a token, and each of their listings and documents is
narrowed to what the caller may see (`advisory_audience`): a document one may not see answers
404, as one that does not exist, and is never listed. Only published revisions are served.

What is served is exactly what is hashed and signed: the document's canonical JSON. Each distinct
document is signed once; the signature is kept in the data dir under the SHA-256 of the bytes,
so a new revision (new bytes) is signed anew and an old one never vouches for it.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select

from ..canonical import canonical_json, sha256_hex
from ..clearinghouse._visibility import advisory_audience
from ..clearinghouse.models import Advisory, AdvisoryRevision, Tlp
from ..errors import InvalidInput, NotAuthenticated, NotFound
from ..runtime import Context, Runtime
from ._csaf import CSAF_TLP, _timestamp
from ._openpgp import OpenPgpKey, csaf_signing_key
from .schemas import ExportFormat
from .service import agency_name, export

BASE_PATH = "/.well-known/csaf"
PUBLIC = "white"
DIRECTORIES: dict[str, frozenset[Tlp]] = {
    name: frozenset(tlp for tlp, label in CSAF_TLP.items() if label.lower() == name)
    for name in ("white", "green", "amber", "red")
}
"""Each directory and the labels of the advisories in it (CSAF 2.0 knows four)."""
_BESIDE = {"": "json", ".sha256": "sha256", ".sha512": "sha512", ".asc": "asc"}
"""What lies beside each document, by the suffix added to its file name."""
_NUMBER = re.compile(r"PDXA-[0-9]{4}-[0-9]{4,}")


@dataclass(frozen=True)
class Served:
    """A file of the provider, as bytes with their media type."""

    content: bytes
    media_type: str


@dataclass(frozen=True)
class Entry:
    """A document listed in a directory."""

    number: str
    path: str
    """`<YYYY>/<file>.json`, relative to the directory."""
    released: datetime
    """The document's `current_release_date`: when its current revision was published."""


@dataclass(frozen=True)
class Requested:
    """A document, or a file beside it, that the caller may read."""

    filename: str
    kind: str
    document: bytes


def document_filename(tracking_id: str) -> str:
    """The file name CSAF 2.0 (section 5.1) gives a document: its tracking id in lower case, each
    run of characters other than `+`, `-`, `a-z` and `0-9` replaced by one `_`, then `.json`."""
    return re.sub(r"[^+\-a-z0-9]+", "_", tracking_id.lower()) + ".json"


def _directory(ctx: Context, label: str) -> frozenset[Tlp]:
    """The labels of directory `label`; refused unless the caller may read the directory."""
    labels = DIRECTORIES.get(label)
    if labels is None:
        raise NotFound(
            f"no CSAF directory {label!r}: the directories are white (public), green, amber and red"
        )
    if label != PUBLIC and ctx.actor.anonymous:
        raise NotAuthenticated(
            f"the {label} directory holds TLP:{label.upper()} documents for their recipients "
            "only: send 'Authorization: Bearer <token>'"
        )
    return labels


def _entries(ctx: Context, labels: frozenset[Tlp]) -> list[Entry]:
    """The published advisories with these labels that the caller may see and that have a
    CSAF document (one needs an affected product), newest change first."""
    rows = ctx.session.execute(
        select(
            Advisory.number,
            Advisory.published_at,
            AdvisoryRevision.published_at,
            AdvisoryRevision.content["affected"],
        )
        .join(
            AdvisoryRevision,
            and_(
                AdvisoryRevision.advisory_id == Advisory.id,
                AdvisoryRevision.number == Advisory.published_revision,
            ),
        )
        .where(
            advisory_audience(ctx.actor, ctx.now()),
            Advisory.published_revision > 0,
            Advisory.tlp.in_([tlp.value for tlp in labels]),
        )
    ).all()
    entries = [
        Entry(number, f"{first:%Y}/{document_filename(number)}", current)
        for number, first, current, affected in rows
        if first is not None and current is not None and affected
    ]
    return sorted(entries, key=lambda e: (e.released, e.path), reverse=True)


def index_txt(ctx: Context, label: str) -> Served:
    """`index.txt` of a directory: the path of each document the caller may see, one a line."""
    entries = _entries(ctx, _directory(ctx, label))
    return Served("".join(f"{e.path}\n" for e in entries).encode(), "text/plain; charset=utf-8")


def changes_csv(ctx: Context, label: str) -> Served:
    """`changes.csv` of a directory: `"path","current_release_date"` per document the caller
    may see, the latest change first (RFC 4180, every field quoted, as CSAF 2.0 shows it)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    for entry in _entries(ctx, _directory(ctx, label)):
        writer.writerow([entry.path, _timestamp(entry.released)])
    return Served(out.getvalue().encode(), "text/csv; charset=utf-8")


def directory_page(ctx: Context, label: str, year: str | None = None) -> Served:
    """A directory listing (CSAF 2.0 requirement 14): a directory's files and year folders, or
    the files of one year folder."""
    entries = _entries(ctx, _directory(ctx, label))
    if year is None:
        names = ["index.txt", "changes.csv", *sorted({e.path[:5] for e in entries})]
    else:
        documents = sorted(e.path[5:] for e in entries if e.path[:5] == f"{year}/")
        if not documents:
            raise NotFound(f"no folder {year!r} in the {label} directory")
        names = [document + suffix for document in documents for suffix in _BESIDE]
    where = html.escape(f"{BASE_PATH}/{label}/{year + '/' if year else ''}")
    items = "".join(f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>\n' for n in names)
    page = (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Index of {where}</title>'
        f'</head>\n<body><h1>Index of {where}</h1>\n<ul>\n<li><a href="../">../</a></li>\n'
        f"{items}</ul></body></html>\n"
    )
    return Served(page.encode(), "text/html; charset=utf-8")


def requested_file(ctx: Context, label: str, year: str, name: str) -> Requested:
    """The document `<year>/<name>` of a directory (or the hash or signature file `name` beside
    it), if the caller may see it; 404 for every other path."""
    labels = _directory(ctx, label)
    missing = NotFound(f"no file {year}/{name} in the {label} directory")
    suffix = next((s for s in reversed(_BESIDE) if name.endswith(f".json{s}")), None)
    if suffix is None:
        raise missing
    filename = name.removesuffix(suffix)
    number = filename.removesuffix(".json").upper()
    if not _NUMBER.fullmatch(number) or document_filename(number) != filename:
        raise missing
    advisory = ctx.session.scalar(
        select(Advisory.number).where(
            Advisory.number == number,
            advisory_audience(ctx.actor, ctx.now()),
            Advisory.published_revision > 0,
            Advisory.tlp.in_([tlp.value for tlp in labels]),
        )
    )
    if advisory is None:
        raise missing
    try:
        content = export(ctx, number, ExportFormat.CSAF).content
    except InvalidInput as exc:  # CSAF does not apply to it (no affected product)
        raise missing from exc
    tracking = content["document"]["tracking"]
    if f"{tracking['initial_release_date'][:4]}/{document_filename(tracking['id'])}" != (
        f"{year}/{filename}"
    ):
        raise missing
    return Requested(filename, _BESIDE[suffix], canonical_json(content))


def rendered(runtime: Runtime, requested: Requested) -> Served:
    """The bytes of a requested file: the document, its hash in `sha256sum` form, or its
    signature. (Signing runs gpg: call this off the event loop.)"""
    document = requested.document
    if requested.kind == "json":
        return Served(document, "application/json")
    if requested.kind == "asc":
        return Served(signature(runtime, document).encode(), "application/pgp-signature")
    digest = hashlib.new(requested.kind, document).hexdigest()
    return Served(f"{digest}  {requested.filename}\n".encode(), "text/plain; charset=utf-8")


def signature(runtime: Runtime, document: bytes) -> str:
    """The detached OpenPGP signature of `document`: made once, then read from the data dir."""
    key = signing_key(runtime)
    path = runtime.settings.data_dir / "csaf-signatures" / key.fingerprint
    path /= f"{sha256_hex(document)}.asc"
    if path.is_file():
        return path.read_text(encoding="ascii")
    armored = key.sign(document)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Written aside and moved into place, so a concurrent reader never sees half a signature.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    partial.write_text(armored, encoding="ascii")
    partial.replace(path)
    return armored


def signing_key(runtime: Runtime) -> OpenPgpKey:
    """The OpenPGP key that signs this provider's documents (generated on first use: it runs
    gpg, so call this off the event loop)."""
    return csaf_signing_key(runtime.settings, runtime.secrets)


def provider_metadata(ctx: Context, key: OpenPgpKey) -> Served:
    """`provider-metadata.json` (CSAF 2.0 requirement 7), valid against OASIS's provider schema.
    It is updated when a public document changes (or, before any, when the key was made)."""
    settings = ctx.settings
    base = f"{settings.public_url.rstrip('/')}{BASE_PATH}"
    newest = max((e.released for e in _entries(ctx, DIRECTORIES[PUBLIC])), default=key.created)
    metadata = {
        "canonical_url": f"{base}/provider-metadata.json",
        "distributions": [{"directory_url": f"{base}/{label}/"} for label in DIRECTORIES],
        "last_updated": _timestamp(max(newest, key.created)),
        "list_on_CSAF_aggregators": settings.csaf_list_on_aggregators,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": settings.csaf_mirror_on_aggregators,
        "public_openpgp_keys": [
            {"fingerprint": key.fingerprint, "url": f"{base}/openpgp/{key.fingerprint}.asc"}
        ],
        # As in every document (`_csaf.advisory_to_csaf`), so aggregators show one publisher.
        "publisher": {
            "category": "coordinator",
            "name": agency_name(ctx),
            "namespace": settings.public_url,
        },
        "role": settings.csaf_provider_role,
    }
    return Served(canonical_json(metadata), "application/json")


def public_key_file(key: OpenPgpKey, name: str) -> Served:
    """The ASCII-armored public key (CSAF 2.0 requirement 20), at `openpgp/<fingerprint>.asc`."""
    if name != f"{key.fingerprint}.asc":
        raise NotFound(f"no OpenPGP key {name}: the documents are signed by {key.fingerprint}.asc")
    return Served(key.public_key.encode(), "application/pgp-keys")
