"""People and organizations named in a story: a rule-based recognizer for English news.

Why rules and not a statistical model: spaCy's English models are not published on PyPI (only
unofficial re-uploads are), NLTK's chunker needs a data download, and the machine is offline. News
writing is regular enough to be read by its conventions instead: capitalized name runs, titles
("President Gustavo Petro", "Mr Cameron"), role nouns ("Venezuelan leader Nicolas Maduro"), ages in
apposition ("Craig Eccleston-Todd, 27,"), speech verbs ("Petro said"), organization head words
("Council of Ministers", "Fargo Catholic Diocese") and acronyms ("ICE"). A later surname-only
mention ("Petro") joins the full name. Precision and recall are measured on hand-labeled articles
(``tests/data/who_gold.json``, reported by ``bench/summary_rouge.py``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.summaries.salience import Sentence
from index.text import STOPWORDS


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


TITLES = _word_set(
    """president vice prime minister mr mrs ms miss mx dr sir dame lord lady senator sen rep representative
    governor gov mayor judge justice bishop archbishop cardinal pope king queen prince princess duke duchess
    general gen colonel col captain capt lieutenant lt sergeant sgt officer sheriff chancellor secretary
    ambassador chief inspector detective professor prof rev reverend father sister brother coach speaker
    chairman chairwoman commissioner superintendent councillor councilman congressman congresswoman
    st saint emperor sheikh ayatollah rabbi imam pastor deputy constable corporal private admiral marshal
    agent attorney manager director spokesman spokeswoman cleric"""
)
ROLE_NOUNS = _word_set(
    """leader spokesman spokeswoman spokesperson official minister president chief director coach manager
    boss striker defender midfielder goalkeeper winger forward player judge lawyer attorney officer reporter
    star singer actor actress founder owner mother father wife husband son daughter brother sister friend
    victim suspect teacher doctor photographer investigator passenger driver rapper chef captain secretary
    senator governor mayor analyst economist author writer editor historian scientist researcher professor
    student girlfriend boyfriend partner chairman executive ceo head prosecutor detective colleague
    neighbour neighbor resident pilot nurse surgeon priest bishop candidate rival opponent champion
    veteran host presenter comedian model designer artist musician boxer golfer jockey rider skipper
    spokesmen winger cousin uncle aunt grandmother grandfather mum dad teammate cleric member"""
)
SPEECH_VERBS = _word_set(
    """said says say told tells added adds asked explained claimed insisted admitted warned wrote tweeted
    stated argued noted declared announced dared suggested continued recalled joked replied confirmed
    revealed described accused urged praised criticised criticized"""
)
ORG_HEADS = _word_set(
    """council ministry department agency party company corporation corp inc ltd llc plc group bank
    university college school institute foundation association federation union committee commission
    court police army navy force forces bureau office service services authority board organization
    organisation league club fc airlines airways times news post journal press network church diocese
    hospital parliament congress senate government administration cabinet museum fund trust centre
    center reserve guard studios records motors industries holdings media broadcasting council
    assembly tribunal cartel brigade regiment academy society alliance coalition movement institution
    ministries agencies systems technologies laboratories labs bbc"""
)
PLACES = _word_set(
    """afghanistan albania algeria america americas andorra angola argentina armenia australia austria
    azerbaijan bahamas bahrain bangladesh barbados belarus belgium belize benin bhutan bolivia bosnia
    botswana brazil britain brunei bulgaria burma cambodia cameroon canada chad chile china colombia congo
    croatia cuba cyprus czech denmark djibouti dominica ecuador egypt england eritrea estonia ethiopia
    europe fiji finland france gabon gambia georgia germany ghana greece greenland grenada guatemala guinea
    guyana haiti honduras hungary iceland india indonesia iran iraq ireland israel italy jamaica japan
    jordan kazakhstan kenya korea kosovo kuwait laos latvia lebanon lesotho liberia libya lithuania
    luxembourg madagascar malawi malaysia maldives mali malta mauritania mauritius mexico moldova monaco
    mongolia montenegro morocco mozambique myanmar namibia nepal netherlands nicaragua niger nigeria norway
    oman pakistan palestine panama paraguay peru philippines poland portugal qatar romania russia rwanda
    samoa scotland senegal serbia singapore slovakia slovenia somalia spain sudan sweden switzerland syria
    taiwan tajikistan tanzania thailand togo tonga tunisia turkey turkmenistan uganda ukraine uruguay
    uzbekistan vatican venezuela vietnam wales yemen zambia zimbabwe africa asia antarctica oceania
    arctic crimea gaza kashmir tibet alabama alaska arizona arkansas california colorado connecticut
    delaware florida hawaii idaho illinois indiana iowa kansas kentucky louisiana maine maryland
    massachusetts michigan minnesota mississippi missouri montana nebraska nevada ohio oklahoma oregon
    pennsylvania tennessee texas utah vermont virginia washington wisconsin wyoming london paris
    washington moscow beijing berlin tokyo caracas bogota bogotá brussels"""
)
PLACE_PHRASES = frozenset(
    """united states|united kingdom|united arab emirates|new york|new jersey|new mexico|new hampshire
    |new zealand|north carolina|south carolina|north dakota|south dakota|west virginia|rhode island
    |latin america|south america|north america|central america|middle east|saudi arabia|south africa
    |north korea|south korea|sri lanka|costa rica|el salvador|puerto rico|hong kong|new delhi
    |los angeles|san francisco|las vegas|white house|downing street|capitol hill""".replace("\n", "").split("|")
)
NOT_ACRONYMS = _word_set(
    "US USA UK EU UAE TV CEO GMT EST BST PST EDT PM AM MP DNA HIV AIDS ID OK PR AD BC UN I II III IV"
)
CALENDAR_WORDS = _word_set(
    """monday tuesday wednesday thursday friday saturday sunday january february march april june july
    august september october november december"""
)
# Lower-case words that may follow a name that is the subject ("Petro said", "Morgan was").
_VERB_AFTER_NAME = _word_set(
    """said says told added was is has had will would could can may might did does do were are have
    and or but who which whose whom also then later has also insisted admitted claimed warned wrote
    explained spoke met announced confirmed denied made took gave went came left called revealed
    accused urged led died won lost signed joined returned arrived began started scored"""
)
_DEMONYM = re.compile(r"(?:an|ian|ese|ish|i|ic)$")
_INSTITUTION_NOUNS = _word_set(
    "police government officials authorities forces state media court army troops side team club airport"
)
# Common given names: a two-word name starting with one is a person even without other cues.
GIVEN_NAMES = _word_set(
    """james john robert michael william david richard joseph thomas charles christopher daniel matthew
    anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason
    jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel
    gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas
    zachary peter kyle ethan walter noah jeremy christian keith roger terry gerald harold sean austin carl
    arthur lawrence dylan jesse jordan bryan billy joe bruce gabriel logan albert willie alan juan wayne
    elijah randy roy vincent ralph eugene russell bobby mason philip louis harry mike tom tony steve bill
    chris dan jim bob ian neil craig martin simon graham nigel colin gordon stuart barry alex sam ben
    luis carlos jorge miguel pedro antonio manuel francisco javier diego pablo rafael fernando gustavo
    ahmed mohammed mohammad muhammad ali hassan hussein omar abdul vladimir sergei dmitry boris
    mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret
    sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca
    sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha
    katherine christine debra rachel carolyn janet catherine maria heather diane ruth julie olivia joyce
    virginia victoria kelly lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline
    martha gloria teresa ann sara madison frances kathryn janice jean abigail alice judy sophia grace
    denise amber doris marilyn danielle beverly isabella theresa diana natalie brittany charlotte marie
    kayla alexis lori jane claire kate lucy molly sophie chloe ellie suzanne hillary hilary angela
    nina tina rosa carmen ana lucia sofia fatima aisha"""
)
# Speech verbs whose subject may follow them ("said Petro"); after others a name is the object.
_SUBJECT_AFTER = _word_set("said says added adds asked wrote explained continued recalled replied")
CONNECTORS = _word_set("of de da del della der van von la le du bin al dos das y")
# Capitalized words that start sentences without being names.
_COMMON_STARTERS = (
    _word_set(
        """however after before since shortly finally meanwhile although though while when where despite
    earlier later yesterday today tomorrow last next this that these those there here it its his her
    their our your my we they he she you i as at in on of for from with by to and but or so if then
    also now still even just already once many some most several all both each every one two three
    according like unlike under over during between among within without instead indeed"""
    )
    | STOPWORDS
)
_TOKEN = re.compile(
    r"(?:al|el|bin|ibn|abu|van|von|de|di|da|le|la|du|o)[-’'][A-Z][\w’'\-.&]*\w|[A-Z][\w’'\-.&]*\w|[A-Z]|[a-z]+"
)
_POSSESSIVE = re.compile(r"['’]s?$")
_APPOSITION = re.compile(r"^,\s(?:a|an|the)\s")
_AGE = re.compile(r"^,\s*\d{1,3}\s*,")
_QUOTED = re.compile(r"“[^”]*”|\"[^\"\n]*\"")


@dataclass(frozen=True, slots=True)
class Mention:
    """A name as written at ``start:end`` of the document, with the cues seen around it."""

    name: str
    start: int
    end: int
    sentence: Sentence
    person_cues: int
    org: bool
    titled: bool


@dataclass(slots=True)
class Entity:
    """A person or organization with all its mentions; ``name`` is its fullest form."""

    name: str
    kind: str  # person | organization
    mentions: list[Mention] = field(default_factory=list)

    @property
    def first(self) -> Mention:
        return min(self.mentions, key=lambda m: m.start)

    def aliases(self) -> set[str]:
        return {m.name for m in self.mentions} | {self.name}


@dataclass(frozen=True, slots=True)
class Token:
    """A word of a sentence at ``start:end`` (sentence offsets)."""

    start: int
    end: int
    text: str

    @property
    def word(self) -> str:
        """The word without a possessive or abbreviation dot ("Trump’s" → "Trump")."""
        return _POSSESSIVE.sub("", self.text).rstrip(".")

    @property
    def capitalized(self) -> bool:
        return self.text[0].isupper() or bool(_PARTICLE.match(self.text))


_PARTICLE = re.compile(r"^[a-z]{1,3}[-’'][A-Z]")


def _runs(sentence: str) -> Iterable[list[Token]]:
    """Runs of capitalized tokens, with inner connectors ("Council of Ministers")."""
    tokens = [Token(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(sentence)]
    i = 0
    while i < len(tokens):
        if not tokens[i].capitalized:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _continues(sentence, tokens, j):
            j += 1
        while j > i and tokens[j].text in CONNECTORS:
            j -= 1
        yield tokens[i : j + 1]
        i = j + 1


def _continues(sentence: str, tokens: list[Token], j: int) -> bool:
    """Whether token j+1 belongs to the same name as token j: a single space apart (or ". " after
    an initial, a title or an abbreviation such as "U.S."), and capitalized or a connector."""
    token, gap = tokens[j], sentence[tokens[j].end : tokens[j + 1].start]
    abbreviated = gap == ". " and (len(token.text) == 1 or token.text.lower() in TITLES or "." in token.text)
    if (gap != " " and not abbreviated) or re.search(r"['’]s$", token.text):
        return False
    following = tokens[j + 1]
    if following.capitalized:
        return True
    if following.text in CONNECTORS and j + 2 < len(tokens):
        return sentence[following.end : tokens[j + 2].start] == " " and tokens[j + 2].capitalized
    return False


def _split_title(tokens: list[Token]) -> tuple[list[Token], bool]:
    """Drop descriptors and titles before a name: "Colombian President Gustavo Petro" → "Gustavo Petro"."""
    last_title = max((i for i, t in enumerate(tokens) if t.word.lower() in TITLES), default=-1)
    if last_title < 0:
        return tokens, False
    return tokens[last_title + 1 :], True


def _is_place(name: str) -> bool:
    lowered = name.lower()
    return lowered in PLACES or lowered in PLACE_PHRASES


def _is_acronym(word: str) -> bool:
    return 2 <= len(word) <= 6 and word.isupper() and word.isalpha() and word not in NOT_ACRONYMS


def _looks_common(word: str, lowercase_vocabulary: set[str]) -> bool:
    """A capitalized word that is really an ordinary word (it starts the sentence, or the story
    also writes it in lower case)."""
    lowered = word.lower()
    return lowered in _COMMON_STARTERS or lowered in lowercase_vocabulary or lowered.endswith("ly")


def _person_cues(before: str, after: str, titled: bool, words: list[str]) -> int:
    """Evidence that the name at hand is a person, from the words right around it."""
    cues = int(titled) + int(len(words) >= 2 and words[0].lower() in GIVEN_NAMES)
    previous = re.findall(r"[A-Za-z]+", before[-40:].lower())
    following = re.findall(r"[A-Za-z]+", after[:40].lower())
    if previous and (previous[-1] in ROLE_NOUNS | _SUBJECT_AFTER or previous[-2:] == ["according", "to"]):
        cues += 1
    if following and (following[0] in SPEECH_VERBS | {"contributed"} or following[:2] == ["who", "is"]):
        cues += 1
    if following and following[0] == "who":
        cues += 1
    if _APPOSITION.match(after) and set(following[1:5]) & ROLE_NOUNS:
        cues += 1
    if _AGE.match(after):
        cues += 2
    return cues


def _trim(tokens: list[Token], text: str, vocabulary: set[str]) -> list[Token]:
    """Drop what is not part of a name: an ordinary word opening the sentence ("However",
    "Tensions"), and days and months at either end ("New Jersey Tuesday")."""
    sentence_start = tokens[0].start == 0 or text[: tokens[0].start].rstrip()[-1:] in "“\"'‘("
    while tokens and sentence_start and _looks_common(tokens[0].word, vocabulary):
        tokens = tokens[1:]
    while tokens and tokens[-1].word.lower() in CALENDAR_WORDS:
        tokens = tokens[:-1]
    while tokens and tokens[0].word.lower() in CALENDAR_WORDS:
        tokens = tokens[1:]
    return tokens


def _is_modifier(tokens: list[Token], after: str) -> bool:
    """A lone demonym or place used as an adjective ("Iraqi politics", "Kabul police"): a word
    with a demonym ending, or one naming whose police, government or team follows."""
    following = re.match(r" ([a-z]+)", after)
    if len(tokens) != 1 or not following or following.group(1) in _VERB_AFTER_NAME:
        return False
    return bool(_DEMONYM.search(tokens[0].word)) or following.group(1) in _INSTITUTION_NOUNS


def sentence_mentions(sentence: Sentence, lowercase_vocabulary: set[str]) -> list[Mention]:
    """Candidate names in one sentence, each with its person and organization evidence."""
    text = sentence.text
    out = []
    for run in _runs(text):
        tokens, titled = _split_title(_trim(run, text, lowercase_vocabulary))
        tokens = _trim(tokens, text, set()) if tokens else tokens
        if not tokens:
            continue
        start, end = tokens[0].start, tokens[-1].start + len(tokens[-1].word)
        name = text[start:end]
        words = [t.word for t in tokens]
        if _is_place(name) or name in NOT_ACRONYMS or len(name) < 2 or _is_modifier(tokens, text[tokens[-1].end :]):
            continue
        if all(w.lower() in _COMMON_STARTERS or w.lower() in CALENDAR_WORDS for w in words):
            continue
        org = any(w.lower() in ORG_HEADS for w in words) or all(_is_acronym(w) for w in words)
        if len(words) == 1 and not org and words[0].lower() in lowercase_vocabulary:
            continue
        cues = 0 if org else _person_cues(text[:start], text[tokens[-1].end :], titled, words)
        out.append(Mention(name, sentence.start + start, sentence.start + end, sentence, cues, org, titled))
    return out


def _lowercase_vocabulary(sentences: Sequence[Sentence]) -> set[str]:
    return {w for s in sentences for w in re.findall(r"\b[a-z][a-z]+\b", s.text)}


def _is_heading(sentence: Sentence) -> bool:
    return sentence.text[-1] not in ".!?”\"'’:)" and sentence.words <= 8


def find_entities(sentences: Sequence[Sentence]) -> list[Entity]:
    """People and organizations of one document, most mentioned first."""
    vocabulary = _lowercase_vocabulary(sentences)
    mentions = [m for s in sentences if not _is_heading(s) for m in sentence_mentions(s, vocabulary)]
    groups = _group_mentions(mentions)
    entities = [entity for entity in (_classify(name, group) for name, group in groups.items()) if entity]
    return sorted(entities, key=lambda e: (-len(e.mentions), e.first.start))


def _group_mentions(mentions: list[Mention]) -> dict[str, list[Mention]]:
    """Mentions grouped under their fullest name: "Petro" and "Mr Petro" join "Gustavo Petro"
    when exactly one multi-word name ends (or starts) with that word."""
    full_names = {m.name for m in mentions if len(m.name.split()) > 1 and not m.org}
    by_last: dict[str, set[str]] = defaultdict(set)
    by_first: dict[str, set[str]] = defaultdict(set)  # family name first ("Zhou Yongkang" → "Zhou")
    for name in full_names:
        parts = name.split()
        by_last[parts[-1]].add(name)
        by_first[parts[0]].add(name)
    groups: dict[str, list[Mention]] = defaultdict(list)
    for mention in mentions:
        owners = set() if " " in mention.name else by_last.get(mention.name) or by_first.get(mention.name, set())
        key = next(iter(owners)) if len(owners) == 1 else mention.name
        groups[key].append(mention)
    return groups


def _classify(name: str, mentions: list[Mention]) -> Entity | None:
    """A person needs person cues, or a two-word name with surname reuse; an organization needs a
    head word or an acronym form. Anything else (places, products, events) is left out."""
    if any(m.org for m in mentions) and sum(m.org for m in mentions) * 2 >= len(mentions):
        return Entity(name, "organization", mentions)
    cues = sum(m.person_cues for m in mentions)
    reused = len({m.name for m in mentions}) > 1
    words = name.split()
    if not any(w.lower() in ORG_HEADS for w in words) and (cues > 0 or (reused and len(words) >= 2)):
        return Entity(name, "person", mentions)
    return None


def describing_mention(entity: Entity) -> Mention:
    """The mention whose sentence best says who the entity is: one with a title, a role noun or an
    age beside the name, else the first."""
    described = [m for m in entity.mentions if m.titled or m.person_cues >= 2]
    return min(described or entity.mentions, key=lambda m: m.start)


def outside_quotes(text: str) -> str:
    """The text with quoted speech blanked out (same length, so offsets still hold)."""
    return _QUOTED.sub(lambda m: " " * len(m.group(0)), text)
