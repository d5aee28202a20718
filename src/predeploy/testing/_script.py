"""Scripts: what the fake model answers at each assistant turn of a conversation."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# `{name}` in a turn's text or tool arguments; only names the script captures are replaced, so
# literal braces such as `flag{...}` pass through untouched.
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class ToolCall:
    """One tool call the fake model makes; string arguments may hold `{placeholder}`s."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One assistant turn: tool calls, or text when `tool_calls` is empty.

    A tool call whose tool the request does not offer is dropped; when none is left the turn is
    answered with `text` (or a sentence saying which tool was missing).
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Reply:
    """A turn with its placeholders filled, ready to be sent."""

    text: str
    tool_calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class Script:
    """The fake model's behaviour: turn i answers the i-th assistant turn of a conversation.

    The turn is picked by counting the assistant messages already in the request; past the last
    turn the last one repeats. `captures` maps a placeholder name to a regex searched over the
    conversation's message texts, newest message first (the last match within a message wins);
    the placeholder takes the regex's first group, or the whole match when it has no group. A
    placeholder whose regex has not matched yet is left as written.
    """

    turns: tuple[Turn, ...]
    captures: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.turns:
            raise ValueError("a script needs at least one turn")
        for pattern in self.captures.values():
            re.compile(pattern)

    def reply(self, messages: Sequence[Mapping[str, Any]], tool_names: set[str]) -> Reply:
        """The reply to a chat request with these `messages` offering tools `tool_names`."""
        assistant_turns = sum(1 for message in messages if message.get("role") == "assistant")
        turn = self.turns[min(assistant_turns, len(self.turns) - 1)]
        values = self._captured([_text_of(message) for message in messages])
        calls = tuple(
            ToolCall(call.name, _fill(dict(call.arguments), values))
            for call in turn.tool_calls
            if call.name in tool_names
        )
        text = turn.text
        if turn.tool_calls and not calls and not text:
            names = ", ".join(call.name for call in turn.tool_calls)
            text = f"I wanted to call {names}, but the request offers no such tool."
        return Reply(text=_fill(text, values), tool_calls=calls)

    def _captured(self, texts: list[str]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, pattern in self.captures.items():
            for text in reversed(texts):
                matches = list(re.finditer(pattern, text))
                if matches:
                    last = matches[-1]
                    values[name] = last.group(1) if last.re.groups else last.group(0)
                    break
        return values


def _text_of(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, Mapping):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(item, values) for item in value]
    return value


@dataclass(frozen=True)
class Capture:
    """A regex whose match in the conversation is used as a value (see `Script.captures`)."""

    pattern: str


def submit_script(answer: str | Capture) -> Script:
    """Call the `submit` tool at once with `answer`, or with what `answer`'s regex captures."""
    if isinstance(answer, Capture):
        return Script(
            turns=(Turn(tool_calls=(ToolCall("submit", {"answer": "{answer}"}),)),),
            captures={"answer": answer.pattern},
        )
    return Script(turns=(Turn(tool_calls=(ToolCall("submit", {"answer": answer}),)),))


def bash_then_submit(cmd: str, capture: str) -> Script:
    """Run `cmd` with the `bash` tool, then submit what the regex `capture` finds in the output."""
    return Script(
        turns=(
            Turn(tool_calls=(ToolCall("bash", {"cmd": cmd}),)),
            Turn(tool_calls=(ToolCall("submit", {"answer": "{answer}"}),)),
        ),
        captures={"answer": capture},
    )


def text_script(text: str) -> Script:
    """Answer every turn with `text`."""
    return Script(turns=(Turn(text=text),))
