"""The prediction log's group commit, its durability, and the server's thread options."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from _serve_client import Client

from calipers.cli.main import main
from calipers.serve import BackgroundServer, ModelRegistry, PredictionLog, ServeApp, free_port
from calipers.serve._threads import default_inference_threads, usable_cpus

ROW = {"model": "m", "version": 1, "method": "predict", "status": 200, "latency_s": 0.001,
       "n": 1}


def transactions(log: PredictionLog) -> list[int]:
    """Count the write transactions ``log`` runs from now on (its connection's own statements)."""
    count = [0]
    state = {"open": False}

    def trace(sql: str) -> None:
        word = sql.lstrip().split(None, 1)[0].upper()
        if word == "BEGIN":
            state["open"] = True
        elif word in ("COMMIT", "END"):
            state["open"] = False
            count[0] += 1
        elif word == "INSERT" and not state["open"]:
            count[0] += 1  # autocommit: a transaction of its own

    log._conn.set_trace_callback(trace)
    return count


def committed_ids(path) -> set[str]:
    """Request ids another connection sees: what is committed."""
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT request_id FROM predictions")}


def record_while_locked(log: PredictionLog, ids: list[str]) -> dict[str, BaseException]:
    """Call ``log.record`` from one thread per id while another connection holds the
    database's write lock (a slow disk, a busy writer), then let go; the errors by id."""
    blocker = sqlite3.connect(log.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    errors: dict[str, BaseException] = {}

    def one(request_id: str) -> None:
        try:
            log.record(request_id, inputs={"x": np.ones((1, 3))}, outputs={"y": np.ones(1)},
                       **ROW)
        except Exception as exc:
            errors[request_id] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    time.sleep(0.5)  # every thread is now waiting for the lock
    blocker.execute("ROLLBACK")
    blocker.close()
    for t in threads:
        t.join(60)
    return errors


def test_concurrent_records_share_commits(tmp_path):
    log = PredictionLog(tmp_path / "log.sqlite")
    count = transactions(log)
    ids = [f"req-{i}" for i in range(16)]
    assert record_while_locked(log, ids) == {}
    # one commit for the thread that found the lock taken, one for all who queued behind it
    assert count[0] <= 3, f"{count[0]} transactions for {len(ids)} rows"
    assert committed_ids(log.path) == set(ids)
    assert (log.rows, log.commits) == (16, count[0])
    log.close()


def test_one_bad_row_fails_alone(tmp_path):
    log = PredictionLog(tmp_path / "log.sqlite")
    log.record("dup", **ROW)
    ids = ["a", "dup", "b", "c"]
    errors = record_while_locked(log, ids)
    assert list(errors) == ["dup"] and isinstance(errors["dup"], sqlite3.IntegrityError)
    assert committed_ids(log.path) == {"a", "b", "c", "dup"}
    log.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        log.record("late", **ROW)


def test_a_lone_request_commits_at_once(tmp_path):
    log = PredictionLog(tmp_path / "log.sqlite")
    count = transactions(log)
    for i in range(5):
        log.record(f"r{i}", **ROW)
        assert f"r{i}" in committed_ids(log.path)  # no waiting for company
    assert count[0] == 5
    log.close()


def wal_salt(path) -> bytes:
    """The WAL header's salts: they change whenever the WAL starts over."""
    with open(f"{path}-wal", "rb") as f:
        return f.read(32)[16:24]


def test_background_checkpoints_restart_the_wal_under_steady_writes(tmp_path):
    # The log never checkpoints inside a commit (wal_autocheckpoint=0): without the
    # background thread the WAL would grow for ever.
    path = tmp_path / "log.sqlite"
    log = PredictionLog(path, checkpoint_interval=0.05, max_wal_bytes=1)
    log.record("first", **ROW)
    salt = wal_salt(path)
    deadline = time.monotonic() + 30
    i = 0
    while wal_salt(path) == salt and time.monotonic() < deadline:
        log.record(f"r{i}", inputs={"x": np.zeros((8, 30))}, **ROW)  # no pause
        i += 1
    assert wal_salt(path) != salt, f"the WAL did not start over in {i} commits"
    log.close()
    assert not (tmp_path / "log.sqlite-wal").exists()  # the last close folds the WAL in
    assert len(committed_ids(path)) == i + 1


@pytest.mark.parametrize("inline_max_ms", [0.0, 2.0])
def test_every_answer_is_in_the_log_before_it_leaves(tmp_path, base, cancer, inline_max_ms):
    _, X, _ = cancer
    log_path = tmp_path / "log.sqlite"
    answered: list[str] = []
    missing: list[str] = []
    with BackgroundServer(base, poll_interval=0, log_path=log_path, inference_threads=4,
                          inline_max_ms=inline_max_ms) as srv:
        count = transactions(srv.app.log)

        def client(k: int) -> None:
            c = Client(srv.url)
            reader = sqlite3.connect(log_path)
            try:
                for i in range(12):
                    doc = ({"instances": X[i:i + 1 + k].tolist()} if i % 5 else
                           {"instances": [[1.0]]})  # a 400 is logged too
                    status, _, headers = c.post("/v1/models/cancer:predict", doc)
                    assert status in (200, 400)
                    rid = headers["x-request-id"]
                    answered.append(rid)
                    if reader.execute("SELECT 1 FROM predictions WHERE request_id = ?",
                                      (rid,)).fetchone() is None:
                        missing.append(rid)
            finally:
                reader.close()
                c.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(answered) == 72 and missing == []
        assert srv.app.log.rows == 72 and count[0] == srv.app.log.commits
    assert set(answered) <= committed_ids(log_path)


def test_answered_requests_survive_a_killed_server(tmp_path, cancer, diabetes):
    from _serve_client import make_base

    _, X, _ = cancer
    base = make_base(tmp_path, cancer, diabetes)
    log = tmp_path / "log.sqlite"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from calipers.cli.main import main; "
         "sys.exit(main())", "serve", str(base), "--port", str(port), "--log", str(log),
         "--poll-interval", "0", "--log-level", "warning", "--inference-threads", "4",
         "--inline-max-ms", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    answered: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                probe = Client(f"http://127.0.0.1:{port}")
                probe.get("/v1/models/cancer")
                probe.close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        stop = threading.Event()

        def client() -> None:
            c = Client(f"http://127.0.0.1:{port}")
            try:
                while not stop.is_set():
                    status, _, headers = c.post("/v1/models/cancer:predict",
                                                {"instances": X[:3].tolist()})
                    assert status == 200
                    answered.append(headers["x-request-id"])
            except (OSError, AssertionError, http.client.HTTPException):
                pass  # the server died under us
            finally:
                c.close()

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        while len(answered) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no checkpoint: a crash
        proc.wait(60)
        stop.set()
        for t in threads:
            t.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)
    assert len(answered) >= 60
    assert set(answered) <= committed_ids(log)


# -- threads ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_base(tmp_path_factory, cancer):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    import calipers
    from calipers.export import version_dir

    model, X, _ = cancer
    base = tmp_path_factory.mktemp("onnx") / "models"
    calipers.export(model, "onnx", version_dir(base, "cancer"), sample=X[:16])
    return base


def intra_op_threads_of(app: ServeApp) -> int:
    session = app.registry.get("cancer").artifact._runner.session
    return session.get_session_options().intra_op_num_threads


@pytest.mark.parametrize(("inference", "intra", "executor", "session"), [
    (3, 2, 3, 2),      # both options reach the executor and onnxruntime
    (2, None, 2, 1),   # several inference threads: one intra-op thread each
    (1, None, 1, 0),   # one: onnxruntime's own default (0: as many as physical cores)
    (4, 0, 4, 0),
])
def test_thread_options_reach_the_executor_and_onnxruntime(onnx_base, inference, intra,
                                                           executor, session):
    from calipers_onnx import configure_runtime

    from calipers.serve import make_app

    before = configure_runtime()
    app = make_app(onnx_base, poll_interval=0, prediction_log=False,
                   inference_threads=inference, intra_op_threads=intra)
    app.start()
    try:
        assert app.inference_threads == executor
        assert app._executor._max_workers == executor
        assert intra_op_threads_of(app) == session
    finally:
        app.stop()
    assert configure_runtime() == before  # process-wide only while serving


def test_default_threads_and_a_process_wide_setting(onnx_base, monkeypatch):
    from calipers_onnx import configure_runtime

    from calipers.serve import make_app

    assert default_inference_threads() == min(4, usable_cpus())
    monkeypatch.setattr("calipers.serve._threads.usable_cpus", lambda: 16)
    app = make_app(onnx_base, poll_interval=0, prediction_log=False)
    assert app.inference_threads == 4
    monkeypatch.setattr("calipers.serve._threads.usable_cpus", lambda: 1)
    assert make_app(onnx_base, poll_interval=0, prediction_log=False).inference_threads == 1
    old = configure_runtime(intra_op_threads=3)  # the user's own choice is kept
    try:
        app = make_app(onnx_base, poll_interval=0, prediction_log=False, inference_threads=2)
        app.start()
        try:
            assert intra_op_threads_of(app) == 3
        finally:
            app.stop()
        assert configure_runtime()["intra_op_threads"] == 3
    finally:
        configure_runtime(**old)
    assert configure_runtime()["intra_op_threads"] is None  # None restored, not kept


@pytest.mark.parametrize("bad", [{"inference_threads": 0}, {"intra_op_threads": -1},
                                 {"inference_threads": 1.5}, {"inline_max_ms": -1}])
def test_bad_thread_options(onnx_base, tmp_path, bad):
    from calipers.serve import make_app

    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        make_app(onnx_base, poll_interval=0, log_path=tmp_path / "log.sqlite", **bad)
    time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name == "calipers-log-checkpoint"]


def test_cli_passes_the_thread_options(tmp_path, monkeypatch, capsys):
    import calipers.serve

    seen = {}
    monkeypatch.setattr(calipers.serve, "serve", lambda *a, **kw: seen.update(kw))
    assert main(["serve", str(tmp_path), "--inference-threads", "3", "--intra-op-threads", "2",
                 "--inline-max-ms", "0.5"]) == 0
    assert (seen["inference_threads"], seen["intra_op_threads"], seen["inline_max_ms"]) == (
        3, 2, 0.5)
    assert main(["serve", str(tmp_path), "--workers", "5"]) == 0  # the old name
    assert (seen["inference_threads"], seen["intra_op_threads"], seen["inline_max_ms"]) == (
        5, None, 2.0)
    assert main(["serve", str(tmp_path), "--intra-op-threads", "-1"]) == 2
    assert "must be an integer >= 0" in capsys.readouterr().err


# -- where requests run ------------------------------------------------------------


def where_requests_run(base, bodies, *, slow=0.0, **options) -> list[str]:
    """Send ``bodies`` one by one through the ASGI app; the thread each model call ran on."""
    import calipers

    names: list[str] = []

    def loader(path, trusted=False):
        artifact = calipers.load(path, trusted=trusted)
        run = artifact.run

        def traced(inputs):
            names.append(threading.current_thread().name)
            time.sleep(slow)
            return run(inputs)

        artifact.run = traced
        return artifact

    app = ServeApp(ModelRegistry(base, poll_interval=0, loader=loader), **options)
    app.start()
    scope = {"type": "http", "method": "POST", "path": "/v1/models/cancer:predict",
             "raw_path": b"/v1/models/cancer:predict", "headers": []}

    async def send_all() -> None:
        for body in bodies:
            sent: list[dict] = []

            async def receive(body=body):
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message, sent=sent):
                sent.append(message)

            await app(scope, receive, send)
            assert sent[0]["status"] == 200, sent

    try:
        asyncio.run(send_all())
    finally:
        app.stop()
    loop_thread = threading.current_thread().name
    return ["loop" if n == loop_thread else "pool" for n in names]


def test_quick_requests_skip_the_thread_hand_off(base, cancer):
    _, X, _ = cancer
    small = json.dumps({"instances": X[:2].tolist()}).encode()
    big = json.dumps({"instances": np.repeat(X[:2], 200, axis=0).tolist()}).encode()
    assert len(big) > 64 * 1024
    # the first request measures the model on a thread; quick ones then stay on the loop
    # (a generous limit: a loaded test machine must not make this model look slow)
    assert where_requests_run(base, [small] * 4 + [big] + [small], inline_max_ms=50) == (
        ["pool", "loop", "loop", "loop", "pool", "loop"])
    assert where_requests_run(base, [small] * 4, inline_max_ms=0) == ["pool"] * 4
    assert where_requests_run(base, [small] * 3, slow=0.08, inline_max_ms=50) == ["pool"] * 3
