"""`calipers serve` against clients that cost it memory or connections (issue 13).

Random model names must not grow the Prometheus series (nor the process's
memory); a client that sends its headers or body slowly is cut off after a
timeout while other clients are served; connections beyond the limit get 503;
requests uvicorn's parser rejects are answered with JSON.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
from _serve_client import Client

from calipers.serve import BackgroundServer, free_port

PREDICT = "/v1/models/{}:predict"
#: RSS growth allowed over 10,000 requests with random model names (the series of
#: the old server took ~5 KB each: tens of MB over this many names).
RSS_BOUND_MB = 20.0


def _series(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("calipers_serve_")]


def _random_names(n: int) -> list[str]:
    return [uuid.uuid4().hex[:16] for _ in range(n)]


def test_unknown_model_names_share_one_label(base, cancer):
    _, X, _ = cancer
    body = json.dumps({"instances": X[:1].tolist()}).encode()
    with BackgroundServer(base, poll_interval=0, prediction_log=False) as srv:
        client = Client(srv.url)
        assert client.post(PREDICT.format("cancer"), body)[0] == 200
        assert client.post("/v1/models/cancer/versions/99:predict", body)[0] == 404
        sizes, counts = [], []
        for _ in range(3):
            for name in _random_names(100):
                assert client.post(PREDICT.format(name), body)[0] == 404
            status, text, _ = client.get("/monitoring/prometheus/metrics")
            assert status == 200
            sizes.append(len(text))
            counts.append(len(_series(text.decode())))
        client.close()
    text = text.decode()
    # the number of series is constant, and the text grows only by digits of the counts
    assert counts[0] == counts[1] == counts[2], counts
    assert sizes[2] - sizes[0] < 200, sizes
    models = set(re.findall(r'model="([^"]*)"', text))
    assert models == {"cancer", "(unknown)"}, models
    assert ('calipers_serve_errors_total{code="404",method="predict",model="(unknown)",'
            'version=""} 300.0') in text
    # a served model with a version it does not have keeps its name (a closed set)
    assert ('calipers_serve_errors_total{code="404",method="predict",model="cancer",'
            'version=""} 1.0') in text


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS in /proc/<pid>/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")
def test_rss_is_flat_over_10000_random_model_names(tmp_path, base):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from calipers.cli.main import main; "
         "sys.exit(main())", "serve", str(base), "--port", str(port), "--no-log",
         "--poll-interval", "0", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            client = Client(f"http://127.0.0.1:{port}")
            try:
                client.get("/v1/models/cancer")
                break
            except OSError:
                client.close()
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        body = json.dumps({"instances": [[0.0] * 30]}).encode()
        headers = {"Content-Type": "application/json"}

        def send(names):
            for name in names:
                status = client.request("POST", PREDICT.format(name), body, headers)[0]
                assert status == 404

        send(_random_names(1000))  # warm up: allocator arenas, caches
        before = _rss_mb(proc.pid)
        send(_random_names(10_000))
        after = _rss_mb(proc.pid)
        metrics = client.get("/monitoring/prometheus/metrics")[1]
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert after - before < RSS_BOUND_MB, (before, after)
    assert len(metrics) < 20_000, len(metrics)


@pytest.fixture(scope="module")
def guarded(base):
    with BackgroundServer(base, poll_interval=0, prediction_log=False, body_timeout=1.0,
                          header_timeout=1.0, max_concurrency=6) as srv:
        yield srv


def _connect(srv: BackgroundServer) -> socket.socket:
    sock = socket.create_connection((srv.host, srv.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (or resets) the connection."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def _trickle(sock: socket.socket, data: bytes, every: float, stop: threading.Event) -> None:
    for i in range(len(data)):
        if stop.wait(every):
            return
        try:
            sock.sendall(data[i:i + 1])
        except OSError:  # closed by the server: what the test waits for
            return


def _served_meanwhile(srv: BackgroundServer, cancer) -> int:
    _, X, _ = cancer
    client = Client(srv.url)
    try:
        return client.post(PREDICT.format("cancer"), {"instances": X[:2].tolist()})[0]
    finally:
        client.close()


@pytest.mark.parametrize("part", ["body", "headers"])
def test_slow_client_is_cut_off_and_others_are_served(guarded, cancer, part):
    _, X, _ = cancer
    body = json.dumps({"instances": X[:1].tolist()}).encode()
    head = (f"POST /v1/models/cancer:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock = _connect(guarded)
    stop = threading.Event()
    if part == "body":
        sock.sendall(head + body[:10])
        slow = threading.Thread(target=_trickle, args=(sock, body[10:], 0.1, stop))
    else:
        sock.sendall(head[:20])
        slow = threading.Thread(target=_trickle, args=(sock, head[20:], 0.1, stop))
    start = time.monotonic()
    slow.start()
    try:
        assert _served_meanwhile(guarded, cancer) == 200
        answer = _read_all(sock)
        took = time.monotonic() - start
    finally:
        stop.set()
        slow.join()
        sock.close()
    assert 0.8 < took < 4.0, took  # the 1 s timeout, with a margin for a loaded machine
    if answer:  # the 408 arrives unless the close overtook it
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"content-type: application/json" in rest.lower()
        error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
        assert ("headers" if part == "headers" else "body") in error
        assert "1 s" in error


def test_idle_connection_is_closed_silently(guarded):
    sock = _connect(guarded)
    start = time.monotonic()
    try:
        assert _read_all(sock) == b""  # no 408 a client could take for its next answer
    finally:
        sock.close()
    assert 0.8 < time.monotonic() - start < 4.0


def test_connections_over_the_limit_get_503(guarded, cancer):
    idle = [_connect(guarded) for _ in range(6)]
    try:
        time.sleep(0.2)  # let the server accept them
        assert _served_meanwhile(guarded, cancer) == 503
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert _served_meanwhile(guarded, cancer) == 200


def test_default_limits_are_set():
    from calipers.cli.main import build_parser

    args = build_parser().parse_args(["serve", "models"])
    assert (args.max_concurrency, args.header_timeout, args.body_timeout) == (256, 10.0, 60.0)
    with pytest.raises(ValueError, match="body_timeout must be a positive"):
        BackgroundServer(".", body_timeout=0, prediction_log=False)


@pytest.mark.parametrize("raw", [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
                                 b"GET /\x00 HTTP/1.1\r\n\r\n"])
def test_malformed_http_gets_a_json_400(guarded, raw):
    sock = _connect(guarded)
    try:
        sock.sendall(raw)
        answer = _read_all(sock)
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"content-type: application/json" in head.lower()
    assert "Invalid HTTP request" in json.loads(body)["error"]
