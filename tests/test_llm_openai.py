"""The real ``ChatOpenAI`` client against a loopback OpenAI-compatible server: answers, streaming,
timeouts, server errors and garbage all end in a verified answer or the extractive fallback."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.answering.data import Answer
from bot.cli import main
from bot.llm.model import LLMConfigError, chat_model_from_settings
from bot.service import StoryService
from config import load_settings
from index.loaders import LoadedDocument
from tests.openai_stub import MODEL_ID, OpenAIStub, Responder, StubReply, running_stub
from tests.verbatim import assert_verbatim

DAM = LoadedDocument(
    "fish-ladder.txt",
    "The Willow Creek Fish Ladder\n\n"
    "The Willow Creek dam will open its new fish ladder on September 9. "
    "Engineer Lotte Varga designed the ladder with twenty-two concrete pools. "
    "Salmon have not passed the dam since it was built in 1958.",
)
QUESTION = "When will the Willow Creek dam open its new fish ladder?"
DATE_QUOTE = "The Willow Creek dam will open its new fish ladder on September 9"
_PASSAGE = re.compile(r"<<<passage-(\d+) (\w+)>>>\n(.*?)\n<<<end-passage-\1 \2>>>", re.DOTALL)


def quoting(phrase: str) -> Responder:
    """A model that finds ``phrase`` in the passages it is given and answers with it, citing [n]."""

    def respond(body: dict[str, Any]) -> StubReply:
        prompt = str(body["messages"][-1]["content"])
        for n, _, text in _PASSAGE.findall(prompt):
            if phrase in text:
                answer = {
                    "answer": f"The fish ladder opens on September 9 [{n}].",
                    "citations": [int(n)],
                    "quotes": [{"n": int(n), "quote": phrase}],
                }
                return StubReply(json.dumps(answer))
        return StubReply(json.dumps({"answer": "The story doesn't say.", "citations": [], "quotes": []}))

    return respond


@pytest.fixture(autouse=True)
def no_tokenizer_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Token counts come from the response; a tiktoken lookup would try to download encodings."""
    import tiktoken

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("tiktoken must not be used")

    monkeypatch.setattr(tiktoken, "get_encoding", refuse)
    monkeypatch.setattr(tiktoken, "encoding_for_model", refuse)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's proxy or OpenAI settings must not reroute or re-key requests meant for the stub."""
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(key, raising=False)
        monkeypatch.delenv(key.lower(), raising=False)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with running_stub(quoting(DATE_QUOTE)) as server:
        yield server


@pytest.fixture
def openai_service(make_story_service: Callable[..., StoryService], stub: OpenAIStub) -> Callable[..., StoryService]:
    def build(**overrides: Any) -> StoryService:
        settings = {"llm_provider": "openai", "llm_base_url": stub.base_url, "llm_model": MODEL_ID, **overrides}
        return make_story_service(DAM, **settings)

    return build


@pytest.fixture
def cli_story(make_story_service: Callable[..., StoryService]) -> None:
    """The fish-ladder story in the default collection of the data directory `storybot` uses."""
    make_story_service(DAM, data_dir=os.environ["STORYBOT_DATA_DIR"])


def test_an_openai_compatible_server_answers_with_structured_output(
    openai_service: Callable[..., StoryService], stub: OpenAIStub
) -> None:
    service = openai_service()
    answer = service.ask(QUESTION)
    assert (answer.mode, answer.fallback_reason) == ("llm", None)
    assert answer.answer == "The fish ladder opens on September 9 [1]."
    assert DATE_QUOTE in answer.citations[0].passage
    assert_verbatim(service, answer)
    request = stub.requests[-1]
    assert request["model"] == MODEL_ID
    assert request["response_format"]["type"] == "json_schema"


async def test_the_answer_streams_from_the_server(
    openai_service: Callable[..., StoryService], stub: OpenAIStub
) -> None:
    service = openai_service()
    items = [item async for item in service.astream_answer(QUESTION)]
    previews = [item for item in items if isinstance(item, str)]
    answer = items[-1]
    assert isinstance(answer, Answer)
    assert previews
    assert previews[-1] == "The fish ladder opens on September 9."
    assert (answer.mode, answer.answer) == ("llm", "The fish ladder opens on September 9 [1].")
    assert stub.requests[-1]["stream"] is True
    assert_verbatim(service, answer)


def test_a_server_slower_than_the_timeout_gets_the_extractive_answer(
    openai_service: Callable[..., StoryService], stub: OpenAIStub
) -> None:
    service = openai_service(llm_timeout=0.2)
    stub.responder = lambda body: StubReply("{}", delay=5.0)
    answer = service.ask(QUESTION)
    assert (answer.mode, answer.fallback_reason) == ("extractive", "timeout")
    assert "September 9" in answer.answer


async def test_a_stream_slower_than_the_timeout_gets_the_extractive_answer(
    openai_service: Callable[..., StoryService], stub: OpenAIStub
) -> None:
    service = openai_service(llm_timeout=0.2)
    stub.responder = lambda body: StubReply("{}", delay=5.0)
    items = [item async for item in service.astream_answer(QUESTION)]
    assert len(items) == 1
    assert isinstance(items[0], Answer)
    assert (items[0].mode, items[0].fallback_reason) == ("extractive", "timeout")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (StubReply(status=500), "server error (HTTP 500)"),
        (StubReply(status=429), "rate limited"),
        (StubReply(raw_body='{"id": "chatcmpl-stub", "choices": [{"message": '), "unreadable model output"),
        (StubReply("I think they might meet at some point, who knows."), "no verified citation"),
    ],
    ids=["http-500", "rate-limit", "malformed-json", "garbage-answer"],
)
def test_server_failures_get_the_extractive_answer(
    openai_service: Callable[..., StoryService], stub: OpenAIStub, reply: StubReply, reason: str
) -> None:
    service = openai_service()
    stub.responder = lambda body: reply
    answer = service.ask(QUESTION)
    assert (answer.mode, answer.fallback_reason) == ("extractive", reason)
    assert "September 9" in answer.answer
    assert_verbatim(service, answer)


def test_an_unreachable_server_gets_the_extractive_answer(make_story_service: Callable[..., StoryService]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = make_story_service(DAM, llm_provider="openai", llm_base_url=f"http://127.0.0.1:{port}/v1", llm_model="m")
    answer = service.ask(QUESTION)
    assert (answer.mode, answer.fallback_reason) == ("extractive", "connection error")


def test_a_server_without_structured_output_is_asked_in_plain_text(
    openai_service: Callable[..., StoryService], stub: OpenAIStub
) -> None:
    answering = quoting(DATE_QUOTE)
    stub.responder = lambda body: StubReply(status=400) if "response_format" in body else answering(body)
    service = openai_service()
    first, second = service.ask(QUESTION), service.ask(QUESTION)
    assert first.mode == second.mode == "llm"
    assert ["response_format" in body for body in stub.requests] == [True, False, False]


@pytest.mark.usefixtures("cli_story")
def test_storybot_ask_json_works_against_the_server(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORYBOT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("STORYBOT_LLM_BASE_URL", stub.base_url)  # no model name: the server's /models says
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", "--json", QUESTION])
    assert exit_info.value.code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["mode"] == "llm"
    assert "fallback_reason" not in payload
    assert payload["answer"] == "The fish ladder opens on September 9 [1]."
    assert payload["latency_ms"] >= 0
    assert stub.requests[-1]["model"] == MODEL_ID


@pytest.mark.usefixtures("cli_story")
def test_storybot_ask_json_reports_a_fallback(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.responder = lambda body: StubReply(status=500)
    monkeypatch.setenv("STORYBOT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("STORYBOT_LLM_BASE_URL", stub.base_url)
    monkeypatch.setenv("STORYBOT_LLM_MODEL", MODEL_ID)
    with pytest.raises(SystemExit):
        main(["ask", "--json", QUESTION])
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert (payload["mode"], payload["fallback_reason"]) == ("extractive", "server error (HTTP 500)")
    assert "Traceback" not in captured.err


def test_a_missing_provider_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.llm.model.importlib.util.find_spec", lambda name: None)
    with pytest.raises(LLMConfigError, match=re.escape("pip install 'story-bot[ollama]'")):
        chat_model_from_settings(load_settings(llm_provider="ollama", llm_model="llama3.1"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"llm_provider": "gemini"}, "Unknown llm_provider"),
        ({"llm_provider": "openai"}, "STORYBOT_LLM_MODEL"),  # no model and no server to ask
    ],
)
def test_unusable_llm_settings_are_configuration_errors(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(LLMConfigError, match=message):
        chat_model_from_settings(load_settings(**overrides))


def test_no_provider_means_no_model() -> None:
    assert chat_model_from_settings(load_settings()) is None


def test_a_prose_summary_is_rewritten_by_the_model_and_verified(openai_service: Callable[..., StoryService]) -> None:
    service = openai_service()
    summary = service.summarize("tldr")
    assert [line.text for line in summary.lines] == ["The fish ladder opens on September 9 [1]."]
    [citation] = summary.citations
    assert DATE_QUOTE in citation.passage
    text = service.store().document_text(citation.source)
    assert text is not None
    assert text[citation.start : citation.end] == citation.passage


def test_structured_summaries_stay_extractive_and_failures_keep_the_extractive_summary(
    openai_service: Callable[..., StoryService], make_story_service: Callable[..., StoryService], stub: OpenAIStub
) -> None:
    offline = make_story_service(DAM)
    asked = len(stub.requests)
    assert openai_service().summarize("timeline") == offline.summarize("timeline")
    assert len(stub.requests) == asked, "timelines are not sent to the model"
    unreachable = make_story_service(
        DAM, llm_provider="openai", llm_base_url="http://127.0.0.1:9/v1", llm_model=MODEL_ID
    )
    assert unreachable.summarize("tldr") == offline.summarize("tldr")
