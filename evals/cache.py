"""A disk cache of grades, so a rerun of a suite costs no model calls.

`CachedGrader` wraps any `TurnGrader`. The key is (grader name, grader version, hash of the request
JSON); the LLM grader's version already names the model, prompt version, schema version and
parameters, so a change to any of them misses the cache. Only `graded` results are cached: an
`ungraded` result (a timeout, a refusal) is retried on the next run rather than frozen.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from simulator.grading.base import GradeRequest, TurnGrader
from simulator.grading.labels import TurnGrade


def cache_key(grader_name: str, grader_version: str, request: GradeRequest) -> str:
    """A stable hex key for one grading request by one grader version."""
    payload = json.dumps(
        {"grader": grader_name, "version": grader_version, "request": request.model_dump(mode="json")},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class GradeCache:
    """Grades stored in one SQLite file (WAL; safe for several runs at once)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS grades (key TEXT PRIMARY KEY, grader TEXT, version TEXT, grade TEXT)"
        )
        self._db.commit()

    def get(self, key: str) -> TurnGrade | None:
        """The cached grade for a key, or None (a corrupt row counts as a miss)."""
        row = self._db.execute("SELECT grade FROM grades WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return TurnGrade.model_validate_json(row[0])
        except ValueError:
            return None

    def put(self, key: str, grade: TurnGrade) -> None:
        """Store a grade (committed before returning)."""
        self._db.execute(
            "INSERT OR REPLACE INTO grades VALUES (?, ?, ?, ?)",
            (key, grade.grader, grade.grader_version, grade.model_dump_json()),
        )
        self._db.commit()

    def __contains__(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM grades WHERE key = ?", (key,)).fetchone() is not None

    def close(self) -> None:
        """Close the database file."""
        self._db.close()


@dataclass
class CacheStats:
    """Hits and misses of one run."""

    hits: int = 0
    misses: int = 0


class CachedGrader:
    """A `TurnGrader` that answers from the disk cache when it can and stores what it grades."""

    def __init__(self, inner: TurnGrader, cache: GradeCache) -> None:
        self.inner = inner
        self.cache = cache
        self.stats = CacheStats()

    @property
    def name(self) -> str:
        """The wrapped grader's name (the cache is invisible in results)."""
        return self.inner.name

    @property
    def version(self) -> str:
        """The wrapped grader's version."""
        return self.inner.version

    def is_cached(self, request: GradeRequest) -> bool:
        """True if grading this request would cost nothing."""
        return cache_key(self.name, self.version, request) in self.cache

    async def grade(self, request: GradeRequest) -> TurnGrade:
        """Return the cached grade or grade with the wrapped grader (caching only `graded` results)."""
        key = cache_key(self.name, self.version, request)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.hits += 1
            return hit
        self.stats.misses += 1
        grade = await self.inner.grade(request)
        if grade.status == "graded":
            self.cache.put(key, grade)
        return grade
