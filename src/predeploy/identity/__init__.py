"""Model identity attestation: behavioural fingerprints of a model endpoint, and their comparison.

A fingerprint is the hash of a model's normalised answers to a fixed, versioned probe set asked at
temperature 0 (`compute_fingerprint`). Taken at the start and end of a campaign and signed into
the report (`IdentityRecord`), it lets anyone check later whether a live endpoint still answers
like the model that was tested (`compare`, `predeploy fingerprint compare`).

What it can and cannot prove: it detects substitution (another model, a fine-tune, a different
quantisation answers many probes differently); it does not prove identity. Providers are not
fully deterministic even at temperature 0, so the verdict is statistical (`Thresholds`); a
provider could serve the probe set from the tested model and everything else from another; and
a change that leaves these 100 short answers alone goes unseen. Declared weights digests and
checkpoint ids are recorded next to the fingerprint, as declarations.
"""

from ._fingerprint import (
    DEFAULT_CONNECTIONS,
    DEFAULT_MAX_TOKENS,
    DEFAULT_SEED,
    DEFAULT_THRESHOLDS,
    TEMPERATURE,
    compare,
    compute_fingerprint,
    fingerprint_from_hashes,
    normalise,
)
from ._probes import PROBE_SET, PROBE_SETS, Probe, ProbeSet, probe_set
from ._task import IDENTITY_TASK, identity_probes
from .schemas import (
    FAILED_ANSWER_HASH,
    FINGERPRINT_FILE_VARIANT,
    Comparison,
    Fingerprint,
    FingerprintRef,
    FingerprintSettings,
    IdentityDocumentError,
    IdentityRecord,
    ProbeDifference,
    Thresholds,
    Verdict,
    answer_hash,
    fingerprint_of,
    fingerprints_in,
)

__all__ = [
    "DEFAULT_CONNECTIONS",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_SEED",
    "DEFAULT_THRESHOLDS",
    "FAILED_ANSWER_HASH",
    "FINGERPRINT_FILE_VARIANT",
    "IDENTITY_TASK",
    "PROBE_SET",
    "PROBE_SETS",
    "TEMPERATURE",
    "Comparison",
    "Fingerprint",
    "FingerprintRef",
    "FingerprintSettings",
    "IdentityDocumentError",
    "IdentityRecord",
    "Probe",
    "ProbeDifference",
    "ProbeSet",
    "Thresholds",
    "Verdict",
    "answer_hash",
    "compare",
    "compute_fingerprint",
    "fingerprint_from_hashes",
    "fingerprint_of",
    "fingerprints_in",
    "identity_probes",
    "normalise",
    "probe_set",
]
