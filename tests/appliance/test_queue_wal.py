"""queue.db keeps its WAL small too: its auto-checkpoint is off (the WAL-reset bug) and Huey never checkpoints."""

from __future__ import annotations

from types import SimpleNamespace

from coachbox.jobs.queue import create_huey
from coachbox.jobs.tasks import register
from coachbox.store import open_database
from coachbox.store.database import Database


def _queue_wal(settings):
    return settings.queue_path.with_name(settings.queue_path.name + "-wal")


def test_an_enqueue_truncates_a_large_queue_wal(settings):
    huey = create_huey(settings)
    storage = huey.storage
    storage.WAL_CHECKPOINT_BYTES = 256 * 1024
    storage.CHECK_SECONDS = 3600.0  # the first enqueue checks; the next ones within the hour do not
    storage._next_check = 3600.0 * 1e9
    for n in range(300):
        storage.enqueue(b"x" * 2000 + str(n).encode())
    assert _queue_wal(settings).stat().st_size > storage.WAL_CHECKPOINT_BYTES
    storage._next_check = 0.0
    storage.enqueue(b"last")
    assert _queue_wal(settings).stat().st_size == 0
    assert storage.queue_size() == 301  # nothing lost: the checkpoint only moved pages into queue.db


def test_a_small_queue_wal_is_left_alone(settings):
    huey = create_huey(settings)
    storage = huey.storage
    storage.CHECK_SECONDS = 0.0
    storage.enqueue(b"one")
    assert 0 < _queue_wal(settings).stat().st_size < storage.WAL_CHECKPOINT_BYTES


def test_the_periodic_checkpoint_task_truncates_queue_db_as_well(settings):
    open_database(settings.db_path).close()
    huey = create_huey(settings)
    db = Database(settings.db_path)
    try:
        context = SimpleNamespace(settings=settings, get=lambda: SimpleNamespace(db=db))
        tasks = register(huey, settings, context)
        huey.storage._next_check = float("inf")
        for n in range(50):
            huey.storage.enqueue(b"y" * 100 + str(n).encode())
        assert _queue_wal(settings).stat().st_size > 0
        tasks.checkpoint.call_local()
        assert _queue_wal(settings).stat().st_size == 0
        assert huey.storage.queue_size() == 50
    finally:
        db.close()
