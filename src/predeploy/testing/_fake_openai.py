"""A fake OpenAI-compatible chat completions server: scripted replies, latency, injected faults.

The app answers `POST /v1/chat/completions` (plain JSON, or server-sent events when the request
says `stream: true`) and `GET /v1/models`, the two endpoints Inspect's `openai-api` provider
uses. `FakeOpenAIServer` serves it with uvicorn on a loopback port in a background thread.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, get_args

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from predeploy.serving import bind_tcp

from ._script import Reply, Script

FaultKind = Literal["rate_limit", "server_error", "timeout", "malformed", "truncated"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


@dataclass(frozen=True)
class Faults:
    """Which failures the server injects, and how often.

    Each chat request draws once from `random.Random(seed)`: with probability `rate` it fails with
    a kind drawn from `kinds`, so a run is reproducible for a given order of requests.

    - `rate_limit`: 429 with a `Retry-After: <retry_after>` header.
    - `server_error`: 500.
    - `timeout`: no answer for `hang` seconds (or until the client hangs up), then 504.
    - `malformed`: 200 whose body is not JSON (or, when streaming, an event that is not JSON).
    - `truncated`: 200 cut off half-way: the JSON body, or the event stream, then the connection
      is dropped.
    """

    rate: float = 0.0
    kinds: tuple[FaultKind, ...] = FAULT_KINDS
    seed: int = 0
    retry_after: float = 1.0
    hang: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, got {self.rate}")
        if not self.kinds or not set(self.kinds) <= set(FAULT_KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {FAULT_KINDS}")


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. The API key is never kept, only whether it matched.

    `status` is None when the client hung up before a `timeout` fault answered; `ended` is when
    the reply was ready to send (`time.time()`, like `started`).
    """

    method: str
    path: str
    model: str | None
    messages: int
    stream: bool
    key_matched: bool
    status: int | None
    fault: FaultKind | None
    started: float
    ended: float


ScriptSource = Script | Mapping[str, Script]


class _State:
    """What the app reads per request; changed from the test thread while the app runs."""

    def __init__(
        self,
        script: ScriptSource,
        latency: float,
        faults: Faults,
        api_key: str,
        models: Sequence[str],
    ) -> None:
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self.latency = latency
        self.api_key = api_key
        self.models = tuple(models)
        self.set_script(script)
        self.set_faults(faults)

    def set_script(self, script: ScriptSource) -> None:
        with self._lock:
            self._script = script

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)  # noqa: S311 - reproducible faults, not secrets

    def script_for(self, model: str) -> Script | None:
        with self._lock:
            script = self._script
        return script if isinstance(script, Script) else script.get(model)

    def draw_fault(self) -> tuple[FaultKind | None, Faults]:
        with self._lock:
            faults = self._faults
            # Always draw both numbers so the sequence does not depend on which branch ran.
            hit = self._rng.random() < faults.rate
            kind = faults.kinds[self._rng.randrange(len(faults.kinds))]
        return (kind if hit else None), faults

    def record(self, entry: RequestRecord) -> None:
        with self._lock:
            self._log.append(entry)

    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)


class _RawResponse(Response):
    """Sends `parts` as the body; when not `complete`, stops half-way and lets the server drop
    the connection (uvicorn closes a connection whose app returned mid-response)."""

    def __init__(
        self,
        parts: list[bytes],
        media_type: str,
        *,
        complete: bool = True,
        content_length: int | None = None,
    ) -> None:
        super().__init__(status_code=200, media_type=media_type)
        if content_length is None:
            del self.headers["content-length"]
        else:
            self.headers["content-length"] = str(content_length)
        self.parts = parts
        self.complete = complete

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for part in self.parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        if self.complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status_code=status,
    )


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _usage(messages: Sequence[Mapping[str, Any]], reply: Reply) -> dict[str, int]:
    prompt = _tokens(json.dumps(messages))
    completion = _tokens(reply.text + "".join(json.dumps(c.arguments) for c in reply.tool_calls))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(model: str, reply: Reply, usage: dict[str, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


def _chunks(completion: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """The completion as the stream of chunks an OpenAI server would send for it."""
    head = {key: completion[key] for key in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk"
    [choice] = completion["choices"]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return head | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    text = message["content"] or ""
    # Split text and arguments in two so the client has to join deltas, as with a real server.
    half = len(text) // 2
    chunks += [chunk({"content": piece}) for piece in (text[:half], text[half:]) if piece]
    for index, call in enumerate(message.get("tool_calls", [])):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        start = {"name": call["function"]["name"], "arguments": ""}
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {"index": index, "id": call["id"], "type": "function", "function": start}
                    ]
                }
            )
        )
        for piece in (arguments[:half], arguments[half:]):
            chunks.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    chunks.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        chunks.append(head | {"choices": [], "usage": completion["usage"]})
    return chunks


def _sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


async def _client_gone_within(request: Request, seconds: float) -> bool:
    """Wait up to `seconds`; True as soon as the client closes the connection."""
    try:
        async with asyncio.timeout(seconds):
            while (await request.receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


def _fault_response(kind: FaultKind, faults: Faults, body: bytes, stream: bool) -> Response:
    """The response for every fault but `timeout` (which has to wait; see the route)."""
    if kind == "rate_limit":
        response = _error(
            429, "Rate limit reached (injected fault).", "requests", "rate_limit_exceeded"
        )
        response.headers["retry-after"] = f"{faults.retry_after:g}"
        return response
    if kind == "server_error":
        return _error(500, "The server had an error (injected fault).", "server_error")
    if kind == "malformed":
        garbage = b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "message": <html>'
        if stream:
            return _RawResponse([_sse(garbage.decode())], "text/event-stream")
        return _RawResponse([garbage], "application/json")
    # truncated: half of the real body, announced in full, then the connection drops
    if stream:
        return _RawResponse([body[: len(body) // 2]], "text/event-stream", complete=False)
    return _RawResponse(
        [body[: len(body) // 2]], "application/json", complete=False, content_length=len(body)
    )


def _create_app(state: _State) -> FastAPI:
    app = FastAPI(title="fake OpenAI", docs_url=None, redoc_url=None, openapi_url=None)

    def key_matches(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {state.api_key}"

    def unauthorized() -> JSONResponse:
        return _error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        started = time.time()
        matched = key_matches(request)
        response: Response = (
            JSONResponse(
                {
                    "object": "list",
                    "data": [
                        {"id": name, "object": "model", "created": 0, "owned_by": "predeploy"}
                        for name in state.models
                    ],
                }
            )
            if matched
            else unauthorized()
        )
        state.record(
            RequestRecord(
                method="GET",
                path="/v1/models",
                model=None,
                messages=0,
                stream=False,
                key_matched=matched,
                status=response.status_code,
                fault=None,
                started=started,
                ended=time.time(),
            )
        )
        return response

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        started = time.time()
        matched = key_matches(request)
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        model = str(payload.get("model", ""))
        messages = payload.get("messages")
        if not isinstance(messages, list):
            messages = []
        stream = payload.get("stream") is True

        def record(status: int | None, fault: FaultKind | None = None) -> None:
            state.record(
                RequestRecord(
                    method="POST",
                    path="/v1/chat/completions",
                    model=model or None,
                    messages=len(messages),
                    stream=stream,
                    key_matched=matched,
                    status=status,
                    fault=fault,
                    started=started,
                    ended=time.time(),
                )
            )

        if not matched:
            record(401)
            return unauthorized()
        if not messages or not all(isinstance(message, dict) for message in messages):
            record(400)
            return _error(
                400, "messages: a non-empty list of objects is required.", "invalid_request_error"
            )
        script = state.script_for(model)
        if script is None:
            record(404)
            return _error(
                404,
                f"The model `{model}` does not exist.",
                "invalid_request_error",
                "model_not_found",
            )

        kind, faults = state.draw_fault()
        await asyncio.sleep(state.latency)
        if kind == "timeout":
            if await _client_gone_within(request, faults.hang):
                record(None, kind)
                return Response(status_code=504)
            record(504, kind)
            return _error(504, "The server timed out (injected fault).", "timeout")

        tool_names = {
            str(tool["function"].get("name"))
            for tool in payload.get("tools") or []
            if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
        }
        reply = script.reply(messages, tool_names)
        completion = _completion(model, reply, _usage(messages, reply))
        if stream:
            options = payload.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            events = [json.dumps(chunk) for chunk in _chunks(completion, include_usage)]
            body = b"".join(_sse(event) for event in [*events, "[DONE]"])
        else:
            body = json.dumps(completion).encode()
        if kind is not None:
            response = _fault_response(kind, faults, body, stream)
            record(response.status_code, kind)
            return response
        record(200)
        if stream:
            return _RawResponse([body], "text/event-stream")
        return Response(body, media_type="application/json")

    return app


class FakeOpenAIServer:
    """Serves the fake OpenAI API on 127.0.0.1 (a free port) in a background thread.

    Use it as a context manager; `base_url` is what Inspect's `openai-api` provider takes.
    `latency` is slept (with asyncio, so concurrent requests overlap) by every chat request that
    passes the key check. The script and the faults can be changed while it runs. At
    `log_level="error"` uvicorn logs one line per `truncated` fault (the connection it drops);
    `"critical"` silences that.
    """

    def __init__(
        self,
        script: ScriptSource,
        *,
        latency: float = 0.0,
        faults: Faults | None = None,
        api_key: str = "fake-key",
        models: Sequence[str] = ("m",),
        log_level: str = "error",
    ) -> None:
        self._state = _State(script, latency, faults or Faults(), api_key, models)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. `http://127.0.0.1:PORT/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, in the order the requests finished."""
        return self._state.requests()

    def set_script(self, script: ScriptSource) -> None:
        """Answer later requests from `script` (one script, or one per model name)."""
        self._state.set_script(script)

    def set_faults(self, faults: Faults) -> None:
        """Inject `faults` from now on; the random sequence restarts from `faults.seed`."""
        self._state.set_faults(faults)

    def start(self) -> None:
        """Bind a free port and serve until `stop()`."""
        sock = bind_tcp("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            _create_app(self._state),
            log_config=None,
            log_level=self._log_level,
            access_log=False,
            lifespan="off",
            limit_concurrency=None,
            backlog=1024,
            # Longer than any client's idle keep-alive, so the client always closes idle
            # connections first and never reuses one the server is closing.
            timeout_keep_alive=75,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving; requests still running get a second to finish, then are cancelled."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
