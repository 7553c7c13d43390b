"""A loopback OpenAI-compatible chat server for tests: the real ``ChatOpenAI`` client talks to it.

It serves ``GET /v1/models`` and ``POST /v1/chat/completions`` (plain JSON or, with
``"stream": true``, server-sent events) on 127.0.0.1 from a thread of its own, so sync and async
clients can both use it. What it answers is decided per request by a *responder*: a function from
the request body to a :class:`StubReply` (text, HTTP status, delay, or a raw body to send as is).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MODEL_ID = "stub-model"


@dataclass(frozen=True, slots=True)
class StubReply:
    """How to answer one request."""

    content: str = ""
    status: int = 200
    delay: float = 0.0
    raw_body: str | None = None
    prompt_tokens: int = 42
    completion_tokens: int = 7


Responder = Callable[[dict[str, Any]], StubReply]


class OpenAIStub:
    """The server; use :func:`running_stub` to start and stop it around a test."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-stub", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def stop(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    async def _start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        assert self._closing is not None
        assert self._runner is not None
        self._closing.set()  # wake handlers still "thinking" so shutdown does not wait for them
        await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "stub"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        reply = self.responder(body)
        if reply.delay and await self._interrupted_after(reply.delay):
            return web.Response(status=503)
        if reply.raw_body is not None:
            return web.Response(status=reply.status, text=reply.raw_body, content_type="application/json")
        if reply.status != 200:
            error = {"error": {"message": "stub failure", "type": "server_error", "code": reply.status}}
            return web.json_response(error, status=reply.status)
        if body.get("stream"):
            return await self._stream(request, body, reply)
        return web.json_response(_completion(body, reply))

    async def _interrupted_after(self, delay: float) -> bool:
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), delay)
        except TimeoutError:
            return False
        return True

    async def _stream(self, request: web.Request, body: dict[str, Any], reply: StubReply) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = [reply.content[i : i + 7] for i in range(0, len(reply.content), 7)]
        for index, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
            await response.write(_event(_chunk(body, delta, None)))
        await response.write(_event(_chunk(body, {}, "stop")))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _completion(body: dict[str, Any], reply: StubReply) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", MODEL_ID),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", MODEL_ID),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


@contextmanager
def running_stub(responder: Responder) -> Iterator[OpenAIStub]:
    """A started stub, stopped when the block ends."""
    stub = OpenAIStub(responder)
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()
