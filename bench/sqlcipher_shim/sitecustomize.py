"""Evaluation only (bench/sqlcipher_bench.py): with SQLCIPHER_EVAL_KEY set, `import sqlite3` gives sqlcipher3, keyed.

Put this folder on PYTHONPATH (an absolute path: tests start processes in other folders) and set SQLCIPHER_EVAL_KEY:
64 hex digits for a raw key (no PBKDF2), `none` for sqlcipher3 without a key (the cost of its own SQLite build), any
other text for a passphrase (PBKDF2-HMAC-SHA512, 256,000 iterations, on every connection opened). Every process
started with that environment (the server, its workers, Huey, pytest and the processes tests start) then keys the
files named in SQLCIPHER_EVAL_FILES (comma-separated basenames, default `coachbox.db`; `*` for every file but those
in SQLCIPHER_EVAL_PLAIN, default `cache.db`: diskcache fails on an encrypted file, SQLCipher answering `PRAGMA
page_size` with text). How the evaluation ran the tests encrypted:

    PYTHONPATH=$PWD/bench/sqlcipher_shim SQLCIPHER_EVAL_FILES='*' SQLCIPHER_EVAL_KEY=$(openssl rand -hex 32) \
        .venv/bin/python -m pytest tests/unit tests/conversation tests/appliance

Nothing in coachbox imports this; it is no product option (a product must not replace the standard library). See
docs/operations.md, "Database encryption".
"""

from __future__ import annotations

import os
import re
import sys

KEY = os.environ.get("SQLCIPHER_EVAL_KEY", "")

if KEY:
    import sqlcipher3
    import sqlcipher3.dbapi2 as dbapi2

    FILES = {name.strip() for name in os.environ.get("SQLCIPHER_EVAL_FILES", "coachbox.db").split(",")}
    PLAIN = {name.strip() for name in os.environ.get("SQLCIPHER_EVAL_PLAIN", "cache.db").split(",")}
    if KEY == "none":  # sqlcipher3 without a key: its bundled SQLite alone, no encryption
        PRAGMA = ""
    elif re.fullmatch(r"[0-9a-fA-F]{64}", KEY):
        PRAGMA = f"PRAGMA key = \"x'{KEY}'\""
    else:
        PRAGMA = "PRAGMA key = '{}'".format(KEY.replace("'", "''"))

    def _wanted(database: object) -> bool:
        name = os.fspath(database) if isinstance(database, (str, os.PathLike)) else ""
        if isinstance(name, bytes):
            name = name.decode()
        if name.startswith("file:"):
            name = name[5:].split("?", 1)[0]
        if not name or name == ":memory:":
            return False
        base = os.path.basename(name)
        return base in FILES or ("*" in FILES and base not in PLAIN)

    class KeyedConnection(dbapi2.Connection):
        """PRAGMA key must be the first statement on the connection: SQLCipher reads page 1 with it."""

        def __init__(self, database, *args, **kwargs):
            super().__init__(database, *args, **kwargs)
            if PRAGMA and _wanted(database):
                self.execute(PRAGMA)

    _connect = dbapi2.connect

    def connect(database, *args, **kwargs):
        kwargs.setdefault("factory", KeyedConnection)
        return _connect(database, *args, **kwargs)

    dbapi2.connect = sqlcipher3.connect = connect
    sys.modules["sqlite3"] = sqlcipher3
    sys.modules["sqlite3.dbapi2"] = dbapi2
