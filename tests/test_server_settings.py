"""Per-server settings as plain logic: what is stored, how a /settings call changes it, how
messages are routed under it, who may manage documents, and how it is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.discord.errors import DocsRoleRequired, describe_error
from bot.discord.routing import MessageRoute
from bot.discord.server_settings import (
    MAX_MENTION_CHANNELS,
    PERMISSIONS_NOTE,
    RoleChoice,
    ServerSettings,
    SettingsChange,
    SettingsError,
    describe_changes,
    may_manage_documents,
    render_settings,
    route_in_server,
    settings_from_stored,
    stored_changes,
)
from bot.discord.state import BotState
from bot.state import open_database

NEWS, GENERAL, THREAD = 111, 222, 333


def test_nothing_stored_means_the_defaults() -> None:
    settings = settings_from_stored({})
    assert settings == ServerSettings()
    assert settings.answers_in(GENERAL)
    assert not settings.answers_in_place
    assert not settings.private_answers
    assert settings.docs_role is None


def test_stored_values_that_are_not_understood_count_as_unset() -> None:
    stored = {"mention_channels": ["111", "oops", 5, "111"], "mention_reply": "shout", "ask_visibility": 3}
    settings = settings_from_stored({**stored, "docs_role": "not-a-role"})
    assert settings == ServerSettings(mention_channels=(111, 5))


def test_a_change_becomes_stored_keys_and_defaults_are_removed() -> None:
    current = ServerSettings()
    change = SettingsChange(add_channel=NEWS, mention_reply="here", ask_visibility="private", docs_role=RoleChoice(77))
    changes = stored_changes(current, change)
    assert changes == {
        "mention_channels": ["111"],
        "mention_reply": "here",
        "ask_visibility": "private",
        "docs_role": "77",
    }
    after = settings_from_stored(changes)
    assert after.mention_channels == (NEWS,)
    assert after.answers_in_place
    assert after.private_answers
    back = stored_changes(after, SettingsChange(all_channels=True, mention_reply="thread", clear_docs_role=True))
    assert back == {"mention_channels": None, "mention_reply": None, "docs_role": None}  # None: the default


def test_channels_are_added_and_removed_one_at_a_time() -> None:
    listed = ServerSettings(mention_channels=(NEWS, GENERAL))
    assert stored_changes(listed, SettingsChange(remove_channel=NEWS)) == {"mention_channels": ["222"]}
    assert stored_changes(listed, SettingsChange(add_channel=NEWS)) == {}  # already listed: nothing to store
    swapped = stored_changes(
        ServerSettings(mention_channels=(NEWS,)), SettingsChange(add_channel=1, remove_channel=NEWS)
    )
    assert swapped == {"mention_channels": ["1"]}


@pytest.mark.parametrize(
    ("current", "change", "message"),
    [
        (ServerSettings(), SettingsChange(remove_channel=NEWS), "is not in the list"),
        (ServerSettings(mention_channels=(NEWS,)), SettingsChange(remove_channel=NEWS), "last channel"),
        (ServerSettings(), SettingsChange(add_channel=NEWS, remove_channel=NEWS), "add and remove"),
        (ServerSettings(), SettingsChange(all_channels=True, add_channel=NEWS), "can't be combined"),
        (ServerSettings(), SettingsChange(mention_reply="shout"), "`mention_reply` is one of"),
        (ServerSettings(), SettingsChange(ask_visibility="secret"), "`ask_visibility` is one of"),
        (ServerSettings(), SettingsChange(docs_role=RoleChoice(5), clear_docs_role=True), "not both"),
        (ServerSettings(), SettingsChange(docs_role=RoleChoice(5, everyone=True)), "Integrations"),
        (ServerSettings(), SettingsChange(docs_role=RoleChoice(5, managed=True)), "integration"),
        (
            ServerSettings(mention_channels=tuple(range(1, MAX_MENTION_CHANNELS + 1))),
            SettingsChange(add_channel=NEWS),
            f"at most {MAX_MENTION_CHANNELS}",
        ),
    ],
)
def test_changes_that_cannot_be_made_are_refused_politely(
    current: ServerSettings, change: SettingsChange, message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        stored_changes(current, change)
    assert describe_error(refused.value).text == str(refused.value)  # shown as it is, not as a bug


def test_mentions_are_answered_only_in_listed_channels_and_their_threads() -> None:
    listed = ServerSettings(mention_channels=(NEWS,))
    assert route_in_server(MessageRoute.NEW_THREAD, listed, NEWS, None) is MessageRoute.NEW_THREAD
    assert route_in_server(MessageRoute.FOLLOW_UP, listed, THREAD, NEWS) is MessageRoute.FOLLOW_UP
    assert route_in_server(MessageRoute.NEW_THREAD, listed, GENERAL, None) is MessageRoute.IGNORE
    assert route_in_server(MessageRoute.REPLY, listed, THREAD, GENERAL) is MessageRoute.IGNORE
    everywhere = ServerSettings()
    assert route_in_server(MessageRoute.REPLY, everywhere, GENERAL, None) is MessageRoute.REPLY
    assert route_in_server(MessageRoute.IGNORE, everywhere, GENERAL, None) is MessageRoute.IGNORE


def test_in_place_servers_answer_a_mention_where_it_was_made() -> None:
    here = ServerSettings(mention_reply="here")
    assert route_in_server(MessageRoute.NEW_THREAD, here, GENERAL, None) is MessageRoute.REPLY_HERE
    assert route_in_server(MessageRoute.FOLLOW_UP, here, THREAD, GENERAL) is MessageRoute.FOLLOW_UP  # threads go on


def test_without_a_documents_role_discord_alone_decides() -> None:
    assert may_manage_documents(ServerSettings(), manage_guild=False, role_ids=set())
    with_role = ServerSettings(docs_role=77)
    assert may_manage_documents(with_role, manage_guild=True, role_ids=set())
    assert may_manage_documents(with_role, manage_guild=False, role_ids={5, 77})
    assert not may_manage_documents(with_role, manage_guild=False, role_ids={5})
    refusal = describe_error(DocsRoleRequired(77)).text
    assert "**Manage Server**" in refusal
    assert "<@&77>" in refusal


def test_the_settings_page_shows_every_setting_and_how_permissions_work() -> None:
    settings = ServerSettings(mention_channels=(NEWS,), mention_reply="here", ask_visibility="private", docs_role=77)
    [page] = render_settings(settings, answer_dms=False, note="Changed the documents role.")
    values = {field.name.split(" (")[0]: field.value for field in page.fields}
    assert values["Mentions answered in"] == "<#111> (and threads in them)"
    assert values["A mention is answered"].startswith("In place")
    assert values["/ask answers are seen by"] == "Only the asker"
    assert "<@&77>" in values["Documents are managed by"]
    assert values["Direct messages"] == "Not answered"
    assert page.description.startswith("Changed the documents role.")
    assert PERMISSIONS_NOTE in page.description
    [default] = render_settings(ServerSettings(), answer_dms=True)
    assert "Every channel" in default.fields[0].value
    assert "Whoever Discord lets use" in default.fields[3].value


def test_the_reply_names_what_changed() -> None:
    before = ServerSettings()
    assert describe_changes(before, before) == "Nothing changed: those were the settings already."
    after = ServerSettings(ask_visibility="private", docs_role=5)
    assert describe_changes(before, after) == "Changed who sees /ask answers, the documents role."


async def test_settings_are_stored_per_server_and_cached_briefly(tmp_path: Path) -> None:
    now = [0.0]
    with open_database(None, tmp_path) as database:
        state = BotState(database, retention_days=30, history_turns=3, settings_cache_seconds=30, clock=lambda: now[0])
        try:
            assert await state.server_settings(1) == ServerSettings()
            changed = await state.change_server_settings(1, {"ask_visibility": "private"})
            assert changed.private_answers
            assert (await state.server_settings(1)).private_answers
            assert await state.server_settings(2) == ServerSettings()  # another server is untouched
            database.update_guild_settings("1", {"ask_visibility": None})  # another bot of the fleet
            assert (await state.server_settings(1)).private_answers  # still cached
            assert not (await state.server_settings(1, fresh=True)).private_answers
            database.update_guild_settings("1", {"mention_reply": "here"})
            now[0] = 31.0
            assert (await state.server_settings(1)).answers_in_place  # the cache has expired
        finally:
            state.close()
