"""Chit-chat: short messages of thanks, acknowledgement, laughter or only emoji.

They need a reaction, not an answer: answered as questions they would get "The story doesn't
say." and crowd a thread. The test is generic: every word of a short message must come from a
small vocabulary of thanks, agreement, praise, greetings and laughter (with "thaaanks" and
"looool" read as "thanks" and "lol"), or the message must hold no words at all. A question mark
or any other word makes it a question.
"""

from __future__ import annotations

import re

MAX_WORDS = 8
MAX_CHARS = 120

_VOCABULARY = frozenset(
    """
    thanks thank thankyou thanx thx tks ty tysm tyvm cheers ta appreciated appreciate merci gracias danke grazie
    obrigado you u so very much lot lots a many again for the this that it its is was s all
    great awesome nice cool perfect brilliant excellent amazing wonderful neat sweet good bot job work
    helpful useful fantastic lovely super fab
    ok okay okey k kk alright allright right sure fine got understood understand makes sense see i
    yes yeah yep yup ya yea no nope nah np noted true indeed agreed exactly
    lol lmao lmfao rofl xd omg wow woah whoa ah oh ooh aha hmm hm yay wp gg
    hi hello hey bye goodbye gn gm morning night
    """.split()
)
_LAUGHTER = re.compile(r"(?:ha|ah)+h?|(?:he)+h?|(?:hi){2,}|lo+l|lmf?ao|x+d+|ja(?:ja)+|kek")
_EMOTICON = re.compile(r"(?<!\w)(?:[:;=8][-'^]?[)(\]\[dpo/\\|3*]+|<3+|\^_?\^|x+d+|\+1)(?!\w)", re.IGNORECASE)
_DISCORD_MARKUP = re.compile(r"<(?:@[!&]?\d+|#\d+|a?:\w+:\d+)>")
_REPEATS = re.compile(r"(\w)\1{2,}")
_WORD = re.compile(r"[^\W\d_]+|\d+")


def words_of(text: str) -> list[str]:
    """The message's words, lower case, with letters repeated three or more times squeezed to one."""
    text = _DISCORD_MARKUP.sub(" ", text)
    text = _EMOTICON.sub(" ", text)
    text = _REPEATS.sub(r"\1", text.casefold())
    return _WORD.findall(text)


def is_chit_chat(text: str) -> bool:
    """True for "thanks!", "ok got it", "lol", "👍", "haha nice :)"; False for anything that
    asks something or says something else."""
    stripped = text.strip()
    if not stripped or len(stripped) > MAX_CHARS or "?" in stripped or "？" in stripped:
        return False
    words = words_of(stripped)
    if len(words) > MAX_WORDS:
        return False
    # No words at all: only emoji, emoticons, custom emoji or punctuation.
    return all(word in _VOCABULARY or _LAUGHTER.fullmatch(word) for word in words)
