"""Scripted baseline models: an Inspect model provider for offline runs, demos and validity tests.

`predeploy/scripted-expert` runs the instance's reference solution through real tool calls;
`predeploy/scripted-novice` does generic recon and submits its best guess. Three more exist to
prove the graders honest: `scripted-cheater` (greps everything it can read for `flag{`),
`scripted-idle` (never acts) and `scripted-empty` (submits an empty answer).

Asked a plain chat question (no tools offered, no suite instance to solve), these baselines answer
with a short made-up phrase derived from a hash of its name and the conversation: the same
question always gets the same answer, and two baselines answer differently, which is what model
identity fingerprints (`predeploy.identity`) need from an offline model.

They are scripted baselines, not models: every message they write says so. They report token
usage themselves (characters / 4), so nothing downloads a tokenizer.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.solver._task_state import sample_state
from inspect_ai.tool import ToolChoice, ToolInfo

from ..safeguards._scripted_guarded import guarded, refuser, unguarded
from ._instances import generate_instance

LABEL = "[scripted baseline]"
FLAG_PATTERN = re.compile(r"flag\{[^}\s]{1,200}\}")

NOVICE_RECON = r"""
import base64, binascii, codecs, os, re, subprocess, urllib.request
FLAG = re.compile(rb"flag\{[^}\s]{1,200}\}")
found = []
def note(data):
    for match in FLAG.findall(data):
        if match not in found:
            found.append(match)
def decode_layers(blob):
    yield blob
    for token in re.findall(rb"[A-Za-z0-9+/=]{16,}", blob):
        try: yield base64.b64decode(token + b"=" * (-len(token) % 4))
        except (binascii.Error, ValueError): pass
    for token in re.findall(rb"(?:[0-9a-fA-F]{2}){8,}", blob):
        yield bytes.fromhex(token.decode())
def decodings(blob):
    for data in decode_layers(blob):
        yield data
        yield codecs.encode(data.decode("latin-1"), "rot13").encode("latin-1")
        for key in range(1, 256):
            yield bytes(b ^ key for b in data[:65536])
for root, dirs, files in os.walk("."):
    for name in files:
        path = os.path.join(root, name)
        try: data = open(path, "rb").read(1 << 20)
        except OSError: continue
        strings = subprocess.run(["strings", "-n", "6", path], capture_output=True).stdout
        for blob in (data, strings):
            for decoded in decodings(blob):
                note(decoded)
ports = re.findall(r"127\.0\.0\.1:(\d+)", subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout)
for port in sorted(set(ports)):
    paths = ["/", "/robots.txt"]
    for path in list(paths):
        try: body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3).read(1 << 20)
        except Exception: continue
        note(body)
        if path == "/robots.txt":
            for extra in re.findall(rb"(?:Dis)?[Aa]llow:\s*(\S+)", body):
                try: note(urllib.request.urlopen(f"http://127.0.0.1:{port}{extra.decode()}", timeout=3).read(1 << 20))
                except Exception: pass
for match in found:
    print("CANDIDATE", match.decode(errors="replace"))
"""

CHEATER_SEARCH = (
    "grep -raoh 'flag{[^}]*}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr "
    "2>/dev/null | head -20; "
    "cat /proc/*/environ /proc/*/cmdline /proc/*/maps 2>/dev/null | tr '\\0' '\\n' "
    "| grep -ao 'flag{[^}]*}' | head -20; "
    "env | grep -ao 'flag{[^}]*}'; "
    "ls -la /proc/*/cwd/ /proc/*/root/ 2>/dev/null | head -50"
)


# Words the plain-chat answers are made of: 64 of them, so one byte of a hash picks one.
_WORDS = (
    "amber", "anchor", "apple", "arrow", "basil", "beacon", "birch", "bison",
    "cedar", "cobalt", "comet", "coral", "crane", "delta", "dune", "ember",
    "falcon", "fern", "flint", "frost", "garnet", "glade", "granite", "harbor",
    "hazel", "heron", "indigo", "iris", "jasper", "juniper", "kelp", "kestrel",
    "lagoon", "lantern", "linden", "lotus", "maple", "marble", "meadow", "mesa",
    "nectar", "nimbus", "oak", "onyx", "orchid", "otter", "pebble", "pine",
    "quartz", "quill", "raven", "reef", "ridge", "saffron", "sage", "slate",
    "sparrow", "spruce", "thistle", "tundra", "umber", "violet", "willow", "zephyr",
)  # fmt: skip


def _suite_instance() -> bool:
    """Whether the current Inspect sample is a suite instance (one the policies can solve)."""
    state = sample_state()
    return state is not None and "family" in state.metadata


def plain_answer(policy: str, input: list[ChatMessage]) -> str:
    """The deterministic answer of `policy` to a plain chat conversation: three words and a
    number chosen by SHA-256 of the policy's name and every message's role and text."""
    conversation = "\n".join(f"{message.role}: {message.text}" for message in input)
    digest = hashlib.sha256(f"{policy}\n{conversation}".encode()).digest()
    words = " ".join(_WORDS[byte % len(_WORDS)] for byte in digest[:3])
    return f"{words} {digest[3]}"


def _usage(input: list[ChatMessage], output: str) -> ModelUsage:
    input_tokens = sum(len(message.text) for message in input) // 4
    output_tokens = max(1, len(output) // 4)
    return ModelUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


class Turn:
    """What a policy sees: the step number, the last tool output and the tools on offer."""

    def __init__(self, model: str, step: int, tool_output: str, tools: list[ToolInfo]) -> None:
        self.model = model
        self.step = step
        self.tool_output = tool_output
        self.tools = {tool.name: tool for tool in tools}

    def call(self, tool: str, value: str, why: str) -> ModelOutput:
        """Call a one-argument tool, whatever its argument is named in this Inspect version."""
        info = self.tools.get(tool)
        if info is None:
            return ModelOutput.from_content(self.model, f"{LABEL} no {tool} tool is offered")
        argument = next(iter(info.parameters.required or info.parameters.properties))
        return ModelOutput.for_tool_call(
            self.model, tool, {argument: value}, content=f"{LABEL} {why}"
        )

    def bash(self, command: str, why: str) -> ModelOutput:
        return self.call("bash", command, why)

    def submit(self, answer: str) -> ModelOutput:
        return self.call("submit", answer, "submitting")

    def say(self, text: str) -> ModelOutput:
        return ModelOutput.from_content(self.model, f"{LABEL} {text}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _expert(turn: Turn) -> ModelOutput:
    if turn.step == 0:
        state = sample_state()
        if state is None or "family" not in state.metadata:
            return turn.say("no suite instance to solve")
        meta = state.metadata
        instance = generate_instance(str(meta["family"]), int(meta["seed"]), int(meta["level"]))
        delimiter = f"REFERENCE_{secrets.token_hex(8)}"
        command = (
            f"cat > /tmp/reference.sh <<'{delimiter}'\n{instance.solution}\n{delimiter}\n"
            "bash /tmp/reference.sh"
        )
        return turn.bash(command, "running the reference solution")
    return turn.submit(_last_line(turn.tool_output))


def _novice(turn: Turn) -> ModelOutput:
    if turn.step == 0:
        return turn.bash("ls -laR . | head -100; file * 2>/dev/null | head -50", "looking around")
    if turn.step == 1:
        delimiter = f"RECON_{secrets.token_hex(8)}"
        command = f"python3 - <<'{delimiter}'\n{NOVICE_RECON}\n{delimiter}"
        return turn.bash(command, "generic recon: strings, decodings, local web servers")
    candidates = re.findall(r"^CANDIDATE (.+)$", turn.tool_output, flags=re.MULTILINE)
    return turn.submit(candidates[0] if candidates else "flag{no idea}")


def _cheater(turn: Turn) -> ModelOutput:
    if turn.step == 0:
        return turn.bash(CHEATER_SEARCH, "reading everything readable for a flag")
    found = FLAG_PATTERN.findall(turn.tool_output)
    return turn.submit(found[0] if found else "")


def _idle(turn: Turn) -> ModelOutput:
    return turn.say("doing nothing")


def _empty(turn: Turn) -> ModelOutput:
    return turn.submit("")


# The safeguard baselines: the expert does the benign work of over-refusal samples;
# `scripted-guarded` refuses misuse it recognises (`predeploy.safeguards._scripted_guarded`).
POLICIES: dict[str, Callable[[Turn], ModelOutput]] = {
    "scripted-expert": unguarded(_expert),
    "scripted-novice": _novice,
    "scripted-cheater": _cheater,
    "scripted-idle": _idle,
    "scripted-empty": _empty,
    "scripted-guarded": guarded(_expert),
    "scripted-refuser": refuser,
}


# The baselines that answer a plain question (no tools, no suite instance) with `plain_answer`.
# A policy that handles plain questions itself (e.g. one that refuses misuse) stays out of it.
PLAIN_ANSWER_POLICIES = frozenset(
    {"scripted-expert", "scripted-novice", "scripted-cheater", "scripted-idle", "scripted-empty"}
)


@modelapi(name="predeploy")
class ScriptedModel(ModelAPI):
    """`predeploy/<name>` for the scripted baselines in `POLICIES`."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),  # noqa: B008 (Inspect's own default)
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        if model_name not in POLICIES:
            known = ", ".join(f"predeploy/{name}" for name in POLICIES)
            raise ValueError(f"unknown scripted baseline {model_name!r}; known: {known}")
        self.policy = POLICIES[model_name]

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        step = sum(isinstance(message, ChatMessageAssistant) for message in input)
        tool_outputs = [m.text for m in input if isinstance(m, ChatMessageTool)]
        turn = Turn(
            f"predeploy/{self.model_name}", step, tool_outputs[-1] if tool_outputs else "", tools
        )
        if self.model_name in PLAIN_ANSWER_POLICIES and not tools and not _suite_instance():
            # A plain question (e.g. a fingerprint probe): nothing to act on, so answer it
            # deterministically instead of saying there is nothing to solve.
            output = turn.say(plain_answer(self.model_name, input))
        else:
            output = self.policy(turn)
        output.usage = _usage(input, output.message.text + str(output.message.tool_calls))
        return output
