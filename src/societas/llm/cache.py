"""Response cache: SQLite, keyed by the request's content hash (see ``LLMRequest.cache_key``)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from societas.typing import LLMResponse, StoreError

__all__ = ["ResponseCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    finish_reason TEXT,
    created REAL NOT NULL
);
"""


def _advice(exc: Exception) -> str:
    """What to do about a cache that does not open: delete it only when it is damaged."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return f"{exc}; it is damaged: delete it, or pass another --cache"
    if "readonly" in text or "read-only" in text:
        return (
            f"{exc}; the file or its folder is read-only: make it writable or pass another --cache"
        )
    if "locked" in text or "busy" in text:
        return f"{exc}; another process holds it locked: wait for it or pass another --cache"
    if "disk" in text or "full" in text or isinstance(exc, OSError):
        # A full disk or a file-size limit: SQLite says "disk I/O error" or "database or disk
        # is full". The file is sound; only the write failed.
        return f"{exc}; is its disk full? free space, or pass another --cache"
    return (
        f"{exc}; check that the path exists, is writable and not too long, or pass another --cache"
    )


class ResponseCache:
    """Persistent map from request hash to response. Safe to share between runs."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"{self.path}: not a usable response cache ({_advice(exc)})") from exc

    def _failed(self, doing: str, exc: sqlite3.Error) -> StoreError:
        """A cache that fails mid-run is the cache's problem, said as such: not the run store's
        (which such a failure leaves sound)."""
        return StoreError(f"{self.path}: could not {doing} the response cache ({_advice(exc)})")

    def get(self, key: str) -> LLMResponse | None:
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT model, text, prompt_tokens, completion_tokens, finish_reason "
                    "FROM responses WHERE key = ?",
                    (key,),
                ).fetchone()
        except sqlite3.Error as exc:
            raise self._failed("read", exc) from exc
        if row is None:
            return None
        return LLMResponse(
            model=row[0],
            text=row[1],
            prompt_tokens=row[2],
            completion_tokens=row[3],
            finish_reason=row[4],
            attempts=0,
            cached=True,
        )

    def put(self, key: str, response: LLMResponse) -> None:
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT OR REPLACE INTO responses "
                    "(key, model, text, prompt_tokens, completion_tokens, finish_reason, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        response.model,
                        response.text,
                        response.prompt_tokens,
                        response.completion_tokens,
                        response.finish_reason,
                        time.time(),
                    ),
                )
        except sqlite3.Error as exc:
            raise self._failed("write to", exc) from exc

    def models(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT model FROM responses ORDER BY model")
            return [r[0] for r in rows.fetchall()]

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
