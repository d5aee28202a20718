"""The fake OpenAI server, driven over loopback HTTP by httpx and by Inspect's `openai-api`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog, EvalSample
from inspect_ai.model import GenerateConfig, Model, get_model
from inspect_ai.scorer import includes
from inspect_ai.solver import Generate, Solver, TaskState, basic_agent, solver
from inspect_ai.tool import Tool, tool
from inspect_ai.util import store

from predeploy.testing import (
    Capture,
    FakeOpenAIServer,
    FaultKind,
    Faults,
    RequestRecord,
    Script,
    ToolCall,
    Turn,
    bash_then_submit,
    submit_script,
    text_script,
)

KEY = "sk-fake-test-key"
FLAG = r"flag\{[^}]+\}"
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("bash", "submit")
]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(text_script("hello"), api_key=KEY, log_level="critical") as fake:
        yield fake


@pytest.fixture
def client(server: FakeOpenAIServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
        yield http


def chat(client: httpx.Client, messages: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return client.post("/chat/completions", json={"model": "m", "messages": messages} | extra)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def message_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    [choice] = response.json()["choices"]
    return dict(choice["message"]) | {"finish_reason": choice["finish_reason"]}


# --- replies -------------------------------------------------------------------------------


def test_text_reply_has_the_openai_shape(client: httpx.Client) -> None:
    first, second = (chat(client, [user("hi there")]) for _ in range(2))

    body = first.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "m"
    assert message_of(first) == {"role": "assistant", "content": "hello", "finish_reason": "stop"}
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert first.json()["id"] != second.json()["id"]


def test_tool_calls_only_for_offered_tools(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.set_script(submit_script("42"))

    offered = message_of(chat(client, [user("go")], tools=TOOLS))
    [call] = offered["tool_calls"]
    assert offered["finish_reason"] == "tool_calls"
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "submit"
    assert json.loads(call["function"]["arguments"]) == {"answer": "42"}

    not_offered = message_of(chat(client, [user("go")], tools=TOOLS[:1]))
    assert "tool_calls" not in not_offered
    assert not_offered["finish_reason"] == "stop"
    assert "submit" in not_offered["content"]


def test_tool_call_ids_are_unique(server: FakeOpenAIServer, client: httpx.Client) -> None:
    server.set_script(Script(turns=(Turn(tool_calls=(ToolCall("bash", {"cmd": "ls"}),) * 2),)))

    calls = [
        call
        for _ in range(2)
        for call in message_of(chat(client, [user("go")], tools=TOOLS))["tool_calls"]
    ]

    assert len({call["id"] for call in calls}) == 4


def test_turn_is_picked_by_assistant_messages_and_the_last_repeats(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.set_script(Script(turns=(Turn(text="one"), Turn(text="two"))))
    said = {"role": "assistant", "content": "..."}

    replies = [
        message_of(chat(client, [user("q"), *[said, user("q")] * assistant_turns]))["content"]
        for assistant_turns in range(4)
    ]

    assert replies == ["one", "two", "two", "two"]


def test_bash_then_submit_submits_the_flag_from_the_newest_tool_output(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.set_script(bash_then_submit("cat flag.txt", FLAG))
    conversation = [user("Flags look like flag{...}. Example: flag{example}.")]

    first = message_of(chat(client, conversation, tools=TOOLS))
    [bash_call] = first["tool_calls"]
    assert json.loads(bash_call["function"]["arguments"]) == {"cmd": "cat flag.txt"}
    conversation += [
        {"role": "assistant", "content": None, "tool_calls": first["tool_calls"]},
        {"role": "tool", "tool_call_id": bash_call["id"], "content": "flag{old}\nflag{s3cret}\n"},
    ]

    second = message_of(chat(client, conversation, tools=TOOLS))
    [submit_call] = second["tool_calls"]
    assert submit_call["function"]["name"] == "submit"
    assert json.loads(submit_call["function"]["arguments"]) == {"answer": "flag{s3cret}"}


def test_capture_takes_the_first_group_and_reads_content_parts(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.set_script(submit_script(Capture(r"answer is (\d+)")))
    parts = [{"type": "text", "text": "the answer is 17"}]

    [call] = message_of(chat(client, [user("x"), {"role": "user", "content": parts}], tools=TOOLS))[
        "tool_calls"
    ]

    assert json.loads(call["function"]["arguments"]) == {"answer": "17"}


def test_unmatched_placeholder_is_left_as_written(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.set_script(
        Script(turns=(Turn(text="found {flag} in {place}"),), captures={"flag": FLAG})
    )

    assert message_of(chat(client, [user("nothing here")]))["content"] == "found {flag} in {place}"


def test_script_is_chosen_by_the_requested_model(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.set_script({"a": text_script("from a"), "b": text_script("from b")})

    assert message_of(chat(client, [user("q")], model="a"))["content"] == "from a"
    assert message_of(chat(client, [user("q")], model="b"))["content"] == "from b"
    unknown = chat(client, [user("q")], model="c")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


def test_scripts_reject_bad_definitions() -> None:
    with pytest.raises(ValueError, match="at least one turn"):
        Script(turns=())
    with pytest.raises(ValueError, match="rate"):
        Faults(rate=1.5)
    with pytest.raises(ValueError, match="kinds"):
        Faults(kinds=())


# --- streaming -----------------------------------------------------------------------------


def sse_events(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_carries_the_same_reply_in_chunks(
    server: FakeOpenAIServer, client: httpx.Client, include_usage: bool
) -> None:
    server.set_script(
        Script(turns=(Turn(text="thinking", tool_calls=(ToolCall("bash", {"cmd": "id"}),)),))
    )
    options = {"include_usage": include_usage}

    events = sse_events(chat(client, [user("q")], tools=TOOLS, stream=True, stream_options=options))

    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    deltas = [choice["delta"] for chunk in chunks for choice in chunk["choices"]]
    assert "".join(delta.get("content") or "" for delta in deltas) == "thinking"
    call_deltas = [call for delta in deltas for call in delta.get("tool_calls", [])]
    assert call_deltas[0]["function"]["name"] == "bash"
    arguments = "".join(call["function"]["arguments"] for call in call_deltas)
    assert json.loads(arguments) == {"cmd": "id"}
    finishes = [
        c["finish_reason"] for chunk in chunks for c in chunk["choices"] if c["finish_reason"]
    ]
    assert finishes == ["tool_calls"]
    usage = [chunk["usage"] for chunk in chunks if chunk.get("usage")]
    assert len(usage) == (1 if include_usage else 0)


# --- authentication and the request log -----------------------------------------------------


def test_wrong_key_gets_401_and_the_log_keeps_no_key(server: FakeOpenAIServer) -> None:
    with httpx.Client(base_url=server.base_url, headers={"Authorization": "Bearer nope"}) as http:
        response = chat(http, [user("q")])
        models = http.get("/models")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert models.status_code == 401
    assert [(r.path, r.status, r.key_matched) for r in server.requests] == [
        ("/v1/chat/completions", 401, False),
        ("/v1/models", 401, False),
    ]
    assert "nope" not in repr(server.requests)


def test_models_lists_the_configured_models(client: httpx.Client) -> None:
    response = client.get("/models")

    assert response.status_code == 200
    assert [model["id"] for model in response.json()["data"]] == ["m"]


def test_log_records_each_chat_request(server: FakeOpenAIServer, client: httpx.Client) -> None:
    chat(client, [user("a"), user("b")], stream=True)

    [record] = server.requests
    assert record.method == "POST"
    assert record.model == "m"
    assert record.messages == 2
    assert record.stream is True
    assert record.key_matched is True
    assert record.status == 200
    assert record.fault is None
    assert record.started <= record.ended
    assert KEY not in repr(record)


def test_latency_applies_to_concurrent_requests() -> None:
    latency = 0.5

    async def burst(base_url: str) -> list[int]:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
            body = {"model": "m", "messages": [user("q")]}
            responses = await asyncio.gather(
                *(http.post("/chat/completions", json=body) for _ in range(32))
            )
        return [response.status_code for response in responses]

    with FakeOpenAIServer(text_script("x"), latency=latency, api_key=KEY) as fake:
        statuses = asyncio.run(burst(fake.base_url))
        log = fake.requests

    assert statuses == [200] * 32
    assert all(r.ended - r.started >= latency for r in log)
    # Every request started before any finished: all 32 waited out their latency together.
    assert max(r.started for r in log) < min(r.ended for r in log)


# --- faults --------------------------------------------------------------------------------


def only(kind: FaultKind, **options: Any) -> Faults:
    return Faults(rate=1.0, kinds=(kind,), **options)


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limit_fault_is_429_with_retry_after(
    server: FakeOpenAIServer, client: httpx.Client, stream: bool
) -> None:
    server.set_faults(only("rate_limit", retry_after=2))

    response = chat(client, [user("q")], stream=stream)

    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert [r.fault for r in server.requests] == ["rate_limit"]


def test_server_error_fault_is_500_in_openai_shape(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.set_faults(only("server_error"))

    response = chat(client, [user("q")])

    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_fault_is_200_that_is_not_json(
    server: FakeOpenAIServer, client: httpx.Client, stream: bool
) -> None:
    server.set_faults(only("malformed"))

    response = chat(client, [user("q")], stream=stream)

    assert response.status_code == 200
    payload = response.text.removeprefix("data: ") if stream else response.text
    with pytest.raises(json.JSONDecodeError):
        json.loads(payload)
    assert "[DONE]" not in response.text


@pytest.mark.parametrize("stream", [False, True])
def test_truncated_fault_drops_the_connection_mid_body(
    server: FakeOpenAIServer, client: httpx.Client, stream: bool
) -> None:
    server.set_faults(only("truncated"))

    with pytest.raises(httpx.RemoteProtocolError):
        chat(client, [user("q")], stream=stream)
    assert [(r.status, r.fault) for r in server.requests] == [(200, "truncated")]


def test_timeout_fault_answers_504_after_the_hang(
    server: FakeOpenAIServer, client: httpx.Client
) -> None:
    server.set_faults(only("timeout", hang=0.2))

    response = chat(client, [user("q")])

    assert response.status_code == 504
    [record] = server.requests
    assert record.ended - record.started >= 0.2


def test_timeout_fault_notices_a_client_that_gives_up(server: FakeOpenAIServer) -> None:
    server.set_faults(only("timeout", hang=60))
    headers = {"Authorization": f"Bearer {KEY}"}

    with (
        httpx.Client(base_url=server.base_url, headers=headers, timeout=0.2) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        chat(http, [user("q")])

    # Logged long before the 60 s hang is up: the server saw the client leave.
    record = wait_for_record(server)
    assert (record.status, record.fault) == (None, "timeout")


def wait_for_record(server: FakeOpenAIServer) -> RequestRecord:
    """The first logged request; the server logs it when the handler ends, after the client."""
    for _ in range(500):
        if server.requests:
            return server.requests[0]
        time.sleep(0.01)
    raise AssertionError("the server never logged the request")


def test_faults_follow_the_seed_and_rate(server: FakeOpenAIServer, client: httpx.Client) -> None:
    def run(seed: int) -> list[FaultKind | None]:
        before = len(server.requests)
        kinds: tuple[FaultKind, ...] = ("rate_limit", "server_error", "malformed")
        server.set_faults(Faults(rate=0.5, kinds=kinds, seed=seed))
        for _ in range(20):
            chat(client, [user("q")])
        return [r.fault for r in server.requests[before:]]

    first, again, other = run(0), run(0), run(1)

    assert first == again
    assert first != other
    assert {None, "rate_limit", "server_error", "malformed"} == set(first)


# --- through Inspect's openai-api provider --------------------------------------------------


@tool
def bash() -> Tool:
    async def execute(cmd: str) -> str:
        """Run a shell command.

        Args:
            cmd: The command to run.
        """
        flag = store().get("flag")
        return f"{flag}\n" if cmd == "cat flag.txt" else "cat: no such file\n"

    return execute


@solver
def plant_flag() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        store().set("flag", state.metadata["flag"])
        return state

    return solve


def ctf_task(samples: int) -> Task:
    """Each sample hides its own flag behind the fake `bash` tool."""
    flags = [f"flag{{sample-{i}}}" for i in range(samples)]
    return Task(
        dataset=[Sample(input="Find the flag.", target=f, metadata={"flag": f}) for f in flags],
        solver=basic_agent(init=plant_flag(), tools=[bash()], message_limit=8),
        scorer=includes(),
    )


def fake_model(server: FakeOpenAIServer, key: str = KEY, **model_args: Any) -> Model:
    config = GenerateConfig(max_retries=3, attempt_timeout=5)
    return get_model(
        "openai-api/fake/m",
        base_url=server.base_url,
        api_key=key,
        config=config,
        memoize=False,
        **model_args,
    )


def run_eval(
    task: Task, model: Model, log_dir: Path, fail_on_error: bool = False
) -> tuple[EvalLog, list[EvalSample]]:
    [log] = inspect_eval(
        task, model=model, log_dir=str(log_dir), display="none", fail_on_error=fail_on_error
    )
    return log, list(log.samples or [])


def scores(samples: list[EvalSample]) -> list[object]:
    return [s.scores["includes"].value if s.scores else s.error for s in samples]


@pytest.mark.parametrize("stream", [False, True])
def test_inspect_agent_submits_the_flag(tmp_path: Path, stream: bool) -> None:
    with FakeOpenAIServer(bash_then_submit("cat flag.txt", FLAG), api_key=KEY) as fake:
        log, samples = run_eval(ctf_task(2), fake_model(fake, stream=stream), tmp_path)
        requests = fake.requests

    assert log.status == "success"
    assert scores(samples) == ["C", "C"]
    assert len(requests) == 4
    assert all(r.key_matched and r.stream is stream for r in requests)


def test_inspect_with_a_wrong_key_fails_on_401(tmp_path: Path) -> None:
    with FakeOpenAIServer(submit_script("x"), api_key=KEY) as fake:
        log, _ = run_eval(ctf_task(1), fake_model(fake, key="wrong"), tmp_path, fail_on_error=True)
        requests = fake.requests

    assert log.status == "error"
    assert log.error is not None
    assert "401" in log.error.message
    assert [(r.status, r.key_matched) for r in requests] == [(401, False)]


def run_with_faults(
    tmp_path: Path, kinds: tuple[FaultKind, ...], seed: int, **model_args: Any
) -> tuple[list[object], set[FaultKind]]:
    """Four agents against faults at rate 0.3; their scores and the fault kinds injected."""
    # Retry-After 0 and a 1 s client timeout keep the retries quick.
    faults = Faults(rate=0.3, kinds=kinds, seed=seed, retry_after=0, hang=30)
    script = bash_then_submit("cat flag.txt", FLAG)
    with FakeOpenAIServer(script, faults=faults, api_key=KEY, log_level="critical") as fake:
        log, samples = run_eval(
            ctf_task(4), fake_model(fake, client_timeout=1, **model_args), tmp_path
        )
        requests = fake.requests
    assert log.status == "success"
    return scores(samples), {r.fault for r in requests if r.fault}


def test_inspect_rides_out_429_500_and_timeouts(tmp_path: Path) -> None:
    # The openai SDK under Inspect retries these itself (twice by default), quickly.
    kinds: tuple[FaultKind, ...] = ("rate_limit", "server_error", "timeout")

    # Seed 16 draws each kind among the first requests, before the agents are done.
    results, injected = run_with_faults(tmp_path, kinds, seed=16)

    assert results == ["C"] * 4
    assert injected == set(kinds)


@pytest.mark.slow
def test_inspect_itself_retries_every_fault_but_malformed(tmp_path: Path) -> None:
    # With the SDK's retries off, every retry is Inspect's (3 s backoff and up).
    kinds: tuple[FaultKind, ...] = ("rate_limit", "server_error", "timeout", "truncated")

    results, injected = run_with_faults(tmp_path, kinds, seed=11, max_retries=0)

    assert results == ["C"] * 4
    assert injected == set(kinds)


def test_inspect_does_not_retry_a_malformed_body(tmp_path: Path) -> None:
    faults = only("malformed")
    with FakeOpenAIServer(submit_script("x"), faults=faults, api_key=KEY) as fake:
        log, [sample] = run_eval(ctf_task(1), fake_model(fake), tmp_path)
        requests = fake.requests

    assert sample.error is not None
    assert "JSONDecodeError" in sample.error.message
    assert [r.fault for r in requests] == ["malformed"]
    assert log.status == "success"
