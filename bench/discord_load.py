"""Load test of the Discord face: many concurrent /ask through the fake Discord.

    python -m bench.discord_load [--asks 200] [--workers N] [--json] [--plot bench/out/discord_load.png]

The real bot (discord.py, MiniLM, Chroma in a temporary directory, the production options of
``storybot run``) runs on this process's event loop. The fake Discord (tests/fake_discord.py)
runs in a separate process, like the real remote service, so neither its work nor the load
generator competes with the bot for the GIL. The fake timestamps every interaction it sends and
every response it receives. Reported:

* ack latency: interaction sent → the bot's deferral arrived (Discord's limit is 3 s);
* answer latency: interaction sent → the answer replaced the "thinking…" message;
* event-loop lag: how late a 10 ms ticker on the bot's loop wakes up. A loop that is late does
  everything late (heartbeats, every other user's acknowledgement); the target is < 100 ms;
* the gaps between the heartbeats the fake received (the fake asks for one per second).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.answering.evaluation import percentile
from index.embeddings import force_offline

if TYPE_CHECKING:
    from bot.discord.client import StoryBot
    from tests.fake_discord import FakeDiscord

QUESTIONS = (
    "When will Petro meet Trump?",
    "Where will Trump meet Petro?",
    "What did Petro dare Trump to do?",
    "Who did the US military abduct?",
    "What will the central topics of the meeting be?",
    "What is the boiling point of mercury?",
    "How long did the phone call last?",
    "What did Trump call Colombia's president?",
)
ACK_LIMIT_MS = 3000.0
BLOCK_LIMIT_MS = 100.0


@dataclass
class Distribution:
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Distribution:
        return cls(
            percentile(values, 0.5), percentile(values, 0.95), percentile(values, 0.99), max(values, default=0.0)
        )


@dataclass
class Report:
    asks: int
    workers: int
    answered: int
    rejected: int
    wall_s: float
    ack_ms: Distribution
    answer_ms: Distribution
    loop_lag_ms: Distribution
    loop_blocks_over_100ms: int
    heartbeat_gap_ms: Distribution
    acks_over_3s: int

    @property
    def passed(self) -> bool:
        return self.acks_over_3s == 0 and self.loop_blocks_over_100ms == 0 and self.answered == self.asks


# --- the fake Discord's process ---------------------------------------------------------------


async def _new_guild(fake: FakeDiscord) -> int:
    return (await fake.add_guild("bench")).id


async def _ask(fake: FakeDiscord, guild_id: int, question: str) -> str:
    asked = await fake.slash("ask", user=fake.new_user(), guild=fake.guilds[guild_id], question=question)
    return (await fake.reply(asked, within=300)).text()


async def _fire(fake: FakeDiscord, guild_id: int, asks: int) -> dict[str, Any]:
    """Send every /ask at once, wait for every answer, and report what the fake measured."""
    guild, since = fake.guilds[guild_id], time.monotonic()
    sent = await asyncio.gather(
        *(
            fake.slash("ask", user=fake.new_user(f"user{i}"), guild=guild, question=QUESTIONS[i % len(QUESTIONS)])
            for i in range(asks)
        )
    )
    await asyncio.gather(*(fake.reply(interaction, within=900) for interaction in sent))
    beats = [[t for t in conn.heartbeats if t >= since] for conn in fake.connections]
    return {
        "ack_ms": [i.ack_latency * 1000 for i in sent if i.ack_latency is not None],
        "answer_ms": [i.answer_latency * 1000 for i in sent if i.answer_latency is not None],
        "answered": sum(1 for i in sent if (reply := i.final()) is not None and reply.embeds),
        "rejected": sum(len(i.rejections) for i in sent),
        "heartbeat_gap_ms": [(b - a) * 1000 for per_conn in beats for a, b in itertools.pairwise(per_conn)],
    }


COMMANDS: dict[str, Callable[..., Coroutine[Any, Any, Any]]] = {"guild": _new_guild, "ask": _ask, "fire": _fire}


def serve_fake(conn: Connection, heartbeat_ms: int) -> None:
    """The child process: run the fake and execute the parent's commands on its loop."""
    from tests.fake_discord import FakeDiscord

    with FakeDiscord(heartbeat_interval_ms=heartbeat_ms) as fake:
        conn.send((fake.api_url, fake.gateway_url, fake.app.token))
        while True:
            name, *args = conn.recv()
            if name == "stop":
                return
            conn.send(asyncio.run_coroutine_threadsafe(COMMANDS[name](fake, *args), fake.loop).result())


class RemoteFake:
    """The parent's handle on the fake Discord running in another process."""

    def __init__(self, heartbeat_ms: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve_fake, args=(child, heartbeat_ms), daemon=True)
        self._process.start()
        self.api_url, self.gateway_url, self.token = self._conn.recv()

    async def call(self, *command: Any) -> Any:
        def roundtrip() -> Any:
            self._conn.send(command)
            return self._conn.recv()

        return await asyncio.to_thread(roundtrip)

    def stop(self) -> None:
        self._conn.send(("stop",))
        self._process.join(30)


# --- the bot's process ------------------------------------------------------------------------


class LoopLagMonitor:
    """Measures how late the event loop wakes a task that sleeps 10 ms at a time."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.lags_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.period
            await asyncio.sleep(self.period)
            self.lags_ms.append(max(0.0, (loop.time() - expected) * 1000))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def start_bot(fake: RemoteFake, data_dir: Path, workers: int | None) -> tuple[StoryBot, asyncio.Task[None]]:
    """The bot as ``storybot run`` builds it (warm-up, frozen start-up objects)."""
    from bot.discord.client import build_bot
    from bot.service import build_service
    from bot.state import open_database
    from config import load_settings

    settings = load_settings(data_dir=str(data_dir), discord_token=fake.token, worker_threads=workers or 0)
    database = open_database(None, data_dir)  # the bot's state: a SQLite file, as `storybot run` defaults to
    bot = build_bot(settings, build_service(settings), database, freeze_gc=True, guild_ready_timeout=0.05)
    running = asyncio.create_task(bot.start(fake.token))
    await asyncio.wait_for(bot.wait_until_ready(), 300)
    return bot, running


async def run(asks: int, workers: int | None, heartbeat_ms: int) -> tuple[Report, dict[str, Any]]:
    from tests.fake_discord import patch_discord

    fake = RemoteFake(heartbeat_ms)
    try:
        with patch_discord(fake.api_url, fake.gateway_url), tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
            bot, running = await start_bot(fake, Path(tmp), workers)
            try:
                guild_id = await fake.call("guild")
                await fake.call("ask", guild_id, QUESTIONS[0])  # seed the guild's collection and indexes
                monitor = LoopLagMonitor()
                monitor.start()
                started = time.perf_counter()
                measured = await fake.call("fire", guild_id, asks)
                wall = time.perf_counter() - started
                await monitor.stop()
            finally:
                await bot.close()
                await running
                bot.state.database.close()
    finally:
        fake.stop()
    report = Report(
        asks=asks,
        workers=bot.backend.workers,
        answered=measured["answered"],
        rejected=measured["rejected"],
        wall_s=wall,
        ack_ms=Distribution.of(measured["ack_ms"]),
        answer_ms=Distribution.of(measured["answer_ms"]),
        loop_lag_ms=Distribution.of(monitor.lags_ms),
        loop_blocks_over_100ms=sum(1 for lag in monitor.lags_ms if lag > BLOCK_LIMIT_MS),
        heartbeat_gap_ms=Distribution.of(measured["heartbeat_gap_ms"]),
        acks_over_3s=sum(1 for a in measured["ack_ms"] if a > ACK_LIMIT_MS),
    )
    return report, measured


def print_table(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.asks} concurrent /ask through the fake Discord ({report.workers} answer workers)")
    for column in ("metric", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    rows = {
        "ack latency (ms)": report.ack_ms,
        "answer latency (ms)": report.answer_ms,
        "event-loop lag (ms)": report.loop_lag_ms,
        "heartbeat gap (ms)": report.heartbeat_gap_ms,
    }
    for name, dist in rows.items():
        table.add_row(name, *(f"{v:,.1f}" for v in (dist.p50, dist.p95, dist.p99, dist.max)))
    console = Console()
    console.print(table)
    console.print(
        f"answered {report.answered}/{report.asks} in {report.wall_s:.1f} s; refused by Discord: {report.rejected}; "
        f"acks over 3 s: {report.acks_over_3s}; loop late by > 100 ms: {report.loop_blocks_over_100ms} times; "
        f"[bold]{'PASS' if report.passed else 'FAIL'}[/] (target: every ack < 3 s, loop never blocked > 100 ms)"
    )


def plot(measured: dict[str, Any], path: Path) -> None:
    """Latency CDFs of acknowledgements and answers, with Discord's 3 s limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("ack_ms", "acknowledged"), ("answer_ms", "answered")):
        values = sorted(measured[key])
        ax.plot(values, [k / len(values) for k in range(1, len(values) + 1)], label=label)
    ax.axvline(ACK_LIMIT_MS, color="red", linestyle="--", label="Discord's 3 s acknowledgement limit")
    ax.set_xscale("log")
    ax.set_xlabel("ms after the interaction was sent")
    ax.set_ylabel("fraction of /ask")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Concurrent /ask through the fake Discord.")
    parser.add_argument("--asks", type=int, default=200, help="concurrent /ask interactions (default 200)")
    parser.add_argument("--workers", type=int, default=None, help="answer worker threads (default: CPU-sized)")
    parser.add_argument("--heartbeat-ms", type=int, default=1000, help="heartbeat interval the fake asks for")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--plot", type=Path, default=None, help="save a latency plot (needs matplotlib)")
    args = parser.parse_args(argv)
    force_offline()
    report, measured = asyncio.run(run(args.asks, args.workers, args.heartbeat_ms))
    if args.json:
        sys.stdout.write(json.dumps(asdict(report), indent=2) + "\n")
    else:
        print_table(report)
    if args.plot:
        plot(measured, args.plot)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
