"""The chit-chat classifier: thanks, acknowledgement, laughter and emoji get a reaction, not an answer."""

from __future__ import annotations

import pytest

from bot.discord.chitchat import MAX_WORDS, is_chit_chat, words_of


@pytest.mark.parametrize(
    "text",
    [
        "thanks",
        "Thanks!",
        "thank you so much",
        "thx",
        "ty!!",
        "Thaaaanks",
        "cheers",
        "great, thanks",
        "perfect, thank you",
        "ok",
        "OK got it",
        "makes sense",
        "I see",
        "cool cool",
        "nice",
        "good bot",
        "yes",
        "nope",
        "lol",
        "LOOOOL",
        "lmao",
        "haha",
        "hahahaha nice",
        "xD",
        "👍",
        "🙏🏽🙏🏽",
        "❤️",
        ":)",
        ":D",
        "<3",
        "+1",
        "<:pepe_thumbs:123456789012345678>",
        "!!!",
        "...",
        "wow thanks 😄",
        "merci",
    ],
)
def test_chit_chat_is_recognised(text: str) -> None:
    assert is_chit_chat(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "When?",
        "why",
        "really?",
        "thanks, when is it?",
        "thanks! and who is Brandt",
        "ok so where will they meet",
        "Where will Calloway meet Brandt",
        "Brandt",
        "2020",
        "what about the winter timetable",
        "lol what did he say",
        "thanks " * (MAX_WORDS + 1),  # long: something more than an acknowledgement
    ],
)
def test_questions_and_statements_are_not_chit_chat(text: str) -> None:
    assert not is_chit_chat(text)


def test_words_are_read_case_and_repeats_insensitively_without_emoji_or_markup() -> None:
    assert words_of("THAAANKS <@123> 👍 :) sooo much") == ["thanks", "so", "much"]
