"""Database.group: many writes in one transaction, a SAVEPOINT each, nothing answered before the COMMIT."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading

import pytest

from coachbox.store import connect
from coachbox.store.database import Database

pytestmark = pytest.mark.anyio


def _database(tmp_path, *, inline: bool) -> Database:
    path = tmp_path / "group.db"
    setup = connect(path)
    setup.execute("CREATE TABLE items (name TEXT NOT NULL UNIQUE)")
    setup.close()
    return Database(path, inline=inline)


@pytest.fixture(params=["inline", "writer thread"])
def db(tmp_path, request):
    """Both ways a round runs: inline on the event loop (the lock free at once) and on the writer thread."""
    database = _database(tmp_path, inline=request.param == "inline")
    yield database
    database.close()


@pytest.fixture
def threaded_db(tmp_path):
    """Rounds on the writer thread only: for tests that hold a round open and look at it from the event loop."""
    database = _database(tmp_path, inline=False)
    yield database
    database.close()


def _names(db: Database) -> list[str]:
    reader = sqlite3.connect(db.path)  # another connection: sees only what was committed
    try:
        return sorted(r[0] for r in reader.execute("SELECT name FROM items"))
    finally:
        reader.close()


def _insert(conn: sqlite3.Connection, name: str) -> str:
    conn.execute("INSERT INTO items (name) VALUES (?)", (name,))
    if name.startswith("bad"):
        raise ValueError(name)  # after its own write: the savepoint must undo it
    return name.upper()


async def test_it_rolls_back_a_failing_item_alone(db):
    group = db.group(_insert)
    results = await asyncio.gather(*(group(n) for n in ("a", "b", "bad", "c", "a")), return_exceptions=True)
    assert results[:2] == ["A", "B"] and results[3] == "C"
    assert isinstance(results[2], ValueError)
    assert isinstance(results[4], sqlite3.IntegrityError)  # a duplicate key fails alone too
    assert _names(db) == ["a", "b", "c"]
    assert (group.rounds, group.items) == (1, 5)  # one transaction, one commit


async def test_it_acknowledges_nothing_before_the_commit_and_nothing_at_all_when_it_fails(threaded_db):
    db = threaded_db
    leaving, release = threading.Event(), threading.Event()

    @contextlib.contextmanager
    def crash_before_commit(conn):
        yield
        if not release.is_set():
            leaving.set()
            release.wait(5)
            raise OSError("disk gone")  # as if the process died between the last turn and COMMIT

    group = db.group(_insert, around=crash_before_commit)
    calls = [asyncio.ensure_future(group(n)) for n in ("a", "b", "c")]
    await asyncio.get_running_loop().run_in_executor(None, leaving.wait, 5)
    await asyncio.sleep(0.01)
    assert not any(call.done() for call in calls)  # every turn ran, none is answered yet
    assert _names(db) == []
    release.set()  # the next round commits normally
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert _names(db) == []
    assert await group("d") == "D"  # the writer is usable again: the failed transaction was rolled back
    assert _names(db) == ["d"]


async def test_it_caps_a_round_and_serves_everyone_once(db):
    sizes = []

    @contextlib.contextmanager
    def count(conn):
        before = conn.total_changes
        yield
        sizes.append(conn.total_changes - before)

    group = db.group(_insert, max_items=32, around=count)
    names = [f"n{i:03d}" for i in range(200)]
    results = await asyncio.gather(*(group(n) for n in names))
    assert results == [n.upper() for n in names]
    assert _names(db) == names
    assert max(sizes) <= 32 and sum(sizes) == 200 and group.rounds == len(sizes) >= 7


async def test_it_starts_the_next_round_with_what_the_time_budget_left(db):
    group = db.group(_insert, max_seconds=0)  # always one item per round, the others wait their turn
    assert await asyncio.gather(*(group(n) for n in "xyz")) == ["X", "Y", "Z"]
    assert group.rounds == 3 and _names(db) == ["x", "y", "z"]


async def test_it_shares_the_write_lock_with_other_connections(db):
    """Another process's writer (here a thread with its own connection) and group rounds take turns."""
    group = db.group(_insert)
    stop = threading.Event()

    def other_writer():
        other = connect(db.path)
        n = 0
        while not stop.is_set():
            with contextlib.closing(other.cursor()) as cur:
                cur.execute("BEGIN IMMEDIATE")
                cur.execute("INSERT INTO items (name) VALUES (?)", (f"other{n}",))
                cur.execute("COMMIT")
            n += 1
        other.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        results = await asyncio.gather(*(group(f"g{i}") for i in range(100)))
    finally:
        stop.set()
        thread.join()
    assert len(results) == 100
    assert len([n for n in _names(db) if n.startswith("g")]) == 100


async def test_it_runs_after_commit_steps_even_for_callers_that_went_away(threaded_db):
    db = threaded_db
    """A webhook whose client disconnected is cancelled; its turn commits, and what must follow still does."""
    followed: list[str] = []
    gate = threading.Event()

    def slow_insert(conn, name):
        gate.wait(5)
        return _insert(conn, name)

    group = db.group(slow_insert, after_commit=followed.append)
    gone = asyncio.ensure_future(group("a"))
    stays = asyncio.ensure_future(group("bad-one"))
    await asyncio.sleep(0.01)
    gone.cancel()
    gate.set()
    assert isinstance((await asyncio.gather(stays, return_exceptions=True))[0], ValueError)
    assert gone.cancelled() and _names(db) == ["a"]
    assert followed == ["A"]  # committed items only, including the one nobody waits for any more


async def test_a_round_runs_inline_when_the_lock_is_free_and_on_the_writer_thread_when_it_is_not(tmp_path):
    """Issue #15: no thread hand-off while the write lock is free; never a wait on the event loop when another
    process holds it (SQLite says busy at BEGIN, before anything is done, and the writer thread waits instead)."""
    db = _database(tmp_path, inline=True)
    try:
        group = db.group(_insert)
        threads: list[str] = []
        group.fn = lambda conn, name: (threads.append(threading.current_thread().name), _insert(conn, name))[1]
        assert await group("a") == "A"
        assert threads == [threading.current_thread().name] and db.inline_writes == 1

        other = connect(db.path)  # another process's writer holds the lock
        other.execute("BEGIN IMMEDIATE")
        answered = asyncio.ensure_future(group("b"))
        ticks = 0
        for _ in range(20):  # the event loop keeps running meanwhile
            await asyncio.sleep(0.005)
            ticks += 1
        assert not answered.done() and ticks == 20
        other.execute("COMMIT")
        other.close()
        assert await answered == "B"
        assert threads[-1].startswith("sqlite-writer") and db.queued_writes == 1
        assert _names(db) == ["a", "b"]
    finally:
        db.close()


async def test_an_inline_write_waits_for_a_job_running_on_the_writer_thread(tmp_path):
    """The loop and the writer thread never use the one connection at once: a job there sends writes there too."""
    db = _database(tmp_path, inline=True)
    gate = threading.Event()
    try:
        blocking = asyncio.ensure_future(db.run(lambda conn: gate.wait(5)))
        await asyncio.sleep(0.02)
        group = db.group(_insert)
        answered = asyncio.ensure_future(group("x"))
        await asyncio.sleep(0.02)
        assert not answered.done() and db.inline_writes == 0
        gate.set()
        await blocking
        assert await answered == "X" and db.queued_writes == 1
    finally:
        db.close()
