"""Fake endpoints whose answers depend on the probe, for the identity tests."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from predeploy.identity import PROBE_SET
from predeploy.testing import FakeOpenAIServer, Script, Turn

KEY = "sk-identity-test-Zq81vXw3"
MODEL = "openai-api/fake/m"  # Inspect's OpenAI-compatible provider, named "fake"

# The fake answers each probe with the last word of its prompt, so answers differ per probe.
LAST_WORD = r"\w+(?=\W*\Z)"
ANSWERS = Script(turns=(Turn(text="{word}"),), captures={"word": LAST_WORD})

# The same, except that probes starting with one of these words get that word appended: a model
# that changed on those probes only. `\A` alone matches (empty) on every other probe.
CHANGED = re.compile(r"(?:Translate|Write|Spell) ")
CHANGED_ANSWERS = Script(
    turns=(Turn(text="{word}{changed}"),),
    captures={"word": LAST_WORD, "changed": r"\A(?:Translate|Write|Spell)(?= )|\A"},
)
CHANGED_PROBES = [probe.id for probe in PROBE_SET.probes if CHANGED.match(probe.prompt)]


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(ANSWERS, api_key=KEY, log_level="critical") as server:
        yield server
