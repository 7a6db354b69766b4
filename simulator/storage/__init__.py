"""Durable storage for practice calls: SQLite (WAL) by default, any SQLAlchemy URL (PostgreSQL) by setting.

Use `Store.open()`; it creates the database, upgrades its schema (Alembic) and sweeps turns a crash left
behind. Callers get pydantic records (`SessionRecord`, `TurnRecord`, ...), never ORM objects.
"""

from simulator.storage.engine import DATA_DIR_ENV, default_data_dir
from simulator.storage.export import ExportFormat, write_export_file
from simulator.storage.progress import Progress, progress_csv
from simulator.storage.records import (
    GuardEventRecord,
    IdleSweepReport,
    Mode,
    MoodRecord,
    SessionId,
    SessionRecord,
    SessionSummary,
    SweepReport,
    TraineeRecord,
    TurnRecord,
    TurnStatus,
)
from simulator.storage.store import Store
from simulator.storage.text import TEXT_CANON, canonical_text, persona_content_hash

__all__ = [
    "DATA_DIR_ENV",
    "TEXT_CANON",
    "ExportFormat",
    "GuardEventRecord",
    "IdleSweepReport",
    "Mode",
    "MoodRecord",
    "Progress",
    "SessionId",
    "SessionRecord",
    "SessionSummary",
    "Store",
    "SweepReport",
    "TraineeRecord",
    "TurnRecord",
    "TurnStatus",
    "canonical_text",
    "default_data_dir",
    "persona_content_hash",
    "progress_csv",
    "write_export_file",
]
