"""Behavioural fingerprints: ask every probe of a probe set, normalise, hash, compare.

A fingerprint says "this endpoint answers these 100 fixed prompts, at temperature 0, like this".
Two fingerprints of the same model on the same provider agree on (nearly) every probe; a
different model, or the same one swapped for a fine-tune or a different quantisation, disagrees
on many. It detects substitution; it does not prove identity: a provider could route the probe
set to the tested model and everything else elsewhere, and a model can be changed in ways these
probes do not touch. Providers are not fully deterministic even at temperature 0, which is why
`compare` gives a similarity and a verdict by thresholds rather than equality (see `Thresholds`).
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Mapping
from typing import Any

import anyio
from inspect_ai.model import (
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    get_model,
)

from ..clock import Clock, SystemClock
from ._probes import PROBE_SET, Probe, ProbeSet
from .schemas import (
    FAILED_ANSWER_HASH,
    Comparison,
    Fingerprint,
    FingerprintRef,
    FingerprintSettings,
    ProbeDifference,
    Thresholds,
    Verdict,
    answer_hash,
    fingerprint_of,
)

log = logging.getLogger("predeploy.identity")
# A library's logger: without logging set up, Python would print warnings to stderr by itself
# (the CLI reports failed probes its own way); with it set up, records propagate as usual.
log.addHandler(logging.NullHandler())

# The fixed generation settings. Temperature 0 and a fixed seed (for providers that honour one)
# make answers as repeatable as the provider allows; the probes want a word or a short phrase,
# so 64 tokens is plenty and bounds cost and time.
TEMPERATURE = 0.0
DEFAULT_SEED = 1729
DEFAULT_MAX_TOKENS = 64
DEFAULT_CONNECTIONS = 16
# Inspect retries failed calls forever by default; a fingerprint should rather finish with a few
# probes marked failed than hang on a broken endpoint.
DEFAULT_MAX_RETRIES = 3
DEFAULT_ATTEMPT_TIMEOUT = 60

DEFAULT_THRESHOLDS = Thresholds()

_WHITESPACE = re.compile(r"\s+")
# Wrappers that carry no answer: quotes of every style, Markdown emphasis and code ticks.
_WRAPPERS = "\"'`\u2018\u2019\u201a\u201c\u201d\u201e\u00ab\u00bb*_"
# Sentence-final punctuation ("Paris." and "Paris" are the same answer), ASCII and full-width.
_TRAILING = ".!?,;:\u3002\uff01\uff1f"


def normalise(answer: str) -> str:
    """The answer with the variation that carries no meaning removed, so it cannot count as drift.

    In order: Unicode NFKC (full-width letters, ligatures and non-breaking spaces become their
    plain forms, as different tokenisers and serving stacks emit either), case folding
    ("Paris" / "paris"), whitespace runs (newlines included) collapsed to one space and the ends
    stripped, then, until nothing changes, surrounding quotes / backticks / Markdown emphasis
    (`"Paris"`, `**Paris**`) and trailing sentence punctuation (`Paris.`) removed. Anything
    inside the answer is kept: it is what tells models apart.
    """
    text = unicodedata.normalize("NFKC", answer).casefold()
    text = _WHITESPACE.sub(" ", text).strip()
    previous = None
    while text != previous:
        previous = text
        text = text.strip(_WRAPPERS).rstrip(_TRAILING).strip()
    return text


def _describe(exc: BaseException) -> str:
    """What a failed probe records: the error's type and HTTP status. Never the message, which
    can quote a (masked) key or the request."""
    # After its last retry Inspect raises tenacity's RetryError; the cause is its last attempt's.
    last_attempt = getattr(exc, "last_attempt", None)
    if last_attempt is not None and last_attempt.failed:
        inner = last_attempt.exception()
        if isinstance(inner, BaseException):
            exc = inner
    status = getattr(exc, "status_code", None)
    return type(exc).__name__ + (f" (HTTP {status})" if isinstance(status, int) else "")


async def compute_fingerprint(
    model: str | Model,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    probe_set: ProbeSet = PROBE_SET,
    connections: int = DEFAULT_CONNECTIONS,
    seed: int = DEFAULT_SEED,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_retries: int | None = DEFAULT_MAX_RETRIES,
    attempt_timeout: int | None = DEFAULT_ATTEMPT_TIMEOUT,
    model_args: dict[str, Any] | None = None,
    clock: Clock | None = None,
) -> Fingerprint:
    """Ask every probe of `probe_set` and return the fingerprint of the answers.

    `model` is an Inspect model string (with `base_url`, `api_key` and provider `model_args` as
    for `inspect_ai.model.get_model`) or a ready `Model`. All probes are asked at once, at most
    `connections` in flight (Inspect's `max_connections`, which Inspect enforces), each as a
    fresh conversation: the probe set's instruction as system message, the probe as user
    message. A probe whose call still fails after the retries is recorded with the failure
    marker hash and listed in `failed`; it is not dropped. The key is used for the calls only.
    """
    if connections < 1:
        raise ValueError("connections must be at least 1")
    settings = FingerprintSettings(
        temperature=TEMPERATURE,
        seed=seed,
        max_tokens=max_tokens,
        connections=connections,
        max_retries=max_retries,
        attempt_timeout=attempt_timeout,
    )
    config = GenerateConfig(
        temperature=TEMPERATURE,
        seed=seed,
        max_tokens=max_tokens,
        max_connections=connections,
        max_retries=max_retries,
        attempt_timeout=attempt_timeout,
    )
    if isinstance(model, Model):
        if base_url is not None or api_key is not None or model_args:
            raise ValueError("base_url, api_key and model_args apply to a model string only")
        resolved = model
    else:
        # memoize=False: a fingerprint's model (and its key) is not left in Inspect's cache.
        resolved = get_model(
            model,
            base_url=base_url,
            api_key=api_key,
            config=config,
            memoize=False,
            **(model_args or {}),
        )
    computed_at = (clock or SystemClock()).now()
    answers: dict[str, str] = {}
    errors: dict[str, str] = {}
    # Inspect bounds concurrency per model already; this bound also holds when a shared `Model`
    # was passed in whose own config allows more.
    limiter = anyio.CapacityLimiter(connections)

    async def ask(probe: Probe) -> None:
        async with limiter:
            try:
                output = await resolved.generate(
                    [
                        ChatMessageSystem(content=probe_set.instruction),
                        ChatMessageUser(content=probe.prompt),
                    ],
                    config=config,
                )
            except Exception as exc:  # every failure is recorded, none ends the fingerprint
                errors[probe.id] = _describe(exc)
                return
        if output.error:
            errors[probe.id] = "provider error"
        else:
            answers[probe.id] = normalise(output.completion)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for probe in probe_set.probes:
            group.start_soon(ask, probe)
    seconds = time.perf_counter() - started

    hashes = {
        probe.id: answer_hash(answers[probe.id]) if probe.id in answers else FAILED_ANSWER_HASH
        for probe in probe_set.probes
    }
    failed = [probe.id for probe in probe_set.probes if probe.id not in answers]
    if failed:
        first = failed[0]
        log.warning(
            "fingerprint of %s: %d of %d probes failed (first: %s, %s)",
            str(resolved),
            len(failed),
            len(probe_set.probes),
            first,
            errors[first],
        )
    return Fingerprint(
        fingerprint=fingerprint_of(probe_set.id, hashes),
        probe_set=probe_set.id,
        probe_set_sha256=probe_set.sha256,
        answer_hashes=hashes,
        failed=failed,
        model=model if isinstance(model, str) else str(model),
        answers={probe.id: answers[probe.id] for probe in probe_set.probes if probe.id in answers},
        errors={probe_id: errors[probe_id] for probe_id in failed},
        computed_at=computed_at,
        seconds=round(seconds, 3),
        settings=settings,
    )


def fingerprint_from_hashes(probes: ProbeSet, answer_hashes: Mapping[str, str]) -> FingerprintRef:
    """The fingerprint of answer hashes gathered elsewhere (a campaign's identity probes): every
    probe of `probes` without a hash, or with an unknown id, counts as failed."""
    hashes = {
        probe.id: answer_hashes.get(probe.id) or FAILED_ANSWER_HASH for probe in probes.probes
    }
    return FingerprintRef(
        fingerprint=fingerprint_of(probes.id, hashes),
        probe_set=probes.id,
        probe_set_sha256=probes.sha256,
        answer_hashes=hashes,
        failed=[probe for probe, value in hashes.items() if value == FAILED_ANSWER_HASH],
    )


def compare(
    expected: FingerprintRef,
    observed: FingerprintRef,
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Comparison:
    """Compare an observed fingerprint with an expected one (a `Fingerprint` is a ref too).

    The similarity is the share of the expected set's probes that both sides answered with the
    same answer hash; a probe that failed on either side counts as differing (two failures are
    not agreement). Verdict: "match" at or above `thresholds.match`, "drift" at or above
    `thresholds.drift`, "different" below. Over different probe sets (or the same id with a
    different digest) nothing is comparable: similarity 0, verdict "different".
    """
    same_probe_set = (
        expected.probe_set == observed.probe_set
        and expected.probe_set_sha256 == observed.probe_set_sha256
    )
    total = len(expected.answer_hashes)
    differing: list[ProbeDifference] = []
    matching = 0
    if same_probe_set:
        for probe in sorted(set(expected.answer_hashes) | set(observed.answer_hashes)):
            want = expected.answer_hashes.get(probe)
            got = observed.answer_hashes.get(probe)
            if want is not None and want == got and want != FAILED_ANSWER_HASH:
                matching += 1
                continue
            differing.append(
                ProbeDifference(
                    probe=probe,
                    expected=want,
                    observed=got,
                    expected_failed=want == FAILED_ANSWER_HASH,
                    observed_failed=got == FAILED_ANSWER_HASH,
                )
            )
    similarity = matching / total if total else 0.0
    verdict: Verdict = "different"
    if same_probe_set and similarity >= thresholds.match:
        verdict = "match"
    elif same_probe_set and similarity >= thresholds.drift:
        verdict = "drift"
    return Comparison(
        verdict=verdict,
        similarity=round(similarity, 4),
        matching=matching,
        total=total,
        same_probe_set=same_probe_set,
        probe_set=expected.probe_set,
        expected_fingerprint=expected.fingerprint,
        observed_fingerprint=observed.fingerprint,
        differing=differing,
        thresholds=thresholds,
    )
