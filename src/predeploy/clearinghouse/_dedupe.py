"""De-duplication of vulnerability reports: exact root-cause fingerprints and text near-duplicates.

Pure functions, no database.

Fingerprints
------------
`fingerprint()` returns ``"v1:" + sha256(canonical JSON of the normalised parts)`` in hex. The
version sits in the value, so a future v2 can never collide with a v1 key, and rows keyed under
v1 are recomputed by a migration, never silently (the DefectDojo lesson: a hash that drifts
between builds breaks reimport dedupe). Any change to the table below is a new version.

The canonical JSON is an object with sorted keys and no whitespace (`predeploy.canonical`).
Every key is always present; a missing part is an explicit ``null``, so two reports that both
lack a CWE still match while a report with a CWE does not match one without.

========== ========================================== =============================================
key        taken from                                 v1 normalisation
========== ========================================== =============================================
kind       `kind`                                     one of ai_model, software, ai_system
products   `products` (version-less product keys)     each stripped and lower-cased; a purl loses
                                                      any ``@version``, ``?qualifiers`` and
                                                      ``#subpath``, a CPE keeps only
                                                      ``cpe:2.3:part:vendor:product``; then
                                                      de-duplicated and sorted; ``[]`` if none
cwe        `cwe`                                      ``CWE-<n>`` (``cwe-79``, ``79`` accepted)
file       `location` before its first ``:``          software and ai_system only (else null);
                                                      ``\\`` becomes ``/``, runs of ``/`` collapse,
                                                      leading ``./`` dropped, a GitHub-style
                                                      ``#L12`` anchor dropped, lower-cased
function   `location` after its first ``:``           software and ai_system only (else null);
                                                      line and column numbers (``:123:5``) and
                                                      any parameter list ``(...)`` dropped,
                                                      lower-cased; null if nothing is left
technique  `technique`                                ai_model and ai_system only (else null);
                                                      ATLAS ``AML.T0051[.000]`` upper-cased, or
                                                      OWASP LLM Top 10 2025 as ``LLM01``
model      `model_developer`, `model_name`            ai_model only (else null): an object
                                                      ``{"developer", "name"}``, each stripped,
                                                      whitespace collapsed, lower-cased (or null)
========== ========================================== =============================================

Why these choices:

- Versions never enter the key: one flaw reported against two releases (or two checkpoints of
  one model, which is why the model's version, weights digest and endpoint are not parts) is one
  flaw. Line numbers move between releases, so only the file and function identify the place.
- Paths and functions are lower-cased: reports written on case-insensitive file systems, or
  retyped by a person, drift in case far more often than one file holds two functions whose
  names differ only in case; a rare false merge is undone by an analyst's split.
- A part that does not describe the kind of flaw is ignored rather than hashed, so a stray
  value cannot split duplicates: code locations for model flaws, AI-attack techniques for
  plain software flaws, the model's identity for anything but a model flaw.

Near-duplicates
---------------
`text_for_similarity()` builds a comparable text from a title and the start of a description,
without the addresses and numbers that change between two runs of the same crash; `similar()`
ranks candidate texts against it with rapidfuzz.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process, utils

from ..canonical import digest
from ..errors import InvalidInput
from . import _standards

FINGERPRINT_VERSION = 1

KINDS = ("ai_model", "software", "ai_system")

# Which kinds each optional part of the key applies to (see the module docstring).
_LOCATION_KINDS = frozenset({"software", "ai_system"})
_TECHNIQUE_KINDS = frozenset({"ai_model", "ai_system"})
_MODEL_KINDS = frozenset({"ai_model"})


@dataclass(frozen=True)
class FingerprintParts:
    """What identifies one flaw, before normalisation.

    `products` are product keys without versions (`pkg:pypi/django`, `cpe:2.3:a:vendor:product`);
    `location` is `path/file.c:function`; `technique` a MITRE ATLAS or OWASP LLM Top 10 id;
    `model_developer` and `model_name` name the model without its version or checkpoint.
    """

    kind: str
    products: tuple[str, ...] = ()
    cwe: str | None = None
    location: str | None = None
    technique: str | None = None
    model_developer: str | None = None
    model_name: str | None = None


def fingerprint(parts: FingerprintParts) -> str:
    """The versioned exact-duplicate key of a report: `v1:` and 64 hex digits."""
    return f"v{FINGERPRINT_VERSION}:{digest(normalised_parts(parts))}"


def normalised_parts(parts: FingerprintParts) -> dict[str, Any]:
    """The JSON object that `fingerprint()` hashes, for inspection and for key migrations."""
    if parts.kind not in KINDS:
        raise InvalidInput(
            f"kind: {parts.kind!r} is not a report kind (expected one of {', '.join(KINDS)})",
            field="kind",
        )
    has_location = parts.kind in _LOCATION_KINDS and parts.location is not None
    file, function = _location(parts.location or "") if has_location else (None, None)
    return {
        "kind": parts.kind,
        "products": sorted(
            {_product(key, f"products.{index}") for index, key in enumerate(parts.products)}
        ),
        "cwe": _standards.parse_cwe(parts.cwe) if parts.cwe is not None else None,
        "file": file,
        "function": function,
        "technique": _technique(parts.technique)
        if parts.kind in _TECHNIQUE_KINDS and parts.technique is not None
        else None,
        "model": _model(parts.model_developer, parts.model_name)
        if parts.kind in _MODEL_KINDS
        else None,
    }


def _product(key: str, field: str) -> str:
    text = key.strip().lower()
    if text.startswith("pkg:"):
        # A purl's version follows the last `@` after the last `/` (an npm scope may hold `@`).
        text = re.split(r"[?#]", text, maxsplit=1)[0]
        head, slash, name = text.rpartition("/")
        return f"{head}{slash}{name.split('@', 1)[0]}"
    if text.startswith("cpe:2.3:"):
        fields = text.split(":")
        if len(fields) < 5:
            raise InvalidInput(
                f"{field}: {key!r} names no vendor and product (expected cpe:2.3:part:vendor:product)",
                field=field,
            )
        return ":".join(fields[:5])
    raise InvalidInput(
        f"{field}: {key!r} is not a product key (expected pkg:... or cpe:2.3:...)", field=field
    )


_LINE_ANCHOR = re.compile(r"#l\d+(?:-l?\d+)?$")
_LEADING_NUMBERS = re.compile(r"^(?:\d+:)+")
_TRAILING_NUMBERS = re.compile(r"(?::\d+)+$")


def _location(location: str) -> tuple[str | None, str | None]:
    """File and function of `path/file.c:function`, without line numbers (see the table)."""
    path, _, rest = location.strip().lower().partition(":")
    path = re.sub(r"/+", "/", path.strip().replace("\\", "/"))
    while path.startswith("./"):
        path = path[2:]
    path = _LINE_ANCHOR.sub("", path)
    rest = rest.strip()
    if rest.replace(":", "").isdigit():
        rest = ""  # only a line (and column): no function named
    function = _TRAILING_NUMBERS.sub("", _LEADING_NUMBERS.sub("", rest))
    function = function.split("(", 1)[0].strip()
    return path or None, function or None


def _technique(technique: str) -> str:
    text = technique.strip().upper()
    if text.startswith("AML"):
        return _standards.parse_atlas_technique(text, "technique")
    if text.startswith("LLM"):
        return _standards.parse_owasp_llm(text, "technique")
    raise InvalidInput(
        f"technique: {technique!r} is not a MITRE ATLAS id (e.g. AML.T0051) or an OWASP LLM "
        "Top 10 id (e.g. LLM01)",
        field="technique",
    )


def _model(developer: str | None, name: str | None) -> dict[str, str | None]:
    return {"developer": _plain(developer), "name": _plain(name)}


def _plain(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.split()).lower() or None


# ------------------------------------------------------------------------------ near-duplicates

DEFAULT_THRESHOLD = 0.6
DESCRIPTION_CHARS = 500

# Values that differ between two runs of the same crash: UUIDs, hex literals (addresses, pc,
# sizes), long bare hex runs with a digit (build ids, digests, addresses printed without 0x),
# and standalone decimal numbers (line numbers, offsets, PIDs, sizes, timestamps).
_VOLATILE = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
    r"|\b0x[0-9a-f]+\b"
    r"|\b(?=[a-f]*\d)[0-9a-f]{8,}\b"
    r"|\b\d+\b",
)
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Suggestion:
    """A candidate that looks like a near-duplicate, with its similarity from 0 to 1."""

    id: str
    score: float


def text_for_similarity(title: str, description: str) -> str:
    """The text `similar()` compares: the title and the start of the description, normalised.

    Lower case, volatile values (hex addresses, UUIDs, digests, numbers) removed, punctuation
    turned into spaces and whitespace collapsed; the description is cut to
    `DESCRIPTION_CHARS` after normalisation, at a word boundary, so long stack traces do not
    swamp the title.
    """
    head = _normalise(title)
    body = _normalise(description)
    if len(body) > DESCRIPTION_CHARS:
        body = body[:DESCRIPTION_CHARS].rsplit(" ", 1)[0]
    return f"{head} {body}".strip()


def _normalise(text: str) -> str:
    text = _VOLATILE.sub(" ", text.lower())
    return " ".join(_NOT_WORD.sub(" ", text).split())


def similar(
    text: str,
    candidates: Sequence[tuple[str, str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    limit: int = 10,
) -> list[Suggestion]:
    """Candidates `(id, text)` whose text scores at least `threshold` against `text`, best first.

    At most `limit` results; equal scores keep the candidates' order. Texts are best built with
    `text_for_similarity()`.
    """
    if not 0 <= threshold <= 1:
        raise InvalidInput(f"threshold: {threshold} is not between 0 and 1", field="threshold")
    if limit < 1:
        raise InvalidInput(f"limit: {limit} is not a positive number", field="limit")
    # token_sort_ratio compares the sorted words of both texts, so reworded titles ("overflow
    # in X" / "X: overflow") still match, and it penalises a difference in length.
    # token_set_ratio would score 1.0 whenever one text's words are a subset of the other's, so
    # every short, vague report would tie at the top; WRatio's partial matching rated a different
    # flaw in the same library above a true duplicate in trials. default_process (lower case,
    # punctuation to spaces) keeps raw candidate texts comparable too; it and the scorer run in
    # rapidfuzz's C++ code, which keeps thousands of candidates cheap.
    matches = process.extract(
        text,
        [candidate_text for _, candidate_text in candidates],
        scorer=fuzz.token_sort_ratio,
        processor=utils.default_process,
        score_cutoff=threshold * 100,
        limit=limit,
    )
    return [Suggestion(id=candidates[index][0], score=score / 100) for _, score, index in matches]
