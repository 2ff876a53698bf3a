"""SQLite persistence of pools, nodes, jobs and tasks (one JSON document per row)."""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from devstack.batchsvc.errors import ConfigurationError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pools (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    pool_id TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (pool_id, id)
);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    job_id TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (job_id, id)
);
"""

SCHEMA_VERSION = 1


class Store:
    """Write-through storage; callers serialise access (the registry holds one lock)."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        # One service per state dir: two would both run every task.
        self._lock_file = open(state_dir / "batch.lock", "a+")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            self._lock_file.close()
            raise ConfigurationError(
                f"the state dir {state_dir} is in use by another service"
            ) from e
        self.path = state_dir / "batch.sqlite3"
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._closed = False
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise RuntimeError(
                f"state database {self.path} has schema {row[0]}, expected {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._db.close()
            self._lock_file.close()

    def load(self, table: str) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(f"SELECT seq, doc FROM {table} ORDER BY seq").fetchall()
        return [(int(seq), json.loads(doc)) for seq, doc in rows]

    def put_pool(self, seq: int, doc: dict[str, Any]) -> None:
        self._put(
            "INSERT OR REPLACE INTO pools (id, seq, doc) VALUES (?, ?, ?)",
            (doc["id"], seq, json.dumps(doc)),
        )

    def delete_pool(self, pool_id: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._db.execute("DELETE FROM nodes WHERE pool_id=?", (pool_id,))
            self._db.execute("DELETE FROM pools WHERE id=?", (pool_id,))

    def put_node(self, pool_id: str, seq: int, doc: dict[str, Any]) -> None:
        self._put(
            "INSERT OR REPLACE INTO nodes (pool_id, id, seq, doc) VALUES (?, ?, ?, ?)",
            (pool_id, doc["id"], seq, json.dumps(doc)),
        )

    def delete_node(self, pool_id: str, node_id: str) -> None:
        self._put("DELETE FROM nodes WHERE pool_id=? AND id=?", (pool_id, node_id))

    def put_job(self, seq: int, doc: dict[str, Any]) -> None:
        self._put(
            "INSERT OR REPLACE INTO jobs (id, seq, doc) VALUES (?, ?, ?)",
            (doc["id"], seq, json.dumps(doc)),
        )

    def delete_job(self, job_id: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM tasks WHERE job_id=?", (job_id,))
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
            self._db.execute("COMMIT")

    def put_task(self, job_id: str, seq: int, doc: dict[str, Any]) -> None:
        self._put(
            "INSERT OR REPLACE INTO tasks (job_id, id, seq, doc) VALUES (?, ?, ?, ?)",
            (job_id, doc["id"], seq, json.dumps(doc)),
        )

    def put_tasks(self, job_id: str, rows: list[tuple[int, dict[str, Any]]]) -> None:
        with self._lock:
            if self._closed:
                return
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO tasks (job_id, id, seq, doc) VALUES (?, ?, ?, ?)",
                [(job_id, doc["id"], seq, json.dumps(doc)) for seq, doc in rows],
            )
            self._db.execute("COMMIT")

    def delete_task(self, job_id: str, task_id: str) -> None:
        self._put("DELETE FROM tasks WHERE job_id=? AND id=?", (job_id, task_id))

    def _put(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            if not self._closed:  # a late write from a thread still ending at shutdown
                self._db.execute(sql, args)
