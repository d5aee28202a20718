"""Reading fingerprints out of `compute --json` outputs and reports' identity records."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from predeploy.identity import (
    FINGERPRINT_FILE_VARIANT,
    Fingerprint,
    IdentityDocumentError,
    IdentityRecord,
    compare,
    compute_fingerprint,
    fingerprints_in,
)


@pytest.fixture(scope="module")
def expert() -> Fingerprint:
    return asyncio.run(compute_fingerprint("predeploy/scripted-expert"))


@pytest.fixture(scope="module")
def novice() -> Fingerprint:
    return asyncio.run(compute_fingerprint("predeploy/scripted-novice"))


def as_json(value: Any) -> Any:
    """The value as it is read back from a file."""
    return json.loads(json.dumps(value, default=str))


def report(*records: dict[str, Any]) -> dict[str, Any]:
    """A report document, hand-made, with the `identity` field reports will carry."""
    return as_json({"schema": "predeploy.report/1", "title": "r", "identity": list(records)})


def test_a_compute_output_holds_one_fingerprint(expert: Fingerprint) -> None:
    document = as_json(expert.model_dump(mode="json"))
    assert {"fingerprint", "probe_set", "answers", "answer_hashes"} <= set(document)

    refs = fingerprints_in(document)

    assert list(refs) == [FINGERPRINT_FILE_VARIANT]
    [found] = refs.values()
    assert found == expert.ref()
    assert "answers" not in found.model_dump()
    # A bare reference (no answers) reads too.
    assert fingerprints_in(as_json(expert.ref().model_dump()))[FINGERPRINT_FILE_VARIANT] == found


def test_a_report_holds_one_fingerprint_per_variant(
    expert: Fingerprint, novice: Fingerprint
) -> None:
    production = IdentityRecord(
        variant="production",
        model="openai-api/lab/m",
        start=expert.ref(),
        end=novice.ref(),
        drift=compare(expert, novice),
        weights_digest="sha256:" + "ab" * 32,
        checkpoint_id="ckpt-2026-11-30",
    )
    reduced = {
        "variant": "reduced-safeguards",
        "model": "openai-api/lab/m-rs",
        "start": novice.ref().model_dump(),
    }
    document = report(production.model_dump(mode="json"), reduced)

    starts = fingerprints_in(document)
    ends = fingerprints_in(document, which="end")

    assert starts == {"production": expert.ref(), "reduced-safeguards": novice.ref()}
    assert ends == {"production": novice.ref()}
    assert IdentityRecord.model_validate(document["identity"][0]) == production
    # Nothing in an identity record carries raw answers.
    assert "answers" not in json.dumps(document)


def test_an_empty_identity_list_holds_no_fingerprint() -> None:
    assert fingerprints_in(report()) == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d, fp: [1, 2], "the document is not a JSON object"),
        (lambda d, fp: {"title": "x"}, "neither a `predeploy fingerprint compute --json` output"),
        (lambda d, fp: d | {"identity": {"variant": "p"}}, "identity: must be a list"),
        (lambda d, fp: d | {"identity": ["p"]}, "identity[0]: Input should be"),
        (
            lambda d, fp: d | {"identity": [{"variant": "p", "model": "m"}]},
            "identity[0].start: Field required",
        ),
        (
            lambda d, fp: d | {"identity": [{"variant": "p", "model": "m", "start": fp, "x": 1}]},
            "identity[0].x: Extra inputs are not permitted",
        ),
        (
            lambda d, fp: (
                d
                | {
                    "identity": [
                        {"variant": "p", "model": "m", "start": fp | {"fingerprint": "0" * 64}}
                    ]
                }
            ),
            "identity[0].start: fingerprint is not the digest of probe_set and answer_hashes",
        ),
        (
            lambda d, fp: (
                d
                | {
                    "identity": [
                        {"variant": "p", "model": "m", "start": fp | {"probe_set_sha256": "xyz"}}
                    ]
                }
            ),
            "identity[0].start.probe_set_sha256: String should match pattern",
        ),
        (
            lambda d, fp: (
                d
                | {
                    "identity": [
                        {"variant": "p", "model": "m", "start": fp},
                        {"variant": "p", "model": "m2", "start": fp},
                    ]
                }
            ),
            "identity[1].variant: 'p' appears more than once",
        ),
    ],
)
def test_malformed_documents_are_refused_naming_the_problem(
    expert: Fingerprint, change: Any, message: str
) -> None:
    document = change(report(), as_json(expert.ref().model_dump()))
    with pytest.raises(IdentityDocumentError) as caught:
        fingerprints_in(document)
    assert caught.value.message.startswith(message), caught.value.message


def test_a_tampered_compute_output_is_refused(expert: Fingerprint) -> None:
    document = as_json(expert.model_dump(mode="json"))
    document["answers"]["p001"] = "something else"
    with pytest.raises(IdentityDocumentError, match=r"answers\.p001 does not hash"):
        fingerprints_in(document)
    del document["answer_hashes"]
    with pytest.raises(IdentityDocumentError, match="answer_hashes: Field required"):
        fingerprints_in(document)
