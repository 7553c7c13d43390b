"""The bot's persistent state (bot.state) on real SQLite files and a real PostgreSQL server.

Every API test runs on both backends. The PostgreSQL server is started by the tests themselves
(tests/postgres_server.py) and each test gets a fresh database in it. Time comes from a fake clock,
so no test depends on how fast the machine is.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text

from bot.state import (
    AnswerNotFound,
    Database,
    QuestionStats,
    StateError,
    UnansweredQuestion,
    VoteCounts,
    is_expired,
    nearest_rank,
    open_database,
    question_key,
)
from bot.state.engine import resolve_url
from bot.state.migrate import MIGRATION_LOCK_KEY, current_revision, head_revision
from bot.state.schema import metadata
from tests.postgres_server import (
    APP_PASSWORD,
    PostgresServer,
    PostgresUnavailable,
    find_bin_dir,
    free_port,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TABLES = {"answers", "conversations", "turns", "votes", "questions", "guild_settings", "meta", "alembic_version"}
PAYLOAD = {"text": "Alice fell [1].", "citations": [{"n": 1, "source": "alice.txt", "passage": "Down, down, down."}]}
# Long enough for a loaded CI machine; only reached if something is broken.
PROCESS_TIMEOUT_S = 120


@dataclass
class FakeClock:
    """The time the database sees; tests move it explicitly."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Target:
    """Where a test's state lives: a SQLite data directory, or a PostgreSQL URL as operators write it."""

    backend: str
    url: str | None
    data_dir: Path
    clock: FakeClock = field(default_factory=FakeClock)

    def open(self) -> Database:
        return open_database(self.url, self.data_dir, clock=self.clock)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite":
        return Target("sqlite", None, tmp_path / "data")
    return Target("postgresql", request.getfixturevalue("postgres_url"), tmp_path / "unused")


@pytest.fixture
def clock(target: Target) -> FakeClock:
    return target.clock


@pytest.fixture
def db(target: Target) -> Iterator[Database]:
    database = target.open()
    yield database
    database.close()


def save(db: Database, question: str = "Why did Alice fall?", **fields: Any) -> str:
    values: dict[str, Any] = {"collection": "alice", "question": question, "payload": PAYLOAD, "guild_id": "g1"}
    values.update(fields)
    return db.save_answer(**values)


def log(db: Database, question: str, *, grounded: bool, latency_ms: float = 100.0, guild_id: str | None = "g1") -> None:
    db.log_question(guild_id=guild_id, collection="alice", question=question, grounded=grounded, latency_ms=latency_ms)


# Opening, migrations, restarts ---------------------------------------------------------------------


def test_empty_url_means_a_wal_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    for url in (None, "", "  "):
        with open_database(url, data_dir) as db:
            assert db.backend == "sqlite"
            with db.engine.connect() as connection:
                pragmas = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in PRAGMAS}
            assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30_000}
    assert (data_dir / "storybot.sqlite3").is_file()


PRAGMAS = ("journal_mode", "foreign_keys", "busy_timeout")


def test_migrations_reach_head_and_match_the_metadata(db: Database) -> None:
    with db.engine.connect() as connection:
        assert current_revision(connection) == head_revision() == "0002"
        assert set(inspect(connection).get_table_names()) == TABLES
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_reopening_applies_nothing_and_keeps_every_kind_of_state(target: Target) -> None:
    with target.open() as db:
        answer_id = save(db, message_id=None)
        db.attach_message(answer_id, "m1")
        db.record_vote(answer_id, "user-a", -1, message_id="m1")
        db.set_vote_reason(answer_id, "user-a", "missed the rabbit")
        db.start_conversation("thread-1", collection="alice", guild_id="g1", starter_user_id="u1")
        db.add_turn("thread-1", "Who?", "Alice.", answer_id)
        log(db, "Who?", grounded=True)
        db.update_guild_settings("g1", {"ephemeral": True})
        db.set_meta("commands-hash", "abc123")

    with target.open() as db:  # a restart
        assert db.answer_for_message("m1") == db.get_answer(answer_id)
        assert db.get_answer(answer_id).payload == PAYLOAD
        [vote] = db.votes_for(answer_id)
        assert (vote.vote, vote.reason, vote.message_id) == (-1, "missed the rabbit", "m1")
        assert db.get_conversation("thread-1").starter_user_id == "u1"
        assert [turn.question for turn in db.recent_turns("thread-1")] == ["Who?"]
        assert db.question_stats("g1").asked == 1
        assert db.get_guild_settings("g1") == {"ephemeral": True}
        assert db.get_meta("commands-hash") == "abc123"
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_a_database_at_the_first_revision_is_upgraded_on_open(target: Target) -> None:
    """A bot deployed with revision 0001 keeps its data when a newer bot migrates the schema."""
    with target.open() as db:
        answer_id = save(db)
        db.add_turn("t1", "q", "a", answer_id)
        with db.engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_turns_answer_id"))
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    with target.open() as db:
        with db.engine.connect() as connection:
            assert current_revision(connection) == "0002"
            assert "ix_turns_answer_id" in {index["name"] for index in inspect(connection).get_indexes("turns")}
        assert db.turn_for_answer(answer_id).question == "q"


def test_a_schema_from_a_newer_bot_is_a_clear_error(target: Target) -> None:
    with target.open() as db, db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StateError, match=r"9999.*newer version"):
        target.open()


# Answers -------------------------------------------------------------------------------------------


def test_answers_are_saved_found_by_id_and_by_message(db: Database) -> None:
    payload = {"text": "«Curiouser» — 好奇", "citations": [], "nested": {"ok": [1, 2.5, None, True]}}
    answer_id = save(db, payload=payload, channel_id="c1", kind="summary")
    saved = db.get_answer(answer_id)
    assert saved is not None
    assert (saved.kind, saved.guild_id, saved.channel_id, saved.message_id) == ("summary", "g1", "c1", None)
    assert saved.payload == payload
    assert saved.created_at == START
    assert saved.created_at.tzinfo is UTC
    assert db.answer_for_message("m9") is None
    db.attach_message(answer_id, "m9")
    assert db.answer_for_message("m9").answer_id == answer_id
    assert len({answer_id, save(db), save(db)}) == 3


def test_answer_lookups_and_bad_input(db: Database) -> None:
    assert db.get_answer("missing") is None
    with pytest.raises(AnswerNotFound):
        db.attach_message("missing", "m1")
    with pytest.raises(ValueError, match="kind"):
        save(db, kind="essay")
    with pytest.raises(TypeError, match="dict"):
        save(db, payload=["not", "a", "dict"])


def test_timestamps_are_stored_and_returned_in_utc(target: Target) -> None:
    target.clock.now = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    with target.open() as db:
        saved = db.get_answer(save(db))
    assert saved is not None
    assert saved.created_at == START
    assert saved.created_at.utcoffset() == timedelta(0)


# Conversations -------------------------------------------------------------------------------------


def test_conversation_records_its_starter_once(db: Database, clock: FakeClock) -> None:
    first = db.start_conversation("t1", collection="alice", guild_id="g1", starter_user_id="u1")
    clock.advance(minutes=1)
    again = db.start_conversation("t1", collection="other", guild_id="g1", starter_user_id="u2")
    assert again == first == db.get_conversation("t1")
    assert (first.starter_user_id, first.collection, first.created_at) == ("u1", "alice", START)
    assert db.get_conversation("t2") is None


def test_turns_are_numbered_and_the_latest_come_back_oldest_first(db: Database) -> None:
    answer_id = save(db)
    for n in range(1, 6):
        db.add_turn("t1", f"q{n}", f"a{n}", answer_id if n == 5 else None)
    db.add_turn("t2", "other", "thread")
    recent = db.recent_turns("t1", limit=3)
    assert [(turn.seq, turn.question, turn.answer_text) for turn in recent] == [
        (3, "q3", "a3"),
        (4, "q4", "a4"),
        (5, "q5", "a5"),
    ]
    assert recent[-1].answer_id == answer_id
    assert [turn.seq for turn in db.recent_turns("t2")] == [1]
    assert db.recent_turns("t1", limit=0) == []
    assert db.recent_turns("nobody") == []


# Votes ---------------------------------------------------------------------------------------------


def test_a_reply_finds_the_turn_behind_an_answer_and_the_turns_up_to_it(db: Database) -> None:
    first, second = save(db), save(db)
    db.add_turn("t1", "q1", "a1", first)
    db.add_turn("t1", "q2", "a2", second)
    db.add_turn("t1", "q3", "a3")
    turn = db.turn_for_answer(first)
    assert (turn.conversation_id, turn.seq) == ("t1", 1)
    assert db.turn_for_answer(save(db)) is None
    assert [t.question for t in db.recent_turns("t1", limit=5, through_seq=2)] == ["q1", "q2"]
    assert [t.question for t in db.recent_turns("t1", limit=1, through_seq=2)] == ["q2"]


def test_one_vote_per_person_per_answer_and_it_can_change(db: Database, clock: FakeClock) -> None:
    answer_id = save(db, message_id="m1")
    first = db.record_vote(answer_id, "user-a", 1, message_id="m1")
    clock.advance(minutes=5)
    changed = db.record_vote(answer_id, "user-a", -1, message_id="m1")
    db.record_vote(answer_id, "user-b", 1, message_id="m1")
    assert [(vote.user_hash, vote.vote) for vote in db.votes_for(answer_id)] == [("user-a", -1), ("user-b", 1)]
    assert changed.created_at == first.created_at == START
    assert changed.updated_at == START + timedelta(minutes=5)
    assert db.get_answer(changed.answer_id).payload == PAYLOAD


def test_a_reason_is_one_line_and_belongs_to_the_vote_it_explains(db: Database) -> None:
    answer_id = save(db)
    assert not db.set_vote_reason(answer_id, "user-a", "no vote yet")
    db.record_vote(answer_id, "user-a", -1, message_id="m1")
    assert db.set_vote_reason(answer_id, "user-a", "  quotes the\nwrong   chapter \n")
    assert db.record_vote(answer_id, "user-a", -1, message_id="m2").reason == "quotes the wrong chapter"
    flipped = db.record_vote(answer_id, "user-a", 1, message_id="m3")
    assert (flipped.reason, flipped.message_id) == (None, "m3")
    db.set_vote_reason(answer_id, "user-a", "   ")
    assert db.votes_for(answer_id)[0].reason is None


def test_votes_need_an_existing_answer_and_a_valid_value(db: Database) -> None:
    with pytest.raises(AnswerNotFound):
        db.record_vote("missing", "user-a", 1, message_id="m1")
    with pytest.raises(ValueError, match="vote"):
        db.record_vote(save(db), "user-a", 2, message_id="m1")


def test_vote_counts_per_guild_since_a_moment(db: Database, clock: FakeClock) -> None:
    old, new, elsewhere, direct = save(db), save(db), save(db, guild_id="g2"), save(db, guild_id=None)
    db.record_vote(old, "a", 1, message_id="m")
    since = clock.advance(days=1)
    for user, vote in (("a", -1), ("b", 1), ("c", 1)):
        db.record_vote(new, user, vote, message_id="m")
    db.record_vote(elsewhere, "a", -1, message_id="m")
    db.record_vote(direct, "a", 1, message_id="m")
    assert db.vote_counts("g1", since) == VoteCounts(up=2, down=1)
    assert db.vote_counts("g1") == VoteCounts(up=3, down=1)
    assert db.vote_counts("g2") == VoteCounts(up=0, down=1)
    assert db.vote_counts(None) == VoteCounts(up=1, down=0)
    assert db.vote_counts("g3") == VoteCounts(up=0, down=0)


# Question log and stats -----------------------------------------------------------------------------


def test_question_stats_on_known_data(db: Database, clock: FakeClock) -> None:
    for latency in range(1, 21):  # 1..20 ms, every fourth refused
        log(db, f"q{latency}", grounded=latency % 4 != 0, latency_ms=float(latency))
    log(db, "other guild", grounded=False, latency_ms=1000.0, guild_id="g2")
    assert db.question_stats("g1") == QuestionStats(
        asked=20, answered=15, refused=5, latency_p50_ms=10.0, latency_p95_ms=19.0
    )
    since = clock.advance(hours=1)
    log(db, "late", grounded=True, latency_ms=7.5)
    assert db.question_stats("g1", since) == QuestionStats(1, 1, 0, 7.5, 7.5)
    assert db.question_stats("g3") == QuestionStats(0, 0, 0, None, None)


def test_top_unanswered_groups_case_and_whitespace_variants(db: Database, clock: FakeClock) -> None:
    for question in ("Who is the Hatter?", "who is  the hatter?", " WHO IS THE HATTER? ", "Why ravens?", "why RAVENS?"):
        log(db, question, grounded=False)
        clock.advance(minutes=1)
    log(db, "Where is the cat?", grounded=False)
    log(db, "Who is the Hatter?", grounded=True)  # answered: not counted
    log(db, "Who is the Hatter?", grounded=False, guild_id="g2")  # another guild
    top = db.top_unanswered("g1", limit=2)
    assert [(entry.question.casefold().split(), entry.count) for entry in top] == [
        (["who", "is", "the", "hatter?"], 3),
        (["why", "ravens?"], 2),
    ]
    assert top[1].last_asked == START + timedelta(minutes=4)
    assert db.top_unanswered("g1", since=START + timedelta(minutes=5)) == [
        UnansweredQuestion("Where is the cat?", 1, START + timedelta(minutes=5))
    ]


def test_nearest_rank_and_question_key() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([5.0], 95) == 5.0
    assert nearest_rank([10.0, 20.0, 30.0, 40.0], 50) == 20.0
    assert nearest_rank([10.0, 20.0, 30.0, 40.0], 95) == 40.0
    assert nearest_rank([float(n) for n in range(1, 101)], 95) == 95.0
    with pytest.raises(ValueError):
        nearest_rank([1.0], 0)
    assert question_key("  Who\tIS\n the  Hatter? ") == "who is the hatter?"


# Settings and meta ---------------------------------------------------------------------------------


def test_guild_settings_merge_and_none_removes_a_key(db: Database) -> None:
    assert db.get_guild_settings("g1") == {}
    assert db.update_guild_settings("g1", {"collection": "alice", "ephemeral": True}) == {
        "collection": "alice",
        "ephemeral": True,
    }
    assert db.update_guild_settings("g1", {"ephemeral": None, "limit": 3}) == {"collection": "alice", "limit": 3}
    assert db.get_guild_settings("g1") == {"collection": "alice", "limit": 3}
    assert db.get_guild_settings("g2") == {}


def test_meta_holds_values_like_the_command_hash(db: Database) -> None:
    assert db.get_meta("commands-hash") is None
    db.set_meta("commands-hash", "v1")
    db.set_meta("commands-hash", "v2")
    assert db.get_meta("commands-hash") == "v2"
    assert db.setdefault_meta("salt", "first") == "first"
    assert db.setdefault_meta("salt", "second") == "first"


# Retention and export ------------------------------------------------------------------------------


def test_is_expired() -> None:
    now = START
    assert is_expired(now - timedelta(days=31), 30, now)
    assert not is_expired(now - timedelta(days=30), 30, now)
    assert not is_expired(now - timedelta(days=3650), None, now)
    assert is_expired((now - timedelta(days=2)).replace(tzinfo=None), 1, now)  # naive means UTC
    plus_two = timezone(timedelta(hours=2))
    assert is_expired(datetime(2025, 3, 1, 13, 59, tzinfo=plus_two), 0, now)  # 11:59 UTC
    assert not is_expired(datetime(2025, 3, 1, 14, 0, tzinfo=plus_two), 0, now)  # 12:00 UTC
    with pytest.raises(ValueError):
        is_expired(now, -1, now)


def test_purge_deletes_old_answers_votes_turns_but_keeps_the_question_log(db: Database, clock: FakeClock) -> None:
    old_answer, old_summary = save(db), save(db, kind="summary")
    db.record_vote(old_summary, "a", 1, message_id="m0")  # a summary answers no question: no feedback to keep
    db.start_conversation("old-thread", collection="alice")
    db.add_turn("old-thread", "q", "a", old_answer)
    db.log_question(guild_id="g1", collection="alice", question="q", grounded=True, latency_ms=5, answer_id=old_answer)
    db.start_conversation("long-thread", collection="alice")
    clock.advance(days=40)
    new_answer = save(db)
    db.record_vote(new_answer, "a", 1, message_id="m2")
    db.add_turn("long-thread", "q2", "a2", new_answer)

    counts = db.purge_older_than(30)

    assert (counts.answers, counts.votes, counts.turns, counts.conversations) == (2, 1, 1, 1)
    assert db.get_answer(old_answer) is None
    assert db.get_answer(old_summary) is None
    assert db.votes_for(old_summary) == []
    assert db.get_answer(new_answer) is not None
    assert len(db.votes_for(new_answer)) == 1
    assert db.get_conversation("old-thread") is None
    assert db.recent_turns("old-thread") == []
    assert db.get_conversation("long-thread") is not None  # it still has a recent turn
    assert db.question_stats("g1").asked == 1
    assert db.purge_older_than(30).answers == 0


def test_purge_keeps_voted_answers_for_the_feedback_export(db: Database, clock: FakeClock) -> None:
    voted = save(db, question="Who painted the roses?")
    db.record_vote(voted, "a", -1, message_id="m1")
    db.set_vote_reason(voted, "a", "wrong quote")
    db.start_conversation("thread", collection="alice")
    db.add_turn("thread", "Who painted the roses?", "The gardeners.", voted)
    clock.advance(days=40)
    db.record_vote(voted, "b", 1, message_id="m1")  # a late vote on an old answer stays with it

    counts = db.purge_older_than(30)

    assert (counts.answers, counts.votes, counts.turns) == (0, 0, 1)  # the turn goes; the feedback stays
    assert db.get_answer(voted) is not None
    assert sorted((v.vote, v.reason) for v in db.votes_for(voted)) == [(-1, "wrong quote"), (1, None)]
    rows = [row for row in db.iter_feedback("alice") if row.kind == "vote"]
    assert {(row.question, row.vote) for row in rows} == {("Who painted the roses?", -1), ("Who painted the roses?", 1)}


def test_guilds_with_questions_lists_each_scope_once(db: Database, clock: FakeClock) -> None:
    log(db, "old", grounded=True, guild_id="999")
    since = clock.advance(days=10)
    for guild_id in ("20", "100", None, "20", "3"):
        log(db, "q", grounded=False, guild_id=guild_id)
    assert db.guilds_with_questions(since) == ["3", "20", "100", None]  # ids in numeric order, then DMs
    assert db.guilds_with_questions() == ["3", "20", "100", "999", None]


def test_feedback_joins_votes_to_answers_and_adds_refused_questions(db: Database) -> None:
    answer_id = save(db, message_id="m1")
    db.record_vote(answer_id, "a", -1, message_id="m1")
    db.set_vote_reason(answer_id, "a", "wrong quote")
    db.record_vote(save(db, collection="other"), "a", 1, message_id="m2")
    log(db, "What is a snark?", grounded=False)
    log(db, "Who?", grounded=True)

    rows = list(db.iter_feedback("alice"))

    assert [row.kind for row in rows] == ["vote", "refused"]
    vote, refused = rows
    assert (vote.answer_id, vote.payload, vote.vote, vote.reason, vote.message_id) == (
        answer_id,
        PAYLOAD,
        -1,
        "wrong quote",
        "m1",
    )
    assert (refused.question, refused.answer_id, refused.payload) == ("What is a snark?", None, None)
    assert len(list(db.iter_feedback(None))) == 3


# Threads and processes -----------------------------------------------------------------------------


def test_worker_threads_can_share_one_database(db: Database) -> None:
    answer_id = save(db)

    def work(n: int) -> None:
        db.add_turn("busy-thread", f"q{n}", f"a{n}")
        db.record_vote(answer_id, f"user-{n % 5}", 1 if n % 2 else -1, message_id=f"m{n}")
        db.update_guild_settings("g1", {f"key-{n}": n})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(40)))

    assert [turn.seq for turn in db.recent_turns("busy-thread", limit=100)] == list(range(1, 41))
    assert len(db.votes_for(answer_id)) == 5
    assert db.get_guild_settings("g1") == {f"key-{n}": n for n in range(40)}


RACE_SCRIPT = """
import sys
from pathlib import Path
from bot.state import open_database
print("ready", flush=True)
sys.stdin.readline()
open_database(sys.argv[1] or None, Path(sys.argv[2])).close()
print("migrated", flush=True)
"""


def start_migrator(target: Target) -> subprocess.Popen[str]:
    """An OS process that opens (and so migrates) the database once told to go."""
    process = subprocess.Popen(
        [sys.executable, "-c", RACE_SCRIPT, target.url or "", str(target.data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready", process.communicate()[1]
    return process


def release(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()


def finish(process: subprocess.Popen[str]) -> None:
    stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT_S)
    assert process.returncode == 0, stderr
    assert stdout.strip() == "migrated"


def assert_migrated_once(target: Target) -> None:
    with target.open() as db, db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0002"]
        assert set(inspect(connection).get_table_names()) == TABLES


def test_processes_starting_together_migrate_once(target: Target) -> None:
    """Both processes are loaded and waiting, then released at once onto a fresh database."""
    processes = [start_migrator(target), start_migrator(target)]
    release(processes)
    for process in processes:
        finish(process)
    assert_migrated_once(target)


def test_postgres_migration_waits_for_the_advisory_lock(postgres_url: str, tmp_path: Path) -> None:
    """While another session holds the migration lock, a starting bot waits instead of migrating."""
    target = Target("postgresql", postgres_url, tmp_path)
    holder_engine = create_engine(resolve_url(postgres_url, tmp_path))
    try:
        with holder_engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            holder.commit()
            process = start_migrator(target)
            release([process])
            wait_until(lambda: advisory_lock_waiters(holder) == 1, process)
            assert not inspect(holder).has_table("alembic_version")
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            holder.commit()
        finish(process)
    finally:
        holder_engine.dispose()
    assert_migrated_once(target)


def advisory_lock_waiters(connection: Connection) -> int:
    statement = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    count = connection.execute(statement).scalar_one()
    connection.commit()
    return int(count)


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    """Poll for a state (not a duration): fails only if the process dies or never gets there."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while not condition():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the migrator never queued for the lock"
        time.sleep(0.02)


# URLs and errors -----------------------------------------------------------------------------------


def test_a_postgres_url_works_exactly_as_operators_write_it(postgres_url: str, tmp_path: Path) -> None:
    assert postgres_url.startswith("postgresql://storybot:")
    assert resolve_url(postgres_url, tmp_path).drivername == "postgresql+psycopg"
    assert resolve_url(postgres_url.replace("postgresql://", "postgres://"), tmp_path).drivername == (
        "postgresql+psycopg"
    )
    with open_database(postgres_url, tmp_path) as db:
        assert db.backend == "postgresql"
        assert APP_PASSWORD not in db.display_url
        assert db.get_answer(save(db)) is not None
    assert not (tmp_path / "storybot.sqlite3").exists()


def assert_clear_error(error: pytest.ExceptionInfo[StateError], secret: str) -> None:
    message = str(error.value)
    assert secret not in message
    assert "\n" not in message
    assert "Cannot open the database postgresql+psycopg://storybot:***@127.0.0.1:" in message


def test_an_unreachable_server_is_one_clear_line_without_the_password(tmp_path: Path) -> None:
    secret = "very-secret-password"
    with pytest.raises(StateError) as error:
        open_database(f"postgresql://storybot:{secret}@127.0.0.1:{free_port()}/storybot", tmp_path)
    assert_clear_error(error, secret)


def test_a_wrong_password_is_reported_without_it(postgres_server: PostgresServer, tmp_path: Path) -> None:
    secret = "not-the-password"
    with pytest.raises(StateError) as error:
        open_database(postgres_server.url("postgres", password=secret), tmp_path)
    assert_clear_error(error, secret)
    assert "password authentication failed" in str(error.value)


def test_postgres_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(StateError, match=r"pip install -e '\.\[postgres\]'"):
        open_database("postgresql://u:p@127.0.0.1:5432/db", tmp_path)


@pytest.mark.parametrize("url", ["not a url", "mysql://u:p@localhost/db"])
def test_unusable_urls_are_state_errors(url: str, tmp_path: Path) -> None:
    with pytest.raises(StateError):
        open_database(url, tmp_path)


def test_missing_postgres_binaries_are_reported_for_skipping(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PostgresUnavailable, match="initdb"):
        find_bin_dir(debian_root=tmp_path)


def test_an_unusable_data_dir_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StateError, match="data directory"):
        open_database(None, blocker / "data")
