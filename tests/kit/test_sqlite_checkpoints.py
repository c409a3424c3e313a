"""SQLite checkpoints run off the event loop (kit/db.py): after a commit, in a thread of
their own; a checkpoint that fails costs nothing but a warning; closing waits for one."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from activecommerce.kit import db as kdb


class Recorder:
    """Stands in for the checkpoint connection: records the thread of each call, then
    fails or passes the call on to the real connection."""

    def __init__(self, real: sqlite3.Connection, fail: bool) -> None:
        self.real, self.fail = real, fail
        self.threads: list[int] = []
        self.release = threading.Event()
        self.release.set()

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self.threads.append(threading.get_ident())
        self.release.wait(10)
        if self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        return self.real.execute(sql, *args)

    def close(self) -> None:
        self.real.close()


async def _write(db: kdb.SQLiteDatabase, value: int) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t (v) VALUES (?)", (value,))


def _in_database_file(path: Path, tmp: Path) -> list[int]:
    """The rows of t in the database file alone (a copy without its WAL): what
    checkpoints have copied there."""
    copy = tmp / "file-only.db"
    copy.write_bytes(path.read_bytes())
    other = sqlite3.connect(copy)
    try:
        return [row[0] for row in other.execute("SELECT v FROM t ORDER BY v")]
    except sqlite3.OperationalError:  # not even the table yet
        return []
    finally:
        other.close()


@pytest.mark.parametrize("fail", [False, True])
async def test_checkpoints_run_in_a_thread_and_a_failed_one_loses_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fail: bool,
) -> None:
    monkeypatch.setattr(kdb, "CHECKPOINT_SECONDS", 0.0)
    path = tmp_path / "c.db"
    db = kdb.SQLiteDatabase(str(path))
    recorder = Recorder(db._checkpointer, fail)
    db._checkpointer = recorder  # type: ignore[assignment]
    caplog.set_level(logging.WARNING, logger="activecommerce.db")
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (v INTEGER)")
    for value in range(5):
        await _write(db, value)
        task = db._checkpointing
        assert task is not None or recorder.threads  # one was started by this commit
        if task is not None:
            await task
    assert recorder.threads
    assert threading.get_ident() not in recorder.threads  # never on the event loop
    rows = await db.fetchall("SELECT v FROM t ORDER BY v")
    assert [row["v"] for row in rows] == [0, 1, 2, 3, 4]
    if fail:
        assert "SQLite checkpoint failed: OperationalError" in caplog.text
        assert _in_database_file(path, tmp_path) == []  # nothing copied; all in the WAL
    else:
        assert "checkpoint failed" not in caplog.text
        assert _in_database_file(path, tmp_path) == [0, 1, 2, 3, 4]  # the thread copied all
    await db.close()


async def test_closing_waits_for_a_checkpoint_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kdb, "CHECKPOINT_SECONDS", 0.0)
    db = kdb.SQLiteDatabase(str(tmp_path / "c.db"))
    recorder = Recorder(db._checkpointer, fail=False)
    db._checkpointer = recorder  # type: ignore[assignment]
    recorder.release.clear()  # the next checkpoint blocks in its thread
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (v INTEGER)")
    assert db._checkpointing is not None
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0.1)
    assert not closing.done()  # the connection is still in use by the thread
    recorder.release.set()
    await asyncio.wait_for(closing, 5)
    assert db._checkpointing is None
