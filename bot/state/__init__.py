"""The bot's persistent state: SQLite by default, PostgreSQL for a fleet, migrated at start-up.

Independent of the rest of the bot: answers are stored as the JSON-able dicts the caller hands in.
"""

from bot.state.database import Database, open_database
from bot.state.engine import SQLITE_FILENAME
from bot.state.errors import AnswerNotFound, StateError
from bot.state.questions import nearest_rank, question_key
from bot.state.records import (
    AnswerKind,
    Conversation,
    FeedbackRow,
    PurgeCounts,
    QuestionStats,
    SavedAnswer,
    Turn,
    UnansweredQuestion,
    Vote,
    VoteCounts,
)
from bot.state.retention import is_expired

__all__ = [
    "SQLITE_FILENAME",
    "AnswerKind",
    "AnswerNotFound",
    "Conversation",
    "Database",
    "FeedbackRow",
    "PurgeCounts",
    "QuestionStats",
    "SavedAnswer",
    "StateError",
    "Turn",
    "UnansweredQuestion",
    "Vote",
    "VoteCounts",
    "is_expired",
    "nearest_rank",
    "open_database",
    "question_key",
]
