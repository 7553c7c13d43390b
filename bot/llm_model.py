"""Building the configured chat model, and naming what went wrong when it fails.

Providers are chosen by configuration through LangChain's ``init_chat_model``; each provider's
integration package is an optional extra, so a missing one is a configuration error that names
the extra to install, raised when the answer chain is built rather than on the first question.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from time import monotonic
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from bot.llm_prompt import REPLY_SCHEMA
from bot.llm_verify import ModelReply, parse_reply_text, reply_from_data
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
_UNKNOWN_MODEL = "default"


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


def chat_model_from_settings(settings: Settings) -> BaseChatModel | None:
    """The configured chat model, or None when ``llm_provider`` is ``none``."""
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
    from langchain.chat_models import init_chat_model

    model = settings.llm_model or _default_model(provider, settings)
    return init_chat_model(model, model_provider=provider, **_provider_kwargs(provider, settings))


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


def _default_model(provider: str, settings: Settings) -> str:
    """An OpenAI-compatible server names its models at ``/models``; other providers need one set."""
    if provider != "openai" or not settings.llm_base_url:
        raise LLMConfigError(f"llm_provider = {provider!r} needs a model name: set STORYBOT_LLM_MODEL.")
    try:
        import openai

        client = openai.OpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() or _PLACEHOLDER_KEY,
            timeout=min(settings.llm_timeout, 5.0),
            max_retries=0,
        )
        return str(client.models.list().data[0].id)
    except Exception as exc:  # the server may be down now and up later: answer extractively meanwhile
        logger.warning(
            "llm: could not list the models of %s (%s); set STORYBOT_LLM_MODEL",
            settings.llm_base_url,
            describe_failure(exc),
        )
        return _UNKNOWN_MODEL


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


class TimedChatModel:
    """A chat model whose every call returns or raises ``TimeoutError`` by a deadline.

    Replies use structured output (the :data:`REPLY_SCHEMA` JSON object) when the model supports
    it and fall back to reading the same JSON, or ``[n]`` prose, from plain text when it does not
    or when the server rejects the schema. Sync calls run on a small thread pool so the caller can
    stop waiting at the deadline even when a provider ignores its own timeout.
    """

    def __init__(self, model: BaseChatModel, structured: bool = True, workers: int = 4) -> None:
        self.model = model
        self._structured = _structured(model) if structured else None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="storybot-llm")

    @property
    def structured(self) -> bool:
        return self._structured is not None

    def reply(self, messages: Sequence[BaseMessage], deadline: Deadline) -> ModelOutcome:
        """Ask for a reply in the answer format; raises on failure or at the deadline."""
        return _wait(self._pool.submit(self._reply, list(messages)), deadline)

    async def areply(self, messages: Sequence[BaseMessage], deadline: Deadline) -> ModelOutcome:
        return await asyncio.wait_for(self._areply(list(messages)), deadline.remaining())

    def text(self, messages: Sequence[BaseMessage], deadline: Deadline) -> str:
        """A plain-text reply (used to condense follow-up questions)."""
        return message_text(_wait(self._pool.submit(self.model.invoke, list(messages)), deadline))

    async def atext(self, messages: Sequence[BaseMessage], deadline: Deadline) -> str:
        return message_text(await asyncio.wait_for(self.model.ainvoke(list(messages)), deadline.remaining()))

    async def astream(self, messages: Sequence[BaseMessage], deadline: Deadline) -> AsyncIterator[str | ModelStreamEnd]:
        """Text chunks as they arrive, then a :class:`ModelStreamEnd`; raises at the deadline.

        The model's stream runs in a task of its own feeding a queue, so the deadline can cut it
        off without cancelling whoever is consuming (and perhaps editing a Discord message).
        """
        queue: asyncio.Queue[object] = asyncio.Queue()
        producer = asyncio.create_task(self._produce(list(messages), queue))
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

    async def _produce(self, messages: list[BaseMessage], queue: asyncio.Queue[object]) -> None:
        try:
            async for chunk in self.model.astream(messages):
                queue.put_nowait(chunk)
        except Exception as exc:  # handed to the consumer, which decides what it means
            queue.put_nowait(exc)
        else:
            queue.put_nowait(None)

    def _reply(self, messages: list[BaseMessage]) -> ModelOutcome:
        if self._structured is not None:
            try:
                return _structured_outcome(self._structured.invoke(messages))
            except Exception as exc:
                if not _rejects_schema(exc):
                    raise
                self._give_up_structured(exc)
        return _plain_outcome(self.model.invoke(messages))

    async def _areply(self, messages: list[BaseMessage]) -> ModelOutcome:
        if self._structured is not None:
            try:
                return _structured_outcome(await self._structured.ainvoke(messages))
            except Exception as exc:
                if not _rejects_schema(exc):
                    raise
                self._give_up_structured(exc)
        return _plain_outcome(await self.model.ainvoke(messages))

    def _give_up_structured(self, exc: Exception) -> None:
        """Some OpenAI-compatible servers refuse ``response_format``: ask in plain text from now on."""
        logger.warning("llm: the server rejected structured output (%s); using plain text", describe_failure(exc))
        self._structured = None


def _wait(future: Future[T], deadline: Deadline) -> T:
    """The future's result by the deadline; a call still running then is left to its own timeout."""
    try:
        return future.result(timeout=deadline.remaining())
    except TimeoutError:
        future.cancel()
        raise


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
