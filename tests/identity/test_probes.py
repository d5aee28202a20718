"""The published probe set and answer normalisation."""

from __future__ import annotations

import pytest

from predeploy.identity import PROBE_SET, PROBE_SETS, Probe, ProbeSet, normalise, probe_set

# A published set never changes: editing a probe means a new set id (see identity/_probes.py).
PUBLISHED = {
    "pd-probes-1": "2e7b6d2b92c29357369228d5da1f780fb5246f7a5014d7fae5dbeefcc5097f76",
}


def test_published_probe_sets_are_frozen() -> None:
    assert {name: s.sha256 for name, s in PROBE_SETS.items()} == PUBLISHED, (
        "a published probe set changed: restore it, and put the change in a new set id"
    )


def test_the_current_set_has_100_short_distinct_probes_with_stable_ids() -> None:
    probes = PROBE_SET.probes
    assert PROBE_SET.id == "pd-probes-1"
    assert [p.id for p in probes] == [f"p{n:03d}" for n in range(1, 101)]
    assert len({p.prompt for p in probes}) == 100
    assert all(0 < len(p.prompt) <= 100 for p in probes)
    assert {p.kind for p in probes} >= {"completion", "arithmetic", "security", "fact"}
    assert probe_set("pd-probes-1") is PROBE_SET


def test_the_digest_covers_every_part_of_the_set() -> None:
    base = ProbeSet("x", "Answer.", (Probe("p001", "fact", "Capital of France?"),))
    changes = [
        ProbeSet("y", "Answer.", base.probes),
        ProbeSet("x", "Answer briefly.", base.probes),
        ProbeSet("x", "Answer.", (Probe("p001", "fact", "Capital of Spain?"),)),
        ProbeSet("x", "Answer.", (Probe("p002", "fact", "Capital of France?"),)),
    ]
    assert len({base.sha256, *(c.sha256 for c in changes)}) == 5


def test_unknown_sets_and_duplicate_ids_are_refused() -> None:
    with pytest.raises(KeyError, match=r"unknown probe set .pd-probes-9. \(known: pd-probes-1\)"):
        probe_set("pd-probes-9")
    with pytest.raises(ValueError, match="not unique"):
        ProbeSet("x", "", (Probe("p001", "a", "b"), Probe("p001", "a", "c")))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Paris", "paris"),
        ("  Paris.\n", "paris"),
        ('"Paris."', "paris"),
        ("\u201cParis\u201d", "paris"),
        ("**Paris**", "paris"),
        ("`0xff`", "0xff"),
        ("\uff30\uff41\uff52\uff49\uff53\uff01", "paris"),  # full-width
        ("hello\u00a0 \n world!", "hello world"),
        ("Yes!?", "yes"),
        ("'Don't.'", "don't"),
        ("0.30000000000000004", "0.30000000000000004"),
        ("1, 2, 3, 4, 5", "1, 2, 3, 4, 5"),
        ("hello_world", "hello_world"),
        ("", ""),
    ],
)
def test_normalise_removes_only_trivial_variation(answer: str, expected: str) -> None:
    assert normalise(answer) == expected


def test_normalise_keeps_what_tells_models_apart() -> None:
    assert normalise("Paris") != normalise("Paris, France")
    assert normalise("0.3") != normalise("0.30000000000000004")
    assert normalise("Three") != normalise("3")
