"""Server admins on Discord, end to end: documents by URL with progress, /settings, and who may
manage documents. The real discord.py client and answer core against the fake Discord, and a
loopback web server for the pages (so private addresses are allowed here, except where a test
says otherwise).

Every test leaves Discord's rules unbroken (no refusals, no pings, allowed_mentions on every
send) and logs no error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bot.discord.client import build_bot
from bot.discord.docs_cog import BOTH, NEITHER
from bot.discord.server_settings import DMS_CLOSED, PERMISSIONS_NOTE
from index.embeddings import MiniLMEmbeddings
from index.loaders import LoadedDocument
from tests.discord_harness import BotWorld, bot_on_fake_discord, discord_rules_kept, running_bot
from tests.fake_discord import (
    ADMIN,
    MANAGE_GUILD,
    MEMBER,
    CommandNotOffered,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeRole,
    FakeUser,
    description,
    edits_of,
    footer,
)
from tests.web_server import PageServer, Reply

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAGES = Path(__file__).parent / "data" / "pages"
HTML = {"Content-Type": "text/html; charset=utf-8"}
ARTICLE = (PAGES / "news-article.html").read_bytes()
HEADLINE = "Harbor bridge to reopen in June after two years of repairs"
FERRY = LoadedDocument(
    "ferry-talks.txt",
    "Harbour chair Ines Calloway will meet ferry director Tomas Brandt on March 14. "
    "Calloway and Brandt will meet in the Port Alder town hall.",
)
LIGHTHOUSE = "The keeper Mara Quill lit the great lamp of the lighthouse every evening at dusk."


@dataclass
class World(BotWorld):
    pages: PageServer
    routes: dict[str, Reply]

    async def reply(self, interaction: FakeInteraction) -> FakeMessage:
        """The outcome of a command: its response once it is neither "thinking…" nor progress."""

        def done() -> FakeMessage | None:
            message = interaction.final()
            return message if message is not None and not message.content.startswith("Indexing") else None

        return await self.fake.wait_for(done, 120, f"the outcome of interaction {interaction.id}")

    async def add_url(self, guild: FakeGuild, user: FakeUser, path: str, permissions: int = ADMIN) -> FakeMessage:
        url = self.pages.url(path)
        return await self.reply(
            await self.fake.slash("docs add", user=user, guild=guild, permissions=permissions, url=url)
        )

    async def add_file(
        self, guild: FakeGuild, user: FakeUser, name: str, text: str, permissions: int = ADMIN
    ) -> FakeMessage:
        upload = self.fake.attachment(name, text.encode())
        asked = await self.fake.slash("docs add", user=user, guild=guild, permissions=permissions, file=upload)
        return await self.reply(asked)

    async def settings_command(self, guild: FakeGuild, admin: FakeUser, **options: object) -> FakeMessage:
        return await self.reply(
            await self.fake.slash("settings", user=admin, guild=guild, permissions=ADMIN, **options)
        )

    async def ask(self, guild: FakeGuild, question: str) -> FakeMessage:
        return await self.reply(await self.fake.slash("ask", user=self.fake.new_user(), guild=guild, question=question))

    async def mention(self, channel_id: int, user: FakeUser, question: str) -> FakeMessage:
        bot_user = self.fake.app.user
        channel = self.fake.channels[channel_id]
        return await self.fake.say(channel, user, f"{bot_user.mention} {question}", mentions=(bot_user,))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(embeddings: MiniLMEmbeddings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    routes: dict[str, Reply] = {
        "/news/bridge": Reply(ARTICLE, headers=HTML),
        "/missing": Reply(b"<h1>Not found</h1>", status=404, headers=HTML),
        "/photo.png": Reply(b"\x89PNG\r\n\x1a\n" + bytes(64), headers={"Content-Type": "image/png"}),
        "/slow": Reply(ARTICLE, headers=HTML, delay=5),
    }
    settings = {
        "ask_cooldown_uses": 100,
        "url_allow_private": True,  # the pages are served from 127.0.0.1
        "url_timeout": 2.0,
        "chunk_chars": 300,  # small passages and batches: an article is indexed in several steps
        "index_batch_passages": 2,
    }
    bot_options = {"warm_up": False, "progress_interval": 0.0}
    data_dir = tmp_path_factory.mktemp("discord-admin")
    with PageServer(routes) as pages:
        async with bot_on_fake_discord(embeddings, data_dir, settings=settings, bot_options=bot_options) as started:
            await asyncio.to_thread(started.service.index_document, FERRY)  # the default collection
            yield World.over(started, pages=pages, routes=routes)


@pytest.fixture(autouse=True)
def discord_hygiene(world: World) -> Iterator[None]:
    """Every test leaves Discord's rules unbroken and logs no error."""
    with discord_rules_kept(world.fake, world.errors):
        yield


def sources_of(world: World, guild: FakeGuild) -> list[str]:
    return [info.source for info in world.service.sources(f"guild-{guild.id}")]


# --- documents by URL -----------------------------------------------------------------------


async def test_an_article_added_by_url_is_answered_from_its_body_under_its_title(world: World) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("by-url", admin)
    url = world.pages.url("/news/bridge")
    asked = await world.fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN, url=url)
    added = await world.reply(asked)
    assert added.ephemeral
    assert added.content.startswith(f"Added **[{HEADLINE}](<{url}>)**")

    progress = [text for text in edits_of(world.fake, asked) if text.startswith("Indexing")]
    assert progress, "the reply shows progress while the passages are indexed"
    assert all(text.startswith(f"Indexing **{HEADLINE}**… ") and text.endswith(" passages") for text in progress)
    [source] = sources_of(world, guild)
    passages = world.service.sources(f"guild-{guild.id}")[0].passages
    assert progress[-1].endswith(f"/{passages} passages")

    text = world.service.store(f"guild-{guild.id}").document_text(source) or ""
    assert "June 12" in text
    for boilerplate in ("Subscribe Today", "Related stories", "Manage preferences", "All rights reserved"):
        assert boilerplate not in text  # the page around the article is never indexed, so never quoted

    answer = await world.ask(guild, "When will the harbor bridge reopen to traffic?")
    assert "June 12" in description(answer)
    assert footer(answer).startswith(f"{HEADLINE} [1]")
    assert f"🔗 [{HEADLINE}]({url})" in description(answer)
    listed = await world.reply(await world.fake.slash("sources", user=admin, guild=guild))
    assert f"**[{HEADLINE}]({url})**" in description(listed)


async def test_adding_the_same_url_again_updates_that_document_in_place(world: World) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("re-add", admin)
    world.routes["/news/moving"] = Reply(ARTICLE, headers=HTML)
    await world.add_url(guild, admin, "/news/moving")
    [source] = sources_of(world, guild)

    again = await world.add_url(guild, admin, "/news/moving")
    assert "is already in this server's documents, unchanged" in again.content
    world.routes["/news/moving"] = Reply(ARTICLE.replace(b"June 12", b"June 19"), headers=HTML)
    updated = await world.add_url(guild, admin, "/news/moving")
    assert updated.content.startswith(f"Updated **[{HEADLINE}]")
    assert sources_of(world, guild) == [source]  # the same document, not a second one
    answer = await world.ask(guild, "When will the harbor bridge reopen to traffic?")
    assert "June 19" in description(answer)

    url = world.pages.url("/news/moving")
    removed = await world.reply(
        await world.fake.slash("docs remove", user=admin, guild=guild, permissions=ADMIN, source=url)
    )
    assert removed.content.startswith(f"Removed **{HEADLINE}**")
    assert sources_of(world, guild) == []


async def test_bad_addresses_are_clear_errors_and_lose_nothing(world: World) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("bad-urls", admin)
    await world.add_file(guild, admin, "lighthouse.txt", LIGHTHOUSE)
    cases = [
        ("/missing", "The page returned HTTP 404 (Not Found)."),
        ("/photo.png", "The address serves image/png, not a web page, PDF or text file."),
        ("/slow", "The page took longer than 2 seconds to load."),
    ]
    for path, message in cases:
        reply = await world.add_url(guild, admin, path)
        assert reply.ephemeral
        assert reply.content == message
        assert sources_of(world, guild) == ["lighthouse.txt"]
    typo = await world.reply(
        await world.fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN, url="news.example/story")
    )
    assert "not a full web address" in typo.content
    assert sources_of(world, guild) == ["lighthouse.txt"]


async def test_private_addresses_are_refused_unless_allowed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("private", admin)
    monkeypatch.setattr(world.service, "settings", world.settings.model_copy(update={"url_allow_private": False}))
    refused = await world.add_url(guild, admin, "/news/bridge")
    assert refused.ephemeral
    assert "private or local network" in refused.content
    assert sources_of(world, guild) == []


async def test_docs_add_takes_exactly_one_file_or_address(world: World) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("one-source", admin)
    neither = await world.reply(await world.fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN))
    assert neither.ephemeral
    assert neither.content == NEITHER
    upload = world.fake.attachment("lighthouse.txt", LIGHTHOUSE.encode())
    url = world.pages.url("/news/bridge")
    both = await world.reply(
        await world.fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN, file=upload, url=url)
    )
    assert both.content == BOTH
    assert sources_of(world, guild) == []


# --- /settings ------------------------------------------------------------------------------


async def test_settings_are_shown_to_admins_only(world: World) -> None:
    admin, member = world.fake.new_user("admin"), world.fake.new_user("member")
    guild = await world.guild("show", admin, member)
    shown = await world.settings_command(guild, admin)
    assert shown.ephemeral
    [embed] = shown.embeds
    fields = {f["name"].split(" (")[0]: f["value"] for f in embed["fields"]}
    assert fields["Mentions answered in"] == "Every channel"
    assert fields["/ask answers are seen by"] == "Everyone in the channel"
    assert fields["Direct messages"] == "Answered"
    assert PERMISSIONS_NOTE in embed["description"]
    command = next(c for c in world.fake.app.global_commands if c["name"] == "settings")
    assert int(command["default_member_permissions"]) == MANAGE_GUILD
    assert command["dm_permission"] is False
    with pytest.raises(CommandNotOffered):
        await world.fake.slash("settings", user=member, guild=guild, permissions=MEMBER)


async def test_mentions_are_answered_only_in_the_listed_channels(world: World) -> None:
    admin, user = world.fake.new_user("admin"), world.fake.new_user("reader")
    guild = await world.guild("channels", admin, user)
    await asyncio.to_thread(world.service.index_document, FERRY, f"guild-{guild.id}")
    news = await world.fake.add_channel(guild, "news")
    changed = await world.settings_command(guild, admin, add_channel=news)
    assert changed.embeds[0]["description"].startswith("Changed where mentions are answered.")
    assert f"<#{news.id}>" in changed.embeds[0]["fields"][0]["value"]

    ignored = await world.mention(guild.general.id, user, "When will Calloway meet Brandt?")
    answered = await world.mention(news.id, user, "When will Calloway meet Brandt?")
    thread = await world.fake.wait_for(lambda: world.fake.thread_of(answered), what="a thread in #news")
    assert "March 14" in description(await world.fake.bot_message_in(thread.id))
    follow_up = await world.fake.say(thread, user, "Where?")  # a thread inside a listed channel goes on
    assert "town hall" in description(await world.fake.bot_message_in(thread.id, after=follow_up.id))
    assert world.fake.thread_of(ignored) is None
    in_general = [m for m in world.fake.messages.values() if m.channel_id == guild.general.id]
    assert not [m for m in in_general if m.author.bot and m.interaction_id is None]  # /settings replies aside

    everywhere = await world.settings_command(guild, admin, all_channels=True)
    assert "Every channel" in everywhere.embeds[0]["fields"][0]["value"]
    again = await world.mention(guild.general.id, user, "Who is Tomas Brandt?")
    await world.fake.wait_for(lambda: world.fake.thread_of(again), what="a thread in #general")


async def test_a_mention_can_be_answered_in_place(world: World) -> None:
    admin, user = world.fake.new_user("admin"), world.fake.new_user("reader")
    guild = await world.guild("in-place", admin, user)
    await asyncio.to_thread(world.service.index_document, FERRY, f"guild-{guild.id}")
    await world.settings_command(guild, admin, mention_reply="here")
    mention = await world.mention(guild.general.id, user, "Where will Calloway and Brandt meet?")
    answer = await world.fake.bot_message_in(guild.general.id, after=mention.id)
    assert answer.reference == mention.id
    assert "town hall" in description(answer)
    assert world.fake.thread_of(mention) is None
    follow = await world.fake.say(guild.general, user, "When?", reply_to=answer)  # a reply follows up
    assert "March 14" in description(await world.fake.bot_message_in(guild.general.id, after=follow.id))


async def test_ask_answers_can_be_seen_by_the_asker_only(world: World) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("private-answers", admin)
    await asyncio.to_thread(world.service.index_document, FERRY, f"guild-{guild.id}")
    await world.settings_command(guild, admin, ask_visibility="private")
    private = await world.ask(guild, "When will Calloway meet Brandt?")
    assert private.ephemeral
    assert "March 14" in description(private)
    await world.settings_command(guild, admin, ask_visibility="public")
    public = await world.ask(guild, "When will Calloway meet Brandt?")
    assert not public.ephemeral


async def test_settings_that_cannot_be_made_get_a_polite_ephemeral_error(world: World) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("bad-settings", admin)
    news = await world.fake.add_channel(guild, "news")
    everyone = FakeRole(guild.id, "@everyone")
    cases: list[tuple[dict[str, object], str]] = [
        ({"remove_channel": news}, "is not in the list of channels"),
        ({"add_channel": news, "remove_channel": news}, "add and remove"),
        ({"mention_reply": "shout"}, "`mention_reply` is one of"),
        ({"docs_role": everyone}, "@everyone would let every member manage documents"),
    ]
    for options, message in cases:
        reply = await world.settings_command(guild, admin, **options)
        assert reply.ephemeral
        assert message in reply.content
    assert world.database.get_guild_settings(str(guild.id)) == {}  # nothing was changed


async def test_a_documents_role_narrows_who_may_manage_documents(world: World) -> None:
    admin, member, editor = world.fake.new_user("admin"), world.fake.new_user("member"), world.fake.new_user("editor")
    guild = await world.guild("docs-role", admin, member, editor)
    editors = await world.fake.add_role(guild, "Editors", members=(editor,))
    guild.opened_commands.add("docs")  # an admin opened /docs to everyone in Integrations

    opened = await world.add_file(guild, member, "lighthouse.txt", LIGHTHOUSE, permissions=MEMBER)
    assert opened.content.startswith("Added **lighthouse.txt**")  # no role set: Discord decides

    changed = await world.settings_command(guild, admin, docs_role=editors)
    assert f"<@&{editors.id}>" in changed.embeds[0]["fields"][3]["value"]
    refused = await world.add_file(guild, member, "notes.txt", "The harbour master is Ada Finch.", permissions=MEMBER)
    assert refused.ephemeral
    assert refused.content == (
        f"Only members with **Manage Server** or the <@&{editors.id}> role can manage this server's documents."
    )
    typed = await world.fake.autocomplete("docs remove", "source", "", user=member, guild=guild, permissions=MEMBER)
    await world.fake.wait_for(lambda: typed.choices is not None, what="autocomplete choices")
    assert typed.choices == []
    allowed = await world.add_file(guild, editor, "notes.txt", "The harbour master is Ada Finch.", permissions=MEMBER)
    assert allowed.content.startswith("Added **notes.txt**")
    listed = await world.reply(await world.fake.slash("docs list", user=admin, guild=guild, permissions=ADMIN))
    assert "notes.txt" in description(listed)  # Manage Server always may

    await world.settings_command(guild, admin, clear_docs_role=True)
    removed = await world.reply(
        await world.fake.slash("docs remove", user=member, guild=guild, permissions=MEMBER, source="notes.txt")
    )
    assert removed.content.startswith("Removed **notes.txt**")


# --- direct messages ------------------------------------------------------------------------


async def test_direct_messages_can_be_turned_off_for_the_whole_bot(world: World) -> None:
    app = world.fake.add_app("no-dms-bot")
    settings = world.settings.model_copy(update={"answer_dms": False})
    bot = build_bot(settings, world.service, world.database, warm_up=False, guild_ready_timeout=0.05)
    async with running_bot(bot, app.token, within=60):
        ask = next(c for c in app.global_commands if c["name"] == "ask")
        assert ask["contexts"] == [0]  # declared for servers only: Discord hides it in DMs
        user = world.fake.new_user("dm-user")
        dm = await world.fake.dm_channel(user, app)
        message = await world.fake.say(dm, user, "When will Calloway meet Brandt?")
        note = await world.fake.bot_message_in(dm.id, after=message.id)
        assert note.content == DMS_CLOSED
        assert not note.embeds
        asked = await world.fake.slash("ask", user=user, app=app, question="When will Calloway meet Brandt?")
        reply = await world.fake.reply(asked)  # a client that still offers it gets the note, not silence
        assert reply.ephemeral
        assert reply.content == DMS_CLOSED
