"""Opening SQL engines for :class:`~calipers.search._sql.SqlStorage`: URL checks with
clear errors, SQLite pragmas (WAL, busy timeout, ``BEGIN IMMEDIATE`` for writers), and
which database errors are lock contention worth retrying."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

from calipers.errors import MissingExtraError
from calipers.search._storage import StorageError

__all__ = ["make_engine", "reason", "transient"]

#: Drivers calipers knows how to install, by dialect (for missing-driver errors).
_DRIVERS = {
    "postgresql": ("psycopg", "pip install 'calipers[postgres]'"),
    "mysql": ("pymysql", "pip install pymysql  (and use mysql+pymysql://)"),
    "mariadb": ("pymysql", "pip install pymysql  (and use mariadb+pymysql://)"),
    "mssql": ("pyodbc", "pip install pyodbc"),
    "oracle": ("oracledb", "pip install oracledb"),
}
_KNOWN = "sqlite:///path/to/study.db, postgresql+psycopg://user:pass@host/db"


def transient(err: BaseException) -> bool:
    """Lock contention worth retrying (SQLite busy/locked, PostgreSQL deadlock...)."""
    if not isinstance(err, (exc.OperationalError, exc.DBAPIError)):
        return False
    if getattr(err, "connection_invalidated", False):
        # a pooled connection the server closed (restart, idle timeout): a fresh one is
        # taken on retry; cheaper than pinging before every transaction
        return True
    orig = getattr(err, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in ("40001", "40P01", "55P03"):
        return True
    text = str(orig if orig is not None else err).lower()
    return "database is locked" in text or "database table is locked" in text or (
        "busy" in text and "sqlite" in type(orig).__module__
    )


def reason(err: BaseException) -> str:
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def make_engine(url: str, busy_timeout: float, kwargs: dict[str, Any]) -> sa.Engine:
    try:
        parsed = sa.engine.make_url(url)
    except exc.ArgumentError as err:
        raise StorageError(
            f"{url!r} is not a database URL; use an SQLAlchemy URL such as {_KNOWN}"
        ) from err
    backend = parsed.get_backend_name()
    if backend == "postgresql" and "+" not in parsed.drivername:
        # plain postgresql:// means psycopg2; calipers' extra installs psycopg (3)
        if not _has("psycopg2") and _has("psycopg"):
            parsed = parsed.set(drivername="postgresql+psycopg")
    options = dict(kwargs)
    if backend == "sqlite":
        _check_sqlite_path(parsed)
        connect_args = {"timeout": busy_timeout, "check_same_thread": False}
        connect_args.update(options.pop("connect_args", {}))
        options["connect_args"] = connect_args
        if parsed.database in (None, "", ":memory:"):
            options.setdefault("poolclass", sa.pool.StaticPool)
    else:
        options.setdefault("pool_pre_ping", False)  # see transient()
    try:
        engine = sa.create_engine(parsed, **options)
    except exc.NoSuchModuleError as err:
        raise StorageError(
            f"unknown database dialect {parsed.drivername!r} in {url!r}; SQLAlchemy knows "
            f"sqlite, postgresql, mysql, mariadb, mssql, oracle (e.g. {_KNOWN})"
        ) from err
    except ImportError as err:
        module = err.name or parsed.drivername
        if backend == "postgresql" and module == "psycopg":
            raise MissingExtraError("psycopg", "postgres", f"storage {url!r}") from err
        pip = _DRIVERS.get(backend, (module, f"pip install {module}"))[1]
        if backend == "postgresql":
            pip = f"pip install {module}, or use postgresql+psycopg:// and {pip}"
        raise StorageError(
            f"the database driver {module!r} for {parsed.drivername!r} is not installed; {pip}"
        ) from err
    if backend == "sqlite":
        _sqlite_events(engine, busy_timeout)
    return engine


def _has(module: str) -> bool:
    from calipers._extras import available

    return available(module)


def _check_sqlite_path(parsed: sa.engine.URL) -> None:
    path = parsed.database
    if path in (None, "", ":memory:") or path.startswith("file:"):
        return
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise StorageError(
            f"cannot create the SQLite database {path!r}: {folder!r} is not an existing folder"
        )
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        raise StorageError(
            f"cannot write the SQLite database {path!r}: {target!r} is not writable"
        )


def _sqlite_events(engine: sa.Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # pragma: no cover (exercised by every test)
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        for _ in range(50):
            try:
                cur.execute("PRAGMA journal_mode = WAL")
                break
            except Exception as err:  # another process converts the file right now
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                time.sleep(0.02 * (0.5 + random.random()))
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        mode = conn.get_execution_options().get("calipers_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
