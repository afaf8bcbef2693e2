"""Background and scheduled work on Huey (SqliteHuey in data/queue.db)."""
