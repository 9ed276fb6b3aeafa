"""Fixtures of the study / storage tests: storages of every kind, a throwaway
PostgreSQL server, and stand-in searchers."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest

PG_SKIP = (
    "PostgreSQL storage tests skipped: {}. Install Debian's server package "
    "(`apt-get install postgresql`; .ci/run does this) to run them."
)


def _pg_bindir() -> str | None:
    for tool in ("pg_ctl", "initdb"):
        found = shutil.which(tool)
        if found is None:
            break
    else:
        return os.path.dirname(os.path.realpath(shutil.which("pg_ctl")))
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        bindir = out.stdout.strip()
        if out.returncode == 0 and os.path.exists(os.path.join(bindir, "pg_ctl")):
            return bindir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a PostgreSQL server started for this test session on 127.0.0.1."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip(PG_SKIP.format("psycopg is missing (pip install 'calipers[postgres]')"))
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(PG_SKIP.format("no initdb/pg_ctl on PATH, via pg_config or in /usr/lib"))
    root = tempfile.mkdtemp(prefix="calipers-pg-")
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(PG_SKIP.format("running as root and there is no 'postgres' user"))
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log, port = os.path.join(root, "data"), os.path.join(root, "log"), _free_port()

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(prefix + list(cmd), capture_output=True, text=True, timeout=120)

    out = run(os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "postgres",
              "-E", "UTF8", "--no-sync")
    if out.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(PG_SKIP.format(f"initdb failed: {out.stderr.strip()[:300]}"))
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    out = run(os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log, "-o", opts, "-w", "start")
    if out.returncode != 0:
        text = open(log).read()[-500:] if os.path.exists(log) else out.stderr
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(PG_SKIP.format(f"the server did not start: {text.strip()}"))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_url):
    """A new, empty database on the session's PostgreSQL server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def storage_url(request, tmp_path):
    """None (in memory), a fresh SQLite file, or the session's PostgreSQL server."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A persistent storage URL: a fresh SQLite file or the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def study_name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"
