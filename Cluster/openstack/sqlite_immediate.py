"""Loaded by a .pth file into every Python process of the lab's OpenStack venv; active where
LAB_SQLITE_IMMEDIATE=1 (the services, not the one-shot manage commands): SQLite connections start each transaction with
BEGIN IMMEDIATE and wait on a busy database, so that Nova's API, conductor and scheduler
can share SQLite files (the lab has no MariaDB)."""
import os

try:
    if os.environ.get("LAB_SQLITE_IMMEDIATE") != "1":
        raise ImportError("only where asked for")
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _connect(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("PRAGMA busy_timeout = 60000")
            dbapi_connection.execute("PRAGMA journal_mode = WAL")

    # oslo.db already begins SQLite transactions itself ("BEGIN"); make them IMMEDIATE, so a
    # writer waits for the lock (busy_timeout) instead of failing on a read-to-write upgrade.
    @event.listens_for(Engine, "before_cursor_execute", retval=True)
    def _immediate(connection, cursor, statement, parameters, context, executemany):
        if connection.dialect.name == "sqlite" and statement.strip().upper() == "BEGIN":
            statement = "BEGIN IMMEDIATE"
        return statement, parameters
except Exception:  # not asked for, or pip and friends, which run without SQLAlchemy
    pass
