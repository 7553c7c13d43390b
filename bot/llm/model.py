"""Building the configured chat model, and naming what went wrong when it fails.

Providers are chosen by configuration through LangChain's ``init_chat_model``; each provider's
integration package is an optional extra, so a missing one is a configuration error that names
the extra to install, raised when the answer chain is built rather than on the first question.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import logging
import threading
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from time import monotonic
from typing import Any, TypeVar, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from bot.llm.prompts import REPLY_SCHEMA
from bot.llm.verify import ModelReply, parse_reply_text, reply_from_data
from bot.logs import log_event
from bot.workers import WorkerPool
from config import Settings
from index.errors import StoryBotError

logger = logging.getLogger("storybot.llm")
T = TypeVar("T")

# provider → (integration module, extra that installs it)
PROVIDERS: dict[str, tuple[str, str]] = {
    "openai": ("langchain_openai", "openai"),
    "ollama": ("langchain_ollama", "ollama"),
    "anthropic": ("langchain_anthropic", "anthropic"),
}
# OpenAI-compatible servers usually ignore the key, but the client refuses to start without one.
_PLACEHOLDER_KEY = "not-needed"


class LLMConfigError(StoryBotError):
    """The [llm] settings cannot work: unknown provider, missing extra, missing model name."""


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens one model call used, as the provider reported them (None when it did not)."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(_add(self.input_tokens, other.input_tokens), _add(self.output_tokens, other.output_tokens))


def _add(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


def chat_model_from_settings(settings: Settings) -> ChatModelSource | None:
    """The configured chat model, or None when ``llm_provider`` is ``none``.

    Configuration mistakes (unknown provider, missing extra, missing model name) raise
    :class:`LLMConfigError` here, at start-up. The model itself is built on first use: an
    OpenAI-compatible server without ``llm_model`` is asked for its model name then, and a failed
    look-up is retried on a later answer instead of sticking for the life of the process.
    """
    provider = settings.llm_provider.strip().lower()
    if provider in {"", "none"}:
        return None
    if provider not in PROVIDERS:
        raise LLMConfigError(f"Unknown llm_provider {provider!r}: use one of none, {', '.join(PROVIDERS)}.")
    module, extra = PROVIDERS[provider]
    if importlib.util.find_spec(module) is None:
        raise LLMConfigError(
            f"llm_provider = {provider!r} needs the {extra!r} extra: pip install 'story-bot[{extra}]'."
        )
    if not settings.llm_model and (provider != "openai" or not settings.llm_base_url):
        raise LLMConfigError(f"llm_provider = {provider!r} needs a model name: set STORYBOT_LLM_MODEL.")
    return ChatModelSource(lambda: _build_model(provider, settings))


def _build_model(provider: str, settings: Settings) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    model = settings.llm_model or _served_model_name(settings)
    return init_chat_model(model, model_provider=provider, **_provider_kwargs(provider, settings))


class ModelUnavailable(Exception):
    """The chat model could not be built just now (its server did not name a model)."""


class ChatModelSource:
    """A chat model built once, on first use; a failed build is retried after ``retry_after`` seconds.

    Until then calls fail at once with the same reason, so a server that is down costs each answer
    nothing before the extractive fallback, and a server that comes back is used without a restart.
    """

    def __init__(
        self, build: Callable[[], BaseChatModel], retry_after: float = 30.0, clock: Callable[[], float] = monotonic
    ) -> None:
        self._build = build
        self._retry_after = retry_after
        self._clock = clock
        self._model: BaseChatModel | None = None
        self._failed: tuple[float, str] | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, model: BaseChatModel) -> ChatModelSource:
        """A source for a model built elsewhere (tests pass fakes this way)."""
        source = cls(lambda: model)
        source._model = model
        return source

    def get(self) -> BaseChatModel:
        """The model; raises :class:`ModelUnavailable` while it cannot be built."""
        with self._lock:
            if self._model is not None:
                return self._model
            if self._failed is not None and self._clock() - self._failed[0] < self._retry_after:
                raise ModelUnavailable(self._failed[1])
            try:
                self._model = self._build()
            except LLMConfigError:
                raise
            except Exception as exc:
                reason = describe_failure(exc)
                self._failed = (self._clock(), reason)
                log_event(logger, "llm_model_unavailable", logging.WARNING, exc_info=True, reason=reason, then="retry")
                raise ModelUnavailable(reason) from exc
            self._failed = None
            return self._model


def _provider_kwargs(provider: str, settings: Settings) -> dict[str, Any]:
    """Constructor arguments per provider. Retries are off: the answer has its own deadline and
    falls back to the extractive answer instead of retrying past it."""
    key = settings.llm_api_key.get_secret_value()
    base = {"temperature": settings.llm_temperature}
    if provider == "ollama":
        return {**base, **_optional(base_url=settings.llm_base_url), "client_kwargs": {"timeout": settings.llm_timeout}}
    if provider == "openai" and settings.llm_base_url and not key:
        key = _PLACEHOLDER_KEY
    return {
        **base,
        "timeout": settings.llm_timeout,
        "max_retries": 0,
        **_optional(base_url=settings.llm_base_url, api_key=key),
    }


def _optional(**values: str) -> dict[str, str]:
    return {name: value for name, value in values.items() if value}


def _served_model_name(settings: Settings) -> str:
    """An OpenAI-compatible server names its models at ``/models``: use the first."""
    import openai

    client = openai.OpenAI(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value() or _PLACEHOLDER_KEY,
        timeout=min(settings.llm_timeout, 5.0),
        max_retries=0,
    )
    return str(client.models.list().data[0].id)


def describe_failure(exc: BaseException) -> str:
    """A short, user-safe reason for a failed model call: the kind of failure, not a traceback."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) or names & {"APITimeoutError", "TimeoutException"}:
        return "timeout"
    if status == 429 or "RateLimitError" in names:
        return "rate limited"
    if isinstance(status, int):
        return f"server error (HTTP {status})"
    if isinstance(exc, ConnectionError) or names & {"APIConnectionError", "ConnectError", "TransportError"}:
        return "connection error"
    if names & {"JSONDecodeError", "APIResponseValidationError", "OutputParserException"}:
        return "unreadable model output"
    if isinstance(exc, ModelUnavailable):
        return f"model unavailable ({exc})"
    return f"model error ({type(exc).__name__})"


def token_usage(message: BaseMessage | None) -> TokenUsage:
    """Token counts from the response metadata; never from a local tokenizer (tiktoken would try
    to download its encodings)."""
    usage = getattr(message, "usage_metadata", None)
    if isinstance(usage, Mapping):
        return TokenUsage(usage.get("input_tokens"), usage.get("output_tokens"))
    return TokenUsage()


# --- calling the model within a deadline -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deadline:
    """The moment an answer must be ready by; the model calls of one answer share it."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - monotonic())


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    """A reply read from the model (None when it was not readable) and the tokens it cost."""

    reply: ModelReply | None
    usage: TokenUsage


@dataclass(frozen=True, slots=True)
class ModelStreamEnd:
    """The last item of :meth:`TimedChatModel.astream`: the whole reply text and its token usage."""

    text: str
    usage: TokenUsage


@dataclass(frozen=True, slots=True)
class _Call:
    """One model call a plan asks its driver to make."""

    runnable: Runnable[Any, Any]
    messages: list[BaseMessage]


_Plan = Generator[_Call, Any, T]


def _drive(plan: _Plan[T]) -> T:
    """Carry out a plan with blocking ``invoke`` calls."""
    call = next(plan)
    while True:
        try:
            result = call.runnable.invoke(call.messages)
        except Exception as exc:
            step = functools.partial(plan.throw, exc)
        else:
            step = functools.partial(plan.send, result)
        try:
            call = step()
        except StopIteration as done:
            return cast(T, done.value)


async def _adrive(plan: _Plan[T]) -> T:
    """Carry out a plan with awaited ``ainvoke`` calls: the same steps as :func:`_drive`."""
    call = next(plan)
    while True:
        try:
            result = await call.runnable.ainvoke(call.messages)
        except Exception as exc:
            step = functools.partial(plan.throw, exc)
        else:
            step = functools.partial(plan.send, result)
        try:
            call = step()
        except StopIteration as done:
            return cast(T, done.value)


class TimedChatModel:
    """A chat model whose every call returns or raises ``TimeoutError`` by a deadline.

    Replies use structured output (the :data:`REPLY_SCHEMA` JSON object) when the model supports
    it and fall back to reading the same JSON, or ``[n]`` prose, from plain text when it does not
    or when the server rejects the schema. What to ask is written once, as a plan of model calls
    (:meth:`_reply_plan`), which a blocking and an awaiting driver carry out. Blocking calls run on
    the service's worker pool, so the caller stops waiting at the deadline even when a provider
    ignores its own timeout. The model itself is built on first use (:class:`ChatModelSource`).
    """

    def __init__(
        self, model: ChatModelSource | BaseChatModel, pool: WorkerPool | None = None, structured: bool = True
    ) -> None:
        self.source = model if isinstance(model, ChatModelSource) else ChatModelSource.of(model)
        self._pool = pool or WorkerPool(2, "storybot-llm")
        self._use_structured = structured
        self._bound: dict[int, Runnable[Any, Any] | None] = {}

    def reply(self, messages: Sequence[BaseMessage], deadline: Deadline) -> ModelOutcome:
        """Ask for a reply in the answer format; raises on failure or at the deadline."""
        asked = list(messages)
        return self._pool.call_within(lambda: _drive(self._reply_plan(self.source.get(), asked)), deadline.remaining())

    async def areply(self, messages: Sequence[BaseMessage], deadline: Deadline) -> ModelOutcome:
        model = await self._model(deadline)
        return await asyncio.wait_for(_adrive(self._reply_plan(model, list(messages))), deadline.remaining())

    def text(self, messages: Sequence[BaseMessage], deadline: Deadline) -> str:
        """A plain-text reply (used to condense follow-up questions)."""
        asked = list(messages)
        return self._pool.call_within(lambda: _drive(_text_plan(self.source.get(), asked)), deadline.remaining())

    async def atext(self, messages: Sequence[BaseMessage], deadline: Deadline) -> str:
        model = await self._model(deadline)
        return await asyncio.wait_for(_adrive(_text_plan(model, list(messages))), deadline.remaining())

    async def astream(self, messages: Sequence[BaseMessage], deadline: Deadline) -> AsyncIterator[str | ModelStreamEnd]:
        """Text chunks as they arrive, then a :class:`ModelStreamEnd`; raises at the deadline.

        The model's stream runs in a task of its own feeding a queue, so the deadline can cut it
        off without cancelling whoever is consuming (and perhaps editing a Discord message).
        """
        model = await self._model(deadline)
        queue: asyncio.Queue[object] = asyncio.Queue()
        producer = asyncio.create_task(_produce(model, list(messages), queue))
        parts: list[str] = []
        usage = TokenUsage()
        try:
            while True:
                item = await asyncio.wait_for(queue.get(), deadline.remaining())
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    break
                assert isinstance(item, BaseMessage)
                usage += token_usage(item)
                if chunk := message_text(item):
                    parts.append(chunk)
                    yield chunk
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        yield ModelStreamEnd("".join(parts), usage)

    async def _model(self, deadline: Deadline) -> BaseChatModel:
        """The model, got off the event loop (building it may ask a server for its model name)."""
        return await asyncio.wait_for(self._pool.run(self.source.get), deadline.remaining())

    def _reply_plan(self, model: BaseChatModel, messages: list[BaseMessage]) -> _Plan[ModelOutcome]:
        structured = self._structured(model)
        if structured is not None:
            try:
                return _structured_outcome((yield _Call(structured, messages)))
            except Exception as exc:
                if not _rejects_schema(exc):
                    raise
                self._give_up_structured(model, exc)
        return _plain_outcome((yield _Call(model, messages)))

    def _structured(self, model: BaseChatModel) -> Runnable[Any, Any] | None:
        """The model bound to the reply schema (once per model), or None without structured output."""
        if not self._use_structured:
            return None
        if id(model) not in self._bound:
            self._bound[id(model)] = _structured(model)
        return self._bound[id(model)]

    def _give_up_structured(self, model: BaseChatModel, exc: Exception) -> None:
        """Some OpenAI-compatible servers refuse ``response_format``: ask in plain text from now on."""
        log_event(
            logger, "llm_structured_output_rejected", logging.WARNING, reason=describe_failure(exc), then="plain text"
        )
        self._bound[id(model)] = None


def _text_plan(model: BaseChatModel, messages: list[BaseMessage]) -> _Plan[str]:
    return message_text((yield _Call(model, messages)))


async def _produce(model: BaseChatModel, messages: list[BaseMessage], queue: asyncio.Queue[object]) -> None:
    try:
        async for chunk in model.astream(messages):
            queue.put_nowait(chunk)
    except Exception as exc:  # handed to the consumer, which decides what it means
        queue.put_nowait(exc)
    else:
        queue.put_nowait(None)


def _structured(model: BaseChatModel) -> Runnable[Any, Any] | None:
    """The model bound to the reply schema, or None when it has no structured output."""
    try:
        return model.with_structured_output(REPLY_SCHEMA, include_raw=True)
    except (NotImplementedError, ValueError, TypeError):
        return None


def _rejects_schema(exc: BaseException) -> bool:
    return getattr(exc, "status_code", None) in {400, 422}


def _structured_outcome(result: Any) -> ModelOutcome:
    """Structured output, or the raw text when the parser could not read it."""
    raw = result.get("raw") if isinstance(result, Mapping) else None
    parsed = result.get("parsed") if isinstance(result, Mapping) else None
    reply = reply_from_data(parsed) if parsed is not None else None
    if reply is None and isinstance(raw, BaseMessage):
        reply = parse_reply_text(message_text(raw))
    return ModelOutcome(reply, token_usage(raw if isinstance(raw, BaseMessage) else None))


def _plain_outcome(message: BaseMessage) -> ModelOutcome:
    return ModelOutcome(parse_reply_text(message_text(message)), token_usage(message))


def message_text(message: BaseMessage) -> str:
    """The text of a message, whatever shape its content has (string or content blocks)."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        block if isinstance(block, str) else str(block.get("text", "")) if isinstance(block, dict) else ""
        for block in content
    )
