"""Reading OSV records from JSON or YAML files, folders of them, and zip bundles (like OSV's
per-ecosystem `all.zip`), each checked against the OSV 1.7 schema; a bad record is reported by
file and field, and reading goes on with the next one.

YAML is read with every scalar as a string (PyYAML's base loader): OSV's versions and timestamps
are strings, and a YAML `1.10` must not become the number 1.1. Two normalisations, both
reported back as warnings where they change a record:

- a YAML number or boolean inside `database_specific` or `ecosystem_specific` comes back as its
  text;
- a `GIT` range whose commits are not full hashes (older records abbreviate them, or name a
  `.patch` file; OSV 1.7 requires 40 or 64 hex digits) moves, unchanged, to the affected
  entry's `database_specific.predeploy_unusable_git_ranges`. Git ranges are never evaluated
  here (they need the repository), so no match changes; the record stays valid OSV 1.7.
"""

from __future__ import annotations

import io
import json
import lzma
import math
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml  # type: ignore[import-untyped]
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

MAX_RECORD_BYTES = 4 * 1024 * 1024
"""A single record file larger than this is refused (OSV records are a few kB)."""
MAX_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024
"""The most a zip bundle may expand to, all members together."""
MAX_DEPTH = 64
"""The deepest a record (or CSAF document) may nest; real ones stay below 20, and deeper ones
would exhaust the stack of the validators and serialisers that walk them."""
MAX_ID_CHARS = 100
MAX_NAME_CHARS = 300
RECORD_SUFFIXES = (".json", ".yaml", ".yml")

_BaseLoader: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


@dataclass(frozen=True)
class Rejection:
    """A record (or file) that could not be imported, and why."""

    file: str
    field: str | None
    message: str


@dataclass(frozen=True)
class OsvRecord:
    """A record that passed the checks, with its timestamps parsed."""

    file: str
    data: dict[str, Any]
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    warnings: tuple[Rejection, ...] = ()
    """What was normalised, as (file, field, message)."""
    source_format: str = "osv"
    """The format it was read from: `osv`, or `csaf` turned into the OSV shape."""

    @property
    def id(self) -> str:
        record_id: str = self.data["id"]
        return record_id

    @property
    def ids(self) -> set[str]:
        """Its id and every alias: the ids it may be known by elsewhere."""
        return {self.id, *(self.data.get("aliases") or [])}


Item = OsvRecord | Rejection


@cache
def _osv_schema() -> dict[str, Any]:
    text = resources.files("predeploy.interop").joinpath("schemas/osv-1.7.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def osv_validator() -> Draft202012Validator:
    """The OSV 1.7 JSON schema, shipped with predeploy (`interop/schemas`), in `jsonschema`:
    slow, but it words errors best."""
    return Draft202012Validator(_osv_schema())


@cache
def _fast_validator() -> Any:
    """The same schema in `jsonschema-rs`, some 200 times faster: every record goes through it,
    and only a record it refuses is checked again to say why."""
    return jsonschema_rs.Draft202012Validator(_osv_schema())


def _path(parts: Any) -> str | None:
    joined = ".".join(str(p) for p in parts)
    return joined or None


def timestamp(value: str) -> datetime:
    """An OSV timestamp (RFC 3339, `Z` or an offset) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def value_problem(data: object) -> tuple[str | None, str] | None:
    """Where and why parsed JSON cannot be stored or sent back as JSON text: nested more than
    `MAX_DEPTH` deep, or holding a NaN or infinity, a NUL character (PostgreSQL text refuses
    it) or a lone surrogate (not UTF-8), in a value or a key."""
    pending: list[tuple[object, tuple[object, ...]]] = [(data, ())]
    while pending:
        value, where = pending.pop()
        if len(where) > MAX_DEPTH:
            return _path(where[:4]), f"is nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            for key, child in value.items():
                problem = _text_problem(key)
                if problem is not None:
                    return _path(where), f"a key {problem}"
                pending.append((child, (*where, key)))
        elif isinstance(value, list):
            pending.extend((child, (*where, index)) for index, child in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            return _path(where), f"holds {value}, which is not a JSON number"
        elif isinstance(value, str):
            problem = _text_problem(value)
            if problem is not None:
                return _path(where), problem
    return None


def _text_problem(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    if "\x00" in text:
        return "holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (not UTF-8 text)"
    return None


def check(file: str, data: object, *, source_format: str = "osv") -> Item:
    """`data` as a record if it is a valid OSV record, else why not."""
    if not isinstance(data, dict):
        return Rejection(file, None, "an OSV record is a JSON object")
    problem = value_problem(data)
    if problem is not None:
        return Rejection(file, *problem)
    data, warnings = _set_aside_unusable_git_ranges(file, data)
    if not _fast_validator().is_valid(data):
        error = best_match(osv_validator().iter_errors(data))
        if error is not None:
            return Rejection(file, _path(error.absolute_path), error.message[:500])
        return Rejection(file, None, "does not match the OSV 1.7 schema")
    problem = _own_rules(data)
    if problem is not None:
        return Rejection(file, *problem)
    try:
        return OsvRecord(
            file=file,
            data=data,
            modified=timestamp(data["modified"]),
            published=timestamp(data["published"]) if data.get("published") else None,
            withdrawn=timestamp(data["withdrawn"]) if data.get("withdrawn") else None,
            warnings=warnings,
            source_format=source_format,
        )
    except ValueError as exc:
        return Rejection(file, "modified", f"not an RFC 3339 timestamp: {exc}")


_FULL_COMMIT = re.compile(r"^(0|[a-f0-9]{40}|[a-f0-9]{64})$")


def _set_aside_unusable_git_ranges(
    file: str, data: dict[str, Any]
) -> tuple[dict[str, Any], tuple[Rejection, ...]]:
    affected = data.get("affected")
    if not isinstance(affected, list):
        return data, ()
    warnings = []
    entries = []
    for index, entry in enumerate(affected):
        ranges = entry.get("ranges") if isinstance(entry, dict) else None
        if not isinstance(ranges, list):
            entries.append(entry)
            continue
        kept, unusable = [], []
        for number, range_ in enumerate(ranges):
            if _unusable_git_range(range_):
                unusable.append(range_)
                warnings.append(Rejection(
                    file, f"affected.{index}.ranges.{number}",
                    "a GIT range without full commit hashes: kept in "
                    "database_specific.predeploy_unusable_git_ranges",
                ))  # fmt: skip
            else:
                kept.append(range_)
        if not unusable:
            entries.append(entry)
            continue
        specific = dict(entry.get("database_specific") or {})
        specific["predeploy_unusable_git_ranges"] = unusable
        changed = {**entry, "database_specific": specific}
        if kept:
            changed["ranges"] = kept
        else:
            changed.pop("ranges")
        entries.append(changed)
    if not warnings:
        return data, ()
    return {**data, "affected": entries}, tuple(warnings)


def _unusable_git_range(range_: object) -> bool:
    if not isinstance(range_, dict) or range_.get("type") != "GIT":
        return False
    events = range_.get("events")
    if not isinstance(events, list):
        return False
    return any(
        isinstance(event, dict)
        and any(isinstance(v, str) and not _FULL_COMMIT.match(v) for v in event.values())
        for event in events
    )


def _own_rules(data: dict[str, Any]) -> tuple[str, str] | None:
    """What the schema does not say but we need: bounded ids and names."""
    for index, alias in enumerate([data["id"], *(data.get("aliases") or [])]):
        if len(alias) > MAX_ID_CHARS:
            field = "id" if index == 0 else f"aliases.{index - 1}"
            return field, f"longer than {MAX_ID_CHARS} characters"
    for index, affected in enumerate(data.get("affected") or []):
        package = affected.get("package") or {}
        if len(package.get("name", "")) > MAX_NAME_CHARS:
            return f"affected.{index}.package.name", f"longer than {MAX_NAME_CHARS} characters"
    return None


def _has_aliases(content: bytes) -> bool:
    """Whether YAML uses aliases, which can make a small file expand without bound ("billion
    laughs"); OSV records never need them. Scanned only when both marks occur at all."""
    if b"&" not in content or b"*" not in content:
        return False
    return any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(content, Loader=_BaseLoader))


def parse(file: str, content: bytes) -> Iterator[Item]:
    """The records in one file's bytes: JSON (one record or a list) or YAML."""
    if len(content) > MAX_RECORD_BYTES:
        yield Rejection(file, None, f"larger than {MAX_RECORD_BYTES // (1024 * 1024)} MiB")
        return
    try:
        if file.lower().endswith(".json"):
            data: object = json.loads(content)
        else:
            if _has_aliases(content):
                yield Rejection(file, None, "YAML anchors and aliases are not accepted")
                return
            data = yaml.load(content, Loader=_BaseLoader)  # noqa: S506 (base loader: strings only)
    except (ValueError, yaml.YAMLError) as exc:
        yield Rejection(file, None, f"not valid {'JSON' if file.endswith('.json') else 'YAML'}: "
                        f"{str(exc)[:300]}")  # fmt: skip
        return
    except RecursionError:
        yield Rejection(file, None, f"nested more than {MAX_DEPTH} levels deep")
        return
    for item in data if isinstance(data, list) else [data]:
        yield check(file, item)


Parser = Callable[[str, bytes], Iterator[Item]]
"""Reads the records in one file's bytes (`parse`, or a CSAF reader)."""


_UNREADABLE_MEMBER = (
    zipfile.BadZipFile,  # a bad CRC or header
    ValueError,  # a local header's name flagged UTF-8 that is not
    RuntimeError,  # encrypted
    NotImplementedError,  # an unknown compression method
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,  # bzip2's invalid data
)
"""What reading a damaged zip member raises."""


def read_zip(name: str, content: bytes, parse_file: Parser = parse) -> Iterator[Item]:
    """The records in a zip bundle's record files (other members are skipped)."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError, NotImplementedError, OSError, EOFError) as exc:
        # ValueError: a member name flagged UTF-8 that is not; NotImplementedError: a version
        # of the format zipfile does not read
        yield Rejection(name, None, f"not a zip file: {exc}")
        return
    members = [m for m in bundle.infolist() if m.filename.lower().endswith(RECORD_SUFFIXES)]
    if sum(m.file_size for m in members) > MAX_BUNDLE_BYTES:
        yield Rejection(name, None, "expands to more than 2 GiB")
        return
    for member in sorted(members, key=lambda m: m.filename):
        where = f"{name}:{member.filename}"
        if member.file_size > MAX_RECORD_BYTES:
            yield Rejection(where, None, f"larger than {MAX_RECORD_BYTES // (1024 * 1024)} MiB")
            continue
        # A member's header may understate its size: read at most one byte past the limit.
        try:
            with bundle.open(member) as stream:
                content = stream.read(MAX_RECORD_BYTES + 1)
        except _UNREADABLE_MEMBER as exc:
            yield Rejection(where, None, f"cannot be read from the zip file: {exc}")
            continue
        yield from parse_file(where, content)


def read_path(path: Path, parse_file: Parser = parse) -> Iterator[Item]:
    """The records under `path`: a record file, a zip bundle, or a folder of either."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            if child.suffix.lower() in (*RECORD_SUFFIXES, ".zip"):
                yield from read_path(child, parse_file)
        return
    if path.suffix.lower() != ".zip" and path.stat().st_size > MAX_RECORD_BYTES:
        yield Rejection(str(path), None, f"larger than {MAX_RECORD_BYTES // (1024 * 1024)} MiB")
        return
    content = path.read_bytes()
    if path.suffix.lower() == ".zip":
        yield from read_zip(str(path), content, parse_file)
    else:
        yield from parse_file(str(path), content)
