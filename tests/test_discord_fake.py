"""The fake Discord itself: it speaks the protocol discord.py expects and enforces Discord's rules.

These tests talk to it with a bare aiohttp client, so a bug in the fake cannot hide behind the
bot (and vice versa).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import zstandard

from tests.fake_discord import (
    DEFERRED_CHANNEL_MESSAGE,
    MEMBER,
    SELECT_MENU,
    FakeDiscord,
    FakeMessage,
    FakeUser,
    deliverable_pings,
    embed_problems,
    message_problems,
)


class Gateway:
    """A minimal gateway client: connects, identifies, and decodes (zlib-stream) frames."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self._inflate: Any = None
        if compress == "zlib-stream":
            self._inflate = zlib.decompressobj()
        elif compress == "zstd-stream":
            self._inflate = zstandard.ZstdDecompressor().decompressobj()

    async def receive(self) -> dict[str, Any]:
        frame = await self.ws.receive(timeout=10)
        if frame.type == aiohttp.WSMsgType.BINARY:
            assert self._inflate is not None
            return json.loads(self._inflate.decompress(frame.data))
        assert frame.type == aiohttp.WSMsgType.TEXT, frame
        return json.loads(frame.data)

    async def event(self, name: str) -> dict[str, Any]:
        while True:
            message = await self.receive()
            if message.get("t") == name:
                return message


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord() as server:
        yield server


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(
    fake: FakeDiscord, http: aiohttp.ClientSession, compress: str | None = None, **identify: Any
) -> Gateway:
    query = "?v=10&encoding=json" + (f"&compress={compress}" if compress else "")
    gateway = Gateway(await http.ws_connect(fake.gateway_url + query), compress)
    hello = await gateway.receive()
    assert hello["op"] == 10
    assert hello["d"]["heartbeat_interval"] > 0
    await gateway.ws.send_json({"op": 2, "d": {"token": fake.app.token, "intents": 513, "properties": {}, **identify}})
    return gateway


async def register(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    command = {"name": "ping", "description": "Ping", "type": 1, "options": []}
    async with http.put(
        f"{fake.api_url}/applications/{fake.app.id}/commands",
        json=[command],
        headers={"Authorization": f"Bot {fake.app.token}"},
    ) as response:
        assert response.status == 200


async def callback(
    http: aiohttp.ClientSession, fake: FakeDiscord, interaction: Any, body: dict[str, Any]
) -> tuple[int, Any]:
    url = f"{fake.api_url}/interactions/{interaction.id}/{interaction.token}/callback?with_response=1"
    async with http.post(url, json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_rest_answers_with_exactly_application_json_and_checks_the_token(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{fake.api_url}/users/@me", headers={"Authorization": f"Bot {fake.app.token}"}) as ok:
        assert ok.headers["Content-Type"] == "application/json"
        assert (await ok.json())["id"] == str(fake.app.user.id)
    async with http.get(f"{fake.api_url}/users/@me", headers={"Authorization": "Bot wrong"}) as refused:
        assert refused.status == 401
    async with http.get(f"{fake.api_url}/guilds/1/bans") as unknown:
        assert unknown.status == 404
    assert fake.unhandled == ["GET /api/v10/guilds/1/bans"]


@pytest.mark.parametrize("compress", [None, "zlib-stream", "zstd-stream"])
async def test_gateway_hello_identify_ready_guilds_and_heartbeats(
    fake: FakeDiscord, http: aiohttp.ClientSession, compress: str | None
) -> None:
    guild = await fake.add_guild("before")
    gateway = await connect(fake, http, compress)
    ready = await gateway.event("READY")
    assert ready["d"]["resume_gateway_url"] == fake.gateway_url
    assert ready["d"]["guilds"] == [{"id": str(guild.id), "unavailable": True}]
    created = await gateway.event("GUILD_CREATE")
    assert created["d"]["roles"][0]["id"] == str(guild.id)  # @everyone's id is the guild's
    assert created["d"]["unavailable"] is False
    assert str(fake.app.user.id) in {m["user"]["id"] for m in created["d"]["members"]}
    await gateway.ws.send_json({"op": 1, "d": ready["s"]})
    assert (await gateway.receive())["op"] == 11
    later = await fake.add_guild("after")
    joined = await gateway.event("GUILD_CREATE")
    assert joined["d"]["id"] == str(later.id)
    assert "unavailable" not in joined["d"]  # a fresh join, not a lazy load


async def test_identify_with_a_bad_token_or_a_refused_intent_is_closed(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    gateway = await connect(fake, http, token="nope")
    assert (await gateway.ws.receive()).type == aiohttp.WSMsgType.CLOSE
    assert gateway.ws.close_code == 4004
    app = fake.add_app("strict", message_content_allowed=False)
    gateway = await connect(fake, http, token=app.token, intents=1 << 15)
    assert (await gateway.ws.receive()).type == aiohttp.WSMsgType.CLOSE
    assert gateway.ws.close_code == 4014


async def test_callbacks_follow_discords_rules(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    await register(fake, http)
    gateway = await connect(fake, http)
    await gateway.event("READY")
    guild = await fake.add_guild("rules")
    user = fake.new_user()

    first = await fake.slash("ping", user=user, guild=guild)
    event = await gateway.event("INTERACTION_CREATE")
    assert event["d"]["member"]["permissions"] == str(MEMBER)
    assert event["d"]["data"]["name"] == "ping"
    status, body = await callback(http, fake, first, {"type": 4, "data": {"content": "x" * 2001}})
    assert (status, body["code"]) == (400, 50035)
    status, body = await callback(http, fake, first, {"type": 4, "data": {}})
    assert (status, body["code"]) == (400, 50006)
    async with http.post(f"{fake.api_url}/webhooks/{fake.app.id}/{first.token}", json={"content": "hi"}) as early:
        assert (early.status, (await early.json())["code"]) == (404, 10015)  # no follow-up before the ack
    status, body = await callback(http, fake, first, {"type": DEFERRED_CHANNEL_MESSAGE})
    assert status == 200
    assert body["interaction"]["response_message_loading"] is True
    status, body = await callback(http, fake, first, {"type": 4, "data": {"content": "again"}})
    assert (status, body["code"]) == (400, 40060)

    fake.ack_deadline = -1.0  # every acknowledgement is now "more than 3 s" late
    late = await fake.slash("ping", user=user, guild=guild)
    status, body = await callback(http, fake, late, {"type": 4, "data": {"content": "too late"}})
    assert (status, body["code"]) == (404, 10062)
    assert [r.code for r in fake.rejections] == [50035, 50006, 10015, 40060, 10062]


def test_embed_and_component_limits_are_discords() -> None:
    assert embed_problems([{"description": "x" * 4096}]) == []
    assert embed_problems([{"description": "x" * 4097}])
    assert embed_problems([{"title": "x" * 257}])
    assert embed_problems([{"fields": [{"name": "n", "value": "v"}] * 26}])
    assert embed_problems([{"fields": [{"name": "n", "value": ""}]}])
    assert embed_problems([{"description": "x" * 4000}, {"description": "x" * 2001}])  # 6000 across embeds
    buttons = [{"type": 2, "style": 2, "custom_id": f"b{i}", "label": "ok"} for i in range(6)]
    assert message_problems({"components": [{"type": 1, "components": buttons}]})
    assert message_problems({"components": [{"type": 1, "components": [buttons[0], buttons[0]]}]})


def test_pings_are_what_allowed_mentions_lets_through() -> None:
    author = FakeUser(1, "bot", bot=True)
    content = "@everyone <@5> <@&6>"
    assert [p.kind for p in deliverable_pings(FakeMessage(1, 1, 1, author, content))] == ["everyone", "user", "role"]
    assert deliverable_pings(FakeMessage(1, 1, 1, author, content, allowed_mentions={"parse": []})) == []
    only_user = FakeMessage(1, 1, 1, author, content, allowed_mentions={"parse": [], "users": ["5"]})
    assert [p.target for p in deliverable_pings(only_user)] == ["5"]
    reply = FakeMessage(1, 1, 1, author, "hi", reference=9, allowed_mentions={"parse": [], "replied_user": False})
    assert deliverable_pings(reply) == []


def test_select_menus_follow_discords_limits() -> None:
    def menu(**changes: Any) -> dict[str, Any]:
        options = [{"label": f"[{n}] story.txt", "value": str(n), "description": "Quote."} for n in range(1, 8)]
        select = {"type": SELECT_MENU, "custom_id": "sb:s:1:0", "options": options, **changes}
        return {"components": [{"type": 1, "components": [select]}]}

    assert message_problems(menu()) == []
    assert message_problems(menu(options=[{"label": "x", "value": str(n)} for n in range(26)]))
    assert message_problems(menu(options=[{"label": "x", "value": "1"}, {"label": "y", "value": "1"}]))
    assert message_problems(menu(options=[{"label": "x" * 101, "value": "1"}]))
    assert message_problems(menu(options=[{"label": "x", "value": "1", "description": "d" * 101}]))
    button = {"type": 2, "style": 2, "custom_id": "b", "label": "ok"}
    crowded = menu()
    crowded["components"][0]["components"].append(button)
    assert message_problems(crowded)  # a menu fills its row alone


async def test_replies_reactions_and_nicknames_travel_as_on_discord(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    gateway = await connect(fake, http)
    await gateway.event("READY")
    author, friend = fake.new_user("author"), fake.new_user("friend")
    guild = await fake.add_guild("replies", members=(author, friend), nicknames={friend.id: "Best Friend"})
    await gateway.event("GUILD_CREATE")
    first = await fake.say(guild.general, friend, "hello")
    await gateway.event("MESSAGE_CREATE")
    reply = await fake.say(guild.general, author, "hi back", reply_to=first)
    event = (await gateway.event("MESSAGE_CREATE"))["d"]
    assert event["message_reference"]["message_id"] == str(first.id)
    assert event["referenced_message"]["id"] == str(first.id)
    assert event["mentions"][0]["member"]["nick"] == "Best Friend"  # a reply pings its author by default

    headers = {"Authorization": f"Bot {fake.app.token}"}
    other = await fake.add_guild("elsewhere")
    async with http.post(
        f"{fake.api_url}/channels/{other.general.id}/messages",
        json={"content": "x", "message_reference": {"message_id": str(reply.id)}},
        headers=headers,
    ) as cross:
        assert cross.status == 400  # a reply stays in its channel
    url = f"{fake.api_url}/channels/{guild.general.id}/messages/{reply.id}/reactions/%F0%9F%91%8D/@me"
    async with http.put(url, headers=headers) as reacted:
        assert reacted.status == 204
    assert fake.message(reply.id).reactions == [("👍", fake.app.user.id)]
