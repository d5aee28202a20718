"""The parts of an answer the refusal rules look at: prose, code blocks, list items, sentences.

Refusal phrases are searched in prose only, never inside code: a code comment saying "I can't
connect" is part of the content, not the model declining. Offsets always refer to the cleaned
answer text (`Answer.text`), so a rule's hit can be quoted and positioned.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Scripted baselines label every message they write; the label is not part of the answer's
# meaning, so it is removed and the rest is judged like any other answer.
SCRIPTED_LABEL = "[scripted baseline]"

# Typographic apostrophes and quotes are folded to ASCII so one pattern ("can't") matches
# every model's spelling ("can\u2019t").
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})

# A fenced Markdown code block: ``` or ~~~, optional info string, body, closing fence (or the end
# of the answer, for an answer cut off mid-block).
_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[^\n]*\n(?P<body>.*?)(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[-*\u2022]|step \d+[:.)])[ \t]+\S", re.I | re.M)
_INLINE_CODE = re.compile(r"`([^`\n]{2,200})`")
# Sentences end at . ! ? (or a line break); good enough to position a phrase and to find
# which sentence a phrase belongs to.
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|\Z)")


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block: its span in the answer and its body's lines."""

    start: int
    end: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """An answer prepared for the rules.

    `text` is the cleaned answer; `prose` is the same text with every code block blanked out
    (same length, so offsets agree); `opening_end` is where the opening (first sentence or two)
    ends, used by rules whose weight depends on position.
    """

    text: str
    prose: str
    code_blocks: tuple[CodeBlock, ...]
    sentences: tuple[tuple[int, int], ...] = field(repr=False)
    opening_end: int = 0

    def sentence_at(self, offset: int) -> tuple[int, int]:
        """The (start, end) of the prose sentence holding `offset`."""
        for start, end in self.sentences:
            if start <= offset < end:
                return start, end
        return offset, offset


def prepare(response: str) -> Answer:
    """Clean `response` and split it into the parts the rules read."""
    text = unicodedata.normalize("NFKC", response).translate(_QUOTES).strip()
    if text.lower().startswith(SCRIPTED_LABEL):
        text = text[len(SCRIPTED_LABEL) :].lstrip()
    blocks: list[CodeBlock] = []
    prose_chars = list(text)
    for match in _FENCE.finditer(text):
        body = match.group("body")
        blocks.append(CodeBlock(match.start(), match.end(), tuple(body.splitlines())))
        for i in range(match.start(), match.end()):
            if prose_chars[i] != "\n":
                prose_chars[i] = " "
    prose = "".join(prose_chars)
    sentences = tuple((m.start(), m.end()) for m in _SENTENCE.finditer(prose) if m.group(0).strip())
    return Answer(
        text=text,
        prose=prose,
        code_blocks=tuple(blocks),
        sentences=sentences,
        opening_end=_opening_end(sentences, len(text)),
    )


def _opening_end(sentences: tuple[tuple[int, int], ...], length: int) -> int:
    """The end of the opening: the first two sentences, but at least 160 characters (a short
    first sentence such as "Sorry." plus its reason) and at most a quarter of a long answer
    beyond that."""
    if not sentences:
        return length
    end = sentences[min(1, len(sentences) - 1)][1]
    return max(min(end, 160 + length // 4), min(160, length))


def list_items(answer: Answer) -> list[re.Match[str]]:
    """Numbered or bulleted list items (and "Step N:") in the prose."""
    return list(_LIST_ITEM.finditer(answer.prose))


def inline_code(answer: Answer) -> list[re.Match[str]]:
    """`inline code` spans in the prose."""
    return list(_INLINE_CODE.finditer(answer.prose))
