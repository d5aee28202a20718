"""Computing and comparing fingerprints: scripted baselines, and the fake OpenAI endpoint."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from inspect_ai.model import get_model

from predeploy.identity import (
    FAILED_ANSWER_HASH,
    PROBE_SET,
    Fingerprint,
    ProbeSet,
    Thresholds,
    answer_hash,
    compare,
    compute_fingerprint,
    fingerprint_of,
)
from predeploy.testing import FakeOpenAIServer, Faults, text_script

from .conftest import CHANGED_ANSWERS, CHANGED_PROBES, KEY, MODEL

SMALL = ProbeSet("test-small", "Answer.", tuple(PROBE_SET.probes[:8]))


def fingerprint(model: Any, **kwargs: Any) -> Fingerprint:
    return asyncio.run(compute_fingerprint(model, **kwargs))


def of_fake(server: FakeOpenAIServer, key: str = KEY, **kwargs: Any) -> Fingerprint:
    return fingerprint(MODEL, base_url=server.base_url, api_key=key, **kwargs)


# --- scripted baselines (offline) ----------------------------------------------------------


def test_a_scripted_baseline_has_a_stable_fingerprint_and_another_a_different_one() -> None:
    first = fingerprint("predeploy/scripted-expert")
    again = fingerprint("predeploy/scripted-expert")
    novice = fingerprint("predeploy/scripted-novice")

    assert first.fingerprint == again.fingerprint
    assert first.answer_hashes == again.answer_hashes
    assert novice.fingerprint != first.fingerprint
    assert compare(first, again).verdict == "match"
    assert compare(first, novice).verdict == "different"
    assert not first.failed and len(first.answers) == 100
    # Per-probe answers, each labelled as a scripted baseline's.
    assert len(set(first.answers.values())) == 100
    assert all(a.startswith("[scripted baseline] ") for a in first.answers.values())


def test_the_fingerprint_records_its_probe_set_settings_and_model() -> None:
    result = fingerprint("predeploy/scripted-idle", probe_set=SMALL, connections=3, seed=7)

    assert result.model == "predeploy/scripted-idle"
    assert result.probe_set == "test-small" and result.probe_set_sha256 == SMALL.sha256
    assert result.settings.temperature == 0 and result.settings.seed == 7
    assert result.settings.connections == 3
    assert result.fingerprint == fingerprint_of("test-small", result.answer_hashes)
    assert all(result.answer_hashes[p] == answer_hash(a) for p, a in result.answers.items())
    assert result.computed_at.tzinfo is not None and result.seconds >= 0


def test_a_ready_model_can_be_fingerprinted_but_not_with_connection_arguments() -> None:
    model = get_model("predeploy/scripted-expert", memoize=False)
    assert fingerprint(model).fingerprint == fingerprint("predeploy/scripted-expert").fingerprint
    with pytest.raises(ValueError, match="model string only"):
        fingerprint(model, api_key="x")
    with pytest.raises(ValueError, match="at least 1"):
        fingerprint("predeploy/scripted-expert", connections=0)


# --- through the fake OpenAI-compatible endpoint ------------------------------------------


def test_same_answers_twice_match(fake: FakeOpenAIServer) -> None:
    first, again = of_fake(fake), of_fake(fake)

    assert first.fingerprint == again.fingerprint
    assert first.answers["p057"] == "france"  # "What is the capital of France?"
    assert len(set(first.answers.values())) > 80
    comparison = compare(first, again)
    assert (comparison.verdict, comparison.similarity, comparison.differing) == ("match", 1.0, [])
    chats = [r for r in fake.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 200 and all(r.status == 200 and r.key_matched for r in chats)
    assert all(r.messages == 2 for r in chats)  # the instruction and the probe, nothing else


def test_changed_answers_drift_and_name_exactly_the_changed_probes(
    fake: FakeOpenAIServer,
) -> None:
    start = of_fake(fake)
    fake.set_script(CHANGED_ANSWERS)  # the model changes "mid-campaign"
    end = of_fake(fake)

    comparison = compare(start, end)

    assert len(CHANGED_PROBES) == 20
    assert [d.probe for d in comparison.differing] == CHANGED_PROBES
    assert comparison.similarity == 0.8 and comparison.verdict == "drift"
    assert all(
        d.expected == start.answer_hashes[d.probe] and d.observed == end.answer_hashes[d.probe]
        for d in comparison.differing
    )
    assert end.answers["p091"] == "frenchtranslate"


def test_probes_are_asked_16_at_a_time_by_default() -> None:
    forty = ProbeSet("test-40", "Answer.", PROBE_SET.probes[:40])
    with FakeOpenAIServer(text_script("x"), api_key=KEY, latency=0.05) as server:
        result = of_fake(server, probe_set=forty)
        chats = server.requests
    assert not result.failed
    events = sorted([(r.started, 1) for r in chats] + [(r.ended, -1) for r in chats])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak == 16


def test_a_failing_endpoint_gives_failed_probes_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every request fails 500; neither Inspect nor the OpenAI client retries, to keep it quick.
    faults = Faults(rate=1.0, kinds=("server_error",))
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(
        text_script("x"), api_key=KEY, faults=faults, log_level="critical"
    ) as server:
        result = of_fake(server, probe_set=SMALL, max_retries=0, model_args={"max_retries": 0})

    assert result.failed == [p.id for p in SMALL.probes]
    assert result.answers == {}
    assert set(result.answer_hashes.values()) == {FAILED_ANSWER_HASH}
    assert set(result.errors.values()) == {"InternalServerError (HTTP 500)"}
    assert "8 of 8 probes failed" in caplog.text
    assert KEY not in caplog.text and KEY not in result.model_dump_json()


def test_some_failed_probes_are_listed_and_count_as_differing() -> None:
    no_retries: dict[str, Any] = {"max_retries": 0, "model_args": {"max_retries": 0}}
    with FakeOpenAIServer(text_script("x"), api_key=KEY, log_level="critical") as server:
        clean = of_fake(server, probe_set=SMALL, **no_retries)
        server.set_faults(Faults(rate=0.3, kinds=("server_error",), seed=3))
        flaky = of_fake(server, probe_set=SMALL, **no_retries)
        statuses = [r.status for r in server.requests]

    assert not clean.failed
    assert 0 < len(flaky.failed) < len(SMALL.probes)
    assert len(flaky.failed) == statuses.count(500)
    assert sorted(flaky.failed + list(flaky.answers)) == sorted(p.id for p in SMALL.probes)
    comparison = compare(clean, flaky)
    assert [d.probe for d in comparison.differing] == flaky.failed
    assert all(d.observed_failed and not d.expected_failed for d in comparison.differing)
    # Two failures of the same probe are not agreement.
    both = compare(flaky, flaky)
    assert both.matching == len(SMALL.probes) - len(flaky.failed)


def test_the_key_is_never_logged_or_kept(
    fake: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = of_fake(fake, probe_set=SMALL)
    bad = of_fake(fake, key=KEY + "-wrong", probe_set=SMALL)

    assert not good.failed
    assert bad.failed == [p.id for p in SMALL.probes]
    assert set(bad.errors.values()) == {"AuthenticationError (HTTP 401)"}
    for text in (caplog.text, good.model_dump_json(), bad.model_dump_json()):
        assert KEY not in text


# --- compare ------------------------------------------------------------------------------


def ref(answers: dict[str, str], probe_set: str = "s") -> Fingerprint:
    hashes = {p: answer_hash(a) for p, a in answers.items()}
    return Fingerprint.model_validate(
        {
            "fingerprint": fingerprint_of(probe_set, hashes),
            "probe_set": probe_set,
            "probe_set_sha256": "0" * 64,
            "answer_hashes": hashes,
            "model": "m",
            "answers": answers,
            "computed_at": "2026-12-01T00:00:00Z",
            "seconds": 1.0,
            "settings": {
                "temperature": 0,
                "seed": 1,
                "max_tokens": 64,
                "connections": 16,
                "max_retries": 3,
                "attempt_timeout": 60,
            },
        }
    )


def test_verdicts_follow_the_thresholds() -> None:
    expected = ref({f"p{i:03d}": str(i) for i in range(1, 21)})

    def observed(changed: int) -> Fingerprint:
        return ref({f"p{i:03d}": str(i) if i > changed else "x" for i in range(1, 21)})

    assert [compare(expected, observed(n)).verdict for n in (0, 1, 2, 6, 7, 20)] == [
        "match",  # 1.00
        "match",  # 0.95
        "drift",  # 0.90
        "drift",  # 0.70
        "different",  # 0.65
        "different",  # 0.00
    ]
    strict = Thresholds(match=1.0, drift=0.9)
    assert compare(expected, observed(1), thresholds=strict).verdict == "drift"
    with pytest.raises(ValueError, match="cannot be above"):
        Thresholds(match=0.5, drift=0.6)


def test_fingerprints_over_different_probe_sets_are_not_compared() -> None:
    comparison = compare(ref({"p001": "a"}, "s"), ref({"p001": "a"}, "t"))
    assert not comparison.same_probe_set
    assert (comparison.verdict, comparison.similarity) == ("different", 0.0)


def test_a_probe_missing_on_one_side_differs() -> None:
    comparison = compare(ref({"p001": "a", "p002": "b"}), ref({"p001": "a"}))
    [difference] = comparison.differing
    assert (difference.probe, difference.observed) == ("p002", None)
    assert comparison.similarity == 0.5


def test_a_fingerprint_tolerates_no_tampering() -> None:
    good = ref({"p001": "a"}).model_dump(mode="json")
    with pytest.raises(ValueError, match="not the digest"):
        Fingerprint.model_validate(good | {"answer_hashes": {"p001": answer_hash("b")}})
    with pytest.raises(ValueError, match="does not hash"):
        Fingerprint.model_validate(good | {"answers": {"p001": "b"}})
    with pytest.raises(ValueError, match="needs an answer"):
        Fingerprint.model_validate(good | {"answers": {}})
