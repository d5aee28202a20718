"""The JSON shapes of model identity: fingerprints, comparisons, and the record a report embeds.

- `Fingerprint` is what `predeploy fingerprint compute --json` prints: the fingerprint, the probe
  set, the normalised answers and their hashes, how and when it was computed.
- `FingerprintRef` is the part of a fingerprint that is kept with a campaign and signed into a
  report: no raw answers (they may be long-ish model output, and the hashes suffice to compare),
  never a key.
- `IdentityRecord` is one access variant's identity in a report's top-level `identity` list.

The invariants are checked on load (`fingerprint` is the digest of `answer_hashes`; each answer
hashes to its `answer_hashes` entry), so a hand-edited file is refused rather than trusted.
`fingerprints_in` reads the fingerprints out of either kind of document.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..canonical import digest, sha256_hex
from ..errors import InvalidInput

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

# The answer hash recorded for a probe whose call failed (after the provider's and Inspect's
# retries). It is the hash of a marker no normalised answer can equal (normalised answers have no
# NUL), so a failure is never mistaken for an answer, and `compare` never counts two failures as
# agreement.
FAILED_MARKER = "\x00predeploy:probe-failed"
FAILED_ANSWER_HASH = sha256_hex(FAILED_MARKER.encode())

# The label `fingerprints_in` gives the single fingerprint of a `compute --json` output, which
# belongs to no access variant.
FINGERPRINT_FILE_VARIANT = "fingerprint"


def answer_hash(normalised: str) -> str:
    """SHA-256 (hex) of a normalised answer's UTF-8 bytes."""
    return sha256_hex(normalised.encode())


def fingerprint_of(probe_set: str, answer_hashes: Mapping[str, str]) -> str:
    """The fingerprint: SHA-256 of the canonical JSON of the probe set id and the answer hashes.

    Canonical JSON sorts the keys, so the order the probes were answered in does not matter.
    """
    return digest({"probe_set": probe_set, "answer_hashes": dict(answer_hashes)})


class FingerprintSettings(BaseModel):
    """How the probes were asked: recorded so that a later check can ask the same way."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float
    seed: int
    max_tokens: int
    connections: int
    max_retries: int | None
    attempt_timeout: int | None


class FingerprintRef(BaseModel):
    """A fingerprint as kept and signed: probe set, fingerprint and per-probe answer hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: Sha256
    probe_set: str = Field(min_length=1)
    probe_set_sha256: Sha256
    answer_hashes: dict[str, Sha256] = Field(min_length=1)
    failed: list[str] = Field(
        default_factory=list, description="Probes whose call failed (their hash is the marker's)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> FingerprintRef:
        if self.fingerprint != fingerprint_of(self.probe_set, self.answer_hashes):
            raise ValueError("fingerprint is not the digest of probe_set and answer_hashes")
        marked = sorted(p for p, h in self.answer_hashes.items() if h == FAILED_ANSWER_HASH)
        if sorted(self.failed) != marked:
            raise ValueError("failed does not list exactly the probes with the failure marker")
        return self

    def ref(self) -> FingerprintRef:
        """Just the reference fields (drops a `Fingerprint`'s raw answers and details)."""
        return FingerprintRef(
            fingerprint=self.fingerprint,
            probe_set=self.probe_set,
            probe_set_sha256=self.probe_set_sha256,
            answer_hashes=dict(self.answer_hashes),
            failed=list(self.failed),
        )


class Fingerprint(FingerprintRef):
    """A computed fingerprint with its normalised answers: `predeploy fingerprint compute --json`.

    `answers` holds the answered probes only; a failed probe is in `failed` and `errors` (the
    error's type and HTTP status, never its message, which could echo a credential).
    """

    model: str = Field(description="The Inspect model string that was asked.")
    answers: dict[str, str]
    errors: dict[str, str] = Field(default_factory=dict)
    computed_at: datetime
    seconds: float = Field(description="Wall time the probes took.")
    settings: FingerprintSettings

    @model_validator(mode="after")
    def _answers_match_hashes(self) -> Fingerprint:
        for probe, answer in self.answers.items():
            if self.answer_hashes.get(probe) != answer_hash(answer):
                raise ValueError(f"answers.{probe} does not hash to answer_hashes.{probe}")
        unanswered = set(self.answer_hashes) - set(self.answers)
        if unanswered != set(self.failed):
            raise ValueError("every probe needs an answer unless it is listed in failed")
        return self


class Thresholds(BaseModel):
    """Similarity thresholds of the verdict: >= `match` is a match, >= `drift` a drift.

    They are statistical judgements, not proofs: even at temperature 0 some providers answer a few
    probes differently from one call to the next (batching, non-deterministic kernels, silent
    minor updates), so a match allows a few differing probes; and a model fine-tuned a little
    stays close to its parent. Tune them for a provider after observing its repeat-to-repeat
    agreement (fingerprint the same endpoint several times).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: float = Field(default=0.95, ge=0.0, le=1.0)
    drift: float = Field(default=0.70, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.drift > self.match:
            raise ValueError("the drift threshold cannot be above the match threshold")
        return self


Verdict = Literal["match", "drift", "different"]


class ProbeDifference(BaseModel):
    """One probe whose answers differ: both answer hashes, and which side failed, if any."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    probe: str
    expected: str | None = Field(description="Expected answer hash; None if it has no entry.")
    observed: str | None = Field(description="Observed answer hash; None if it has no entry.")
    expected_failed: bool = False
    observed_failed: bool = False


class Comparison(BaseModel):
    """An observed fingerprint against an expected one.

    `similarity` is the share of the expected probe set's probes answered, on both sides, with
    equal answer hashes; failed probes count as differing. Fingerprints over different probe sets
    cannot be compared: `same_probe_set` is False, the similarity 0 and the verdict "different".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Verdict
    similarity: float = Field(ge=0.0, le=1.0)
    matching: int
    total: int
    same_probe_set: bool
    probe_set: str
    expected_fingerprint: str
    observed_fingerprint: str
    differing: list[ProbeDifference]
    thresholds: Thresholds


class IdentityRecord(BaseModel):
    """One access variant's identity, as a signed report embeds it (top-level `identity` list).

    `start` and `end` are the fingerprints taken before and after the campaign's runs; `drift`
    compares them (a verdict other than "match" means the model changed during testing).
    `weights_digest` and `checkpoint_id` are what the developer declared, if anything.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    variant: str = Field(min_length=1)
    model: str = Field(min_length=1)
    start: FingerprintRef
    end: FingerprintRef | None = None
    drift: Comparison | None = None
    weights_digest: str | None = None
    checkpoint_id: str | None = None


class IdentityDocumentError(InvalidInput):
    """A document holds no readable fingerprint; `field` is the JSON path of the first problem."""


def _where(location: tuple[str | int, ...], prefix: str) -> str:
    path = prefix
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(document)"


def _invalid(exc: ValidationError, prefix: str) -> IdentityDocumentError:
    first = exc.errors()[0]
    where = _where(tuple(first["loc"]), prefix)
    message = str(first["msg"]).removeprefix("Value error, ")
    return IdentityDocumentError(f"{where}: {message}", field=where)


def fingerprints_in(
    document: Any, *, which: Literal["start", "end"] = "start"
) -> dict[str, FingerprintRef]:
    """The fingerprints in `document`, by access variant label.

    `document` is either a `predeploy fingerprint compute --json` output (one fingerprint, under
    the label `FINGERPRINT_FILE_VARIANT`) or a report whose top-level `identity` is a list of
    `IdentityRecord`s (each variant's `start` fingerprint, or with `which="end"` its `end` one;
    variants without an end fingerprint are then left out). Raises `IdentityDocumentError`
    naming the first problem when the document is neither, or is malformed.
    """
    if not isinstance(document, Mapping):
        raise IdentityDocumentError("the document is not a JSON object")
    if "identity" in document:
        identity = document["identity"]
        if not isinstance(identity, list):
            raise IdentityDocumentError("identity: must be a list of records", field="identity")
        found: dict[str, FingerprintRef] = {}
        for index, item in enumerate(identity):
            try:
                record = IdentityRecord.model_validate(item)
            except ValidationError as exc:
                raise _invalid(exc, f"identity[{index}]") from None
            if any(
                isinstance(other, Mapping) and other.get("variant") == record.variant
                for other in identity[:index]
            ):
                raise IdentityDocumentError(
                    f"identity[{index}].variant: {record.variant!r} appears more than once",
                    field=f"identity[{index}].variant",
                )
            chosen = record.start if which == "start" else record.end
            if chosen is not None:
                found[record.variant] = chosen
        return found
    if "fingerprint" in document:
        shape: type[FingerprintRef] = Fingerprint if "answers" in document else FingerprintRef
        try:
            return {FINGERPRINT_FILE_VARIANT: shape.model_validate(document).ref()}
        except ValidationError as exc:
            raise _invalid(exc, "") from None
    raise IdentityDocumentError(
        "neither a `predeploy fingerprint compute --json` output (no `fingerprint` field) "
        "nor a report with identity records (no `identity` field)"
    )
