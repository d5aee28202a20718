"""The versioned probe sets a behavioural fingerprint is computed over.

A probe set is frozen once published: its id (`pd-probes-1`) and the SHA-256 of its canonical JSON
are recorded with every fingerprint, and a fingerprint is only comparable with one taken over the
same set. Changing, adding, removing or reordering a probe, or the instruction, therefore means a
new set under a new id (`pd-probes-2`), added to `PROBE_SETS` next to the old one so that reports
fingerprinted with the old set can still be checked. `tests/identity` pins the digest of each
published set to catch an accidental edit.

The prompts are chosen to draw short answers that are near-deterministic at temperature 0 and yet
differ between models: completions, small arithmetic, spelling and counting (where models are
characteristically wrong in different ways), one-word associations, formatting instructions,
short facts, security definitions, translations and a few open choices ("name one colour") that
each model resolves in its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..canonical import digest


@dataclass(frozen=True)
class Probe:
    """One prompt of a probe set; `id` is stable within its set (`p001`...)."""

    id: str
    kind: str
    prompt: str


@dataclass(frozen=True)
class ProbeSet:
    """A fixed, versioned list of probes and the instruction they are asked under."""

    id: str
    instruction: str
    probes: tuple[Probe, ...]

    def __post_init__(self) -> None:
        ids = [probe.id for probe in self.probes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"probe set {self.id}: probe ids are not unique")

    def canonical(self) -> dict[str, Any]:
        """What the digest covers: the id, the instruction and every probe, in order."""
        return {
            "id": self.id,
            "instruction": self.instruction,
            "probes": [{"id": p.id, "kind": p.kind, "prompt": p.prompt} for p in self.probes],
        }

    @cached_property
    def sha256(self) -> str:
        """SHA-256 (hex) of the set's canonical JSON: part of its identity, with its id."""
        return digest(self.canonical())

    @cached_property
    def by_id(self) -> dict[str, Probe]:
        return {probe.id: probe for probe in self.probes}


# Sent as the system message before every probe. It asks for the bare answer so that answers stay
# short (cheap, and less room for sampling noise) and comparable.
_INSTRUCTION = (
    "Answer with the answer only: a single word, number or short phrase, "
    "with no explanation and no extra text."
)

# (kind, prompt) in id order: p001 is the first.
_PROMPTS: tuple[tuple[str, str], ...] = (
    # completions
    ("completion", 'Complete with one word: "The quick brown fox jumps over the lazy ..."'),
    ("completion", 'Complete with one word: "To be or not to be, that is the ..."'),
    ("completion", 'Complete with one word: "An apple a day keeps the ... away."'),
    ("completion", 'Complete with one word: "Actions speak louder than ..."'),
    ("completion", 'Complete with one word: "Curiosity killed the ..."'),
    ("completion", 'Complete with one word: "The early bird catches the ..."'),
    ("completion", 'Complete with one word: "Don\'t count your chickens before they ..."'),
    ("completion", 'Complete with one word: "Hello, ..."'),
    ("completion", "Give the next item: Monday, Tuesday, Wednesday, ..."),
    ("completion", "Give the next number: 2, 4, 8, 16, ..."),
    # arithmetic
    ("arithmetic", "What is 17 + 25?"),
    ("arithmetic", "What is 9 x 8?"),
    ("arithmetic", "What is 144 divided by 12?"),
    ("arithmetic", "What is 1000 - 1?"),
    ("arithmetic", "What is 2 to the power of 10?"),
    ("arithmetic", "What is 15% of 200?"),
    ("arithmetic", "What is the square root of 169?"),
    ("arithmetic", "What is 0.1 + 0.2?"),
    ("arithmetic", "What is 7 x 6 - 2?"),
    ("arithmetic", "What is 123 + 456?"),
    ("arithmetic", "Write 255 in hexadecimal."),
    ("arithmetic", "Write 10 in binary."),
    # spelling, reversal and counting
    ("spelling", 'Spell "banana" backwards.'),
    ("spelling", 'Spell "security" backwards.'),
    ("spelling", 'How many letters are in the word "strawberry"?'),
    ("spelling", 'How many times does the letter "r" appear in "strawberry"?'),
    ("spelling", 'Reverse the order of the words: "red green blue".'),
    ("spelling", 'What is the third letter of the word "exploit"?'),
    ("spelling", 'Write the word "password" with every vowel removed.'),
    ("spelling", 'Spell "cat" letter by letter, separated by hyphens.'),
    ("spelling", "Sort these letters alphabetically: q, a, m, z, c."),
    ("spelling", 'Which comes first alphabetically: "zebra", "apple" or "mango"?'),
    ("spelling", "What is the last letter of the English alphabet?"),
    ("spelling", 'How many vowels are in the word "encyclopedia"?'),
    # one-word associations
    ("association", 'Give one word you associate with "ocean".'),
    ("association", 'Give one word you associate with "fire".'),
    ("association", 'Give one word you associate with "winter".'),
    ("association", 'Give one word you associate with "castle".'),
    ("association", 'Give one word you associate with "computer".'),
    ("association", 'Give one word you associate with "night".'),
    ("association", 'Give one word you associate with "music".'),
    ("association", 'Give one word you associate with "bread".'),
    ("association", 'Give one word you associate with "mountain".'),
    ("association", 'Give one word you associate with "firewall".'),
    ("association", 'Give one word you associate with "key".'),
    ("association", 'Give one word you associate with "spider".'),
    # formatting instructions
    ("formatting", 'Write the word "hello" in uppercase.'),
    ("formatting", "Write the numbers 1 to 5 separated by commas."),
    ("formatting", 'Write "open sesame" in title case.'),
    ("formatting", "Write the date 4 July 2021 in ISO 8601 format."),
    ("formatting", 'Convert "Hello World" to snake_case.'),
    ("formatting", 'Write a JSON object with the key "a" set to 1.'),
    ("formatting", "Write the first three letters of the Greek alphabet as words."),
    ("formatting", "Write the number one million using digits only."),
    ("formatting", 'Write the word "tree" three times, separated by single spaces.'),
    ("formatting", "Write 2024 in Roman numerals."),
    # short facts
    ("fact", "What is the capital of France?"),
    ("fact", "What is the chemical symbol for gold?"),
    ("fact", "How many continents are there?"),
    ("fact", "What is the largest planet in the Solar System?"),
    ("fact", 'Who wrote "Romeo and Juliet"?'),
    ("fact", "What is the boiling point of water at sea level in degrees Celsius?"),
    ("fact", "What is the capital of Australia?"),
    ("fact", "In which year did the Second World War end?"),
    ("fact", "What is the smallest prime number?"),
    ("fact", "Which gas do plants take from the air for photosynthesis?"),
    ("fact", "How many sides does a hexagon have?"),
    ("fact", "What is the longest river in Africa?"),
    ("fact", "What language is mainly spoken in Brazil?"),
    ("fact", "What is the freezing point of water in degrees Fahrenheit?"),
    ("fact", "Who painted the Mona Lisa?"),
    ("fact", "What is the hardest natural substance?"),
    ("fact", "How many bits are in a byte?"),
    ("fact", "What is H2O commonly called?"),
    ("fact", "What is the currency of Japan?"),
    ("fact", "How many days are in a leap year?"),
    # security
    ("security", "What does the acronym CVE stand for?"),
    ("security", "What does XSS stand for?"),
    ("security", "Which TCP port does HTTPS use by default?"),
    ("security", "Which TCP port does SSH use by default?"),
    ("security", "In at most ten words, what is a buffer overflow?"),
    ("security", "In at most ten words, what is SQL injection?"),
    ("security", "In at most ten words, what is phishing?"),
    ("security", 'What does the "S" in HTTPS stand for?'),
    ("security", "Which family of hash functions does SHA-256 belong to?"),
    ("security", "What does CSRF stand for?"),
    ("security", "In at most ten words, what is a zero-day vulnerability?"),
    ("security", 'Which HTTP status code means "Not Found"?'),
    ("security", "What does the acronym MFA stand for?"),
    ("security", "In at most ten words, what does a firewall do?"),
    # translations
    ("translation", 'Translate "thank you" into French.'),
    ("translation", 'Translate "good morning" into Spanish.'),
    ("translation", 'Translate "cat" into German.'),
    ("translation", 'Translate "water" into Italian.'),
    ("translation", 'Translate "friend" into Portuguese.'),
    # open choices: each model settles these its own way
    ("choice", "Name one animal."),
    ("choice", "Pick a number between 1 and 100."),
    ("choice", "Name one colour."),
    ("choice", "Name one programming language."),
    ("choice", "What is your name?"),
)

PROBE_SET = ProbeSet(
    id="pd-probes-1",
    instruction=_INSTRUCTION,
    probes=tuple(
        Probe(id=f"p{number:03d}", kind=kind, prompt=prompt)
        for number, (kind, prompt) in enumerate(_PROMPTS, start=1)
    ),
)
"""The current probe set: 100 probes, `p001`...`p100`."""

PROBE_SETS: dict[str, ProbeSet] = {PROBE_SET.id: PROBE_SET}
"""Every published probe set by id, so an older fingerprint can be re-checked with its own set."""


def probe_set(probe_set_id: str) -> ProbeSet:
    """The published probe set `probe_set_id`; KeyError naming the known ones otherwise."""
    try:
        return PROBE_SETS[probe_set_id]
    except KeyError:
        known = ", ".join(sorted(PROBE_SETS))
        raise KeyError(f"unknown probe set {probe_set_id!r} (known: {known})") from None
